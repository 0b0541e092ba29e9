//! The `daily_extra` table: per station-local day, every quantity the `daily` table
//! has no columns for (extra drivers' quantities and the archive's computed columns,
//! e.g. `dew_point_c`), folded in as each record is written, so a daily query or a
//! climate report never scans the archive for them.
//!
//! It also hands out the daily rows themselves, typed, for the climate reports.

use super::row::{real, weighted};
use super::{finite, Reader, StoreError};
use crate::record::{Access, ArchiveRecord, Statistic, COLUMNS};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection};
use std::collections::BTreeMap;

/// One day of one quantity from `daily_extra`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct DayStat {
    /// Sample-weighted mean.
    pub mean: Option<f64>,
    /// Samples behind the mean.
    pub n: i64,
    pub min: Option<f64>,
    /// Unix seconds: the start of the first record that reached the minimum.
    pub min_at: Option<i64>,
    pub max: Option<f64>,
    pub max_at: Option<i64>,
}

/// One row of the `daily` table, by column name (counts and times as numbers too).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct DailyRow {
    /// `YYYY-MM-DD`, station-local.
    pub date: String,
    pub records: i64,
    pub cells: BTreeMap<String, f64>,
}

impl DailyRow {
    /// A column's value; `None` when NULL or not a column.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.cells.get(name).copied()
    }
}

/// The archive columns kept in `daily_extra`: measurements the `daily` table has no
/// columns for (computed ones such as dew point), iterated from `record::COLUMNS` so a
/// new column lands here without a schema change.
fn extra_columns() -> impl Iterator<Item = &'static crate::record::Column> {
    COLUMNS.iter().filter(|c| {
        !c.daily
            && matches!(c.access, Access::Real { .. })
            && !matches!(c.statistic, Statistic::VectorMean { .. })
    })
}

const UPSERT: &str =
    "INSERT INTO daily_extra (date, quantity, mean_sum, n, min, min_ts, max, max_ts) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?6) \
     ON CONFLICT (date, quantity) DO UPDATE SET \
     mean_sum = coalesce(mean_sum + excluded.mean_sum, mean_sum, excluded.mean_sum), \
     n = n + excluded.n, \
     min_ts = CASE WHEN excluded.min IS NOT NULL AND (min IS NULL OR excluded.min < min) \
              THEN excluded.min_ts ELSE min_ts END, \
     max_ts = CASE WHEN excluded.max IS NOT NULL AND (max IS NULL OR excluded.max > max) \
              THEN excluded.max_ts ELSE max_ts END, \
     min = coalesce(min(min, excluded.min), min, excluded.min), \
     max = coalesce(max(max, excluded.max), max, excluded.max)";

/// Folds one value of one quantity into its day's row.
#[allow(clippy::too_many_arguments)]
fn put(
    stmt: &mut rusqlite::CachedStatement<'_>,
    date: &str,
    at: i64,
    quantity: &str,
    mean: Option<f64>,
    n: u32,
    min: Option<f64>,
    max: Option<f64>,
) -> rusqlite::Result<()> {
    let (sum, n) = weighted(mean, n);
    let (min, max) = (finite(min), finite(max));
    if sum.is_none() && min.is_none() && max.is_none() {
        // Nothing measured: no row, so a day without the sensor stays absent.
        return Ok(());
    }
    let ts = |v: Option<f64>| v.map(|_| at);
    stmt.execute(params![
        date,
        quantity,
        real(sum),
        n,
        real(min),
        ts(min.or(max)),
        real(max)
    ])
    .map(|_| ())
}

/// Folds one record into its day's `daily_extra` rows (in the record's transaction).
pub(super) fn upsert(conn: &Connection, date: &str, r: &ArchiveRecord) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(UPSERT)?;
    let at = r.start.secs();
    for c in extra_columns() {
        let v = c.real(r);
        // A computed column is one value per record, weighted by its samples.
        put(&mut stmt, date, at, c.name, v, r.samples.max(1), v, v)?;
    }
    for (quantity, s) in &r.extras {
        put(&mut stmt, date, at, quantity, s.mean, s.n, s.min, s.max)?;
    }
    Ok(())
}

/// Folds every stored extra (`archive_extra`) into `daily_extra`, in record order
/// as they were written: the second half of recomputing the daily tables (the
/// first, `upsert` per record read back, sees no extras).
pub(super) fn refill_extras(conn: &Connection, tz: chrono_tz::Tz) -> rusqlite::Result<()> {
    // Quantities of one record go to different rows, so their order among
    // themselves does not matter; the records' order does (sums, first extremes).
    let mut rows_stmt = conn.prepare(
        "SELECT a.start_ts, e.quantity, e.mean, e.min, e.max, e.n \
         FROM archive a JOIN archive_extra e ON e.archive_id = a.id \
         ORDER BY a.start_ts, e.quantity",
    )?;
    let mut stmt = conn.prepare_cached(UPSERT)?;
    let mut rows = rows_stmt.query([])?;
    let (mut last, mut date) = (i64::MIN, String::new());
    while let Some(row) = rows.next()? {
        let at: i64 = row.get(0)?;
        // A record's extras come together: format its date once.
        if at != last {
            last = at;
            date = super::local_date(crate::time::Timestamp::from_secs(at), tz);
        }
        let quantity: String = row.get(1)?;
        put(
            &mut stmt,
            &date,
            at,
            &quantity,
            row.get(2)?,
            row.get(5)?,
            row.get(3)?,
            row.get(4)?,
        )?;
    }
    Ok(())
}

impl Reader {
    /// `daily` rows for the station-local dates `first..=last` (`YYYY-MM-DD`), in
    /// date order.
    pub fn daily_rows(&self, first: &str, last: &str) -> Result<Vec<DailyRow>, StoreError> {
        let mut stmt = self
            .db
            .conn
            .prepare_cached("SELECT * FROM daily WHERE date >= ?1 AND date <= ?2 ORDER BY date")?;
        let names: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
        let mut rows = stmt.query(params![first, last])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut day = DailyRow::default();
            for (i, name) in names.iter().enumerate() {
                let v: SqlValue = row.get(i)?;
                match (name.as_str(), v) {
                    ("date", SqlValue::Text(t)) => day.date = t,
                    ("records", SqlValue::Integer(n)) => day.records = n,
                    (_, SqlValue::Integer(n)) => {
                        day.cells.insert(name.clone(), n as f64);
                    }
                    (_, SqlValue::Real(x)) => {
                        day.cells.insert(name.clone(), x);
                    }
                    _ => {}
                }
            }
            out.push(day);
        }
        Ok(out)
    }

    /// `daily_extra` rows for the dates `first..=last`: (date, quantity, day).
    pub fn daily_extra_rows(
        &self,
        first: &str,
        last: &str,
    ) -> Result<Vec<(String, String, DayStat)>, StoreError> {
        let mut stmt = self.db.conn.prepare_cached(
            "SELECT date, quantity, mean_sum, n, min, min_ts, max, max_ts FROM daily_extra \
             WHERE date >= ?1 AND date <= ?2 ORDER BY date, quantity",
        )?;
        let rows = stmt.query_map(params![first, last], |row| {
            let sum: Option<f64> = row.get(2)?;
            let n: i64 = row.get(3)?;
            Ok((
                row.get(0)?,
                row.get(1)?,
                DayStat {
                    mean: sum.filter(|_| n > 0).map(|s| s / n as f64),
                    n,
                    min: row.get(4)?,
                    min_at: row.get(5)?,
                    max: row.get(6)?,
                    max_at: row.get(7)?,
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// One quantity's day folded in memory as [`upsert`] folds it in SQL.
#[derive(Default)]
struct Fold {
    sum: Option<f64>,
    n: i64,
    min: Option<(f64, i64)>,
    max: Option<(f64, i64)>,
}

impl Fold {
    fn add(&mut self, mean: Option<f64>, n: u32, min: Option<f64>, max: Option<f64>, at: i64) {
        if let (Some(s), w) = weighted(mean, n) {
            self.sum = Some(self.sum.unwrap_or(0.0) + s);
            self.n += w;
        }
        if let Some(v) = finite(min) {
            if self.min.is_none_or(|(m, _)| v < m) {
                self.min = Some((v, at));
            }
        }
        if let Some(v) = finite(max) {
            if self.max.is_none_or(|(m, _)| v > m) {
                self.max = Some((v, at));
            }
        }
    }

    fn stat(&self) -> DayStat {
        DayStat {
            mean: self.sum.filter(|_| self.n > 0).map(|s| s / self.n as f64),
            n: self.n,
            min: self.min.map(|m| m.0),
            min_at: self.min.map(|m| m.1),
            max: self.max.map(|m| m.0),
            max_at: self.max.map(|m| m.1),
        }
    }
}

impl Reader {
    /// The `daily_extra` quantities of `date` from only its records that start in
    /// `[lo, hi)` (a day a query's bounds cut), in quantity order.
    pub(super) fn partial_day_extras(
        &self,
        date: &str,
        lo: i64,
        hi: i64,
    ) -> Result<Vec<(String, DayStat)>, StoreError> {
        use super::row::{read_record, VALUE_COLUMNS};
        let tz = self.db.tz;
        let mut folds: BTreeMap<String, Fold> = BTreeMap::new();
        let sql = format!(
            "SELECT start_ts, end_ts, {} FROM archive WHERE start_ts >= ?1 AND start_ts < ?2 ORDER BY start_ts",
            VALUE_COLUMNS.join(", ")
        );
        let mut stmt = self.db.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params![lo, hi])?;
        while let Some(row) = rows.next()? {
            let r = read_record(row)?;
            if super::local_date(r.start, tz) != date {
                continue;
            }
            for c in extra_columns() {
                let v = c.real(&r);
                if finite(v).is_some() {
                    folds.entry(c.name.to_string()).or_default().add(
                        v,
                        r.samples.max(1),
                        v,
                        v,
                        r.start.secs(),
                    );
                }
            }
        }
        drop(rows);
        let mut stmt = self.db.conn.prepare_cached(
            "SELECT a.start_ts, e.quantity, e.mean, e.min, e.max, e.n \
             FROM archive a JOIN archive_extra e ON e.archive_id = a.id \
             WHERE a.start_ts >= ?1 AND a.start_ts < ?2 ORDER BY a.start_ts",
        )?;
        let mut rows = stmt.query(params![lo, hi])?;
        while let Some(row) = rows.next()? {
            let start: i64 = row.get(0)?;
            if super::local_date(crate::time::Timestamp::from_secs(start), tz) != date {
                continue;
            }
            let quantity: String = row.get(1)?;
            let (mean, min, max): (Option<f64>, Option<f64>, Option<f64>) =
                (row.get(2)?, row.get(3)?, row.get(4)?);
            if finite(mean).is_none() && finite(min).is_none() && finite(max).is_none() {
                continue;
            }
            folds
                .entry(quantity)
                .or_default()
                .add(mean, row.get(5)?, min, max, start);
        }
        Ok(folds.into_iter().map(|(q, f)| (q, f.stat())).collect())
    }
}
