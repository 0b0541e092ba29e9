//! `type = "wunderground"`: the Weather Underground PWS upload protocol (also spoken by
//! PWSweather and other WU-compatible servers, through `url`).
//!
//! GET `updateweatherstation.php?ID=..&PASSWORD=..&action=updateraw&dateutc=..` with
//! imperial units; the answer is the body `success`.

use super::get::{Endpoint, GetKeys, GetNetwork, PASSWORD};
use super::snapshot::{fahrenheit, inches, inhg, mph};
use super::{Network, Snapshot};
use crate::upload::{Common, DeliveryError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Weather Underground's endpoint.
pub const DEFAULT_URL: &str =
    "https://rtupdate.wunderground.com/weatherstation/updateweatherstation.php";
/// Normal uploads: WU shows a station as current with one every 5 minutes; more than
/// one a minute is what rapid-fire is for.
pub const MIN_INTERVAL_S: u32 = 60;
/// Rapid-fire: WU takes one every 2.5 s at most; weatherd has a new record only once
/// per archive interval, so each stored record is sent as soon as it is stored.
pub const MIN_RAPIDFIRE_INTERVAL_S: u32 = 5;

/// Weather Underground (or a WU-compatible server): the current conditions.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WundergroundConfig {
    /// Unique among destinations.
    pub name: String,
    /// The station id WU gave (`KCASANFR123`, `IMYTOWN12`).
    pub station_id: String,
    /// A file holding the station key / password (mode 0600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// A systemd credential holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_credential: Option<String>,
    /// Rapid-fire updates (`realtime=1&rtfreq=interval_seconds`).
    #[serde(default)]
    pub rapidfire: bool,
    /// Seconds between uploads (at least 60, or 5 with `rapidfire`).
    #[serde(default = "super::default_interval")]
    pub interval_seconds: u32,
    /// The endpoint; another WU-compatible server's (PWSweather) works too.
    #[serde(default = "default_url")]
    pub url: String,
    #[serde(flatten, skip_deserializing, default = "super::default_common")]
    pub common: Common,
}

fn default_url() -> String {
    DEFAULT_URL.into()
}

impl WundergroundConfig {
    fn min_interval(&self) -> u32 {
        if self.rapidfire {
            MIN_RAPIDFIRE_INTERVAL_S
        } else {
            MIN_INTERVAL_S
        }
    }
}

impl GetNetwork for WundergroundConfig {
    const MINIMAL: &'static str =
        "station_id = \"KXXTEST1\"\npassword_file = \"/etc/weatherd/wu.key\"\n";
    type Sender = Wunderground;

    fn keys(&self) -> GetKeys<'_> {
        GetKeys {
            name: &self.name,
            common: &self.common,
            id: ("station_id", &self.station_id, "KCASANFR123"),
            secret: PASSWORD,
            secret_file: self.password_file.as_deref(),
            secret_credential: self.password_credential.as_deref(),
            interval_seconds: self.interval_seconds,
            min_interval_s: self.min_interval(),
            interval_why: if self.rapidfire {
                "rapid-fire's fastest"
            } else {
                "WU's normal rate; set `rapidfire = true` for faster"
            },
            url: &self.url,
        }
    }

    fn target(&self) -> String {
        format!(
            "wunderground {} → {} every {} s{}",
            self.station_id,
            self.url,
            self.interval_seconds,
            if self.rapidfire { " (rapid-fire)" } else { "" }
        )
    }

    fn sender(&self, endpoint: Endpoint) -> Wunderground {
        let interval = self.interval_seconds.max(self.min_interval());
        Wunderground {
            endpoint,
            rapidfire: self.rapidfire.then_some(interval),
        }
    }
}

/// The sender.
pub struct Wunderground {
    endpoint: Endpoint,
    /// `Some(rtfreq)` in rapid-fire mode.
    rapidfire: Option<u32>,
}

/// The imperial fields WU and WOW share, each only when its value is known.
pub fn imperial_fields(obs: &Snapshot) -> Vec<(&'static str, String)> {
    use super::num;
    let mut f = Vec::new();
    let mut put = |k: &'static str, v: Option<String>| {
        if let Some(v) = v {
            f.push((k, v));
        }
    };
    put("tempf", obs.temperature_c.map(|c| num(fahrenheit(c), 1)));
    put(
        "humidity",
        obs.humidity_pct
            .map(|h| num(h.clamp(0.0, 100.0).round(), 0)),
    );
    put("dewptf", obs.dew_point_c.map(|c| num(fahrenheit(c), 1)));
    put("baromin", obs.sea_level_hpa.map(|p| num(inhg(p), 3)));
    put("windspeedmph", obs.wind_speed_kmh.map(|w| num(mph(w), 1)));
    put("windgustmph", obs.wind_gust_kmh.map(|w| num(mph(w), 1)));
    put(
        "winddir",
        obs.wind_dir_deg
            .map(|d| num(d.rem_euclid(360.0).round(), 0)),
    );
    put("rainin", obs.rain_1h_mm.map(|r| num(inches(r), 2)));
    put("dailyrainin", obs.rain_today_mm.map(|r| num(inches(r), 2)));
    put(
        "soiltempf",
        obs.soil_temperature_c.map(|c| num(fahrenheit(c), 1)),
    );
    f
}

impl Network for Wunderground {
    const BACKFILL_MAX_AGE_S: Option<i64> = None;

    fn send(&self, obs: &Snapshot) -> Result<String, DeliveryError> {
        let mut data = vec![("dateutc", obs.dateutc())];
        data.extend(imperial_fields(obs));
        data.push(("softwaretype", super::SOFTWARE.to_string()));
        if let Some(rtfreq) = self.rapidfire {
            data.push(("realtime", "1".into()));
            data.push(("rtfreq", rtfreq.to_string()));
        }
        let auth = vec![
            ("ID", self.endpoint.id.clone()),
            ("PASSWORD", self.endpoint.secret.expose().to_string()),
            ("action", "updateraw".to_string()),
        ];
        let (status, body) = self.endpoint.get(auth, &data, false)?;
        if status == 200 && body.trim().eq_ignore_ascii_case("success") {
            return Ok(super::shown(&data));
        }
        // WU answers a wrong id or key with 401 or with `INVALIDPASSWORDID` in a 200.
        let auth = status == 401 || status == 403 || body.contains("INVALIDPASSWORDID");
        Err(super::http_failure(
            "Weather Underground",
            status,
            &body,
            auth,
        ))
    }

    fn secrets(&self) -> Vec<String> {
        self.endpoint.secrets()
    }
}
