//! The MQTT destination end to end against a real mosquitto broker that each test
//! starts on its own port. Without mosquitto these tests fail (they never pass without
//! exercising a broker): install it with `apt-get install mosquitto`.

mod support;

use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, Publish, QoS};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use support::mosquitto::Mosquitto;
use tokio::sync::mpsc;
use weatherd::record::ArchiveRecord;
use weatherd::time::Timestamp;
use weatherd::upload::mqtt::{MqttDestination, STATUS_OFFLINE, STATUS_ONLINE};
use weatherd::upload::{Batch, DeliveryError, Destination, MqttConfig};

const STATION: &str = "test-roof";
const ARCHIVE: &str = "weather/test-roof/archive";
const LATEST: &str = "weather/test-roof/latest";
const STATUS: &str = "weather/test-roof/status";
/// How long a test waits for a message before it fails (a hang guard, not a
/// measurement: nothing asserts on elapsed time).
const PATIENCE: Duration = Duration::from_secs(20);

fn config(port: u16, extra: &str) -> MqttConfig {
    let text = format!("name = \"broker\"\nhost = \"127.0.0.1\"\nport = {port}\n{extra}");
    MqttConfig::from_toml(&text).unwrap_or_else(|e| panic!("test config: {e}\n{text}"))
}

fn destination(config: &MqttConfig) -> MqttDestination {
    MqttDestination::new(config, STATION).unwrap_or_else(|e| panic!("setup: {e}"))
}

fn record(id: i64) -> ArchiveRecord {
    let start = Timestamp::from_secs(1_767_225_600 + id * 60);
    support::records::with_temperature(start, id as f64 / 10.0)
}

fn batch(ids: std::ops::RangeInclusive<i64>) -> Batch {
    Batch {
        station_id: STATION.into(),
        records: ids.map(|id| (id, record(id))).collect(),
    }
}

static SUBSCRIBERS: AtomicU32 = AtomicU32::new(0);

/// A test client subscribed (QoS 1) to a topic filter; it hands over every publish.
struct Subscriber {
    rx: mpsc::UnboundedReceiver<Publish>,
    _client: AsyncClient,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Subscriber {
    async fn new(port: u16, filter: &str) -> Subscriber {
        let n = SUBSCRIBERS.fetch_add(1, Ordering::Relaxed);
        let mut options = MqttOptions::new(format!("test-sub-{n}"), "127.0.0.1", port);
        options.set_max_packet_size(16 << 20, 16 << 20);
        let (client, mut eventloop) = AsyncClient::new(options, 16);
        client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .expect("queue subscribe");
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Incoming::SubAck(_))) => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(());
                        }
                    }
                    Ok(Event::Incoming(Incoming::Publish(p))) => {
                        if tx.send(p).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => panic!("test subscriber lost the broker: {e}"),
                }
            }
        });
        tokio::time::timeout(PATIENCE, ready_rx)
            .await
            .expect("no SUBACK from the broker")
            .expect("subscriber task ended");
        Subscriber {
            rx,
            _client: client,
            task,
        }
    }

    async fn next(&mut self) -> Publish {
        tokio::time::timeout(PATIENCE, self.rx.recv())
            .await
            .expect("no message from the broker in time")
            .expect("subscriber task ended")
    }

    /// The next publish on `topic`, skipping others.
    async fn next_on(&mut self, topic: &str) -> Publish {
        loop {
            let p = self.next().await;
            if p.topic == topic {
                return p;
            }
        }
    }
}

fn json(p: &Publish) -> Value {
    serde_json::from_slice(&p.payload).expect("payload is JSON")
}

/// The record ids in the next archive messages until `want` distinct ids arrived,
/// dropping repeats by id as a real subscriber does (QoS 1 may duplicate).
async fn archive_ids(sub: &mut Subscriber, want: usize) -> Vec<i64> {
    let mut ids: Vec<i64> = Vec::new();
    while ids.len() < want {
        let p = sub.next_on(ARCHIVE).await;
        assert_eq!(p.qos, QoS::AtLeastOnce, "archive messages are QoS 1");
        let doc = json(&p);
        assert_eq!(doc["station"], STATION);
        assert_eq!(doc["schema_version"], 1);
        let records = match doc.get("records") {
            Some(r) => r.as_array().expect("records array").clone(),
            None => vec![doc["record"].clone()],
        };
        for r in records {
            let id = r["id"].as_i64().expect("record id");
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

fn transient(result: Result<(), DeliveryError>) -> String {
    match result {
        Err(DeliveryError::Transient { message, .. }) => message,
        other => panic!("expected a transient error, got {other:?}"),
    }
}

#[tokio::test]
async fn every_record_arrives_once_per_message_in_order_with_qos_1() {
    let broker = Mosquitto::start();
    let mut sub = Subscriber::new(broker.port, "weather/#").await;
    let mut dest = destination(&config(broker.port, ""));
    for b in [batch(1..=5), batch(6..=12), batch(13..=20)] {
        dest.deliver(&b).await.expect("delivered");
    }
    let mut messages = 0;
    let mut ids = Vec::new();
    while ids.len() < 20 {
        let p = sub.next_on(ARCHIVE).await;
        assert_eq!(p.qos, QoS::AtLeastOnce);
        assert!(!p.retain, "archive messages are not retained");
        let doc = json(&p);
        assert_eq!(doc["station"], STATION);
        let r = &doc["record"];
        ids.push(r["id"].as_i64().expect("id"));
        assert_eq!(r["start"], record(ids[ids.len() - 1]).start.rfc3339());
        messages += 1;
    }
    assert_eq!(ids, (1..=20).collect::<Vec<_>>());
    assert_eq!(messages, 20, "one message per record");

    // A subscriber arriving later gets the retained newest record and status.
    let mut late = Subscriber::new(broker.port, LATEST).await;
    let latest = late.next_on(LATEST).await;
    assert!(latest.retain, "latest is retained");
    assert_eq!(json(&latest)["record"]["id"], 20);
    assert_eq!(json(&latest)["record"]["temperature_c"], 2.0);
    let mut status = Subscriber::new(broker.port, STATUS).await;
    let online = status.next_on(STATUS).await;
    assert!(online.retain);
    assert_eq!(&online.payload[..], STATUS_ONLINE.as_bytes());
}

#[tokio::test]
async fn per_batch_sends_one_message_holding_the_whole_batch() {
    let broker = Mosquitto::start();
    let mut sub = Subscriber::new(broker.port, ARCHIVE).await;
    let mut dest = destination(&config(broker.port, "per = \"batch\""));
    dest.deliver(&batch(1..=100)).await.expect("first batch");
    dest.deliver(&batch(101..=150)).await.expect("second batch");
    let first = json(&sub.next_on(ARCHIVE).await);
    let second = json(&sub.next_on(ARCHIVE).await);
    let ids = |doc: &Value| -> Vec<i64> {
        doc["records"]
            .as_array()
            .expect("records")
            .iter()
            .map(|r| r["id"].as_i64().expect("id"))
            .collect()
    };
    assert_eq!(ids(&first), (1..=100).collect::<Vec<_>>());
    assert_eq!(ids(&second), (101..=150).collect::<Vec<_>>());
    assert_eq!(first["station"], STATION);
}

#[tokio::test]
async fn the_last_will_says_offline_when_the_connection_dies() {
    let broker = Mosquitto::start();
    let mut sub = Subscriber::new(broker.port, STATUS).await;
    let mut dest = destination(&config(broker.port, ""));
    dest.deliver(&batch(1..=3)).await.expect("delivered");
    assert_eq!(
        &sub.next_on(STATUS).await.payload[..],
        STATUS_ONLINE.as_bytes()
    );
    // Dropping the destination closes the socket without DISCONNECT.
    drop(dest);
    let will = sub.next_on(STATUS).await;
    assert_eq!(&will.payload[..], STATUS_OFFLINE.as_bytes());
    // Retained, so a subscriber arriving later sees it too.
    let mut late = Subscriber::new(broker.port, STATUS).await;
    let retained = late.next_on(STATUS).await;
    assert!(retained.retain);
    assert_eq!(&retained.payload[..], STATUS_OFFLINE.as_bytes());
}

#[tokio::test]
async fn a_clean_close_also_leaves_offline() {
    let broker = Mosquitto::start();
    let mut dest = destination(&config(broker.port, ""));
    dest.deliver(&batch(1..=2)).await.expect("delivered");
    dest.close().await;
    let mut sub = Subscriber::new(broker.port, STATUS).await;
    let status = sub.next_on(STATUS).await;
    assert_eq!(&status.payload[..], STATUS_OFFLINE.as_bytes());
}

#[tokio::test]
async fn broker_down_is_transient_and_delivery_resumes_when_it_returns() {
    let mut broker = Mosquitto::start();
    let mut dest = destination(&config(broker.port, "timeout_seconds = 5"));
    dest.deliver(&batch(1..=5)).await.expect("delivered");
    broker.kill();
    let message = transient(dest.deliver(&batch(6..=10)).await);
    assert!(message.contains("127.0.0.1"), "{message}");
    broker.restart();
    let mut sub = Subscriber::new(broker.port, ARCHIVE).await;
    dest.deliver(&batch(6..=10))
        .await
        .expect("delivered after restart");
    assert_eq!(archive_ids(&mut sub, 5).await, (6..=10).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_broker_that_stops_answering_times_out_as_transient() {
    let broker = Mosquitto::start();
    let mut sub = Subscriber::new(broker.port, ARCHIVE).await;
    let mut dest = destination(&config(broker.port, "timeout_seconds = 1"));
    dest.deliver(&batch(1..=5)).await.expect("delivered");
    broker.freeze();
    let result = dest.deliver(&batch(6..=10)).await;
    broker.thaw();
    let message = transient(result);
    assert!(message.contains("acknowledg"), "{message}");
    dest.deliver(&batch(6..=10))
        .await
        .expect("delivered once thawed");
    assert_eq!(
        archive_ids(&mut sub, 10).await,
        (1..=10).collect::<Vec<_>>()
    );
}

fn write_private(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).expect("write file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A broker that only admits `station` / `right-password`.
fn broker_with_password() -> Mosquitto {
    Mosquitto::start_with(|dir| {
        let file = dir.join("passwords");
        let status = std::process::Command::new("mosquitto_passwd")
            .args(["-b", "-c"])
            .arg(&file)
            .args(["station", "right-password"])
            .status()
            .expect("run mosquitto_passwd (ships with mosquitto)");
        assert!(status.success(), "mosquitto_passwd failed");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        (
            format!("allow_anonymous false\npassword_file {}\n", file.display()),
            Vec::new(),
        )
    })
}

#[tokio::test]
async fn a_wrong_password_is_permanent_and_the_right_one_works() {
    let broker = broker_with_password();
    let dir = tempfile::tempdir().expect("temp dir");
    let wrong = dir.path().join("wrong");
    write_private(&wrong, "station\nwrong-password\n", 0o600);
    let cfg = config(
        broker.port,
        &format!("credentials_file = \"{}\"", wrong.display()),
    );
    let mut dest = destination(&cfg);
    match dest.deliver(&batch(1..=2)).await {
        Err(DeliveryError::Permanent { message }) => {
            assert!(
                message.contains("username or password") || message.contains("not authorized"),
                "{message}"
            );
            assert!(message.contains("wrong"), "names the file: {message}");
            assert!(!message.contains("wrong-password"), "{message}");
        }
        other => panic!("expected a permanent error, got {other:?}"),
    }

    let right = dir.path().join("right");
    write_private(&right, "station\nright-password\n", 0o400);
    let cfg = config(
        broker.port,
        &format!("credentials_file = \"{}\"", right.display()),
    );
    let mut dest = destination(&cfg);
    dest.deliver(&batch(1..=2)).await.expect("right password");
    let debug = format!("{dest:?}");
    assert!(!debug.contains("right-password"), "{debug}");
    assert!(debug.contains("station"), "{debug}");
}

#[test]
fn a_credentials_file_others_can_read_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("mqtt-credentials");
    write_private(&file, "station\nhunter2-pw\n", 0o644);
    let cfg = config(1883, &format!("credentials_file = \"{}\"", file.display()));
    let err = MqttDestination::new(&cfg, STATION)
        .expect_err("0644 must be refused")
        .to_string();
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(err.contains("chmod 600"), "{err}");
    assert!(!err.contains("hunter2-pw"), "the password leaked: {err}");
}

#[test]
fn a_credentials_file_needs_two_lines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("one-line");
    write_private(&file, "station\n", 0o600);
    let cfg = config(1883, &format!("credentials_file = \"{}\"", file.display()));
    let err = MqttDestination::new(&cfg, STATION)
        .expect_err("one line")
        .to_string();
    assert!(err.contains("two lines"), "{err}");
}

/// A CA and a server certificate for `localhost`, as PEM files in `dir`.
fn make_certificates(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "weatherd test CA");
    let ca_key = KeyPair::generate().expect("CA key");
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let key = KeyPair::generate().expect("server key");
    let cert = params.signed_by(&key, &issuer).expect("server certificate");
    let (ca, crt, pem_key) = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    );
    std::fs::write(&ca, ca_cert.pem()).expect("write CA");
    std::fs::write(&crt, cert.pem()).expect("write cert");
    write_private(&pem_key, &key.serialize_pem(), 0o600);
    (ca, crt, pem_key)
}

#[tokio::test]
async fn tls_verifies_the_broker_with_ca_file_and_refuses_it_without() {
    let tls_port = support::mosquitto::free_port();
    let mut ca_path = None;
    let broker = Mosquitto::start_with(|dir| {
        let (ca, cert, key) = make_certificates(dir);
        ca_path = Some(ca.clone());
        (
            format!(
                "listener {tls_port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n",
                ca.display(),
                cert.display(),
                key.display()
            ),
            vec![tls_port],
        )
    });
    let ca = ca_path.expect("CA written");
    let tls_config = |extra: &str| {
        let text = format!(
            "name = \"tls\"\nhost = \"localhost\"\nport = {tls_port}\ntls = true\n\
             timeout_seconds = 5\n{extra}"
        );
        MqttConfig::from_toml(&text).expect("tls config")
    };

    let mut sub = Subscriber::new(broker.port, ARCHIVE).await;
    let cfg = tls_config(&format!("ca_file = \"{}\"", ca.display()));
    let mut dest = destination(&cfg);
    dest.deliver(&batch(1..=3))
        .await
        .expect("delivered over TLS");
    assert_eq!(archive_ids(&mut sub, 3).await, vec![1, 2, 3]);

    // Without the CA the broker's certificate is unknown: never delivered.
    match MqttDestination::new(&tls_config(""), STATION) {
        Ok(mut dest) => {
            let message = transient(dest.deliver(&batch(4..=4)).await);
            assert!(message.contains("certificate"), "{message}");
        }
        // A machine without system CA certificates refuses at setup instead.
        Err(e) => assert!(e.to_string().contains("ca_file"), "{e}"),
    }
}

#[test]
fn topics_with_wildcards_are_refused() {
    let cfg = config(1883, "topic = \"weather/+/archive\"");
    let err = MqttDestination::new(&cfg, STATION)
        .expect_err("wildcard")
        .to_string();
    assert!(err.contains("weather/+/archive"), "{err}");
}
