//! Extra quantities keep the fold their driver declares (issue 10): a mean, a total
//! (`sum`), a direction (`vector`) and a reading kept as it was last (`last`) each
//! come back as such from the raw table, the hour, the whole day (folded in SQL as
//! records are written), a day cut by a query's bounds (folded in memory), a day
//! recomputed from the archive, and the uploader's read-back.

mod support;

use std::sync::Arc;
use weatherd::observation::Aggregation;
use weatherd::record::{ArchiveRecord, ExtraStat};
use weatherd::store::{Every, Store, Table, Value};
use weatherd::time::Timestamp;

/// 2026-03-02 00:00 UTC.
const T0: i64 = 1_772_409_600;
/// A record every 10 minutes for two days.
const RECORDS: i64 = 2 * 144;

fn extra(kind: Aggregation, value: Option<f64>, extremes: Option<(f64, f64)>) -> ExtraStat {
    ExtraStat {
        kind,
        value,
        min: extremes.map(|e| e.0),
        max: extremes.map(|e| e.1),
        n: 12,
    }
}

fn light(i: i64) -> f64 {
    (i % 17) as f64 * 10.0
}
fn energy(i: i64) -> f64 {
    0.5 * (i % 3) as f64
}
fn vane(i: i64) -> f64 {
    // Around north: the arithmetic mean of these would be near 180°.
    if i % 2 == 0 {
        350.0 - (i % 5) as f64
    } else {
        10.0 + (i % 5) as f64
    }
}
fn battery(i: i64) -> f64 {
    12.0 + (i % 7) as f64 * 0.01
}

/// Record `i`: four extras, one of each kind.
fn record(i: i64) -> ArchiveRecord {
    let start = T0 + 600 * i;
    ArchiveRecord {
        start: Timestamp::from_secs(start),
        end: Timestamp::from_secs(start + 600),
        samples: 120,
        extras: vec![
            (
                Arc::from("battery_v"),
                extra(
                    Aggregation::Last,
                    Some(battery(i)),
                    Some((battery(i) - 0.05, battery(i) + 0.05)),
                ),
            ),
            (
                Arc::from("energy_wh"),
                extra(Aggregation::Sum, Some(energy(i)), None),
            ),
            (
                Arc::from("light_lux"),
                extra(
                    Aggregation::Mean,
                    Some(light(i)),
                    Some((light(i) - 1.0, light(i) + 1.0)),
                ),
            ),
            (
                Arc::from("vane_2_deg"),
                extra(Aggregation::Vector, Some(vane(i)), None),
            ),
        ],
        ..Default::default()
    }
}

/// What an hour or a day of records `range` should say: (quantity, value, min, max).
fn expected(range: std::ops::Range<i64>) -> Vec<(&'static str, f64, Option<f64>, Option<f64>)> {
    let is: Vec<i64> = range.collect();
    let last = *is.last().unwrap();
    let min_of = |f: fn(i64) -> f64| is.iter().map(|&i| f(i)).fold(f64::INFINITY, f64::min);
    let max_of = |f: fn(i64) -> f64| is.iter().map(|&i| f(i)).fold(f64::NEG_INFINITY, f64::max);
    let (east, north) = is.iter().fold((0.0, 0.0), |(e, n), &i| {
        let r = vane(i).to_radians();
        (e + r.sin(), n + r.cos())
    });
    vec![
        (
            "battery_v",
            battery(last),
            Some(min_of(battery) - 0.05),
            Some(max_of(battery) + 0.05),
        ),
        ("energy_wh", is.iter().map(|&i| energy(i)).sum(), None, None),
        (
            "light_lux",
            is.iter().map(|&i| light(i)).sum::<f64>() / is.len() as f64,
            Some(min_of(light) - 1.0),
            Some(max_of(light) + 1.0),
        ),
        (
            "vane_2_deg",
            east.atan2(north).to_degrees().rem_euclid(360.0),
            None,
            None,
        ),
    ]
}

fn real(v: &Value) -> Option<f64> {
    match v {
        Value::Real(x) => Some(*x),
        Value::Int(n) => Some(*n as f64),
        _ => None,
    }
}

fn unit_of(name: &str) -> (&str, &str) {
    name.rsplit_once('_').unwrap()
}

/// Checks row `row` of `table` against `want`, naming `what` on failure.
fn check(table: &Table, row: usize, want: &[(&str, f64, Option<f64>, Option<f64>)], what: &str) {
    for &(name, value, min, max) in want {
        let (stem, unit) = unit_of(name);
        let col = |c: String| {
            table
                .column(&c)
                .unwrap_or_else(|| panic!("{what}: no column {c} in {:?}", table.columns))
        };
        let got = real(&table.rows[row][col(name.to_string())]).unwrap();
        let diff = if name.ends_with("_deg") {
            let d = (got - value).rem_euclid(360.0);
            d.min(360.0 - d)
        } else {
            (got - value).abs()
        };
        assert!(diff < 1e-9, "{what}: {name} is {got}, want {value}");
        let got_min = real(&table.rows[row][col(format!("{stem}_min_{unit}"))]);
        let got_max = real(&table.rows[row][col(format!("{stem}_max_{unit}"))]);
        let near = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() < 1e-9,
            (a, b) => a == b,
        };
        assert!(
            near(got_min, min),
            "{what}: {name} min {got_min:?}, want {min:?}"
        );
        assert!(
            near(got_max, max),
            "{what}: {name} max {got_max:?}, want {max:?}"
        );
    }
}

fn filled() -> (tempfile::TempDir, std::path::PathBuf, Store) {
    let (dir, path) = support::db::temp_db();
    let mut store = support::db::open(&path);
    let records: Vec<ArchiveRecord> = (0..RECORDS).map(record).collect();
    store.insert_batch(&records).unwrap();
    (dir, path, store)
}

fn day(store: &Store, from: i64, to: i64) -> Table {
    store
        .query(
            Some(Timestamp::from_secs(from)),
            Some(Timestamp::from_secs(to)),
            Every::Day,
        )
        .unwrap()
}

#[test]
fn raw_records_keep_each_kind_and_value() {
    let (_dir, _path, store) = filled();
    let raw = store.query(None, None, Every::Raw).unwrap();
    assert_eq!(raw.rows.len(), RECORDS as usize);
    for i in [0, 1, 7, 100] {
        check(
            &raw,
            i as usize,
            &expected(i..i + 1),
            &format!("record {i}"),
        );
    }
}

#[test]
fn an_hour_folds_each_extra_by_its_kind() {
    let (_dir, _path, store) = filled();
    let hours = store.query(None, None, Every::Hour).unwrap();
    assert_eq!(hours.rows.len(), 48);
    for h in [0, 1, 13, 47] {
        check(
            &hours,
            h as usize,
            &expected(6 * h..6 * h + 6),
            &format!("hour {h}"),
        );
    }
}

#[test]
fn a_whole_day_from_sql_and_a_cut_day_from_memory_fold_alike() {
    let (_dir, _path, store) = filled();
    // Whole days: `daily_extra`, folded in SQL as each record was written.
    let days = day(&store, T0, T0 + 2 * 86_400);
    assert_eq!(days.rows.len(), 2);
    check(&days, 0, &expected(0..144), "day 1 (daily_extra)");
    check(&days, 1, &expected(144..288), "day 2 (daily_extra)");
    // A bound inside a day: folded in memory from the records in range.
    let cut = day(&store, T0 + 3 * 3600, T0 + 86_400 + 5 * 3600);
    assert_eq!(cut.rows.len(), 2);
    check(&cut, 0, &expected(18..144), "day 1 after 03:00 (in memory)");
    check(
        &cut,
        1,
        &expected(144..174),
        "day 2 before 05:00 (in memory)",
    );
}

#[test]
fn days_recomputed_from_the_archive_equal_days_folded_as_written() {
    let (_dir, path, store) = filled();
    let before = day(&store, T0, T0 + 2 * 86_400);
    drop(store);
    // A new time zone recomputes every daily row from the archive (`refill`)...
    drop(Store::open(&path, chrono_tz::Asia::Tokyo).unwrap());
    // ... and back to UTC recomputes them again, now only from the archive.
    let store = support::db::open(&path);
    let after = day(&store, T0, T0 + 2 * 86_400);
    assert_eq!(before.columns, after.columns);
    assert_eq!(before.rows, after.rows);
    check(&after, 1, &expected(144..288), "day 2 recomputed");
}

#[test]
fn the_uploader_reads_back_each_kind() {
    let (_dir, path, store) = filled();
    drop(store);
    let outbox = support::db::outbox(&path);
    let back = outbox.records_after(0, 3).unwrap();
    assert_eq!(back.len(), 3);
    for (i, (_, r)) in back.iter().enumerate() {
        assert_eq!(r.extras, record(i as i64).extras, "record {i}");
    }
}

#[test]
fn a_direction_that_cancels_is_null_but_its_samples_count() {
    let (_dir, path) = support::db::temp_db();
    let mut store = support::db::open(&path);
    let records: Vec<ArchiveRecord> = [90.0, 270.0]
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            let start = T0 + 600 * i as i64;
            ArchiveRecord {
                start: Timestamp::from_secs(start),
                end: Timestamp::from_secs(start + 600),
                samples: 120,
                extras: vec![(
                    Arc::from("vane_2_deg"),
                    extra(Aggregation::Vector, Some(d), None),
                )],
                ..Default::default()
            }
        })
        .collect();
    store.insert_batch(&records).unwrap();
    for table in [
        store.query(None, None, Every::Hour).unwrap(),
        day(&store, T0, T0 + 86_400),
        // Cut by its end bound: folded in memory.
        day(&store, T0, T0 + 3600),
    ] {
        let v = table.column("vane_2_deg").unwrap();
        let n = table.column("vane_2_n").unwrap();
        assert_eq!(table.rows[0][v], Value::Null, "{:?}", table.columns);
        let want = 24.0;
        assert_eq!(real(&table.rows[0][n]), Some(want));
    }
}
