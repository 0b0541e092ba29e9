//! Spike QC (issue 12 item 9) on hand-made series: a single spike is removed with a
//! fault, a genuine step is accepted after the confirmation rule, slow change and gaps
//! are not spikes, rain tips and anemometer closures faster than the hardware are
//! discarded, the limits come from `[qc]`, and a restart starts without a reference
//! (except the rain gauge's stored last tip).

use std::sync::Arc;
use weatherd::aggregate::{Aggregator, AggregatorConfig};
use weatherd::config::{Config, EXAMPLE_TOML};
use weatherd::observation::{FaultKind, Quantity, Reading, Sample};
use weatherd::record::{ArchiveRecord, FaultCount, Resume};
use weatherd::spike::SpikeLimits;
use weatherd::time::{Timestamp, NANOS_PER_MILLI};

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600;

fn t(s: i64) -> Timestamp {
    Timestamp::from_secs(T0 + s)
}

fn config() -> AggregatorConfig {
    AggregatorConfig::from_config(&Config::example())
}

fn reading(at: i64, sensor: &str, q: Quantity, value: f64) -> Sample {
    Sample {
        at: t(at),
        readings: vec![(Arc::from(sensor), Reading::new(q, value))],
        ..Sample::default()
    }
}

/// 5-s temperature samples from the BME280, the first at tick 5.
fn temperatures(values: &[f64]) -> Vec<Sample> {
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| reading(5 * (i as i64 + 1), "bme280", Quantity::TemperatureC, v))
        .collect()
}

/// Pushes every sample, then flushes: every record.
fn run_with(agg: &mut Aggregator, samples: Vec<Sample>) -> Vec<ArchiveRecord> {
    let mut out = Vec::new();
    for s in samples {
        agg.push(s, &mut out);
    }
    out.extend(agg.flush());
    out
}

fn run(cfg: AggregatorConfig, samples: Vec<Sample>) -> Vec<ArchiveRecord> {
    run_with(&mut Aggregator::new(cfg, &Resume::default()), samples)
}

fn spikes(records: &[ArchiveRecord]) -> Vec<&FaultCount> {
    records
        .iter()
        .flat_map(|r| &r.faults)
        .filter(|f| f.kind == FaultKind::Spike)
        .collect()
}

#[test]
fn a_single_spike_is_removed_with_a_fault() {
    let mut values = [20.0; 12];
    values[5] = 35.0;
    let out = run(config(), temperatures(&values));
    assert_eq!(out.len(), 1);
    let r = &out[0];
    assert_eq!(r.temperature_c.n, 11, "the spike is not a sample");
    assert_eq!(r.temperature_c.max, Some(20.0));
    assert_eq!(r.temperature_c.mean, Some(20.0));
    let f = spikes(&out);
    assert_eq!(f.len(), 1);
    assert_eq!(
        (
            &*f[0].sensor,
            f[0].quantity.clone(),
            f[0].count,
            f[0].first_at
        ),
        ("bme280", Some(Quantity::TemperatureC), 1, t(30))
    );
    assert!(
        f[0].message.contains("35") && f[0].message.contains("spike"),
        "{}",
        f[0].message
    );
    // A fall is a spike as much as a rise.
    values[5] = 5.0;
    assert_eq!(run(config(), temperatures(&values))[0].temperature_c.n, 11);
}

#[test]
fn a_genuine_step_is_accepted_after_the_confirmation_rule() {
    // 20 °C, then from tick 20 a real step to 30 °C (a sensor moved from sun to shade
    // would step down; a replaced sensor either way) with small wobbles after it.
    let values = [
        20.0, 20.0, 20.0, 30.0, 30.1, 30.0, 29.9, 30.0, 30.1, 30.0, 30.0, 30.0,
    ];
    let cfg = config();
    let confirm = cfg.spike.spike_confirm_samples;
    assert_eq!(confirm, 3, "the documented default");
    let out = run(cfg, temperatures(&values));
    let r = &out[0];
    // The first two readings at the new level are spikes; the third confirms it.
    assert_eq!(r.temperature_c.n, 12 - (confirm - 1));
    assert_eq!(r.temperature_c.min, Some(20.0));
    assert_eq!(r.temperature_c.max, Some(30.1), "the new level is accepted");
    let f = spikes(&out);
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].count, f[0].first_at), (confirm - 1, t(20)));

    // Readings beyond the limit that disagree with each other never confirm: noise
    // bouncing between two wrong values is rejected for as long as it lasts.
    let values = [
        20.0, 20.0, 35.0, 5.0, 35.0, 5.0, 35.0, 5.0, 20.1, 20.0, 20.0, 20.0,
    ];
    let r = &run(config(), temperatures(&values))[0];
    assert_eq!(r.temperature_c.n, 6);
    assert_eq!(
        (r.temperature_c.min, r.temperature_c.max),
        (Some(20.0), Some(20.1))
    );

    // `spike_confirm_samples = 1` accepts any step at once: only the reference moves.
    let mut cfg = config();
    cfg.spike.spike_confirm_samples = 1;
    let values = [20.0, 20.0, 30.0, 30.0];
    assert_eq!(run(cfg, temperatures(&values))[0].temperature_c.n, 4);
}

#[test]
fn change_within_the_limit_and_change_after_a_gap_are_not_spikes() {
    // 0.2 °C per 5 s is 2.4 °C per minute, under the default 3.
    let ramp: Vec<f64> = (0..12).map(|i| 10.0 + 0.2 * f64::from(i)).collect();
    let out = run(config(), temperatures(&ramp));
    assert_eq!(out[0].temperature_c.n, 12);
    assert!(spikes(&out).is_empty());
    // Between samples less than a minute apart the limit is a step limit: 2.9 °C in
    // 5 s passes (the WMO's 3 °C is between one-minute values), 3.1 °C does not.
    let out = run(config(), temperatures(&[10.0, 12.9, 12.9]));
    assert!(spikes(&out).is_empty());
    let out = run(config(), temperatures(&[10.0, 13.1, 10.0]));
    assert_eq!(spikes(&out).len(), 1);

    // The sensor is silent for ten minutes (a fault, a loose cable) and comes back
    // 8 °C warmer: 3 °C/min × 10 min allows it.
    let samples = vec![
        reading(5, "bme280", Quantity::TemperatureC, 10.0),
        reading(605, "bme280", Quantity::TemperatureC, 18.0),
        reading(610, "bme280", Quantity::TemperatureC, 18.1),
    ];
    let out = run(config(), samples);
    assert!(spikes(&out).is_empty(), "{:?}", spikes(&out));
    assert_eq!(out.iter().map(|r| r.temperature_c.n).sum::<u32>(), 3);
}

#[test]
fn every_sensor_and_quantity_has_its_own_reference() {
    // Two thermometers 1.5 °C apart (one in the sun), sampled alternately in the same
    // tick: neither is judged against the other.
    let samples: Vec<Sample> = (1..=12)
        .map(|i| Sample {
            at: t(5 * i),
            readings: vec![
                (
                    Arc::from("bme280"),
                    Reading::new(Quantity::TemperatureC, 20.0),
                ),
                (
                    Arc::from("sht31"),
                    Reading::new(Quantity::TemperatureC, 21.5),
                ),
                (
                    Arc::from("bme280"),
                    Reading::new(Quantity::HumidityPct, 60.0),
                ),
                (
                    Arc::from("bme280"),
                    Reading::new(Quantity::PressureHpa, 1000.0),
                ),
            ],
            ..Sample::default()
        })
        .collect();
    let out = run(config(), samples);
    assert!(spikes(&out).is_empty());
    assert_eq!(out[0].temperature_c.n, 24);
}

#[test]
fn humidity_and_pressure_have_their_own_limits() {
    let series = |q: Quantity, base: f64, jump: f64| -> Vec<Sample> {
        (1..=12)
            .map(|i| {
                let v = if i == 6 { base + jump } else { base };
                reading(5 * i, "bme280", q.clone(), v)
            })
            .collect()
    };
    // 20 %/min and 2 hPa/min, as step limits between samples under a minute apart.
    for (q, base, small, big) in [
        (Quantity::HumidityPct, 60.0, 19.0, 21.0),
        (Quantity::PressureHpa, 1000.0, 1.9, 2.1),
    ] {
        let out = run(config(), series(q.clone(), base, small));
        assert!(spikes(&out).is_empty(), "{q}: {small} is within the limit");
        let out = run(config(), series(q.clone(), base, big));
        let f = spikes(&out);
        assert_eq!(f.len(), 1, "{q}: {big} is a spike");
        assert_eq!(f[0].quantity, Some(q));
    }
}

#[test]
fn limits_come_from_the_qc_table_of_the_config() {
    let text = format!(
        "{EXAMPLE_TOML}\n[qc]\ntemperature_c_per_minute = 1.0\nspike_confirm_samples = 5\nrain_tips_per_second = 1.0\n"
    );
    // The example may already have a [qc] table; append the keys to it if so.
    let text = if EXAMPLE_TOML.lines().any(|l| l.trim() == "[qc]") {
        EXAMPLE_TOML.replacen(
            "[qc]\n",
            "[qc]\ntemperature_c_per_minute = 1.0\nspike_confirm_samples = 5\nrain_tips_per_second = 1.0\n",
            1,
        )
    } else {
        text
    };
    let c = Config::from_toml(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.spike,
        SpikeLimits {
            temperature_c_per_minute: 1.0,
            spike_confirm_samples: 5,
            rain_tips_per_second: 1.0,
            ..SpikeLimits::default()
        }
    );
    // A 1.5 °C step is now a spike (it was not under the default 3).
    let steps = [10.0, 11.5, 10.0, 10.0];
    assert!(spikes(&run(config(), temperatures(&steps))).is_empty());
    let out = run(AggregatorConfig::from_config(&c), temperatures(&steps));
    assert_eq!(spikes(&out).len(), 1);
    // The effective config shows the keys and reads back the same.
    let rendered = c.render_effective();
    assert!(
        rendered.contains("temperature_c_per_minute = 1.0"),
        "{rendered}"
    );
    assert_eq!(Config::from_toml(&rendered).unwrap(), c);

    // Bad values name the key.
    for (line, words) in [
        ("temperature_c_per_minute = -1.0", "positive rate"),
        ("pressure_hpa_per_minute = nan", "finite"),
        ("spike_confirm_samples = 0", "at least 1"),
        (
            "humidity_pct_per_minute = \"fast\"",
            "humidity_pct_per_minute",
        ),
    ] {
        let bad = format!("{EXAMPLE_TOML}\n[qc]\n{line}\n");
        let e = Config::from_toml(&bad).expect_err(line);
        let key = line.split(' ').next().unwrap();
        assert_eq!(e.path, format!("qc.{key}"), "{e}");
        assert!(e.to_string().contains(words), "{e}");
    }
}

/// A 5-s sample at tick `at` with the rain gauge's tips at the given offsets (ms) into
/// its period `[at − 5 s, at)`.
fn rain(at: i64, tips_ms: &[i64]) -> Sample {
    Sample {
        at: t(at),
        rain_tips: Some(
            tips_ms
                .iter()
                .map(|ms| t(at - 5).add_nanos(ms * NANOS_PER_MILLI))
                .collect(),
        ),
        ..Sample::default()
    }
}

#[test]
fn bucket_tips_faster_than_the_gauge_can_tip_are_discarded() {
    let mm = config().mm_per_tip.unwrap();
    // Heavy but real rain (a tip every 2.5 s, 400 mm/h), then a sample with two tips
    // 200 ms apart (a bouncing reed switch or interference), then real rain again.
    let samples = vec![
        rain(5, &[0, 2500]),
        rain(10, &[1000, 1200]),
        rain(15, &[1000, 3500]),
    ];
    let out = run(config(), samples);
    let r = &out[0];
    assert_eq!(r.rain_n, 2, "the spiky sample has no rain data");
    assert!((r.rain_mm.unwrap() - 4.0 * mm).abs() < 1e-9);
    let f = spikes(&out);
    assert_eq!(f.len(), 1);
    assert_eq!(
        (&*f[0].sensor, f[0].quantity.clone()),
        ("rain", Some(Quantity::RainMm))
    );
    assert!(f[0].message.contains("200 ms"), "{}", f[0].message);

    // Across the boundary of two samples: the last tip at 4.9 s and the next at 0.1 s.
    let out = run(config(), vec![rain(5, &[4900]), rain(10, &[100])]);
    assert_eq!(out[0].rain_n, 1);
    assert_eq!(spikes(&out).len(), 1);

    // After a restart the stored last tip is the reference.
    let resume = Resume {
        last_end: Some(t(0)),
        last_rain_tip: Some(t(-5).add_nanos(4_900 * NANOS_PER_MILLI)),
    };
    let out = run_with(
        &mut Aggregator::new(config(), &resume),
        vec![rain(5, &[100])],
    );
    assert_eq!((out[0].rain_n, out[0].rain_mm), (0, None));
    assert_eq!(spikes(&out).len(), 1);
    // A tip 0.6 s after it is real.
    let out = run_with(
        &mut Aggregator::new(config(), &resume),
        vec![rain(5, &[500])],
    );
    assert_eq!(out[0].rain_n, 1);
    assert!(spikes(&out).is_empty());
}

/// A 5-s sample with anemometer closures at the given offsets (ms).
fn wind(at: i64, closures_ms: impl IntoIterator<Item = i64>) -> Sample {
    Sample {
        at: t(at),
        wind_pulses: Some(
            closures_ms
                .into_iter()
                .map(|ms| t(at - 5).add_nanos(ms * NANOS_PER_MILLI))
                .collect(),
        ),
        ..Sample::default()
    }
}

#[test]
fn anemometer_closures_faster_than_the_cups_turn_are_discarded() {
    // 10 Hz (24 km/h) throughout; the second sample has one extra closure 3 ms after
    // another (a bounce the debouncer let through).
    let steady = |at| wind(at, (0..50).map(|k| k * 100));
    let mut bounced: Vec<i64> = (0..50).map(|k| k * 100).collect();
    bounced.push(2503);
    bounced.sort_unstable();
    let out = run(config(), vec![steady(5), wind(10, bounced), steady(15)]);
    let r = &out[0];
    assert_eq!(r.wind_n, 2, "the bounced sample has no wind data");
    assert!((r.wind_speed_kmh.unwrap() - 24.0).abs() < 1e-9);
    let f = spikes(&out);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].quantity, Some(Quantity::WindSpeedKmh));
    assert!(f[0].message.contains("3 ms"), "{}", f[0].message);

    // The default limit is the rate of the range limit: 300 km/h / 2.4 km/h per Hz =
    // 125 Hz, closures 8 ms apart. 110 Hz (9.1 ms, 264 km/h) passes; a configured
    // 100 Hz rejects it.
    let fast = || wind(5, (0..550).map(|k| k * 5000 / 550));
    assert_eq!(run(config(), vec![fast()])[0].wind_n, 1);
    let mut cfg = config();
    cfg.spike.wind_closures_per_second = Some(100.0);
    let out = run(cfg, vec![fast()]);
    assert_eq!(out[0].wind_n, 0);
    assert_eq!(spikes(&out).len(), 1);
}

#[test]
fn a_restart_starts_without_a_reference() {
    // Before the stop the station read 20 °C; after it, the first reading is judged
    // by the range limits only (the filter's memory is not stored), and becomes the
    // reference for the next.
    let mut before = Aggregator::new(config(), &Resume::default());
    let out = run_with(&mut before, temperatures(&[20.0, 20.0]));
    let last_end = out.last().unwrap().end;
    let mut after = Aggregator::new(
        config(),
        &Resume {
            last_end: Some(last_end),
            last_rain_tip: None,
        },
    );
    let samples = vec![
        reading(65, "bme280", Quantity::TemperatureC, 30.0),
        reading(70, "bme280", Quantity::TemperatureC, 30.1),
        reading(75, "bme280", Quantity::TemperatureC, 45.0),
    ];
    let out = run_with(&mut after, samples);
    assert_eq!(out[0].temperature_c.n, 2);
    assert_eq!(out[0].temperature_c.max, Some(30.1));
    assert_eq!(spikes(&out).len(), 1);
}

#[test]
fn a_spike_is_judged_after_calibration_and_range_limits() {
    // An out-of-range reading is an out_of_range fault, not a spike, and does not
    // become the reference.
    let values = [20.0, 20.0, 99.0, 20.1, 20.0];
    let out = run(config(), temperatures(&values));
    let kinds: Vec<FaultKind> = out.iter().flat_map(|r| &r.faults).map(|f| f.kind).collect();
    assert_eq!(kinds, [FaultKind::OutOfRange]);
    assert_eq!(out[0].temperature_c.n, 4);
    // A calibration offset shifts every reading alike: no spike.
    let mut cfg = config();
    cfg.calibration.insert(Quantity::TemperatureC, -1.5);
    let out = run(cfg, temperatures(&[20.0, 20.0, 20.1]));
    assert!(spikes(&out).is_empty());
    assert!((out[0].temperature_c.max.unwrap() - 18.6).abs() < 1e-9);
}
