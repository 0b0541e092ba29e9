//! What flows from the sampler to the aggregator: quantities, readings, faults and
//! one `Sample` per tick.

use crate::time::Timestamp;
use std::fmt;
use std::sync::Arc;

/// A measured quantity. The standard build's quantities have their own columns in the
/// `archive` table; any other name a driver reports (e.g. `illuminance_lux`) is stored
/// in the `archive_extra` table, so a new driver needs no schema change. Names always
/// carry their unit as a suffix.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Quantity {
    TemperatureC,
    HumidityPct,
    PressureHpa,
    GroundTemperatureC,
    /// Wind direction from the vane, degrees clockwise from true north.
    WindDirDeg,
    /// Wind speed derived from anemometer closures (never read directly; used for QC
    /// limits and fault records).
    WindSpeedKmh,
    /// Rain derived from bucket tips (used for QC limits and fault records).
    RainMm,
    Extra(Arc<str>),
}

impl Quantity {
    pub(crate) const STANDARD: [Quantity; 7] = [
        Quantity::TemperatureC,
        Quantity::HumidityPct,
        Quantity::PressureHpa,
        Quantity::GroundTemperatureC,
        Quantity::WindDirDeg,
        Quantity::WindSpeedKmh,
        Quantity::RainMm,
    ];

    pub fn name(&self) -> &str {
        match self {
            Quantity::TemperatureC => "temperature_c",
            Quantity::HumidityPct => "humidity_pct",
            Quantity::PressureHpa => "pressure_hpa",
            Quantity::GroundTemperatureC => "ground_temperature_c",
            Quantity::WindDirDeg => "wind_dir_deg",
            Quantity::WindSpeedKmh => "wind_speed_kmh",
            Quantity::RainMm => "rain_mm",
            Quantity::Extra(n) => n,
        }
    }

    /// Maps a name to a quantity: a standard name to its variant, anything else to
    /// `Extra`. Callers validate the name's shape (see `is_valid_name`).
    pub fn from_name(name: &str) -> Quantity {
        Quantity::STANDARD
            .iter()
            .find(|q| q.name() == name)
            .cloned()
            .unwrap_or_else(|| Quantity::Extra(Arc::from(name)))
    }

    /// A quantity name is snake_case ASCII that ends in a unit suffix after an
    /// underscore (`soil_temperature_c`, `illuminance_lux`).
    pub(crate) fn is_valid_name(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= 64
            && name.contains('_')
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && name.as_bytes()[0].is_ascii_lowercase()
            && !name.ends_with('_')
    }

    /// How this quantity folds unless its driver says otherwise: the standard
    /// quantities as their archive columns do (rain is a total, the vane's direction a
    /// vector mean), any extra as mean, lowest and highest.
    pub fn default_aggregation(&self) -> Aggregation {
        match self {
            Quantity::TemperatureC
            | Quantity::HumidityPct
            | Quantity::PressureHpa
            | Quantity::GroundTemperatureC
            | Quantity::WindSpeedKmh
            | Quantity::Extra(_) => Aggregation::Mean,
            Quantity::WindDirDeg => Aggregation::Vector,
            Quantity::RainMm => Aggregation::Sum,
        }
    }
}

/// How a quantity's samples fold into one value over an archive interval, and records
/// into an hour and a day. The standard quantities have theirs fixed by their columns;
/// a driver chooses one for each extra quantity it reports
/// (`SensorKind::aggregation`), and the store keeps it with every stored value, so a
/// summary folds each quantity the way it was measured.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Aggregation {
    /// The mean of the samples, with the lowest and highest (temperature, light).
    #[default]
    Mean,
    /// The total of the samples, e.g. energy or rain per sample, pulses counted.
    Sum,
    /// The mean direction in degrees, each sample a unit vector (a second vane): 350°
    /// and 10° average to 0°, not 180°; no direction when they cancel.
    Vector,
    /// The newest sample, with the lowest and highest (a battery's voltage, a meter's
    /// reading).
    Last,
}

impl Aggregation {
    pub const ALL: [Aggregation; 4] = [
        Aggregation::Mean,
        Aggregation::Sum,
        Aggregation::Vector,
        Aggregation::Last,
    ];

    /// The name the config, the database (`archive_extra.kind`) and the upload use.
    pub fn name(self) -> &'static str {
        match self {
            Aggregation::Mean => "mean",
            Aggregation::Sum => "sum",
            Aggregation::Vector => "vector",
            Aggregation::Last => "last",
        }
    }

    pub fn from_name(name: &str) -> Option<Aggregation> {
        Aggregation::ALL.into_iter().find(|a| a.name() == name)
    }
}

impl fmt::Display for Aggregation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Debug for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One value read from a polled sensor, in the quantity's unit, before calibration.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    pub quantity: Quantity,
    pub value: f64,
}

impl Reading {
    pub fn new(quantity: Quantity, value: f64) -> Self {
        Reading { quantity, value }
    }
}

/// Why a value is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// The driver returned an error (bus error, CRC failure, garbage, missing device).
    ReadError,
    /// The read did not finish within the sensor timeout.
    Timeout,
    /// The previous read had still not returned when the next tick came.
    Busy,
    /// The value was outside the QC limits after calibration and was discarded.
    OutOfRange,
    /// The value changed faster than the quantity's rate-of-change limit allows (or a
    /// pulse input counted faster than its hardware can) and was discarded.
    Spike,
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::ReadError => "read_error",
            FaultKind::Timeout => "timeout",
            FaultKind::Busy => "busy",
            FaultKind::OutOfRange => "out_of_range",
            FaultKind::Spike => "spike",
        }
    }
}

/// One thing that went wrong during one sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub at: Timestamp,
    /// The sensor's name (its table name in the config).
    pub sensor: Arc<str>,
    /// The quantity affected, when the fault concerns one quantity only.
    pub quantity: Option<Quantity>,
    pub kind: FaultKind,
    pub message: String,
}

/// The edges a pulse counter accepted (after debounce) during one sample period, or
/// `None` when the counter's input failed for that period (the quantity is then
/// unknown, which is different from zero).
pub(crate) type Pulses = Option<Vec<Timestamp>>;

/// Everything the sampler learned at one tick. A sample taken at tick `at` describes
/// the period `[at - sample_interval, at)`: pulse timestamps lie in that half-open
/// range, and polled readings were taken at `at`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    pub at: Timestamp,
    /// The sensor each reading came from, and the reading.
    pub readings: Vec<(Arc<str>, Reading)>,
    /// Anemometer closures; `None` when no anemometer is configured or it failed.
    pub wind_pulses: Pulses,
    /// Anemometer closures from just *before* the period, which only the first sample
    /// after a start carries, and only from a source that can replay the past (the
    /// simulator can; a GPIO line cannot, it hands out nothing from before it was
    /// opened). They are not part of this sample's speed: they let the gust's 3-s
    /// windows that began before the start be scored (see `aggregate`).
    pub wind_pulses_before: Pulses,
    /// Rain-gauge bucket tips; `None` when no gauge is configured or it failed.
    pub rain_tips: Pulses,
    pub faults: Vec<Fault>,
}
