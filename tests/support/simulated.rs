//! A simulated station run by the real binary (`run --simulate --speed max`), and its
//! records read back with `query --format json`, as a user would.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_weatherd");

/// A finished simulated run: its directory (config and database) lives as long as this.
pub struct SimRun {
    pub dir: tempfile::TempDir,
    pub db: String,
}

/// Runs the station on `config` (the whole TOML text) from `start` for `duration`
/// (`30m`, `1d`) with `seed`, and fails the test if it does not exit cleanly.
pub fn run(config: &str, start: &str, duration: &str, seed: u64) -> SimRun {
    let dir = tempfile::tempdir().expect("temp dir");
    let config_path = dir.path().join("weatherd.toml");
    std::fs::write(&config_path, config).expect("config written");
    let db = dir.path().join("w.db").to_str().unwrap().to_string();
    let run = Command::new(BIN)
        .args(["run", "--simulate", "--speed", "max"])
        .args(["--start", start, "--duration", duration])
        .args(["--seed", &seed.to_string(), "--db", &db])
        .args(["--config", config_path.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .output()
        .expect("weatherd runs");
    assert!(run.status.success(), "{run:?}");
    SimRun { dir, db }
}

impl SimRun {
    /// Every row of `query --every EVERY --format json`, as JSON objects.
    pub fn query(&self, every: &str) -> Vec<serde_json::Value> {
        let out = Command::new(BIN)
            .args([
                "query", "--db", &self.db, "--format", "json", "--every", every,
            ])
            .output()
            .expect("weatherd query runs");
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice(&out.stdout).expect("JSON rows")
    }
}
