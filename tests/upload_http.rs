//! The HTTP destination end to end against an in-process server that injects faults.

mod support;

use support::logs::Captured;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;
use support::http_server::{Fault, Server};
use weatherd::config::Config;
use weatherd::upload::http::HttpDestination;
use weatherd::upload::{run_uploader, Common, HttpConfig, Policy};

fn http_config(url: &str, token_file: Option<&Path>) -> HttpConfig {
    HttpConfig {
        name: "school".into(),
        url: url.into(),
        token_file: token_file.map(Path::to_path_buf),
        token_credential: None,
        ca_file: None,
        proxy: None,
        allow_plain_http: false,
        common: Common {
            timeout_seconds: 1,
            batch_size: 50,
            batch_max_age_seconds: 60,
            backoff_initial_seconds: 1,
            backoff_max_seconds: 1,
        },
    }
}

/// The kit's fast policy with this file's longer backoffs.
fn fast_policy(batch_size: usize) -> Policy {
    Policy {
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        ..support::policy::fast(batch_size)
    }
}

fn token_file(dir: &Path, token: &str, mode: u32) -> std::path::PathBuf {
    let path = dir.join("token");
    std::fs::write(&path, format!("{token}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_arrives_once_and_in_order_through_faults() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let mut station = support::db::open(&db);
    support::db::fill(&mut station, 0, 400);

    let server = Server::start(Some("t0ken"));
    // The server starts down (connections refused) and comes up after a while.
    server.set_down(true);
    server.script(|n| match n {
        0 => Fault::Status(500, None),
        1 => Fault::Close,
        2 => Fault::Status(429, Some("1")),
        3 => Fault::StoreThenCut,
        4 => Fault::StoreThenHang,
        5 => Fault::Slow(Duration::from_millis(300)),
        6 => Fault::Status(503, Some("0")),
        7 => Fault::Status(502, None),
        9 => Fault::StoreThenCut,
        _ => Fault::None,
    });
    let token = token_file(dir.path(), "t0ken", 0o600);
    let dest = HttpDestination::new(&http_config(&server.url(), Some(&token)), "test").unwrap();
    let (wake_tx, wake_rx) = tokio::sync::watch::channel(0i64);
    let uploader = tokio::spawn(run_uploader(
        "school".into(),
        "test-station".into(),
        support::db::outbox(&db),
        dest,
        fast_policy(50),
        Some(wake_rx),
        {
            let db = db.clone();
            async move {
                // Stop once the cursor has reached the last record.
                let probe = support::db::open(&db);
                while probe.upload_cursor("school").unwrap() < 600 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        },
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.set_down(false);
    // New records keep arriving while the backlog drains.
    for chunk in 0..10 {
        let ids = support::db::fill(&mut station, 400 + chunk * 20, 420 + chunk * 20);
        wake_tx.send_replace(*ids.last().unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let summary = tokio::time::timeout(Duration::from_secs(120), uploader)
        .await
        .expect("the uploader finishes")
        .unwrap()
        .unwrap();

    server.with(|r| {
        assert_eq!(
            r.ids,
            (1..=600).collect::<Vec<i64>>(),
            "all records, in order"
        );
        assert!(
            r.duplicates > 0,
            "cut and hung answers made the client re-send"
        );
        assert_eq!(r.unauthorized, 0);
        assert!(r.bad_requests.is_empty(), "{:?}", r.bad_requests);
        assert_eq!(r.station.as_deref(), Some("test-station"));
        let first = &r.records[&1];
        assert_eq!(first["start"], "2025-01-01T00:00:00Z");
        assert_eq!(first["temperature_c"], 5.0);
        assert!(first["pressure_hpa"].is_null());
        assert_eq!(first["rain_mm"], 0.2794);
    });
    assert!(server.requests() > 12, "the faults were exercised");
    assert_eq!(summary.cursor, 600);
    assert!(summary.failures >= 9, "{summary:?}");
    let status = station.upload_status("school").unwrap();
    assert_eq!(status.cursor, 600);
    assert_eq!(status.backlog, 0);
    assert_eq!(status.state.as_deref(), Some("ok"));
    assert!(status.last_success.is_some());
    assert!(
        status.last_error.is_some(),
        "the last failure is kept for status"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn unauthorized_stops_the_destination_once_and_status_says_why() {
    let logs = Captured::default();
    let _guard = logs.install();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let mut station = support::db::open(&db);
    support::db::fill(&mut station, 0, 120);
    let server = Server::start(Some("right"));
    let token = token_file(dir.path(), "wrong", 0o600);
    let dest = HttpDestination::new(&http_config(&server.url(), Some(&token)), "test").unwrap();
    let summary = tokio::time::timeout(
        Duration::from_secs(30),
        run_uploader(
            "school".into(),
            "test".into(),
            support::db::outbox(&db),
            dest,
            fast_policy(50),
            None,
            std::future::pending::<()>(),
        ),
    )
    .await
    .expect("a permanent error ends the uploader by itself")
    .unwrap();

    let reason = summary.stopped.expect("stopped");
    assert!(reason.contains("HTTP 401"), "{reason}");
    assert_eq!(server.requests(), 1, "no retry loop after a 401");
    let status = station.upload_status("school").unwrap();
    assert!(
        status
            .state
            .as_deref()
            .unwrap()
            .starts_with("stopped: HTTP 401"),
        "{status:?}"
    );
    assert_eq!(status.cursor, 0);
    assert_eq!(status.backlog, 120);
    let text = logs.text();
    let errors: Vec<&str> = text.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{text}");
    assert!(
        errors[0].contains("upload stopped") && errors[0].contains("401"),
        "{text}"
    );
    assert!(!text.contains("wrong"), "the token is never logged: {text}");

    // `weatherd status` shows it too.
    drop(station);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weatherd"))
        .args(["status", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("school"), "{stdout}");
    assert!(
        stdout.contains("state:        stopped: HTTP 401"),
        "{stdout}"
    );
    assert!(
        stdout.contains("backlog:      120 records, oldest starts 2025-01-01T00:00:00Z"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_group_readable_token_file_is_refused_and_the_station_runs_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let mut station = support::db::open(&db);
    support::db::fill(&mut station, 0, 3);
    let token = token_file(dir.path(), "t0ken", 0o644);
    let server = Server::start(Some("t0ken"));
    let config = Config::from_toml(&format!(
        r#"
[station]
name = "Test"
latitude = 51.0
longitude = 0.0

[[upload]]
type = "http"
name = "school"
url = "{}"
token_file = "{}"

[[upload]]
type = "http"
name = "open"
url = "{}"
"#,
        server.url(),
        token.display(),
        server.url()
    ))
    .unwrap();
    let uploads = weatherd::upload::spawn_all(&config, &db, Duration::from_secs(1));
    assert_eq!(
        uploads.len(),
        1,
        "only the destination without a token file runs"
    );
    let status = station.upload_status("school").unwrap();
    let state = status.state.unwrap();
    assert!(state.starts_with("stopped: "), "{state}");
    assert!(state.contains("mode 0644"), "{state}");
    assert!(
        state.contains(&format!("chmod 600 {}", token.display())),
        "{state}"
    );
    assert!(!state.contains("t0ken"));
    // The other destination delivers (the server refuses it: no token, so 401).
    uploads.notify(3);
    for _ in 0..200 {
        if station.upload_status("open").unwrap().state.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    uploads.shutdown(Duration::from_secs(1)).await;
    let open = station.upload_status("open").unwrap();
    assert!(open.state.unwrap().contains("401"));
}

#[test]
fn the_bearer_token_can_come_from_a_systemd_credential() {
    // The only test in this binary that sets the variable.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("upload-token"), "cr3d\n").unwrap();
    std::env::set_var("CREDENTIALS_DIRECTORY", dir.path());
    let server = Server::start(Some("cr3d"));
    let mut config = http_config(&server.url(), None);
    config.token_credential = Some("upload-token".into());
    let mut dest = HttpDestination::new(&config, "t").unwrap();
    let batch = weatherd::upload::Batch {
        station_id: "t".into(),
        records: vec![(1, support::records::record(0))],
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    use weatherd::upload::Destination;
    rt.block_on(dest.deliver(&batch)).unwrap();
    assert_eq!(server.with(|r| r.ids.clone()), vec![1]);
    config.token_credential = Some("missing".into());
    let err = HttpDestination::new(&config, "t").unwrap_err();
    assert!(
        matches!(
            err,
            weatherd::upload::SetupError::CredentialUnreadable { .. }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("missing"), "{err}");
    assert!(text.contains("LoadCredential="), "the fix is named: {err}");
}
