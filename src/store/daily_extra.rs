//! The `daily_extra` table: per station-local day, every quantity the `daily` table
//! has no columns for (extra drivers' quantities and the archive's computed columns,
//! e.g. `dew_point_c`), folded in as each record is written, so a daily query or a
//! climate report never scans the archive for them.
//!
//! It also hands out the daily rows themselves, typed, for the climate reports.

use super::fold::Target;
use super::row::{real, weighted, Columns};
use super::{finite, Reader, StoreError};
use crate::meteo::VectorSum;
use crate::observation::Aggregation;
use crate::record::{Access, ArchiveRecord, ExtraStat, Statistic, COLUMNS};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// One day (or hour) of one quantity from `daily_extra`, folded by its `kind`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct DayStat {
    pub kind: Aggregation,
    /// The sample-weighted mean (`Mean`), the total (`Sum`), the mean direction
    /// (`Vector`, `None` when the records' directions cancel) or the newest record's
    /// value (`Last`).
    pub value: Option<f64>,
    /// Samples behind the value.
    pub n: i64,
    /// Lowest and highest sample (`Mean`, `Last`; `None` for the other kinds).
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

/// The upsert into `{table}`: one value of one quantity into its day's row.
const UPSERT: &str = "INSERT INTO {table} \
     (date, quantity, kind, mean_sum, n, min, min_ts, max, max_ts, total, east_sum, north_sum, \
      last, last_ts) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7, ?9, ?10, ?11, ?12, ?7) \
     ON CONFLICT (date, quantity) DO UPDATE SET \
     kind = excluded.kind, \
     mean_sum = coalesce(mean_sum + excluded.mean_sum, mean_sum, excluded.mean_sum), \
     n = n + excluded.n, \
     min_ts = CASE WHEN excluded.min IS NOT NULL AND (min IS NULL OR excluded.min < min) \
              THEN excluded.min_ts ELSE min_ts END, \
     max_ts = CASE WHEN excluded.max IS NOT NULL AND (max IS NULL OR excluded.max > max) \
              THEN excluded.max_ts ELSE max_ts END, \
     min = coalesce(min(min, excluded.min), min, excluded.min), \
     max = coalesce(max(max, excluded.max), max, excluded.max), \
     total = coalesce(total + excluded.total, total, excluded.total), \
     east_sum = coalesce(east_sum + excluded.east_sum, east_sum, excluded.east_sum), \
     north_sum = coalesce(north_sum + excluded.north_sum, north_sum, excluded.north_sum), \
     last_ts = CASE WHEN excluded.last IS NOT NULL AND (last_ts IS NULL OR excluded.last_ts >= last_ts) \
               THEN excluded.last_ts ELSE last_ts END, \
     last = CASE WHEN excluded.last IS NOT NULL AND (last_ts IS NULL OR excluded.last_ts >= last_ts) \
            THEN excluded.last ELSE last END";

/// What one record's value of one quantity adds to its day, by kind: the columns of
/// `UPSERT` after the key (`mean_sum, n, total, east_sum, north_sum, last`), each
/// `None` where the kind does not use it. [`ExtraFold::add`] is the same in memory.
struct Addend {
    mean_sum: Option<f64>,
    n: i64,
    total: Option<f64>,
    east_north: Option<(f64, f64)>,
    last: Option<f64>,
}

impl Addend {
    fn of(s: &ExtraStat) -> Addend {
        let mut a = Addend {
            mean_sum: None,
            n: 0,
            total: None,
            east_north: None,
            last: None,
        };
        let value = finite(s.value);
        match s.kind {
            Aggregation::Mean => (a.mean_sum, a.n) = weighted(value, s.n),
            Aggregation::Sum => a.total = value,
            Aggregation::Vector => {
                let mut v = VectorSum::default();
                v.add(value.unwrap_or(f64::NAN), f64::from(s.n));
                a.east_north = (v.weight() > 0.0).then(|| v.parts());
            }
            Aggregation::Last => a.last = value,
        }
        let counted = match s.kind {
            Aggregation::Mean => a.n > 0,
            Aggregation::Sum | Aggregation::Vector | Aggregation::Last => value.is_some(),
        };
        if counted {
            a.n = i64::from(s.n);
        }
        a
    }
}

/// Folds one value of one quantity into its day's row.
fn put(
    stmt: &mut rusqlite::CachedStatement<'_>,
    date: &str,
    at: i64,
    quantity: &str,
    s: &ExtraStat,
) -> rusqlite::Result<()> {
    let a = Addend::of(s);
    let (min, max) = (finite(s.min), finite(s.max));
    let measured = a.mean_sum.is_some()
        || a.total.is_some()
        || a.east_north.is_some()
        || a.last.is_some()
        || min.is_some()
        || max.is_some();
    if !measured {
        // Nothing measured: no row, so a day without the sensor stays absent.
        return Ok(());
    }
    let ts = |v: Option<f64>| v.map(|_| at);
    stmt.execute(params![
        date,
        quantity,
        s.kind,
        real(a.mean_sum),
        a.n,
        real(min),
        ts(min.or(max).or(a.last)),
        real(max),
        real(a.total),
        real(a.east_north.map(|e| e.0)),
        real(a.east_north.map(|e| e.1)),
        real(a.last),
    ])
    .map(|_| ())
}

/// A computed column's value in a record, as `daily_extra` folds it: one mean per
/// record, weighted by its samples.
fn computed(v: Option<f64>, samples: u32) -> ExtraStat {
    ExtraStat {
        kind: Aggregation::Mean,
        value: v,
        min: v,
        max: v,
        n: samples.max(1),
    }
}

fn upsert_sql(target: Target) -> &'static str {
    static SQL: [OnceLock<String>; 2] = [OnceLock::new(), OnceLock::new()];
    target.cached(&SQL, |target| {
        UPSERT.replace("{table}", target.daily_extra())
    })
}

/// Folds one record's computed columns and extras into its day's `daily_extra` rows.
pub(super) fn upsert(
    conn: &Connection,
    target: Target,
    date: &str,
    r: &ArchiveRecord,
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(upsert_sql(target))?;
    let at = r.start.secs();
    for c in extra_columns() {
        put(&mut stmt, date, at, c.name, &computed(c.real(r), r.samples))?;
    }
    for (quantity, s) in &r.extras {
        put(&mut stmt, date, at, quantity, s)?;
    }
    Ok(())
}

/// Folds the stored extras (`archive_extra`) of the records after id `after` into
/// `target`, in record order as they were written: the second half of a fold (the
/// first, `upsert` per record read back, sees no extras).
pub(super) fn fold_extras(
    conn: &Connection,
    target: Target,
    tz: chrono_tz::Tz,
    after: i64,
) -> rusqlite::Result<()> {
    // Quantities of one record go to different rows, so their order among
    // themselves does not matter; the records' order does (sums, first extremes).
    let mut rows_stmt = conn.prepare_cached(
        "SELECT a.start_ts AS start_ts, e.quantity AS quantity, e.kind AS kind, \
                e.value AS value, e.min AS min, e.max AS max, e.n AS n \
         FROM archive_extra e JOIN archive a ON a.id = e.archive_id \
         WHERE e.archive_id > ?1 ORDER BY e.archive_id, e.quantity",
    )?;
    let mut stmt = conn.prepare_cached(upsert_sql(target))?;
    let mut rows = rows_stmt.query([after])?;
    let (mut last, mut date) = (i64::MIN, String::new());
    while let Some(row) = rows.next()? {
        let mut cols = Columns::new(row);
        let at: i64 = cols.get("start_ts")?;
        // A record's extras come together: format its date once.
        if at != last {
            last = at;
            date = super::local_date(crate::time::Timestamp::from_secs(at), tz);
        }
        let quantity: String = cols.get("quantity")?;
        put(&mut stmt, &date, at, &quantity, &cols.extra()?)?;
    }
    Ok(())
}

impl Reader {
    /// `daily` rows for the station-local dates `first..=last` (`YYYY-MM-DD`), in
    /// date order.
    pub fn daily_rows(&self, first: &str, last: &str) -> Result<Vec<DailyRow>, StoreError> {
        let daily = self.db.daily_sources()?.daily;
        let mut stmt = self.db.conn.prepare_cached(&format!(
            "SELECT * FROM {daily} WHERE date >= ?1 AND date <= ?2 ORDER BY date"
        ))?;
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
        let daily_extra = self.db.daily_sources()?.daily_extra;
        let mut stmt = self.db.conn.prepare_cached(&format!(
            "SELECT date, quantity, kind, mean_sum, n, min, min_ts, max, max_ts, total, \
                    east_sum, north_sum, last FROM {daily_extra} \
             WHERE date >= ?1 AND date <= ?2 ORDER BY date, quantity"
        ))?;
        let rows = stmt.query_map(params![first, last], |row| {
            let mut cols = Columns::new(row);
            let (date, quantity) = (cols.get("date")?, cols.get("quantity")?);
            let kind: Aggregation = cols.get("kind")?;
            let mean_sum: Option<f64> = cols.get("mean_sum")?;
            let n: i64 = cols.get("n")?;
            let mut day = DayStat {
                kind,
                value: None,
                n,
                min: cols.get("min")?,
                min_at: cols.get("min_ts")?,
                max: cols.get("max")?,
                max_at: cols.get("max_ts")?,
            };
            let total: Option<f64> = cols.get("total")?;
            let east: Option<f64> = cols.get("east_sum")?;
            let north: Option<f64> = cols.get("north_sum")?;
            let last: Option<f64> = cols.get("last")?;
            day.value = match kind {
                Aggregation::Mean => mean_sum.filter(|_| n > 0).map(|s| s / n as f64),
                Aggregation::Sum => total,
                Aggregation::Vector => east
                    .zip(north)
                    .and_then(|(e, no)| VectorSum::from_parts(e, no, n as f64).mean_deg()),
                Aggregation::Last => last,
            };
            Ok((date, quantity, day))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// One quantity's values folded in memory into an hour or a day, by its kind, as
/// [`upsert`] folds them in SQL (same arithmetic, see `Addend`): `--every hour` and a
/// day cut by a query's bounds.
#[derive(Default)]
pub(super) struct ExtraFold {
    kind: Aggregation,
    mean_sum: Option<f64>,
    n: i64,
    total: Option<f64>,
    dir: Option<(f64, f64)>,
    min: Option<(f64, i64)>,
    max: Option<(f64, i64)>,
    last: Option<(f64, i64)>,
}

impl ExtraFold {
    /// Adds one record's value, the record starting at Unix second `at` (records come
    /// in time order; the newest is the `Last` value).
    pub(super) fn add(&mut self, s: &ExtraStat, at: i64) {
        // A quantity's kind is its driver's; if a new config changed it, the newest wins.
        self.kind = s.kind;
        let a = Addend::of(s);
        let plus = |acc: Option<f64>, v: Option<f64>| match (acc, v) {
            (Some(x), Some(y)) => Some(x + y),
            (x, y) => x.or(y),
        };
        self.mean_sum = plus(self.mean_sum, a.mean_sum);
        self.n += a.n;
        self.total = plus(self.total, a.total);
        if let Some((e, n)) = a.east_north {
            let (e0, n0) = self.dir.unwrap_or((0.0, 0.0));
            self.dir = Some((e0 + e, n0 + n));
        }
        if let Some(v) = a.last {
            if self.last.is_none_or(|(_, t)| at >= t) {
                self.last = Some((v, at));
            }
        }
        if let Some(v) = finite(s.min) {
            if self.min.is_none_or(|(m, _)| v < m) {
                self.min = Some((v, at));
            }
        }
        if let Some(v) = finite(s.max) {
            if self.max.is_none_or(|(m, _)| v > m) {
                self.max = Some((v, at));
            }
        }
    }

    pub(super) fn stat(&self) -> DayStat {
        let value = match self.kind {
            Aggregation::Mean => self
                .mean_sum
                .filter(|_| self.n > 0)
                .map(|s| s / self.n as f64),
            Aggregation::Sum => self.total,
            Aggregation::Vector => self
                .dir
                .and_then(|(e, n)| VectorSum::from_parts(e, n, self.n as f64).mean_deg()),
            Aggregation::Last => self.last.map(|l| l.0),
        };
        DayStat {
            kind: self.kind,
            value,
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
        let mut folds: BTreeMap<String, ExtraFold> = BTreeMap::new();
        let sql = format!(
            "SELECT start_ts, end_ts, {} FROM archive WHERE id >= ?1 AND id < ?2 ORDER BY id",
            VALUE_COLUMNS.join(", ")
        );
        let ids = self.db.id_range(lo, hi)?;
        let mut stmt = self.db.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(ids)?;
        while let Some(row) = rows.next()? {
            let r = read_record(row)?;
            if super::local_date(r.start, tz) != date {
                continue;
            }
            for c in extra_columns() {
                let v = c.real(&r);
                if finite(v).is_some() {
                    folds
                        .entry(c.name.to_string())
                        .or_default()
                        .add(&computed(v, r.samples), r.start.secs());
                }
            }
        }
        drop(rows);
        let mut stmt = self.db.conn.prepare_cached(
            "SELECT a.start_ts AS start_ts, e.quantity AS quantity, e.kind AS kind, \
                    e.value AS value, e.min AS min, e.max AS max, e.n AS n \
             FROM archive_extra e JOIN archive a ON a.id = e.archive_id \
             WHERE e.archive_id >= ?1 AND e.archive_id < ?2 ORDER BY e.archive_id",
        )?;
        let mut rows = stmt.query(ids)?;
        while let Some(row) = rows.next()? {
            let mut cols = Columns::new(row);
            let start: i64 = cols.get("start_ts")?;
            if super::local_date(crate::time::Timestamp::from_secs(start), tz) != date {
                continue;
            }
            let quantity: String = cols.get("quantity")?;
            folds
                .entry(quantity)
                .or_default()
                .add(&cols.extra()?, start);
        }
        Ok(folds.into_iter().map(|(q, f)| (q, f.stat())).collect())
    }
}
