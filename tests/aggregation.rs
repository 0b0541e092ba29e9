//! The aggregator end to end with hand-made samples: interval boundaries, resume,
//! calibration and QC, faults, wind (mean, gust, direction) and rain, plus bouncing
//! reed-switch pulse trains through the debouncer.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use std::sync::Arc;
use weatherd::aggregate::{Aggregator, AggregatorConfig};
use weatherd::config::{Config, QcLimits};
use weatherd::observation::{Aggregation, Fault, FaultKind, Quantity, Reading, Sample};
use weatherd::pulse::Debouncer;
use weatherd::record::{ArchiveRecord, Resume};
use weatherd::spike::SpikeLimits;
use weatherd::time::{Timestamp, NANOS_PER_MILLI, NANOS_PER_SEC};

/// 2026-01-01T00:00:00Z, on every grid.
const T0: i64 = 1_767_225_600;
const KMH_PER_HZ: f64 = 2.4;
const MM_PER_TIP: f64 = 0.2794;

fn t(s: i64) -> Timestamp {
    Timestamp::from_secs(T0 + s)
}

/// The example config without the spike test: these hand-made series step freely to
/// test other rules (tests/spike_qc.rs tests the spike test).
fn config() -> AggregatorConfig {
    AggregatorConfig {
        spike: SpikeLimits::off(),
        ..AggregatorConfig::from_config(&Config::example())
    }
}

fn aggregator() -> Aggregator {
    Aggregator::new(config(), &Resume::default())
}

fn at(s: i64) -> Sample {
    Sample {
        at: t(s),
        ..Sample::default()
    }
}

fn with(mut s: Sample, sensor: &str, q: Quantity, value: f64) -> Sample {
    s.readings.push((Arc::from(sensor), Reading::new(q, value)));
    s
}

fn temp(s: i64, value: f64) -> Sample {
    with(at(s), "bme280", Quantity::TemperatureC, value)
}

/// Pushes every sample and returns the records emitted.
fn run(agg: &mut Aggregator, samples: impl IntoIterator<Item = Sample>) -> Vec<ArchiveRecord> {
    let mut out = Vec::new();
    for s in samples {
        agg.push(s, &mut out);
    }
    out
}

/// Every 5-s tick in `(from, to]`.
fn ticks(from: i64, to: i64) -> impl Iterator<Item = i64> {
    (from / 5 + 1..=to / 5).map(|i| i * 5)
}

/// Splits closure timestamps into 5-s samples with ticks in `(from, to]`: the sample
/// at tick `a` holds the closures in `[a − 5 s, a)`.
fn wind_samples(closures: &[Timestamp], from: i64, to: i64) -> Vec<Sample> {
    ticks(from, to)
        .map(|a| {
            let (lo, hi) = (t(a - 5), t(a));
            let pulses = closures
                .iter()
                .copied()
                .filter(|c| *c >= lo && *c < hi)
                .collect();
            Sample {
                wind_pulses: Some(pulses),
                ..at(a)
            }
        })
        .collect()
}

/// Closures of a speed series of (duration s, km/h) segments starting at `from`.
fn speed_series(from: i64, segments: &[(f64, f64)]) -> Vec<Timestamp> {
    let mut out = Vec::new();
    // Offsets from `from` keep the f64 arithmetic at nanosecond precision.
    let mut seg_start = 0.0;
    for &(dur_s, kmh) in segments {
        let period = KMH_PER_HZ / kmh * 1e9;
        let seg_end = seg_start + dur_s * 1e9;
        let mut i = 0.0;
        while seg_start + i * period < seg_end - 1.0 {
            out.push(t(from).add_nanos((seg_start + i * period).round() as i64));
            i += 1.0;
        }
        seg_start = seg_end;
    }
    out
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

// ---------------------------------------------------------------- intervals

#[test]
fn a_sample_on_a_boundary_closes_exactly_one_interval() {
    let mut agg = aggregator();
    let mut out = Vec::new();
    for s in ticks(0, 55) {
        agg.push(temp(s, 10.0), &mut out);
        assert!(
            out.is_empty(),
            "nothing is complete before the tick at the end"
        );
    }
    agg.push(temp(60, 22.0), &mut out);
    assert_eq!(
        out.len(),
        1,
        "the tick at the boundary completes the record"
    );
    let r = &out[0];
    assert_eq!((r.start, r.end, r.samples), (t(0), t(60), 12));
    assert_eq!(r.temperature_c.n, 12);
    assert_eq!(
        r.temperature_c.max,
        Some(22.0),
        "the boundary sample belongs to the interval it closes"
    );

    let more = run(&mut agg, ticks(60, 120).map(|s| temp(s, 5.0)));
    assert_eq!(more.len(), 1);
    assert_eq!(
        (more[0].start, more[0].end, more[0].samples),
        (t(60), t(120), 12)
    );
    assert_eq!(
        more[0].temperature_c.max,
        Some(5.0),
        "the boundary sample is not counted twice"
    );
    assert_eq!(
        agg.flush(),
        None,
        "nothing is open after a complete interval"
    );
}

#[test]
fn partial_intervals_at_start_gap_and_shutdown() {
    let mut agg = aggregator();
    // The daemon starts at :32; the first tick is :35.
    let first = run(&mut agg, ticks(30, 60).map(|s| temp(s, 1.0)));
    assert_eq!(first.len(), 1);
    assert_eq!(
        (first[0].start, first[0].end, first[0].samples),
        (t(0), t(60), 6)
    );

    // Two samples, then a gap of a few minutes (a stalled sampler).
    let mut out = run(&mut agg, [temp(65, 2.0), temp(70, 3.0)]);
    assert!(out.is_empty());
    agg.push(temp(200, 4.0), &mut out);
    assert_eq!(
        out.len(),
        1,
        "a sample in a later interval closes the open one"
    );
    assert_eq!(
        (out[0].start, out[0].end, out[0].samples),
        (t(60), t(120), 2)
    );
    assert_eq!(out[0].temperature_c.mean, Some(2.5));

    let last = agg.flush().expect("the interval holding :200 is open");
    assert_eq!((last.start, last.end, last.samples), (t(180), t(240), 1));
    assert_eq!(last.temperature_c.mean, Some(4.0));
    assert_eq!(agg.flush(), None);
    // After a flush, the rest of that interval cannot make a second record for it.
    let after = run(&mut agg, [temp(205, 9.0), temp(240, 9.0), temp(245, 9.0)]);
    assert!(after.is_empty());
    assert_eq!(agg.dropped_samples(), 2);
    assert_eq!(agg.flush().map(|r| (r.start, r.samples)), Some((t(240), 1)));
}

#[test]
fn resume_drops_already_archived_samples() {
    let resume = Resume {
        last_end: Some(t(60)),
        last_rain_tip: None,
    };
    let mut agg = Aggregator::new(config(), &resume);
    // A restart inside the stored interval: :45 … :60 were archived before.
    let out = run(&mut agg, ticks(40, 120).map(|s| temp(s, s as f64 / 10.0)));
    assert_eq!(agg.dropped_samples(), 4);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].start, out[0].end, out[0].samples),
        (t(60), t(120), 12)
    );
    assert_eq!(
        out[0].temperature_c.min,
        Some(6.5),
        "no archived sample leaks in"
    );
}

#[test]
fn resume_after_a_shorter_archive_interval_does_not_overlap() {
    let mut cfg = config();
    cfg.archive_interval_s = 300;
    let resume = Resume {
        last_end: Some(t(60)),
        last_rain_tip: None,
    };
    let mut agg = Aggregator::new(cfg, &resume);
    let out = run(&mut agg, ticks(60, 300).map(|s| temp(s, 1.0)));
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].start, out[0].end, out[0].samples),
        (t(60), t(300), 48)
    );
}

#[test]
fn duplicate_and_backward_ticks_are_dropped() {
    let mut agg = aggregator();
    let out = run(
        &mut agg,
        [
            temp(5, 1.0),
            temp(10, 2.0),
            temp(10, 50.0),
            temp(7, 50.0),
            temp(15, 3.0),
        ],
    );
    assert!(out.is_empty());
    assert_eq!(agg.dropped_samples(), 2);
    let r = agg.flush().unwrap();
    assert_eq!((r.samples, r.temperature_c.max), (3, Some(3.0)));
}

// ---------------------------------------------------------------- polled values, QC

#[test]
fn means_extremes_dew_point_and_sea_level_pressure() {
    let mut agg = aggregator();
    let samples = ticks(0, 60).enumerate().map(|(i, s)| {
        let x = i as f64;
        let s = with(temp(s, 10.0 + x), "bme280", Quantity::HumidityPct, 60.0 + x);
        let s = with(s, "bme280", Quantity::PressureHpa, 1000.0 + x / 10.0);
        let s = with(s, "ground", Quantity::GroundTemperatureC, 8.0);
        with(s, "lux", Quantity::from_name("illuminance_lux"), 100.0 * x)
    });
    let out = run(&mut agg, samples);
    let r = &out[0];
    assert_eq!(
        (r.temperature_c.min, r.temperature_c.max, r.temperature_c.n),
        (Some(10.0), Some(21.0), 12)
    );
    assert!(close(r.temperature_c.mean.unwrap(), 15.5, 1e-12));
    assert!(close(r.humidity_pct.mean.unwrap(), 65.5, 1e-12));
    assert!(close(r.pressure_hpa.mean.unwrap(), 1000.55, 1e-9));
    assert_eq!(r.ground_temperature_c.mean, Some(8.0));
    let dew = weatherd::meteo::dew_point_c(15.5, 65.5).unwrap();
    assert!(close(r.dew_point_c.unwrap(), dew, 1e-12));
    assert!(r.dew_point_c.unwrap() < 15.5);
    let slp = weatherd::meteo::sea_level_pressure_hpa(1000.55, 15.5, 20.0);
    assert!(close(r.sea_level_pressure_hpa.unwrap(), slp, 1e-9));
    assert!(
        r.sea_level_pressure_hpa.unwrap() > 1002.0 && r.sea_level_pressure_hpa.unwrap() < 1003.5
    );
    assert_eq!(r.extras.len(), 1);
    assert_eq!(&*r.extras[0].0, "illuminance_lux");
    assert_eq!(
        (r.extras[0].1.min, r.extras[0].1.max),
        (Some(0.0), Some(1100.0))
    );
    // No anemometer, vane or gauge data was given.
    assert_eq!(
        (r.wind_speed_kmh, r.wind_gust_kmh, r.wind_dir_deg, r.rain_mm),
        (None, None, None, None)
    );
}

#[test]
fn sea_level_pressure_without_temperature_uses_15_c() {
    let mut agg = aggregator();
    let out = run(
        &mut agg,
        ticks(0, 60).map(|s| with(at(s), "bme280", Quantity::PressureHpa, 990.0)),
    );
    let r = &out[0];
    assert_eq!(r.temperature_c.n, 0);
    assert_eq!(r.temperature_c.mean, None);
    assert_eq!(r.dew_point_c, None);
    let expect = weatherd::meteo::sea_level_pressure_hpa(990.0, 15.0, 20.0);
    assert!(close(r.sea_level_pressure_hpa.unwrap(), expect, 1e-9));
}

#[test]
fn extras_are_sorted_by_name() {
    let mut agg = aggregator();
    let s = with(at(5), "x", Quantity::from_name("uv_index"), 3.0);
    let s = with(s, "x", Quantity::from_name("illuminance_lux"), 400.0);
    let s = with(s, "x", Quantity::from_name("soil_moisture_pct"), 30.0);
    run(&mut agg, [s]);
    let names: Vec<String> = agg
        .flush()
        .unwrap()
        .extras
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    assert_eq!(names, ["illuminance_lux", "soil_moisture_pct", "uv_index"]);
}

/// An aggregator whose extra quantities fold as given (as drivers declare them).
fn folding(kinds: &[(&str, Aggregation)]) -> Aggregator {
    let mut cfg = config();
    for (name, kind) in kinds {
        cfg.aggregations.insert(Arc::from(*name), *kind);
    }
    Aggregator::new(cfg, &Resume::default())
}

/// One minute of an extra quantity's readings (ticks 5..=60), and its record.
fn minute_of(agg: &mut Aggregator, name: &str, values: &[f64]) -> weatherd::record::ExtraStat {
    let samples: Vec<Sample> = ticks(0, 60)
        .zip(values)
        .map(|(s, &v)| with(at(s), "x", Quantity::from_name(name), v))
        .collect();
    let mut out = run(agg, samples);
    out.extend(agg.flush());
    let r = &out[0];
    assert_eq!(r.extras.len(), 1, "{name}");
    r.extras[0].1
}

#[test]
fn an_extra_folds_as_its_driver_declares() {
    let values = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0];
    let mut agg = folding(&[
        ("energy_wh", Aggregation::Sum),
        ("battery_v", Aggregation::Last),
        ("light_lux", Aggregation::Mean),
    ]);
    let sum = minute_of(&mut agg, "energy_wh", &values);
    assert_eq!(
        (sum.kind, sum.value, sum.n),
        (Aggregation::Sum, Some(31.0), 8)
    );
    assert_eq!((sum.min, sum.max), (None, None), "a total has no extremes");

    let mut agg = folding(&[("battery_v", Aggregation::Last)]);
    let last = minute_of(&mut agg, "battery_v", &values);
    assert_eq!(last.kind, Aggregation::Last);
    assert_eq!(
        (last.value, last.min, last.max),
        (Some(6.0), Some(1.0), Some(9.0))
    );
    assert_eq!(last.mean(), None, "only a mean quantity has a mean");

    // Not declared: a mean, as every extra was before kinds existed.
    let mut agg = folding(&[]);
    let mean = minute_of(&mut agg, "light_lux", &values);
    assert_eq!(mean.kind, Aggregation::Mean);
    assert_eq!(
        (mean.value, mean.min, mean.max),
        (Some(31.0 / 8.0), Some(1.0), Some(9.0))
    );
    assert_eq!(mean.mean(), mean.value);
}

#[test]
fn an_extra_direction_is_a_unit_vector_mean_and_cancels_to_none() {
    let mut agg = folding(&[("vane_2_deg", Aggregation::Vector)]);
    // The arithmetic mean of these is 180°; the wind came from the north.
    let north = minute_of(&mut agg, "vane_2_deg", &[350.0, 10.0, 355.0, 5.0]);
    assert_eq!((north.kind, north.n), (Aggregation::Vector, 4));
    let d = north.value.unwrap();
    assert!(d.min(360.0 - d) < 1e-9, "{d}");
    assert_eq!((north.min, north.max), (None, None));

    let mut agg = folding(&[("vane_2_deg", Aggregation::Vector)]);
    let east = minute_of(&mut agg, "vane_2_deg", &[80.0, 100.0, 90.0]);
    assert!(close(east.value.unwrap(), 90.0, 1e-9));

    // Opposite directions cancel: no direction, but the samples still count.
    let mut agg = folding(&[("vane_2_deg", Aggregation::Vector)]);
    let calm = minute_of(&mut agg, "vane_2_deg", &[90.0, 270.0]);
    assert_eq!((calm.value, calm.n), (None, 2));
}

#[test]
fn an_extra_direction_wraps_after_its_calibration_offset() {
    let mut cfg = config();
    cfg.aggregations
        .insert(Arc::from("vane_2_deg"), Aggregation::Vector);
    cfg.calibration
        .insert(Quantity::from_name("vane_2_deg"), 10.0);
    cfg.qc.insert(
        Quantity::from_name("vane_2_deg"),
        QcLimits {
            min: 0.0,
            max: 360.0,
        },
    );
    let mut agg = Aggregator::new(cfg, &Resume::default());
    // 355° read by a vane mounted 10° off is 5°, inside the limits, not 365° outside.
    let r = minute_of(&mut agg, "vane_2_deg", &[355.0, 355.0]);
    assert_eq!(r.n, 2, "no reading was discarded");
    assert!(close(r.value.unwrap(), 5.0, 1e-9), "{:?}", r.value);
}

fn calibrated(offset: f64) -> Aggregator {
    let mut cfg = config();
    cfg.calibration.insert(Quantity::TemperatureC, offset);
    Aggregator::new(cfg, &Resume::default())
}

#[test]
fn calibration_is_applied_before_qc() {
    // 59.5 raw is inside the limits, but +1.0 makes it 60.5: out of range.
    let mut agg = calibrated(1.0);
    run(&mut agg, [temp(5, 59.5), temp(10, 20.0)]);
    let r = agg.flush().unwrap();
    assert_eq!(r.temperature_c.n, 1);
    assert_eq!(r.temperature_c.max, Some(21.0));
    assert_eq!(r.faults.len(), 1);
    let f = &r.faults[0];
    assert_eq!(
        (f.kind, f.quantity.clone(), &*f.sensor),
        (
            FaultKind::OutOfRange,
            Some(Quantity::TemperatureC),
            "bme280"
        )
    );
    assert_eq!((f.count, f.first_at), (1, t(5)));
    assert!(
        f.message.contains("60.5") && f.message.contains("-60..60"),
        "{}",
        f.message
    );
    assert!(f.message.contains("raw 59.5"), "{}", f.message);

    // 60.5 raw is outside the limits, but −1.0 brings it to 59.5: kept.
    let mut agg = calibrated(-1.0);
    run(&mut agg, [temp(5, 60.5)]);
    let r = agg.flush().unwrap();
    assert_eq!((r.temperature_c.n, r.temperature_c.mean), (1, Some(59.5)));
    assert!(r.faults.is_empty());
}

#[test]
fn a_direction_offset_wraps_around_north() {
    let mut cfg = config();
    cfg.calibration.insert(Quantity::WindDirDeg, 10.0);
    let mut agg = Aggregator::new(cfg, &Resume::default());
    run(&mut agg, [wind_dir(5, 10, 355.0), wind_dir(10, 10, 355.0)]);
    let r = agg.flush().unwrap();
    assert_eq!((r.wind_dir_n, r.faults.len()), (2, 0));
    assert!(
        close(r.wind_dir_deg.unwrap(), 5.0, 1e-9),
        "{:?}",
        r.wind_dir_deg
    );
}

#[test]
fn qc_limits_from_config_replace_the_defaults() {
    let mut c = Config::example();
    c.qc.insert(
        "temperature_c".into(),
        QcLimits {
            min: -10.0,
            max: 40.0,
        },
    );
    c.qc.insert(
        "illuminance_lux".into(),
        QcLimits {
            min: 0.0,
            max: 200_000.0,
        },
    );
    c.calibration.insert("ground_temperature_c".into(), 0.25);
    let cfg = AggregatorConfig::from_config(&c);
    assert_eq!(cfg.kmh_per_hz, Some(2.4));
    assert_eq!(cfg.mm_per_tip, Some(0.2794));
    assert_eq!(cfg.elevation_m, 20.0);
    assert_eq!((cfg.sample_interval_s, cfg.archive_interval_s), (5, 60));
    assert_eq!(
        (&*cfg.anemometer_sensor, &*cfg.rain_gauge_sensor),
        ("anemometer", "rain")
    );
    assert_eq!(
        cfg.calibration.get(&Quantity::GroundTemperatureC),
        Some(&0.25)
    );
    assert_eq!(
        cfg.qc[&Quantity::HumidityPct],
        QcLimits {
            min: 0.0,
            max: 100.0
        }
    );
    assert_eq!(
        cfg.qc[&Quantity::PressureHpa],
        QcLimits {
            min: 300.0,
            max: 1100.0
        }
    );
    assert_eq!(
        cfg.qc[&Quantity::WindSpeedKmh],
        QcLimits {
            min: 0.0,
            max: 300.0
        }
    );

    let mut agg = Aggregator::new(cfg, &Resume::default());
    let s = with(
        temp(5, 45.0),
        "lux",
        Quantity::from_name("illuminance_lux"),
        250_000.0,
    );
    let s = with(s, "ground", Quantity::GroundTemperatureC, 7.0);
    let s = with(s, "bme280", Quantity::HumidityPct, 100.5);
    run(&mut agg, [s, temp(10, 39.0)]);
    let r = agg.flush().unwrap();
    assert_eq!(
        r.temperature_c.mean,
        Some(39.0),
        "45 °C breaks the configured limit of 40"
    );
    assert!(r.extras.is_empty(), "the only lux reading was out of range");
    assert_eq!(r.ground_temperature_c.mean, Some(7.25));
    assert_eq!(r.humidity_pct.n, 0);
    let kinds: Vec<_> = r
        .faults
        .iter()
        .map(|f| (f.quantity.clone().unwrap().to_string(), f.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("temperature_c".to_string(), FaultKind::OutOfRange),
            ("illuminance_lux".to_string(), FaultKind::OutOfRange),
            ("humidity_pct".to_string(), FaultKind::OutOfRange),
        ]
    );
}

#[test]
fn sample_faults_are_counted_per_sensor_quantity_and_kind() {
    let fault = |s: i64, sensor: &str, q: Option<Quantity>, kind, msg: &str| Fault {
        at: t(s),
        sensor: Arc::from(sensor),
        quantity: q,
        kind,
        message: msg.to_string(),
    };
    let mut agg = aggregator();
    let mut samples: Vec<Sample> = ticks(0, 60).map(|s| temp(s, 12.0)).collect();
    samples[2]
        .faults
        .push(fault(15, "ground", None, FaultKind::ReadError, "crc=00 NO"));
    samples[3].faults.push(fault(
        20,
        "ground",
        None,
        FaultKind::ReadError,
        "no such device",
    ));
    samples[3].faults.push(fault(
        20,
        "bme280",
        Some(Quantity::HumidityPct),
        FaultKind::Timeout,
        "2000 ms",
    ));
    samples[7].faults.push(fault(
        40,
        "ground",
        None,
        FaultKind::ReadError,
        "crc=00 NO again",
    ));
    samples[8]
        .faults
        .push(fault(45, "ground", None, FaultKind::Timeout, "slow"));
    let out = run(&mut agg, samples);
    let f = &out[0].faults;
    assert_eq!(f.len(), 3);
    assert_eq!(
        (&*f[0].sensor, f[0].kind, f[0].count, f[0].first_at),
        ("ground", FaultKind::ReadError, 3, t(15))
    );
    assert_eq!(f[0].message, "crc=00 NO");
    assert_eq!(
        (&*f[1].sensor, f[1].quantity.clone(), f[1].count),
        ("bme280", Some(Quantity::HumidityPct), 1)
    );
    assert_eq!(
        (f[2].kind, f[2].count, f[2].first_at),
        (FaultKind::Timeout, 1, t(45))
    );
    // Faults do not leak into the next interval.
    let next = run(&mut agg, ticks(60, 120).map(|s| temp(s, 12.0)));
    assert!(next[0].faults.is_empty());
}

// ---------------------------------------------------------------- wind

#[test]
fn steady_wind_gives_gust_equal_to_mean() {
    for kmh in [2.4, 12.0, 36.0, 100.0] {
        let closures = speed_series(0, &[(60.0, kmh)]);
        let mut agg = aggregator();
        let out = run(&mut agg, wind_samples(&closures, 0, 60));
        let r = &out[0];
        assert_eq!(r.wind_n, 12);
        assert!(
            close(r.wind_speed_kmh.unwrap(), kmh, 1e-9),
            "{kmh}: {:?}",
            r.wind_speed_kmh
        );
        assert!(
            close(r.wind_gust_kmh.unwrap(), kmh, 1e-4),
            "{kmh}: {:?}",
            r.wind_gust_kmh
        );
        // The gust function alone, before the aggregator's gust >= mean rule.
        let raw = weatherd::meteo::gust_kmh(&closures, t(0), t(60), KMH_PER_HZ).unwrap();
        assert!(close(raw, kmh, 1e-4), "{kmh}: {raw}");
    }
}

#[test]
fn a_burst_raises_the_gust_not_the_mean() {
    // 12 km/h with a 4-s burst at 30 km/h: the gust is the burst. (Segment lengths
    // are whole closure periods, so each speed holds exactly over its segment.)
    let closures = speed_series(0, &[(20.0, 12.0), (4.0, 30.0), (36.0, 12.0)]);
    let mut agg = aggregator();
    let r = run(&mut agg, wind_samples(&closures, 0, 60)).remove(0);
    let mean = r.wind_speed_kmh.unwrap();
    let gust = r.wind_gust_kmh.unwrap();
    assert!(close(gust, 30.0, 1e-6), "gust {gust}");
    assert!(
        close(mean, (56.0 * 12.0 + 4.0 * 30.0) / 60.0, 1e-9),
        "mean {mean}"
    );
    // The highest 5-s sample would say 26.4 km/h (4 s at 30, 1 s at 12): not the gust.
    assert!(gust > 28.0);

    // A 2-s burst: the best 3-s window holds 2 s at 30 and 1 s at 12.
    let closures = speed_series(0, &[(20.0, 12.0), (2.0, 30.0), (38.0, 12.0)]);
    let mut agg = aggregator();
    let r = run(&mut agg, wind_samples(&closures, 0, 60)).remove(0);
    let gust = r.wind_gust_kmh.unwrap();
    assert!(close(gust, (2.0 * 30.0 + 12.0) / 3.0, 1e-6), "gust {gust}");
    assert!(gust > r.wind_speed_kmh.unwrap() && gust < 30.0);
}

#[test]
fn gust_above_the_qc_limit_is_discarded_with_a_fault() {
    // 290 km/h for 3 s inside a 5-s sample of otherwise light wind: the sample's mean
    // speed passes QC, the gust does not.
    let mut cfg = config();
    cfg.qc.insert(
        Quantity::WindSpeedKmh,
        QcLimits {
            min: 0.0,
            max: 250.0,
        },
    );
    let closures = speed_series(0, &[(10.0, 5.0), (3.0, 290.0), (47.0, 5.0)]);
    let mut agg = Aggregator::new(cfg, &Resume::default());
    let r = run(&mut agg, wind_samples(&closures, 0, 60)).remove(0);
    assert_eq!(r.wind_n, 12);
    assert!(r.wind_speed_kmh.is_some());
    assert_eq!(r.wind_gust_kmh, None);
    assert_eq!(r.faults.len(), 1);
    assert_eq!(
        (&*r.faults[0].sensor, r.faults[0].kind),
        ("anemometer", FaultKind::OutOfRange)
    );
    assert!(
        r.faults[0].message.contains("gust"),
        "{}",
        r.faults[0].message
    );
}

#[test]
fn a_sample_faster_than_the_qc_limit_is_dropped_from_wind() {
    let mut samples = wind_samples(&speed_series(0, &[(60.0, 12.0)]), 0, 60);
    // 700 closures in 5 s is 336 km/h.
    samples[4].wind_pulses = Some((0..700).map(|i| t(20).add_nanos(i * 7_000_000)).collect());
    let mut agg = aggregator();
    let r = run(&mut agg, samples).remove(0);
    assert_eq!(r.wind_n, 11);
    assert!(close(r.wind_speed_kmh.unwrap(), 12.0, 1e-9));
    assert!(
        r.wind_gust_kmh.unwrap() < 13.0,
        "the rejected closures must not make a gust"
    );
    assert_eq!(r.faults.len(), 1);
    assert_eq!(r.faults[0].quantity, Some(Quantity::WindSpeedKmh));
    assert!(r.faults[0].message.contains("336") && r.faults[0].message.contains("700 closures"));
}

#[test]
fn wind_missing_for_some_samples_is_averaged_over_the_rest() {
    let mut samples = wind_samples(&speed_series(0, &[(60.0, 24.0)]), 0, 60);
    samples[0].wind_pulses = None;
    samples[1].wind_pulses = None;
    let mut agg = aggregator();
    let r = run(&mut agg, samples).remove(0);
    assert_eq!(r.wind_n, 10);
    assert!(close(r.wind_speed_kmh.unwrap(), 24.0, 1e-9));
    // No anemometer data at all: no speed, no gust.
    let mut agg = aggregator();
    let r = run(&mut agg, ticks(0, 60).map(|s| temp(s, 1.0))).remove(0);
    assert_eq!(
        (r.wind_n, r.wind_speed_kmh, r.wind_gust_kmh),
        (0, None, None)
    );
}

// ------------------------------------------------------- gust across records

/// The closures of a cup turned by `kmh(s)` (s = seconds after `T0`) from `from` to
/// `to`: the rotation integrates the speed in 1-ms steps and a closure happens each time
/// it passes a whole turn (one closure per `KMH_PER_HZ` km/h·s), so the pulse train
/// follows the speed continuously, as a real cup's does.
fn cup(from: f64, to: f64, kmh: impl Fn(f64) -> f64) -> Vec<Timestamp> {
    let mut out = Vec::new();
    let mut turns = 0.37_f64;
    let mut next = 1.0;
    let steps = ((to - from) * 1000.0).round() as i64;
    for i in 0..steps {
        let s = from + i as f64 / 1000.0;
        let step = kmh(s + 0.0005) / KMH_PER_HZ / 1000.0;
        while next <= turns + step {
            let frac = (next - turns) / step;
            out.push(t(0).add_nanos(((s + frac / 1000.0) * 1e9).round() as i64));
            next += 1.0;
        }
        turns += step;
    }
    out
}

/// 10 km/h with a 3-s burst of 30 km/h from `burst_s`.
fn burst_at(burst_s: f64) -> impl Fn(f64) -> f64 {
    move |s| {
        if s >= burst_s && s < burst_s + 3.0 {
            30.0
        } else {
            10.0
        }
    }
}

#[test]
fn a_gust_across_a_record_boundary_counts_in_the_record_where_its_window_ends() {
    // The burst's 3-s window slides across the boundary at 60 s in 0.5-s steps.
    for step in 0..=14 {
        let burst_s = 54.0 + 0.5 * f64::from(step);
        let window_end = burst_s + 3.0;
        let closures = cup(0.0, 120.0, burst_at(burst_s));
        let mut agg = aggregator();
        let records = run(&mut agg, wind_samples(&closures, 0, 120));
        assert_eq!(records.len(), 2);
        let (owner, other) = if window_end <= 60.0 {
            (&records[0], &records[1])
        } else {
            (&records[1], &records[0])
        };
        let gust = owner.wind_gust_kmh.unwrap();
        assert!(
            close(gust, 30.0, 0.5),
            "burst {burst_s}..{window_end} s: gust {gust} in the record ending at {:?}",
            owner.end
        );
        let partial = other.wind_gust_kmh.unwrap();
        assert!(
            partial <= 30.5,
            "burst {burst_s}..{window_end} s: the other record says {partial}"
        );
        // The mean is not touched by the carry: each record's own closures only.
        for r in &records {
            let own = closures
                .iter()
                .filter(|c| **c >= r.start && **c < r.end)
                .count();
            assert!(close(
                r.wind_speed_kmh.unwrap(),
                own as f64 * KMH_PER_HZ / 60.0,
                1e-9
            ));
        }
    }
}

#[test]
fn the_gust_carry_after_a_restart_comes_from_the_replayed_history() {
    // 30 km/h from 58.5 s to 61.5 s: the window lies across the boundary at 60 s.
    let closures = cup(0.0, 120.0, burst_at(58.5));
    let mut agg = aggregator();
    let uninterrupted = run(&mut agg, wind_samples(&closures, 0, 120));
    let expected = uninterrupted[1].wind_gust_kmh.unwrap();
    assert!(close(expected, 30.0, 0.5), "{expected}");

    // Restarted at 60 s: the first sample brings the replayed 6 s before its period,
    // as the sampler hands them over from a source that can replay (the simulator).
    let resume = Resume {
        last_end: Some(t(60)),
        last_rain_tip: None,
    };
    let mut samples = wind_samples(&closures, 60, 120);
    samples[0].wind_pulses_before = Some(
        closures
            .iter()
            .copied()
            .filter(|c| *c >= t(54) && *c < t(60))
            .collect(),
    );
    let mut agg = Aggregator::new(config(), &resume);
    let resumed = run(&mut agg, samples).remove(0);
    assert_eq!(
        resumed, uninterrupted[1],
        "exactly the uninterrupted record"
    );

    // A GPIO line replays nothing: the windows reaching back before the restart see
    // no closures there, and the gust comes from what lies after it (1.5 s of the
    // burst and 1.5 s of 10 km/h at best), never from invented data.
    let mut samples = wind_samples(&closures, 60, 120);
    samples[0].wind_pulses_before = Some(Vec::new());
    let mut agg = Aggregator::new(config(), &resume);
    let blind = run(&mut agg, samples).remove(0);
    let gust = blind.wind_gust_kmh.unwrap();
    assert!(close(gust, 20.0, 0.5), "{gust}");
    // No history at all: the same.
    let mut agg = Aggregator::new(config(), &resume);
    let none = run(&mut agg, wind_samples(&closures, 60, 120)).remove(0);
    assert!(close(none.wind_gust_kmh.unwrap(), 20.0, 0.5), "{none:?}");
}

#[test]
fn stale_closures_are_not_carried_across_a_gap() {
    // A burst that ends exactly at the end of the first record, then no samples for
    // 10 s (a forward clock step, a stall), then steady 10 km/h.
    let closures = cup(0.0, 120.0, burst_at(57.0));
    let samples: Vec<Sample> = wind_samples(&closures, 0, 120)
        .into_iter()
        .filter(|s| s.at != t(65) && s.at != t(70))
        .collect();
    let mut agg = aggregator();
    let records = run(&mut agg, samples);
    assert!(close(records[0].wind_gust_kmh.unwrap(), 30.0, 0.5));
    // Carrying the burst's closures over the gap would score windows ending just after
    // 60 s (nearly all burst, then a gap without data) at almost 30 km/h.
    let gust = records[1].wind_gust_kmh.unwrap();
    assert!(close(gust, 10.0, 0.5), "{gust}");

    // The same when the anemometer failed for the first sample of the next record.
    let mut samples = wind_samples(&closures, 0, 120);
    samples[12].wind_pulses = None;
    let mut agg = aggregator();
    let records = run(&mut agg, samples);
    let gust = records[1].wind_gust_kmh.unwrap();
    assert!(close(gust, 10.0, 0.5), "{gust}");
    // And the carry goes on from record to record while the data does.
    let closures = cup(0.0, 180.0, burst_at(118.5));
    let mut agg = aggregator();
    let records = run(&mut agg, wind_samples(&closures, 0, 180));
    let gusts: Vec<f64> = records.iter().map(|r| r.wind_gust_kmh.unwrap()).collect();
    assert!(close(gusts[0], 10.0, 0.5), "{gusts:?}");
    assert!(close(gusts[2], 30.0, 0.5), "{gusts:?}");
}

/// A sample with `n` evenly spread closures and a vane reading.
fn wind_dir(s: i64, closures: i64, deg: f64) -> Sample {
    let pulses = (0..closures)
        .map(|i| t(s - 5).add_nanos(i * 5 * NANOS_PER_SEC / closures.max(1)))
        .collect();
    let s = with(at(s), "wind_vane", Quantity::WindDirDeg, deg);
    Sample {
        wind_pulses: Some(pulses),
        ..s
    }
}

#[test]
fn direction_averages_across_north() {
    let mut agg = aggregator();
    let samples = ticks(0, 60).map(|s| wind_dir(s, 20, if s % 10 == 0 { 350.0 } else { 10.0 }));
    let r = run(&mut agg, samples).remove(0);
    assert_eq!(r.wind_dir_deg, Some(0.0));
    assert_eq!(r.wind_dir_n, 12);
}

#[test]
fn direction_is_weighted_by_the_same_samples_speed() {
    let mut agg = aggregator();
    // Strong wind from the east, light wind from the south.
    let samples = ticks(0, 60).map(|s| {
        if s % 10 == 0 {
            wind_dir(s, 40, 90.0)
        } else {
            wind_dir(s, 4, 180.0)
        }
    });
    let r = run(&mut agg, samples).remove(0);
    let d = r.wind_dir_deg.unwrap();
    let expect = (4.0_f64).atan2(40.0).to_degrees(); // from the east axis towards south
    assert!(close(d, 90.0 + expect, 1e-6), "{d}");
}

#[test]
fn calm_gives_no_direction() {
    let mut agg = aggregator();
    let r = run(&mut agg, ticks(0, 60).map(|s| wind_dir(s, 0, 225.0))).remove(0);
    assert_eq!(r.wind_dir_deg, None);
    assert_eq!(
        r.wind_dir_n, 12,
        "the vane read fine; only the direction is undefined"
    );
    assert_eq!((r.wind_speed_kmh, r.wind_gust_kmh), (Some(0.0), Some(0.0)));
}

#[test]
fn without_an_anemometer_directions_are_unit_vectors() {
    let mut cfg = config();
    cfg.kmh_per_hz = None;
    let mut agg = Aggregator::new(cfg, &Resume::default());
    // With speed weighting 90° would win; with unit vectors 3×90 and 9×180 balance at
    // atan2(3, 9) from south towards east.
    let samples = ticks(0, 60).map(|s| {
        if s % 20 == 0 {
            wind_dir(s, 40, 90.0)
        } else {
            wind_dir(s, 4, 180.0)
        }
    });
    let r = run(&mut agg, samples).remove(0);
    assert_eq!(r.wind_speed_kmh, None);
    let d = r.wind_dir_deg.unwrap();
    assert!(
        close(d, 180.0 - (3.0_f64).atan2(9.0).to_degrees(), 1e-6),
        "{d}"
    );
}

// ---------------------------------------------------------------- debounce

/// The edges of one reed-switch closure at `at`: the closing edge plus up to five
/// bounces within `max_bounce_ns`.
fn bouncing(rng: &mut Pcg64, at: i64, max_bounce_ns: i64, out: &mut Vec<Timestamp>) {
    out.push(Timestamp(at));
    let mut bounces: Vec<i64> = (0..rng.gen_range(0..=5))
        .map(|_| at + rng.gen_range(1..=max_bounce_ns))
        .collect();
    bounces.sort_unstable();
    out.extend(bounces.into_iter().map(Timestamp));
}

#[test]
fn bouncing_anemometer_closures_are_counted_exactly_once() {
    let mut rng = Pcg64::seed_from_u64(2026);
    let lockout_ms = weatherd::sensors::anemometer::defaults::debounce_ms();
    assert_eq!(lockout_ms, 3.0);
    let mut debouncer = Debouncer::from_ms(lockout_ms);
    // Ten minutes of wind whose speed jumps between 1 and 150 km/h every few closures;
    // each closure bounces for 0.1–1.5 ms.
    let mut truth = Vec::new();
    let mut edges = Vec::new();
    let mut now = t(0).0 + rng.gen_range(0..NANOS_PER_SEC);
    let mut kmh: f64 = 20.0;
    while now < t(600).0 {
        truth.push(Timestamp(now));
        let bounce_ns = rng.gen_range(100_000..=1_500_000);
        bouncing(&mut rng, now, bounce_ns, &mut edges);
        if rng.gen_bool(0.2) {
            kmh = rng.gen_range(1.0..=150.0);
        }
        now += (KMH_PER_HZ / kmh * 1e9) as i64;
    }
    assert!(
        edges.len() > truth.len() * 2,
        "the test must actually bounce"
    );
    // Debounce per 5-s sample period, as the sampler does, and aggregate.
    let mut samples = Vec::new();
    let mut accepted_all = Vec::new();
    for a in ticks(0, 600) {
        let period: Vec<Timestamp> = edges
            .iter()
            .copied()
            .filter(|e| *e >= t(a - 5) && *e < t(a))
            .collect();
        let mut accepted = Vec::new();
        debouncer.feed(&period, &mut accepted);
        accepted_all.extend_from_slice(&accepted);
        samples.push(Sample {
            wind_pulses: Some(accepted),
            ..at(a)
        });
    }
    assert_eq!(accepted_all, truth, "every closure once, at its first edge");
    let mut agg = aggregator();
    let records = run(&mut agg, samples);
    assert_eq!(records.len(), 10);
    for r in &records {
        let in_interval = truth
            .iter()
            .filter(|c| **c >= r.start && **c < r.end)
            .count();
        assert!(close(
            r.wind_speed_kmh.unwrap(),
            in_interval as f64 * KMH_PER_HZ / 60.0,
            1e-9
        ));
        assert!(r.wind_gust_kmh.unwrap() >= r.wind_speed_kmh.unwrap());
        assert!(r.wind_gust_kmh.unwrap() <= 150.0 + 1e-6);
    }
}

#[test]
fn bouncing_rain_tips_are_counted_once_each() {
    let mut rng = Pcg64::seed_from_u64(6);
    let mut debouncer = Debouncer::from_ms(weatherd::sensors::rain_gauge::defaults::debounce_ms());
    let mut truth = Vec::new();
    let mut edges = Vec::new();
    let mut now = t(0).0 + 123 * NANOS_PER_MILLI;
    while now < t(1200).0 {
        truth.push(Timestamp(now));
        // A bucket chatters longer than a cup switch: up to 20 ms.
        bouncing(&mut rng, now, 20 * NANOS_PER_MILLI, &mut edges);
        // At least 2.5 s apart, so no 5-s sample holds more than two tips (the QC limit).
        now += rng.gen_range(2_500 * NANOS_PER_MILLI..60 * NANOS_PER_SEC);
    }
    let mut samples = Vec::new();
    for a in ticks(0, 1200) {
        let period: Vec<Timestamp> = edges
            .iter()
            .copied()
            .filter(|e| *e >= t(a - 5) && *e < t(a))
            .collect();
        let mut accepted = Vec::new();
        debouncer.feed(&period, &mut accepted);
        samples.push(Sample {
            rain_tips: Some(accepted),
            ..at(a)
        });
    }
    let mut agg = aggregator();
    let records = run(&mut agg, samples);
    assert_eq!(records.len(), 20);
    let total: f64 = records.iter().map(|r| r.rain_mm.unwrap()).sum();
    assert!(
        close(total, truth.len() as f64 * MM_PER_TIP, 1e-9),
        "{total} vs {} tips",
        truth.len()
    );
    for r in &records {
        let tips = truth
            .iter()
            .filter(|c| **c >= r.start && **c < r.end)
            .count();
        assert!(close(r.rain_mm.unwrap(), tips as f64 * MM_PER_TIP, 1e-9));
    }
    assert_eq!(records.last().unwrap().last_rain_tip, truth.last().copied());
}

// ---------------------------------------------------------------- rain

fn rain(s: i64, tips: &[Timestamp]) -> Sample {
    Sample {
        rain_tips: Some(tips.to_vec()),
        ..at(s)
    }
}

#[test]
fn rain_total_and_peak_rate_from_tip_timestamps() {
    let ms = |s: i64, m: i64| t(s).add_nanos(m * NANOS_PER_MILLI);
    let mut agg = aggregator();
    let mut samples: Vec<Sample> = ticks(0, 120).map(|s| rain(s, &[])).collect();
    // First interval: tips at 12.0 s, 42.0 s and 54.0 s: gaps ≥ 15 min (none before),
    // 30 s, 12 s.
    samples[2] = rain(15, &[ms(12, 0)]);
    samples[8] = rain(45, &[ms(42, 0)]);
    samples[10] = rain(55, &[ms(54, 0)]);
    // Second interval: one tip at 63.0 s, 9 s after the previous interval's last one.
    samples[12] = rain(65, &[ms(63, 0)]);
    let out = run(&mut agg, samples);
    assert_eq!(out.len(), 2);
    assert!(close(out[0].rain_mm.unwrap(), 3.0 * MM_PER_TIP, 1e-12));
    assert!(close(
        out[0].rain_rate_mm_per_h.unwrap(),
        MM_PER_TIP * 3600.0 / 12.0,
        1e-9
    ));
    assert_eq!(out[0].rain_n, 12);
    assert_eq!(out[0].last_rain_tip, Some(ms(54, 0)));
    assert!(close(out[1].rain_mm.unwrap(), MM_PER_TIP, 1e-12));
    assert!(close(
        out[1].rain_rate_mm_per_h.unwrap(),
        MM_PER_TIP * 3600.0 / 9.0,
        1e-9
    ));
    assert_eq!(out[1].last_rain_tip, Some(ms(63, 0)));
}

#[test]
fn rain_rate_state_survives_a_restart() {
    let resume = Resume {
        last_end: Some(t(0)),
        last_rain_tip: Some(t(-20)),
    };
    let mut agg = Aggregator::new(config(), &resume);
    let mut samples: Vec<Sample> = ticks(0, 60).map(|s| rain(s, &[])).collect();
    samples[0] = rain(5, &[t(2)]);
    let r = run(&mut agg, samples).remove(0);
    assert!(close(
        r.rain_rate_mm_per_h.unwrap(),
        MM_PER_TIP * 3600.0 / 22.0,
        1e-9
    ));
    assert_eq!(r.last_rain_tip, Some(t(2)));
}

#[test]
fn no_tips_is_zero_rain_but_no_data_is_null() {
    let resume = Resume {
        last_end: None,
        last_rain_tip: Some(t(-3600)),
    };
    let mut agg = Aggregator::new(config(), &resume);
    let dry = run(&mut agg, ticks(0, 60).map(|s| rain(s, &[]))).remove(0);
    assert_eq!(
        (dry.rain_mm, dry.rain_rate_mm_per_h, dry.rain_n),
        (Some(0.0), Some(0.0), 12)
    );
    assert_eq!(
        dry.last_rain_tip,
        Some(t(-3600)),
        "the last tip is carried into every record"
    );
    let unknown = run(&mut agg, ticks(60, 120).map(|s| temp(s, 3.0))).remove(0);
    assert_eq!(
        (unknown.rain_mm, unknown.rain_rate_mm_per_h, unknown.rain_n),
        (None, None, 0)
    );
    assert_eq!(unknown.last_rain_tip, Some(t(-3600)));
    // A lone tip after a long dry spell counts as 15 minutes of rain.
    let mut samples: Vec<Sample> = ticks(120, 180).map(|s| rain(s, &[])).collect();
    samples[3] = rain(140, &[t(137)]);
    let r = run(&mut agg, samples).remove(0);
    assert!(close(
        r.rain_rate_mm_per_h.unwrap(),
        MM_PER_TIP * 4.0,
        1e-12
    ));
    assert_eq!(r.last_rain_tip, Some(t(137)));
}

#[test]
fn phantom_rain_is_rejected_by_qc() {
    let mut agg = aggregator();
    let mut samples: Vec<Sample> = ticks(0, 60).map(|s| rain(s, &[])).collect();
    // 40 tips within one 5-s sample: electrical noise, not rain.
    samples[5] = rain(
        30,
        &(0..40)
            .map(|i| t(25).add_nanos(i * 100 * NANOS_PER_MILLI))
            .collect::<Vec<_>>(),
    );
    // Two tips 1 s apart: plausible in amount, but 1006 mm/h is not a rain rate.
    samples[9] = rain(50, &[t(46), t(47)]);
    let r = run(&mut agg, samples).remove(0);
    assert!(
        close(r.rain_mm.unwrap(), 2.0 * MM_PER_TIP, 1e-12),
        "{:?}",
        r.rain_mm
    );
    assert_eq!(r.rain_n, 11);
    assert_eq!(r.rain_rate_mm_per_h, None);
    assert_eq!(r.faults.len(), 1, "{:?}", r.faults);
    assert_eq!((&*r.faults[0].sensor, r.faults[0].count), ("rain", 2));
    assert!(
        r.faults[0].message.contains("40 tips"),
        "{}",
        r.faults[0].message
    );
    assert_eq!(
        r.last_rain_tip,
        Some(t(47)),
        "the rejected burst does not move the rate reference"
    );
}
