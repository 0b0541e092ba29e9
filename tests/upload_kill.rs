//! The real daemon killed with SIGKILL at fixed points while it simulates and uploads,
//! then restarted: the server ends up with every record, in order, none lost.
//!
//! The kill points do not depend on the machine's speed: every kill waits for a state
//! the test can see (the daemon's own "record stored" log lines, or the server holding
//! a stored batch it has not answered), so the number of kills is fixed and each lands
//! where intended:
//! - while records are being written (after the run's 200th stored record);
//! - between "the server stored the batch" and "the cursor advanced" (the server
//!   stores a batch and does not answer; the daemon is killed while it waits).

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;
use support::http_server::{Fault, Server};
use weatherd::upload::http::HttpDestination;
use weatherd::upload::{run_uploader, Common, HttpConfig, Policy};

const START: &str = "2025-01-01T00:00:00Z";
const DAYS: i64 = 3;

/// Where a run is killed.
#[derive(Clone, Copy, Debug)]
enum KillPoint {
    /// After this many records were stored by the run.
    Stored(usize),
    /// While the server holds a batch it stored but has not acknowledged.
    StoredNotAcknowledged,
}

const KILLS: [KillPoint; 6] = [
    KillPoint::Stored(200),
    KillPoint::StoredNotAcknowledged,
    KillPoint::Stored(200),
    KillPoint::StoredNotAcknowledged,
    KillPoint::Stored(200),
    KillPoint::StoredNotAcknowledged,
];

/// Lines of the child's stderr that say a record was stored, as they come.
fn stored_lines(child: &mut Child) -> mpsc::Receiver<()> {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Read to the end, so the daemon never blocks on a full pipe.
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("record stored") {
                let _ = tx.send(());
            }
        }
    });
    rx
}

#[test]
fn sigkill_at_fixed_points_loses_no_record() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let token = dir.path().join("token");
    std::fs::write(&token, "k1ll\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let server = Server::start(Some("k1ll"));
    // Armed by the test: the next request is stored and left unanswered, and `hung`
    // says it arrived. Otherwise now and then a failure, and some acknowledgements
    // lost after the server stored the batch.
    let arm = Arc::new(AtomicBool::new(false));
    let hung = Arc::new(AtomicBool::new(false));
    {
        let (arm, hung) = (arm.clone(), hung.clone());
        server.script(move |n| {
            if arm.swap(false, Ordering::SeqCst) {
                hung.store(true, Ordering::SeqCst);
                return Fault::StoreThenHang;
            }
            match n % 13 {
                4 => Fault::Status(500, None),
                9 => Fault::StoreThenCut,
                _ => Fault::None,
            }
        });
    }
    let config = dir.path().join("weatherd.toml");
    let text = format!(
        "{}\n[[upload]]\ntype = \"http\"\nname = \"school\"\nurl = \"{}\"\ntoken_file = \"{}\"\n\
         batch_size = 20\nbatch_max_age_seconds = 0\nbackoff_initial_seconds = 1\n\
         backoff_max_seconds = 1\ntimeout_seconds = 5\n",
        weatherd::config::EXAMPLE_TOML,
        server.url(),
        token.display()
    );
    std::fs::write(&config, text).unwrap();
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_weatherd"))
            .args(["run", "--simulate", "--speed", "max", "--start", START])
            .args(["--duration", &format!("{DAYS}d"), "--config"])
            .arg(&config)
            .arg("--db")
            .arg(&db)
            .env("RUST_LOG", "weatherd=debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start weatherd")
    };
    // Records the server has taken in, new or repeated.
    let taken = || server.with(|r| r.ids.len() as u64 + r.duplicates);

    for (i, point) in KILLS.iter().enumerate() {
        let before = taken();
        if let KillPoint::StoredNotAcknowledged = point {
            hung.store(false, Ordering::SeqCst);
            arm.store(true, Ordering::SeqCst);
        }
        let mut child = run();
        let stored = stored_lines(&mut child);
        match point {
            KillPoint::Stored(n) => {
                for _ in 0..*n {
                    stored
                        .recv_timeout(Duration::from_secs(120))
                        .unwrap_or_else(|e| panic!("kill {i}: fewer than {n} records stored: {e}"));
                }
            }
            KillPoint::StoredNotAcknowledged => {
                // The run starts with the previous runs' unsent records, so its first
                // request comes at once; wait until the server stored that batch.
                let mut waited = 0;
                while !(hung.load(Ordering::SeqCst) && taken() > before) {
                    assert!(
                        child.try_wait().unwrap().is_none(),
                        "kill {i}: the run ended before its batch was held"
                    );
                    assert!(waited < 12_000, "kill {i}: no batch reached the server");
                    std::thread::sleep(Duration::from_millis(10));
                    waited += 1;
                }
            }
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "kill {i} ({point:?}): the run ended before the kill point"
        );
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    arm.store(false, Ordering::SeqCst);
    // One run to the end of the simulated days.
    let mut last_run = run();
    drop(stored_lines(&mut last_run));
    assert!(last_run.wait().unwrap().success());

    let store = support::db::open(&db);
    let last = store.last_id().unwrap();
    assert_eq!(store.record_count().unwrap(), last, "ids have no gaps");
    assert!(last >= DAYS * 1440, "{last} records");
    let sent_by_daemon = server.count();
    assert!(sent_by_daemon > 0, "the daemon uploaded while it ran");

    // Whatever the last run left in the outbox goes out now, from the stored cursor.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = HttpConfig {
        name: "school".into(),
        url: server.url(),
        token_file: Some(token.clone()),
        token_credential: None,
        ca_file: None,
        proxy: None,
        allow_plain_http: false,
        common: Common {
            timeout_seconds: 5,
            batch_size: 500,
            batch_max_age_seconds: 0,
            backoff_initial_seconds: 1,
            backoff_max_seconds: 1,
        },
    };
    let dest = HttpDestination::new(&http, "x").unwrap();
    let policy = Policy {
        batch_max_age: Duration::ZERO,
        backoff_max: Duration::from_millis(50),
        shutdown_grace: Duration::from_secs(5),
        ..support::policy::fast(500)
    };
    let probe = support::db::open(&db);
    let summary = rt
        .block_on(async {
            tokio::time::timeout(
                Duration::from_secs(120),
                run_uploader(
                    "school".into(),
                    weatherd::upload::station_id("x"),
                    support::db::outbox(&db),
                    dest,
                    policy,
                    None,
                    async {
                        while probe.upload_cursor("school").unwrap() < last {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    },
                ),
            )
            .await
        })
        .expect("drained")
        .unwrap();
    assert_eq!(summary.cursor, last);
    server.with(|r| {
        assert_eq!(
            r.ids,
            (1..=last).collect::<Vec<i64>>(),
            "every record, in order, once"
        );
        assert!(r.bad_requests.is_empty(), "{:?}", r.bad_requests);
        assert_eq!(r.unauthorized, 0);
        // The last batch came from this uploader, or from the daemon's own drain when
        // its final run reached the end of the simulated days.
        assert!(
            matches!(r.station.as_deref(), Some("x" | "school-weather-station")),
            "{:?}",
            r.station
        );
    });
    // Each kill between "stored" and "acknowledged" left a batch the server had but
    // the cursor did not cover: it was sent again and dropped as a repeat.
    let repeats = server.with(|r| r.duplicates);
    assert!(repeats >= 3, "{repeats} repeats");
    eprintln!(
        "{} kills; daemon delivered {sent_by_daemon} of {last} records, {repeats} repeats dropped",
        KILLS.len()
    );
}
