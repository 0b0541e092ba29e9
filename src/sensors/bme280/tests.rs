use super::*;

/// The BMP280 datasheet's worked example (section 3.12), whose temperature and
/// pressure calibration and formulas the BME280 shares.
const EXAMPLE: Calibration = Calibration {
    t1: 27504,
    t2: 26435,
    t3: -1000,
    p1: 36477,
    p2: -10685,
    p3: 3024,
    p4: 2855,
    p5: 140,
    p6: -7,
    p7: 15500,
    p8: -14600,
    p9: 6000,
    h1: 75,
    h2: 362,
    h3: 0,
    h4: 313,
    h5: 50,
    h6: 30,
};

#[test]
fn datasheet_worked_example_in_integers() {
    let t_fine = EXAMPLE.t_fine(519_888);
    assert_eq!(t_fine, 128_422);
    // The datasheet's int32 result, 2508 (25.08 °C).
    assert_eq!((t_fine * 5 + 128) >> 8, 2508);
    let p = EXAMPLE.pressure_pa(415_148, t_fine).expect("pressure");
    // The int64 code gives 100653.27 Pa for the example.
    assert!((p - 100_653.27).abs() < 0.02, "{p}");
}

#[test]
fn maximum_measurement_times_follow_the_datasheet() {
    // Datasheet 9.1: weather monitoring 9.3 ms max; ×16 everything 112.8 ms.
    assert_eq!(Settings::WEATHER_MONITORING.max_measurement_us(true), 9_300);
    let all16 = Settings {
        oversampling_temperature: 16,
        oversampling_pressure: 16,
        oversampling_humidity: 16,
        iir_filter_coefficient: 16,
    };
    assert_eq!(all16.max_measurement_us(true), 112_800);
    // The bme280 crate's settings (×2 T, ×16 P, ×1 H): 46.1 ms, longer than the
    // 40 ms it waited.
    let old = Settings {
        oversampling_temperature: 2,
        oversampling_pressure: 16,
        oversampling_humidity: 1,
        iir_filter_coefficient: 16,
    };
    assert_eq!(old.max_measurement_us(true), 46_100);
    assert_eq!(
        Settings::WEATHER_MONITORING.max_measurement_us(false),
        6_425
    );
}

#[test]
fn register_values_for_the_settings() {
    let w = Settings::WEATHER_MONITORING;
    assert_eq!(
        (w.ctrl_meas(), w.ctrl_hum(), w.config()),
        (0x24, 0x01, 0x00)
    );
    let old = Settings {
        oversampling_temperature: 2,
        oversampling_pressure: 16,
        oversampling_humidity: 1,
        iir_filter_coefficient: 16,
    };
    // The crate's init(): ctrl_meas 0x54, config 0x10.
    assert_eq!((old.ctrl_meas(), old.config()), (0x54, 0x10));
}

#[test]
fn calibration_unpacks_the_shared_h4_h5_nibbles() {
    // dig_H4 = -300 (0xED4), dig_H5 = 1234 (0x4D2): 0xE4 = 0xED, 0xE5 = 0x24, 0xE6 = 0x4D.
    let h = [0x6a, 0x01, 0x28, 0xed, 0x24, 0x4d, 0x1e];
    let c = Calibration::from_registers(&[1; 26], &h);
    assert_eq!((c.h2, c.h3, c.h4, c.h5, c.h6), (362, 40, -300, 1234, 30));
}

#[test]
fn humidity_integer_formula_equals_the_datasheet_double_formula() {
    // The datasheet's double code, with dig_H3 inside the dig_H6 term only.
    let double = |c: &Calibration, adc_h: f64, t_fine: f64| {
        let v = t_fine - 76800.0;
        let v = (adc_h - (f64::from(c.h4) * 64.0 + f64::from(c.h5) / 16384.0 * v))
            * (f64::from(c.h2) / 65536.0
                * (1.0
                    + f64::from(c.h6) / 67108864.0 * v * (1.0 + f64::from(c.h3) / 67108864.0 * v)));
        (v * (1.0 - f64::from(c.h1) * v / 524288.0)).clamp(0.0, 100.0)
    };
    for h3 in [0u8, 40, 255] {
        let c = Calibration { h3, ..EXAMPLE };
        for t_fine in [-20_480i64, 51_200, 128_000, 204_800] {
            for adc_h in (20_000u16..40_000).step_by(997) {
                let i = c.humidity_pct(adc_h, t_fine);
                let d = double(&c, f64::from(adc_h), t_fine as f64);
                assert!(
                    (i - d).abs() < 0.01,
                    "h3 {h3} t_fine {t_fine} adc {adc_h}: {i} vs {d}"
                );
            }
        }
    }
}

#[test]
fn garbage_calibration_does_not_panic() {
    let c = Calibration::from_registers(&[0xff; 26], &[0xff; 7]);
    for adc in [0u32, 0x7ffff, 0xfffff] {
        let t_fine = c.t_fine(adc);
        let _ = c.pressure_pa(adc, t_fine);
        let _ = c.humidity_pct(0xffff, t_fine);
    }
    let zero = Calibration::from_registers(&[0; 26], &[0; 7]);
    assert_eq!(zero.pressure_pa(415_148, 0), None);
}
