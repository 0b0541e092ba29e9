//! One archive record: what the aggregator produces per archive interval and the
//! store writes as one row (plus its extra quantities and fault counts).

use crate::observation::{FaultKind, Quantity};
use crate::time::Timestamp;
use std::sync::Arc;

/// Mean, minimum and maximum of one quantity over an interval, from `n` valid samples.
/// All three are `None` when `n == 0`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stat {
    pub mean: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub n: u32,
}

/// How often one kind of fault happened to one sensor (and quantity) in an interval.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultCount {
    pub sensor: Arc<str>,
    pub quantity: Option<Quantity>,
    pub kind: FaultKind,
    pub count: u32,
    pub first_at: Timestamp,
    /// The first fault's message, for the operator.
    pub message: String,
}

/// One archive interval `[start, end)`, holding the samples whose ticks fell in
/// `(start, end]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ArchiveRecord {
    pub start: Timestamp,
    pub end: Timestamp,
    /// Sample ticks aggregated (fewer than interval/sample when the daemon started or
    /// stopped inside the interval).
    pub samples: u32,
    pub temperature_c: Stat,
    pub humidity_pct: Stat,
    pub pressure_hpa: Stat,
    pub ground_temperature_c: Stat,
    /// From the mean temperature and mean humidity (Magnus).
    pub dew_point_c: Option<f64>,
    /// Mean station pressure reduced to sea level with the station elevation.
    pub sea_level_pressure_hpa: Option<f64>,
    /// Mean wind speed over the samples that had anemometer data.
    pub wind_speed_kmh: Option<f64>,
    /// Highest 3-second running mean, from the closure timestamps (WMO).
    pub wind_gust_kmh: Option<f64>,
    /// Speed-weighted vector mean of the vane direction; `None` when calm.
    pub wind_dir_deg: Option<f64>,
    /// Samples with anemometer data.
    pub wind_n: u32,
    /// Samples with a valid vane direction.
    pub wind_dir_n: u32,
    /// Rain in the interval; `None` when the gauge gave no data at all.
    pub rain_mm: Option<f64>,
    /// Highest rain rate from consecutive tip timestamps.
    pub rain_rate_mm_per_h: Option<f64>,
    /// Samples with rain-gauge data.
    pub rain_n: u32,
    /// Any quantity outside the standard set, keyed by its name.
    pub extras: Vec<(Arc<str>, Stat)>,
    pub faults: Vec<FaultCount>,
    /// The last bucket tip seen up to the end of this interval: the rain-rate state the
    /// store persists so a restart computes the next rate exactly as if it had not
    /// stopped.
    pub last_rain_tip: Option<Timestamp>,
}

/// Where the store's history ends, so a restarted daemon neither duplicates nor skips
/// an interval and computes rain rates as if it had never stopped.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Resume {
    /// End of the newest stored record: samples at or before it are already archived.
    pub last_end: Option<Timestamp>,
    /// The last bucket tip stored with a record.
    pub last_rain_tip: Option<Timestamp>,
}
