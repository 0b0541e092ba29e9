//! The InfluxDB line-protocol destination (`type = "influxdb"`): each batch is one
//! gzip-compressed POST of line protocol (one point per record, see [`line`]).
//!
//! - `api = "v2"`: `POST {url}/api/v2/write?org=&bucket=&precision=s` with
//!   `Authorization: Token …` (InfluxDB 2 and 3, VictoriaMetrics, QuestDB);
//! - `api = "v1"`: `POST {url}/write?db=&precision=s` with optional basic auth
//!   (InfluxDB 1.x, VictoriaMetrics, Telegraf's `influxdb_listener`).
//!
//! A point's series (measurement + `station` tag) and timestamp (the record's start)
//! identify it: a batch re-sent after a lost acknowledgement overwrites the same
//! points with the same values, so the outbox's at-least-once delivery stores each
//! record exactly once. Answers are judged as the http destination judges them: 2xx
//! (InfluxDB answers 204) delivered; 408, 429 and 5xx retried with backoff; other
//! 4xx (bad token, unknown bucket, a field of another type) stop the destination with
//! the server's (redacted) message in `weatherd status`.

use super::http::{network_error, post_judged, without_userinfo};
use super::secret::{self, Secret};
use super::{Batch, DeliveryError, Destination, SetupError};
use base64::Engine;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;

mod config;
pub mod line;
pub use config::{InfluxApi, InfluxConfig, DEFAULT_BATCH_SIZE};

/// POSTs line protocol to one write endpoint.
pub struct InfluxDestination {
    agent: ureq::Agent,
    /// The full write URL, query included.
    write_url: String,
    /// The `Authorization` header value, if any.
    auth: Option<Secret>,
    /// What to take out of any error text: the token, the password.
    secrets: Vec<Secret>,
    measurement: String,
}

impl std::fmt::Debug for InfluxDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InfluxDestination")
            .field("write_url", &self.write_url)
            .field("auth", &self.auth.as_ref().map(|_| "***"))
            .field("measurement", &self.measurement)
            .finish()
    }
}

/// The write endpoint for a config: `url` plus the API's path and query.
pub fn write_url(config: &InfluxConfig) -> String {
    let base = config.url.trim_end_matches('/');
    match config.api {
        InfluxApi::V2 => format!(
            "{base}/api/v2/write?org={}&bucket={}&precision=s",
            super::current::encode(config.org.as_deref().unwrap_or("")),
            super::current::encode(config.bucket.as_deref().unwrap_or(""))
        ),
        InfluxApi::V1 => format!(
            "{base}/write?db={}&precision=s",
            super::current::encode(config.database.as_deref().unwrap_or(""))
        ),
    }
}

impl InfluxDestination {
    /// Checks the settings and reads the secret; connects only when the first batch
    /// is sent.
    pub fn new(config: &InfluxConfig) -> Result<InfluxDestination, SetupError> {
        if let Some(refusal) = config.plain_http_refusal() {
            return Err(refusal);
        }
        let (auth, secrets) = match config.api {
            InfluxApi::V2 => {
                let token = secret::load_token(
                    config.token_file.as_deref(),
                    config.token_credential.as_deref(),
                )?;
                let auth = token
                    .as_ref()
                    .map(|t| Secret::new(format!("Token {}", t.expose())));
                (auth, token.into_iter().collect())
            }
            InfluxApi::V1 => match config::credentials_path(config)? {
                Some(path) => {
                    let c = super::mqtt::load_credentials(&path)?;
                    let pair = format!("{}:{}", c.username(), c.password());
                    let basic = base64::engine::general_purpose::STANDARD.encode(pair.as_bytes());
                    let auth = Secret::new(format!("Basic {basic}"));
                    let secrets = vec![Secret::new(c.password()), Secret::new(basic)];
                    (Some(auth), secrets)
                }
                None => (None, Vec::new()),
            },
        };
        Ok(InfluxDestination {
            agent: super::http::agent_builder(config.common.timeout_seconds)
                .build()
                .into(),
            write_url: write_url(config),
            auth,
            secrets,
            measurement: config.measurement.clone(),
        })
    }

    /// The request body: the batch as gzip-compressed line protocol.
    pub fn body(&self, batch: &Batch) -> Vec<u8> {
        let text = line::encode(&self.measurement, &batch.station_id, &batch.records);
        let mut gz = GzEncoder::new(Vec::with_capacity(text.len() / 8), Compression::new(6));
        // Writing into a Vec cannot fail.
        let _ = gz.write_all(text.as_bytes());
        gz.finish().unwrap_or_default()
    }
}

impl Destination for InfluxDestination {
    async fn deliver(&mut self, batch: &Batch) -> Result<(), DeliveryError> {
        if batch.records.is_empty() {
            return Ok(());
        }
        let body = self.body(batch);
        let agent = self.agent.clone();
        let url = self.write_url.clone();
        let auth = self.auth.as_ref().map(|a| a.expose().to_string());
        let answer = tokio::task::spawn_blocking(move || post(&agent, &url, auth, &body))
            .await
            .map_err(|e| DeliveryError::Transient {
                message: format!("the write request did not finish: {e}"),
                retry_after: None,
            })?;
        let secrets: Vec<&str> = self.secrets.iter().map(Secret::expose).collect();
        answer.map_err(|e| e.redact(&secrets))
    }
}

fn post(
    agent: &ureq::Agent,
    url: &str,
    auth: Option<String>,
    body: &[u8],
) -> Result<(), DeliveryError> {
    let headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Encoding", "gzip"),
    ];
    let (status, judged) = post_judged(agent, url, &headers, auth.as_deref(), body, |e| {
        network_error(&without_userinfo(url), e)
    })?;
    judged.map_err(|e| hint(e, status))
}

/// The http destination's hints name its own keys; these are InfluxDB's.
fn hint(e: DeliveryError, status: u16) -> DeliveryError {
    let extra = match status {
        401 | 403 => " (check token_file / token_credential for api v2, credentials_file / credentials_credential for v1)",
        404 => " (check `url`, `api`, and that the org, bucket or database exists)",
        413 => " (batch too large for the server: lower `batch_size`)",
        422 => " (the server refused the points: outside the bucket's retention, or a field of another type)",
        _ => "",
    };
    match e {
        DeliveryError::Permanent { message } => {
            // Drop the http destination's own hint (it names its own keys).
            let message = match message.find(" (") {
                Some(i) if (400..500).contains(&status) && message[i..].contains("token") => {
                    message[..i].to_string()
                }
                _ => message,
            };
            let message = message
                .replace(" (the server does not accept gzip-compressed JSON)", "")
                .replace(" (check `url`)", "")
                .replace(" (batch too large for the server: lower `batch_size`)", "");
            DeliveryError::Permanent {
                message: format!("{message}{extra}"),
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload::http::judge;

    #[test]
    fn write_urls_for_both_apis() {
        let v2 = InfluxConfig::from_toml(
            "name = \"i\"\nurl = \"https://db.example.org/\"\norg = \"my org\"\nbucket = \"w/x\"\n",
        )
        .unwrap();
        assert_eq!(
            write_url(&v2),
            "https://db.example.org/api/v2/write?org=my%20org&bucket=w%2Fx&precision=s"
        );
        let v1 = InfluxConfig::from_toml(
            "name = \"i\"\napi = \"v1\"\nurl = \"http://127.0.0.1:8086\"\ndatabase = \"weather\"\n",
        )
        .unwrap();
        assert_eq!(
            write_url(&v1),
            "http://127.0.0.1:8086/write?db=weather&precision=s"
        );
    }

    #[test]
    fn refusals_name_influx_keys() {
        let e = judge(
            401,
            None,
            None,
            Ok(b"{\"error\":\"unauthorized\"}".to_vec()),
        );
        let DeliveryError::Permanent { message } = hint(e.unwrap_err(), 401) else {
            panic!("permanent");
        };
        assert!(message.contains("unauthorized"), "{message}");
        assert!(message.contains("credentials_file"), "{message}");
        assert_eq!(message.matches(" (").count(), 1, "{message}");
        let e = judge(404, None, None, Ok(b"bucket not found".to_vec())).unwrap_err();
        let DeliveryError::Permanent { message } = hint(e, 404) else {
            panic!("permanent");
        };
        assert!(
            message.contains("bucket not found") && message.contains("org, bucket"),
            "{message}"
        );
        for s in [429, 408, 500, 503] {
            let e = judge(s, None, None, Ok(vec![])).unwrap_err();
            assert!(matches!(hint(e, s), DeliveryError::Transient { .. }), "{s}");
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let d = InfluxDestination {
            agent: ureq::Agent::new_with_defaults(),
            write_url: "https://x/api/v2/write".into(),
            auth: Some(Secret::new("Token hunter2")),
            secrets: vec![Secret::new("hunter2")],
            measurement: "weather".into(),
        };
        assert!(!format!("{d:?}").contains("hunter2"));
    }
}
