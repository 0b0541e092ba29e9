#[test]
fn searching_from_a_previous_measurement_finds_the_same_raw_values() {
    let c = Calibration::DATASHEET;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |lo: f64, hi: f64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        lo + (rng % 10_000) as f64 / 10_000.0 * (hi - lo)
    };
    let mut previous = None;
    for i in 0..400 {
        let air = AirConditions {
            temperature_c: next(-45.0, 90.0),
            pressure_pa: next(25_000.0, 115_000.0),
            humidity_pct: next(-5.0, 105.0),
        };
        let cold = c.raw_for(air);
        // Far hints (any earlier answer) and near ones (a nudged copy) alike.
        let hint = if i % 2 == 0 {
            previous
        } else {
            Some(RawSample {
                adc_t: cold.adc_t + 3,
                adc_p: cold.adc_p.saturating_sub(2),
                adc_h: cold.adc_h,
            })
        };
        assert_eq!(c.raw_near(air, hint), cold, "{air:?} from {hint:?}");
        previous = Some(cold);
    }
}
use super::*;

#[test]
fn datasheet_worked_example_in_double_precision() {
    let c = Calibration::DATASHEET;
    let (t, t_fine) = c.temperature(519_888);
    assert_eq!(t_fine, 128_422.0);
    assert!((t - 25.08).abs() < 0.005, "{t}");
    let p = c.pressure(415_148, t_fine);
    assert!((p - 100_653.27).abs() < 0.05, "{p}");
}

#[test]
fn inversion_finds_the_worked_example() {
    let c = Calibration::DATASHEET;
    let (t, t_fine) = c.temperature(519_888);
    let p = c.pressure(415_148, t_fine);
    let raw = c.raw_for(AirConditions {
        temperature_c: t,
        pressure_pa: p,
        humidity_pct: 50.0,
    });
    assert_eq!(raw.adc_t, 519_888);
    assert_eq!(raw.adc_p, 415_148);
    let h = c.humidity(u32::from(raw.adc_h), t_fine);
    assert!((h - 50.0).abs() < 0.01, "{h}");
}

#[test]
fn calibration_bytes_round_trip_h4_h5_packing() {
    let c = Calibration {
        h4: -300,
        h5: 1234,
        ..Calibration::DATASHEET
    };
    let h = c.h_bytes();
    // The bme280 crate's unpacking (sign-extended nibbles).
    let h4 = (h[3] as i8 as i16 * 16) | ((h[4] as i8 as i16) & 0x0F);
    let h5 = (h[5] as i8 as i16 * 16) | (((h[4] as i8 as i16) & 0xF0) >> 4);
    assert_eq!((h4, h5), (-300, 1234));
    let pt = Calibration::DATASHEET.pt_bytes();
    assert_eq!(&pt[0..2], &27504u16.to_le_bytes());
    assert_eq!(&pt[4..6], &(-1000i16).to_le_bytes());
    assert_eq!(pt[25], 75);
}

#[test]
fn resolution_follows_oversampling_and_filter() {
    assert_eq!(reduce_resolution(0xABCDE, 0, 0), 0x80000);
    assert_eq!(reduce_resolution(0xABCDE, 1, 0), 0xABCD0);
    assert_eq!(reduce_resolution(0xABCDE, 5, 0), 0xABCDE);
    assert_eq!(reduce_resolution(0xABCDE, 1, 4), 0xABCDE);
}
