//! Delivery promises under trouble: the same batch (and key) until it is
//! acknowledged, a bounded shutdown against a hung server, database errors and stalls
//! that are retried and reported, and a replay that delivers its whole backlog.

mod support;

use support::logs::Captured;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::http_server::{Fault, Server};
use weatherd::time::Timestamp;
use weatherd::upload::http::HttpDestination;
use weatherd::upload::outbox::run_uploader_draining;
use weatherd::upload::{run_uploader, Batch, Common, DeliveryError, Destination, HttpConfig};

const BIN: &str = env!("CARGO_BIN_EXE_weatherd");
const PROXY_VARIABLES: [&str; 6] = [
    "ALL_PROXY",
    "all_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
];

fn http_config(url: &str) -> HttpConfig {
    HttpConfig {
        name: "school".into(),
        url: url.into(),
        token_file: None,
        token_credential: None,
        ca_file: None,
        proxy: None,
        allow_plain_http: false,
        common: Common {
            timeout_seconds: 5,
            batch_size: 50,
            batch_max_age_seconds: 60,
            backoff_initial_seconds: 1,
            backoff_max_seconds: 1,
        },
    }
}

/// A weatherd command with no proxy from the environment (loopback plain http is
/// refused through a proxy).
fn weatherd() -> Command {
    let mut c = Command::new(BIN);
    for v in PROXY_VARIABLES {
        c.env_remove(v);
    }
    c
}

/// The example config plus one HTTP destination.
fn write_config(dir: &Path, upload: &str) -> PathBuf {
    let path = dir.join("weatherd.toml");
    let text = format!(
        "{}\n[[upload]]\ntype = \"http\"\nname = \"school\"\n{upload}\n",
        weatherd::config::EXAMPLE_TOML
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Item 7: a server that stores a batch and then fails its answer (500, or a dropped
/// connection) must get that very batch again, under the same key, even though more
/// records arrived meanwhile; a server that drops repeats by key only then stores
/// every record exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_resends_the_same_batch_under_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let mut station = support::db::open(&db);
    support::db::fill(&mut station, 0, 5);

    let server = Server::start_key_only(None);
    // About a third of the answers fail after the batch was stored.
    server.script(|n| match n % 10 {
        0 | 4 => Fault::StoreThenFail(500),
        7 => Fault::StoreThenClose,
        _ => Fault::None,
    });
    let dest = HttpDestination::new(&http_config(&server.url()), "x").unwrap();
    let (wake_tx, wake_rx) = tokio::sync::watch::channel(0i64);
    let total = 5 + 40 * 5;
    let uploader = tokio::spawn(run_uploader(
        "school".into(),
        "station".into(),
        support::db::outbox(&db),
        dest,
        support::policy::fast(50),
        Some(wake_rx),
        {
            let db = db.clone();
            async move {
                let probe = support::db::open(&db);
                while probe.upload_cursor("school").unwrap() < total {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        },
    ));
    // Records keep arriving between the retries, so a re-read batch would have grown.
    for chunk in 0..40 {
        let ids = support::db::fill(&mut station, 5 + chunk * 5, 10 + chunk * 5);
        wake_tx.send_replace(*ids.last().unwrap());
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    let summary = tokio::time::timeout(Duration::from_secs(120), uploader)
        .await
        .expect("the uploader finishes")
        .unwrap()
        .unwrap();
    assert_eq!(summary.cursor, total);
    assert!(
        summary.failures >= 3,
        "the faults were exercised: {summary:?}"
    );
    server.with(|r| {
        assert_eq!(
            r.ids,
            (1..=total).collect::<Vec<i64>>(),
            "every record, in order"
        );
        let twice: Vec<(&i64, &u32)> = r.copies.iter().filter(|(_, n)| **n != 1).collect();
        assert!(twice.is_empty(), "records stored more than once: {twice:?}");
        assert!(r.bad_requests.is_empty(), "{:?}", r.bad_requests);
    });
}

/// Item 7 across a restart: the batch sent before the uploader was stopped goes again
/// exactly (same ids, same key), though the outbox grew meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_the_unacknowledged_batch_keeps_its_key() {
    #[derive(Clone, Default)]
    struct Keys(Arc<Mutex<Vec<String>>>, Arc<AtomicU64>);
    impl Destination for Keys {
        async fn deliver(&mut self, batch: &Batch) -> Result<(), DeliveryError> {
            self.0
                .lock()
                .unwrap()
                .push(weatherd::upload::payload::idempotency_key(batch));
            // The first attempt "stores" but never hears back.
            if self.1.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err(DeliveryError::Transient {
                    message: "connection reset".into(),
                    retry_after: None,
                });
            }
            Ok(())
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let mut station = support::db::open(&db);
    support::db::fill(&mut station, 0, 3);
    let keys = Keys::default();
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let mut policy = support::policy::fast(50);
    policy.backoff_initial = Duration::from_secs(3600);
    policy.backoff_max = Duration::from_secs(3600);
    let first = tokio::spawn(run_uploader(
        "school".into(),
        "s".into(),
        support::db::outbox(&db),
        keys.clone(),
        policy,
        None,
        async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        },
    ));
    while keys.1.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop_tx.send_replace(true);
    first.await.unwrap().unwrap();
    // More records arrive before the restart.
    support::db::fill(&mut station, 3, 10);
    let probe = support::db::open(&db);
    let second = run_uploader(
        "school".into(),
        "s".into(),
        support::db::outbox(&db),
        keys.clone(),
        support::policy::fast(50),
        None,
        async move {
            while probe.upload_cursor("school").unwrap() < 10 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        },
    );
    tokio::time::timeout(Duration::from_secs(60), second)
        .await
        .expect("finishes")
        .unwrap();
    let keys = keys.0.lock().unwrap().clone();
    assert_eq!(keys, ["s:1-3", "s:1-3", "s:4-10"], "{keys:?}");
}

/// A server that accepts connections and reads requests but never answers.
fn hung_server() -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/ingest", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicU64::new(0));
    let seen = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut counted = false;
                // Read whatever comes, answer nothing, keep the socket open.
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if !counted {
                        seen.fetch_add(1, Ordering::SeqCst);
                        counted = true;
                    }
                }
            });
        }
    });
    (url, requests)
}

/// Item 8: after SIGTERM, a request hanging on a server that never answers is
/// abandoned after the grace period: the daemon exits (here `timeout_seconds` is an
/// hour, so a daemon that waited for it would outlive the test's deadline) and the
/// record stays unacknowledged, to be sent next run.
#[test]
fn sigterm_with_a_hung_server_exits_and_keeps_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let (url, requests) = hung_server();
    let config = write_config(
        dir.path(),
        &format!("url = \"{url}\"\ntimeout_seconds = 3600\nbatch_max_age_seconds = 0"),
    );
    let mut child = weatherd()
        .args([
            "run",
            "--simulate",
            "--speed",
            "60",
            "--start",
            "2025-01-01T00:00:00Z",
        ])
        .arg("--config")
        .arg(&config)
        .arg("--db")
        .arg(&db)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while requests.load(Ordering::SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon never sent a request"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the daemon ended early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    // Generous: the point is that it exits at all, not how fast.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("weatherd did not exit after SIGTERM while a request hung");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status:?} {stderr}");
    let store = support::db::open(&db);
    let status = store.upload_status("school").unwrap();
    assert_eq!(status.cursor, 0, "nothing was acknowledged");
    assert!(status.backlog >= 1, "the records wait for the next run");
}

/// Item 9: a database error (a write lock another program holds past the busy
/// timeout) does not end the uploader: it is logged, retried with backoff, and
/// delivery resumes when the lock goes.
// One thread, so the captured log sees the uploader.
#[tokio::test(flavor = "current_thread")]
async fn a_transient_database_error_is_retried_not_fatal() {
    let logs = Captured::default();
    let _guard = logs.install();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let mut station = support::db::open(&db);
    support::db::fill(&mut station, 0, 20);
    drop(station);
    // Another program (a student's sqlite3) holds the write lock for longer than the
    // store's busy timeout.
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let holder = {
        let db = db.clone();
        std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(&db).unwrap();
            conn.execute_batch("BEGIN IMMEDIATE").unwrap();
            locked_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_secs(7));
            conn.execute_batch("COMMIT").unwrap();
        })
    };
    locked_rx.recv().unwrap();
    let server = Server::start(None);
    let dest = HttpDestination::new(&http_config(&server.url()), "x").unwrap();
    let probe = support::db::open(&db);
    let uploader = tokio::spawn(run_uploader(
        "school".into(),
        "s".into(),
        support::db::outbox(&db),
        dest,
        support::policy::fast(50),
        None,
        async move {
            while probe.upload_cursor("school").unwrap() < 20 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        },
    ));
    let summary = tokio::time::timeout(Duration::from_secs(120), uploader)
        .await
        .expect("the uploader finishes")
        .unwrap()
        .expect("a database error does not end the uploader");
    holder.join().unwrap();
    assert_eq!(summary.cursor, 20);
    assert!(summary.stalls >= 1, "{summary:?}");
    assert_eq!(server.count(), 20);
    let text = logs.text();
    assert!(text.contains("upload stalled"), "{text}");
    assert!(text.contains("database error"), "{text}");
    assert!(text.contains("upload stall cleared"), "{text}");
    let status = support::db::open(&db).upload_status("school").unwrap();
    assert_eq!(status.state.as_deref(), Some("ok"));
}

/// Waits (up to a minute) until the destination's recorded state is a stall.
async fn wait_for_stall(station: &weatherd::store::Reader, destination: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let state = station.upload_status(destination).unwrap().state;
        if state
            .as_deref()
            .is_some_and(|s| s.starts_with("stalled since "))
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no stall recorded: {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn status_text(db: &Path) -> String {
    let out = weatherd()
        .args(["status", "--db"])
        .arg(db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Item 9: a cursor beyond the newest record (a database restored from an older
/// backup) is a stall that the log and `status` name, with the fix; records stored
/// next are held back (not sent under ids the server already has), and once the
/// cursor is set back they go out.
// One thread, so the captured log sees the uploader.
#[tokio::test(flavor = "current_thread")]
async fn a_cursor_beyond_the_newest_record_is_reported_with_the_fix() {
    let logs = Captured::default();
    let _guard = logs.install();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let mut station = support::db::open(&db);
    support::db::fill(&mut station, 0, 10);
    support::db::outbox(&db)
        .set_upload_cursor("school", 50)
        .unwrap();

    // `status` sees it from the database alone.
    let text = status_text(&db);
    assert!(text.contains("stalled:"), "{text}");
    assert!(text.contains("cursor is at record 50"), "{text}");
    assert!(text.contains("newest stored record is 10"), "{text}");
    assert!(
        text.contains("UPDATE state SET value = 10 WHERE key = 'upload_cursor.school'"),
        "{text}"
    );

    let server = Server::start(None);
    let dest = HttpDestination::new(&http_config(&server.url()), "x").unwrap();
    let probe = support::db::open(&db);
    let uploader = tokio::spawn(run_uploader(
        "school".into(),
        "s".into(),
        support::db::outbox(&db),
        dest,
        support::policy::fast(50),
        None,
        async move {
            loop {
                let s = probe.upload_status("school").unwrap();
                if s.cursor == 15 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        },
    ));
    // The uploader stalls and says so in the state `status` prints.
    wait_for_stall(&station, "school").await;
    let text = status_text(&db);
    assert!(text.contains("state:        stalled since "), "{text}");
    // Records stored now reuse ids 11..15, which the server already had: held back.
    support::db::fill(&mut station, 10, 15);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.count(), 0, "nothing sent while the cursor is ahead");
    // The operator takes the fix (the server has nothing after 10).
    support::db::outbox(&db)
        .set_upload_cursor("school", 10)
        .unwrap();
    let summary = tokio::time::timeout(Duration::from_secs(60), uploader)
        .await
        .expect("resumes")
        .unwrap()
        .unwrap();
    assert_eq!(summary.cursor, 15);
    server.with(|r| assert_eq!(r.ids, (11..=15).collect::<Vec<i64>>()));
    let text = logs.text();
    let stalls: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("upload stalled"))
        .collect();
    assert_eq!(stalls.len(), 1, "logged once, not per retry: {text}");
    assert!(stalls[0].contains("cursor is at record 50"), "{text}");
}

/// Item 9: a row that cannot be read (a hand-edited value of the wrong type) stops the
/// destination at that row, with the records before it delivered, and `status` and
/// the log say which row and why.
// One thread, so the captured log sees the uploader.
#[tokio::test(flavor = "current_thread")]
async fn an_unreadable_row_is_reported_and_the_records_before_it_go_out() {
    let logs = Captured::default();
    let _guard = logs.install();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let mut station = support::db::open(&db);
    support::db::fill(&mut station, 0, 10);
    let raw = rusqlite::Connection::open(&db).unwrap();
    raw.execute("UPDATE archive SET temperature_c = 'warm' WHERE id = 6", [])
        .unwrap();

    let server = Server::start(None);
    let dest = HttpDestination::new(&http_config(&server.url()), "x").unwrap();
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let uploader = tokio::spawn(run_uploader(
        "school".into(),
        "s".into(),
        support::db::outbox(&db),
        dest,
        support::policy::fast(50),
        None,
        async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        },
    ));
    wait_for_stall(&station, "school").await;
    server.with(|r| assert_eq!(r.ids, (1..=5).collect::<Vec<i64>>()));
    let text = status_text(&db);
    assert!(text.contains("the record after id 5"), "{text}");
    assert!(text.contains("cannot be read"), "{text}");
    // Repaired, it goes out with the rest.
    raw.execute("UPDATE archive SET temperature_c = 5.0 WHERE id = 6", [])
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while station.upload_cursor("school").unwrap() < 10 {
        assert!(std::time::Instant::now() < deadline, "never resumed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop_tx.send_replace(true);
    uploader.await.unwrap().unwrap();
    server.with(|r| assert_eq!(r.ids, (1..=10).collect::<Vec<i64>>()));
    let text = logs.text();
    assert!(text.contains("upload stalled"), "{text}");
    assert!(text.contains("cannot be read"), "{text}");
}

/// Item 11: one `--speed max` replay of a day against a healthy server delivers every
/// record before it exits: the uploader runs during the replay and drains at the end.
#[test]
fn a_replay_delivers_its_whole_backlog_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let server = Server::start(None);
    let config = write_config(dir.path(), &format!("url = \"{}\"", server.url()));
    let out = weatherd()
        .args(["run", "--simulate", "--speed", "max", "--duration", "1d"])
        .args(["--start", "2025-01-01T00:00:00Z", "--config"])
        .arg(&config)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = support::db::open(&db);
    assert_eq!(store.record_count().unwrap(), 1440);
    server.with(|r| {
        assert_eq!(
            r.ids,
            (1..=1440).collect::<Vec<i64>>(),
            "every record, once"
        );
    });
    assert_eq!(store.upload_status("school").unwrap().backlog, 0);
}

/// A drain asked of an uploader whose partial batch is young sends it at once and
/// returns when everything is acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_sends_partial_batches_and_returns_when_done() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let mut station = support::db::open(&db);
    support::db::fill(&mut station, 0, 7);
    let server = Server::start(None);
    let dest = HttpDestination::new(&http_config(&server.url()), "x").unwrap();
    let mut policy = support::policy::fast(50);
    // Records this young would wait an hour for more to fill the batch.
    policy.batch_max_age = Duration::from_secs(3600);
    policy.wall_clock = || Timestamp::from_secs(support::records::BASE);
    let (drain_tx, drain_rx) = tokio::sync::watch::channel(false);
    let uploader = tokio::spawn(run_uploader_draining(
        "school".into(),
        "s".into(),
        support::db::outbox(&db),
        dest,
        policy,
        None,
        Some(drain_rx),
        std::future::pending::<()>(),
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.count(), 0, "a young partial batch waits");
    drain_tx.send_replace(true);
    let summary = tokio::time::timeout(Duration::from_secs(60), uploader)
        .await
        .expect("the drain ends")
        .unwrap();
    assert!(summary.drained);
    assert_eq!(summary.cursor, 7);
    assert_eq!(server.count(), 7);
}
