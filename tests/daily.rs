//! The daily summaries of schema version 2: the time of each extreme, every other
//! quantity in `daily_extra`, and the upgrade of a version-1 database.

mod support;

use rusqlite::types::Value as Sql;
use rusqlite::Connection;
use std::path::Path;
use std::sync::Arc;
use support::db::{sql_columns as columns, sql_rows as rows};
use weatherd::record::{ArchiveRecord, Stat};
use weatherd::store::{Every, Store, Value, SCHEMA_VERSION};
use weatherd::time::Timestamp;

const TZ: chrono_tz::Tz = chrono_tz::Europe::London;
/// 2026-10-24 00:00 BST.
const T0: i64 = 1_792_796_400;

fn stat(v: f64, n: u32) -> Stat {
    Stat {
        mean: Some(v),
        min: Some(v - 0.5),
        max: Some(v + 0.5),
        n,
    }
}

/// A record starting at `start` with temperature `t` (min t−0.5, max t+0.5).
fn record(start: i64, t: f64) -> ArchiveRecord {
    ArchiveRecord {
        start: Timestamp::from_secs(start),
        end: Timestamp::from_secs(start + 60),
        samples: 12,
        temperature_c: stat(t, 12),
        humidity_pct: stat(60.0 + t, 12),
        pressure_hpa: stat(1000.0 + t, 12),
        dew_point_c: Some(t - 3.0),
        sea_level_pressure_hpa: Some(1010.0 + t),
        wind_speed_kmh: Some(5.0 + t.abs()),
        wind_gust_kmh: Some(10.0 + t.abs()),
        wind_dir_deg: Some((t * 37.0).rem_euclid(360.0)),
        wind_n: 12,
        wind_dir_n: 12,
        rain_mm: Some(if t > 8.0 { 0.2794 } else { 0.0 }),
        rain_rate_mm_per_h: Some(if t > 8.0 { t } else { 0.0 }),
        rain_n: 12,
        extras: vec![(Arc::from("illuminance_lux"), stat(100.0 * t, 12).into())],
        ..Default::default()
    }
}

/// Three days of records every 7 minutes across the clock change, with repeated
/// values so that extremes tie.
fn records() -> Vec<ArchiveRecord> {
    (0..3 * 24 * 60 / 7)
        .map(|i| {
            let t = ((i * 13) % 29) as f64 / 2.0 - 3.0;
            record(T0 + i * 420, t)
        })
        .collect()
}

fn fresh(path: &Path) -> Store {
    let mut store = Store::open(path, TZ).unwrap();
    store.insert_batch(&records()).unwrap();
    store
}

#[test]
fn a_version_1_database_upgrades_keeping_every_row_and_gains_the_daily_times() {
    let dir = tempfile::tempdir().unwrap();
    let (new, old) = (dir.path().join("new.db"), dir.path().join("old.db"));
    drop(fresh(&new));
    // A database as weatherd's schema version 1 made it, with the same records and
    // the daily rows version 1 kept of them.
    {
        let conn = Connection::open(&old).unwrap();
        conn.execute_batch(include_str!("fixtures/schema_v1.sql"))
            .unwrap();
        let v1_daily = columns(&conn, "daily").join(", ");
        // Later versions add archive columns (the derived values of version 3).
        let v1_archive = columns(&conn, "archive").join(", ");
        // ... and archive_extra columns (the kind and value of version 4).
        let v1_extra = columns(&conn, "archive_extra").join(", ");
        conn.execute_batch(&format!(
            "ATTACH '{}' AS new;
             INSERT INTO archive ({v1_archive}) SELECT {v1_archive} FROM new.archive;
             INSERT INTO archive_extra ({v1_extra}) SELECT {v1_extra} FROM new.archive_extra;
             INSERT INTO state SELECT * FROM new.state;
             INSERT INTO daily ({v1_daily}) SELECT {v1_daily} FROM new.daily;
             DETACH new;",
            new.display()
        ))
        .unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 1);
        assert!(!columns(&conn, "daily").contains(&"temperature_max_ts".to_string()));
    }
    drop(Store::open(&old, TZ).unwrap());

    let (a, b) = (
        Connection::open(&new).unwrap(),
        Connection::open(&old).unwrap(),
    );
    let v: i64 = b
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    // An old database keeps its page size: changing it would rewrite the whole file.
    let page: i64 = b.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
    assert_eq!(page, 4096);
    assert_eq!(columns(&a, "daily"), columns(&b, "daily"));
    let n = records().len();
    for (sql, want) in [
        ("SELECT * FROM archive ORDER BY id", Some(n)),
        (
            "SELECT * FROM archive_extra ORDER BY archive_id, quantity",
            Some(n),
        ),
        ("SELECT * FROM daily ORDER BY date", Some(3)),
        ("SELECT * FROM daily_extra ORDER BY date, quantity", None),
        ("SELECT * FROM daily_summary ORDER BY date", Some(3)),
    ] {
        let (ra, rb) = (rows(&a, sql), rows(&b, sql));
        if let Some(want) = want {
            assert_eq!(rb.len(), want, "{sql}");
        }
        assert!(!rb.is_empty(), "{sql}");
        // The upgraded database holds every row, and its daily tables are exactly
        // what a station writing the records under version 2 computed.
        assert!(ra == rb, "{sql}: the upgraded database differs");
    }
}

fn cell<'a>(t: &'a weatherd::store::Table, row: usize, col: &str) -> &'a Value {
    &t.rows[row][t.column(col).unwrap_or_else(|| panic!("no {col}"))]
}

#[test]
fn the_time_of_an_extreme_is_the_start_of_the_first_record_reaching_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("w.db"), TZ).unwrap();
    // 10:00, 10:01, ... local (BST = UTC+1): highs tie at 10:01 and 10:02, lows at
    // 10:03 and 10:04.
    let starts: Vec<i64> = (0..5).map(|i| T0 + 10 * 3600 + i * 60).collect();
    for (s, t) in starts.iter().zip([5.0, 9.0, 9.0, 3.0, 3.0]) {
        store.insert(&record(*s, t)).unwrap();
    }
    let utc = |t: i64| Value::Text(Timestamp::from_secs(t).rfc3339());
    let day = store.query(None, None, Every::Day).unwrap();
    assert_eq!(cell(&day, 0, "temperature_max_c"), &Value::Real(9.5));
    assert_eq!(cell(&day, 0, "temperature_max_time_utc"), &utc(starts[1]));
    assert_eq!(cell(&day, 0, "temperature_min_time_utc"), &utc(starts[3]));
    assert_eq!(cell(&day, 0, "wind_gust_time_utc"), &utc(starts[1]));
    assert_eq!(cell(&day, 0, "rain_rate_time_utc"), &utc(starts[1]));
    assert_eq!(cell(&day, 0, "rain_rate_mm_per_h"), &Value::Real(9.0));
    // A day cut by the range is folded from its records in the range alike.
    let cut = store
        .query(Some(Timestamp::from_secs(starts[2])), None, Every::Day)
        .unwrap();
    assert_eq!(cell(&cut, 0, "temperature_max_time_utc"), &utc(starts[2]));
    assert_eq!(cell(&cut, 0, "temperature_min_time_utc"), &utc(starts[3]));
    // Dew point (a computed column) and the extra driver's quantity, per day, with
    // the times of their extremes.
    let date = "2026-10-24";
    let extra = store.daily_extra_rows(date, date).unwrap();
    let get = |q: &str| extra.iter().find(|e| e.1 == q).unwrap().2.clone();
    let dew = get("dew_point_c");
    assert_eq!(dew.n, 5 * 12);
    assert!((dew.value.unwrap() - (29.0 / 5.0 - 3.0)).abs() < 1e-12);
    assert_eq!((dew.max, dew.max_at), (Some(6.0), Some(starts[1])));
    assert_eq!((dew.min, dew.min_at), (Some(0.0), Some(starts[3])));
    let lux = get("illuminance_lux");
    assert_eq!((lux.max, lux.max_at), (Some(900.5), Some(starts[1])));
    assert_eq!((lux.min, lux.min_at), (Some(299.5), Some(starts[3])));
    assert_eq!(cell(&day, 0, "illuminance_max_lux"), &Value::Real(900.5));
    assert_eq!(cell(&day, 0, "dew_point_min_c"), &Value::Real(0.0));
}

/// `query --every day` shows each whole day as the `daily_summary` view does (it
/// formats the times of the extremes itself, not through SQLite's strftime): the
/// same columns, in the same order, with the same values.
#[test]
fn a_daily_query_shows_the_daily_summary_view_as_sql_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.db");
    let mut store = Store::open(&path, TZ).unwrap();
    store.insert_batch(&records()).unwrap();
    let day = store.query(None, None, Every::Day).unwrap();
    let conn = Connection::open(&path).unwrap();
    let view = rows(&conn, "SELECT * FROM daily_summary ORDER BY date");
    let names = columns(&conn, "daily_summary");
    assert_eq!(day.rows.len(), view.len());
    assert_eq!(day.columns[..names.len()], names[..]);
    let mut times = 0;
    for (got, want) in day.rows.iter().zip(&view) {
        for (i, name) in names.iter().enumerate() {
            let want = match &want[i] {
                Sql::Null => Value::Null,
                Sql::Integer(n) => Value::Int(*n),
                Sql::Real(x) => Value::Real(*x),
                Sql::Text(t) => Value::Text(t.clone()),
                Sql::Blob(_) => panic!("a blob in {name}"),
            };
            if name.ends_with("_time_utc") && want != Value::Null {
                times += 1;
            }
            assert_eq!(got[i], want, "{name}");
        }
    }
    assert!(times > 20, "the days have times of extremes: {times}");
}
