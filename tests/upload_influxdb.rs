//! The influxdb destination end to end against real servers that each test starts on
//! its own ports: VictoriaMetrics (through the v2 write API, with a token) and
//! InfluxDB 1.x (through the v1 API, with basic auth). Three simulated days run in the
//! real daemon with the server stopped and restarted mid-run and the daemon killed
//! with SIGKILL twice; then the server is queried back and must hold every record of
//! the database exactly once, with the database's values. Without the servers these
//! tests fail: `apt-get install victoria-metrics influxdb` (scripts/test does).

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;
use support::tsdb::{Kind, Tsdb};
use weatherd::record::{Access, ArchiveRecord, COLUMNS};
use weatherd::store::Store;

const START: &str = "2025-03-01T00:00:00Z";
const STATION: &str = "school-weather-station";
/// Simulated days: at `--speed max` a day passes in about a second, and a server
/// restart takes about as long, so three days leave every kill point a run to land in.
const DAYS: usize = 3;
/// VictoriaMetrics keeps 12 significant decimal digits of a float (its documented
/// precision), so `1006.2056681810062` reads back as `1006.20566818`.
const VM_PRECISION: f64 = 1e-11;

/// How often the daemon said its upload failed (its own log lines).
#[derive(Default)]
struct Outages {
    failing: AtomicUsize,
}

/// Lines of the child's stderr that say a record was stored, as they come; the
/// daemon's "upload failing" lines are counted in `outages`.
fn stored_lines(child: &mut Child, outages: Arc<Outages>) -> mpsc::Receiver<()> {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("record stored") {
                let _ = tx.send(());
            } else if line.contains("upload failing") {
                outages.failing.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    rx
}

fn wait_stored(rx: &mpsc::Receiver<()>, n: usize, what: &str) {
    for _ in 0..n {
        rx.recv_timeout(Duration::from_secs(300))
            .unwrap_or_else(|e| panic!("{what}: fewer than {n} records stored: {e}"));
    }
}

fn private_file(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// `DAYS` simulated days through `upload` (an `[[upload]]` table's keys after `type`):
/// the server stopped for a while during the first run, which is then killed; a
/// second run killed too; a last run to the end of the day, draining the outbox.
/// Returns the database's records.
fn simulated_day(server: &mut Tsdb, dir: &Path, upload: &str) -> Vec<(i64, ArchiveRecord)> {
    let db = dir.join("w.db");
    let config = dir.join("weatherd.toml");
    let text = format!(
        "{}\n[[upload]]\ntype = \"influxdb\"\nname = \"tsdb\"\nurl = \"{}\"\n{upload}\
         batch_size = 40\nbatch_max_age_seconds = 0\nbackoff_initial_seconds = 1\n\
         backoff_max_seconds = 1\ntimeout_seconds = 5\n",
        weatherd::config::EXAMPLE_TOML,
        server.url(),
    );
    std::fs::write(&config, text).unwrap();
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_weatherd"))
            .args(["run", "--simulate", "--speed", "max", "--start", START])
            .args(["--duration", &format!("{DAYS}d"), "--drain-timeout", "120s"])
            .arg("--config")
            .arg(&config)
            .arg("--db")
            .arg(&db)
            .env("RUST_LOG", "weatherd=debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start weatherd")
    };
    // Run 1: an outage in the middle (the server killed, so requests are refused or
    // cut), then the server back, then SIGKILL.
    let outages = Arc::new(Outages::default());
    let mut child = run();
    let stored = stored_lines(&mut child, outages.clone());
    wait_stored(&stored, 200, "run 1");
    server.stop();
    wait_stored(&stored, 200, "run 1 during the outage");
    server.restart();
    wait_stored(&stored, 100, "run 1 after the outage");
    // The daemon felt the outage (its own log says so): the outage's records went
    // as a backlog, after the restart or in the next run.
    assert!(
        outages.failing.load(Ordering::SeqCst) >= 1,
        "no failed upload during the outage"
    );
    assert!(child.try_wait().unwrap().is_none(), "run 1 ended early");
    child.kill().unwrap();
    child.wait().unwrap();
    // Run 2: killed while it catches up and stores.
    let mut child = run();
    let stored = stored_lines(&mut child, outages.clone());
    wait_stored(&stored, 150, "run 2");
    assert!(child.try_wait().unwrap().is_none(), "run 2 ended early");
    child.kill().unwrap();
    child.wait().unwrap();
    // Run 3: to the end of the day; the drain sends what is left.
    let mut child = run();
    drop(stored_lines(&mut child, outages.clone()));
    assert!(child.wait().unwrap().success(), "the last run failed");

    let reader = Store::open_read_only(&db).expect("open the database");
    let records = reader.records_after(0, 100_000).unwrap();
    assert!(records.len() >= DAYS * 1440, "{} records", records.len());
    assert_eq!(
        reader.upload_cursor("tsdb").unwrap(),
        records.last().unwrap().0,
        "the outbox drained: every record acknowledged"
    );
    records
}

/// What the server should hold for one record: field → value.
fn expected_fields(id: i64, r: &ArchiveRecord) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    m.insert("record_id".to_string(), id as f64);
    for c in COLUMNS {
        match c.access {
            Access::Real { get, .. } => {
                if let Some(v) = get(r).filter(|v| v.is_finite()) {
                    m.insert(c.name.to_string(), v);
                }
            }
            Access::Count { get, .. } => {
                m.insert(c.name.to_string(), f64::from(get(r)));
            }
        }
    }
    for (name, s) in &r.extras {
        for (key, v) in [
            (name.to_string(), s.value),
            (format!("{name}_min"), s.min),
            (format!("{name}_max"), s.max),
        ] {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                m.insert(key, v);
            }
        }
        m.insert(format!("{name}_n"), f64::from(s.n));
    }
    m
}

fn close(a: f64, b: f64, relative: f64) -> bool {
    a == b || (a - b).abs() <= relative * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn victoria_metrics_gets_every_record_once_through_outages_and_kills() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Tsdb::start(Kind::VictoriaMetrics);
    let token = dir.path().join("token");
    private_file(&token, "vm-t0ken\n");
    let upload = format!(
        "org = \"school\"\nbucket = \"weather\"\ntoken_file = \"{}\"\n",
        token.display()
    );
    let records = simulated_day(&mut server, dir.path(), &upload);

    // (record start in s, field) → every value stored there.
    let mut got: BTreeMap<(i64, String), Vec<f64>> = BTreeMap::new();
    for (labels, points) in server.vm_export("{__name__=~\"weather_.*\"}") {
        assert_eq!(labels["station"], STATION, "{labels}");
        let name = labels["__name__"].as_str().unwrap();
        let field = name.strip_prefix("weather_").unwrap().to_string();
        for (ms, v) in points {
            assert_eq!(ms % 1000, 0, "whole seconds");
            got.entry((ms / 1000, field.clone())).or_default().push(v);
        }
    }
    let mut want_points = 0;
    for (id, r) in &records {
        for (field, want) in expected_fields(*id, r) {
            want_points += 1;
            let key = (r.start.secs(), field);
            let values = got.get(&key).unwrap_or_else(|| {
                let near: Vec<_> = got.keys().filter(|k| k.0 == key.0).collect();
                let first: Vec<_> = got.keys().take(3).collect();
                panic!("missing {key:?}; at that time: {near:?}; first: {first:?}")
            });
            assert_eq!(values.len(), 1, "{key:?} stored {} times", values.len());
            assert!(
                close(values[0], want, VM_PRECISION),
                "{key:?}: {} != {want}",
                values[0]
            );
        }
    }
    assert_eq!(
        got.len(),
        want_points,
        "no sample the database does not have"
    );
    assert!(
        server.log().is_empty() || !server.log().contains("cannot parse"),
        "{}",
        server.log()
    );
    eprintln!(
        "{} records, {want_points} samples, each once",
        records.len()
    );
}

#[test]
fn influxdb_1_gets_every_record_once_through_outages_and_kills() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Tsdb::start(Kind::Influx1);
    let credentials = dir.path().join("influx-credentials");
    private_file(
        &credentials,
        &format!(
            "{}\n{}\n",
            support::tsdb::INFLUX_USER,
            support::tsdb::INFLUX_PASSWORD
        ),
    );
    let upload = format!(
        "api = \"v1\"\ndatabase = \"{}\"\ncredentials_file = \"{}\"\n",
        support::tsdb::INFLUX_DB,
        credentials.display()
    );
    let records = simulated_day(&mut server, dir.path(), &upload);

    let answer = server.influx_query("SELECT * FROM weather", Some(support::tsdb::INFLUX_DB));
    let series = &answer["results"][0]["series"][0];
    let columns: Vec<&str> = series["columns"]
        .as_array()
        .expect("a series")
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let rows = series["values"].as_array().unwrap();
    assert_eq!(rows.len(), records.len(), "one point per record");
    let mut by_time: BTreeMap<i64, &Vec<serde_json::Value>> = BTreeMap::new();
    for row in rows {
        let row = row.as_array().unwrap();
        by_time.insert(row[0].as_i64().unwrap(), row);
    }
    assert_eq!(by_time.len(), records.len(), "one point per timestamp");
    let at = |name: &str| columns.iter().position(|c| *c == name).unwrap();
    for (id, r) in &records {
        let row = by_time
            .get(&r.start.secs())
            .unwrap_or_else(|| panic!("record {id} missing"));
        assert_eq!(row[at("station")], STATION);
        let want = expected_fields(*id, r);
        for (i, column) in columns.iter().enumerate() {
            if matches!(*column, "time" | "station") {
                continue;
            }
            match want.get(*column) {
                // InfluxDB 1.x reads the text back 1 ulp off now and then.
                Some(w) => assert!(
                    row[i].as_f64().is_some_and(|g| close(g, *w, 1e-14)),
                    "record {id} {column}: {} != {w}",
                    row[i]
                ),
                None => assert!(row[i].is_null(), "record {id} {column}: {}", row[i]),
            }
        }
        for field in want.keys() {
            assert!(columns.contains(&field.as_str()), "{field} not stored");
        }
    }
    // Counts are integers on the server (`i`), measurements floats.
    let types = server.influx_query(
        "SHOW FIELD KEYS FROM weather",
        Some(support::tsdb::INFLUX_DB),
    );
    let types = &types["results"][0]["series"][0]["values"];
    let type_of = |f: &str| {
        types
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v[0] == f)
            .map(|v| v[1].as_str().unwrap().to_string())
    };
    assert_eq!(type_of("temperature_n").as_deref(), Some("integer"));
    assert_eq!(type_of("record_id").as_deref(), Some("integer"));
    assert_eq!(type_of("temperature_c").as_deref(), Some("float"));
}

#[test]
fn a_wrong_password_stops_the_destination_with_the_servers_reason() {
    let dir = tempfile::tempdir().unwrap();
    let server = Tsdb::start(Kind::Influx1);
    let credentials = dir.path().join("bad");
    private_file(&credentials, "weather\nwr0ng-pa55\n");
    let config = weatherd::upload::influxdb::InfluxConfig::from_toml(&format!(
        "name = \"i\"\napi = \"v1\"\nurl = \"{}\"\ndatabase = \"weather\"\ncredentials_file = \"{}\"\n",
        server.url(),
        credentials.display()
    ))
    .unwrap();
    let mut dest = weatherd::upload::influxdb::InfluxDestination::new(&config).unwrap();
    let batch = weatherd::upload::Batch {
        station_id: "x".into(),
        records: vec![(1, ArchiveRecord::default())],
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    use weatherd::upload::{DeliveryError, Destination};
    match rt.block_on(dest.deliver(&batch)) {
        Err(DeliveryError::Permanent { message }) => {
            assert!(message.starts_with("HTTP 401"), "{message}");
            // InfluxDB's reason is `{"error":"authorization failed"}`; the redaction
            // takes what follows the word "authorization" out, as for any server.
            assert!(message.contains("{\"error\":"), "{message}");
            assert!(message.contains("credentials_file"), "{message}");
            assert!(!message.contains("wr0ng-pa55"), "{message}");
        }
        other => panic!("expected a permanent refusal, got {other:?}"),
    }
    // A server that is down is worth retrying.
    drop(server);
    assert!(matches!(
        rt.block_on(dest.deliver(&batch)),
        Err(DeliveryError::Transient { .. })
    ));
}

#[test]
fn config_mistakes_are_named_by_key() {
    let check = |table: &str| -> Vec<String> {
        let text = format!(
            "{}\n[[upload]]\ntype = \"influxdb\"\nname = \"i\"\n{table}",
            weatherd::config::EXAMPLE_TOML
        );
        match weatherd::config::Config::from_toml_all(&text) {
            Ok(_) => Vec::new(),
            Err(errors) => errors
                .iter()
                .map(|e| format!("{}: {}", e.path, e.message))
                .collect(),
        }
    };
    let ok = "url = \"https://db.example.org\"\nbucket = \"w\"\n";
    assert_eq!(check(ok), Vec::<String>::new());
    let errs = check("url = \"https://db.example.org\"\napi = \"v1\"\nbucket = \"w\"\n");
    assert!(
        errs.iter()
            .any(|e| e.starts_with("upload[0].database: is required")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("upload[0].bucket: is for api = \"v2\"")),
        "{errs:?}"
    );
    let errs = check("url = \"http://db.example.org\"\nbucket = \"w\"\n");
    assert!(
        errs.iter()
            .any(|e| e.starts_with("upload[0].url: plain http://")),
        "{errs:?}"
    );
    let errs =
        check("url = \"https://db.example.org?x=1\"\nbucket = \"w\"\nmeasurement = \"_w\"\n");
    assert!(
        errs.iter().any(|e| e.starts_with("upload[0].url:")),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(|e| e.starts_with("upload[0].measurement:")),
        "{errs:?}"
    );
    let errs = check(&format!("{ok}api = \"v3\"\n"));
    assert!(errs.iter().any(|e| e.contains("api")), "{errs:?}");
    let errs = check(&format!(
        "{ok}token_file = \"/a\"\ntoken_credential = \"b\"\n"
    ));
    assert!(
        errs.iter()
            .any(|e| e.starts_with("upload[0].token_credential: give either")),
        "{errs:?}"
    );
}
