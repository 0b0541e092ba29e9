//! The real daemon killed with SIGKILL at random points while it simulates and uploads,
//! then restarted: the server ends up with every record, in order, none lost.

mod common;

use common::http_server::{Fault, Server};
use rand::{Rng, SeedableRng};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;
use weatherd::time::Timestamp;
use weatherd::upload::http::HttpDestination;
use weatherd::upload::{run_uploader, HttpConfig, Policy};

const START: &str = "2025-01-01T00:00:00Z";
const DAYS: i64 = 3;

#[test]
fn sigkill_at_random_points_loses_no_record() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let token = dir.path().join("token");
    std::fs::write(&token, "k1ll\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let server = Server::start(Some("k1ll"));
    // Now and then a failure, and some acknowledgements lost after the server stored
    // the batch, so kills also land between "stored" and "cursor advanced".
    server.script(|n| match n % 13 {
        4 => Fault::Status(500, None),
        9 => Fault::StoreThenCut,
        _ => Fault::None,
    });
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
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start weatherd")
    };

    let mut rng = rand_pcg::Pcg64::seed_from_u64(2026);
    let mut kills = 0;
    let mut finished = false;
    for _ in 0..40 {
        let mut child = run();
        std::thread::sleep(Duration::from_millis(rng.gen_range(150..700)));
        if child.try_wait().unwrap().is_some() {
            finished = true;
            break;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
    }
    if !finished {
        // Let one run reach the end of the simulated days.
        assert!(run().wait().unwrap().success());
    }
    assert!(
        kills >= 5,
        "only {kills} kills: the simulation ended too soon"
    );

    let store = common::open(&db);
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
        timeout_seconds: 5,
        batch_size: 500,
        batch_max_age_seconds: 0,
        backoff_initial_seconds: 1,
        backoff_max_seconds: 1,
    };
    let dest = HttpDestination::new(&http, "x").unwrap();
    let policy = Policy {
        batch_size: 500,
        batch_max_age: Duration::ZERO,
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        poll_interval: Duration::from_millis(50),
        shutdown_grace: Duration::from_secs(5),
        wall_clock: Timestamp::now,
    };
    let probe = common::open(&db);
    let summary = rt
        .block_on(async {
            tokio::time::timeout(
                Duration::from_secs(120),
                run_uploader(
                    "school".into(),
                    weatherd::upload::station_id("x"),
                    common::open(&db),
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
    eprintln!(
        "{kills} kills; daemon delivered {sent_by_daemon} of {last} records, {} repeats dropped",
        server.with(|r| r.duplicates)
    );
}
