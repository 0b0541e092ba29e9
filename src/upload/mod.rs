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

pub mod current;
pub mod http;
pub mod influxdb;
pub mod mqtt;
pub mod outbox;
pub mod payload;
pub mod secret;
mod setup_error;
#[cfg(test)]
mod setup_error_tests;
pub mod tasks;

pub use outbox::{run_uploader, Policy};
pub use setup_error::SetupError;
pub use tasks::{spawn_all, Uploads};

use crate::config::parse::Problem;
use crate::config::path::KeyPath;
use crate::config::validate::Validator;
use crate::record::ArchiveRecord;
use crate::store::Outbox;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;
use tokio::task::JoinHandle;

pub use http::HttpConfig;
pub use mqtt::{MqttConfig, MqttPer};

/// The fields every destination's config struct has, `name` and `common`: the
/// registry implements this for each registered struct, so a module writes only
/// what is its own.
pub(crate) trait DestinationFields {
    fn name(&self) -> &str;
    fn common(&self) -> &Common;
    fn common_mut(&mut self) -> &mut Common;
}

/// What a destination type's module provides, implemented by its config struct
/// (which holds its own keys, plus the shared ones in a [`Common`] it does not parse).
pub(crate) trait DestinationKind: DestinationFields + Sized {
    /// The `batch_size` when the table gives none (the one shared key whose default
    /// depends on how the destination sends).
    const DEFAULT_BATCH_SIZE: u32;
    /// The smallest valid table of this type, without `type` and `name` (its
    /// required keys): for tests that go over every registered type.
    const MINIMAL: &'static str;
    /// True for a current-conditions network (`current`): it gets each record as soon
    /// as it is stored (no batching delay) and sends only what its schedule wants.
    const CURRENT_CONDITIONS: bool = false;
    /// What `build` returns.
    type Destination: Destination;
    /// Checks this destination's own values (the shared ones are checked once, by
    /// [`check_all`]), reporting every problem under `at` (`upload[N]`).
    fn check(&self, at: &KeyPath, v: &mut Validator<'_>);
    /// `check-config`'s look at the secret (token, credentials) with the loader `run`
    /// uses: the key and the finding, if `run` would refuse it or it cannot be checked.
    fn check_secret(&self) -> Option<(&'static str, secret::Finding)>;
    /// The same for the CA file: why `run` would refuse it, if it would (none by
    /// default: most destinations have no CA file).
    fn check_ca_file(&self) -> Option<SetupError> {
        None
    }
    /// Where it sends, for `weatherd status` (never with a secret).
    fn target(&self) -> String;
    /// Hands the station's time zone (for values "since local midnight"); most
    /// destinations have no use for it.
    fn set_time_zone(&mut self, _tz: chrono_tz::Tz) {}
    /// Reads the secrets and sets the destination up; connects only when the first
    /// batch is sent.
    fn build(&self, station_id: &str) -> Result<Self::Destination, SetupError>;
}

/// The registry: one line per destination type, `Variant("type") => module::ConfigStruct`.
/// From it come the `UploadConfig` enum (an `[[upload]]` table), the list of `type`
/// values, the parse dispatch and every per-type `match`, as `sensor_registry!` does
/// for sensors (a macro for the same reason: the config stays a plain enum that serde
/// renders and tests match on, and no type can be half-registered).
macro_rules! destination_registry {
    ($($variant:ident($type:literal) => $module:ident :: $config:ident,)+) => {
        /// One `[[upload]]` table. `type` picks the destination; the other keys are its
        /// parameters and the shared [`Common`] ones.
        #[derive(Clone, Debug, Serialize, PartialEq)]
        #[serde(tag = "type")]
        pub enum UploadConfig {
            $(#[serde(rename = $type)] $variant($module::$config),)+
        }

        impl UploadConfig {
            /// Every value `type` may take, in the order error messages list them.
            pub const TYPES: &'static [&'static str] = &[$($type),+];

            /// The `type` value of this destination.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(UploadConfig::$variant(_) => $type,)+
                }
            }

            /// The default `batch_size` of a type (`None`: no such type).
            pub fn default_batch_size(type_name: &str) -> Option<u32> {
                match type_name {
                    $($type => Some(<$module::$config as DestinationKind>::DEFAULT_BATCH_SIZE),)+
                    _ => None,
                }
            }

            /// The smallest valid table of a type, without `type` and `name`.
            pub fn minimal_table(type_name: &str) -> Option<&'static str> {
                match type_name {
                    $($type => Some(<$module::$config as DestinationKind>::MINIMAL),)+
                    _ => None,
                }
            }

            /// Reads an `[[upload]]` table (without its `type` key) as the struct
            /// `type` names; `None` for an unknown type.
            pub(crate) fn parse_as(
                type_name: &str,
                rest: toml::Table,
                path: &KeyPath,
            ) -> Option<Result<UploadConfig, Problem>> {
                match type_name {
                    $($type => Some(parse_table(rest, path).map(UploadConfig::$variant)),)+
                    _ => None,
                }
            }

            /// Builds the destination and starts its uploader, or marks it stopped
            /// when it cannot be set up.
            pub(crate) fn start(
                &self,
                uploads: &tasks::Uploads,
                station_id: &str,
                outbox: Outbox,
                policy: Policy,
            ) -> Option<JoinHandle<Option<outbox::Summary>>> {
                match self {
                    $(UploadConfig::$variant(c) => match c.build(station_id) {
                        Ok(d) => uploads.spawn(self.name(), station_id, outbox, d, policy),
                        Err(e) => tasks::setup_failed(outbox, self.name(), &e.to_string()),
                    },)+
                }
            }

            /// True for the current-conditions networks (WU, WOW, CWOP, Windy), false
            /// for archive destinations.
            pub fn is_current_conditions(&self) -> bool {
                match self {
                    $(UploadConfig::$variant(_) => <$module::$config as DestinationKind>::CURRENT_CONDITIONS,)+
                }
            }

            /// Hands the station's time zone to the destination (config loading does).
            pub fn set_time_zone(&mut self, tz: chrono_tz::Tz) {
                match self {
                    $(UploadConfig::$variant(c) => c.set_time_zone(tz),)+
                }
            }

            fn kind(&self) -> &dyn DestinationObject {
                match self {
                    $(UploadConfig::$variant(c) => c,)+
                }
            }
        }

        $(impl DestinationFields for $module::$config {
            fn name(&self) -> &str {
                &self.name
            }
            fn common(&self) -> &Common {
                &self.common
            }
            fn common_mut(&mut self) -> &mut Common {
                &mut self.common
            }
        })+

        $(impl $module::$config {
            /// Reads one destination table from TOML text (without `type`), shared
            /// keys included, as `[[upload]]` does; the error names the key.
            pub fn from_toml(text: &str) -> Result<Self, String> {
                let table: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
                parse_table(table, &KeyPath::root()).map_err(|p| format!("{}: {}", p.path, p.message))
            }
        })+
    };
}

destination_registry! {
    Http("http") => http::HttpConfig,
    Mqtt("mqtt") => mqtt::MqttConfig,
    Wunderground("wunderground") => current::WundergroundConfig,
    Wow("wow") => current::WowConfig,
    Cwop("cwop") => current::CwopConfig,
    Windy("windy") => current::WindyConfig,
    Influxdb("influxdb") => influxdb::InfluxConfig,
}

/// [`DestinationKind`] without its associated items, so the registry can hand any
/// destination's config out as one trait object.
trait DestinationObject {
    fn name(&self) -> &str;
    fn common(&self) -> &Common;
    fn check(&self, at: &KeyPath, v: &mut Validator<'_>);
    fn check_secret(&self) -> Option<(&'static str, secret::Finding)>;
    fn check_ca_file(&self) -> Option<SetupError>;
    fn target(&self) -> String;
}

impl<T: DestinationKind> DestinationObject for T {
    fn name(&self) -> &str {
        DestinationFields::name(self)
    }
    fn common(&self) -> &Common {
        DestinationFields::common(self)
    }
    fn check(&self, at: &KeyPath, v: &mut Validator<'_>) {
        DestinationKind::check(self, at, v)
    }
    fn check_secret(&self) -> Option<(&'static str, secret::Finding)> {
        DestinationKind::check_secret(self)
    }
    fn check_ca_file(&self) -> Option<SetupError> {
        DestinationKind::check_ca_file(self)
    }
    fn target(&self) -> String {
        DestinationKind::target(self)
    }
}

impl UploadConfig {
    /// Unique among destinations; names the cursor, the logs and `weatherd status`.
    pub fn name(&self) -> &str {
        self.kind().name()
    }

    /// The settings every destination has.
    pub fn common(&self) -> Common {
        *self.kind().common()
    }

    /// Where it sends, for `weatherd status`.
    pub fn target(&self) -> String {
        self.kind().target()
    }
}

/// Reads one destination table: the shared keys first, by name, into [`Common`];
/// then the rest into the destination's own struct, which denies unknown keys.
/// (serde's `flatten` would do this in one step but cannot deny unknown keys.)
fn parse_table<D: DestinationKind + serde::de::DeserializeOwned>(
    mut table: toml::Table,
    path: &KeyPath,
) -> Result<D, Problem> {
    // serde visits a table's keys in order and stops at the first bad one; the two
    // halves are read separately, so of two errors the one serde would have met
    // first is reported: the earlier key, a missing key last.
    let order: Vec<String> = table.keys().cloned().collect();
    let common = Common::take(&mut table, path, D::DEFAULT_BATCH_SIZE);
    let own = crate::config::parse::deserialize_with_keys::<D>(
        toml::Value::Table(table),
        path,
        Common::KEYS,
    );
    match (common, own) {
        (Ok(common), Ok(mut own)) => {
            *own.common_mut() = common;
            Ok(own)
        }
        (Err(p), Ok(_)) | (Ok(_), Err(p)) => Err(p),
        (Err(a), Err(b)) => {
            let rank = |p: &Problem| {
                let key = p.path.key_after(path);
                order
                    .iter()
                    .position(|k| Some(k.as_str()) == key)
                    .unwrap_or(usize::MAX)
            };
            Err(if rank(&b) < rank(&a) { b } else { a })
        }
    }
}

/// Settings every destination has, defined and parsed once for all of them. They
/// are written in the destination's own table (`[[upload]]`), beside its keys.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Common {
    /// Seconds one delivery (a POST, a batch of PUBACKs) may take.
    #[serde(default = "defaults::timeout_seconds")]
    pub timeout_seconds: u32,
    /// Records per delivery at most; the default is the destination's
    /// ([`UploadConfig::default_batch_size`]).
    pub batch_size: u32,
    /// How long a partial batch waits for more records (0: send each at once).
    #[serde(default = "defaults::batch_max_age_seconds")]
    pub batch_max_age_seconds: u32,
    /// The first wait after a failed delivery; it doubles up to `backoff_max_seconds`.
    #[serde(default = "defaults::backoff_initial_seconds")]
    pub backoff_initial_seconds: u32,
    #[serde(default = "defaults::backoff_max_seconds")]
    pub backoff_max_seconds: u32,
}

impl Common {
    /// The shared keys, in the order they follow a destination's own keys (in error
    /// messages and the effective config).
    pub const KEYS: &'static [&'static str] = &[
        "timeout_seconds",
        "batch_size",
        "batch_max_age_seconds",
        "backoff_initial_seconds",
        "backoff_max_seconds",
    ];

    /// Every shared setting at its default, with this batch size.
    pub fn defaults(batch_size: u32) -> Common {
        Common {
            timeout_seconds: defaults::timeout_seconds(),
            batch_size,
            batch_max_age_seconds: defaults::batch_max_age_seconds(),
            backoff_initial_seconds: defaults::backoff_initial_seconds(),
            backoff_max_seconds: defaults::backoff_max_seconds(),
        }
    }

    /// Takes the shared keys out of a destination's table and reads them, errors
    /// under `path` (`upload[N].batch_size`).
    fn take(
        table: &mut toml::Table,
        path: &KeyPath,
        default_batch_size: u32,
    ) -> Result<Common, Problem> {
        let mut shared = toml::Table::new();
        for &key in Common::KEYS {
            if let Some(value) = table.remove(key) {
                shared.insert(key.to_string(), value);
            }
        }
        shared
            .entry("batch_size")
            .or_insert_with(|| toml::Value::Integer(i64::from(default_batch_size)));
        crate::config::parse::deserialize(toml::Value::Table(shared), path)
    }
}

/// The longest destination name: it becomes a database key and a log field.
const MAX_UPLOAD_NAME: usize = 64;
/// Batches beyond this are megabytes of JSON, more than servers usually accept.
const MAX_BATCH: u32 = 10_000;
const MAX_UPLOAD_SECONDS: u32 = 86_400;

/// Checks every `[[upload]]` table: unique names, the shared settings, and each
/// destination's own values through its module.
pub(crate) fn check_all(uploads: &[UploadConfig], v: &mut Validator<'_>) {
    let mut names: BTreeMap<&str, KeyPath> = BTreeMap::new();
    for (i, upload) in uploads.iter().enumerate() {
        let path = KeyPath::of(&["upload"]).index(i);
        let name = upload.name();
        let name_ok = !name.is_empty()
            && name.len() <= MAX_UPLOAD_NAME
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !name_ok {
            v.push(
                path.key("name"),
                format!(
                    "must be 1 to {MAX_UPLOAD_NAME} letters, digits, `-` or `_` (it names the destination's \
                     cursor, its log lines and its line in `weatherd status`), found \"{name}\""
                ),
            );
        } else if let Some(other) = names.get(name) {
            let other = v.cite(other);
            v.push(
                path.key("name"),
                format!(
                    "\"{name}\" is already the name of {other}; every [[upload]] needs its own name \
                     (each keeps its own place in the records)"
                ),
            );
        } else {
            names.insert(name, path.key("name"));
        }
        let common = upload.common();
        common.check_batching(&path, v);
        upload.kind().check(&path, v);
        // Last, where each destination's own checks used to end.
        if !(1..=3600).contains(&common.timeout_seconds) {
            v.push(
                path.key("timeout_seconds"),
                format!(
                    "must be from 1 to 3600 seconds, found {}",
                    common.timeout_seconds
                ),
            );
        }
    }
}

impl Common {
    fn check_batching(&self, path: &KeyPath, v: &mut Validator<'_>) {
        if !(1..=MAX_BATCH).contains(&self.batch_size) {
            v.push(
                path.key("batch_size"),
                format!(
                    "must be from 1 to {MAX_BATCH} records, found {}",
                    self.batch_size
                ),
            );
        }
        if self.batch_max_age_seconds > MAX_UPLOAD_SECONDS {
            v.push(
                path.key("batch_max_age_seconds"),
                format!(
                    "must be from 0 (send each record at once) to {MAX_UPLOAD_SECONDS} seconds, found {}",
                    self.batch_max_age_seconds
                ),
            );
        }
        let initial_ok = (1..=MAX_UPLOAD_SECONDS).contains(&self.backoff_initial_seconds);
        if !initial_ok {
            v.push(
                path.key("backoff_initial_seconds"),
                format!(
                    "must be from 1 to {MAX_UPLOAD_SECONDS} seconds, found {}",
                    self.backoff_initial_seconds
                ),
            );
        }
        if !(1..=MAX_UPLOAD_SECONDS).contains(&self.backoff_max_seconds) {
            v.push(
                path.key("backoff_max_seconds"),
                format!(
                    "must be from 1 to {MAX_UPLOAD_SECONDS} seconds, found {}",
                    self.backoff_max_seconds
                ),
            );
        } else if initial_ok && self.backoff_max_seconds < self.backoff_initial_seconds {
            v.push(
                path.key("backoff_max_seconds"),
                format!(
                    "must be at least backoff_initial_seconds ({}), found {}",
                    self.backoff_initial_seconds, self.backoff_max_seconds
                ),
            );
        }
    }
}

/// The shared settings' defaults (a destination's own are in its module).
pub mod defaults {
    pub fn timeout_seconds() -> u32 {
        30
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

/// `check-config`'s look at every destination's secret, with the loaders `run` uses:
/// `(key path, finding)` for each one `run` would refuse or that cannot be checked
/// here. A systemd credential can only be read under systemd; outside, it is a note.
pub fn check_secrets(uploads: &[UploadConfig]) -> Vec<(String, secret::Finding)> {
    let mut out = Vec::new();
    for (i, upload) in uploads.iter().enumerate() {
        if let Some((key, finding)) = upload.kind().check_secret() {
            out.push((format!("upload[{i}].{key}"), finding));
        }
    }
    // The CA files too, with `run`'s own loaders: a missing, empty or endless one
    // (`/dev/zero`, a FIFO) must not pass here and fail there.
    for (i, upload) in uploads.iter().enumerate() {
        if let Some(e) = upload.kind().check_ca_file() {
            out.push((
                format!("upload[{i}].ca_file"),
                secret::Finding::Problem(e.to_string()),
            ));
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

/// What a destination may need to know about the station besides its records (the
/// current-conditions networks read rain totals and the position; archive
/// destinations need none of it).
#[derive(Clone, Debug)]
pub struct Site {
    pub db_path: std::path::PathBuf,
    pub latitude: f64,
    pub longitude: f64,
    pub elevation_m: f64,
    pub time_zone: chrono_tz::Tz,
    pub clock: SiteClock,
}

/// The clock the station runs on, which current-conditions schedules follow.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SiteClock {
    /// The wall clock: "now" is the system time.
    Real,
    /// `--simulate`: "now" is the newest stored record; real-time pauses (the polite
    /// gap between backfilled observations) are divided by `speed` (`None`: `max`).
    Simulated { speed: Option<f64> },
}

/// A place records are delivered to.
pub trait Destination: Send + 'static {
    /// Called once before the first delivery with the station's facts.
    fn attach(&mut self, _site: &Site) {}

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

    /// `Common::KEYS` is what the parser takes out of a table; it must be exactly the
    /// struct's keys, in the order they are written.
    #[test]
    fn shared_keys_are_the_common_fields() {
        let value = toml::Value::try_from(super::Common::defaults(1)).expect("serializes");
        let mut keys: Vec<&str> = value
            .as_table()
            .expect("table")
            .keys()
            .map(String::as_str)
            .collect();
        let mut want = super::Common::KEYS.to_vec();
        keys.sort_unstable();
        want.sort_unstable();
        assert_eq!(keys, want);
    }
}
