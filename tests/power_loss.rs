//! Kill -9 at random points while records are being written: the database must pass
//! `PRAGMA integrity_check` and hold every record the daemon acknowledged (logged as
//! stored after its commit) before it died.

use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_weatherd");

/// Runs the simulated station until `acks` records were acknowledged, then SIGKILLs
/// it; returns the acknowledged ids.
fn run_and_kill(db: &Path, speed: &str, acks: usize, extra_delay_us: u64) -> BTreeSet<i64> {
    let mut child = Command::new(BIN)
        .args([
            "run",
            "--simulate",
            "--speed",
            speed,
            "--start",
            "2026-02-01T00:00:00Z",
            "--seed",
            "5",
            "--db",
        ])
        .arg(db)
        .env("RUST_LOG", "weatherd=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("weatherd starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("record stored") {
                let id = line
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("id="))
                    .and_then(|v| v.parse::<i64>().ok())
                    .expect("an id in every ack line");
                if tx.send(id).is_err() {
                    break;
                }
            }
        }
    });
    let mut acked = BTreeSet::new();
    while acked.len() < acks {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(id) => {
                acked.insert(id);
            }
            Err(e) => panic!("no acknowledgement from weatherd: {e}"),
        }
    }
    // Land the kill somewhere inside the following writes, not just after an ack.
    std::thread::sleep(Duration::from_micros(extra_delay_us));
    child.kill().unwrap();
    child.wait().unwrap();
    // Acks logged between our last read and the kill were committed too.
    while let Ok(id) = rx.try_recv() {
        acked.insert(id);
    }
    drop(rx);
    reader.join().unwrap();
    acked
}

fn check(db: &Path, acked: &BTreeSet<i64>) -> usize {
    let conn = rusqlite::Connection::open(db).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let mut stmt = conn.prepare("SELECT id FROM archive ORDER BY id").unwrap();
    let stored: BTreeSet<i64> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let missing: Vec<_> = acked.difference(&stored).collect();
    assert!(missing.is_empty(), "acknowledged records lost: {missing:?}");
    // Intervals never overlap, whatever the kills did.
    let mut stmt = conn
        .prepare("SELECT start_ts, end_ts FROM archive ORDER BY start_ts")
        .unwrap();
    let spans: Vec<(i64, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for w in spans.windows(2) {
        assert!(w[1].0 >= w[0].1, "overlapping records {w:?}");
    }
    stored.len()
}

#[test]
fn kill_9_during_writes_keeps_every_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(2026);
    let mut all_acked = BTreeSet::new();
    let mut last_count = 0;
    // Power-safe commits (a speed factor) and fast ones (max speed), alternately.
    for round in 0..8 {
        let db = dir.path().join("power.db");
        let speed = if round % 2 == 0 { "600" } else { "max" };
        let acks = if speed == "max" {
            rng.gen_range(50..2000)
        } else {
            rng.gen_range(1..6)
        };
        let acked = run_and_kill(&db, speed, acks, rng.gen_range(0..3000));
        all_acked.extend(acked);
        let count = check(&db, &all_acked);
        assert!(count >= last_count, "records disappeared");
        last_count = count;
    }
    assert!(all_acked.len() > 100);
}
