//! Uploaders: every archive record reaches every configured destination, in order,
//! once from the server's point of view.
//!
//! SQLite is the outbox. Each destination has a cursor (the id of the last record
//! the server acknowledged); the uploader sends the records after it in batches and
//! advances the cursor only after the acknowledgement, so a restart, a crash or a
//! power cut re-sends at most the unacknowledged batch, and servers drop those
//! repeats by idempotency key. A batch once sent is re-sent unchanged (same records,
//! so the same key) until it is acknowledged or refused; its last id is noted in the
//! database before the first attempt, so that holds across restarts too. Uploaders
//! keep nothing important in memory.

pub mod http;
pub mod mqtt;
pub mod outbox;
pub mod payload;
pub mod secret;
pub mod tasks;

pub use outbox::{run_uploader, Policy};
pub use tasks::{spawn_all, Uploads};

use crate::record::ArchiveRecord;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

/// One `[[upload]]` table.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UploadConfig {
    Http(HttpConfig),
    Mqtt(MqttConfig),
}

impl UploadConfig {
    pub const TYPES: [&'static str; 2] = ["http", "mqtt"];

    pub fn name(&self) -> &str {
        match self {
            UploadConfig::Http(c) => &c.name,
            UploadConfig::Mqtt(c) => &c.name,
        }
    }

    pub fn common(&self) -> Common {
        let (batch_size, batch_max_age_seconds, backoff_initial_seconds, backoff_max_seconds) =
            match self {
                UploadConfig::Http(c) => (
                    c.batch_size,
                    c.batch_max_age_seconds,
                    c.backoff_initial_seconds,
                    c.backoff_max_seconds,
                ),
                UploadConfig::Mqtt(c) => (
                    c.batch_size,
                    c.batch_max_age_seconds,
                    c.backoff_initial_seconds,
                    c.backoff_max_seconds,
                ),
            };
        Common {
            batch_size,
            batch_max_age_seconds,
            backoff_initial_seconds,
            backoff_max_seconds,
        }
    }
}

/// Settings every destination has.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Common {
    pub batch_size: u32,
    pub batch_max_age_seconds: u32,
    pub backoff_initial_seconds: u32,
    pub backoff_max_seconds: u32,
}

/// POST batches of records as gzip-compressed JSON to an HTTPS URL.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Unique among destinations; names the cursor, the logs and `weatherd status`.
    pub name: String,
    pub url: String,
    /// A file holding the bearer token (mode 0600 or 0400; refused if group- or
    /// world-readable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// The name of a systemd credential (`LoadCredential=NAME:...`) holding the token,
    /// read from `$CREDENTIALS_DIRECTORY/NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_credential: Option<String>,
    /// Extra CA certificates (PEM) to trust besides the built-in roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// `http://host:port` proxy; default: the `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`
    /// environment variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// Allow a plain `http://` URL to a host other than this machine (the token and
    /// the data then cross the network unencrypted). Loopback needs no opt-in.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_plain_http: bool,
    #[serde(default = "defaults::timeout_seconds")]
    pub timeout_seconds: u32,
    #[serde(default = "defaults::http_batch_size")]
    pub batch_size: u32,
    #[serde(default = "defaults::batch_max_age_seconds")]
    pub batch_max_age_seconds: u32,
    #[serde(default = "defaults::backoff_initial_seconds")]
    pub backoff_initial_seconds: u32,
    #[serde(default = "defaults::backoff_max_seconds")]
    pub backoff_max_seconds: u32,
}

/// Whether an MQTT message carries one record or one batch.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum MqttPer {
    #[default]
    Record,
    Batch,
}

/// Publish records to an MQTT broker (QoS 1, persistent session).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    pub name: String,
    pub host: String,
    /// Default 1883, or 8883 with `tls = true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// A file with `username` on its first line and `password` on its second (same
    /// permission rules as a token file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
    /// The name of a systemd credential holding the same two lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_credential: Option<String>,
    /// Default `weatherd-{station}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `{station}` is replaced by the station id.
    #[serde(default = "defaults::mqtt_topic")]
    pub topic: String,
    /// Retained copy of the newest record.
    #[serde(default = "defaults::mqtt_latest_topic")]
    pub latest_topic: String,
    /// Retained `online`; the broker publishes the last will `offline` here.
    #[serde(default = "defaults::mqtt_status_topic")]
    pub status_topic: String,
    #[serde(default)]
    pub per: MqttPer,
    #[serde(default = "defaults::keep_alive_seconds")]
    pub keep_alive_seconds: u32,
    #[serde(default = "defaults::timeout_seconds")]
    pub timeout_seconds: u32,
    #[serde(default = "defaults::mqtt_batch_size")]
    pub batch_size: u32,
    #[serde(default = "defaults::batch_max_age_seconds")]
    pub batch_max_age_seconds: u32,
    #[serde(default = "defaults::backoff_initial_seconds")]
    pub backoff_initial_seconds: u32,
    #[serde(default = "defaults::backoff_max_seconds")]
    pub backoff_max_seconds: u32,
}

pub mod defaults {
    pub fn timeout_seconds() -> u32 {
        30
    }
    pub fn http_batch_size() -> u32 {
        500
    }
    pub fn mqtt_batch_size() -> u32 {
        100
    }
    pub fn batch_max_age_seconds() -> u32 {
        60
    }
    pub fn backoff_initial_seconds() -> u32 {
        5
    }
    pub fn backoff_max_seconds() -> u32 {
        1800
    }
    pub fn keep_alive_seconds() -> u32 {
        30
    }
    pub fn mqtt_topic() -> String {
        "weather/{station}/archive".into()
    }
    pub fn mqtt_latest_topic() -> String {
        "weather/{station}/latest".into()
    }
    pub fn mqtt_status_topic() -> String {
        "weather/{station}/status".into()
    }
}

/// The station id used in payloads, topics and idempotency keys: the station name in
/// lowercase with every run of other characters turned into one `-`.
pub fn station_id(name: &str) -> String {
    let mut id = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c.to_ascii_lowercase());
        } else if !id.ends_with('-') && !id.is_empty() {
            id.push('-');
        }
    }
    while id.ends_with('-') {
        id.pop();
    }
    if id.is_empty() {
        id.push_str("station");
    }
    id
}

/// A destination that cannot be set up (unreadable or group-readable secret file, bad
/// CA file, unusable proxy): the reason, for one log line and `weatherd status`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);

/// `check-config`'s look at every destination's secret, with the loaders `run` uses:
/// `(key path, finding)` for each one `run` would refuse or that cannot be checked
/// here. A systemd credential can only be read under systemd; outside, it is a note.
pub fn check_secrets(uploads: &[UploadConfig]) -> Vec<(String, secret::Finding)> {
    use secret::{check_file, Finding};
    let mut out = Vec::new();
    for (i, upload) in uploads.iter().enumerate() {
        let (file, credential, file_key, credential_key) = match upload {
            UploadConfig::Http(c) => (
                c.token_file.as_deref(),
                c.token_credential.as_deref(),
                "token_file",
                "token_credential",
            ),
            UploadConfig::Mqtt(c) => (
                c.credentials_file.as_deref(),
                c.credentials_credential.as_deref(),
                "credentials_file",
                "credentials_credential",
            ),
        };
        let check = |path: &std::path::Path| match upload {
            UploadConfig::Http(_) => check_file(path, |p| secret::load_token(Some(p), None)),
            UploadConfig::Mqtt(_) => check_file(path, mqtt::load_credentials),
        };
        let (key, finding) = match (file, credential) {
            (Some(path), _) => (file_key, check(path)),
            (None, Some(name)) => match secret::credential_path(name) {
                Ok(path) => (credential_key, check(&path)),
                Err(e) => (
                    credential_key,
                    Some(Finding::Note(format!("not checked: {e}"))),
                ),
            },
            (None, None) => continue,
        };
        if let Some(finding) = finding {
            out.push((format!("upload[{i}].{key}"), finding));
        }
    }
    // The CA files too, with `run`'s own loaders: a missing, empty or endless one
    // (`/dev/zero`, a FIFO) must not pass here and fail there.
    for (i, upload) in uploads.iter().enumerate() {
        let problem = match upload {
            UploadConfig::Http(c) => c
                .ca_file
                .as_deref()
                .and_then(|f| http::root_certs_with(f).err()),
            UploadConfig::Mqtt(c) if c.tls => c
                .ca_file
                .as_deref()
                .and_then(|f| mqtt::tls_config(&c.host, Some(f)).err()),
            UploadConfig::Mqtt(_) => None,
        };
        if let Some(e) = problem {
            out.push((format!("upload[{i}].ca_file"), Finding::Problem(e.0)));
        }
    }
    out
}

/// One batch to deliver, oldest record first.
#[derive(Clone, Debug)]
pub struct Batch {
    pub station_id: String,
    pub records: Vec<(i64, ArchiveRecord)>,
}

/// Why a delivery failed, which decides what the uploader does next.
#[derive(Clone, Debug, PartialEq)]
pub enum DeliveryError {
    /// Worth retrying (network down, 5xx, timeout, 429): back off and try again,
    /// no sooner than `retry_after` if the server said so.
    Transient {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help (401/403/404/413, bad credentials): the destination stops
    /// with one log line and a status until the config is fixed and weatherd restarted.
    Permanent { message: String },
}

impl DeliveryError {
    /// The same error with every known secret taken out of its text: a server's or
    /// broker's error may echo what it was sent.
    pub fn redact(self, secrets: &[&str]) -> DeliveryError {
        match self {
            DeliveryError::Transient {
                message,
                retry_after,
            } => DeliveryError::Transient {
                message: secret::redact_known(&message, secrets),
                retry_after,
            },
            DeliveryError::Permanent { message } => DeliveryError::Permanent {
                message: secret::redact_known(&message, secrets),
            },
        }
    }
}

/// A place records are delivered to.
pub trait Destination: Send + 'static {
    /// Delivers the whole batch and returns only once the destination acknowledged all
    /// of it (an HTTP 2xx, or every PUBACK).
    fn deliver(&mut self, batch: &Batch) -> impl Future<Output = Result<(), DeliveryError>> + Send;
}

#[cfg(test)]
mod tests {
    #[test]
    fn station_ids_are_slugs() {
        assert_eq!(
            super::station_id("School weather station"),
            "school-weather-station"
        );
        assert_eq!(super::station_id("  St. Mary's (roof) "), "st-mary-s-roof");
        assert_eq!(super::station_id("!!!"), "station");
    }
}
