//! The `type = "mqtt"` table: its keys, defaults and checks, and how it becomes an
//! [`MqttDestination`].

use super::{load_credentials, tls_config, MqttDestination};
use crate::config::path::KeyPath;
use crate::config::validate::Validator;
use crate::upload::secret::{self, Finding};
use crate::upload::{Common, DestinationKind, SetupError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Records per batch by default: with `per = "record"` the PUBACKs of a batch are
/// awaited together, so a batch is also the number of messages in flight.
pub const DEFAULT_BATCH_SIZE: u32 = 100;

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
    #[serde(default = "defaults::topic")]
    pub topic: String,
    /// Retained copy of the newest record.
    #[serde(default = "defaults::latest_topic")]
    pub latest_topic: String,
    /// Retained `online`; the broker publishes the last will `offline` here.
    #[serde(default = "defaults::status_topic")]
    pub status_topic: String,
    #[serde(default)]
    pub per: MqttPer,
    #[serde(default = "defaults::keep_alive_seconds")]
    pub keep_alive_seconds: u32,
    /// Announce each quantity to Home Assistant by MQTT discovery (retained configs).
    #[serde(default)]
    pub home_assistant: bool,
    /// The topic prefix Home Assistant's MQTT integration listens on for discovery.
    #[serde(default = "defaults::discovery_prefix")]
    pub discovery_prefix: String,
    /// The station's time zone (from `[station]`), for Home Assistant's rain today;
    /// not a key of this table.
    #[serde(skip)]
    pub time_zone: Option<chrono_tz::Tz>,
    /// The shared keys (`batch_size`, `timeout_seconds`, ...): read once for every
    /// destination by the upload registry, never by this struct (so that unknown
    /// keys stay errors); written after the own keys.
    #[serde(flatten, skip_deserializing, default = "default_common")]
    pub common: Common,
}

fn default_common() -> Common {
    Common::defaults(DEFAULT_BATCH_SIZE)
}

pub mod defaults {
    pub fn keep_alive_seconds() -> u32 {
        30
    }
    pub fn topic() -> String {
        "weather/{station}/archive".into()
    }
    pub fn latest_topic() -> String {
        "weather/{station}/latest".into()
    }
    pub fn status_topic() -> String {
        "weather/{station}/status".into()
    }
    pub fn discovery_prefix() -> String {
        "homeassistant".into()
    }
}

impl DestinationKind for MqttConfig {
    const DEFAULT_BATCH_SIZE: u32 = DEFAULT_BATCH_SIZE;
    const MINIMAL: &'static str = "host = \"mqtt.example.org\"\n";
    type Destination = MqttDestination;

    fn check(&self, path: &KeyPath, v: &mut Validator<'_>) {
        let host = self.host.trim();
        if host.is_empty() {
            v.push(
                path.key("host"),
                "must not be empty; it is the MQTT broker's host name or address",
            );
        } else if host.contains("://") || host.contains('/') || host.contains(' ') {
            v.push(
                path.key("host"),
                format!(
                    "must be a host name or address only (the port goes in `port`, TLS in `tls`), found \"{}\"",
                    self.host
                ),
            );
        }
        if self.port == Some(0) {
            v.push(
                path.key("port"),
                "must be from 1 to 65535 (1883 is MQTT, 8883 MQTT over TLS), found 0",
            );
        }
        if self.ca_file.is_some() && !self.tls {
            v.push(path.key("ca_file"), "is only used with `tls = true`");
        }
        secret::check_one_secret(
            v,
            path,
            "credentials_file",
            "credentials_credential",
            self.credentials_file.is_some() && self.credentials_credential.is_some(),
        );
        if let Some(name) = &self.credentials_credential {
            secret::check_credential_name(v, path.key("credentials_credential"), name);
        }
        if let Some(id) = &self.client_id {
            if id.trim().is_empty() || id.len() > 128 {
                v.push(
                    path.key("client_id"),
                    format!("must be 1 to 128 characters (default \"weatherd-{{station}}\"), found \"{id}\""),
                );
            }
        }
        for (key, topic) in [
            ("topic", &self.topic),
            ("latest_topic", &self.latest_topic),
            ("status_topic", &self.status_topic),
        ] {
            if topic.trim().is_empty() {
                v.push(path.key(key), "must not be empty");
            } else if topic.contains('+') || topic.contains('#') {
                v.push(
                    path.key(key),
                    format!(
                        "must not contain the wildcards `+` or `#` (they are for subscribing, not publishing), \
                         found \"{topic}\""
                    ),
                );
            }
        }
        let prefix = &self.discovery_prefix;
        if prefix.trim().is_empty()
            || prefix.contains(['+', '#', '\0'])
            || prefix.starts_with('/')
            || prefix.ends_with('/')
        {
            v.push(
                path.key("discovery_prefix"),
                format!(
                    "must be a topic prefix without wildcards or a leading or trailing `/` \
                     (Home Assistant's default is \"homeassistant\"), found \"{prefix}\""
                ),
            );
        }
        if self.home_assistant && self.latest_topic.trim().is_empty() {
            v.push(
                path.key("latest_topic"),
                "must be set with home_assistant = true: it is the sensors' state topic",
            );
        }
        if !(5..=65_535).contains(&self.keep_alive_seconds) {
            v.push(
                path.key("keep_alive_seconds"),
                format!(
                    "must be from 5 to 65535 seconds, found {}",
                    self.keep_alive_seconds
                ),
            );
        }
    }

    fn check_secret(&self) -> Option<(&'static str, Finding)> {
        secret::check_secret(
            (self.credentials_file.as_deref(), "credentials_file"),
            (
                self.credentials_credential.as_deref(),
                "credentials_credential",
            ),
            load_credentials,
        )
    }

    fn check_ca_file(&self) -> Option<SetupError> {
        if !self.tls {
            return None;
        }
        self.ca_file
            .as_deref()
            .and_then(|f| tls_config(&self.host, Some(f)).err())
    }

    fn target(&self) -> String {
        format!(
            "mqtt → {}:{}",
            self.host,
            self.port.unwrap_or(if self.tls { 8883 } else { 1883 })
        )
    }

    fn set_time_zone(&mut self, tz: chrono_tz::Tz) {
        self.time_zone = Some(tz);
    }

    fn build(&self, station_id: &str) -> Result<MqttDestination, SetupError> {
        MqttDestination::new(self, station_id)
    }
}
