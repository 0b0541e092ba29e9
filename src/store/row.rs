//! How an [`ArchiveRecord`] maps to an `archive` row: the value columns, in schema
//! order, written and read back by name.

use super::finite;
use crate::record::{ArchiveRecord, Stat};
use crate::time::Timestamp;
use rusqlite::types::{FromSql, FromSqlResult, ToSqlOutput, Value as SqlValue, ValueRef};
use rusqlite::{Row, ToSql};

/// The four quantities stored as mean/min/max/n, with their unit suffix, in column
/// order.
pub(super) const STATS: [(&str, &str); 4] = [
    ("temperature", "c"),
    ("humidity", "pct"),
    ("pressure", "hpa"),
    ("ground_temperature", "c"),
];

/// The value columns of `archive` after `start_ts, end_ts`, in schema order. The insert,
/// the raw query and reading records back all use this one list.
pub(super) const VALUE_COLUMNS: [&str; 27] = [
    "samples",
    "temperature_c",
    "temperature_min_c",
    "temperature_max_c",
    "temperature_n",
    "humidity_pct",
    "humidity_min_pct",
    "humidity_max_pct",
    "humidity_n",
    "pressure_hpa",
    "pressure_min_hpa",
    "pressure_max_hpa",
    "pressure_n",
    "ground_temperature_c",
    "ground_temperature_min_c",
    "ground_temperature_max_c",
    "ground_temperature_n",
    "dew_point_c",
    "sea_level_pressure_hpa",
    "wind_speed_kmh",
    "wind_gust_kmh",
    "wind_dir_deg",
    "wind_n",
    "wind_dir_n",
    "rain_mm",
    "rain_rate_mm_per_h",
    "rain_n",
];

/// A value for a REAL column: NULL for a missing or non-finite number.
pub(super) fn real(v: Option<f64>) -> SqlValue {
    finite(v).map_or(SqlValue::Null, SqlValue::Real)
}

fn stat_values(s: &Stat) -> [SqlValue; 4] {
    [
        real(s.mean),
        real(s.min),
        real(s.max),
        SqlValue::Integer(i64::from(s.n)),
    ]
}

/// The values for `VALUE_COLUMNS`, in the same order.
pub(super) fn record_values(r: &ArchiveRecord) -> Vec<SqlValue> {
    let mut v = Vec::with_capacity(VALUE_COLUMNS.len());
    v.push(SqlValue::Integer(i64::from(r.samples)));
    for s in [
        &r.temperature_c,
        &r.humidity_pct,
        &r.pressure_hpa,
        &r.ground_temperature_c,
    ] {
        v.extend(stat_values(s));
    }
    v.extend([
        real(r.dew_point_c),
        real(r.sea_level_pressure_hpa),
        real(r.wind_speed_kmh),
        real(r.wind_gust_kmh),
        real(r.wind_dir_deg),
        SqlValue::Integer(i64::from(r.wind_n)),
        SqlValue::Integer(i64::from(r.wind_dir_n)),
        real(r.rain_mm),
        real(r.rain_rate_mm_per_h),
        SqlValue::Integer(i64::from(r.rain_n)),
    ]);
    debug_assert_eq!(v.len(), VALUE_COLUMNS.len());
    v
}

/// A mean weighted by its sample count, as the daily sums store it: the sum and the
/// weight, or nothing when the mean is missing.
pub(super) fn weighted(mean: Option<f64>, n: u32) -> (Option<f64>, i64) {
    match finite(mean) {
        Some(m) if n > 0 => (Some(m * f64::from(n)), i64::from(n)),
        _ => (None, 0),
    }
}

/// Times in the archive, fault and state tables are whole Unix seconds (the archive's
/// boundaries are whole seconds by construction; a fault's first time is kept to the
/// second). The one exception, the rain gauge's last tip, keeps nanoseconds and is
/// written and read as a plain integer (see `archive`).
impl ToSql for Timestamp {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.secs()))
    }
}

impl FromSql for Timestamp {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        i64::column_result(value).map(Timestamp::from_secs)
    }
}

/// Reads a row's columns in order, each named as the statement must name it: the
/// names say what each read is, and a debug build (every test) checks them against
/// the statement, so a column list and its reader cannot drift apart.
pub(super) struct Columns<'a, 's> {
    row: &'a Row<'s>,
    next: usize,
}

impl<'a, 's> Columns<'a, 's> {
    pub(super) fn new(row: &'a Row<'s>) -> Self {
        Columns { row, next: 0 }
    }

    pub(super) fn get<T: FromSql>(&mut self, name: &str) -> rusqlite::Result<T> {
        let i = self.next;
        debug_assert_eq!(
            self.row.as_ref().column_name(i).ok(),
            Some(name),
            "column {i} of the statement"
        );
        self.next += 1;
        self.row.get(i)
    }

    /// Mean, min, max and n of a quantity stored with a unit: `temperature_c`,
    /// `temperature_min_c`, `temperature_max_c`, `temperature_n`.
    fn stat(&mut self, quantity: &str, unit: &str) -> rusqlite::Result<Stat> {
        // Named without allocating in release builds: a year of records is read
        // through here for an hourly query.
        let i = self.next;
        if cfg!(debug_assertions) {
            let names = [
                format!("{quantity}_{unit}"),
                format!("{quantity}_min_{unit}"),
                format!("{quantity}_max_{unit}"),
                format!("{quantity}_n"),
            ];
            for (k, name) in names.iter().enumerate() {
                assert_eq!(
                    self.row.as_ref().column_name(i + k).ok(),
                    Some(name.as_str())
                );
            }
        }
        self.next += 4;
        Ok(Stat {
            mean: self.row.get(i)?,
            min: self.row.get(i + 1)?,
            max: self.row.get(i + 2)?,
            n: self.row.get(i + 3)?,
        })
    }

    /// An `archive_extra` statistic: `mean, min, max, n`.
    pub(super) fn extra(&mut self) -> rusqlite::Result<Stat> {
        Ok(Stat {
            mean: self.get("mean")?,
            min: self.get("min")?,
            max: self.get("max")?,
            n: self.get("n")?,
        })
    }

    /// Reads `start_ts, end_ts, VALUE_COLUMNS...` from the next column on.
    pub(super) fn record(&mut self) -> rusqlite::Result<ArchiveRecord> {
        Ok(ArchiveRecord {
            start: self.get("start_ts")?,
            end: self.get("end_ts")?,
            samples: self.get("samples")?,
            temperature_c: self.stat("temperature", "c")?,
            humidity_pct: self.stat("humidity", "pct")?,
            pressure_hpa: self.stat("pressure", "hpa")?,
            ground_temperature_c: self.stat("ground_temperature", "c")?,
            dew_point_c: self.get("dew_point_c")?,
            sea_level_pressure_hpa: self.get("sea_level_pressure_hpa")?,
            wind_speed_kmh: self.get("wind_speed_kmh")?,
            wind_gust_kmh: self.get("wind_gust_kmh")?,
            wind_dir_deg: self.get("wind_dir_deg")?,
            wind_n: self.get("wind_n")?,
            wind_dir_n: self.get("wind_dir_n")?,
            rain_mm: self.get("rain_mm")?,
            rain_rate_mm_per_h: self.get("rain_rate_mm_per_h")?,
            rain_n: self.get("rain_n")?,
            extras: Vec::new(),
            faults: Vec::new(),
            last_rain_tip: None,
        })
    }
}

/// Reads a record from a row that is `start_ts, end_ts, VALUE_COLUMNS...`.
pub(super) fn read_record(row: &Row<'_>) -> rusqlite::Result<ArchiveRecord> {
    Columns::new(row).record()
}
