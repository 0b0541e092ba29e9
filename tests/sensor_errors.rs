//! A driver's typed fault reaches the operator: `weatherd status` shows the sensor's
//! last fault in the driver's own words, fix included.

mod support;

use std::process::Command;
use support::db::temp_dir;

const BIN: &str = env!("CARGO_BIN_EXE_weatherd");

fn ok(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("weatherd runs");
    assert!(
        out.status.success(),
        "weatherd {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

#[test]
fn a_sensor_fault_and_its_fix_reach_weatherd_status() {
    let dir = temp_dir();
    let db = dir.path().join("w.db");
    let config = dir.path().join("weatherd.toml");
    // A DS18B20 id the simulator's 1-Wire bus does not have: every read fails.
    std::fs::write(
        &config,
        "[station]\nname = \"t\"\nlatitude = 52.2\nlongitude = 0.12\nelevation_m = 20.0\n\
         time_zone = \"UTC\"\n\n[web]\nenabled = false\n\n\
         [sensors.ground]\ntype = \"ds18b20\"\npin = 4\nid = \"28-000000000bad\"\n",
    )
    .unwrap();
    let (c, d) = (config.to_str().unwrap(), db.to_str().unwrap());
    ok(&[
        "run",
        "--simulate",
        "--speed",
        "max",
        "--start",
        "2026-01-01T00:00:00Z",
        "--duration",
        "10m",
        "--config",
        c,
        "--db",
        d,
    ]);
    let status = ok(&["status", "--config", c, "--db", d]);
    let ground = status
        .split("ground (ds18b20)")
        .nth(1)
        .unwrap_or_else(|| panic!("no ground sensor in: {status}"));
    // What failed, and what to do about it, as the driver's typed error says it.
    assert!(
        ground.contains("DS18B20 28-000000000bad: 1-Wire device 28-000000000bad not found"),
        "{status}"
    );
    assert!(
        ground.contains("set `id` to one of the 28-* entries"),
        "{status}"
    );
    // Every 5 s sample of the 10 minutes failed, and none was stored as a reading.
    assert!(ground.contains("120 in total"), "{status}");
    assert!(ground.contains("last reading: never"), "{status}");
}
