//! One archive record: what the aggregator produces per archive interval and the
//! store writes as one row (plus its extra quantities and fault counts).

use crate::observation::{Aggregation, FaultKind, Quantity};
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

/// One extra quantity over an interval (or an hour, or a day), folded as its driver
/// declared (`kind`). `value` is what the fold makes of the valid samples: their mean
/// (`Mean`), total (`Sum`), mean direction (`Vector`, `None` when the directions
/// cancel) or the newest (`Last`). `min` and `max` are the lowest and highest sample
/// for `Mean` and `Last`, `None` for `Sum` and `Vector` (a total or a direction has
/// no useful extremes). Everything is `None` when `n == 0`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ExtraStat {
    pub kind: Aggregation,
    pub value: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub n: u32,
}

impl From<Stat> for ExtraStat {
    /// A mean quantity's statistics.
    fn from(s: Stat) -> ExtraStat {
        ExtraStat {
            kind: Aggregation::Mean,
            value: s.mean,
            min: s.min,
            max: s.max,
            n: s.n,
        }
    }
}

impl ExtraStat {
    /// The mean, for the `archive_extra.mean` column and the upload's `mean`: only a
    /// mean quantity has one.
    pub fn mean(&self) -> Option<f64> {
        match self.kind {
            Aggregation::Mean => self.value,
            Aggregation::Sum | Aggregation::Vector | Aggregation::Last => None,
        }
    }
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
    /// Any quantity outside the standard set, keyed by its name, sorted by name.
    pub extras: Vec<(Arc<str>, ExtraStat)>,
    pub faults: Vec<FaultCount>,
    /// The last bucket tip seen up to the end of this interval: the rain-rate state the
    /// store persists so a restart computes the next rate exactly as if it had not
    /// stopped.
    pub last_rain_tip: Option<Timestamp>,
    /// Altimeter setting (ASOS) from the mean station pressure and the elevation.
    pub altimeter_hpa: Option<f64>,
    /// NWS heat index from the mean temperature and mean humidity (≥ 26.7 °C only).
    pub heat_index_c: Option<f64>,
    /// NWS/Environment Canada wind chill from the mean temperature and mean wind speed
    /// (T ≤ 10 °C and V > 4.8 km/h only).
    pub wind_chill_c: Option<f64>,
    /// Steadman/BoM apparent temperature from the mean temperature, humidity and wind.
    pub apparent_temperature_c: Option<f64>,
}

impl ArchiveRecord {
    /// Computes the derived values of issue 12 from this record's means: the altimeter
    /// setting from the mean station pressure and `elevation_m`; the heat index from
    /// the mean temperature and humidity; the wind chill from the mean temperature and
    /// mean wind speed; the apparent temperature from all three (wind in m/s). Each is
    /// `None` where an input is missing or its formula is not defined (see
    /// [`crate::meteo`]).
    pub fn derive(&mut self, elevation_m: f64) {
        use crate::meteo;
        let (t, h, v) = (
            self.temperature_c.mean,
            self.humidity_pct.mean,
            self.wind_speed_kmh,
        );
        self.altimeter_hpa = self
            .pressure_hpa
            .mean
            .and_then(|p| meteo::altimeter_setting_hpa(p, elevation_m));
        self.heat_index_c = t.zip(h).and_then(|(t, h)| meteo::heat_index_c(t, h));
        self.wind_chill_c = t.zip(v).and_then(|(t, v)| meteo::wind_chill_c(t, v));
        self.apparent_temperature_c = t
            .zip(h)
            .zip(v)
            .and_then(|((t, h), v)| meteo::apparent_temperature_c(t, h, meteo::kmh_to_ms(v)));
    }
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

/// A unit: the suffix a column name ends with, and its name spelled out for the
/// upload's `units` object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unit {
    pub suffix: &'static str,
    pub name: &'static str,
}

pub const CELSIUS: Unit = Unit {
    suffix: "_c",
    name: "degree Celsius",
};
pub const PERCENT_RH: Unit = Unit {
    suffix: "_pct",
    name: "percent relative humidity",
};
pub const HECTOPASCAL: Unit = Unit {
    suffix: "_hpa",
    name: "hectopascal",
};
pub const KMH: Unit = Unit {
    suffix: "_kmh",
    name: "kilometre per hour",
};
pub const DEGREE_TRUE: Unit = Unit {
    suffix: "_deg",
    name: "degree clockwise from true north",
};
pub const MILLIMETRE: Unit = Unit {
    suffix: "_mm",
    name: "millimetre",
};
pub const MM_PER_HOUR: Unit = Unit {
    suffix: "_mm_per_h",
    name: "millimetre per hour",
};

/// What one column of a record says about its quantity over the interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Statistic {
    /// How many sample ticks the record covers.
    Samples,
    /// Mean of the valid samples.
    Mean,
    Min,
    Max,
    /// Valid samples behind the quantity's statistics (the weight of its mean).
    Count,
    /// Computed from other means (dew point, sea-level pressure).
    Derived,
    /// Vector mean of a direction, each sample weighted by the speed in the column
    /// named here (so calm samples carry no direction).
    VectorMean {
        speed: &'static str,
    },
    /// Total over the interval (rain).
    Sum,
    /// Mean of a direction whose samples all weigh the same (an extra quantity folded
    /// as [`Aggregation::Vector`]); records weigh by their sample counts.
    UnitVectorMean,
    /// The newest sample (an extra quantity folded as [`Aggregation::Last`]).
    Last,
}

impl From<Aggregation> for Statistic {
    /// The statistic of an extra quantity's value column, by how it folds.
    fn from(a: Aggregation) -> Statistic {
        match a {
            Aggregation::Mean => Statistic::Mean,
            Aggregation::Sum => Statistic::Sum,
            Aggregation::Vector => Statistic::UnitVectorMean,
            Aggregation::Last => Statistic::Last,
        }
    }
}

/// How to reach a column's value in an [`ArchiveRecord`].
#[derive(Clone, Copy)]
pub enum Access {
    /// A measurement: `None` when it could not be measured.
    Real {
        get: fn(&ArchiveRecord) -> Option<f64>,
        set: fn(&mut ArchiveRecord, Option<f64>),
    },
    /// A count of samples.
    Count {
        get: fn(&ArchiveRecord) -> u32,
        set: fn(&mut ArchiveRecord, u32),
    },
}

/// One value of the standard record: a quantity's statistic, with its column name
/// (quantity, statistic and unit suffix, as `schema.sql` and the upload spell it).
#[derive(Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub quantity: &'static str,
    pub statistic: Statistic,
    /// `None` for counts.
    pub unit: Option<Unit>,
    pub access: Access,
    /// Kept per station-local day in the `daily` table (a mean as its weighted sum
    /// `{quantity}_sum_{unit}`, an extreme, a sum or a count, each folded in as a
    /// record is written).
    pub daily: bool,
}

impl std::fmt::Debug for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

macro_rules! real {
    (daily $($t:tt)*) => {
        Column {
            daily: true,
            ..real!($($t)*)
        }
    };
    ($name:literal, $q:literal, $stat:ident, $unit:expr, $($f:ident).+) => {
        Column {
            name: $name,
            quantity: $q,
            statistic: Statistic::$stat,
            unit: Some($unit),
            daily: false,
            access: Access::Real {
                get: |r| r.$($f).+,
                set: |r, v| r.$($f).+ = v,
            },
        }
    };
}

macro_rules! count {
    (daily $($t:tt)*) => {
        Column {
            daily: true,
            ..count!($($t)*)
        }
    };
    ($name:literal, $q:literal, $stat:ident, $($f:ident).+) => {
        Column {
            name: $name,
            quantity: $q,
            statistic: Statistic::$stat,
            unit: None,
            daily: false,
            access: Access::Count {
                get: |r| r.$($f).+,
                set: |r, v| r.$($f).+ = v,
            },
        }
    };
}

/// The standard record, defined once: every value an [`ArchiveRecord`] carries
/// besides its interval, extras and faults, in the order the `archive` table, the
/// `records` view, `weatherd query --every raw` and the upload's record objects list
/// them. The store's insert and read, and the upload's fields and units, are driven by
/// this table; a test holds it against `schema.sql` and `docs/upload.schema.json`.
pub const COLUMNS: [Column; 31] = [
    count!("samples", "samples", Samples, samples),
    real!(
        daily "temperature_c",
        "temperature",
        Mean,
        CELSIUS,
        temperature_c.mean
    ),
    real!(
        daily "temperature_min_c",
        "temperature",
        Min,
        CELSIUS,
        temperature_c.min
    ),
    real!(
        daily "temperature_max_c",
        "temperature",
        Max,
        CELSIUS,
        temperature_c.max
    ),
    count!(daily "temperature_n", "temperature", Count, temperature_c.n),
    real!(
        daily "humidity_pct",
        "humidity",
        Mean,
        PERCENT_RH,
        humidity_pct.mean
    ),
    real!(
        daily "humidity_min_pct",
        "humidity",
        Min,
        PERCENT_RH,
        humidity_pct.min
    ),
    real!(
        daily "humidity_max_pct",
        "humidity",
        Max,
        PERCENT_RH,
        humidity_pct.max
    ),
    count!(daily "humidity_n", "humidity", Count, humidity_pct.n),
    real!(
        daily "pressure_hpa",
        "pressure",
        Mean,
        HECTOPASCAL,
        pressure_hpa.mean
    ),
    real!(
        daily "pressure_min_hpa",
        "pressure",
        Min,
        HECTOPASCAL,
        pressure_hpa.min
    ),
    real!(
        daily "pressure_max_hpa",
        "pressure",
        Max,
        HECTOPASCAL,
        pressure_hpa.max
    ),
    count!(daily "pressure_n", "pressure", Count, pressure_hpa.n),
    real!(
        daily "ground_temperature_c",
        "ground_temperature",
        Mean,
        CELSIUS,
        ground_temperature_c.mean
    ),
    real!(
        daily "ground_temperature_min_c",
        "ground_temperature",
        Min,
        CELSIUS,
        ground_temperature_c.min
    ),
    real!(
        daily "ground_temperature_max_c",
        "ground_temperature",
        Max,
        CELSIUS,
        ground_temperature_c.max
    ),
    count!(
        daily "ground_temperature_n",
        "ground_temperature",
        Count,
        ground_temperature_c.n
    ),
    real!("dew_point_c", "dew_point", Derived, CELSIUS, dew_point_c),
    real!(
        "sea_level_pressure_hpa",
        "sea_level_pressure",
        Derived,
        HECTOPASCAL,
        sea_level_pressure_hpa
    ),
    real!(daily "wind_speed_kmh", "wind", Mean, KMH, wind_speed_kmh),
    real!(daily "wind_gust_kmh", "wind", Max, KMH, wind_gust_kmh),
    Column {
        name: "wind_dir_deg",
        quantity: "wind_dir",
        statistic: Statistic::VectorMean {
            speed: "wind_speed_kmh",
        },
        unit: Some(DEGREE_TRUE),
        daily: true,
        access: Access::Real {
            get: |r| r.wind_dir_deg,
            set: |r, v| r.wind_dir_deg = v,
        },
    },
    count!(daily "wind_n", "wind", Count, wind_n),
    count!("wind_dir_n", "wind_dir", Count, wind_dir_n),
    real!(daily "rain_mm", "rain", Sum, MILLIMETRE, rain_mm),
    real!(
        daily "rain_rate_mm_per_h",
        "rain",
        Max,
        MM_PER_HOUR,
        rain_rate_mm_per_h
    ),
    count!(daily "rain_n", "rain", Count, rain_n),
    // Derived values for the weather networks and people (issue 12), after the
    // original columns so that a migration can append them to the archive table. Not
    // `daily`: a day keeps their mean, lowest and highest in `daily_extra`.
    real!(
        "altimeter_hpa",
        "altimeter",
        Derived,
        HECTOPASCAL,
        altimeter_hpa
    ),
    real!("heat_index_c", "heat_index", Derived, CELSIUS, heat_index_c),
    real!("wind_chill_c", "wind_chill", Derived, CELSIUS, wind_chill_c),
    real!(
        "apparent_temperature_c",
        "apparent_temperature",
        Derived,
        CELSIUS,
        apparent_temperature_c
    ),
];

/// The names of [`COLUMNS`], in order (for SQL column lists).
pub const COLUMN_NAMES: [&str; COLUMNS.len()] = {
    let mut names = [""; COLUMNS.len()];
    let mut i = 0;
    while i < COLUMNS.len() {
        names[i] = COLUMNS[i].name;
        i += 1;
    }
    names
};

/// The column named `name`.
pub fn column(name: &str) -> Option<&'static Column> {
    COLUMNS.iter().find(|c| c.name == name)
}

/// The count of valid samples behind `quantity`'s statistics (`temperature_n`,
/// `wind_n`): the weight of its mean.
pub fn count_of(quantity: &str) -> Option<&'static Column> {
    COLUMNS
        .iter()
        .find(|c| c.quantity == quantity && c.statistic == Statistic::Count)
}

impl Column {
    /// A measurement's value; `None` for a count.
    pub fn real(&self, r: &ArchiveRecord) -> Option<f64> {
        match self.access {
            Access::Real { get, .. } => get(r),
            Access::Count { .. } => None,
        }
    }

    /// A count's value; 0 for a measurement.
    pub fn count(&self, r: &ArchiveRecord) -> u32 {
        match self.access {
            Access::Count { get, .. } => get(r),
            Access::Real { .. } => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The columns of a table or view as `schema.sql` creates it.
    fn schema_columns(table: &str) -> Vec<String> {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(crate::store::SCHEMA_SQL).unwrap();
        let mut stmt = conn
            .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .unwrap();
        let names = stmt
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<Vec<String>, _>>()
            .unwrap();
        assert!(!names.is_empty(), "schema.sql has no `{table}`");
        names
    }

    fn with(head: &[&str], tail: &[&str]) -> Vec<String> {
        head.iter()
            .chain(&COLUMN_NAMES)
            .chain(tail)
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn the_archive_table_and_records_view_hold_exactly_the_record_columns() {
        assert_eq!(
            schema_columns("archive"),
            with(&["id", "start_ts", "end_ts"], &[])
        );
        assert_eq!(
            schema_columns("records"),
            with(&["id", "start_utc", "end_utc"], &[])
        );
    }

    #[test]
    fn the_published_upload_schema_lists_exactly_the_record_columns() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../docs/upload.schema.json")).unwrap();
        let record = &schema["$defs"]["record"];
        let required: Vec<String> = record["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
            .collect();
        let expected = with(&["id", "start", "end"], &["extras", "faults"]);
        assert_eq!(required, expected, "`required` of $defs.record");
        let mut properties: Vec<String> = record["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let mut expected_sorted = expected;
        properties.sort_unstable();
        expected_sorted.sort_unstable();
        assert_eq!(properties, expected_sorted, "`properties` of $defs.record");
        // Counts are integers, measurements numbers or null.
        for c in COLUMNS {
            let want = match c.access {
                Access::Real { .. } => "#/$defs/number",
                Access::Count { .. } => "#/$defs/count",
            };
            assert_eq!(record["properties"][c.name]["$ref"], want, "{}", c.name);
        }
    }

    #[test]
    fn every_mean_has_its_weight_in_the_table() {
        for c in COLUMNS {
            match c.statistic {
                Statistic::Mean | Statistic::UnitVectorMean => {
                    assert!(count_of(c.quantity).is_some(), "{}", c.name)
                }
                Statistic::VectorMean { speed } => {
                    assert!(count_of(c.quantity).is_some(), "{}", c.name);
                    assert_eq!(column(speed).map(|s| s.statistic), Some(Statistic::Mean));
                }
                // Not weighted means: nothing to check. Named so a new statistic must
                // say whether it needs a weight.
                Statistic::Samples
                | Statistic::Min
                | Statistic::Max
                | Statistic::Count
                | Statistic::Derived
                | Statistic::Sum
                | Statistic::Last => {}
            }
        }
    }

    #[test]
    fn a_column_is_named_for_its_quantity_and_unit_and_reaches_its_own_field() {
        for (i, c) in COLUMNS.iter().enumerate() {
            assert!(c.name.starts_with(c.quantity), "{}", c.name);
            match c.unit {
                Some(u) => assert!(c.name.ends_with(u.suffix), "{}", c.name),
                None => assert!(matches!(c.access, Access::Count { .. }), "{}", c.name),
            }
            // Setting this column and no other changes exactly this column's value,
            // so no two entries share (or swap) an accessor.
            let mut r = ArchiveRecord::default();
            match c.access {
                Access::Real { set, .. } => set(&mut r, Some(1.5)),
                Access::Count { set, .. } => set(&mut r, 7),
            }
            for (j, other) in COLUMNS.iter().enumerate() {
                let changed = match other.access {
                    Access::Real { get, .. } => get(&r).is_some(),
                    Access::Count { get, .. } => get(&r) != 0,
                };
                assert_eq!(changed, i == j, "setting {} changed {}", c.name, other.name);
            }
        }
    }
}
