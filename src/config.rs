//! `weatherd.toml` → a typed, validated `Config`.
//!
//! Every error names the key path (`sensors.anemometer.pin`) and, where the TOML
//! parser knows it, the line, because the person reading it is a teacher editing a
//! file over SSH. Validation happens once at load; drivers never see a bad value.

mod hint;
mod parse;
mod path;
mod render;
mod validate;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    /// Upload destinations (`[[upload]]` tables), each with a unique name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upload: Vec<crate::upload::UploadConfig>,
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

/// One sensor table. `type` picks the driver; the other keys are its parameters.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SensorConfig {
    Bme280(Bme280Config),
    Ds18b20(Ds18b20Config),
    WindVane(WindVaneConfig),
    Anemometer(AnemometerConfig),
    RainGauge(RainGaugeConfig),
    Bh1750(Bh1750Config),
}

impl SensorConfig {
    /// Every value `type` may take, in the order error messages list them.
    pub const TYPES: [&'static str; 6] = [
        "bme280",
        "ds18b20",
        "wind_vane",
        "anemometer",
        "rain_gauge",
        "bh1750",
    ];

    /// The `type` value of this sensor.
    pub fn type_name(&self) -> &'static str {
        match self {
            SensorConfig::Bme280(_) => "bme280",
            SensorConfig::Ds18b20(_) => "ds18b20",
            SensorConfig::WindVane(_) => "wind_vane",
            SensorConfig::Anemometer(_) => "anemometer",
            SensorConfig::RainGauge(_) => "rain_gauge",
            SensorConfig::Bh1750(_) => "bh1750",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Bme280Config {
    #[serde(default = "defaults::i2c_bus")]
    pub bus: String,
    #[serde(default = "defaults::bme280_address")]
    pub address: u8,
    /// Temperature oversampling: 1, 2, 4, 8 or 16 conversions averaged per reading.
    /// Default 1, Bosch's "weather monitoring" setting (datasheet 3.5.1).
    #[serde(default = "defaults::bme280_oversampling")]
    pub oversampling_temperature: u8,
    /// Pressure oversampling: 1, 2, 4, 8 or 16. Default 1.
    #[serde(default = "defaults::bme280_oversampling")]
    pub oversampling_pressure: u8,
    /// Humidity oversampling: 1, 2, 4, 8 or 16 (ignored by a BMP280). Default 1.
    #[serde(default = "defaults::bme280_oversampling")]
    pub oversampling_humidity: u8,
    /// The chip's IIR filter coefficient for temperature and pressure: 0 (off), 2, 4,
    /// 8 or 16. Default 0: the filter keeps its state between forced measurements, so
    /// at one reading per sample interval a coefficient c lags by about c intervals.
    #[serde(default)]
    pub iir_filter_coefficient: u8,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Ds18b20Config {
    /// The probe's 1-Wire id (`28-...`); empty means the first probe found.
    #[serde(default)]
    pub id: String,
    /// The quantity this probe reports.
    #[serde(default = "defaults::ds18b20_quantity")]
    pub quantity: String,
    /// The 1-Wire GPIO pin (`dtoverlay=w1-gpio`), for pin-conflict checks.
    #[serde(default = "defaults::w1_pin")]
    pub pin: u8,
    #[serde(default = "defaults::w1_sysfs_root")]
    pub sysfs_root: PathBuf,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WindVaneConfig {
    #[serde(default = "defaults::spi_device")]
    pub spi: String,
    #[serde(default)]
    pub channel: u8,
    #[serde(default = "defaults::vane_reads_per_sample")]
    pub reads_per_sample: u32,
    #[serde(default = "defaults::vane_divider_ohm")]
    pub divider_ohm: f64,
    #[serde(default = "defaults::vane_supply_v")]
    pub supply_v: f64,
    /// The vane's resistance at each direction; the default is the standard
    /// Argent/SparkFun vane.
    #[serde(default = "defaults::vane_table")]
    pub table: Vec<VanePosition>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VanePosition {
    pub deg: f64,
    pub ohm: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AnemometerConfig {
    #[serde(default = "defaults::anemometer_pin")]
    pub pin: u8,
    #[serde(default = "defaults::kmh_per_hz")]
    pub kmh_per_hz: f64,
    #[serde(default = "defaults::anemometer_debounce_ms")]
    pub debounce_ms: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RainGaugeConfig {
    #[serde(default = "defaults::rain_gauge_pin")]
    pub pin: u8,
    #[serde(default = "defaults::mm_per_tip")]
    pub mm_per_tip: f64,
    #[serde(default = "defaults::rain_gauge_debounce_ms")]
    pub debounce_ms: f64,
}

/// A BH1750 ambient-light sensor on I2C (illuminance in lux).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Bh1750Config {
    #[serde(default = "defaults::i2c_bus")]
    pub bus: String,
    /// 0x23 (ADDR pin low or open) or 0x5C (ADDR pin high).
    #[serde(default = "defaults::bh1750_address")]
    pub address: u8,
    /// The quantity this sensor reports.
    #[serde(default = "defaults::bh1750_quantity")]
    pub quantity: String,
    /// `one_time`: a fresh high-resolution measurement per read (the chip sleeps in
    /// between); `continuous`: the chip measures all the time and a read returns the
    /// latest result without waiting.
    #[serde(default)]
    pub mode: Bh1750Mode,
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Bh1750Mode {
    #[default]
    OneTime,
    Continuous,
}

pub mod defaults {
    use super::VanePosition;
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
    pub fn i2c_bus() -> String {
        "/dev/i2c-1".into()
    }
    pub fn bme280_address() -> u8 {
        0x77
    }
    pub fn bme280_oversampling() -> u8 {
        1
    }
    pub fn bh1750_address() -> u8 {
        0x23
    }
    pub fn bh1750_quantity() -> String {
        "illuminance_lux".into()
    }
    pub fn ds18b20_quantity() -> String {
        "ground_temperature_c".into()
    }
    pub fn w1_pin() -> u8 {
        4
    }
    pub fn w1_sysfs_root() -> PathBuf {
        PathBuf::from("/sys/bus/w1/devices")
    }
    pub fn spi_device() -> String {
        "/dev/spidev0.0".into()
    }
    pub fn vane_reads_per_sample() -> u32 {
        5
    }
    pub fn vane_divider_ohm() -> f64 {
        4700.0
    }
    pub fn vane_supply_v() -> f64 {
        3.3
    }
    /// The Argent/SparkFun vane (see `shared/reference.md`).
    pub fn vane_table() -> Vec<VanePosition> {
        [
            (0.0, 33000.0),
            (22.5, 6570.0),
            (45.0, 8200.0),
            (67.5, 891.0),
            (90.0, 1000.0),
            (112.5, 688.0),
            (135.0, 2200.0),
            (157.5, 1410.0),
            (180.0, 3900.0),
            (202.5, 3140.0),
            (225.0, 16000.0),
            (247.5, 14120.0),
            (270.0, 120000.0),
            (292.5, 42120.0),
            (315.0, 64900.0),
            (337.5, 21880.0),
        ]
        .into_iter()
        .map(|(deg, ohm)| VanePosition { deg, ohm })
        .collect()
    }
    pub fn anemometer_pin() -> u8 {
        5
    }
    pub fn kmh_per_hz() -> f64 {
        2.4
    }
    /// Well above the reed switch's ~1.5 ms bounce and well below the 16 ms between
    /// closures at 150 km/h.
    pub fn anemometer_debounce_ms() -> f64 {
        3.0
    }
    pub fn rain_gauge_pin() -> u8 {
        6
    }
    pub fn mm_per_tip() -> f64 {
        0.2794
    }
    pub fn rain_gauge_debounce_ms() -> f64 {
        50.0
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
