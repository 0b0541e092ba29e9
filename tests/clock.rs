//! A station on a wall clock that NTP steps, driven by tokio's paused time and a
//! steppable clock: no records back in time, no overlaps, no bursts of empty records,
//! nothing archived before the clock is trusted.

mod support;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::logs::Captured;
use weatherd::clock::Clock;
use weatherd::config::Config;
use weatherd::sim::{SimHardware, SimTime, Weather};
use weatherd::station::{run_in, Env, RunSummary};
use weatherd::store::{Every, Store, Value};
use weatherd::time::{parse_time, Timestamp, NANOS_PER_SEC};
use weatherd::timesync::{AlwaysSynced, Scripted, SyncSource};

const HOUR: i64 = 3600 * NANOS_PER_SEC;

struct Row {
    start: i64,
    end: i64,
    samples: i64,
}

fn rows(path: &std::path::Path) -> Vec<Row> {
    let store = Store::open_read_only(path).unwrap();
    let t = store.query(None, None, Every::Raw).unwrap();
    let col = |name: &str| {
        t.columns
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let (s, e, n) = (col("start_utc"), col("end_utc"), col("samples"));
    let secs = |v: &Value| match v {
        Value::Text(t) => parse_time(t).unwrap().secs(),
        other => panic!("time column holds {other:?}"),
    };
    t.rows
        .iter()
        .map(|r| Row {
            start: secs(&r[s]),
            end: secs(&r[e]),
            samples: match r[n] {
                Value::Int(i) => i,
                ref v => panic!("samples holds {v:?}"),
            },
        })
        .collect()
}

async fn station(
    base: Timestamp,
    sync: Box<dyn SyncSource>,
    script: impl std::future::Future<Output = ()>,
    step: Arc<AtomicI64>,
) -> (tempfile::TempDir, RunSummary) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("clock.db");
    let mut config = Config::example();
    config.database.path = db.clone();
    let store = Store::open(&db, config.time_zone()).unwrap();
    let time = SimTime::new(base);
    let weather = Arc::new(Weather::new(
        3,
        config.station.latitude,
        config.station.elevation_m,
    ));
    let env = Env {
        clock: Clock::stepped(base, step, time.clone()),
        hw: Box::new(SimHardware::new(weather, time)),
        sync,
        start: base,
        end: None,
    };
    let summary = run_in(&config, store, env, script).await.unwrap();
    (dir, summary)
}

fn assert_monotonic_and_non_empty(rows: &[Row]) {
    for pair in rows.windows(2) {
        assert!(
            pair[1].start >= pair[0].end,
            "overlap: {}..{} then {}",
            pair[0].start,
            pair[0].end,
            pair[1].start
        );
    }
    for r in rows {
        assert!(r.samples > 0, "empty record at {}", r.start);
        assert!(r.end - r.start == 60);
    }
}

#[tokio::test(start_paused = true)]
async fn clock_steps_forward_and_back_by_hours_and_a_year() {
    let base = parse_time("2026-06-01T00:00:00Z").unwrap();
    let step = Arc::new(AtomicI64::new(0));
    let s = step.clone();
    let minutes = |m: u64| tokio::time::sleep(Duration::from_secs(60 * m));
    let script = async move {
        minutes(10).await;
        s.store(3 * HOUR, Ordering::Relaxed); // NTP steps forward 3 h
        minutes(10).await;
        s.store(3 * HOUR - 365 * 24 * HOUR, Ordering::Relaxed); // back a whole year
        minutes(10).await;
        s.store(3 * HOUR, Ordering::Relaxed); // and right again
        minutes(10).await;
    };
    let (dir, summary) = station(base, Box::new(AlwaysSynced), script, step).await;
    let rows = rows(&dir.path().join("clock.db"));
    assert_monotonic_and_non_empty(&rows);

    let b = base.secs();
    let count = |from: i64, to: i64| {
        rows.iter()
            .filter(|r| r.start >= b + from && r.start < b + to)
            .count()
    };
    assert_eq!(count(0, 600), 10, "the first ten minutes");
    assert!(
        (9..=11).contains(&count(3 * 3600 + 600, 3 * 3600 + 1200)),
        "ten minutes after the forward step"
    );
    assert!(
        (9..=11).contains(&count(3 * 3600 + 1800, 3 * 3600 + 2400)),
        "ten minutes after the clock came back"
    );
    assert!(
        count(600, 3 * 3600 + 600) <= 1,
        "at most the partial interval cut by the step lies in the skipped 3 h"
    );
    assert!(
        rows.iter().all(|r| r.start >= b),
        "nothing archived in the year the clock wrongly showed"
    );
    assert!(
        rows.len() <= 33,
        "no burst of empty records: {}",
        rows.len()
    );
    assert!(
        (110..=130).contains(&summary.discarded_backward),
        "{summary:?}"
    );
    assert!(summary.clock_steps >= 3, "{summary:?}");
}

#[tokio::test(start_paused = true)]
async fn nothing_is_archived_before_the_clock_is_synchronised() {
    let base = parse_time("2026-06-01T00:00:00Z").unwrap();
    let step = Arc::new(AtomicI64::new(0));
    // Unsynchronised for the first 24 ticks (two minutes), and the clock is 2 h wrong
    // until NTP steps it at the moment it syncs.
    let answers: VecDeque<bool> = std::iter::repeat_n(false, 24).chain([true]).collect();
    step.store(-2 * HOUR, Ordering::Relaxed);
    let s = step.clone();
    let script = async move {
        tokio::time::sleep(Duration::from_secs(24 * 5 + 2)).await;
        s.store(0, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(600)).await;
    };
    let (dir, summary) = station(base, Box::new(Scripted(answers)), script, step).await;
    let rows = rows(&dir.path().join("clock.db"));
    assert_monotonic_and_non_empty(&rows);
    assert_eq!(summary.discarded_unsynced, 24, "{summary:?}");
    assert!(!rows.is_empty());
    assert!(
        rows.iter().all(|r| r.start >= base.secs()),
        "a record was dated by the unsynchronised clock"
    );
    assert!((9..=11).contains(&rows.len()), "{}", rows.len());
}

/// A record once stored with a date in the future (the clock ran ahead) holds back
/// archiving until the clock reaches it: the log says so at start and when it holds
/// records back, both times with the fix.
#[tokio::test(start_paused = true)]
async fn a_future_dated_record_is_logged_with_the_fix() {
    let logs = Captured::default();
    let _guard = logs.install();
    let base = parse_time("2026-06-01T00:00:00Z").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("clock.db");
    let mut config = Config::example();
    config.database.path = db.clone();
    let mut store = Store::open(&db, config.time_zone()).unwrap();
    let future = base.add_secs(30 * 86_400);
    store.insert(&support::records::empty(future)).unwrap();
    let time = SimTime::new(base);
    let weather = Arc::new(Weather::new(
        3,
        config.station.latitude,
        config.station.elevation_m,
    ));
    let env = Env {
        clock: Clock::stepped(base, Arc::new(AtomicI64::new(0)), time.clone()),
        hw: Box::new(SimHardware::new(weather, time)),
        sync: Box::new(AlwaysSynced),
        start: base,
        end: None,
    };
    let summary = run_in(
        &config,
        store,
        env,
        tokio::time::sleep(Duration::from_secs(600)),
    )
    .await
    .unwrap();
    assert_eq!(summary.records_written, 0);
    assert!(summary.discarded_backward > 0);
    let text = logs.text();
    assert_eq!(
        text.matches("the newest stored record ends in the future")
            .count(),
        1,
        "{text}"
    );
    assert_eq!(
        text.matches("holding records until it passes it").count(),
        1,
        "{text}"
    );
    assert_eq!(
        text.matches(weatherd::station::FUTURE_FIX).count(),
        2,
        "the fix, at start and when holding back: {text}"
    );
}
