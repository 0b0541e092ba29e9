//! Current-conditions networks (Weather Underground, Met Office WOW, CWOP, Windy).
//!
//! Unlike an archive destination, which gets every record exactly once, these accept
//! only recent observations at a limited rate. They ride on the same uploader (cursor,
//! backoff, one log line per change of state, `stopped` on bad credentials), but their
//! [`Current::deliver`] decides what of a batch to send:
//!
//! - on the network's schedule: an observation goes out only when its time is at
//!   least `interval_seconds` after the last one the network accepted (kept in the
//!   database, so a restart does not send early). Times are the records' end times,
//!   so the schedule follows the station's clock, simulated under `--simulate`;
//! - never a backlog the network would reject: WU, CWOP and Windy get only the newest
//!   stored record (whatever the batch holds: an outage's backlog, or a retry that
//!   newer records overtook, is acknowledged without being sent), and only if it
//!   ended within [`RECENT_S`] of the station's "now";
//! - WOW takes past observations: after an outage it gets the missed ones, one per
//!   interval, no older than [`wow::BACKFILL_MAX_AGE_S`], [`BACKFILL_GAP`] apart.
//!
//! Each protocol's minimum interval is refused at `check-config` and also clamped here.

mod cwop;
mod get;
mod snapshot;
mod windy;
mod wow;
mod wunderground;

pub use cwop::{aprs_packet, aprs_position, CwopConfig};
pub use snapshot::Snapshot;
pub use windy::WindyConfig;
pub use wow::WowConfig;
pub use wunderground::WundergroundConfig;

use super::secret::Secret;
use super::{Batch, DeliveryError, Destination, Site, SiteClock};
use crate::config::path::KeyPath;
use crate::config::validate::Validator;
use crate::record::ArchiveRecord;
use crate::store::{Outbox, Reader, Store};
use crate::time::Timestamp;
use std::sync::Arc;
use std::time::Duration;

/// How recent the newest record must be (seconds before the station's "now") for a
/// network that takes only current conditions: a record is stored at the end of its
/// archive interval, so even a 10-minute archive interval passes, while a record left
/// over from before a long stop does not.
pub const RECENT_S: i64 = 900;

/// The pause between two backfilled observations (WOW after an outage): at most one
/// request per 5 seconds of the station's clock. The networks publish no rate for
/// this; 5 s keeps a day's backlog (288 readings at 5 minutes) to 24 minutes.
pub const BACKFILL_GAP: Duration = Duration::from_secs(5);

/// Records per delivery: a whole outage's backlog in one batch, so the newest record
/// is seen at once (the records in between are only skipped).
pub const DEFAULT_BATCH_SIZE: u32 = 10_000;

/// `interval_seconds` when the table gives none (WU, WOW, Windy): five minutes, the
/// rate WOW and Windy take at most and WU shows a station as current with.
pub(crate) fn default_interval() -> u32 {
    300
}

/// The shared settings' defaults for every network (its batch size).
pub(crate) fn default_common() -> super::Common {
    super::Common::defaults(DEFAULT_BATCH_SIZE)
}

/// `softwaretype` and the APRS-IS login: `weatherd-VERSION`.
pub const SOFTWARE: &str = concat!("weatherd-", env!("CARGO_PKG_VERSION"));

/// What each network's module provides: how to send one observation.
pub trait Network: Send + Sync + 'static {
    /// `Some(seconds)`: the network takes past observations up to this old, and the
    /// missed ones are sent after an outage; `None`: only the newest.
    const BACKFILL_MAX_AGE_S: Option<i64>;
    /// Sends one observation (blocking: runs on tokio's blocking pool); returns what
    /// was sent for `weatherd status`, without any credential.
    fn send(&self, obs: &Snapshot) -> Result<String, DeliveryError>;
    /// The secrets to take out of any error text.
    fn secrets(&self) -> Vec<String>;
}

/// A current-conditions destination: a [`Network`] on its schedule.
pub struct Current<N: Network> {
    name: String,
    interval_s: i64,
    network: Arc<N>,
    site: Option<Site>,
    db: Option<(Reader, Outbox)>,
    /// The time of the last observation the network accepted.
    last_sent: Option<Timestamp>,
    /// When the last request went out: no two closer than the polite gap.
    last_request: Option<tokio::time::Instant>,
}

impl<N: Network> Current<N> {
    pub fn new(name: &str, interval_s: u32, min_interval_s: u32, network: N) -> Self {
        Current {
            name: name.to_string(),
            // Whatever the config says (check-config refuses less already).
            interval_s: i64::from(interval_s.max(min_interval_s)),
            network: Arc::new(network),
            site: None,
            db: None,
            last_sent: None,
            last_request: None,
        }
    }

    fn open(&mut self) -> Result<(&Site, &Reader, &mut Outbox), DeliveryError> {
        let site = self.site.as_ref().ok_or_else(|| DeliveryError::Permanent {
            message: "internal error: the destination was not given the station's facts".into(),
        })?;
        if self.db.is_none() {
            let db = |e: crate::store::StoreError| DeliveryError::Transient {
                message: format!("cannot open the database: {e}"),
                retry_after: None,
            };
            let reader = Store::open_read_only(&site.db_path).map_err(db)?;
            let outbox = Store::open_outbox(&site.db_path).map_err(db)?;
            self.last_sent = reader
                .upload_last_sent(&self.name)
                .map_err(db)?
                .map(|(t, _)| t);
            self.db = Some((reader, outbox));
        }
        let (reader, outbox) = self.db.as_mut().expect("opened above");
        Ok((site, reader, outbox))
    }

    fn due(&self, observed: Timestamp) -> bool {
        self.last_sent
            .is_none_or(|t| observed.secs() - t.secs() >= self.interval_s)
    }
}

fn db_error(e: crate::store::StoreError) -> DeliveryError {
    DeliveryError::Transient {
        message: format!("cannot read the database: {e}"),
        retry_after: None,
    }
}

impl<N: Network> Destination for Current<N> {
    fn attach(&mut self, site: &Site) {
        self.site = Some(site.clone());
    }

    async fn deliver(&mut self, batch: &Batch) -> Result<(), DeliveryError> {
        let secrets = self.network.secrets();
        let redact = |e: DeliveryError| {
            let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
            e.redact(&refs)
        };
        let (site, reader, _) = self.open()?;
        let site = site.clone();
        let newest_id = reader.last_id().map_err(db_error)?;
        // The station's "now": the wall clock, or under --simulate the newest record.
        let now = match site.clock {
            SiteClock::Real => Timestamp::now(),
            SiteClock::Simulated { .. } => reader
                .resume()
                .map_err(db_error)?
                .last_end
                .unwrap_or(Timestamp(i64::MIN)),
        };
        let picks: Vec<ArchiveRecord> = match N::BACKFILL_MAX_AGE_S {
            Some(max_age) => batch
                .records
                .iter()
                .filter(|(_, r)| r.end >= now.add_secs(-max_age))
                .map(|(_, r)| r.clone())
                .collect(),
            // The newest stored record, which may be newer than this batch (the
            // backlog after an outage, or records stored since the batch was read):
            // the batch only says "something new was stored".
            None => {
                let (_, _, outbox) = self.open()?;
                outbox
                    .records_after(newest_id - 1, 1)
                    .map_err(db_error)?
                    .into_iter()
                    .map(|(_, r)| r)
                    .filter(|r| r.end >= now.add_secs(-RECENT_S))
                    .collect()
            }
        };
        let gap = match site.clock {
            SiteClock::Real => Some(BACKFILL_GAP),
            SiteClock::Simulated { speed: Some(f) } if f > 0.0 => {
                Some(BACKFILL_GAP.div_f64(f.max(1.0)))
            }
            SiteClock::Simulated { .. } => None,
        };
        for record in &picks {
            if !self.due(record.end) {
                continue;
            }
            // Never two requests closer than the gap, within a backfill or across
            // deliveries (a retry, the next batch).
            if let (Some(gap), Some(last)) = (gap, self.last_request) {
                tokio::time::sleep_until(last + gap).await;
            }
            let (site, reader, _) = self.open()?;
            let obs = Snapshot::build(reader, record, site).map_err(db_error)?;
            let network = Arc::clone(&self.network);
            self.last_request = Some(tokio::time::Instant::now());
            let what = tokio::task::spawn_blocking(move || network.send(&obs))
                .await
                .map_err(|e| DeliveryError::Transient {
                    message: format!("the upload task failed: {e}"),
                    retry_after: None,
                })?
                .map_err(redact)?;
            self.last_sent = Some(record.end);
            let name = self.name.clone();
            let (_, _, outbox) = self.open()?;
            if let Err(e) = outbox.set_upload_sent(&name, record.end, &what) {
                // Only the status and the restart schedule miss it; the next send retries.
                tracing::warn!(destination = %name, "cannot record what was sent: {e}");
            }
            tracing::debug!(destination = %name, observed = %record.end, "sent {what}");
        }
        Ok(())
    }
}

/// `interval_seconds`: from the network's minimum to a day.
pub(crate) fn check_interval(
    v: &mut Validator<'_>,
    path: &KeyPath,
    interval: u32,
    min: u32,
    why: &str,
) {
    if !(min..=86_400).contains(&interval) {
        v.push(
            path.key("interval_seconds"),
            format!("must be from {min} ({why}) to 86400 seconds, found {interval}"),
        );
    }
}

/// The agent the HTTP networks share: no redirects (a moved endpoint is a config
/// change), the shared timeout, weatherd's user agent; status codes are ours to judge.
pub(crate) fn http_agent(timeout_s: u32) -> ureq::Agent {
    super::http::agent_builder(timeout_s).build().into()
}

/// A GET URL: `base?k=v&...`, every key and value percent-encoded.
pub(crate) fn url_with_query(base: &str, fields: &[(&str, String)]) -> String {
    let mut url = base.to_string();
    url.push(if base.contains('?') { '&' } else { '?' });
    url.push_str(&query(fields));
    url
}

/// `k=v&...` with every key and value percent-encoded (RFC 3986 unreserved kept).
pub fn query(fields: &[(&str, String)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The fields as `weatherd status` shows what was sent: `k=v k=v`, not encoded.
pub(crate) fn shown(fields: &[(&str, String)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Percent-encodes a query key or value (everything but RFC 3986's unreserved).
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Every form a secret may take in an echoed URL or body: as is and percent-encoded.
pub(crate) fn secret_forms(secret: &Secret) -> Vec<String> {
    let raw = secret.expose().to_string();
    let enc = encode(&raw);
    if enc == raw {
        vec![raw]
    } else {
        vec![raw, enc]
    }
}

/// A GET and its answer: `(status, body)` (the body cut to 512 bytes for messages).
pub(crate) fn get(
    agent: &ureq::Agent,
    url: &str,
    bearer: Option<&str>,
) -> Result<(u16, String), DeliveryError> {
    let mut request = agent.get(url);
    if let Some(token) = bearer {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut response = request.call().map_err(|e| DeliveryError::Transient {
        // The error may quote the URL with its credentials: the caller redacts.
        message: format!("cannot reach the server: {e}"),
        retry_after: None,
    })?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 << 10)
        .read_to_string()
        .unwrap_or_default();
    let mut body = body.trim().to_string();
    if body.len() > 512 {
        let mut cut = 512;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        body.truncate(cut);
    }
    Ok((status, body))
}

/// The outcome of an HTTP answer that is not the network's success: bad credentials
/// stop the destination (retrying cannot help), anything else is retried.
pub(crate) fn http_failure(network: &str, status: u16, body: &str, auth: bool) -> DeliveryError {
    let body = if body.is_empty() {
        "(empty body)"
    } else {
        body
    };
    if auth {
        DeliveryError::Permanent {
            message: format!(
                "{network} refused the credentials (HTTP {status}): {body}; check the station id and \
                 the secret file, then restart weatherd"
            ),
        }
    } else {
        DeliveryError::Transient {
            message: format!("{network} answered HTTP {status}: {body}"),
            retry_after: None,
        }
    }
}

/// `1.5` with at most `places` decimals and no trailing zeros (`12`, `0.35`).
pub fn num(v: f64, places: usize) -> String {
    let s = format!("{v:.places$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

/// `url`: an http(s) URL with a host; plain http only as the http destination allows
/// it (to this machine, without a proxy), since the credentials travel in it.
pub(crate) fn check_url(v: &mut Validator<'_>, path: &KeyPath, url: &str) {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let host_ok = rest.is_some_and(|r| {
        let authority = r.split(['/', '?', '#']).next().unwrap_or("");
        !authority.is_empty() && !authority.contains('@')
    });
    if !host_ok {
        v.push(
            path.key("url"),
            format!(
                "must be an https:// URL with a host and no user name or password in it, found \"{url}\""
            ),
        );
    } else if let Some(why) = plain_http_refusal(url) {
        v.push(path.key("url"), why.to_string());
    }
}

/// The http destination's rule for plain `http://` (loopback only, no proxy), applied
/// to a network's `url`.
pub(crate) fn plain_http_refusal(url: &str) -> Option<super::SetupError> {
    let as_http = super::HttpConfig {
        name: String::new(),
        url: url.to_string(),
        token_file: None,
        token_credential: None,
        ca_file: None,
        proxy: None,
        allow_plain_http: false,
        common: super::Common::defaults(1),
    };
    super::http::plain_http_refusal(&as_http, &super::http::proxy_env())
}

/// The secret a network needs, from `<key>_file` or `<key>_credential` (exactly one).
pub(crate) fn check_required_secret(
    v: &mut Validator<'_>,
    path: &KeyPath,
    key: &str,
    file: Option<&std::path::Path>,
    credential: Option<&str>,
) {
    let (file_key, cred_key) = (format!("{key}_file"), format!("{key}_credential"));
    super::secret::check_one_secret(
        v,
        path,
        &file_key,
        &cred_key,
        file.is_some() && credential.is_some(),
    );
    if file.is_none() && credential.is_none() {
        v.push(
            path.key(&file_key),
            format!(
                "is required (or `{cred_key}`): the network refuses uploads without its {key}; \
                 put it in a file only weatherd's user can read (chmod 600)"
            ),
        );
    }
    if let Some(f) = file {
        v.not_empty(
            path.key(&file_key),
            &f.to_string_lossy(),
            "it is the file holding the secret",
        );
    }
    if let Some(name) = credential {
        super::secret::check_credential_name(v, path.key(&cred_key), name);
    }
}

/// Reads a required one-line secret with the shared loader.
pub(crate) fn load_secret(
    key: &'static str,
    file: Option<&std::path::Path>,
    credential: Option<&str>,
) -> Result<Secret, super::SetupError> {
    super::secret::load_token(file, credential)?.ok_or(super::SetupError::MissingSecret { key })
}

/// `(key path, value)` checks of an identifier sent to a network (station id, site id,
/// callsign): not empty, printable ASCII without spaces.
pub(crate) fn check_ident(v: &mut Validator<'_>, path: KeyPath, value: &str, example: &str) {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic()) || value.len() > 64 {
        v.push(
            path,
            format!(
                "must be the id the network gave the station (1 to 64 printable characters, no \
                 spaces), e.g. \"{example}\"; found \"{value}\""
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_queries() {
        assert_eq!(num(68.0, 1), "68");
        assert_eq!(num(29.921_3, 3), "29.921");
        assert_eq!(num(-0.01, 1), "0");
        assert_eq!(
            query(&[
                ("dateutc", "2026-01-01 12:00:00".into()),
                ("a&b", "x/y".into())
            ]),
            "dateutc=2026-01-01%2012%3A00%3A00&a%26b=x%2Fy"
        );
    }
}
