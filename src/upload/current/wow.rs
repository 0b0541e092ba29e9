//! `type = "wow"`: the Met Office Weather Observations Website's automatic upload.
//!
//! GET `automaticreading?siteid=..&siteAuthenticationKey=..&dateutc=..&softwaretype=..`
//! with the same imperial fields as Weather Underground; 200 is accepted, 403 means a
//! wrong site id or key. WOW takes past observations: after an outage the missed ones
//! are sent (see [`BACKFILL_MAX_AGE_S`]).

use super::{Current, Network, Snapshot};
use crate::config::path::KeyPath;
use crate::config::validate::Validator;
use crate::upload::secret::{self, Finding, Secret};
use crate::upload::{Common, DeliveryError, DestinationKind, SetupError};
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
    #[serde(default = "default_interval")]
    pub interval_seconds: u32,
    /// The endpoint.
    #[serde(default = "default_url")]
    pub url: String,
    #[serde(flatten, skip_deserializing, default = "default_common")]
    pub common: Common,
}

fn default_interval() -> u32 {
    300
}
fn default_url() -> String {
    DEFAULT_URL.into()
}
fn default_common() -> Common {
    Common::defaults(super::DEFAULT_BATCH_SIZE)
}

impl DestinationKind for WowConfig {
    const DEFAULT_BATCH_SIZE: u32 = super::DEFAULT_BATCH_SIZE;
    const MINIMAL: &'static str = "site_id = \"123456789\"\nkey_file = \"/etc/weatherd/wow.key\"\n";
    const CURRENT_CONDITIONS: bool = true;
    type Destination = Current<Wow>;

    fn check(&self, path: &KeyPath, v: &mut Validator<'_>) {
        super::check_ident(v, path.key("site_id"), &self.site_id, "123456789");
        super::check_required_secret(
            v,
            path,
            "key",
            self.key_file.as_deref(),
            self.key_credential.as_deref(),
        );
        super::check_interval(
            v,
            path,
            self.interval_seconds,
            MIN_INTERVAL_S,
            "WOW's 5 minutes",
        );
        super::check_url(v, path, &self.url);
    }

    fn check_secret(&self) -> Option<(&'static str, Finding)> {
        secret::check_secret(
            (self.key_file.as_deref(), "key_file"),
            (self.key_credential.as_deref(), "key_credential"),
            |p| secret::load_token(Some(p), None),
        )
    }

    fn target(&self) -> String {
        format!(
            "wow site {} → {} every {} s",
            self.site_id, self.url, self.interval_seconds
        )
    }

    fn build(&self, _station_id: &str) -> Result<Current<Wow>, SetupError> {
        if let Some(why) = super::plain_http_refusal(&self.url) {
            return Err(SetupError(why));
        }
        let key = super::load_secret(
            "key",
            self.key_file.as_deref(),
            self.key_credential.as_deref(),
        )?;
        Ok(Current::new(
            &self.name,
            self.interval_seconds,
            MIN_INTERVAL_S,
            Wow {
                agent: super::http_agent(self.common.timeout_seconds),
                url: self.url.clone(),
                site_id: self.site_id.clone(),
                key,
            },
        ))
    }
}

/// The sender.
pub struct Wow {
    agent: ureq::Agent,
    url: String,
    site_id: String,
    key: Secret,
}

impl Network for Wow {
    const BACKFILL_MAX_AGE_S: Option<i64> = Some(BACKFILL_MAX_AGE_S);

    fn send(&self, obs: &Snapshot) -> Result<String, DeliveryError> {
        let mut data = vec![("dateutc", obs.dateutc())];
        data.extend(super::wunderground::imperial_fields(obs));
        data.push(("softwaretype", super::SOFTWARE.to_string()));
        let mut fields = vec![
            ("siteid", self.site_id.clone()),
            ("siteAuthenticationKey", self.key.expose().to_string()),
        ];
        fields.extend(data.iter().cloned());
        let url = super::url_with_query(&self.url, &fields);
        let (status, body) = super::get(&self.agent, &url, None)?;
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
        super::secret_forms(&self.key)
    }
}
