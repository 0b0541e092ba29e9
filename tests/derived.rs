//! The derived values of issue 12 (heat index, wind chill, apparent temperature,
//! altimeter setting): against published tables, through the aggregator, the store
//! (with the schema upgrade of an old database) and the query output.

use rusqlite::Connection;
use std::sync::Arc;
use weatherd::aggregate::{Aggregator, AggregatorConfig};
use weatherd::config::Config;
use weatherd::meteo::{
    altimeter_setting_hpa, apparent_temperature_c, c_to_f, f_to_c, heat_index_c, wind_chill_c,
};
use weatherd::observation::{FaultKind, Quantity, Reading, Sample};
use weatherd::record::{ArchiveRecord, FaultCount, Resume, Stat};
use weatherd::store::{Every, Store, Table, Value, SCHEMA_VERSION};
use weatherd::time::Timestamp;

/// 2026-07-01T00:00:00Z.
const T0: i64 = 1_782_864_000;

const MPH_TO_KMH: f64 = 1.609_344;

// ------------------------------------------------------------- published tables

/// Cells of the NWS heat-index chart (°F; rows: relative humidity, columns: air
/// temperature), as printed by the National Weather Service ("Heat Index Chart",
/// weather.gov/safety/heat-index). The chart rounds to whole degrees.
const NWS_HEAT_INDEX: &[(f64, f64, f64)] = &[
    // (temperature °F, humidity %, heat index °F)
    (80.0, 40.0, 80.0),
    (90.0, 60.0, 100.0),
    (100.0, 40.0, 109.0),
    (110.0, 40.0, 136.0),
    (96.0, 55.0, 112.0),
    (94.0, 75.0, 124.0),
    (88.0, 85.0, 110.0),
    (104.0, 50.0, 131.0),
    (86.0, 90.0, 105.0),
    (84.0, 60.0, 88.0),
    (92.0, 50.0, 99.0),
];

#[test]
fn heat_index_matches_the_nws_chart() {
    for &(t_f, rh, chart_f) in NWS_HEAT_INDEX {
        let hi_f = c_to_f(heat_index_c(f_to_c(t_f), rh).unwrap());
        // Within the chart's rounding to whole degrees.
        assert!(
            (hi_f - chart_f).abs() <= 0.5 + 1e-9,
            "{t_f} °F at {rh} %: {hi_f:.2} °F, the chart says {chart_f}"
        );
    }
}

/// The regression alone (NWS WPC, "The Heat Index Equation"), °F.
fn rothfusz(t: f64, rh: f64) -> f64 {
    -42.379 + 2.04901523 * t + 10.14333127 * rh
        - 0.22475541 * t * rh
        - 0.00683783 * t * t
        - 0.05481717 * rh * rh
        + 0.00122874 * t * t * rh
        + 0.00085282 * t * rh * rh
        - 0.00000199 * t * t * rh * rh
}

#[test]
fn heat_index_domain_simple_form_and_adjustments() {
    // Below 80 °F (26.7 °C) there is no heat index (where the NWS chart begins).
    assert_eq!(heat_index_c(f_to_c(79.9), 50.0), None);
    assert!(heat_index_c(f_to_c(80.0), 50.0).is_some());
    assert_eq!(heat_index_c(30.0, 101.0), None);
    assert_eq!(heat_index_c(30.0, -1.0), None);
    assert_eq!(heat_index_c(f64::NAN, 50.0), None);
    // Dry air at 80 °F: Steadman's simple form averaged with T is below 80 °F, so the
    // simple form is the heat index: 0.5·(80 + 61 + 1.2·12 + 0) = 77.7 °F.
    let hi = c_to_f(heat_index_c(f_to_c(80.0), 0.0).unwrap());
    assert!((hi - 77.7).abs() < 1e-9, "{hi}");
    // Low humidity (RH < 13 %, 80..=112 °F): at 95 °F and 5 % the adjustment is
    // (13 − 5)/4 · √((17 − 0)/17) = 2 °F off the regression.
    let hi = c_to_f(heat_index_c(f_to_c(95.0), 5.0).unwrap());
    assert!((hi - (rothfusz(95.0, 5.0) - 2.0)).abs() < 1e-9, "{hi}");
    // High humidity (RH > 85 %, 80..=87 °F): at 82 °F and 95 %, (10/10)·(5/5) = 1 °F on.
    let hi = c_to_f(heat_index_c(f_to_c(82.0), 95.0).unwrap());
    assert!((hi - (rothfusz(82.0, 95.0) + 1.0)).abs() < 1e-9, "{hi}");
    // Outside both bands the regression stands unadjusted.
    let hi = c_to_f(heat_index_c(f_to_c(90.0), 50.0).unwrap());
    assert!((hi - rothfusz(90.0, 50.0)).abs() < 1e-9, "{hi}");
}

/// Cells of the NWS wind-chill chart (°F and mph; weather.gov/safety/cold-wind-chill-chart),
/// computed there from the 2001 NWS/Environment Canada index and rounded.
const NWS_WIND_CHILL: &[(f64, f64, f64)] = &[
    // (temperature °F, wind mph, wind chill °F)
    (0.0, 15.0, -19.0),
    (30.0, 10.0, 21.0),
    (40.0, 5.0, 36.0),
    (-20.0, 30.0, -53.0),
    (-10.0, 20.0, -35.0),
    (20.0, 25.0, 3.0),
    (10.0, 40.0, -15.0),
    (-45.0, 60.0, -98.0),
    (35.0, 60.0, 17.0),
    (-5.0, 10.0, -22.0),
];

#[test]
fn wind_chill_matches_the_nws_chart() {
    for &(t_f, mph, chart_f) in NWS_WIND_CHILL {
        let wc_f = c_to_f(wind_chill_c(f_to_c(t_f), mph * MPH_TO_KMH).unwrap());
        // The chart rounds to whole degrees (0.5), and its °F coefficients are the
        // metric ones converted and rounded: up to 0.1 °F apart over the chart.
        assert!(
            (wc_f - chart_f).abs() <= 0.6,
            "{t_f} °F at {mph} mph: {wc_f:.2} °F, the chart says {chart_f}"
        );
    }
}

#[test]
fn wind_chill_is_defined_only_when_cold_and_windy() {
    assert_eq!(wind_chill_c(10.1, 20.0), None, "above 10 °C");
    assert!(wind_chill_c(10.0, 20.0).is_some());
    assert_eq!(wind_chill_c(0.0, 4.8), None, "4.8 km/h or less");
    assert!(wind_chill_c(0.0, 4.9).is_some());
    assert_eq!(wind_chill_c(f64::NAN, 20.0), None);
    // Environment Canada's wind chill table (°C, km/h): −20 °C in a 30 km/h wind, −33;
    // −10 °C at 20 km/h, −18; 0 °C at 10 km/h, −3.
    for (t, v, table) in [
        (-20.0, 30.0, -33.0),
        (-10.0, 20.0, -18.0),
        (0.0, 10.0, -3.0),
    ] {
        let wc = wind_chill_c(t, v).unwrap();
        assert_eq!(wc.round(), table, "{t} °C at {v} km/h: {wc}");
    }
}

#[test]
fn apparent_temperature_follows_the_bom_formula() {
    // (Ta °C, RH %, ws m/s, AT °C): evaluated independently from the BoM's published
    // formula AT = Ta + 0.33·e − 0.70·ws − 4.00, e = RH/100·6.105·exp(17.27·Ta/(237.7+Ta)).
    let cases = [
        (30.0, 50.0, 2.0, 31.577_381_6),
        (15.0, 80.0, 5.0, 11.992_595_3),
        (0.0, 60.0, 10.0, -9.791_21),
        (35.0, 20.0, 0.0, 34.697_089_5),
        (20.0, 70.0, 3.5, 18.937_539_2),
    ];
    for (t, rh, ws, want) in cases {
        let at = apparent_temperature_c(t, rh, ws).unwrap();
        assert!((at - want).abs() < 1e-6, "{t} °C {rh} % {ws} m/s: {at}");
    }
    // Still air holding 12.12 hPa of vapour (4/0.33) feels like the air temperature.
    let rh = 4.0 / 0.33 / (6.105 * (17.27 * 20.0_f64 / 257.7).exp()) * 100.0;
    assert!((apparent_temperature_c(20.0, rh, 0.0).unwrap() - 20.0).abs() < 1e-9);
    assert_eq!(apparent_temperature_c(20.0, 120.0, 1.0), None);
    assert_eq!(apparent_temperature_c(20.0, 50.0, -1.0), None);
}

#[test]
fn altimeter_setting_of_the_icao_standard_atmosphere_is_standard_pressure() {
    // ICAO standard atmosphere (pressure at height): the ASOS altimeter setting of
    // each is 1013.25 hPa, because the formula reduces through that atmosphere.
    for (h, p) in [
        (0.0, 1013.25),
        (500.0, 954.61),
        (1000.0, 898.75),
        (1500.0, 845.56),
        (2000.0, 794.95),
    ] {
        let a = altimeter_setting_hpa(p, h).unwrap();
        assert!((a - 1013.25).abs() < 0.1, "{h} m: {a}");
    }
}

// ------------------------------------------------------------- the aggregator

fn t(s: i64) -> Timestamp {
    Timestamp::from_secs(T0 + s)
}

/// A minute of 5-s samples at a steady temperature, humidity and pressure, with the
/// anemometer closing `hz` times a second.
fn steady_minute(start: i64, temp: f64, rh: f64, hpa: f64, hz: f64) -> Vec<Sample> {
    (1..=12)
        .map(|i| {
            let at = start + 5 * i;
            let n = (5.0 * hz).round() as i64;
            let pulses = (0..n)
                .map(|k| t(at - 5).add_nanos(k * 5_000_000_000 / n.max(1)))
                .collect();
            let bme: Arc<str> = Arc::from("bme280");
            Sample {
                at: t(at),
                readings: vec![
                    (bme.clone(), Reading::new(Quantity::TemperatureC, temp)),
                    (bme.clone(), Reading::new(Quantity::HumidityPct, rh)),
                    (bme, Reading::new(Quantity::PressureHpa, hpa)),
                ],
                wind_pulses: Some(pulses),
                rain_tips: Some(vec![]),
                ..Sample::default()
            }
        })
        .collect()
}

fn aggregate(samples: Vec<Sample>) -> Vec<ArchiveRecord> {
    let cfg = AggregatorConfig::from_config(&Config::example());
    let mut agg = Aggregator::new(cfg, &Resume::default());
    let mut out = Vec::new();
    for s in samples {
        agg.push(s, &mut out);
    }
    out
}

#[test]
fn a_record_gets_the_derived_values_from_its_means() {
    let elevation = Config::example().station.elevation_m;
    // A hot minute (35 °C, 50 %, 5 Hz = 12 km/h), and a cold windy one (−5 °C, 10 Hz).
    let hot = &aggregate(steady_minute(0, 35.0, 50.0, 990.0, 5.0))[0];
    let cold = &aggregate(steady_minute(0, -5.0, 80.0, 1000.0, 10.0))[0];
    assert!(hot.faults.is_empty() && cold.faults.is_empty());
    let wind = hot.wind_speed_kmh.unwrap();
    assert!((wind - 12.0).abs() < 1e-9, "{wind}");
    assert_eq!(
        hot.altimeter_hpa,
        altimeter_setting_hpa(990.0, elevation),
        "mean pressure and station elevation"
    );
    assert_eq!(hot.heat_index_c, heat_index_c(35.0, 50.0));
    assert_eq!(hot.wind_chill_c, None, "no wind chill above 10 °C");
    assert_eq!(
        hot.apparent_temperature_c,
        apparent_temperature_c(35.0, 50.0, 12.0 / 3.6)
    );
    assert_eq!(cold.heat_index_c, None, "no heat index below 26.7 °C");
    assert_eq!(cold.wind_chill_c, wind_chill_c(-5.0, 24.0));
    assert!(cold.wind_chill_c.unwrap() < -5.0);
    assert_eq!(
        cold.apparent_temperature_c,
        apparent_temperature_c(-5.0, 80.0, 24.0 / 3.6)
    );
    // Without an anemometer reading there is no wind chill or apparent temperature.
    let mut calm = steady_minute(0, 0.0, 80.0, 1000.0, 0.0);
    for s in &mut calm {
        s.wind_pulses = None;
    }
    let r = &aggregate(calm)[0];
    assert_eq!((r.wind_chill_c, r.apparent_temperature_c), (None, None));
    assert!(r.altimeter_hpa.is_some());
}

// ------------------------------------------------------------- store and query

fn stat(v: f64) -> Stat {
    Stat {
        mean: Some(v),
        min: Some(v),
        max: Some(v),
        n: 12,
    }
}

/// A minute at `start` (seconds after T0) with derived values computed as the
/// aggregator does.
fn record(start: i64, temp: f64, wind: f64) -> ArchiveRecord {
    let mut r = ArchiveRecord {
        start: t(start),
        end: t(start + 60),
        samples: 12,
        temperature_c: stat(temp),
        humidity_pct: stat(60.0),
        pressure_hpa: stat(1000.0),
        wind_speed_kmh: Some(wind),
        wind_n: 12,
        ..ArchiveRecord::default()
    };
    r.derive(50.0);
    r
}

fn cell(table: &Table, row: usize, column: &str) -> Value {
    let c = table
        .column(column)
        .unwrap_or_else(|| panic!("no column {column} in {:?}", table.columns));
    table.rows[row][c].clone()
}

fn real(v: Value) -> f64 {
    match v {
        Value::Real(x) => x,
        other => panic!("not a number: {other:?}"),
    }
}

#[test]
fn derived_values_round_trip_and_appear_in_raw_hour_and_day_queries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weather.db");
    let mut store = Store::open(&path, chrono_tz::UTC).unwrap();
    // Three minutes of one hour: hot, hotter, then cold and windy.
    let records = [
        record(0, 30.0, 10.0),
        record(60, 33.0, 20.0),
        record(120, 2.0, 30.0),
    ];
    for r in &records {
        store.insert(r).unwrap();
    }
    let back = store.records_after(0, 10).unwrap();
    assert_eq!(back.len(), 3);
    for ((_, got), want) in back.iter().zip(&records) {
        assert_eq!(got.altimeter_hpa, want.altimeter_hpa);
        assert_eq!(got.heat_index_c, want.heat_index_c);
        assert_eq!(got.wind_chill_c, want.wind_chill_c);
        assert_eq!(got.apparent_temperature_c, want.apparent_temperature_c);
    }
    assert!(records[0].heat_index_c.is_some() && records[2].wind_chill_c.is_some());

    let raw = store.query(None, None, Every::Raw).unwrap();
    assert_eq!(
        real(cell(&raw, 1, "heat_index_c")),
        records[1].heat_index_c.unwrap()
    );
    assert_eq!(cell(&raw, 2, "heat_index_c"), Value::Null);
    assert_eq!(
        real(cell(&raw, 2, "wind_chill_c")),
        records[2].wind_chill_c.unwrap()
    );
    for c in ["altimeter_hpa", "apparent_temperature_c"] {
        assert!(matches!(cell(&raw, 0, c), Value::Real(_)), "{c}");
    }

    // An hour lists a derived value as the mean of its records' values.
    let hour = store.query(None, None, Every::Hour).unwrap();
    let hi = (records[0].heat_index_c.unwrap() + records[1].heat_index_c.unwrap()) / 2.0;
    assert!((real(cell(&hour, 0, "heat_index_c")) - hi).abs() < 1e-9);
    assert!((real(cell(&hour, 0, "wind_chill_c")) - records[2].wind_chill_c.unwrap()).abs() < 1e-9);

    // A day keeps the extremes: highest heat index, lowest wind chill, both ends of
    // the apparent temperature; whole days from the daily table, a cut day from the
    // records, with the same values.
    let at = |r: &ArchiveRecord| r.apparent_temperature_c.unwrap();
    let check_day = |day: &Table| {
        assert_eq!(
            real(cell(day, 0, "heat_index_max_c")),
            records[1].heat_index_c.unwrap()
        );
        assert_eq!(
            real(cell(day, 0, "wind_chill_min_c")),
            records[2].wind_chill_c.unwrap()
        );
        assert_eq!(
            real(cell(day, 0, "apparent_temperature_min_c")),
            at(&records[2])
        );
        assert_eq!(
            real(cell(day, 0, "apparent_temperature_max_c")),
            at(&records[0]).max(at(&records[1]))
        );
    };
    check_day(&store.query(None, None, Every::Day).unwrap());
    check_day(&store.query(Some(t(0)), Some(t(3600)), Every::Day).unwrap());
}

/// Runs `sql` on a fresh connection and lists `(name, type, notnull, default, pk)` of
/// every column of every table and view, and every index, by name.
fn shape(conn: &Connection) -> Vec<String> {
    let mut objects: Vec<(String, String)> = conn
        .prepare(
            "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    objects.sort();
    let mut out = Vec::new();
    for (kind, name) in objects {
        out.push(format!("{kind} {name}"));
        if kind == "table" || kind == "view" {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('{name}')"
                ))
                .unwrap();
            let cols = stmt
                .query_map([], |r| {
                    Ok(format!(
                        "  {} {} {} {:?} {}",
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, i64>(4)?
                    ))
                })
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            out.extend(cols);
        }
    }
    out
}

#[test]
fn a_version_1_database_upgrades_keeping_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("v1.db");
    {
        let conn = Connection::open(&old).unwrap();
        conn.execute_batch(include_str!("fixtures/schema_v1.sql"))
            .unwrap();
        conn.execute_batch(&format!(
            "INSERT INTO archive (id, start_ts, end_ts, samples, temperature_c, temperature_n, pressure_hpa, pressure_n)
                 VALUES (1, {a}, {b}, 12, 31.5, 12, 1001.0, 12), (2, {b}, {c}, 12, 30.0, 12, NULL, 0);
             INSERT INTO fault (archive_id, sensor, quantity, kind, count, first_ts, message)
                 VALUES (2, 'bme280', 'pressure_hpa', 'out_of_range', 12, {b}, 'pressure_hpa 5000 is outside');
             INSERT INTO daily (date, records, temperature_sum_c, temperature_n)
                 VALUES ('2026-07-01', 2, 738.0, 24);
             INSERT INTO state (key, value) VALUES ('time_zone', 'UTC');",
            a = T0,
            b = T0 + 60,
            c = T0 + 120
        ))
        .unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 1);
    }
    let mut store = Store::open(&old, chrono_tz::UTC).unwrap();
    let rows = store.records_after(0, 10).unwrap();
    assert_eq!(rows.len(), 2, "every row kept");
    let (id, r) = &rows[0];
    assert_eq!(
        (*id, r.temperature_c.mean, r.pressure_hpa.mean),
        (1, Some(31.5), Some(1001.0))
    );
    assert_eq!(
        (
            r.altimeter_hpa,
            r.heat_index_c,
            r.wind_chill_c,
            r.apparent_temperature_c
        ),
        (None, None, None, None),
        "records from before the upgrade have no derived values"
    );
    assert_eq!(rows[1].1.faults.len(), 1);
    assert_eq!(rows[1].1.faults[0].kind, FaultKind::OutOfRange);
    let day = store.query(None, None, Every::Day).unwrap();
    assert_eq!(real(cell(&day, 0, "temperature_c")), 30.75);
    // The days before the upgrade have no derived values (`daily_extra` has none).
    assert!(day
        .column("heat_index_max_c")
        .is_none_or(|c| day.rows[0][c] == Value::Null));

    // The upgraded database takes new records with a spike fault.
    let mut next = record(120, 28.0, 5.0);
    next.faults.push(FaultCount {
        sensor: Arc::from("bme280"),
        quantity: Some(Quantity::TemperatureC),
        kind: FaultKind::Spike,
        count: 1,
        first_at: t(125),
        message: "spike".into(),
    });
    store.insert(&next).unwrap();
    let rows = store.records_after(2, 10).unwrap();
    assert_eq!(rows[0].1.faults[0].kind, FaultKind::Spike);
    assert_eq!(rows[0].1.heat_index_c, next.heat_index_c);
    drop(store);

    // Its schema is the one a new database gets from schema.sql.
    let fresh = dir.path().join("fresh.db");
    drop(Store::open(&fresh, chrono_tz::UTC).unwrap());
    let upgraded = Connection::open(&old).unwrap();
    let new = Connection::open(&fresh).unwrap();
    assert_eq!(shape(&upgraded), shape(&new));
    for conn in [&upgraded, &new] {
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
    }
}
