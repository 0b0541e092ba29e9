//! The simulator: weather plausibility and determinism, edge sources, the vane, and
//! the BME280 register emulator driven through the real driver.

use std::sync::Arc;
use weatherd::hw::{Backend, EdgeSource, I2cError, PinRole};
use weatherd::observation::{Quantity, Reading};
use weatherd::sensors::bme280::{Bme280Sensor, Settings};
use weatherd::sensors::PolledSensor;
use weatherd::sim::bme280_chip::{AirConditions, Bme280Chip, ConversionTime, RawSample, Variant};
use weatherd::sim::edges::SimEdgeSource;
use weatherd::sim::hardware::{vane_count, vane_position, SimHardware};
use weatherd::sim::weather::Weather;
use weatherd::sim::SimTime;
use weatherd::time::{Timestamp, NANOS_PER_SEC};

/// 2026-01-01T00:00:00Z
const START_S: i64 = 1_767_225_600;
const HOUR_S: i64 = 3600;
const DAY_S: i64 = 86_400;

fn cambridge(seed: u64) -> Weather {
    Weather::new(seed, 52.2, 20.0)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let (ma, mb) = (mean(a), mean(b));
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

// ---- weather --------------------------------------------------------------------

#[test]
fn a_year_of_hourly_weather_is_plausible() {
    let w = cambridge(42);
    let hours = 365 * 24;
    let at: Vec<_> = (0..hours)
        .map(|h| w.at(Timestamp::from_secs(START_S + h * HOUR_S)))
        .collect();

    for (h, c) in at.iter().enumerate() {
        assert!((-25.0..40.0).contains(&c.temperature_c), "hour {h}: {c:?}");
        assert!((5.0..=100.0).contains(&c.humidity_pct), "hour {h}: {c:?}");
        assert!(c.dew_point_c <= c.temperature_c, "hour {h}: {c:?}");
        assert!(
            (975.0..1045.0).contains(&c.sea_level_pressure_hpa),
            "hour {h}: {c:?}"
        );
        assert!(
            c.station_pressure_hpa < c.sea_level_pressure_hpa,
            "hour {h}: {c:?}"
        );
        assert!(
            (-10.0..35.0).contains(&c.ground_temperature_c),
            "hour {h}: {c:?}"
        );
        assert!((0.0..=150.0).contains(&c.wind_speed_kmh), "hour {h}: {c:?}");
        assert!((0.0..360.0).contains(&c.wind_dir_deg), "hour {h}: {c:?}");
        assert!((0.0..=30.0).contains(&c.rain_rate_mmh), "hour {h}: {c:?}");
    }

    let temps: Vec<f64> = at.iter().map(|c| c.temperature_c).collect();
    let (tmin, tmax) = temps
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &t| (a.min(t), b.max(t)));
    assert!(
        tmax - tmin > 15.0,
        "a year should span more than 15 °C: {tmin}..{tmax}"
    );

    // Seasons: July is warmer than January in the north.
    let january = mean(&temps[..31 * 24]);
    let july = mean(&temps[181 * 24..212 * 24]);
    assert!(july - january > 8.0, "January {january}, July {july}");

    // The mean daily cycle: warmest mid-afternoon, coldest around dawn (UTC ≈ solar
    // time at Cambridge's longitude).
    let by_hour: Vec<f64> = (0..24)
        .map(|hour| {
            mean(
                &temps
                    .iter()
                    .skip(hour)
                    .step_by(24)
                    .copied()
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let warmest = (0..24)
        .max_by(|&a, &b| by_hour[a].total_cmp(&by_hour[b]))
        .unwrap_or(0);
    let coldest = (0..24)
        .min_by(|&a, &b| by_hour[a].total_cmp(&by_hour[b]))
        .unwrap_or(0);
    assert!(
        (13..=16).contains(&warmest),
        "warmest hour {warmest}: {by_hour:?}"
    );
    assert!(
        (3..=8).contains(&coldest),
        "coldest hour {coldest}: {by_hour:?}"
    );

    // Humidity moves against temperature within each day.
    let anomalies = |f: &dyn Fn(usize) -> f64| -> Vec<f64> {
        (0..hours as usize)
            .map(|h| {
                let day = h / 24 * 24;
                f(h) - mean(&(day..day + 24).map(f).collect::<Vec<_>>())
            })
            .collect()
    };
    let t_anom = anomalies(&|h| at[h].temperature_c);
    let rh_anom = anomalies(&|h| at[h].humidity_pct);
    let r = correlation(&t_anom, &rh_anom);
    assert!(r < -0.5, "humidity should fall as the day warms: r = {r}");

    // The ground's daily wave is damped.
    let g_anom = anomalies(&|h| at[h].ground_temperature_c);
    let spread = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!(
        spread(&g_anom) < 0.5 * spread(&t_anom),
        "ground {} vs air {}",
        spread(&g_anom),
        spread(&t_anom)
    );

    // Pressure drifts over days through a realistic range.
    let slp: Vec<f64> = at.iter().map(|c| c.sea_level_pressure_hpa).collect();
    let (pmin, pmax) = slp
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &p| (a.min(p), b.max(p)));
    assert!(pmax - pmin > 20.0, "pressure {pmin}..{pmax}");
    let hourly_step = slp
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0, f64::max);
    assert!(
        hourly_step < 3.0,
        "pressure jumped {hourly_step} hPa in an hour"
    );

    // Wind: mostly moderate, sometimes calm, sometimes strong.
    let mut wind: Vec<f64> = at.iter().map(|c| c.wind_speed_kmh).collect();
    wind.sort_by(f64::total_cmp);
    let median = wind[wind.len() / 2];
    assert!((2.0..25.0).contains(&median), "median wind {median}");
    assert!(wind.contains(&0.0), "never calm");
    assert!(
        wind[wind.len() * 9 / 10] < 40.0,
        "too windy: p90 {}",
        wind[wind.len() * 9 / 10]
    );
    assert!(
        wind[wind.len() - 1] > 40.0,
        "never windy: max {}",
        wind[wind.len() - 1]
    );

    // Rain: mostly dry, with showers adding up to a temperate year's total.
    let wet = at.iter().filter(|c| c.rain_rate_mmh > 0.0).count();
    assert!(wet > 20 && wet < hours as usize / 5, "{wet} wet hours");
    let total_mm: f64 = at.iter().map(|c| c.rain_rate_mmh).sum();
    assert!(
        (200.0..3000.0).contains(&total_mm),
        "about {total_mm} mm a year"
    );
}

#[test]
fn the_seasons_follow_the_hemisphere() {
    let north = Weather::new(7, 45.0, 0.0);
    let south = Weather::new(7, -45.0, 0.0);
    let month_mean = |w: &Weather, first_day: i64| {
        mean(
            &(0..30 * 24)
                .map(|h| {
                    w.temperature_c(Timestamp::from_secs(
                        START_S + first_day * DAY_S + h * HOUR_S,
                    ))
                })
                .collect::<Vec<_>>(),
        )
    };
    assert!(month_mean(&north, 181) > month_mean(&north, 0) + 5.0);
    assert!(month_mean(&south, 0) > month_mean(&south, 181) + 5.0);
}

#[test]
fn showers_start_stop_and_stay_in_range() {
    let w = cambridge(3);
    let minutes: Vec<f64> = (0..60 * 24 * 60)
        .map(|m| w.rain_rate_mmh(Timestamp::from_secs(START_S + m * 60)))
        .collect();
    let dry = minutes.iter().filter(|&&r| r == 0.0).count();
    assert!(
        dry > minutes.len() * 8 / 10,
        "mostly dry: {dry} of {}",
        minutes.len()
    );
    let showers = minutes
        .windows(2)
        .filter(|p| p[0] == 0.0 && p[1] > 0.0)
        .count();
    assert!(showers >= 10, "{showers} showers in 60 days");
    let peak = minutes.iter().fold(0.0f64, |a, &b| a.max(b));
    assert!(peak > 2.0 && peak <= 30.0, "peak {peak} mm/h");
}

#[test]
fn the_same_seed_gives_the_same_weather_in_any_order() {
    let a = cambridge(1234);
    let b = cambridge(1234);
    let other = cambridge(1235);
    let times: Vec<Timestamp> = (0..2000)
        .map(|k| Timestamp::from_secs(START_S + (k * 7919 % 2000) * 3607).add_nanos(k * 13))
        .collect();
    // `a` forwards, `b` backwards: with no hidden state the order cannot matter.
    let forwards: Vec<_> = times.iter().map(|&t| a.at(t)).collect();
    let backwards: Vec<_> = times.iter().rev().map(|&t| b.at(t)).collect();
    assert!(forwards.iter().eq(backwards.iter().rev()));
    // The one-quantity functions agree with `at`.
    for (&t, c) in times.iter().zip(&forwards).take(200) {
        assert_eq!(a.temperature_c(t), c.temperature_c);
        assert_eq!(a.humidity_pct(t), c.humidity_pct);
        assert_eq!(a.station_pressure_hpa(t), c.station_pressure_hpa);
        assert_eq!(a.ground_temperature_c(t), c.ground_temperature_c);
        assert_eq!(a.wind_speed_kmh(t), c.wind_speed_kmh);
        assert_eq!(a.wind_dir_deg(t), c.wind_dir_deg);
        assert_eq!(a.rain_rate_mmh(t), c.rain_rate_mmh);
    }
    let differing = times.iter().filter(|&&t| a.at(t) != other.at(t)).count();
    assert!(
        differing > 1900,
        "another seed should change the weather: {differing} of 2000"
    );
}

// ---- edges ----------------------------------------------------------------------

const KMH_PER_HZ: f64 = 2.4;
const ANEMOMETER: PinRole = PinRole::Anemometer {
    kmh_per_hz: KMH_PER_HZ,
};
const RAIN_GAUGE: PinRole = PinRole::RainGauge { mm_per_tip: 0.2794 };

fn collect(src: &mut dyn EdgeSource, from: Timestamp, until: Timestamp) -> Vec<Timestamp> {
    let mut out = Vec::new();
    src.collect(from, until, &mut out)
        .expect("simulated edges never fail");
    out
}

/// The first instant of the year with at least `kmh` of wind, on the hour.
fn windy_hour(w: &Weather, kmh: f64) -> Timestamp {
    (0..365 * 24)
        .map(|h| Timestamp::from_secs(START_S + h * HOUR_S))
        .find(|&t| w.wind_speed_kmh(t) > kmh)
        .expect("a windy hour in a year")
}

/// Lock-out debounce, written out here so this test does not lean on `pulse`.
fn closures(edges: &[Timestamp], lockout_ns: i64) -> Vec<Timestamp> {
    let mut out: Vec<Timestamp> = Vec::new();
    for &e in edges {
        match out.last() {
            Some(last) if e.0 - last.0 < lockout_ns => {}
            _ => out.push(e),
        }
    }
    out
}

#[test]
fn edges_do_not_depend_on_how_they_are_collected() {
    let w = Arc::new(cambridge(5));
    for role in [ANEMOMETER, RAIN_GAUGE] {
        let a = if role == ANEMOMETER {
            windy_hour(&w, 15.0)
        } else {
            rainy_minute(&w)
        };
        // Window edges that cut cells, and a split that falls inside a cell.
        let a = a.add_nanos(123_456_789);
        let b = a.add_nanos(37 * NANOS_PER_SEC + 987_654_321);
        let c = b.add_secs(300);
        let mut split = SimEdgeSource::new(w.clone(), 5, role).expect("valid role");
        let mut first = collect(&mut split, a, b);
        first.extend(collect(&mut split, b, c));
        let mut whole = SimEdgeSource::new(w.clone(), 5, role).expect("valid role");
        let all = collect(&mut whole, a, c);
        assert!(
            !all.is_empty(),
            "{role:?}: no edges at all in the test window"
        );
        assert_eq!(first, all, "{role:?}");
        assert!(
            all.windows(2).all(|p| p[0] < p[1]),
            "{role:?}: edges out of order"
        );
        assert!(
            all.iter().all(|&t| t >= a && t < c),
            "{role:?}: edge outside the window"
        );
        // A fresh source (a resumed run) plays the same edges again.
        let mut fresh = SimEdgeSource::new(w.clone(), 5, role).expect("valid role");
        assert_eq!(collect(&mut fresh, a, c), all, "{role:?}");
        // Another pin is another switch.
        let mut other = SimEdgeSource::new(w.clone(), 6, role).expect("valid role");
        assert_ne!(collect(&mut other, a, c), all, "{role:?}");
    }
}

#[test]
fn a_resumed_run_counts_exactly_what_an_uninterrupted_one_did() {
    let w = Arc::new(cambridge(11));
    let start = windy_hour(&w, 20.0);
    let lockout = 3_000_000;
    // Uninterrupted: 5-s sample windows for 20 minutes, one debouncer throughout.
    let mut src = SimEdgeSource::new(w.clone(), 5, ANEMOMETER).expect("valid role");
    let mut all = Vec::new();
    for k in 0..240 {
        let from = start.add_secs(5 * k);
        all.extend(collect(&mut src, from, from.add_secs(5)));
    }
    let uninterrupted = closures(&all, lockout);
    // Killed after 10 minutes; a new process starts a new source and debouncer.
    let resume = start.add_secs(600);
    let mut resumed_src = SimEdgeSource::new(w.clone(), 5, ANEMOMETER).expect("valid role");
    let mut later = Vec::new();
    for k in 120..240 {
        let from = start.add_secs(5 * k);
        later.extend(collect(&mut resumed_src, from, from.add_secs(5)));
    }
    let resumed = closures(&later, lockout);
    let tail: Vec<Timestamp> = uninterrupted.into_iter().filter(|&t| t >= resume).collect();
    assert!(
        tail.len() > 1000,
        "too few closures to mean anything: {}",
        tail.len()
    );
    assert_eq!(resumed, tail);
}

#[test]
fn closure_rate_matches_the_wind_and_bounces_are_short() {
    let w = Arc::new(cambridge(8));
    let start = windy_hour(&w, 10.0);
    let secs = 3 * HOUR_S;
    let mut src = SimEdgeSource::new(w.clone(), 5, ANEMOMETER).expect("valid role");
    let edges = collect(&mut src, start, start.add_secs(secs));

    let expected: f64 = (0..secs)
        .map(|s| w.wind_speed_kmh(start.add_secs(s).add_nanos(NANOS_PER_SEC / 2)) / KMH_PER_HZ)
        .sum();
    let got = closures(&edges, 3_000_000);
    let err = (got.len() as f64 - expected).abs() / expected;
    assert!(err < 0.01, "{} closures, expected {expected:.0}", got.len());

    // Every edge is either a closure or a bounce 0.1–1.5 ms after its closure.
    let mut bounces = 0;
    let mut closure = edges[0];
    for &e in &edges[1..] {
        let gap = e.0 - closure.0;
        if gap > 5_000_000 {
            closure = e;
        } else {
            assert!(
                (100_000..=1_500_000).contains(&gap),
                "bounce {gap} ns after its closure"
            );
            bounces += 1;
        }
    }
    // 0–3 bounces per closure, uniformly: 1.5 on average.
    let per_closure = bounces as f64 / got.len() as f64;
    assert!(
        (1.3..1.7).contains(&per_closure),
        "{per_closure} bounces per closure"
    );

    // No bounce crosses a whole second, so a debouncer started afresh on a whole
    // second (a resumed run) sees the same closures as one that ran through it.
    let mut closure = edges[0];
    for &e in &edges[1..] {
        if e.0 - closure.0 > 5_000_000 {
            closure = e;
        } else {
            assert_eq!(
                e.0.div_euclid(NANOS_PER_SEC),
                closure.0.div_euclid(NANOS_PER_SEC),
                "bounce {e:?} of closure {closure:?} in the next second"
            );
        }
    }
    // Closures fall anywhere in the second now (the phase is continuous), also in
    // its last few milliseconds.
    assert!(got
        .iter()
        .any(|c| c.0.rem_euclid(NANOS_PER_SEC) > NANOS_PER_SEC - 5_000_000));
}

fn rainy_minute(w: &Weather) -> Timestamp {
    (0..365 * 24 * 60)
        .map(|m| Timestamp::from_secs(START_S + m * 60))
        .find(|&t| w.rain_rate_mmh(t) > 3.0)
        .expect("some rain in a year")
}

#[test]
fn bucket_tips_follow_the_rain_rate() {
    let w = Arc::new(cambridge(21));
    let mm_per_tip = 0.2794;
    let start = Timestamp::from_secs(START_S);
    let days = 120;
    let mut src = SimEdgeSource::new(w.clone(), 6, RAIN_GAUGE).expect("valid role");
    let mut edges = Vec::new();
    for d in 0..days {
        let from = start.add_secs(d * DAY_S);
        edges.extend(collect(&mut src, from, from.add_secs(DAY_S)));
    }
    let tips = closures(&edges, 50_000_000);
    let expected: f64 = (0..days * DAY_S)
        .map(|s| {
            w.rain_rate_mmh(start.add_secs(s).add_nanos(NANOS_PER_SEC / 2)) / mm_per_tip / 3600.0
        })
        .sum();
    assert!(expected > 100.0, "too little rain to test: {expected}");
    let sigma = expected.sqrt();
    assert!(
        (tips.len() as f64 - expected).abs() < 4.0 * sigma,
        "{} tips, expected {expected:.0}",
        tips.len()
    );
    // Bounces within 1–5 ms of their tip.
    let mut tip = edges[0];
    for &e in &edges[1..] {
        let gap = e.0 - tip.0;
        if gap > 50_000_000 {
            tip = e;
        } else {
            assert!(
                (1_000_000..=5_000_000).contains(&gap),
                "rain bounce {gap} ns after its tip"
            );
        }
    }
    assert!(edges.len() > tips.len(), "no bounces at all");
}

#[test]
fn nonsense_factors_are_refused() {
    let w = Arc::new(cambridge(1));
    assert!(SimEdgeSource::new(w.clone(), 5, PinRole::Anemometer { kmh_per_hz: 0.0 }).is_err());
    assert!(SimEdgeSource::new(
        w,
        6,
        PinRole::RainGauge {
            mm_per_tip: f64::NAN
        }
    )
    .is_err());
}

// ---- vane -----------------------------------------------------------------------

#[test]
fn vane_counts_decode_to_the_simulated_direction() {
    // The reference table's expected counts, N clockwise.
    let table = [
        128, 427, 373, 860, 844, 892, 697, 787, 559, 613, 232, 255, 39, 103, 69, 181,
    ];
    let w = Arc::new(cambridge(9));
    let time = SimTime::new(Timestamp::from_secs(START_S));
    let hw = SimHardware::new(w.clone(), time.clone());
    let mut adc = hw.adc_channel("/dev/spidev0.0", 0).expect("sim ADC");
    let mut seen = [false; 16];
    let mut noisy = 0;
    for k in 0..5000 {
        let t = Timestamp::from_secs(START_S + k * 631);
        time.set(t);
        let want = vane_position(w.wind_dir_deg(t));
        for _ in 0..3 {
            let count = adc.read_count().expect("sim ADC read");
            let nearest = (0..16)
                .min_by_key(|&p| (i32::from(count) - table[p]).abs())
                .unwrap_or(99);
            assert_eq!(nearest, want, "count {count} at {t}");
            assert!((i32::from(count) - i32::from(vane_count(want))).abs() <= 2);
            noisy += usize::from(i32::from(count) != table[want]);
        }
        seen[want] = true;
    }
    assert!(
        seen.iter().all(|&s| s),
        "every vane position should occur in a year: {seen:?}"
    );
    assert!(noisy > 1000, "the ADC should show some noise");
    assert!(hw.adc_channel("/dev/spidev0.0", 8).is_err());
}

// ---- BME280 emulator through the real driver -------------------------------------

fn driver(chip: &Bme280Chip, address: u8, settings: Settings) -> Bme280Sensor {
    Bme280Sensor::new(
        Box::new(chip.clone()),
        "/dev/i2c-1".into(),
        address,
        settings,
        Box::new(chip.delay()),
    )
}

fn reading(r: &[Reading], q: Quantity) -> f64 {
    r.iter()
        .find(|r| r.quantity == q)
        .map_or(f64::NAN, |r| r.value)
}

const SOME_AIR: AirConditions = AirConditions {
    temperature_c: 12.34,
    pressure_pa: 100_123.0,
    humidity_pct: 67.8,
};

#[test]
fn the_driver_reproduces_the_datasheet_worked_example() {
    let chip = Bme280Chip::with_fixed_air(Variant::Bme280, 0x77, SOME_AIR);
    chip.set_raw_override(Some(RawSample {
        adc_t: 519_888,
        adc_p: 415_148,
        adc_h: 30_000,
    }));
    // ×16 pressure oversampling: 20-bit pressure, so adc_P reaches the driver whole.
    let settings = Settings {
        oversampling_pressure: 16,
        ..Settings::WEATHER_MONITORING
    };
    let r = driver(&chip, 0x77, settings).read().expect("read");
    let t = reading(&r, Quantity::TemperatureC);
    assert!((t - 25.08).abs() < 0.005, "{t}");
    // The datasheet's 64-bit integer code: 100653.27 Pa.
    let p = reading(&r, Quantity::PressureHpa);
    assert!((p - 1006.5327).abs() < 0.0002, "{p}");
}

#[test]
fn the_driver_reads_back_the_air_the_emulator_was_given() {
    let chip = Bme280Chip::with_fixed_air(Variant::Bme280, 0x76, SOME_AIR);
    let r = driver(&chip, 0x76, Settings::WEATHER_MONITORING)
        .read()
        .expect("read");
    // Within the resolution of ×1 oversampling (datasheet 3.4: 0.005 °C, 2.62 Pa).
    let t = reading(&r, Quantity::TemperatureC);
    assert!((t - 12.34).abs() < 0.0055, "{t}");
    let p = reading(&r, Quantity::PressureHpa);
    assert!((p - 1001.23).abs() < 0.027, "{p}");
    let h = reading(&r, Quantity::HumidityPct);
    assert!((h - 67.8).abs() < 0.01, "{h}");
    // Forced mode: one conversion, then back to sleep.
    assert_eq!(chip.measurements(), 1);
    assert_eq!(chip.register(0xF4) & 0x03, 0);
}

#[test]
fn the_emulator_behaves_like_the_chip_on_the_bus() {
    use embedded_hal::i2c::I2c;
    let mut chip = Bme280Chip::with_fixed_air(Variant::Bme280, 0x77, SOME_AIR);
    let mut id = [0u8];
    assert_eq!(
        chip.write_read(0x76, &[0xD0], &mut id),
        Err(I2cError::NoAcknowledge)
    );
    chip.write_read(0x77, &[0xD0], &mut id).expect("id");
    assert_eq!(id[0], 0x60);
    // Burst read with auto-increment across the calibration bank.
    let mut calib = [0u8; 26];
    chip.write_read(0x77, &[0x88], &mut calib)
        .expect("calibration");
    assert_eq!(u16::from_le_bytes([calib[0], calib[1]]), 27504);
    assert_eq!(i16::from_le_bytes([calib[4], calib[5]]), -1000);
    // Before any measurement the data registers hold their reset values.
    let reset = [0x80, 0, 0, 0x80, 0, 0, 0x80, 0];
    let mut data = [0u8; 8];
    chip.write_read(0x77, &[0xF7], &mut data).expect("data");
    assert_eq!(data, reset);
    // Write config, then a forced measurement (×2 T, ×16 P, ×1 H, the bme280 crate's
    // settings) with register/value pairs in one write.
    chip.set_conversion_time(ConversionTime::Maximum);
    chip.write(0x77, &[0xF2, 0x01, 0xF4, 0b0101_0101])
        .expect("ctrl");
    assert_eq!(chip.measurements(), 1);
    // Converting: `measuring` is set and the data registers still hold the old
    // values, until the datasheet's maximum of 46.1 ms for these settings has passed.
    let mut status = [0u8];
    chip.advance_us(40_000);
    chip.write_read(0x77, &[0xF3], &mut status).expect("status");
    assert_eq!(status[0] & 0x08, 0x08, "still measuring after 40 ms");
    chip.write_read(0x77, &[0xF7], &mut data).expect("data");
    assert_eq!(data, reset, "the previous conversion's values");
    chip.advance_us(6_100);
    chip.write_read(0x77, &[0xF3], &mut status).expect("status");
    assert_eq!(status[0] & 0x08, 0, "done after 46.1 ms");
    chip.write_read(0x77, &[0xF7], &mut data).expect("data");
    assert_ne!(data, reset);
    // A typical part takes 1 + 2·2 + (2·16 + 0.5) + (2·1 + 0.5) = 40 ms.
    chip.set_conversion_time(ConversionTime::Typical);
    chip.write(0x77, &[0xF4, 0b0101_0101]).expect("forced");
    chip.advance_us(39_999);
    assert!(chip.measuring());
    chip.advance_us(1);
    assert!(!chip.measuring());
    // Soft reset clears the control registers.
    chip.write(0x77, &[0xE0, 0xB6]).expect("reset");
    let mut ctrl = [0u8; 4];
    chip.write_read(0x77, &[0xF2], &mut ctrl).expect("ctrl");
    assert_eq!(ctrl, [0, 0, 0, 0]);
    // Unplugged: nothing answers. Replugged: a power-on reset.
    chip.unplug();
    assert_eq!(
        chip.write_read(0x77, &[0xD0], &mut id),
        Err(I2cError::NoAcknowledge)
    );
    chip.replug();
    chip.write_read(0x77, &[0xD0], &mut id)
        .expect("id after replug");
    assert_eq!(id[0], 0x60);

    let mut bmp = Bme280Chip::with_fixed_air(Variant::Bmp280, 0x76, SOME_AIR);
    bmp.write_read(0x76, &[0xD0], &mut id).expect("id");
    assert_eq!(id[0], 0x58);
}

#[test]
fn the_emulated_iir_filter_keeps_its_state_between_forced_measurements() {
    use embedded_hal::i2c::I2c;
    // Raw values fed in directly; filter 16 and ×16 (20-bit) so nothing is rounded
    // away but the filter's own rounding.
    let mut chip = Bme280Chip::with_fixed_air(Variant::Bme280, 0x77, SOME_AIR);
    let raw = |adc_t: u32| RawSample {
        adc_t,
        adc_p: 400_000,
        adc_h: 30_000,
    };
    chip.write(0x77, &[0xF5, 0x10]).expect("config: filter 16");
    let mut filtered = 0.0;
    for (k, adc_t) in [500_000u32, 500_000, 516_000, 516_000, 516_000]
        .into_iter()
        .enumerate()
    {
        chip.set_raw_override(Some(raw(adc_t)));
        chip.write(0x77, &[0xF4, 0b1011_0101]).expect("forced");
        chip.advance_us(200_000);
        let mut data = [0u8; 8];
        chip.write_read(0x77, &[0xF7], &mut data).expect("data");
        let got =
            (u32::from(data[3]) << 12) | (u32::from(data[4]) << 4) | (u32::from(data[5]) >> 4);
        // Datasheet 3.4.3; the first measurement after a reset seeds the filter.
        filtered = if k == 0 {
            f64::from(adc_t)
        } else {
            (filtered * 15.0 + f64::from(adc_t)) / 16.0
        };
        assert_eq!(got, filtered.round() as u32, "measurement {k}");
    }
    // Three readings into a 16 000-count step: 1 − (15/16)³ = 17.6 % of the way.
    assert_eq!(filtered.round() as u32, 502_816);
}

#[test]
fn the_simulated_bme280_plays_the_weather_at_the_simulated_time() {
    let w = Arc::new(cambridge(13));
    let time = SimTime::new(Timestamp::from_secs(START_S));
    let hw = SimHardware::new(w.clone(), time.clone());
    assert!(!hw.blocking_io());
    let bus = hw.i2c("/dev/i2c-1").expect("sim bus");
    let mut dev = Bme280Sensor::new(
        bus,
        "/dev/i2c-1".into(),
        0x77,
        Settings::WEATHER_MONITORING,
        hw.delay(),
    );
    for k in [0, 1000, 50_000, 3_000_000] {
        let t = Timestamp::from_secs(START_S + k * 7);
        time.set(t);
        let r = dev.read().expect("read");
        let c = w.at(t);
        let got = |q| reading(&r, q);
        assert!(
            (got(Quantity::TemperatureC) - c.temperature_c).abs() < 0.0055,
            "{k}: {r:?} vs {c:?}"
        );
        assert!(
            (got(Quantity::PressureHpa) - c.station_pressure_hpa).abs() < 0.027,
            "{k}: {r:?} vs {c:?}"
        );
        assert!(
            (got(Quantity::HumidityPct) - c.humidity_pct).abs() < 0.01,
            "{k}: {r:?} vs {c:?}"
        );
    }
}

#[test]
fn the_wind_memo_never_changes_a_value() {
    use weatherd::sim::weather::MeanWindCache;
    let w = cambridge(31);
    let mut cache = MeanWindCache::default();
    // In order (as the edge generator asks), then jumping about with the same memo.
    let times = (0..5000)
        .map(|k| Timestamp::from_secs(START_S + k).add_nanos(500_000_000))
        .chain((0..500).map(|k| Timestamp::from_secs(START_S + (k * 7919) % 100_000)));
    for t in times {
        assert_eq!(
            w.wind_speed_kmh_cached(t, &mut cache),
            w.wind_speed_kmh(t),
            "{t:?}"
        );
    }
}

// ---- the simulated station against the simulated truth --------------------------

const BIN: &str = env!("CARGO_BIN_EXE_weatherd");

/// The weather of the built-in standard station (the example config's position), as
/// `weatherd run --simulate --seed N` plays it.
fn standard_station(seed: u64) -> Weather {
    let c = weatherd::config::Config::example();
    Weather::new(seed, c.station.latitude, c.station.elevation_m)
        .with_longitude(c.station.longitude)
}

/// Runs the real binary on a simulated day and reads the records back as JSON.
fn simulated_day(seed: u64, day: Timestamp) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("day.db");
    let start = day.to_chrono().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let seed = seed.to_string();
    let db_arg = db.to_str().unwrap();
    let run = std::process::Command::new(BIN)
        .args(["run", "--simulate", "--speed", "max", "--start", &start])
        .args(["--duration", "1d", "--seed", &seed, "--db", db_arg])
        .env("RUST_LOG", "warn")
        .output()
        .expect("weatherd runs");
    assert!(run.status.success(), "{run:?}");
    let out = std::process::Command::new(BIN)
        .args(["query", "--db", db_arg, "--format", "json"])
        .output()
        .expect("weatherd query runs");
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("JSON rows")
}

fn row_time(row: &serde_json::Value, key: &str) -> Timestamp {
    let text = row[key].as_str().expect("a time");
    let t = chrono::DateTime::parse_from_rfc3339(text).expect("RFC 3339");
    Timestamp::from_secs(t.timestamp())
}

/// The first day of 2026 with at least `mm` of rain at the standard station.
fn a_rainy_day(w: &Weather, mm: f64) -> Timestamp {
    (0..365)
        .map(|d| Timestamp::from_secs(START_S + d * DAY_S))
        .find(|&d| w.rain_mm_between(d, d.add_secs(DAY_S)) >= mm)
        .expect("a rainy day in a year")
}

#[test]
fn stored_gusts_and_rain_rates_match_the_simulated_truth() {
    let seed = 3;
    let w = standard_station(seed);
    let day = a_rainy_day(&w, 3.0);
    let rows = simulated_day(seed, day);
    assert_eq!(rows.len(), 1440);

    // The truth: the 3-s running mean of the model's wind, from its integral in 10-ms
    // steps (midpoint rule), for every window ending on the 10-ms grid.
    const STEP_NS: i64 = 10_000_000;
    let per_window = (3 * NANOS_PER_SEC / STEP_NS) as usize;
    let steps = (DAY_S * NANOS_PER_SEC / STEP_NS) as usize;
    let mut cache = weatherd::sim::weather::MeanWindCache::default();
    let mut integral = Vec::with_capacity(steps + 1);
    let mut acc = 0.0;
    integral.push(acc);
    for i in 0..steps {
        let mid = day.add_nanos(i as i64 * STEP_NS + STEP_NS / 2);
        acc += w.wind_speed_kmh_cached(mid, &mut cache) * (STEP_NS as f64 / 1e9);
        integral.push(acc);
    }
    let index = |t: Timestamp| ((t.0 - day.0) / STEP_NS) as usize;
    let mut worst = (0.0_f64, String::new());
    let mut windy = 0;
    for (n, row) in rows.iter().enumerate() {
        let (start, end) = (row_time(row, "start_utc"), row_time(row, "end_utc"));
        // Windows ending in (start, end]; the run's first record has nothing before
        // its start, so its windows lie inside it.
        let first_end = if n == 0 {
            index(start) + per_window
        } else {
            index(start) + 1
        };
        let truth = (first_end..=index(end))
            .map(|e| (integral[e] - integral[e - per_window]) / 3.0)
            .fold(0.0_f64, f64::max);
        let stored = row["wind_gust_kmh"].as_f64().expect("a gust");
        let err = (stored - truth).abs();
        if err > worst.0 {
            worst = (err, format!("{start:?}: stored {stored}, truth {truth}"));
        }
        if truth > 5.0 {
            windy += 1;
        }
    }
    assert!(
        windy > 100,
        "too little wind to test: {windy} windy records"
    );
    // Stored values are rounded to 0.01 km/h.
    assert!(
        worst.0 <= 0.2,
        "worst gust error {:.3}: {}",
        worst.0,
        worst.1
    );

    // Rain rate: a tip's rate is one bucket over the time since the tip before, which
    // must be the mean rate of the rain between them: never above the highest true
    // rate in the record and the 15 minutes before it (the longest gap a rate is
    // spread over), and never below the gauge's floor (a bucket per 15 minutes).
    let mm_per_tip = 0.2794;
    let floor = mm_per_tip * 4.0;
    let mut rated = 0;
    for row in &rows {
        let rate = row["rain_rate_mm_per_h"].as_f64().expect("a rate");
        if rate == 0.0 {
            continue;
        }
        rated += 1;
        let (start, end) = (row_time(row, "start_utc"), row_time(row, "end_utc"));
        let from = start.add_secs(-15 * 60);
        let highest = (0..=(end.0 - from.0) / NANOS_PER_SEC)
            .map(|s| w.rain_rate_mmh(from.add_secs(s)))
            .fold(0.0_f64, f64::max);
        assert!(
            rate <= highest.max(floor) * 1.01 + 0.01,
            "{start:?}: rain rate {rate} mm/h, but the rain fell at most {highest} mm/h"
        );
        assert!(rate >= floor - 0.01, "{start:?}: {rate} mm/h");
    }
    assert!(
        rated >= 5,
        "too few tips to test: {rated} records with a rate"
    );
}

#[test]
fn bucket_tips_are_one_bucket_of_rain_apart() {
    let w = Arc::new(cambridge(21));
    let mm_per_tip = 0.2794;
    let start = Timestamp::from_secs(START_S);
    let mut src = SimEdgeSource::new(w.clone(), 6, RAIN_GAUGE).expect("valid role");
    let edges = collect(&mut src, start, start.add_secs(60 * DAY_S));
    let tips = closures(&edges, 50_000_000);
    let mut within_spells = 0;
    for pair in tips.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let (spell_a, spell_b) = (w.rain_spell(a), w.rain_spell(b));
        assert!(spell_a.is_some() && spell_b.is_some(), "a tip without rain");
        let rain = w.rain_mm_between(a, b);
        if spell_a == spell_b {
            // Exactly one bucket between two tips of one spell (to the f64 resolution
            // of seconds since 1970, a fraction of a microsecond).
            within_spells += 1;
            assert!(
                (rain - mm_per_tip).abs() <= 1e-6,
                "{a:?}..{b:?}: {rain} mm between two tips"
            );
        } else {
            // A dry hour or more between spells empties the bucket.
            assert!(b.0 - a.0 >= 3600 * NANOS_PER_SEC, "{a:?}..{b:?}");
        }
    }
    assert!(within_spells > 100, "too few tips: {within_spells}");
    // And the tips add up to the rain that fell (a bucket per spell may stay part-full).
    let total: f64 = w.rain_mm_between(start, start.add_secs(60 * DAY_S));
    let counted = tips.len() as f64 * mm_per_tip;
    assert!(
        (counted - total).abs() < total * 0.1 + 1.0,
        "{counted} vs {total} mm"
    );
}

/// Runs the real binary on simulated time into `db`, from `start` for `duration`.
fn simulate(db: &std::path::Path, seed: u64, start: Timestamp, duration: &str) {
    let start = start.to_chrono().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let run = std::process::Command::new(BIN)
        .args(["run", "--simulate", "--speed", "max", "--start", &start])
        .args(["--duration", duration, "--seed", &seed.to_string()])
        .args(["--db", db.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .output()
        .expect("weatherd runs");
    assert!(run.status.success(), "{run:?}");
}

fn query_rows(db: &std::path::Path) -> Vec<serde_json::Value> {
    let out = std::process::Command::new(BIN)
        .args(["query", "--db", db.to_str().unwrap(), "--format", "json"])
        .output()
        .expect("weatherd query runs");
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("JSON rows")
}

#[test]
fn a_run_restarted_every_few_minutes_stores_the_uninterrupted_gusts() {
    // The gust windows that end early in the first record after a restart begin before
    // it: the simulator replays those closures to the restarted sampler, so every
    // record is the uninterrupted run's, gust included.
    let dir = tempfile::tempdir().expect("temp dir");
    let start = windy_hour(&standard_station(2), 15.0);
    let whole = dir.path().join("whole.db");
    simulate(&whole, 2, start, "3h");
    let pieces = dir.path().join("pieces.db");
    for minutes in (7..180).step_by(7).chain([180]) {
        simulate(&pieces, 2, start, &format!("{minutes}m"));
    }
    let expected = query_rows(&whole);
    assert_eq!(expected.len(), 180);
    let got = query_rows(&pieces);
    for (a, b) in got.iter().zip(&expected) {
        assert_eq!(a["wind_gust_kmh"], b["wind_gust_kmh"], "{}", a["start_utc"]);
    }
    assert_eq!(got, expected);
}
