//! Reading the archive back: raw, hourly and daily tables for `weatherd query`, and
//! the counts and times `weatherd status` shows.

use super::daily_extra::{DayStat, ExtraFold};
use super::hourly::HourAcc;
use super::row::{read_record, Columns, VALUE_COLUMNS};
use super::{ceil_secs, daily::local_date, Db, Reader, StoreError};
use crate::observation::Quantity;
use crate::record::ExtraStat;
use crate::time::{utc_text, Timestamp};
use rusqlite::params;
use rusqlite::types::ValueRef;
use rusqlite::OptionalExtension;
use std::collections::{BTreeMap, BTreeSet};

/// Fault counts of one sensor.
#[derive(Clone, Debug, PartialEq)]
pub struct SensorFaults {
    pub sensor: String,
    pub total: i64,
    /// In intervals since the time asked for.
    pub recent: i64,
    pub last_at: Option<Timestamp>,
    pub last_message: Option<String>,
}

/// How `query` groups rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Every {
    Raw,
    Hour,
    Day,
}

/// One cell of a query result.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

/// A cell as SQLite returned it (a private function rather than a `From` impl, so
/// that no SQLite type shows in the store's public API).
fn cell(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Text(format!("<{} bytes>", b.len())),
    }
}

impl From<Option<f64>> for Value {
    fn from(v: Option<f64>) -> Self {
        v.map_or(Value::Null, Value::Real)
    }
}

/// A query result: column names (with units) and rows.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Table {
    /// The index of a column by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }
}

/// unit suffix: (`illuminance_lux`, `min`) → `illuminance_min_lux`.
fn derived_name(quantity: &str, word: &str) -> String {
    match quantity.rsplit_once('_') {
        Some((stem, unit)) => format!("{stem}_{word}_{unit}"),
        None => format!("{quantity}_{word}"),
    }
}

fn n_name(quantity: &str) -> String {
    match quantity.rsplit_once('_') {
        Some((stem, _unit)) => format!("{stem}_n"),
        None => format!("{quantity}_n"),
    }
}

impl Db {
    /// The first id of the records that start at or after `secs` (one past the newest
    /// id when none does). `start_ts` has no index (it cost a page per record on the SD
    /// card, see `migrate`), but ids and start times grow together, so a binary search
    /// over ids finds it in about 25 lookups of the id's own B-tree.
    pub(super) fn id_at(&self, secs: i64) -> Result<i64, StoreError> {
        let (mut lo, mut hi): (i64, i64) = self
            .conn
            .prepare_cached(
                "SELECT coalesce((SELECT min(id) FROM archive), 1), \
                    coalesce((SELECT max(id) FROM archive), 0) + 1",
            )?
            .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        let mut probe = self.conn.prepare_cached(
            "SELECT id, start_ts FROM archive WHERE id >= ?1 ORDER BY id LIMIT 1",
        )?;
        // Invariant: every record before `lo` starts before `secs`; the first record
        // at or after `hi` (if any) starts at or after it.
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (id, start): (i64, i64) = probe
                .query_row([mid], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?
                .unwrap_or((hi, i64::MAX));
            if start >= secs {
                hi = mid;
            } else {
                lo = id + 1;
            }
        }
        Ok(lo)
    }

    /// The ids of the records that start in `[from_s, to_s)`, as `[lo, hi)`.
    pub(super) fn id_range(&self, from_s: i64, to_s: i64) -> Result<(i64, i64), StoreError> {
        let lo = self.id_at(from_s)?;
        let hi = if to_s <= from_s {
            lo
        } else {
            self.id_at(to_s)?
        };
        Ok((lo, hi))
    }

    /// The newest record's id (0 when empty): where a new uploader's cursor starts if
    /// it should send only what comes next.
    pub(super) fn last_id(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT coalesce(max(id), 0) FROM archive", [], |row| {
                row.get(0)
            })?)
    }
}

impl Reader {
    /// The newest record's id (0 when empty).
    pub fn last_id(&self) -> Result<i64, StoreError> {
        self.db.last_id()
    }

    /// Number of stored records.
    pub fn record_count(&self) -> Result<i64, StoreError> {
        Ok(self
            .db
            .conn
            .query_row("SELECT count(*) FROM archive", [], |row| row.get(0))?)
    }

    /// Total number of faulty samples recorded (sum of `fault.count`).
    pub fn faults_total(&self) -> Result<i64, StoreError> {
        Ok(self
            .db
            .conn
            .query_row("SELECT coalesce(sum(count), 0) FROM fault", [], |row| {
                row.get(0)
            })?)
    }

    /// Rain in the records that start in `[from, to)`; `None` when none of them had
    /// rain-gauge data (e.g. "rain in the last hour" for uploads).
    pub fn rain_mm_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Option<f64>, StoreError> {
        let (lo, hi) = self.db.id_range(ceil_secs(from), ceil_secs(to))?;
        Ok(self
            .db
            .conn
            .prepare_cached("SELECT sum(rain_mm) FROM archive WHERE id >= ?1 AND id < ?2")?
            .query_row(params![lo, hi], |row| row.get(0))?)
    }

    /// The end of the newest record with at least one valid sample of `quantity`: when
    /// the sensor that reports it last worked.
    pub fn last_valid(&self, quantity: &Quantity) -> Result<Option<Timestamp>, StoreError> {
        let column = match quantity {
            Quantity::TemperatureC => Some("temperature_n"),
            Quantity::HumidityPct => Some("humidity_n"),
            Quantity::PressureHpa => Some("pressure_n"),
            Quantity::GroundTemperatureC => Some("ground_temperature_n"),
            Quantity::WindDirDeg => Some("wind_dir_n"),
            Quantity::WindSpeedKmh => Some("wind_n"),
            Quantity::RainMm => Some("rain_n"),
            Quantity::Extra(_) => None,
        };
        // Newest first by id: a working sensor is found in the first rows, without
        // scanning years of history.
        let end: Option<Timestamp> = match column {
            Some(column) => self
                .db
                .conn
                .prepare_cached(&format!(
                    "SELECT end_ts FROM archive WHERE {column} > 0 ORDER BY id DESC LIMIT 1"
                ))?
                .query_row([], |row| row.get(0))
                .optional()?,
            None => self
                .db
                .conn
                .prepare_cached(
                    "SELECT a.end_ts FROM archive_extra e JOIN archive a ON a.id = e.archive_id \
                     WHERE e.quantity = ?1 AND e.n > 0 ORDER BY e.archive_id DESC LIMIT 1",
                )?
                .query_row([quantity.name()], |row| row.get(0))
                .optional()?,
        };
        Ok(end)
    }

    /// Fault counts per sensor: all time, and in intervals that started at or after
    /// `since` (e.g. the last 24 hours), with the newest fault's time and message.
    pub fn sensor_faults(&self, since: Timestamp) -> Result<Vec<SensorFaults>, StoreError> {
        let mut stmt = self.db.conn.prepare(
            "SELECT f.sensor AS sensor, sum(f.count) AS total, \
                    sum(CASE WHEN f.archive_id >= ?1 THEN f.count ELSE 0 END) AS recent, \
                    max(f.first_ts) AS last_at, \
                    (SELECT g.message FROM fault g WHERE g.sensor = f.sensor ORDER BY g.id DESC LIMIT 1) AS last_message \
             FROM fault f GROUP BY f.sensor ORDER BY f.sensor",
        )?;
        let since = self.db.id_at(ceil_secs(since))?;
        let rows = stmt.query_map([since], |row| {
            let mut cols = Columns::new(row);
            Ok(SensorFaults {
                sensor: cols.get("sensor")?,
                total: cols.get("total")?,
                recent: cols.get("recent")?,
                last_at: cols.get("last_at")?,
                last_message: cols.get("last_message")?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records whose start lies in `[from, to)` (unbounded where `None`):
    ///
    /// - `Raw`: one row per record: `id`, `start_utc`, `end_utc`, then the archive
    ///   columns in schema order, then for each extra quantity present in the range
    ///   (alphabetically) its mean, min, max and n (`illuminance_lux`,
    ///   `illuminance_min_lux`, `illuminance_max_lux`, `illuminance_n`).
    /// - `Hour`: one row per UTC hour: `start_utc` of the hour, `records`, sample-weighted
    ///   means, min of minima, max of maxima, mean dew point and sea-level pressure,
    ///   speed-weighted vector-mean wind direction, highest gust, rain total and highest
    ///   rain rate; extras as in `Raw`, aggregated the same way.
    /// - `Day`: one row per station-local date that has records in `[from, to)`. Whole
    ///   days come from the daily summary; a day cut by `from` or `to` is computed from
    ///   the records inside the range (same columns, same arithmetic). Extras follow as
    ///   in `Hour`, folded per station-local date from the records in the range (the
    ///   daily table has no columns for them).
    ///
    /// Means keep the archive's column names (`temperature_c` is the mean at every
    /// resolution), so a plot works the same on any of them.
    pub fn query(
        &self,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        every: Every,
    ) -> Result<Table, StoreError> {
        match every {
            Every::Raw => self.query_raw(from, to),
            Every::Hour => self.query_hour(from, to),
            Every::Day => self.query_day(from, to),
        }
    }

    fn query_raw(
        &self,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Result<Table, StoreError> {
        let (from_s, to_s) = bounds(from, to);
        let sql = format!(
            "SELECT id, start_ts, end_ts, {} \
             FROM archive WHERE id >= ?1 AND id < ?2 ORDER BY id",
            VALUE_COLUMNS.join(", ")
        );
        let (lo, hi) = self.db.id_range(from_s, to_s)?;
        let mut table = Table {
            columns: vec!["id".into(), "start_utc".into(), "end_utc".into()],
            rows: vec![],
        };
        table
            .columns
            .extend(VALUE_COLUMNS.iter().map(|c| c.to_string()));
        let width = table.columns.len();
        let mut stmt = self.db.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params![lo, hi])?;
        let mut ids = Vec::new();
        while let Some(row) = rows.next()? {
            let mut cells = Vec::with_capacity(width);
            cells.push(Value::Int(row.get(0)?));
            cells.push(Value::Text(utc_text(row.get(1)?)));
            cells.push(Value::Text(utc_text(row.get(2)?)));
            for i in 3..width {
                cells.push(cell(row.get_ref(i)?));
            }
            ids.push(row.get::<_, i64>(0)?);
            table.rows.push(cells);
        }
        drop(rows);

        let extras = self.extras_query("a.id", lo, hi)?;
        let names: BTreeSet<&str> = extras.iter().map(|e| e.1.as_str()).collect();
        let names: Vec<&str> = names.into_iter().collect();
        add_extra_columns(&mut table, &names);
        for (id, quantity, stat) in &extras {
            let (Ok(r), Ok(q)) = (
                ids.binary_search(id),
                names.binary_search(&quantity.as_str()),
            ) else {
                continue;
            };
            let at = width + 4 * q;
            let row = &mut table.rows[r];
            row[at] = stat.value.into();
            row[at + 1] = stat.min.into();
            row[at + 2] = stat.max.into();
            row[at + 3] = Value::Int(i64::from(stat.n));
        }
        self.add_rain_windows(&mut table, from_s, hi)?;
        Ok(table)
    }

    /// Extras of the records with ids in `[lo, hi)` (as [`Db::id_range`] finds a time
    /// range): (archive id or start second, as `key` asks, quantity, stat), in archive
    /// order.
    fn extras_query(
        &self,
        key: &str,
        lo: i64,
        hi: i64,
    ) -> Result<Vec<(i64, String, ExtraStat)>, StoreError> {
        let sql = format!(
            "SELECT {key} AS key, e.quantity AS quantity, e.kind AS kind, e.value AS value, \
                    e.min AS min, e.max AS max, e.n AS n \
             FROM archive_extra e JOIN archive a ON a.id = e.archive_id \
             WHERE e.archive_id >= ?1 AND e.archive_id < ?2 ORDER BY e.archive_id"
        );
        let mut stmt = self.db.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![lo, hi], |row| {
            let mut cols = Columns::new(row);
            Ok((cols.get("key")?, cols.get("quantity")?, cols.extra()?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn query_hour(
        &self,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Result<Table, StoreError> {
        let (from_s, to_s) = bounds(from, to);
        let sql = format!(
            "SELECT start_ts, end_ts, {} FROM archive WHERE id >= ?1 AND id < ?2 ORDER BY id",
            VALUE_COLUMNS.join(", ")
        );
        let (lo, hi) = self.db.id_range(from_s, to_s)?;
        let mut hours: BTreeMap<i64, HourAcc> = BTreeMap::new();
        let mut stmt = self.db.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params![lo, hi])?;
        while let Some(row) = rows.next()? {
            let rec = read_record(row)?;
            hours
                .entry(rec.start.secs().div_euclid(3600) * 3600)
                .or_default()
                .add(&rec);
        }
        drop(rows);

        let extras = self.extras_query("a.start_ts", lo, hi)?;
        let mut extra_acc: BTreeMap<(i64, &str), ExtraFold> = BTreeMap::new();
        for (start, quantity, stat) in &extras {
            let hour = start.div_euclid(3600) * 3600;
            extra_acc
                .entry((hour, quantity.as_str()))
                .or_default()
                .add(stat, *start);
        }
        let names: BTreeSet<&str> = extras.iter().map(|e| e.1.as_str()).collect();
        let names: Vec<&str> = names.into_iter().collect();

        let mut table = Table {
            columns: HourAcc::columns(),
            rows: Vec::with_capacity(hours.len()),
        };
        let width = table.columns.len();
        for (hour, acc) in &hours {
            table.rows.push(acc.row(*hour));
        }
        add_extra_columns(&mut table, &names);
        let hour_keys: Vec<i64> = hours.keys().copied().collect();
        for ((hour, quantity), acc) in &extra_acc {
            let (Ok(r), Ok(q)) = (hour_keys.binary_search(hour), names.binary_search(quantity))
            else {
                continue;
            };
            let at = width + 4 * q;
            table.rows[r].splice(at..at + 4, extra_cells(&acc.stat()));
        }
        Ok(table)
    }

    fn query_day(
        &self,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Result<Table, StoreError> {
        let first = from.map_or_else(|| "0000-00-00".to_string(), |t| local_date(t, self.db.tz));
        let last = to.map_or_else(
            || "9999-99-99".to_string(),
            |t| local_date(t.add_nanos(-1), self.db.tz),
        );
        let sql = format!(
            "SELECT * FROM ({}) WHERE date >= ?1 AND date <= ?2 ORDER BY date",
            self.daily_summary_select()?
        );
        let mut stmt = self.db.conn.prepare_cached(&sql)?;
        let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
        let width = columns.len();
        // The view's times, selected as Unix seconds: formatted here as the view
        // formats them (SQLite's strftime, ten a day, was most of a ten-year query).
        let times: Vec<bool> = columns.iter().map(|c| c.ends_with("_time_utc")).collect();
        let mut table = Table {
            columns,
            rows: vec![],
        };
        let mut rows = stmt.query(params![first, last])?;
        while let Some(row) = rows.next()? {
            table.rows.push(
                (0..width)
                    .map(|i| {
                        row.get_ref(i).map(|v| match (times[i], v) {
                            (true, ValueRef::Integer(secs)) => Value::Text(utc_text(secs)),
                            (_, v) => cell(v),
                        })
                    })
                    .collect::<Result<_, _>>()?,
            );
        }
        drop(rows);
        drop(stmt);

        // The daily table sums whole days. A bound inside a day (09:00 rather than
        // midnight) makes that day partial: its row is computed from the records in
        // the range instead, with the same columns and the same arithmetic.
        let (from_s, to_s) = bounds(from, to);
        let date_of = |secs: i64| local_date(Timestamp::from_secs(secs), self.db.tz);
        let mut partial: Vec<(String, i64, i64)> = Vec::new();
        if from.is_some() && date_of(from_s - 1) == date_of(from_s) {
            partial.push((
                date_of(from_s),
                from_s,
                to_s.min(from_s.saturating_add(2 * 86_400)),
            ));
        }
        if to.is_some() && date_of(to_s - 1) == date_of(to_s) {
            let date = date_of(to_s - 1);
            if partial.first().is_none_or(|p| p.0 != date) {
                partial.push((date, from_s.max(to_s.saturating_sub(2 * 86_400)), to_s));
            }
        }
        for (date, lo, hi) in partial.clone() {
            let row = self.partial_day(&table.columns, &date, lo, hi)?;
            let at = table
                .rows
                .iter()
                .position(|r| r[0] == Value::Text(date.clone()));
            match (at, row) {
                (Some(i), Some(row)) => table.rows[i] = row,
                (Some(i), None) => {
                    table.rows.remove(i);
                }
                (None, Some(row)) => {
                    let i = table
                        .rows
                        .iter()
                        .position(|r| matches!(&r[0], Value::Text(d) if *d > date))
                        .unwrap_or(table.rows.len());
                    table.rows.insert(i, row);
                }
                (None, None) => {}
            }
        }
        self.add_day_extras(&mut table, &partial)?;
        Ok(table)
    }

    /// The `daily_summary` view's SELECT as this database defines it, with each time
    /// of an extreme left as Unix seconds (`strftime('%Y-%m-%dT%H:%M:%SZ', x,
    /// 'unixepoch')` → `x`) for [`utc_text`] to format.
    fn daily_summary_select(&self) -> Result<String, StoreError> {
        const STRFTIME: &str = "strftime('%Y-%m-%dT%H:%M:%SZ', ";
        const UNIXEPOCH: &str = ", 'unixepoch')";
        let view: String = self.db.conn.query_row(
            "SELECT sql FROM sqlite_schema WHERE type = 'view' AND name = 'daily_summary'",
            [],
            |row| row.get(0),
        )?;
        let select = view
            .split_once(" AS")
            .map(|(_, s)| s.trim())
            .filter(|s| s.get(..6).is_some_and(|w| w.eq_ignore_ascii_case("select")))
            .ok_or_else(|| {
                self.db
                    .corrupt(format!("the daily_summary view is not a SELECT: {view}"))
            })?;
        let mut out = String::with_capacity(select.len());
        let mut rest = select;
        while let Some(at) = rest.find(STRFTIME) {
            out.push_str(&rest[..at]);
            let arg = &rest[at + STRFTIME.len()..];
            match arg.find(UNIXEPOCH) {
                Some(end) => {
                    out.push_str(&arg[..end]);
                    rest = &arg[end + UNIXEPOCH.len()..];
                }
                None => {
                    out.push_str(&rest[at..at + STRFTIME.len()]);
                    rest = arg;
                }
            }
        }
        out.push_str(rest);
        // The view reads the stored `daily` table; a query also sees the records not
        // folded into it yet (see `fold`).
        let daily = self.db.daily_sources()?.daily;
        match out.trim_end().rsplit_once("FROM daily") {
            Some((select, "")) => Ok(format!("{select}FROM {daily}")),
            _ => Err(self.db.corrupt(format!(
                "the daily_summary view does not end `FROM daily`: {view}"
            ))),
        }
    }

    /// The quantities of `daily_extra` (extra drivers' and computed ones such as the
    /// dew point) as columns of a daily table: mean, min, max and n, named as
    /// `--every hour` names extras. Whole days come from `daily_extra`, kept up to date
    /// as records are written; a day cut by the bounds (`partial`: date and its
    /// `[lo, hi)`) is folded from its records in the range, with the same arithmetic.
    fn add_day_extras(
        &self,
        table: &mut Table,
        partial: &[(String, i64, i64)],
    ) -> Result<(), StoreError> {
        let dates: Vec<String> = table
            .rows
            .iter()
            .filter_map(|r| match &r[0] {
                Value::Text(d) => Some(d.clone()),
                _ => None,
            })
            .collect();
        let (Some(first), Some(last)) = (dates.first(), dates.last()) else {
            return Ok(());
        };
        let mut stats: Vec<(String, String, DayStat)> = self
            .daily_extra_rows(first, last)?
            .into_iter()
            .filter(|(d, _, _)| !partial.iter().any(|p| &p.0 == d))
            .collect();
        for (date, lo, hi) in partial {
            for (quantity, stat) in self.partial_day_extras(date, *lo, *hi)? {
                stats.push((date.clone(), quantity, stat));
            }
        }
        let names: BTreeSet<&str> = stats.iter().map(|e| e.1.as_str()).collect();
        let names: Vec<&str> = names.into_iter().collect();
        let width = table.columns.len();
        add_extra_columns(table, &names);
        let rows: BTreeMap<&str, usize> = dates
            .iter()
            .enumerate()
            .map(|(i, d)| (d.as_str(), i))
            .collect();
        for (date, quantity, st) in &stats {
            let (Some(&r), Ok(q)) = (
                rows.get(date.as_str()),
                names.binary_search(&quantity.as_str()),
            ) else {
                continue;
            };
            let at = width + 4 * q;
            table.rows[r].splice(at..at + 4, extra_cells(st));
        }
        Ok(())
    }
}

/// An extra quantity's four cells in an hourly or daily table: its value (mean,
/// total, direction or newest, by its kind), lowest, highest and samples.
fn extra_cells(st: &DayStat) -> [Value; 4] {
    [
        st.value.into(),
        st.min.into(),
        st.max.into(),
        Value::Int(st.n),
    ]
}

fn bounds(from: Option<Timestamp>, to: Option<Timestamp>) -> (i64, i64) {
    (
        from.map_or(i64::MIN, ceil_secs),
        to.map_or(i64::MAX, ceil_secs),
    )
}

fn add_extra_columns(table: &mut Table, names: &[&str]) {
    for q in names {
        table.columns.extend([
            q.to_string(),
            derived_name(q, "min"),
            derived_name(q, "max"),
            n_name(q),
        ]);
    }
    let width = table.columns.len();
    for row in &mut table.rows {
        row.resize(width, Value::Null);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names_put_the_word_before_the_unit() {
        assert_eq!(
            derived_name("illuminance_lux", "min"),
            "illuminance_min_lux"
        );
        assert_eq!(
            derived_name("soil_temperature_c", "max"),
            "soil_temperature_max_c"
        );
        assert_eq!(n_name("soil_temperature_c"), "soil_temperature_n");
    }
}
