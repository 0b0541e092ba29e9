//! `type = "wow"`: the Met Office Weather Observations Website's automatic upload.
//!
//! GET `automaticreading?siteid=..&siteAuthenticationKey=..&dateutc=..&softwaretype=..`
//! with the same imperial fields as Weather Underground; 200 is accepted, 403 means a
//! wrong site id or key. WOW takes past observations: after an outage the missed ones
//! are sent (see [`BACKFILL_MAX_AGE_S`]).

use super::get::{Endpoint, GetKeys, GetNetwork, KEY};
use super::{Network, Snapshot};
use crate::upload::{Common, DeliveryError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// WOW's endpoint.
pub const DEFAULT_URL: &str = "https://wow.metoffice.gov.uk/automaticreading";
/// WOW is built for readings every 5 minutes or more; we send no more often.
pub const MIN_INTERVAL_S: u32 = 300;
/// How far back missed observations are sent after an outage: a day. WOW documents
/// no limit for automatic readings; a longer outage is what its bulk (CSV) upload is
/// for, and a day at the 5-second pace takes at most 24 minutes to catch up.
pub const BACKFILL_MAX_AGE_S: i64 = 86_400;

/// Met Office WOW: the current conditions, and the missed ones after an outage.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WowConfig {
    /// Unique among destinations.
    pub name: String,
    /// The site id WOW gave (a number or a UUID).
    pub site_id: String,
    /// A file holding the site's authentication key (mode 0600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// A systemd credential holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_credential: Option<String>,
    /// Seconds between observations (at least 300).
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

impl GetNetwork for WowConfig {
    const MINIMAL: &'static str = "site_id = \"123456789\"\nkey_file = \"/etc/weatherd/wow.key\"\n";
    type Sender = Wow;

    fn keys(&self) -> GetKeys<'_> {
        GetKeys {
            name: &self.name,
            common: &self.common,
            id: ("site_id", &self.site_id, "123456789"),
            secret: KEY,
            secret_file: self.key_file.as_deref(),
            secret_credential: self.key_credential.as_deref(),
            interval_seconds: self.interval_seconds,
            min_interval_s: MIN_INTERVAL_S,
            interval_why: "WOW's 5 minutes",
            url: &self.url,
        }
    }

    fn target(&self) -> String {
        format!(
            "wow site {} → {} every {} s",
            self.site_id, self.url, self.interval_seconds
        )
    }

    fn sender(&self, endpoint: Endpoint) -> Wow {
        Wow { endpoint }
    }
}

/// The sender.
pub struct Wow {
    endpoint: Endpoint,
}

impl Network for Wow {
    const BACKFILL_MAX_AGE_S: Option<i64> = Some(BACKFILL_MAX_AGE_S);

    fn send(&self, obs: &Snapshot) -> Result<String, DeliveryError> {
        let mut data = vec![("dateutc", obs.dateutc())];
        data.extend(super::wunderground::imperial_fields(obs));
        data.push(("softwaretype", super::SOFTWARE.to_string()));
        let auth = vec![
            ("siteid", self.endpoint.id.clone()),
            (
                "siteAuthenticationKey",
                self.endpoint.secret.expose().to_string(),
            ),
        ];
        let (status, body) = self.endpoint.get(auth, &data, false)?;
        if (200..300).contains(&status) {
            return Ok(super::shown(&data));
        }
        Err(super::http_failure(
            "WOW",
            status,
            &body,
            status == 401 || status == 403,
        ))
    }

    fn secrets(&self) -> Vec<String> {
        self.endpoint.secrets()
    }
}
