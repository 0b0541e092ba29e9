//! Helpers of the report and query tests (tests/report.rs): one simulated station
//! database shared by the tests of a run, the CLI, and raw records read back through
//! the Reader's raw path (not the daily summaries the reports use).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use weatherd::store::{Every, Store, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_weatherd");
/// The built-in simulated station's zone (weatherd.example.toml).
pub const TZ: chrono_tz::Tz = chrono_tz::Europe::London;
/// Nine days across the end of British Summer Time (2026-10-25, a 25-hour day) and
/// a month boundary: 2026-10-24 00:00 BST to 2026-11-02 00:00 GMT.
pub const SIM_START: &str = "2026-10-23T23:00:00Z";
pub const SIM_DURATION: &str = "9d";
pub const SIM_SEED: &str = "11";

/// Runs `weatherd ARGS`: (exit code, stdout, stderr).
pub fn weatherd(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("run the weatherd binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The shared simulated database (made once per test binary; the directory is
/// removed at exit by the OS temp cleaner only if the process dies, so the guard is
/// kept in a static and the file is small: 13 k records).
pub fn simulated_db() -> &'static Path {
    static DB: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = DB.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sim.db");
        let (code, _, err) = weatherd(&[
            "run",
            "--simulate",
            "--speed",
            "max",
            "--start",
            SIM_START,
            "--duration",
            SIM_DURATION,
            "--seed",
            SIM_SEED,
            "--db",
            path.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "simulation failed: {err}");
        (dir, path)
    });
    path
}

/// One raw record as the Reader's raw query returns it, by column name (full
/// precision, unlike the CSV's two decimals).
#[derive(Clone, Debug)]
pub struct Raw {
    pub start: i64,
    pub values: BTreeMap<String, f64>,
}

impl Raw {
    pub fn get(&self, name: &str) -> Option<f64> {
        self.values.get(name).copied()
    }
    /// The station-local date, computed here with chrono-tz.
    pub fn date(&self) -> String {
        chrono::DateTime::from_timestamp(self.start, 0)
            .unwrap()
            .with_timezone(&TZ)
            .format("%Y-%m-%d")
            .to_string()
    }
}

pub fn raw_records(db: &Path) -> Vec<Raw> {
    let store = Store::open_read_only(db).unwrap();
    let t = store.query(None, None, Every::Raw).unwrap();
    let start = t.column("start_utc").unwrap();
    t.rows
        .iter()
        .map(|row| {
            let Value::Text(s) = &row[start] else {
                panic!("start_utc is text")
            };
            let start = chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp();
            let values = t
                .columns
                .iter()
                .zip(row)
                .filter_map(|(c, v)| match v {
                    Value::Real(x) => Some((c.clone(), *x)),
                    Value::Int(i) => Some((c.clone(), *i as f64)),
                    _ => None,
                })
                .collect();
            Raw { start, values }
        })
        .collect()
}

/// The maximum (or minimum) of a column over records, with the start of the FIRST
/// record that reached it.
pub fn extreme(recs: &[&Raw], column: &str, high: bool) -> Option<(f64, i64)> {
    let mut best: Option<(f64, i64)> = None;
    for r in recs {
        let Some(v) = r.get(column) else { continue };
        let beats = match best {
            None => true,
            Some((b, _)) => {
                if high {
                    v > b
                } else {
                    v < b
                }
            }
        };
        if beats {
            best = Some((v, r.start));
        }
    }
    best
}

/// Sample-weighted mean of `column` with weights from `count`.
pub fn weighted_mean(recs: &[&Raw], column: &str, count: &str) -> Option<f64> {
    let (mut sum, mut n) = (0.0, 0.0);
    for r in recs {
        if let (Some(v), Some(w)) = (r.get(column), r.get(count)) {
            sum += v * w;
            n += w;
        }
    }
    (n > 0.0).then(|| sum / n)
}

pub fn close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-9 * a.abs().max(1.0),
        "{what}: {a} != {b}"
    );
}
