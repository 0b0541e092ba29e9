//! How fast a backlog drains over HTTP: 30 days of one-minute records (43,200) sent
//! to an in-process server on localhost (which decompresses, parses and deduplicates
//! every batch, as a real one would). Goal: 30 days in under 10 s.
//!
//! `cargo bench --bench upload` prints records per second with the default batch size
//! (500) and with a small one (50), to show what batching buys, in words and as
//! `BENCH <name> <value> <unit>` lines that `scripts/bench` parses.
//! `WEATHERD_BENCH_DAYS=3` drains fewer days (the CI mode of `scripts/bench`).

#[path = "support/days.rs"]
mod days;
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};
use support::http_server::Server;
use weatherd::time::Timestamp;
use weatherd::upload::http::HttpDestination;
use weatherd::upload::{run_uploader, Common, HttpConfig, Policy};

fn drain(days: i64, batch_size: u32) {
    let records = days * 1440;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("bench.db");
    let mut store = support::db::open(&db);
    for day in 0..days {
        support::db::fill(&mut store, day * 1440, (day + 1) * 1440);
    }
    let server = Server::start(None);
    let config = HttpConfig {
        name: "bench".into(),
        url: server.url(),
        token_file: None,
        token_credential: None,
        ca_file: None,
        proxy: None,
        allow_plain_http: false,
        common: Common {
            timeout_seconds: 30,
            batch_size,
            batch_max_age_seconds: 60,
            backoff_initial_seconds: 1,
            backoff_max_seconds: 1,
        },
    };
    let dest = HttpDestination::new(&config, "bench").expect("destination");
    let policy = Policy {
        batch_size: batch_size as usize,
        batch_max_age: Duration::from_secs(60),
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(100),
        poll_interval: Duration::from_millis(10),
        shutdown_grace: Duration::from_secs(5),
        wall_clock: Timestamp::now,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let probe = support::db::open(&db);
    let t0 = Instant::now();
    let summary = rt
        .block_on(run_uploader(
            "bench".into(),
            "bench".into(),
            support::db::outbox(&db),
            dest,
            policy,
            None,
            async {
                while probe.upload_cursor("bench").expect("cursor") < records {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            },
        ))
        .expect("drain");
    let elapsed = t0.elapsed();
    assert_eq!(summary.cursor, records);
    assert_eq!(server.count() as i64, records, "every record arrived");
    let seconds = elapsed.as_secs_f64();
    println!(
        "batch_size {batch_size:>4}: {records} records ({days} days) in {seconds:.2} s = {:.0} records/s, {} batches, {} failures",
        records as f64 / seconds,
        summary.batches,
        summary.failures
    );
    println!("BENCH upload_http_b{batch_size}_s {seconds} s");
    println!(
        "BENCH upload_http_b{batch_size}_records_per_s {} records/s",
        records as f64 / seconds
    );
}

fn main() {
    let days = days::days();
    println!("BENCH upload_days {days} days");
    drain(days, 500);
    drain(days, 50);
}
