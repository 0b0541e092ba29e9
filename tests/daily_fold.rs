//! SD wear (issue 10): a record's commit writes the archive and nothing else. The daily
//! tables are folded hourly, at local midnight and when the station stops or starts,
//! and every reader still sees every record in them, once; `archive.start_ts` has no
//! index of its own, and time ranges are found by id.

mod support;

use rusqlite::types::Value as Sql;
use rusqlite::Connection;
use std::path::Path;
use std::sync::Arc;
use support::db::{sql_columns, sql_rows as rows};
use support::records::{full, record, BASE};
use weatherd::record::{ArchiveRecord, Stat};
use weatherd::store::{Every, Reader, Store, Table};
use weatherd::time::Timestamp;

const TZ: chrono_tz::Tz = chrono_tz::Europe::London;
/// 2026-10-24 23:00 UTC = 2026-10-25 00:00 BST, the night the clocks go back.
const T0: i64 = 1_792_796_400;

/// Records every 7 minutes from T0 for a day and a half (across the clock change),
/// with an extra quantity of each kind the daily tables fold differently.
fn records() -> Vec<ArchiveRecord> {
    (0..36 * 60 / 7)
        .map(|i| {
            let t = ((i * 13) % 29) as f64 / 2.0 - 3.0;
            let stat = |v: f64| Stat {
                mean: Some(v),
                min: Some(v - 0.5),
                max: Some(v + 0.5),
                n: 12,
            };
            let mut battery = weatherd::record::ExtraStat::from(stat(12.0 + t / 10.0));
            battery.kind = weatherd::observation::Aggregation::Last;
            ArchiveRecord {
                start: Timestamp::from_secs(T0 + i * 420),
                end: Timestamp::from_secs(T0 + i * 420 + 420),
                samples: 84,
                temperature_c: stat(t),
                humidity_pct: stat(60.0 + t),
                dew_point_c: Some(t - 3.0),
                wind_speed_kmh: Some(5.0 + t.abs()),
                wind_gust_kmh: Some(10.0 + t.abs()),
                wind_dir_deg: Some((t * 37.0).rem_euclid(360.0)),
                wind_n: 84,
                wind_dir_n: 84,
                rain_mm: Some(if t > 8.0 { 0.2794 } else { 0.0 }),
                rain_n: 84,
                extras: vec![
                    (Arc::from("battery_v"), battery),
                    (Arc::from("illuminance_lux"), stat(100.0 * t).into()),
                ],
                ..Default::default()
            }
        })
        .collect()
}

/// The stored daily tables, as `sqlite3` sees them.
fn stored_daily(path: &Path) -> (Vec<Vec<Sql>>, Vec<Vec<Sql>>) {
    let conn = Connection::open(path).unwrap();
    (
        rows(&conn, "SELECT * FROM daily ORDER BY date"),
        rows(&conn, "SELECT * FROM daily_extra ORDER BY date, quantity"),
    )
}

/// Everything a reader gets from the daily tables.
fn daily_view(r: &Reader) -> (Table, String, String, Vec<Option<f64>>) {
    let day = r.query(None, None, Every::Day).unwrap();
    let daily = format!("{:?}", r.daily_rows("0000-00-00", "9999-99-99").unwrap());
    let extra = format!(
        "{:?}",
        r.daily_extra_rows("0000-00-00", "9999-99-99").unwrap()
    );
    let rain = (0..3)
        .map(|d| {
            r.daily_rain_mm(Timestamp::from_secs(T0 + d * 86_400 + 3_600))
                .unwrap()
        })
        .collect();
    (day, daily, extra, rain)
}

/// The same records written at once (one batch: folded in its transaction).
fn folded_at_once(path: &Path) -> Store {
    let mut store = Store::open(path, TZ).unwrap();
    store.insert_batch(&records()).unwrap();
    store
}

#[test]
fn records_between_folds_are_in_every_daily_answer_once() {
    let dir = support::db::temp_dir();
    let (one_by_one, at_once) = (dir.path().join("a.db"), dir.path().join("b.db"));
    let want = folded_at_once(&at_once);
    let want = daily_view(&want);

    let mut store = Store::open(&one_by_one, TZ).unwrap();
    let recs = records();
    let (head, tail) = recs.split_at(recs.len() - 3);
    for r in head {
        store.insert(r).unwrap();
    }
    // A reader that has built its copy of the open day, then the station goes on
    // writing and folds (the record ending 12:00 closes an hour): the reader counts
    // each record once, before and after.
    let reader = Store::open_read_only(&one_by_one).unwrap();
    let partial = reader.query(None, None, Every::Day).unwrap();
    let records_col = partial.column("records").unwrap();
    let count = |t: &Table| -> i64 {
        t.rows
            .iter()
            .map(|r| match r[records_col] {
                weatherd::store::Value::Int(n) => n,
                ref v => panic!("records is {v:?}"),
            })
            .sum()
    };
    assert_eq!(count(&partial), head.len() as i64);
    for r in tail {
        store.insert(r).unwrap();
    }
    let (stored, _) = stored_daily(&one_by_one);
    let stored_records: i64 = stored
        .iter()
        .map(|r| match r[1] {
            Sql::Integer(n) => n,
            _ => 0,
        })
        .sum();
    assert!(
        stored_records < recs.len() as i64,
        "the last records of the open hour are not in the stored daily table yet"
    );
    let got = daily_view(&reader);
    assert_eq!(count(&got.0), recs.len() as i64);
    assert_eq!(got.0, want.0, "query --every day");
    assert_eq!(got.1, want.1, "daily rows (climate reports)");
    assert_eq!(got.2, want.2, "daily extra rows");
    assert_eq!(got.3, want.3, "rain since local midnight");
    // The station's own handle answers the same.
    assert_eq!(daily_view(&store).0, want.0);

    // When the station stops, the stored tables are complete: equal to a station's
    // that folded everything at once.
    drop(store);
    assert_eq!(stored_daily(&one_by_one), stored_daily(&at_once));
}

#[test]
fn a_station_killed_between_folds_folds_the_rest_when_it_starts() {
    let dir = support::db::temp_dir();
    let (killed, at_once) = (dir.path().join("a.db"), dir.path().join("b.db"));
    drop(folded_at_once(&at_once));
    let mut store = Store::open(&killed, TZ).unwrap();
    for r in &records() {
        store.insert(r).unwrap();
    }
    // No close: as if the power went.
    std::mem::forget(store);
    assert_ne!(stored_daily(&killed), stored_daily(&at_once));
    // Until it starts again, readers fold the rest themselves.
    let reader = Store::open_read_only(&killed).unwrap();
    let want = Store::open_read_only(&at_once).unwrap();
    assert_eq!(daily_view(&reader), daily_view(&want));
    let restarted = Store::open(&killed, TZ).unwrap();
    assert_eq!(stored_daily(&killed), stored_daily(&at_once));
    drop(restarted);
}

/// The page size and the log's length in bytes.
fn wal_bytes(path: &Path) -> u64 {
    std::fs::metadata(format!("{}-wal", path.display()))
        .map(|m| m.len())
        .unwrap_or(0)
}

#[test]
fn a_record_commit_writes_its_archive_page_and_not_the_daily_tables() {
    let (_dir, path) = support::db::temp_db();
    let mut store = support::db::open(&path);
    // Records 1..58 of an hour (the record ending on the hour folds).
    store.insert(&full(Timestamp::from_secs(BASE))).unwrap();
    let (stored_before, _) = stored_daily(&path);
    let before = wal_bytes(&path);
    let n = 57;
    for i in 1..=n {
        store.insert(&record(i)).unwrap();
    }
    let per_record = (wal_bytes(&path) - before) / n as u64;
    // Each commit appends the pages it changed to the log, and the SD card is written
    // in 4 KiB pages: the archive's newest leaf, now and then a new leaf with its
    // parent and the file header. Before this change a commit also
    // wrote the `start_ts` index and both daily tables, four 4 KiB pages: 16.5 kB.
    assert!(
        per_record <= 2048,
        "{per_record} bytes of log per record: more than half a 4 KiB file page"
    );
    let (stored_after, _) = stored_daily(&path);
    assert_eq!(
        stored_before, stored_after,
        "the daily table was written mid-hour"
    );
    let reader = Store::open_read_only(&path).unwrap();
    let day = reader.query(None, None, Every::Day).unwrap();
    assert_eq!(
        day.rows[0][day.column("records").unwrap()],
        weatherd::store::Value::Int(n + 1)
    );
}

#[test]
fn the_archive_has_no_start_time_index_and_time_ranges_are_found_by_id() {
    let (_dir, path) = support::db::temp_db();
    let mut store = support::db::open(&path);
    support::db::fill(&mut store, 0, 500);
    let conn = Connection::open(&path).unwrap();
    assert_eq!(
        rows(&conn, "SELECT name FROM pragma_index_list('archive')"),
        Vec::<Vec<Sql>>::new(),
        "archive has an index: each record would write its leaf too"
    );
    // Gaps in the ids (rows deleted by hand) and at both ends.
    conn.execute_batch(
        "DELETE FROM archive WHERE id IN (1, 2, 3, 100, 101, 250, 499, 500) \
         OR id BETWEEN 300 AND 340",
    )
    .unwrap();
    let reader = Store::open_read_only(&path).unwrap();
    for (from, to) in [
        (-10, 600),
        (0, 1),
        (2, 3),
        (3, 4),
        (99, 101),
        (100, 102),
        (120, 121),
        (249, 251),
        (290, 350),
        (320, 330),
        (498, 499),
        (499, 600),
        (700, 800),
        (50, 50),
        (60, 40),
    ] {
        let (f, t) = (BASE + 60 * from, BASE + 60 * to);
        let want: Vec<Vec<Sql>> = rows(
            &conn,
            &format!("SELECT id FROM archive WHERE start_ts >= {f} AND start_ts < {t} ORDER BY id"),
        );
        let got = reader
            .query(
                Some(Timestamp::from_secs(f)),
                Some(Timestamp::from_secs(t)),
                Every::Raw,
            )
            .unwrap();
        let got: Vec<Vec<Sql>> = got
            .rows
            .iter()
            .map(|r| match r[0] {
                weatherd::store::Value::Int(id) => vec![Sql::Integer(id)],
                ref v => panic!("id {v:?}"),
            })
            .collect();
        assert_eq!(got, want, "records {from}..{to}");
        let rain = reader
            .rain_mm_between(Timestamp::from_secs(f), Timestamp::from_secs(t))
            .unwrap();
        let want_rain: Option<f64> = conn
            .query_row(
                &format!(
                    "SELECT sum(rain_mm) FROM archive WHERE start_ts >= {f} AND start_ts < {t}"
                ),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(rain, want_rain, "rain of records {from}..{to}");
    }
}

#[test]
fn an_upgrade_rebuilds_the_archive_keeping_ids_extras_faults_and_cursors() {
    let dir = support::db::temp_dir();
    let (new, old) = (dir.path().join("new.db"), dir.path().join("old.db"));
    {
        let mut store = support::db::open(&new);
        for i in 0..50 {
            store
                .insert(&full(Timestamp::from_secs(BASE + 60 * i)))
                .unwrap();
        }
        drop(store);
        support::db::outbox(&new)
            .ack_upload("school", 20, Timestamp::from_secs(BASE))
            .unwrap();
    }
    // The same rows in a database of schema version 1 (start_ts UNIQUE).
    {
        let conn = Connection::open(&old).unwrap();
        conn.execute_batch(include_str!("fixtures/schema_v1.sql"))
            .unwrap();
        let cols = |table: &str| sql_columns(&conn, table).join(", ");
        let (archive, extra, fault) = (cols("archive"), cols("archive_extra"), cols("fault"));
        conn.execute_batch(&format!(
            "ATTACH '{}' AS new;
             INSERT INTO archive ({archive}) SELECT {archive} FROM new.archive;
             INSERT INTO archive_extra ({extra}) SELECT {extra} FROM new.archive_extra;
             INSERT INTO fault ({fault}) SELECT {fault} FROM new.fault;
             INSERT INTO state SELECT * FROM new.state WHERE key LIKE 'upload.%';
             DETACH new;",
            new.display()
        ))
        .unwrap();
        assert_eq!(
            rows(&conn, "SELECT count(*) FROM pragma_index_list('archive')"),
            vec![vec![Sql::Integer(1)]],
            "version 1 indexes start_ts"
        );
    }
    drop(support::db::open(&old));
    let (a, b) = (
        Connection::open(&new).unwrap(),
        Connection::open(&old).unwrap(),
    );
    for sql in [
        "SELECT count(*) FROM pragma_index_list('archive')",
        "SELECT id, start_ts, end_ts, temperature_c FROM archive ORDER BY id",
        "SELECT * FROM fault ORDER BY id",
        "SELECT archive_id, quantity, min, max, n FROM archive_extra ORDER BY archive_id",
        "SELECT * FROM state WHERE key LIKE 'upload.%' ORDER BY key",
        "SELECT * FROM state WHERE key = 'daily_through_id'",
        "SELECT * FROM pragma_foreign_key_check",
    ] {
        assert_eq!(rows(&b, sql), rows(&a, sql), "{sql}");
    }
    assert_eq!(
        rows(&b, "SELECT count(*) FROM fault"),
        vec![vec![Sql::Integer(50)]]
    );
    assert_eq!(
        rows(&b, "SELECT count(*) FROM pragma_index_list('archive')"),
        vec![vec![Sql::Integer(0)]],
        "the upgraded archive still has its start_ts index"
    );
    // Foreign keys still point at the archive: deleting a record takes its rows.
    b.execute_batch("PRAGMA foreign_keys = ON; DELETE FROM archive WHERE id = 7;")
        .unwrap();
    assert_eq!(
        rows(&b, "SELECT count(*) FROM fault WHERE archive_id = 7"),
        vec![vec![Sql::Integer(0)]]
    );
}
