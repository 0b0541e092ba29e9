//! The `type = "influxdb"` table: its keys, defaults and checks.

use super::InfluxDestination;
use crate::config::path::KeyPath;
use crate::config::validate::Validator;
use crate::upload::http::{plain_http_refusal, proxy_env, HttpConfig};
use crate::upload::secret::{self, Finding};
use crate::upload::{Common, DestinationKind, SetupError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Records per write by default: InfluxDB recommends batches of about 5,000 lines;
/// 1,000 records (about 600 kB of text, 60 kB gzipped) keeps a Pi's memory small.
pub const DEFAULT_BATCH_SIZE: u32 = 1000;

/// Which write API the server speaks.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum InfluxApi {
    /// `/api/v2/write?org=&bucket=`, `Authorization: Token`.
    #[default]
    V2,
    /// `/write?db=`, basic auth.
    V1,
}

/// Write each record as one line-protocol point to InfluxDB or a compatible store.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InfluxConfig {
    pub name: String,
    /// The server's base address, e.g. `https://influx.example.org:8086`.
    pub url: String,
    #[serde(default)]
    pub api: InfluxApi,
    /// v2: the organization (InfluxDB 2; others ignore it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// v2: the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// v1: the database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// v2: a file holding the API token (mode 0600 or 0400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// v2: the systemd credential holding the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_credential: Option<String>,
    /// v1: a file with the user name on its first line and the password on its second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
    /// v1: the systemd credential holding the same two lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_credential: Option<String>,
    #[serde(default = "default_measurement")]
    pub measurement: String,
    /// Allow a plain `http://` URL to another machine.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_plain_http: bool,
    #[serde(flatten, skip_deserializing, default = "default_common")]
    pub common: Common,
}

fn default_measurement() -> String {
    "weather".into()
}

fn default_common() -> Common {
    Common::defaults(DEFAULT_BATCH_SIZE)
}

/// Where the v1 credentials are: the file, or the systemd credential's file.
pub(super) fn credentials_path(config: &InfluxConfig) -> Result<Option<PathBuf>, SetupError> {
    match (&config.credentials_file, &config.credentials_credential) {
        (Some(path), _) => Ok(Some(path.clone())),
        (None, Some(name)) => secret::credential_path(name).map(Some),
        (None, None) => Ok(None),
    }
}

impl InfluxConfig {
    /// The http destination's rule for plain `http://`, applied to this URL.
    pub(super) fn plain_http_refusal(&self) -> Option<SetupError> {
        let as_http = HttpConfig {
            name: self.name.clone(),
            url: self.url.clone(),
            token_file: None,
            token_credential: None,
            ca_file: None,
            proxy: None,
            allow_plain_http: self.allow_plain_http,
            common: self.common,
        };
        plain_http_refusal(&as_http, &proxy_env())
    }
}

impl DestinationKind for InfluxConfig {
    const DEFAULT_BATCH_SIZE: u32 = DEFAULT_BATCH_SIZE;
    const MINIMAL: &'static str =
        "url = \"https://influx.example.org:8086\"\norg = \"school\"\nbucket = \"weather\"\n";
    type Destination = InfluxDestination;

    fn check(&self, path: &KeyPath, v: &mut Validator<'_>) {
        let url_ok = (self.url.starts_with("https://") || self.url.starts_with("http://"))
            && !self.url.contains(['?', '#', '@', ' '])
            && self
                .url
                .split_once("://")
                .is_some_and(|(_, r)| !r.is_empty() && !r.starts_with('/'));
        if !url_ok {
            v.push(
                path.key("url"),
                format!(
                    "must be the server's base address, http(s)://host[:port][/prefix], without query, \
                     user or password (e.g. \"https://influx.example.org:8086\"); found \"{}\"",
                    self.url
                ),
            );
        } else if let Some(why) = self.plain_http_refusal() {
            v.push(path.key("url"), why.to_string());
        }
        let nonempty =
            |value: &Option<String>| value.as_deref().is_some_and(|s| !s.trim().is_empty());
        match self.api {
            InfluxApi::V2 => {
                if !nonempty(&self.bucket) {
                    v.push(
                        path.key("bucket"),
                        "is required with api = \"v2\" (the bucket to write to)",
                    );
                }
                for key in ["database", "credentials_file", "credentials_credential"] {
                    let set = match key {
                        "database" => self.database.is_some(),
                        "credentials_file" => self.credentials_file.is_some(),
                        _ => self.credentials_credential.is_some(),
                    };
                    if set {
                        v.push(
                            path.key(key),
                            "is for api = \"v1\"; with v2 use org, bucket and token_file",
                        );
                    }
                }
            }
            InfluxApi::V1 => {
                if !nonempty(&self.database) {
                    v.push(
                        path.key("database"),
                        "is required with api = \"v1\" (the database to write to)",
                    );
                }
                for key in ["org", "bucket", "token_file", "token_credential"] {
                    let set = match key {
                        "org" => self.org.is_some(),
                        "bucket" => self.bucket.is_some(),
                        "token_file" => self.token_file.is_some(),
                        _ => self.token_credential.is_some(),
                    };
                    if set {
                        v.push(
                            path.key(key),
                            "is for api = \"v2\"; with v1 use database and credentials_file",
                        );
                    }
                }
            }
        }
        let m = &self.measurement;
        if m.trim().is_empty() || m.starts_with('_') || m.contains(['\n', '\r']) || m.len() > 200 {
            v.push(
                path.key("measurement"),
                format!(
                    "must be 1 to 200 characters, not starting with `_` (reserved by InfluxDB), on one line; found \"{}\"",
                    m.escape_debug()
                ),
            );
        }
        secret::check_one_secret(
            v,
            path,
            "token_file",
            "token_credential",
            self.token_file.is_some() && self.token_credential.is_some(),
        );
        secret::check_one_secret(
            v,
            path,
            "credentials_file",
            "credentials_credential",
            self.credentials_file.is_some() && self.credentials_credential.is_some(),
        );
        if let Some(name) = &self.token_credential {
            secret::check_credential_name(v, path.key("token_credential"), name);
        }
        if let Some(name) = &self.credentials_credential {
            secret::check_credential_name(v, path.key("credentials_credential"), name);
        }
    }

    fn check_secret(&self) -> Option<(&'static str, Finding)> {
        match self.api {
            InfluxApi::V2 => secret::check_secret(
                (self.token_file.as_deref(), "token_file"),
                (self.token_credential.as_deref(), "token_credential"),
                |p| secret::load_token(Some(p), None),
            ),
            InfluxApi::V1 => secret::check_secret(
                (self.credentials_file.as_deref(), "credentials_file"),
                (
                    self.credentials_credential.as_deref(),
                    "credentials_credential",
                ),
                crate::upload::mqtt::load_credentials,
            ),
        }
    }

    fn target(&self) -> String {
        match self.api {
            InfluxApi::V2 => format!(
                "influxdb v2 → {} bucket {}",
                self.url,
                self.bucket.as_deref().unwrap_or("")
            ),
            InfluxApi::V1 => format!(
                "influxdb v1 → {} database {}",
                self.url,
                self.database.as_deref().unwrap_or("")
            ),
        }
    }

    fn build(&self, _station_id: &str) -> Result<InfluxDestination, SetupError> {
        InfluxDestination::new(self)
    }
}
