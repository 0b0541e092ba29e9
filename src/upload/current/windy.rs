//! `type = "windy"`: Windy's station API v2 (the current one since 2026).
//!
//! GET `/api/v2/observation/update?id=STATION&time=..&temp=..` with the header
//! `Authorization: Bearer <station password>`, metric units (`temp` and `dewpoint` °C,
//! `wind` and `gust` m/s, `winddir` °, `pressure` Pa at sea level, `rh` %, `precip` mm
//! in the last hour); 200 is accepted, 401/403 mean a wrong id or password, 429 too
//! many. At most one every 5 minutes.

use super::get::{Endpoint, GetKeys, GetNetwork, PASSWORD};
use super::snapshot::metres_per_second;
use super::{Network, Snapshot};
use crate::upload::{Common, DeliveryError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Windy's endpoint.
pub const DEFAULT_URL: &str = "https://stations.windy.com/api/v2/observation/update";
/// Windy takes one observation per 5 minutes at most.
pub const MIN_INTERVAL_S: u32 = 300;

/// Windy.com: the current conditions.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WindyConfig {
    /// Unique among destinations.
    pub name: String,
    /// The station id Windy gave.
    pub station_id: String,
    /// A file holding the station password (mode 0600), sent as a bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// A systemd credential holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_credential: Option<String>,
    /// Seconds between uploads (at least 300).
    #[serde(default = "super::default_interval")]
    pub interval_seconds: u32,
    /// The endpoint.
    #[serde(default = "default_url")]
    pub url: String,
    #[serde(flatten, skip_deserializing, default = "super::default_common")]
    pub common: Common,
}

fn default_url() -> String {
    DEFAULT_URL.into()
}

impl GetNetwork for WindyConfig {
    const MINIMAL: &'static str =
        "station_id = \"f0e1d2c3\"\npassword_file = \"/etc/weatherd/windy.key\"\n";
    type Sender = Windy;

    fn keys(&self) -> GetKeys<'_> {
        GetKeys {
            name: &self.name,
            common: &self.common,
            id: ("station_id", &self.station_id, "f0e1d2c3"),
            secret: PASSWORD,
            secret_file: self.password_file.as_deref(),
            secret_credential: self.password_credential.as_deref(),
            interval_seconds: self.interval_seconds,
            min_interval_s: MIN_INTERVAL_S,
            interval_why: "Windy's limit",
            url: &self.url,
        }
    }

    fn target(&self) -> String {
        format!(
            "windy station {} → {} every {} s",
            self.station_id, self.url, self.interval_seconds
        )
    }

    fn sender(&self, endpoint: Endpoint) -> Windy {
        Windy { endpoint }
    }
}

/// The sender.
pub struct Windy {
    endpoint: Endpoint,
}

/// Windy's metric fields, each only when its value is known.
pub fn metric_fields(obs: &Snapshot) -> Vec<(&'static str, String)> {
    use super::num;
    let mut f = Vec::new();
    let mut put = |k: &'static str, v: Option<String>| {
        if let Some(v) = v {
            f.push((k, v));
        }
    };
    put("temp", obs.temperature_c.map(|c| num(c, 1)));
    put(
        "wind",
        obs.wind_speed_kmh.map(|w| num(metres_per_second(w), 1)),
    );
    put(
        "gust",
        obs.wind_gust_kmh.map(|w| num(metres_per_second(w), 1)),
    );
    put(
        "winddir",
        obs.wind_dir_deg
            .map(|d| num(d.rem_euclid(360.0).round(), 0)),
    );
    put("pressure", obs.sea_level_hpa.map(|p| num(p * 100.0, 0)));
    put(
        "rh",
        obs.humidity_pct
            .map(|h| num(h.clamp(0.0, 100.0).round(), 0)),
    );
    put("dewpoint", obs.dew_point_c.map(|c| num(c, 1)));
    put("precip", obs.rain_1h_mm.map(|r| num(r, 1)));
    f
}

impl Network for Windy {
    const BACKFILL_MAX_AGE_S: Option<i64> = None;

    fn send(&self, obs: &Snapshot) -> Result<String, DeliveryError> {
        let mut data = vec![("time", obs.at.rfc3339())];
        data.extend(metric_fields(obs));
        let auth = vec![("id", self.endpoint.id.clone())];
        let (status, body) = self.endpoint.get(auth, &data, true)?;
        if (200..300).contains(&status) {
            return Ok(super::shown(&data));
        }
        if status == 429 {
            return Err(DeliveryError::Transient {
                message: format!("Windy says too many requests (HTTP 429): {body}"),
                retry_after: Some(std::time::Duration::from_secs(300)),
            });
        }
        Err(super::http_failure(
            "Windy",
            status,
            &body,
            status == 401 || status == 403,
        ))
    }

    fn secrets(&self) -> Vec<String> {
        self.endpoint.secrets()
    }
}
