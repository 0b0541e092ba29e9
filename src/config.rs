//! `weatherd.toml` → a typed, validated `Config`.
//!
//! Every error names the key path (`sensors.anemometer.pin`) and, where the TOML
//! parser knows it, the line, because the person reading it is a teacher editing a
//! file over SSH. Validation happens once at load; drivers never see a bad value.

mod hint;
pub(crate) mod parse;
pub(crate) mod path;
mod render;
pub(crate) mod validate;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The `[sensors.NAME]` table: its variants come from the registry in `sensors`.
pub use crate::sensors::SensorConfig;

/// The example config, embedded so `run --simulate` needs no file and a test can
/// prove the documented file parses.
pub const EXAMPLE_TOML: &str = include_str!("../weatherd.example.toml");

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "defaults::sample_interval_seconds")]
    pub sample_interval_seconds: u32,
    #[serde(default = "defaults::archive_interval_seconds")]
    pub archive_interval_seconds: u32,
    /// How long one sensor read may take before it counts as a timeout fault.
    #[serde(default = "defaults::sensor_timeout_ms")]
    pub sensor_timeout_ms: u32,
    /// Archive nothing until the kernel reports the clock synchronised (NTP).
    #[serde(default = "defaults::wait_for_time_sync")]
    pub wait_for_time_sync: bool,
    pub station: Station,
    #[serde(default)]
    pub database: Database,
    /// Sensors by name; the name is what faults and `weatherd status` call it.
    #[serde(default)]
    pub sensors: BTreeMap<String, SensorConfig>,
    /// Additive offsets by quantity name, applied before QC.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub calibration: BTreeMap<String, f64>,
    /// QC limits by quantity name; values outside become NULL plus a fault.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub qc: BTreeMap<String, QcLimits>,
    /// `[report]`: degree-day bases and thresholds of `weatherd report`.
    #[serde(default)]
    pub report: crate::report::ReportSettings,
    /// Upload destinations (`[[upload]]` tables), each with a unique name. Read by
    /// the upload registry (`parse`), never by this derive.
    #[serde(default, skip_deserializing, skip_serializing_if = "Vec::is_empty")]
    pub upload: Vec<crate::upload::UploadConfig>,
    /// The web page and JSON API the daemon serves (`[web]`).
    #[serde(default)]
    pub web: Web,
}

/// The `[web]` table: the page and the read-only API (`src/web/`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Web {
    #[serde(default = "defaults::web_enabled")]
    pub enabled: bool,
    /// `host:port` to listen on. Unset: `0.0.0.0:8080` on a station (the classroom
    /// reaches it over the LAN), `127.0.0.1:8080` under `--simulate` (a laptop's
    /// simulator should not be visible to the whole network).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
}

impl Default for Web {
    fn default() -> Self {
        Web {
            enabled: defaults::web_enabled(),
            listen: None,
        }
    }
}

impl Web {
    pub const DEFAULT_LISTEN: &'static str = "0.0.0.0:8080";
    pub const DEFAULT_LISTEN_SIMULATED: &'static str = "127.0.0.1:8080";

    /// The address to listen on: `listen`, or the default for a station or a
    /// simulation.
    pub fn listen_or_default(&self, simulated: bool) -> &str {
        match &self.listen {
            Some(l) => l,
            None if simulated => Self::DEFAULT_LISTEN_SIMULATED,
            None => Self::DEFAULT_LISTEN,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Station {
    pub name: String,
    pub latitude: f64,
    pub longitude: f64,
    #[serde(default)]
    pub elevation_m: f64,
    /// IANA time zone name; daily summaries and daily rain run from local midnight.
    #[serde(default = "defaults::time_zone")]
    pub time_zone: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Database {
    #[serde(default = "defaults::database_path")]
    pub path: PathBuf,
}

impl Default for Database {
    fn default() -> Self {
        Database {
            path: defaults::database_path(),
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QcLimits {
    pub min: f64,
    pub max: f64,
}

pub mod defaults {
    use std::path::PathBuf;

    pub fn sample_interval_seconds() -> u32 {
        5
    }
    pub fn archive_interval_seconds() -> u32 {
        60
    }
    pub fn sensor_timeout_ms() -> u32 {
        2000
    }
    pub fn wait_for_time_sync() -> bool {
        true
    }
    pub fn time_zone() -> String {
        "UTC".into()
    }
    pub fn database_path() -> PathBuf {
        PathBuf::from("weather.db")
    }
    pub fn web_enabled() -> bool {
        true
    }
}

/// A config that cannot be used. `path` is the dotted key path (empty for the whole
/// file), `line` the 1-based line where the parser knows it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ConfigError {
    pub file: Option<PathBuf>,
    pub path: String,
    pub line: Option<usize>,
    pub message: String,
}

impl ConfigError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            file: None,
            path: path.into(),
            line: None,
            message: message.into(),
        }
    }
    fn render(&self) -> String {
        let mut s = String::new();
        if let Some(f) = &self.file {
            s.push_str(&f.display().to_string());
            if let Some(l) = self.line {
                s.push_str(&format!(":{l}"));
            }
            s.push_str(": ");
        } else if let Some(l) = self.line {
            s.push_str(&format!("line {l}: "));
        }
        if !self.path.is_empty() {
            s.push_str(&format!("`{}`: ", self.path));
        }
        s.push_str(&self.message);
        s
    }
}

impl Config {
    /// Parses and validates TOML text; the error is the first problem found.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_all(text).map_err(first)
    }

    /// Like `from_toml`, but returns every validation problem (a syntax or type error
    /// stops parsing, so it comes alone), so `check-config` can list them all at once.
    pub fn from_toml_all(text: &str) -> Result<Config, Vec<ConfigError>> {
        let source = path::Source::parse(text).map_err(|e| {
            vec![ConfigError {
                file: None,
                path: String::new(),
                line: e.span().map(|s| path::line_at(text, s.start)),
                message: e.message().trim_end().replace('\n', "; "),
            }]
        })?;
        let line_of = |p: &path::KeyPath| source.line_of(p);
        let located = |p: parse::Problem| ConfigError {
            file: None,
            line: line_of(&p.path),
            path: p.path.to_string(),
            message: p.message,
        };
        let config = parse::parse(text).map_err(|p| vec![located(p)])?;
        let mut errors: Vec<ConfigError> = validate::problems(&config, &line_of)
            .into_iter()
            .map(located)
            .collect();
        if errors.is_empty() {
            return Ok(config);
        }
        // In file order, as the reader will fix them (stable: same-line order kept).
        errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
        Err(errors)
    }

    /// The largest config file read: a real one is a few kB; anything bigger is the
    /// wrong file (a log, a device), and reading it whole would only waste memory.
    pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

    /// Reads, parses and validates a file; errors carry the file name.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_all(path).map_err(first)
    }

    /// Like `load`, but returns every validation problem.
    pub fn load_all(path: &Path) -> Result<Config, Vec<ConfigError>> {
        let text = read_config_file(path).map_err(|message| {
            vec![ConfigError {
                file: Some(path.to_path_buf()),
                path: String::new(),
                line: None,
                message,
            }]
        })?;
        Config::from_toml_all(&text).map_err(|errors| {
            errors
                .into_iter()
                .map(|mut e| {
                    e.file = Some(path.to_path_buf());
                    e
                })
                .collect()
        })
    }

    /// The standard school build, as documented in `weatherd.example.toml`.
    pub fn example() -> Config {
        Config::from_toml(EXAMPLE_TOML).expect("the embedded example config is valid (tested)")
    }

    /// Checks values and resource conflicts that the types alone cannot express.
    /// Without the source text the errors carry key paths but no lines.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.validate_all().into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Every problem `validate` would report, in order.
    pub fn validate_all(&self) -> Vec<ConfigError> {
        validate::problems(self, &|_| None)
            .into_iter()
            .map(|p| ConfigError::new(p.path.to_string(), p.message))
            .collect()
    }

    /// The effective config as TOML, defaults filled in (for `check-config`).
    pub fn to_toml(&self) -> String {
        self.render_effective()
    }

    /// The effective config as TOML with every default filled in, for
    /// `weatherd check-config`; parsing it gives back the same `Config`.
    pub fn render_effective(&self) -> String {
        render::render(self)
    }

    /// The parsed station time zone (validated at load).
    pub fn time_zone(&self) -> chrono_tz::Tz {
        self.station.time_zone.parse().unwrap_or(chrono_tz::UTC)
    }
}

fn first(errors: Vec<ConfigError>) -> ConfigError {
    errors
        .into_iter()
        .next()
        .unwrap_or_else(|| ConfigError::new("", "invalid config"))
}

/// Reads a config file: a regular file of at most [`Config::MAX_FILE_BYTES`].
///
/// Opened without blocking and checked on the open descriptor, so a FIFO (which would
/// wait forever for a writer) or a device such as `/dev/zero` (which never ends) is
/// refused rather than read, even if the path was swapped after a check.
fn read_config_file(path: &Path) -> Result<String, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot read the config file: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read the config file: {e}"))?;
    if !meta.is_file() {
        let kind = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file (a pipe, socket or device)"
        };
        return Err(format!("cannot read the config file: it is {kind}"));
    }
    let limit = Config::MAX_FILE_BYTES;
    if meta.len() > limit {
        return Err(format!(
            "cannot read the config file: it is {} bytes, more than the {limit}-byte (1 MiB) limit for a config file",
            meta.len()
        ));
    }
    let mut text = String::new();
    // `take` also bounds a file that grows while it is read.
    file.take(limit + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read the config file: {e}"))?;
    if text.len() as u64 > limit {
        return Err(format!(
            "cannot read the config file: it is larger than the {limit}-byte (1 MiB) limit for a config file"
        ));
    }
    Ok(text)
}
