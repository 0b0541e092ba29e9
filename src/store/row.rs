//! How an [`ArchiveRecord`] maps to an `archive` row: the value columns, in schema
//! order, written and read back by name.

use super::finite;
use crate::observation::Aggregation;
use crate::record::{Access, ArchiveRecord, ExtraStat, COLUMNS, COLUMN_NAMES};
use crate::time::Timestamp;
use rusqlite::types::{FromSql, FromSqlResult, ToSqlOutput, Value as SqlValue, ValueRef};
use rusqlite::{Row, ToSql};

/// The value columns of `archive` after `start_ts, end_ts`, in schema order: the
/// record's columns as `record::COLUMNS` defines them. The insert, the raw query and
/// reading records back all use this one list.
pub(super) const VALUE_COLUMNS: [&str; COLUMNS.len()] = COLUMN_NAMES;

/// A value for a REAL column: NULL for a missing or non-finite number.
pub(super) fn real(v: Option<f64>) -> SqlValue {
    finite(v).map_or(SqlValue::Null, SqlValue::Real)
}

/// The values for `VALUE_COLUMNS`, in the same order.
pub(super) fn record_values(r: &ArchiveRecord) -> Vec<SqlValue> {
    COLUMNS
        .iter()
        .map(|c| match c.access {
            Access::Real { get, .. } => real(get(r)),
            Access::Count { get, .. } => SqlValue::Integer(i64::from(get(r))),
        })
        .collect()
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

/// An extra quantity's `kind` column: its name (`'mean'`, `'sum'`, ...).
impl ToSql for Aggregation {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.name()))
    }
}

impl FromSql for Aggregation {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let name = value.as_str()?;
        // The schema's CHECK allows only the known names; a newer weatherd's kind
        // would be refused at open (newer schema version), so this is corruption.
        Aggregation::from_name(name).ok_or_else(|| {
            rusqlite::types::FromSqlError::Other(
                format!("unknown aggregation kind {name:?} in the database").into(),
            )
        })
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

    /// An `archive_extra` value: `kind, value, min, max, n`.
    pub(super) fn extra(&mut self) -> rusqlite::Result<ExtraStat> {
        Ok(ExtraStat {
            kind: self.get("kind")?,
            value: self.get("value")?,
            min: self.get("min")?,
            max: self.get("max")?,
            n: self.get("n")?,
        })
    }

    /// Reads `start_ts, end_ts, VALUE_COLUMNS...` from the next column on.
    pub(super) fn record(&mut self) -> rusqlite::Result<ArchiveRecord> {
        let mut r = ArchiveRecord {
            start: self.get("start_ts")?,
            end: self.get("end_ts")?,
            ..Default::default()
        };
        for c in &COLUMNS {
            match c.access {
                Access::Real { set, .. } => set(&mut r, self.get(c.name)?),
                Access::Count { set, .. } => set(&mut r, self.get(c.name)?),
            }
        }
        Ok(r)
    }
}

/// Reads a record from a row that is `start_ts, end_ts, VALUE_COLUMNS...`.
pub(super) fn read_record(row: &Row<'_>) -> rusqlite::Result<ArchiveRecord> {
    Columns::new(row).record()
}
