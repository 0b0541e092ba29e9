//! The store against real database files in a temporary directory.

mod support;

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use weatherd::query::{render, Format};
use weatherd::record::ArchiveRecord;
use weatherd::store::{
    Every, Store, StoreError, Table, Value, APPLICATION_ID, NEW_DATABASE_PAGE_SIZE, SCHEMA_VERSION,
};
use weatherd::time::{parse_time, Timestamp};

use support::db::temp_db;
use support::records::{self, stat};

fn t(s: &str) -> Timestamp {
    parse_time(s).unwrap()
}

fn real(v: &Value) -> f64 {
    match v {
        Value::Real(x) => *x,
        Value::Int(i) => *i as f64,
        other => panic!("not a number: {other:?}"),
    }
}

fn cell<'a>(table: &'a Table, row: usize, column: &str) -> &'a Value {
    let c = table
        .column(column)
        .unwrap_or_else(|| panic!("no column {column} in {:?}", table.columns));
    &table.rows[row][c]
}

fn assert_close(v: &Value, expected: f64) {
    let x = real(v);
    assert!((x - expected).abs() < 1e-9, "{x} != {expected}");
}

#[test]
fn new_database_is_marked_and_in_wal_mode() {
    let (_dir, path) = temp_db();
    drop(Store::open(&path, chrono_tz::UTC).unwrap());
    let conn = Connection::open(&path).unwrap();
    let app: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(app, APPLICATION_ID);
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(mode, "wal");
    // Small pages, for less written per record (see NEW_DATABASE_PAGE_SIZE).
    let page: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    assert_eq!(page, NEW_DATABASE_PAGE_SIZE);
    assert_eq!(page, 512);
    // Opening again is a no-op migration and keeps the data.
    let mut store = Store::open(&path, chrono_tz::UTC).unwrap();
    store
        .insert(&records::full(t("2026-01-01T00:00:00Z")))
        .unwrap();
    drop(store);
    assert_eq!(
        Store::open(&path, chrono_tz::UTC)
            .unwrap()
            .record_count()
            .unwrap(),
        1
    );
}

#[test]
fn records_round_trip_with_nulls_extras_and_faults() {
    let (_dir, path) = temp_db();
    let mut store = Store::open(&path, chrono_tz::UTC).unwrap();
    let full = records::full(t("2026-03-01T10:00:00Z"));
    let empty = records::empty(t("2026-03-01T10:01:00Z"));
    let id1 = store.insert(&full).unwrap();
    let id2 = store.insert(&empty).unwrap();
    assert!(id2 > id1);
    assert_eq!(store.last_id().unwrap(), id2);
    assert_eq!(store.record_count().unwrap(), 2);
    assert_eq!(store.faults_total().unwrap(), 2);

    let back = store.records_after(0, 10).unwrap();
    assert_eq!(back.len(), 2);
    let mut expected = full.clone();
    expected.last_rain_tip = None; // kept as state, not per record
    assert_eq!(back[0], (id1, expected));
    assert_eq!(back[1], (id2, empty.clone()));
    assert_eq!(store.records_after(id1, 10).unwrap().len(), 1);
    assert_eq!(store.records_after(id1, 0).unwrap().len(), 0);

    // NULL in the file, not 0.
    drop(store);
    let conn = Connection::open(&path).unwrap();
    let nulls: i64 = conn
        .query_row(
            "SELECT (temperature_c IS NULL) + (humidity_min_pct IS NULL) + (rain_mm IS NULL) \
             + (wind_dir_deg IS NULL) + (dew_point_c IS NULL) FROM archive WHERE id = ?1",
            [id2],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(nulls, 5);
    let lux: f64 = conn
        .query_row(
            "SELECT mean FROM archive_extra WHERE archive_id = ?1 AND quantity = 'illuminance_lux'",
            [id1],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(lux, 1200.0);
    let (kind, quantity): (String, String) = conn
        .query_row("SELECT kind, quantity FROM fault", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(
        (kind.as_str(), quantity.as_str()),
        ("read_error", "ground_temperature_c")
    );
    // The student-facing view shows readable times.
    let start: String = conn
        .query_row("SELECT start_utc FROM records WHERE id = ?1", [id1], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(start, "2026-03-01T10:00:00Z");
}

#[test]
fn non_finite_values_are_stored_as_null() {
    let (_dir, path) = temp_db();
    let mut store = Store::open(&path, chrono_tz::UTC).unwrap();
    let mut rec = records::empty(t("2026-03-01T10:00:00Z"));
    rec.wind_speed_kmh = Some(f64::INFINITY);
    rec.temperature_c.mean = Some(f64::NAN);
    store.insert(&rec).unwrap();
    let back = &store.records_after(0, 1).unwrap()[0].1;
    assert_eq!(back.wind_speed_kmh, None);
    assert_eq!(back.temperature_c.mean, None);
}

#[test]
fn overlapping_and_invalid_records_are_refused_and_nothing_is_written() {
    let (_dir, path) = temp_db();
    let mut store = Store::open(&path, chrono_tz::UTC).unwrap();
    store
        .insert(&records::full(t("2026-03-01T10:00:00Z")))
        .unwrap();
    let before_day = store.query(None, None, Every::Day).unwrap();

    let err = store
        .insert(&records::full(t("2026-03-01T10:00:30Z")))
        .unwrap_err();
    assert!(matches!(err, StoreError::Overlap { .. }), "{err}");
    assert!(err.to_string().contains("2026-03-01T10:01:00Z"), "{err}");
    let err = store
        .insert(&records::full(t("2026-03-01T09:00:00Z")))
        .unwrap_err();
    assert!(matches!(err, StoreError::Overlap { .. }), "{err}");

    // A batch is all or nothing: the good first record is not kept either.
    let batch = [
        records::full(t("2026-03-01T10:01:00Z")),
        records::full(t("2026-03-01T10:01:30Z")),
    ];
    assert!(matches!(
        store.insert_batch(&batch).unwrap_err(),
        StoreError::Overlap { .. }
    ));

    let mut backwards = records::full(t("2026-03-01T11:00:00Z"));
    backwards.end = backwards.start;
    assert!(matches!(
        store.insert(&backwards).unwrap_err(),
        StoreError::Invalid { .. }
    ));
    let mut fractional = records::full(t("2026-03-01T11:00:00Z"));
    fractional.end = fractional.end.add_nanos(5);
    assert!(matches!(
        store.insert(&fractional).unwrap_err(),
        StoreError::Invalid { .. }
    ));

    assert_eq!(store.record_count().unwrap(), 1);
    assert_eq!(store.faults_total().unwrap(), 2);
    assert_eq!(store.query(None, None, Every::Day).unwrap(), before_day);
    assert_eq!(
        store.resume().unwrap().last_end,
        Some(t("2026-03-01T10:01:00Z"))
    );
    // The record right after the last one is fine (end is exclusive).
    store
        .insert(&records::full(t("2026-03-01T10:01:00Z")))
        .unwrap();
}

#[test]
fn resume_reports_last_end_and_rain_tip_across_restarts() {
    let (_dir, path) = temp_db();
    let mut store = Store::open(&path, chrono_tz::UTC).unwrap();
    assert_eq!(store.resume().unwrap(), Default::default());

    let tip_a = t("2026-03-01T10:00:42Z").add_nanos(123_456_789);
    let tip_b = t("2026-03-01T10:02:07Z").add_nanos(1);
    let mut r1 = records::empty(t("2026-03-01T10:00:00Z"));
    r1.last_rain_tip = Some(tip_a);
    let mut r2 = records::empty(t("2026-03-01T10:01:00Z"));
    r2.last_rain_tip = Some(tip_a);
    store.insert_batch(&[r1, r2]).unwrap();
    let resume = store.resume().unwrap();
    assert_eq!(resume.last_end, Some(t("2026-03-01T10:02:00Z")));
    assert_eq!(resume.last_rain_tip, Some(tip_a));

    let mut r3 = records::empty(t("2026-03-01T10:02:00Z"));
    r3.last_rain_tip = Some(tip_b);
    store.insert(&r3).unwrap();
    drop(store);

    let store = Store::open(&path, chrono_tz::UTC).unwrap();
    let resume = store.resume().unwrap();
    assert_eq!(resume.last_end, Some(t("2026-03-01T10:03:00Z")));
    assert_eq!(resume.last_rain_tip, Some(tip_b));
    let ro = Store::open_read_only(&path).unwrap();
    assert_eq!(ro.resume().unwrap(), resume);
}

#[test]
fn daily_summary_follows_local_midnight() {
    let (_dir, path) = temp_db();
    let london: chrono_tz::Tz = "Europe/London".parse().unwrap();
    let mut store = Store::open(&path, london).unwrap();
    // British Summer Time (UTC+1): 22:59Z is 23:59 on 1 July, 23:00Z and 23:30Z are
    // already 2 July.
    let mk = |start: &str, temp: f64, n: u32, rain: Option<f64>, gust: f64| {
        let mut r = records::empty(t(start));
        r.temperature_c = stat(temp, temp - 1.0, temp + 1.0, n);
        r.wind_speed_kmh = Some(gust / 2.0);
        r.wind_n = 12;
        r.wind_gust_kmh = Some(gust);
        r.rain_mm = rain;
        r.rain_n = if rain.is_some() { 12 } else { 0 };
        r
    };
    store
        .insert_batch(&[
            mk("2026-07-01T22:58:00Z", 20.0, 12, Some(0.5), 10.0),
            mk("2026-07-01T22:59:00Z", 17.0, 6, Some(0.25), 30.0),
            mk("2026-07-01T23:00:00Z", 15.0, 12, None, 8.0),
            mk("2026-07-01T23:30:00Z", 13.0, 12, Some(1.0), 4.0),
        ])
        .unwrap();
    // A record with no temperature at all must not turn the minimum into NULL.
    store
        .insert(&records::empty(t("2026-07-01T23:31:00Z")))
        .unwrap();

    let day = store.query(None, None, Every::Day).unwrap();
    assert_eq!(day.rows.len(), 2, "{day:?}");
    assert_eq!(cell(&day, 0, "date"), &Value::Text("2026-07-01".into()));
    assert_eq!(cell(&day, 1, "date"), &Value::Text("2026-07-02".into()));
    assert_eq!(cell(&day, 0, "records"), &Value::Int(2));
    assert_eq!(cell(&day, 1, "records"), &Value::Int(3));
    // Sample-weighted: (20*12 + 17*6) / 18 = 19.
    assert_close(cell(&day, 0, "temperature_c"), 19.0);
    assert_close(cell(&day, 0, "temperature_min_c"), 16.0);
    assert_close(cell(&day, 0, "temperature_max_c"), 21.0);
    assert_close(cell(&day, 1, "temperature_c"), 14.0);
    assert_close(cell(&day, 1, "temperature_min_c"), 12.0);
    assert_close(cell(&day, 1, "temperature_max_c"), 16.0);
    assert_close(cell(&day, 0, "rain_mm"), 0.75);
    assert_close(cell(&day, 1, "rain_mm"), 1.0);
    assert_close(cell(&day, 0, "wind_gust_kmh"), 30.0);
    assert_close(cell(&day, 1, "wind_gust_kmh"), 8.0);
    assert_close(cell(&day, 0, "wind_speed_kmh"), 10.0);
    assert_eq!(cell(&day, 0, "humidity_pct"), &Value::Null);

    assert_eq!(
        store.daily_rain_mm(t("2026-07-01T12:00:00Z")).unwrap(),
        Some(0.75)
    );
    assert_eq!(
        store.daily_rain_mm(t("2026-07-02T12:00:00Z")).unwrap(),
        Some(1.0)
    );
    assert_eq!(
        store.daily_rain_mm(t("2026-07-05T12:00:00Z")).unwrap(),
        None
    );

    // A range that ends at local midnight of 2 July (23:00Z) holds only 1 July.
    let first = store
        .query(
            Some(t("2026-07-01T00:00:00Z")),
            Some(t("2026-07-01T23:00:00Z")),
            Every::Day,
        )
        .unwrap();
    assert_eq!(first.rows.len(), 1);
    assert_eq!(cell(&first, 0, "date"), &Value::Text("2026-07-01".into()));

    // Reopened in another zone, the summary is recomputed for that zone's days.
    drop(store);
    let store = Store::open(&path, chrono_tz::UTC).unwrap();
    let day = store.query(None, None, Every::Day).unwrap();
    assert_eq!(day.rows.len(), 1, "{day:?}");
    assert_eq!(cell(&day, 0, "records"), &Value::Int(5));
    assert_close(cell(&day, 0, "rain_mm"), 1.75);
    drop(store);
    // The read-only store reads the zone the summary was computed in.
    assert_eq!(
        Store::open_read_only(&path).unwrap().time_zone(),
        chrono_tz::UTC
    );
}

/// Three UTC days of 15-minute records with values that make sums easy to check.
fn three_days(store: &mut Store) {
    let start = t("2026-02-01T00:00:00Z");
    let mut recs = Vec::new();
    for i in 0..(3 * 24 * 4) {
        let s = start.add_secs(i * 900);
        let mut r = records::empty(s);
        r.end = s.add_secs(900);
        let quarter = (i % 4) as f64; // 0..3 within the hour
        r.temperature_c = stat(10.0 + quarter, 9.0 + quarter, 11.0 + quarter, 12);
        r.pressure_hpa = stat(
            1000.0 + (i / 96) as f64,
            999.0,
            1001.0 + (i / 96) as f64,
            12,
        );
        r.rain_mm = Some(if i % 4 == 0 { 0.25 } else { 0.0 });
        r.rain_n = 12;
        r.wind_speed_kmh = Some(10.0);
        r.wind_n = 12;
        r.wind_dir_n = 12;
        r.wind_dir_deg = Some(if i % 2 == 0 { 350.0 } else { 10.0 });
        r.wind_gust_kmh = Some(20.0 + quarter);
        if i % 4 == 1 {
            r.extras.push((
                Arc::from("illuminance_lux"),
                stat(100.0, 50.0, 150.0, 12).into(),
            ));
        }
        recs.push(r);
    }
    store.insert_batch(&recs).unwrap();
}

#[test]
fn query_raw_hour_and_day() {
    let (_dir, path) = temp_db();
    let mut store = Store::open(&path, chrono_tz::UTC).unwrap();
    three_days(&mut store);

    // Raw: [from, to) by start time.
    let raw = store
        .query(
            Some(t("2026-02-02T06:00:00Z")),
            Some(t("2026-02-02T07:00:00Z")),
            Every::Raw,
        )
        .unwrap();
    assert_eq!(raw.rows.len(), 4);
    assert_eq!(&raw.columns[..4], ["id", "start_utc", "end_utc", "samples"]);
    assert_eq!(
        cell(&raw, 0, "start_utc"),
        &Value::Text("2026-02-02T06:00:00Z".into())
    );
    assert_eq!(
        cell(&raw, 3, "end_utc"),
        &Value::Text("2026-02-02T07:00:00Z".into())
    );
    assert_close(cell(&raw, 2, "temperature_c"), 12.0);
    assert_eq!(cell(&raw, 0, "humidity_pct"), &Value::Null);
    // Extras appear as columns, filled where present, before the rain windows.
    let n = raw.columns.len();
    assert_eq!(
        &raw.columns[n - 7..n - 3],
        [
            "illuminance_lux",
            "illuminance_min_lux",
            "illuminance_max_lux",
            "illuminance_n"
        ]
    );
    assert_eq!(&raw.columns[n - 3..], weatherd::store::RAIN_WINDOW_COLUMNS);
    assert_eq!(cell(&raw, 0, "illuminance_lux"), &Value::Null);
    assert_close(cell(&raw, 1, "illuminance_lux"), 100.0);
    assert_eq!(cell(&raw, 1, "illuminance_n"), &Value::Int(12));
    // Columns of extras absent from the range are not shown.
    let raw = store
        .query(
            Some(t("2026-02-02T06:00:00Z")),
            Some(t("2026-02-02T06:15:00Z")),
            Every::Raw,
        )
        .unwrap();
    assert_eq!(raw.rows.len(), 1);
    assert!(raw.column("illuminance_lux").is_none());
    assert_eq!(store.query(None, None, Every::Raw).unwrap().rows.len(), 288);

    // Hour.
    let hour = store
        .query(
            Some(t("2026-02-01T23:00:00Z")),
            Some(t("2026-02-02T01:00:00Z")),
            Every::Hour,
        )
        .unwrap();
    assert_eq!(hour.rows.len(), 2);
    assert_eq!(
        cell(&hour, 0, "start_utc"),
        &Value::Text("2026-02-01T23:00:00Z".into())
    );
    assert_eq!(
        cell(&hour, 1, "start_utc"),
        &Value::Text("2026-02-02T00:00:00Z".into())
    );
    assert_eq!(cell(&hour, 0, "records"), &Value::Int(4));
    assert_eq!(cell(&hour, 0, "samples"), &Value::Int(48));
    assert_close(cell(&hour, 0, "temperature_c"), 11.5);
    assert_close(cell(&hour, 0, "temperature_min_c"), 9.0);
    assert_close(cell(&hour, 0, "temperature_max_c"), 14.0);
    assert_close(cell(&hour, 0, "pressure_hpa"), 1000.0);
    assert_close(cell(&hour, 1, "pressure_hpa"), 1001.0);
    assert_close(cell(&hour, 0, "rain_mm"), 0.25);
    assert_close(cell(&hour, 0, "wind_gust_kmh"), 23.0);
    assert_close(cell(&hour, 0, "wind_speed_kmh"), 10.0);
    let dir = real(cell(&hour, 0, "wind_dir_deg"));
    assert!(
        dir.min(360.0 - dir) < 1e-6,
        "350 and 10 average to north, got {dir}"
    );
    assert_eq!(cell(&hour, 0, "humidity_pct"), &Value::Null);
    assert_close(cell(&hour, 0, "illuminance_lux"), 100.0);
    assert_eq!(cell(&hour, 0, "illuminance_n"), &Value::Int(12));

    // Day.
    let day = store.query(None, None, Every::Day).unwrap();
    assert_eq!(day.rows.len(), 3);
    assert_eq!(cell(&day, 2, "date"), &Value::Text("2026-02-03".into()));
    assert_eq!(cell(&day, 0, "records"), &Value::Int(96));
    assert_close(cell(&day, 0, "temperature_c"), 11.5);
    assert_close(cell(&day, 1, "pressure_hpa"), 1001.0);
    assert_close(cell(&day, 1, "pressure_max_hpa"), 1002.0);
    assert_close(cell(&day, 0, "rain_mm"), 6.0);
    let mid = store
        .query(
            Some(t("2026-02-02T12:00:00Z")),
            Some(t("2026-02-02T13:00:00Z")),
            Every::Day,
        )
        .unwrap();
    assert_eq!(mid.rows.len(), 1);
    assert_eq!(cell(&mid, 0, "date"), &Value::Text("2026-02-02".into()));

    // Rain over an arbitrary span, as uploaders ask for it.
    assert_eq!(
        store
            .rain_mm_between(t("2026-02-01T00:00:00Z"), t("2026-02-01T02:00:00Z"))
            .unwrap(),
        Some(0.5)
    );
    assert_eq!(
        store
            .rain_mm_between(t("2027-01-01T00:00:00Z"), t("2027-01-02T00:00:00Z"))
            .unwrap(),
        None
    );
}

#[test]
fn upload_cursors_persist() {
    let (_dir, path) = temp_db();
    drop(Store::open(&path, chrono_tz::UTC).unwrap());
    let mut store = Store::open_outbox(&path).unwrap();
    assert_eq!(store.upload_cursor("wow").unwrap(), 0);
    store.set_upload_cursor("wow", 42).unwrap();
    store.set_upload_cursor("wu", 7).unwrap();
    drop(store);
    let store = Store::open_read_only(&path).unwrap();
    assert_eq!(store.upload_cursor("wow").unwrap(), 42);
    assert_eq!(store.upload_cursor("wu").unwrap(), 7);
}

/// Every file in the directory and its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    v.sort();
    v
}

/// Compares snapshots without dumping megabytes of bytes on failure.
fn assert_unchanged(dir: &Path, before: &[(PathBuf, Vec<u8>)], what: &str) {
    let after = snapshot(dir);
    let names = |s: &[(PathBuf, Vec<u8>)]| {
        s.iter()
            .map(|(p, b)| format!("{} ({} bytes)", p.display(), b.len()))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&after), names(before), "{what}: files changed");
    assert!(after == before, "{what}: contents changed");
}

fn assert_refused_untouched(path: &Path, what: &str, check: impl Fn(&StoreError) -> bool) {
    let dir = path.parent().unwrap();
    let before = snapshot(dir);
    let err = Store::open(path, chrono_tz::UTC).unwrap_err();
    assert!(check(&err), "{what}: {err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{what}: {err}"
    );
    let err = Store::open_read_only(path).unwrap_err();
    assert!(check(&err), "{what} (read-only): {err}");
    assert_unchanged(dir, &before, what);
}

#[test]
fn foreign_files_are_refused_and_left_untouched() {
    let foreign = |e: &StoreError| matches!(e, StoreError::Foreign { .. });

    let (_d1, text) = temp_db();
    std::fs::write(&text, "station,temperature\nschool,12.5\n").unwrap();
    assert_refused_untouched(&text, "text file", foreign);

    let (_d2, random) = temp_db();
    let bytes: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&random, bytes).unwrap();
    assert_refused_untouched(&random, "random bytes", foreign);

    let (_d3, other) = temp_db();
    {
        let conn = Connection::open(&other).unwrap();
        conn.execute_batch("CREATE TABLE pupils (name TEXT); INSERT INTO pupils VALUES ('Ada');")
            .unwrap();
    }
    assert_refused_untouched(&other, "another program's database", foreign);

    let (_d4, marked) = temp_db();
    {
        let conn = Connection::open(&marked).unwrap();
        conn.execute_batch("PRAGMA application_id = 1234;").unwrap();
    }
    assert_refused_untouched(
        &marked,
        "empty database with another application_id",
        foreign,
    );

    let (_d5, versioned) = temp_db();
    {
        let conn = Connection::open(&versioned).unwrap();
        conn.execute_batch("PRAGMA user_version = 3;").unwrap();
    }
    assert_refused_untouched(
        &versioned,
        "empty database with a user_version of its own",
        foreign,
    );
}

#[test]
fn newer_schema_is_refused_and_left_untouched() {
    let (_dir, path) = temp_db();
    drop(Store::open(&path, chrono_tz::UTC).unwrap());
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(&format!("PRAGMA user_version = {};", SCHEMA_VERSION + 1))
            .unwrap();
        // Leave a plain rollback-journal file so the snapshot sees only the main file.
        conn.execute_batch("PRAGMA journal_mode = DELETE;").unwrap();
    }
    assert_refused_untouched(
        &path,
        "newer schema",
        |e| matches!(e, StoreError::TooNew { found, supported, .. } if *found == SCHEMA_VERSION + 1 && *supported == SCHEMA_VERSION),
    );
}

#[test]
fn read_only_open_never_creates_and_never_writes() {
    let (dir, path) = temp_db();
    let err = Store::open_read_only(&path).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
    assert!(err.to_string().contains("weather.db"), "{err}");
    assert!(!path.exists());

    std::fs::write(&path, b"").unwrap();
    assert!(Store::open_read_only(&path).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), b"");
    std::fs::remove_file(&path).unwrap();

    let mut store = Store::open(&path, chrono_tz::UTC).unwrap();
    store
        .insert(&records::full(t("2026-01-01T00:00:00Z")))
        .unwrap();
    drop(store);
    let before = std::fs::read(&path).unwrap();
    assert_eq!(
        snapshot(dir.path()).len(),
        1,
        "a clean close removes the WAL"
    );
    let ro = Store::open_read_only(&path).unwrap();
    assert_eq!(ro.query(None, None, Every::Raw).unwrap().rows.len(), 1);
    assert_eq!(ro.record_count().unwrap(), 1);
    drop(ro);
    assert!(
        std::fs::read(&path).unwrap() == before,
        "read-only open changed the database"
    );
    // SQLite may leave the WAL index files of a WAL database behind (as any reader
    // would), but the log itself stays empty: nothing was written.
    let wal = dir.path().join("weather.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0);
}

#[test]
fn empty_file_becomes_a_database_and_directories_are_refused() {
    let (dir, path) = temp_db();
    std::fs::write(&path, b"").unwrap();
    Store::open(&path, chrono_tz::UTC)
        .unwrap()
        .insert(&records::empty(t("2026-01-01T00:00:00Z")))
        .unwrap();

    let err = Store::open(dir.path(), chrono_tz::UTC).unwrap_err();
    assert!(
        matches!(&err, StoreError::Open { message, .. } if message.contains("directory")),
        "{err}"
    );
    let missing_dir = dir.path().join("no/such/dir/weather.db");
    let err = Store::open(&missing_dir, chrono_tz::UTC).unwrap_err();
    assert!(
        matches!(&err, StoreError::Open { message, .. } if message.contains("does not exist")),
        "{err}"
    );
}

#[test]
fn rendered_formats_parse_back() {
    let table = Table {
        columns: vec![
            "start_utc".into(),
            "temperature_c".into(),
            "samples".into(),
            "message".into(),
        ],
        rows: vec![
            vec![
                Value::Text("2026-01-01T00:00:00Z".into()),
                Value::Real(12.345),
                Value::Int(12),
                Value::Text("bus said \"no\", twice\nthen gave up".into()),
            ],
            vec![
                Value::Text("2026-01-01T00:01:00Z".into()),
                Value::Null,
                Value::Int(0),
                Value::Text(String::new()),
            ],
        ],
    };

    let mut csv_out = Vec::new();
    render(&table, Format::Csv, &mut csv_out).unwrap();
    let text = String::from_utf8(csv_out.clone()).unwrap();
    assert!(
        text.starts_with("start_utc,temperature_c,samples,message\r\n"),
        "{text}"
    );
    assert!(
        text.contains("\"bus said \"\"no\"\", twice\nthen gave up\""),
        "{text}"
    );
    let mut reader = csv::Reader::from_reader(&csv_out[..]);
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(&rows[0][1], "12.35");
    assert_eq!(&rows[0][3], "bus said \"no\", twice\nthen gave up");
    assert_eq!(&rows[1][1], "");

    let mut json_out = Vec::new();
    render(&table, Format::Json, &mut json_out).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json_out).unwrap();
    assert_eq!(
        json,
        serde_json::json!([
            {"start_utc": "2026-01-01T00:00:00Z", "temperature_c": 12.35, "samples": 12,
             "message": "bus said \"no\", twice\nthen gave up"},
            {"start_utc": "2026-01-01T00:01:00Z", "temperature_c": null, "samples": 0, "message": ""}
        ])
    );

    let mut table_out = Vec::new();
    render(&table, Format::Table, &mut table_out).unwrap();
    let text = String::from_utf8(table_out).unwrap();
    assert!(
        text.lines().next().unwrap().starts_with("start_utc"),
        "{text}"
    );
    assert!(text.contains("12.35"), "{text}");
}

#[test]
fn query_results_render_in_every_format() {
    let (_dir, path) = temp_db();
    let mut store = Store::open(&path, chrono_tz::UTC).unwrap();
    three_days(&mut store);
    for every in [Every::Raw, Every::Hour, Every::Day] {
        let table = store.query(None, None, every).unwrap();
        let mut out = Vec::new();
        render(&table, Format::Json, &mut out).unwrap();
        let json: Vec<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_slice(&out).unwrap();
        assert_eq!(json.len(), table.rows.len(), "{every:?}");
        assert!(json[0].keys().all(|k| table.columns.contains(k)));
        let mut out = Vec::new();
        render(&table, Format::Csv, &mut out).unwrap();
        assert_eq!(
            csv::Reader::from_reader(&out[..]).records().count(),
            table.rows.len()
        );
    }
}

/// Records every ten minutes with rain that differs per record, so any wrong range
/// shows in the totals.
fn rainy_days(store: &mut Store, tz_start: &str) {
    let start = t(tz_start);
    let recs: Vec<ArchiveRecord> = (0..(2 * 144))
        .map(|i| {
            let s = start.add_secs(i * 600);
            let mut r = records::empty(s);
            r.end = s.add_secs(600);
            r.rain_mm = Some(0.1 * (i % 7) as f64);
            r.rain_n = 12;
            r.temperature_c = stat(i as f64, i as f64 - 1.0, i as f64 + 1.0, 12);
            r.wind_gust_kmh = Some((i % 50) as f64);
            r
        })
        .collect();
    store.insert_batch(&recs).unwrap();
}

fn raw_rain(store: &Store, from: &str, to: &str) -> f64 {
    let raw = store.query(Some(t(from)), Some(t(to)), Every::Raw).unwrap();
    (0..raw.rows.len())
        .map(|r| real(cell(&raw, r, "rain_mm")))
        .sum()
}

#[test]
fn daily_and_hourly_rain_count_only_the_records_inside_the_range() {
    let (_dir, path) = temp_db();
    let mut store = Store::open(&path, chrono_tz::UTC).unwrap();
    rainy_days(&mut store, "2026-05-01T00:00:00Z");
    let (from, to) = ("2026-05-01T09:00:00Z", "2026-05-01T15:00:00Z");
    let expected = raw_rain(&store, from, to);
    assert!(expected > 0.0);

    let day = store.query(Some(t(from)), Some(t(to)), Every::Day).unwrap();
    assert_eq!(day.rows.len(), 1, "{day:?}");
    assert_eq!(cell(&day, 0, "date"), &Value::Text("2026-05-01".into()));
    assert_eq!(cell(&day, 0, "records"), &Value::Int(36));
    assert_close(cell(&day, 0, "rain_mm"), expected);
    // Means and extremes come from the same records: 54..89 (09:00 is record 54).
    assert_close(cell(&day, 0, "temperature_min_c"), 53.0);
    assert_close(cell(&day, 0, "temperature_max_c"), 90.0);
    assert_close(cell(&day, 0, "temperature_c"), (54.0 + 89.0) / 2.0);

    let hour = store
        .query(Some(t(from)), Some(t(to)), Every::Hour)
        .unwrap();
    assert_eq!(hour.rows.len(), 6);
    let hourly: f64 = (0..6).map(|r| real(cell(&hour, r, "rain_mm"))).sum();
    assert!((hourly - expected).abs() < 1e-9, "{hourly} vs {expected}");

    // Bounds inside hours, across midnight: both days are partial.
    let (from, to) = ("2026-05-01T21:30:00Z", "2026-05-02T02:20:00Z");
    let day = store.query(Some(t(from)), Some(t(to)), Every::Day).unwrap();
    assert_eq!(day.rows.len(), 2);
    let daily: f64 = (0..2).map(|r| real(cell(&day, r, "rain_mm"))).sum();
    assert!((daily - raw_rain(&store, from, to)).abs() < 1e-9);
    assert_close(
        cell(&day, 1, "rain_mm"),
        raw_rain(&store, "2026-05-02T00:00:00Z", to),
    );
    let hour = store
        .query(Some(t(from)), Some(t(to)), Every::Hour)
        .unwrap();
    let hourly: f64 = (0..hour.rows.len())
        .map(|r| real(cell(&hour, r, "rain_mm")))
        .sum();
    assert!((hourly - raw_rain(&store, from, to)).abs() < 1e-9);
    assert_eq!(cell(&hour, 0, "records"), &Value::Int(3), "21:30..22:00");

    // Whole days still come from the daily table, unchanged.
    let whole = store
        .query(
            Some(t("2026-05-01T00:00:00Z")),
            Some(t("2026-05-03T00:00:00Z")),
            Every::Day,
        )
        .unwrap();
    assert_eq!(whole, store.query(None, None, Every::Day).unwrap());
    assert_eq!(cell(&whole, 0, "records"), &Value::Int(144));
}

#[test]
fn partial_days_follow_the_station_time_zone() {
    let (_dir, path) = temp_db();
    let tz: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
    let mut store = Store::open(&path, tz).unwrap();
    // Local midnight of 2026-05-01 is 2026-04-30T22:00Z.
    rainy_days(&mut store, "2026-04-30T22:00:00Z");
    let (from, to) = ("2026-05-01T07:00:00Z", "2026-05-01T13:00:00Z");
    let day = store.query(Some(t(from)), Some(t(to)), Every::Day).unwrap();
    assert_eq!(day.rows.len(), 1);
    assert_eq!(cell(&day, 0, "date"), &Value::Text("2026-05-01".into()));
    assert_close(cell(&day, 0, "rain_mm"), raw_rain(&store, from, to));
    // A local-midnight bound is a whole day.
    let day = store
        .query(Some(t("2026-04-30T22:00:00Z")), None, Every::Day)
        .unwrap();
    assert_eq!(cell(&day, 0, "records"), &Value::Int(144));
}

#[test]
fn each_mode_has_its_durability() {
    let (_dir, path) = temp_db();
    let store = Store::open(&path, chrono_tz::UTC).unwrap();
    assert_eq!(store.journal_mode().unwrap(), "wal");
    // A station: every commit synced.
    assert_eq!(store.synchronous().unwrap(), "FULL");
    // A max-speed replay: synced at checkpoints.
    store
        .set_durability(weatherd::store::Durability::Fast)
        .unwrap();
    assert_eq!(store.synchronous().unwrap(), "NORMAL");
    store
        .set_durability(weatherd::store::Durability::PowerSafe)
        .unwrap();
    assert_eq!(store.synchronous().unwrap(), "FULL");
    drop(store);
    // A reader (query, status) sees the same WAL database.
    let reader = Store::open_read_only(&path).unwrap();
    assert_eq!(reader.journal_mode().unwrap(), "wal");
}

#[test]
fn an_upload_cursor_never_goes_backwards() {
    let (_dir, path) = temp_db();
    drop(Store::open(&path, chrono_tz::UTC).unwrap());
    let mut store = Store::open_outbox(&path).unwrap();
    let at = t("2026-01-01T00:00:00Z");
    store.ack_upload("school", 40, at).unwrap();
    // A late acknowledgement of an older batch (e.g. a retry answered after a newer
    // one) must not send the cursor back: those records would be sent again.
    store.ack_upload("school", 20, at.add_secs(60)).unwrap();
    assert_eq!(store.upload_cursor("school").unwrap(), 40);
    store.ack_upload("school", 60, at.add_secs(120)).unwrap();
    assert_eq!(store.upload_cursor("school").unwrap(), 60);
    drop(store);
    assert_eq!(
        Store::open_read_only(&path)
            .unwrap()
            .upload_cursor("school")
            .unwrap(),
        60
    );
}

#[test]
fn the_pending_report_round_trips_in_a_fixed_size_file() {
    use weatherd::store::{PendingReport, PendingState};
    let (_dir, path) = temp_db();
    assert_eq!(PendingReport::read(&path), None);
    let mut report = PendingReport::open(&path);
    let file = PendingReport::path_for(&path);
    let len = std::fs::metadata(&file).unwrap().len();
    assert_eq!(len, PendingReport::SIZE as u64);
    assert_eq!(PendingReport::read(&path).unwrap().waiting, 0);
    let state = PendingState {
        waiting: 17,
        since: Some(t("2026-01-01T00:00:00Z")),
        last_error: Some("database or disk is full\nsecond line".into()),
        dropped: 2,
        updated: t("2026-01-01T00:17:00Z"),
        pid: 4242,
    };
    report.write(&state);
    let back = PendingReport::read(&path).unwrap();
    assert_eq!(
        back,
        PendingState {
            last_error: Some("database or disk is full second line".into()),
            ..state.clone()
        }
    );
    // Back to empty: shorter text, same size (rewritten in place, no new blocks).
    report.write(&PendingState {
        updated: t("2026-01-01T00:18:00Z"),
        ..Default::default()
    });
    assert_eq!(std::fs::metadata(&file).unwrap().len(), len);
    let back = PendingReport::read(&path).unwrap();
    assert_eq!((back.waiting, back.since, back.last_error), (0, None, None));
}

#[test]
fn an_outbox_opens_only_a_database_the_station_made() {
    let (dir, path) = temp_db();
    // Missing: refused, and nothing is created (only the station's Store creates).
    let err = Store::open_outbox(&path).unwrap_err();
    assert!(
        matches!(&err, StoreError::Open { message, .. } if message.contains("no such database")),
        "{err}"
    );
    assert!(!path.exists());

    // A weatherd file at an older schema (here: marked, but never migrated): refused
    // and left as it was, because only the station migrates.
    let old = dir.path().join("old.db");
    {
        let conn = Connection::open(&old).unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
    }
    let before = std::fs::read(&old).unwrap();
    let err = Store::open_outbox(&old).unwrap_err();
    assert!(err.to_string().contains("run `weatherd run` once"), "{err}");
    assert_eq!(std::fs::read(&old).unwrap(), before);

    // Once the station opened it, the outbox records a cursor a reader sees.
    let mut station = Store::open(&path, chrono_tz::UTC).unwrap();
    let id = station
        .insert(&records::full(t("2026-01-01T00:00:00Z")))
        .unwrap();
    let mut outbox = Store::open_outbox(&path).unwrap();
    let batch = outbox.records_after(0, 10).unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].0, id);
    outbox
        .ack_upload("school", id, t("2026-01-01T00:02:00Z"))
        .unwrap();
    let reader = Store::open_read_only(&path).unwrap();
    assert_eq!(reader.upload_cursor("school").unwrap(), id);
    assert_eq!(reader.backlog_after(id).unwrap(), (0, None));
}

/// Sample-weighted mean, min, max and n of `quantity` over the raw rows whose start
/// lies on the station-local `date`: what a daily row must show for it.
fn extra_of_day(
    raw: &Table,
    tz: chrono_tz::Tz,
    date: &str,
    quantity: &str,
) -> (f64, f64, f64, i64) {
    let (stem, unit) = quantity.rsplit_once('_').unwrap();
    let (mut sum, mut n, mut min, mut max) = (0.0, 0i64, f64::INFINITY, f64::NEG_INFINITY);
    for r in 0..raw.rows.len() {
        let Value::Text(start) = cell(raw, r, "start_utc") else {
            panic!("start_utc is text")
        };
        if weatherd::store::local_date(t(start), tz) != date {
            continue;
        }
        let Value::Int(k) = *cell(raw, r, &format!("{stem}_n")) else {
            continue;
        };
        sum += real(cell(raw, r, quantity)) * k as f64;
        n += k;
        min = min.min(real(cell(raw, r, &format!("{stem}_min_{unit}"))));
        max = max.max(real(cell(raw, r, &format!("{stem}_max_{unit}"))));
    }
    assert!(n > 0, "no {quantity} on {date}");
    (sum / n as f64, min, max, n)
}

#[test]
fn daily_rows_show_extra_quantities_for_whole_and_cut_days() {
    let (_dir, path) = temp_db();
    // Berlin, across the spring DST change (2026-03-29), so that local days are not
    // UTC days and one of them is 23 hours long.
    let tz: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
    let mut store = Store::open(&path, tz).unwrap();
    let start = t("2026-03-27T12:00:00Z");
    let recs: Vec<ArchiveRecord> = (0..4 * 24 * 4)
        .map(|i| {
            let s = start.add_secs(i * 900);
            let mut r = records::empty(s);
            r.end = s.add_secs(900);
            let x = (i % 37) as f64 * 0.5;
            // Not every record has it, and the weights differ.
            if i % 3 != 0 {
                r.extras.push((
                    Arc::from("soil_temperature_c"),
                    stat(x, x - 1.0, x + 2.0, 1 + (i % 5) as u32).into(),
                ));
            }
            r
        })
        .collect();
    store.insert_batch(&recs).unwrap();

    let cases = [
        // Whole days from the daily table.
        (None, None, vec!["2026-03-28", "2026-03-29", "2026-03-30"]),
        // Days cut by --from / --to: only the records inside count.
        (
            Some("2026-03-28T09:30:00Z"),
            Some("2026-03-29T15:00:00Z"),
            vec!["2026-03-28", "2026-03-29"],
        ),
    ];
    for (from, to, dates) in cases {
        let (from, to) = (from.map(t), to.map(t));
        let raw = store.query(from, to, Every::Raw).unwrap();
        let day = store.query(from, to, Every::Day).unwrap();
        for date in dates {
            let r = day
                .rows
                .iter()
                .position(|row| row[0] == Value::Text(date.into()))
                .unwrap_or_else(|| panic!("no row for {date}"));
            let (mean, min, max, n) = extra_of_day(&raw, tz, date, "soil_temperature_c");
            assert_close(cell(&day, r, "soil_temperature_c"), mean);
            assert_close(cell(&day, r, "soil_temperature_min_c"), min);
            assert_close(cell(&day, r, "soil_temperature_max_c"), max);
            assert_eq!(
                cell(&day, r, "soil_temperature_n"),
                &Value::Int(n),
                "{date}"
            );
        }
    }
    // The cut day really is cut: fewer samples than the whole day.
    let whole = store.query(None, None, Every::Day).unwrap();
    let cut = store
        .query(Some(t("2026-03-28T09:30:00Z")), None, Every::Day)
        .unwrap();
    assert!(
        real(cell(&cut, 0, "soil_temperature_n")) < real(cell(&whole, 1, "soil_temperature_n"))
    );
}
