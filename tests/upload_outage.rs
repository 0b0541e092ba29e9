//! Long outages on paused tokio time: a week offline, then recovery (zero loss, the
//! backlog drains in full batches), and a month offline that logs only a few lines.

mod support;

use support::logs::Captured;

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use weatherd::upload::{run_uploader, Batch, DeliveryError, Destination};

/// A destination that is unreachable until `online_at`, then stores what it gets.
#[derive(Clone)]
struct Flaky {
    online_at: Instant,
    log: Arc<Mutex<Log>>,
}

#[derive(Default)]
struct Log {
    ids: Vec<i64>,
    /// (size, delivered after the outage ended)
    batches: Vec<usize>,
    attempts: u64,
}

impl Destination for Flaky {
    async fn deliver(&mut self, batch: &Batch) -> Result<(), DeliveryError> {
        // A network round trip takes a little time.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut log = self.log.lock().unwrap();
        log.attempts += 1;
        if Instant::now() < self.online_at {
            return Err(DeliveryError::Transient {
                message: "cannot connect".into(),
                retry_after: None,
            });
        }
        log.ids.extend(batch.records.iter().map(|r| r.0));
        log.batches.push(batch.records.len());
        Ok(())
    }
}

struct Outcome {
    ids: Vec<i64>,
    batches: Vec<usize>,
    attempts: u64,
    logs: String,
    /// Records stored before the destination came back.
    backlog_at_recovery: usize,
}

/// A station storing one record a minute (written an hour at a time, as fast as the
/// test can) for `days`, with the destination offline for the first `offline_days`.
async fn simulate(days: i64, offline_days: i64, batch_size: usize) -> Outcome {
    let logs = Captured::default();
    let _guard = logs.install();

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let mut station = support::db::open(&db);
    let start = Instant::now();
    let dest = Flaky {
        online_at: start + Duration::from_secs(offline_days as u64 * 86_400),
        log: Arc::default(),
    };
    let log = dest.log.clone();
    let (wake_tx, wake_rx) = tokio::sync::watch::channel(0i64);
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    // Record times are in 2025, so every record counts as old: partial batches go at
    // once and only the outage makes records wait.
    let policy = support::policy::defaults(batch_size);
    let uploader = tokio::spawn(run_uploader(
        "school".into(),
        "station".into(),
        support::db::outbox(&db),
        dest,
        policy,
        Some(wake_rx),
        async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        },
    ));

    let total = days * 1440;
    let mut backlog_at_recovery = None;
    for hour in 0..days * 24 {
        tokio::time::sleep_until(start + Duration::from_secs(hour as u64 * 3600)).await;
        if backlog_at_recovery.is_none() && hour >= offline_days * 24 {
            backlog_at_recovery = Some((hour * 60) as usize);
        }
        let ids = support::db::fill(&mut station, hour * 60, hour * 60 + 60);
        wake_tx.send_replace(*ids.last().unwrap());
    }
    // Let the uploader catch up, then stop it.
    while station.upload_cursor("school").unwrap() < total {
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    stop_tx.send_replace(true);
    let summary = uploader.await.unwrap().unwrap();
    assert_eq!(summary.cursor, total);
    let status = station.upload_status("school").unwrap();
    assert_eq!(status.backlog, 0);
    assert_eq!(status.state.as_deref(), Some("ok"));

    let log = log.lock().unwrap();
    let text = logs.text();
    Outcome {
        ids: log.ids.clone(),
        batches: log.batches.clone(),
        attempts: log.attempts,
        logs: text,
        backlog_at_recovery: backlog_at_recovery.unwrap_or(total as usize),
    }
}

#[tokio::test(start_paused = true)]
async fn a_week_offline_loses_nothing_and_drains_in_full_batches() {
    let o = simulate(8, 7, 100).await;
    assert_eq!(
        o.ids,
        (1..=8 * 1440).collect::<Vec<i64>>(),
        "zero loss, in order"
    );
    // Seven days of records wait; they go out in full batches of 100, not one by one.
    let backlog = o.backlog_at_recovery;
    assert!(backlog >= 7 * 1440, "{backlog}");
    // The batch in flight when the outage began is re-sent exactly as it was (same
    // records, same idempotency key); the backlog behind it goes in full batches.
    assert!(o.batches[0] <= 100, "{:?}", &o.batches[..3]);
    let full = o.batches.iter().skip(1).take_while(|&&n| n == 100).count();
    assert!(
        full >= backlog / 100 - 1,
        "{full} full batches for a backlog of {backlog}: {:?}",
        &o.batches[..20.min(o.batches.len())]
    );
    // After the backlog, records go out as they come (an hour at a time here).
    assert!(
        o.batches.len() < backlog / 100 + 2 * 24 + 5,
        "{}",
        o.batches.len()
    );
    assert!(
        o.attempts > 100,
        "it kept retrying through the week: {}",
        o.attempts
    );
    assert!(o.logs.contains("upload failing"), "{}", o.logs);
    assert!(o.logs.contains("upload working again"), "{}", o.logs);
    assert!(o.logs.contains("outage=7d 0h"), "{}", o.logs);
}

#[tokio::test(start_paused = true)]
async fn a_month_offline_writes_a_few_log_lines_not_one_per_attempt() {
    let o = simulate(31, 30, 500).await;
    assert_eq!(o.ids.len(), 31 * 1440);
    assert!(o.attempts > 1000, "{} attempts", o.attempts);
    let lines = o.logs.lines().count();
    assert!(lines <= 6, "{lines} lines:\n{}", o.logs);
    assert!(o.logs.len() < 2048, "{} bytes", o.logs.len());
}
