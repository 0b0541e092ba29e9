//! The MQTT destination: QoS 1 publishes over one persistent session.
//!
//! A batch counts as delivered only once the broker acknowledged (PUBACK) every message
//! of it. A background task drives rumqttc's event loop, so keep-alive pings flow
//! between batches and the broker does not fire the last will while the station is
//! merely idle; it reports connects, sent packet ids, acknowledgements and the error
//! that ended the connection. Any failure drops the whole connection (and its task):
//! the uploader re-sends the unacknowledged batch anyway, and a fresh client starts with
//! no half-sent state, so the acknowledgements counted always belong to this batch.
//!
//! Subscribers may see a record twice (QoS 1, or a batch re-sent after a failure); the
//! payload carries the station and record id so they can drop repeats.

use super::payload::{record_document, records_document};
use super::{secret, Batch, DeliveryError, Destination};
use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, Incoming, LastWill,
    MqttOptions, Outgoing, QoS, TlsConfiguration, Transport,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

mod config;
pub mod home_assistant;
pub use config::{defaults, MqttConfig, MqttPer, DEFAULT_BATCH_SIZE};
use home_assistant::{HaSettings, HaState};

/// Payload of the retained status message while connected.
pub const STATUS_ONLINE: &str = "online";
/// Payload of the last will (and of a clean [`MqttDestination::close`]).
pub const STATUS_OFFLINE: &str = "offline";

/// Requests queued between the destination and the event loop. The event loop takes
/// them as fast as the in-flight window allows, so this only smooths bursts.
const REQUEST_CHANNEL_CAPACITY: usize = 256;
/// Unacknowledged publishes on the wire at once (rumqttc's packet-id window).
const MAX_INFLIGHT: u16 = 100;
/// The MQTT maximum (remaining length): a batch document can be large.
const MAX_OUTGOING_PACKET_BYTES: usize = 268_435_455;
/// The broker only sends us acknowledgements and pings.
const MAX_INCOMING_PACKET_BYTES: usize = 64 * 1024;

/// Installs ring as the process-wide rustls crypto provider, for any crate that asks
/// rustls for the default one. The MQTT destination itself passes ring explicitly and
/// does not need this. Calling it again (or after another provider was installed) is
/// harmless.
pub fn install_crypto_provider() {
    // Err only means a provider is installed already, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

use super::SetupError;

/// A password that never shows up in `{:?}` output or logs.
#[derive(Clone)]
struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Credentials {
    username: String,
    password: Password,
    /// Where they came from, to name in error messages.
    source: PathBuf,
}

impl Credentials {
    pub(crate) fn username(&self) -> &str {
        &self.username
    }
    pub(crate) fn password(&self) -> &str {
        &self.password.0
    }
}

/// Publishes records over one persistent MQTT session.
pub struct MqttDestination {
    settings: Settings,
    connection: Option<Connection>,
    /// Home Assistant's announced entities and rain today (with `home_assistant`).
    ha_state: HaState,
}

/// Everything needed to (re)connect, fixed at construction.
struct Settings {
    host: String,
    port: u16,
    client_id: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    credentials: Option<Credentials>,
    archive_topic: String,
    latest_topic: String,
    status_topic: String,
    per: MqttPer,
    keep_alive: Duration,
    timeout: Duration,
    /// Set with `home_assistant = true`.
    ha: Option<HaSettings>,
}

impl fmt::Debug for MqttDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        f.debug_struct("MqttDestination")
            .field("host", &s.host)
            .field("port", &s.port)
            .field("client_id", &s.client_id)
            .field("tls", &s.tls.is_some())
            .field("credentials", &s.credentials)
            .field("archive_topic", &s.archive_topic)
            .field("latest_topic", &s.latest_topic)
            .field("status_topic", &s.status_topic)
            .field("per", &s.per)
            .field("connected", &self.connection.is_some())
            .finish()
    }
}

/// What the event-loop task reports.
#[derive(Debug)]
enum Progress {
    Connected,
    /// A publish went on the wire with this packet id.
    Sent(u16),
    Acked(u16),
    /// A SUBACK (Home Assistant's read-back subscribes).
    Subscribed,
    /// A message from a subscription: topic, payload.
    Received(String, Vec<u8>),
    /// The connection is gone; the task has ended.
    Failed(ConnectionError),
}

/// One live client and the task polling its event loop.
struct Connection {
    client: AsyncClient,
    progress: mpsc::UnboundedReceiver<Progress>,
    task: JoinHandle<()>,
    /// Publishes queued on this connection that still await their PUBACK.
    unacked: usize,
    /// Home Assistant's retained state was read back on this connection.
    ha_synced: bool,
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Dropping the event loop closes the socket without DISCONNECT, so the broker
        // publishes the last will: exactly right for a connection we gave up on.
        self.task.abort();
    }
}

/// One message to publish.
struct Message {
    topic: String,
    retain: bool,
    payload: Vec<u8>,
}

fn expand(template: &str, station_id: &str, key: &'static str) -> Result<String, SetupError> {
    let topic = template.replace("{station}", station_id);
    if topic.contains(['+', '#', '\0']) {
        return Err(SetupError::TopicWildcard {
            key,
            template: template.to_string(),
        });
    }
    Ok(topic)
}

fn credentials_path(config: &MqttConfig) -> Result<Option<PathBuf>, SetupError> {
    match (&config.credentials_file, &config.credentials_credential) {
        (Some(_), Some(_)) => Err(SetupError::SecretTwice {
            upload: config.name.clone(),
            file_key: "credentials_file",
            credential_key: "credentials_credential",
        }),
        (Some(path), None) => Ok(Some(path.clone())),
        (None, Some(name)) => {
            if name.is_empty() || name.contains('/') {
                return Err(SetupError::BadCredentialName {
                    upload: config.name.clone(),
                    key: "credentials_credential",
                    name: name.clone(),
                });
            }
            secret::credential_path(name).map(Some)
        }
        (None, None) => Ok(None),
    }
}

/// Reads and checks an MQTT credentials file (`run` and `check-config`).
pub(crate) fn load_credentials(path: &Path) -> Result<Credentials, SetupError> {
    let text = secret::read_private_file(path)?;
    let mut lines = text.lines().map(|l| l.strip_suffix('\r').unwrap_or(l));
    let username = lines.next().unwrap_or_default().to_string();
    let password = lines.next().map(str::to_string);
    let extra = lines.any(|l| !l.trim().is_empty());
    match password {
        Some(password) if !username.is_empty() && !extra => Ok(Credentials {
            username,
            password: Password(password),
            source: path.to_path_buf(),
        }),
        _ => Err(SetupError::CredentialsFileShape {
            path: path.to_path_buf(),
        }),
    }
}

/// rustls with ring, the system's CA certificates and the configured extra CA file.
pub fn tls_config(
    host: &str,
    ca_file: Option<&Path>,
) -> Result<Arc<rustls::ClientConfig>, SetupError> {
    ServerName::try_from(host.to_string()).map_err(|_| SetupError::HostNotVerifiable {
        host: host.to_string(),
    })?;
    let mut roots = rustls::RootCertStore::empty();
    // Unreadable system certificates are not fatal as long as something is trusted.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_file {
        let path_buf = || path.to_path_buf();
        let pem = super::secret::read_regular_file(path, super::secret::MAX_CA_FILE_BYTES)
            .map_err(|e| SetupError::CaFileUnreadable {
                path: path_buf(),
                reason: e.to_string(),
            })?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SetupError::CaFileNotPem {
                path: path_buf(),
                reason: e.to_string(),
            })?;
        if certs.is_empty() {
            return Err(SetupError::CaFileEmpty { path: path_buf() });
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| SetupError::CaCertificateRejected {
                    path: path_buf(),
                    reason: e.to_string(),
                })?;
        }
    }
    if roots.is_empty() {
        return Err(SetupError::NoCaCertificates);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SetupError::TlsSetup {
            reason: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

impl MqttDestination {
    /// Connects lazily: construction only checks the settings and credentials.
    pub fn new(config: &MqttConfig, station_id: &str) -> Result<MqttDestination, SetupError> {
        let upload = || config.name.clone();
        if config.host.is_empty() {
            return Err(SetupError::MqttHostEmpty { upload: upload() });
        }
        if config.common.timeout_seconds == 0 {
            return Err(SetupError::TimeoutZero { upload: upload() });
        }
        if config.keep_alive_seconds > u32::from(u16::MAX) {
            return Err(SetupError::KeepAliveTooLong {
                upload: upload(),
                max: u32::from(u16::MAX),
            });
        }
        if config.ca_file.is_some() && !config.tls {
            return Err(SetupError::CaFileWithoutTls { upload: upload() });
        }
        let archive_topic = expand(&config.topic, station_id, "topic")?;
        if archive_topic.is_empty() {
            return Err(SetupError::MqttTopicEmpty { upload: upload() });
        }
        let credentials = credentials_path(config)?
            .map(|p| load_credentials(&p))
            .transpose()?;
        let tls = if config.tls {
            Some(tls_config(&config.host, config.ca_file.as_deref())?)
        } else {
            None
        };
        let client_id = match &config.client_id {
            Some(id) => id.replace("{station}", station_id),
            None => format!("weatherd-{station_id}"),
        };
        if client_id.is_empty() {
            return Err(SetupError::ClientIdEmpty { upload: upload() });
        }
        let settings = Settings {
            host: config.host.clone(),
            port: config.port.unwrap_or(if config.tls { 8883 } else { 1883 }),
            client_id,
            tls,
            credentials,
            archive_topic,
            latest_topic: expand(&config.latest_topic, station_id, "latest_topic")?,
            status_topic: expand(&config.status_topic, station_id, "status_topic")?,
            per: config.per,
            keep_alive: Duration::from_secs(u64::from(config.keep_alive_seconds)),
            timeout: Duration::from_secs(u64::from(config.common.timeout_seconds)),
            ha: config.home_assistant.then(|| HaSettings {
                prefix: config.discovery_prefix.clone(),
                time_zone: config.time_zone.unwrap_or(chrono_tz::UTC),
            }),
        };
        Ok(MqttDestination {
            settings,
            connection: None,
            ha_state: HaState::default(),
        })
    }

    /// The live connection, or a new one if there is none or the old one ended while
    /// idle (the broker went away between batches).
    fn connection(&mut self) -> &mut Connection {
        let alive = match &mut self.connection {
            Some(c) => loop {
                match c.progress.try_recv() {
                    Ok(Progress::Failed(_)) | Err(mpsc::error::TryRecvError::Disconnected) => {
                        break false
                    }
                    Ok(_) => continue,
                    Err(mpsc::error::TryRecvError::Empty) => break !c.task.is_finished(),
                }
            },
            None => false,
        };
        if !alive {
            self.connection = None;
        }
        let settings = &self.settings;
        self.connection.get_or_insert_with(|| settings.connect())
    }

    /// Queues every message and waits until each has its PUBACK, feeding the request
    /// channel as the event loop drains it.
    async fn publish_all(&mut self, messages: Vec<Message>) -> Result<(), DeliveryError> {
        let timeout = self.settings.timeout;
        let broker = self.settings.broker();
        let source = self.settings.credentials.as_ref().map(|c| c.source.clone());
        let conn = self.connection();
        let mut queue = messages.into_iter().peekable();
        let mut in_flight: HashSet<u16> = HashSet::new();
        loop {
            while let Some(m) = queue.peek() {
                match conn.client.try_publish(
                    m.topic.clone(),
                    QoS::AtLeastOnce,
                    m.retain,
                    m.payload.clone(),
                ) {
                    Ok(()) => {
                        conn.unacked += 1;
                        queue.next();
                    }
                    // Full (or the loop is gone, which the task reports): wait for it.
                    Err(_) => break,
                }
            }
            if queue.peek().is_none() && conn.unacked == 0 {
                return Ok(());
            }
            let event = tokio::time::timeout(timeout, conn.progress.recv()).await;
            match event {
                Ok(Some(Progress::Sent(pkid))) => {
                    in_flight.insert(pkid);
                }
                Ok(Some(Progress::Acked(pkid))) => {
                    if in_flight.remove(&pkid) {
                        conn.unacked = conn.unacked.saturating_sub(1);
                    }
                }
                Ok(Some(Progress::Connected | Progress::Subscribed | Progress::Received(..))) => {}
                Ok(Some(Progress::Failed(e))) => {
                    return Err(classify(&e, &broker, source.as_deref()))
                }
                Ok(None) => {
                    return Err(DeliveryError::Transient {
                        message: format!("MQTT connection to {broker} ended"),
                        retry_after: None,
                    })
                }
                Err(_) => {
                    return Err(DeliveryError::Transient {
                        message: format!(
                            "MQTT broker {broker} sent no acknowledgement for {} s",
                            timeout.as_secs()
                        ),
                        retry_after: None,
                    })
                }
            }
        }
    }

    /// Publishes the retained `offline` status, disconnects cleanly and waits (at most
    /// `timeout_seconds`) for the connection to close. For a tidy shutdown; dropping the
    /// destination instead lets the broker publish the same status as the last will.
    pub async fn close(&mut self) {
        if self.connection.is_none() {
            return;
        }
        if !self.settings.status_topic.is_empty() {
            let offline = vec![Message {
                topic: self.settings.status_topic.clone(),
                retain: true,
                payload: STATUS_OFFLINE.into(),
            }];
            if self.publish_all(offline).await.is_err() {
                self.connection = None;
                return;
            }
        }
        if let Some(conn) = self.connection.as_mut() {
            if conn.client.disconnect().await.is_ok() {
                let deadline = tokio::time::sleep(self.settings.timeout);
                tokio::pin!(deadline);
                loop {
                    tokio::select! {
                        p = conn.progress.recv() => match p {
                            Some(Progress::Failed(_)) | None => break,
                            Some(_) => {}
                        },
                        _ = &mut deadline => break,
                    }
                }
            }
        }
        self.connection = None;
    }
}

impl Settings {
    /// `host:port`, for messages.
    fn broker(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    fn options(&self) -> MqttOptions {
        let mut o = MqttOptions::new(self.client_id.clone(), self.host.clone(), self.port);
        o.set_clean_session(false)
            .set_keep_alive(self.keep_alive)
            .set_inflight(MAX_INFLIGHT)
            .set_max_packet_size(MAX_INCOMING_PACKET_BYTES, MAX_OUTGOING_PACKET_BYTES);
        if !self.status_topic.is_empty() {
            o.set_last_will(LastWill::new(
                self.status_topic.clone(),
                STATUS_OFFLINE,
                QoS::AtLeastOnce,
                true,
            ));
        }
        if let Some(c) = &self.credentials {
            o.set_credentials(c.username.clone(), c.password.0.clone());
        }
        if let Some(tls) = &self.tls {
            o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
                tls.clone(),
            )));
        }
        o
    }

    /// Starts a new client and its event-loop task, with the retained `online` status
    /// queued as its first publish.
    fn connect(&self) -> Connection {
        let (client, mut eventloop) = AsyncClient::new(self.options(), REQUEST_CHANNEL_CAPACITY);
        let mut net = eventloop.network_options();
        net.set_connection_timeout(self.timeout.as_secs());
        // Without it Nagle holds the last publish of a batch until the broker's delayed
        // ACK (~40 ms), which made every batch wait that long for its final PUBACK.
        net.set_tcp_nodelay(true);
        eventloop.set_network_options(net);
        let (tx, progress) = mpsc::unbounded_channel();
        let task = tokio::spawn(drive(eventloop, tx));
        let mut connection = Connection {
            client,
            progress,
            task,
            unacked: 0,
            ha_synced: false,
        };
        if !self.status_topic.is_empty() {
            // The channel is empty, so this cannot fail for lack of room.
            if connection
                .client
                .try_publish(
                    self.status_topic.clone(),
                    QoS::AtLeastOnce,
                    true,
                    STATUS_ONLINE,
                )
                .is_ok()
            {
                connection.unacked += 1;
            }
        }
        connection
    }

    /// The batch's messages; `rain_today` (Home Assistant) goes into the latest document.
    fn messages(
        &self,
        batch: &Batch,
        rain_today: Option<(chrono::NaiveDate, f64, i64)>,
    ) -> Vec<Message> {
        let mut out = Vec::new();
        let station = batch.station_id.as_str();
        let encode = |v: serde_json::Value| v.to_string().into_bytes();
        match self.per {
            MqttPer::Record => {
                out.extend(batch.records.iter().map(|(id, r)| Message {
                    topic: self.archive_topic.clone(),
                    retain: false,
                    payload: encode(record_document(station, *id, r)),
                }));
            }
            MqttPer::Batch => out.push(Message {
                topic: self.archive_topic.clone(),
                retain: false,
                payload: encode(records_document(station, &batch.records)),
            }),
        }
        if let (false, Some((id, r))) = (self.latest_topic.is_empty(), batch.records.last()) {
            out.push(Message {
                topic: self.latest_topic.clone(),
                retain: true,
                payload: encode(home_assistant::with_rain_today(
                    record_document(station, *id, r),
                    rain_today,
                )),
            });
        }
        out
    }
}

/// Polls the event loop until the connection fails (or nobody listens any more),
/// reporting what the destination counts.
async fn drive(mut eventloop: EventLoop, tx: mpsc::UnboundedSender<Progress>) {
    loop {
        let progress = match eventloop.poll().await {
            Ok(Event::Incoming(Incoming::ConnAck(_))) => Progress::Connected,
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => Progress::Sent(pkid),
            Ok(Event::Incoming(Incoming::PubAck(ack))) => Progress::Acked(ack.pkid),
            Ok(Event::Incoming(Incoming::SubAck(_))) => Progress::Subscribed,
            Ok(Event::Incoming(Incoming::Publish(p))) => {
                Progress::Received(p.topic.clone(), p.payload.to_vec())
            }
            Ok(_) => continue,
            Err(e) => {
                let _ = tx.send(Progress::Failed(e));
                return;
            }
        };
        if tx.send(progress).is_err() {
            return;
        }
    }
}

/// Refusals that only a config change can cure are permanent; everything else
/// (network down, broker restarting, TLS trouble that a server fix cures) is transient.
fn classify(e: &ConnectionError, broker: &str, credentials: Option<&Path>) -> DeliveryError {
    let from = match credentials {
        Some(p) => format!("the credentials in {}", p.display()),
        None => "an anonymous login (no credentials_file set)".to_string(),
    };
    let permanent = |message: String| DeliveryError::Permanent { message };
    let transient = |message: String| DeliveryError::Transient {
        message,
        retry_after: None,
    };
    match e {
        ConnectionError::ConnectionRefused(code) => match code {
            ConnectReturnCode::BadUserNamePassword => permanent(format!(
                "MQTT broker {broker} refused {from}: bad username or password"
            )),
            ConnectReturnCode::NotAuthorized => permanent(format!(
                "MQTT broker {broker} refused {from}: not authorized"
            )),
            ConnectReturnCode::BadClientId => permanent(format!(
                "MQTT broker {broker} rejected the client id; set client_id"
            )),
            ConnectReturnCode::RefusedProtocolVersion => {
                permanent(format!("MQTT broker {broker} does not accept MQTT 3.1.1"))
            }
            ConnectReturnCode::ServiceUnavailable | ConnectReturnCode::Success => {
                transient(format!("MQTT broker {broker} is unavailable"))
            }
        },
        ConnectionError::Tls(t) => {
            let text = t.to_string();
            let hint = if text.contains("certificate") || text.contains("Certificate") {
                " (if the broker uses a private CA, set ca_file)"
            } else {
                ""
            };
            transient(format!(
                "TLS with MQTT broker {broker} failed: {text}{hint}"
            ))
        }
        ConnectionError::Io(io) => {
            // tokio-rustls reports handshake failures as I/O errors wrapping rustls's.
            let text = io.to_string();
            let hint = if text.contains("certificate") {
                " (if the broker uses a private CA, set ca_file)"
            } else {
                ""
            };
            transient(format!("MQTT broker {broker}: {text}{hint}"))
        }
        ConnectionError::NetworkTimeout => {
            transient(format!("MQTT broker {broker} did not answer the connect"))
        }
        other => transient(format!("MQTT broker {broker}: {other}")),
    }
}

impl Destination for MqttDestination {
    async fn deliver(&mut self, batch: &Batch) -> Result<(), DeliveryError> {
        if batch.records.is_empty() {
            return Ok(());
        }
        let result = match self.settings.ha.is_some() {
            false => {
                let messages = self.settings.messages(batch, None);
                self.publish_all(messages).await
            }
            true => self.deliver_with_home_assistant(batch).await,
        };
        if result.is_err() {
            // Start the next attempt from a clean client; see the module comment.
            self.connection = None;
        }
        // A broker's or the client's error text must never carry the password on.
        let secrets: Vec<&str> = self
            .settings
            .credentials
            .iter()
            .map(|c| c.password.0.as_str())
            .collect();
        result.map_err(|e| e.redact(&secrets))
    }
}
