//! End-to-end: the real `weatherd` binary on simulated hardware, its database read back
//! through `weatherd query`.

mod support;

use support::db::{count_rows, temp_dir};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_weatherd");

fn weatherd(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("weatherd runs")
}

fn ok(args: &[&str]) -> String {
    let out = weatherd(args);
    assert!(
        out.status.success(),
        "weatherd {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn sim_day_args(db: &Path) -> Vec<String> {
    [
        "run",
        "--simulate",
        "--speed",
        "max",
        "--start",
        "2026-01-01T00:00:00Z",
        "--duration",
        "1d",
        "--seed",
        "1",
        "--db",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([db.display().to_string()])
    .collect()
}

fn run_sim_day(db: &Path) {
    let args = sim_day_args(db);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
}

fn query_json(db: &Path) -> Vec<serde_json::Value> {
    let out = ok(&["query", "--db", db.to_str().unwrap(), "--format", "json"]);
    serde_json::from_str(&out).expect("query --format json prints JSON")
}

fn num(row: &serde_json::Value, key: &str) -> Option<f64> {
    row.get(key)
        .unwrap_or_else(|| panic!("column {key} missing in {row}"))
        .as_f64()
}

#[test]
fn one_simulated_day_gives_1440_plausible_rows_and_the_same_twice() {
    let dir = temp_dir();
    let a = dir.path().join("a.db");
    let b = dir.path().join("b.db");
    run_sim_day(&a);
    run_sim_day(&b);
    let rows = query_json(&a);
    assert_eq!(rows.len(), 1440);
    assert_eq!(
        rows,
        query_json(&b),
        "same seed and start must give identical records"
    );

    let mut wind_total = 0.0;
    let mut dirs = 0;
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["start_utc"].as_str().unwrap(), {
            let t = 1_767_225_600 + 60 * i as i64; // 2026-01-01T00:00:00Z
            chrono::DateTime::from_timestamp(t, 0)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        });
        let t = num(row, "temperature_c").expect("temperature every minute");
        assert!((-40.0..45.0).contains(&t), "temperature {t} in {row}");
        let tmin = num(row, "temperature_min_c").unwrap();
        let tmax = num(row, "temperature_max_c").unwrap();
        assert!(tmin <= t && t <= tmax, "{row}");
        let h = num(row, "humidity_pct").unwrap();
        assert!((0.0..=100.0).contains(&h), "{row}");
        let p = num(row, "pressure_hpa").unwrap();
        assert!((850.0..1090.0).contains(&p), "{row}");
        let slp = num(row, "sea_level_pressure_hpa").unwrap();
        assert!(
            slp >= p,
            "sea-level pressure above station pressure at 20 m: {row}"
        );
        let dew = num(row, "dew_point_c").unwrap();
        assert!(dew <= t + 1e-9, "dew point above temperature: {row}");
        let g = num(row, "ground_temperature_c").unwrap();
        assert!((-30.0..40.0).contains(&g), "{row}");
        let w = num(row, "wind_speed_kmh").unwrap();
        let gust = num(row, "wind_gust_kmh").unwrap();
        assert!(
            (0.0..150.0).contains(&w) && gust + 1e-9 >= w,
            "gust below mean: {row}"
        );
        wind_total += w;
        match num(row, "wind_dir_deg") {
            Some(d) => {
                assert!((0.0..360.0).contains(&d), "{row}");
                dirs += 1;
            }
            None => assert_eq!(w, 0.0, "direction missing while windy: {row}"),
        }
        let r = num(row, "rain_mm").unwrap();
        assert!((0.0..20.0).contains(&r), "{row}");
        // Output is rounded to 2 decimals: whole bucket tips to within that rounding.
        let tips = (r / 0.2794).round();
        assert!(
            (r - tips * 0.2794).abs() <= 0.005 + 1e-9,
            "rain is whole bucket tips: {row}"
        );
        assert_eq!(row["samples"].as_i64(), Some(12), "{row}");
    }
    assert!(
        wind_total > 0.0 && dirs > 0,
        "a simulated day has some wind"
    );
}

fn spawn(args: &[String]) -> Child {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("weatherd starts")
}

/// Kills the simulated day at several points with SIGKILL and restarts it with the
/// same arguments: the result must be exactly the uninterrupted day.
#[test]
fn sigkill_and_restart_gives_exactly_the_uninterrupted_records() {
    let dir = temp_dir();
    let reference = dir.path().join("reference.db");
    run_sim_day(&reference);
    let expected = query_json(&reference);

    let db = dir.path().join("killed.db");
    let args = sim_day_args(&db);
    let mut kills = 0;
    let mut finished = false;
    // Kill once the database holds at least 200, 500, 900 and 1200 rows.
    for threshold in [200, 500, 900, 1200] {
        if finished {
            // A replay of a finished day has nothing to do (and says so, exit 1).
            break;
        }
        let mut child = spawn(&args);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "run failed: {status}");
                finished = true;
                break;
            }
            if count_rows(&db) >= threshold {
                child.kill().unwrap();
                child.wait().unwrap();
                kills += 1;
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    // A kill can land after the last record was written (the run was shutting down):
    // then there is nothing left to replay, and a replay would say so and exit 1.
    if !finished && count_rows(&db) < 1440 {
        // Finish the day.
        let status = spawn(&args).wait().unwrap();
        assert!(status.success());
    }
    assert!(
        kills >= 1,
        "the run was never interrupted; the test proved nothing"
    );
    let got = query_json(&db);
    assert_eq!(got.len(), 1440);
    assert_eq!(
        got, expected,
        "a killed and resumed run must equal the uninterrupted one"
    );
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on a child we own.
    let rc = unsafe { libc_kill(child.id() as i32, sig) };
    assert_eq!(rc, 0, "kill failed");
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

/// SIGTERM and SIGINT flush the partial interval and close the database; a restart
/// continues with neither a duplicated nor a skipped interval.
#[test]
fn sigterm_flushes_and_restart_neither_duplicates_nor_skips() {
    let dir = temp_dir();
    let db = dir.path().join("term.db");
    let args: Vec<String> = [
        "run",
        "--simulate",
        "--speed",
        "600",
        "--start",
        "2026-03-01T00:00:00Z",
        "--seed",
        "7",
        "--db",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([db.display().to_string()])
    .collect();
    for sig in [SIGTERM, SIGINT, SIGTERM] {
        let mut child = spawn(&args);
        let before = count_rows(&db);
        // Wait until this run has stored a few records, then stop it mid-interval.
        while count_rows(&db) < before + 3 {
            assert!(child.try_wait().unwrap().is_none(), "weatherd exited early");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(37));
        signal(&child, sig);
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "exit after signal {sig}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rows = query_json(&db);
    assert!(rows.len() >= 9);
    let mut partial = 0;
    for pair in rows.windows(2) {
        assert_eq!(
            pair[0]["end_utc"], pair[1]["start_utc"],
            "gap or overlap between {} and {}",
            pair[0], pair[1]
        );
    }
    for row in &rows {
        if row["samples"].as_i64().unwrap() < 12 {
            partial += 1;
        }
    }
    assert!(
        partial >= 1,
        "a stop mid-interval must flush a partial record"
    );
}

#[test]
fn foreign_and_missing_databases_are_refused_untouched() {
    let dir = temp_dir();
    let text = dir.path().join("notes.db");
    std::fs::write(&text, "shopping list\n").unwrap();
    for args in [
        vec!["query", "--db", text.to_str().unwrap()],
        vec![
            "run",
            "--simulate",
            "--speed",
            "max",
            "--duration",
            "1h",
            "--db",
            text.to_str().unwrap(),
        ],
    ] {
        let out = weatherd(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("notes.db"), "error names the file: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert_eq!(std::fs::read_to_string(&text).unwrap(), "shopping list\n");

    let missing = dir.path().join("missing.db");
    let out = weatherd(&["query", "--db", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.db"));
    assert!(!missing.exists(), "query must not create a database");
}

#[test]
fn bad_arguments_are_usage_errors() {
    let cases: &[(&[&str], &str)] = &[
        (&["run", "--simulate", "--speed", "0"], "speed"),
        (&["run", "--simulate", "--speed", "fast"], "speed"),
        (&["run", "--simulate", "--duration", "3x"], "3x"),
        (&["run", "--simulate", "--start", "tomorrow"], "tomorrow"),
        (&["run", "--seed", "3"], "--simulate"),
        (&["query", "--from", "garbage"], "garbage"),
        (&["query", "--every", "week"], "week"),
        (&["query", "--format", "xml"], "xml"),
        (
            &["query", "--from", "2026-01-02", "--to", "2026-01-01"],
            "--to",
        ),
    ];
    for (args, needle) in cases {
        let out = weatherd(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: error should mention {needle}: {err}"
        );
    }
}

#[test]
fn check_config_accepts_the_example_and_names_bad_keys() {
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("weatherd.example.toml");
    let out = ok(&["check-config", example.to_str().unwrap()]);
    assert!(out.contains("sample_interval_seconds = 5"), "{out}");
    assert!(out.contains("kmh_per_hz = 2.4"), "{out}");

    let dir = temp_dir();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[station]\nname = \"x\"\nlatitude = 1.0\nlongitude = 2.0\n\n[sensors.anemometer]\ntype = \"anemometer\"\npinn = 5\n",
    )
    .unwrap();
    let out = weatherd(&["check-config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sensors.anemometer"), "{err}");
    assert!(err.contains("pinn"), "{err}");
}

#[test]
fn query_aggregates_by_hour_and_day_and_exports_csv() {
    let dir = temp_dir();
    let db = dir.path().join("day.db");
    run_sim_day(&db);
    let d = db.to_str().unwrap();
    let hours: Vec<serde_json::Value> = serde_json::from_str(&ok(&[
        "query", "--db", d, "--every", "hour", "--format", "json",
    ]))
    .unwrap();
    assert_eq!(hours.len(), 24);
    let raw = query_json(&db);
    let rain_raw: f64 = raw.iter().map(|r| num(r, "rain_mm").unwrap()).sum();
    let rain_hours: f64 = hours.iter().map(|r| num(r, "rain_mm").unwrap_or(0.0)).sum();
    assert!(
        (rain_raw - rain_hours).abs() < 1e-6,
        "{rain_raw} vs {rain_hours}"
    );
    let tmax_raw = raw
        .iter()
        .map(|r| num(r, "temperature_max_c").unwrap())
        .fold(f64::MIN, f64::max);
    let tmax_hours = hours
        .iter()
        .map(|r| num(r, "temperature_max_c").unwrap())
        .fold(f64::MIN, f64::max);
    assert!((tmax_raw - tmax_hours).abs() < 1e-6);

    let csv = ok(&[
        "query",
        "--db",
        d,
        "--from",
        "2026-01-01T10:00:00Z",
        "--to",
        "2026-01-01T11:00:00Z",
        "--format",
        "csv",
    ]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 61, "header plus 60 rows");
    assert!(
        lines[0].contains("temperature_c")
            && lines[0].contains("wind_gust_kmh")
            && lines[0].contains("rain_mm")
    );
    let table = ok(&["query", "--db", d, "--every", "day"]);
    assert!(table.contains("2026-01-01"), "{table}");
}

/// Waits for a child, killing it if it takes longer than `limit` (a hang is a failure,
/// not a stuck test run).
fn wait_or_kill(mut child: Child, limit: Duration) -> Output {
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "weatherd did not finish within {limit:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn times_outside_the_supported_range_are_refused_naming_the_flag() {
    let dir = temp_dir();
    let db = dir.path().join("w.db");
    let d = db.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        // Past 2262 an i64 of nanoseconds wraps: this returned nothing with exit 0.
        (&["query", "--db", d, "--to", "2300-01-01"], "--to"),
        (&["query", "--db", d, "--from", "1600-01-01"], "--from"),
        (
            &["query", "--db", d, "--from", "1969-12-31T23:59:59Z"],
            "--from",
        ),
        (
            &["query", "--db", d, "--to", "2200-01-01T00:00:01Z"],
            "--to",
        ),
        // This stored records dated 1816.
        (
            &[
                "run",
                "--simulate",
                "--speed",
                "max",
                "--start",
                "9999-12-31T23:30:00Z",
                "--duration",
                "1h",
                "--db",
                d,
            ],
            "--start",
        ),
        (
            &[
                "run",
                "--simulate",
                "--speed",
                "max",
                "--start",
                "2199-12-31T00:00:00Z",
                "--duration",
                "2d",
                "--db",
                d,
            ],
            "--duration",
        ),
        (
            &[
                "run",
                "--simulate",
                "--speed",
                "max",
                "--start",
                "2026-01-01",
                "--duration",
                "100000d",
                "--db",
                d,
            ],
            "--duration",
        ),
    ];
    for (args, flag) in cases {
        let out = weatherd(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?}: should name {flag}: {err}");
        assert!(
            err.contains("2200-01-01"),
            "{args:?}: should name the range: {err}"
        );
    }
    assert!(
        !db.exists(),
        "a refused command must not create the database"
    );
    // The edges themselves are accepted.
    ok(&[
        "run",
        "--simulate",
        "--speed",
        "max",
        "--start",
        "2199-12-31T23:00:00Z",
        "--duration",
        "1h",
        "--db",
        d,
    ]);
    let rows = query_json(&db);
    assert_eq!(rows.len(), 60);
    assert_eq!(rows[0]["start_utc"], "2199-12-31T23:00:00Z");
    assert_eq!(rows[59]["end_utc"], "2200-01-01T00:00:00Z");
    let out = ok(&[
        "query",
        "--db",
        d,
        "--from",
        "1970-01-01",
        "--to",
        "2200-01-01",
        "--format",
        "csv",
    ]);
    assert_eq!(out.lines().count(), 61);
}

#[test]
fn a_replay_that_can_do_nothing_says_why_and_fails() {
    let dir = temp_dir();
    // What the README's first command leaves: a weather.db with records up to "now"
    // (here a later date, as a real-time run would).
    let db = dir.path().join("weather.db");
    let d = db.to_str().unwrap();
    ok(&[
        "run",
        "--simulate",
        "--speed",
        "max",
        "--start",
        "2026-03-01T00:00:00Z",
        "--duration",
        "1h",
        "--db",
        d,
    ]);
    let args = sim_day_args(&db);
    let out = weatherd(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("weather.db"), "names the database: {err}");
    assert!(
        err.contains("2026-03-01T01:00:00Z"),
        "names its last record: {err}"
    );
    assert!(
        err.contains("--db") && err.contains("--start"),
        "names the fix: {err}"
    );
    assert_eq!(count_rows(&db), 60, "nothing was written");

    // The README's fix: the day of data in its own database.
    run_sim_day(&dir.path().join("day.db"));
    assert_eq!(count_rows(&dir.path().join("day.db")), 1440);

    // A replay that resumes part-way still runs (a killed run restarted).
    let db2 = dir.path().join("part.db");
    let d2 = db2.to_str().unwrap();
    ok(&[
        "run",
        "--simulate",
        "--speed",
        "max",
        "--start",
        "2026-01-01T00:00:00Z",
        "--duration",
        "1h",
        "--seed",
        "1",
        "--db",
        d2,
    ]);
    run_sim_day(&db2);
    assert_eq!(count_rows(&db2), 1440);
    // And once it is complete, the same command says there is nothing left to do.
    let out = weatherd(
        &sim_day_args(&db2)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn status_warns_of_a_record_dated_in_the_future() {
    let dir = temp_dir();
    let db = dir.path().join("w.db");
    let d = db.to_str().unwrap();
    // A clock that ran ahead once left a record in 2199.
    ok(&[
        "run",
        "--simulate",
        "--speed",
        "max",
        "--start",
        "2199-01-01T00:00:00Z",
        "--duration",
        "1h",
        "--db",
        d,
    ]);
    let out = ok(&["status", "--db", d]);
    assert!(out.contains("WARNING"), "{out}");
    assert!(out.contains("2199-01-01T01:00:00Z"), "{out}");
    assert!(out.contains("archives nothing until then"), "{out}");
    assert!(
        out.contains(weatherd::station::FUTURE_FIX),
        "names the fix: {out}"
    );

    // A database that ends in the past gets no warning.
    let past = dir.path().join("past.db");
    run_sim_day(&past);
    let out = ok(&["status", "--db", past.to_str().unwrap()]);
    assert!(!out.contains("WARNING"), "{out}");
    assert!(out.contains("Store: every record written"), "{out}");
}

#[test]
fn config_files_must_be_small_regular_files() {
    let dir = temp_dir();
    let fifo = dir.path().join("fifo.toml");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let big = dir.path().join("big.toml");
    // Valid TOML, just far too much of it.
    let mut text = weatherd::config::EXAMPLE_TOML.to_string();
    while text.len() <= 1024 * 1024 {
        text.push_str("# padding padding padding padding padding padding padding\n");
    }
    std::fs::write(&big, text).unwrap();
    let db = dir.path().join("w.db");
    for file in [
        fifo.as_path(),
        Path::new("/dev/zero"),
        big.as_path(),
        dir.path(),
    ] {
        let f = file.to_str().unwrap();
        for args in [
            vec!["check-config", f],
            vec![
                "run",
                "--simulate",
                "--config",
                f,
                "--db",
                db.to_str().unwrap(),
            ],
            vec!["query", "--config", f],
            vec!["status", "--config", f, "--db", db.to_str().unwrap()],
        ] {
            let child = Command::new(BIN)
                .args(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            // A FIFO used to hang here, /dev/zero to read 1.5 GB.
            let out = wait_or_kill(child, Duration::from_secs(20));
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(err.contains(f), "{args:?}: names the file: {err}");
            let why = if file == big {
                "1 MiB"
            } else if file == dir.path() {
                "directory"
            } else {
                "not a regular file"
            };
            assert!(err.contains(why), "{args:?}: says {why}: {err}");
        }
    }
    assert!(!db.exists());
}

/// Runs weatherd with stderr captured, for log assertions.
fn logged(args: &[&str], filter: &str) -> (Output, String) {
    let out = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", filter)
        .output()
        .expect("weatherd runs");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, err)
}

#[test]
fn a_station_syncs_every_commit_and_a_replay_does_not() {
    let dir = temp_dir();
    let d = dir.path().join("w.db");
    let d = d.to_str().unwrap();
    // A simulated station at a finite speed is a station: FULL.
    let (out, err) = logged(
        &[
            "run",
            "--simulate",
            "--speed",
            "6000",
            "--start",
            "2026-01-01T00:00:00Z",
            "--duration",
            "2m",
            "--db",
            d,
        ],
        "weatherd=info",
    );
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("synchronous=\"FULL\"") || err.contains("synchronous=FULL"),
        "{err}"
    );
    // A max-speed replay: NORMAL.
    let (out, err) = logged(
        &[
            "run",
            "--simulate",
            "--speed",
            "max",
            "--start",
            "2026-01-02T00:00:00Z",
            "--duration",
            "2m",
            "--db",
            d,
        ],
        "weatherd=info",
    );
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("synchronous=\"NORMAL\"") || err.contains("synchronous=NORMAL"),
        "{err}"
    );
}

/// Reads a child's stderr on a thread: every line, and a channel that receives the
/// lines as they come.
fn collect_stderr(
    child: &mut Child,
) -> (
    std::thread::JoinHandle<String>,
    std::sync::mpsc::Receiver<String>,
) {
    use std::io::{BufRead, BufReader};
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = tx.send(line);
        }
        all
    });
    (reader, rx)
}

/// Starts and ends rows of the archive, read directly.
fn spans(db: &Path) -> Vec<(i64, i64)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT start_ts, end_ts FROM archive ORDER BY id")
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    rows
}

fn assert_contiguous(spans: &[(i64, i64)]) {
    for w in spans.windows(2) {
        assert_eq!(w[0].1, w[1].0, "a gap or overlap between records: {w:?}");
    }
}

/// A `sqlite3` session holding the write lock for longer than the busy timeout: the
/// station keeps the records in memory, `status` shows them waiting, and once the lock
/// is released every record is written, in order. One log line when writing fails,
/// one when it recovers.
#[test]
fn a_held_write_lock_delays_records_but_loses_none() {
    let dir = temp_dir();
    let db = dir.path().join("w.db");
    let d = db.to_str().unwrap().to_string();
    let mut child = Command::new(BIN)
        .args([
            "run",
            "--simulate",
            "--speed",
            "600",
            "--start",
            "2026-01-01T00:00:00Z",
            "--duration",
            "2h",
            "--db",
            &d,
        ])
        .env("RUST_LOG", "weatherd=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (reader, rx) = collect_stderr(&mut child);
    // Wait until the station has stored a few records.
    let mut stored = 0;
    while stored < 3 {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("records stored");
        if line.contains("record stored") {
            stored += 1;
        }
    }
    let lock = rusqlite::Connection::open(&db).unwrap();
    lock.busy_timeout(Duration::from_secs(10)).unwrap();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
    // Held longer than any busy timeout weatherd uses (the old 5 s included). Wait
    // for the station's own report of records waiting rather than for a time.
    let report = weatherd::store::PendingReport::path_for(&db);
    let mut waiting = 0;
    for _ in 0..300 {
        waiting = weatherd::store::PendingReport::read(&db).map_or(0, |p| p.waiting);
        if waiting >= 20 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        waiting >= 20,
        "no records reported waiting in {}",
        report.display()
    );
    std::thread::sleep(Duration::from_secs(6));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the station stopped during the lock"
    );
    let status = ok(&["status", "--db", &d]);
    assert!(
        status.contains("records waiting to be written since"),
        "{status}"
    );
    assert!(status.contains("database is locked"), "{status}");
    lock.execute_batch("COMMIT").unwrap();
    drop(lock);

    let status = child.wait().unwrap();
    let log = reader.join().unwrap();
    assert!(status.success(), "{log}");
    let spans = spans(&db);
    assert_eq!(spans.len(), 120, "every record of two hours");
    assert_contiguous(&spans);
    assert_eq!(
        log.matches("cannot write to the database").count(),
        1,
        "{log}"
    );
    assert_eq!(
        log.matches("the database takes writes again").count(),
        1,
        "{log}"
    );
    assert!(!log.contains("record not stored"), "{log}");
    let end = ok(&["status", "--db", &d]);
    assert!(end.contains("Store: every record written"), "{end}");
}

/// The disk fills during a replay (the kernel's file-size limit refuses writes past a
/// size, as a full disk does): the replay waits for the grace period, then exits
/// non-zero naming how many records were lost, with one log line for the failure; the
/// records stored before are intact.
#[test]
fn a_replay_that_cannot_store_fails_and_says_how_many_records_were_lost() {
    use std::os::unix::process::CommandExt;
    let dir = temp_dir();
    let db = dir.path().join("w.db");
    let mut cmd = Command::new(BIN);
    cmd.args([
        "run",
        "--simulate",
        "--speed",
        "max",
        "--start",
        "2026-01-01T00:00:00Z",
        "--duration",
        "3d",
        "--db",
    ])
    .arg(&db)
    .env("RUST_LOG", "weatherd=info");
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            // Writing past the limit raises SIGXFSZ, which would kill the process;
            // ignored, the write fails with EFBIG, as a full disk fails with ENOSPC.
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: 2 * 1024 * 1024,
                rlim_max: 2 * 1024 * 1024,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = wait_or_kill(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
        Duration::from_secs(300),
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("could not be written to"), "{log}");
    assert!(log.contains("are lost"), "{log}");
    assert_eq!(
        log.matches("cannot write to the database").count(),
        1,
        "{log}"
    );
    assert!(!log.contains("record not stored"), "{log}");
    let spans = spans(&db);
    assert!(
        !spans.is_empty() && spans.len() < 3 * 1440,
        "{}",
        spans.len()
    );
    assert_contiguous(&spans);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    // The message's count is the records not stored since the failure.
    let stored = spans.len();
    assert!(log.contains(&format!("{stored} were stored")), "{log}");
    drop(conn);
    let d = db.to_str().unwrap();
    let status = ok(&["status", "--db", d]);
    assert!(
        status.contains("records could not be written and were lost"),
        "{status}"
    );

    // Space returns: the same command resumes where the database ends and completes.
    ok(&[
        "run",
        "--simulate",
        "--speed",
        "max",
        "--start",
        "2026-01-01T00:00:00Z",
        "--duration",
        "3d",
        "--db",
        d,
    ]);
    let spans = self::spans(&db);
    assert_eq!(spans.len(), 3 * 1440);
    assert_contiguous(&spans);
}
