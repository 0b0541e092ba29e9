//! The daily summaries: one row per station-local date, folded in as each record is
//! written, recomputed when the station's time zone changes, and computed from the
//! records for a day a query's bounds cut.

use super::fold::{Target, STATE_DAILY_THROUGH};
use super::hourly::HourAcc;
use super::query::Value;
use super::row::{read_record, real, weighted, VALUE_COLUMNS};
use super::{finite, Db, Reader, Store, StoreError};
use crate::record::{count_of, ArchiveRecord, Column, Statistic, COLUMNS};
use crate::time::Timestamp;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::collections::BTreeMap;
use std::sync::OnceLock;

const STATE_TIME_ZONE: &str = "time_zone";

/// How a record column is kept in the `daily` table.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Merge {
    /// A mean, kept as its sample-weighted sum (`temperature_sum_c`).
    WeightedSum,
    /// The samples behind a kept mean (its weight), or a plain count.
    Count,
    Min,
    Max,
    /// When the day's minimum (maximum) of the column at this index of
    /// [`daily_columns`] happened: the start of the first record that reached it.
    MinAt(usize),
    MaxAt(usize),
    Sum,
    /// A direction's speed-weighted vector sum: east and north components and weight.
    East,
    North,
    Weight,
}

/// One value column of the `daily` table.
pub(super) struct DailyColumn {
    pub(super) column: &'static Column,
    pub(super) name: String,
    pub(super) merge: Merge,
}

/// A column name without its unit suffix (`temperature_max_c` → `temperature_max`).
pub(super) fn stem(c: &Column) -> &'static str {
    let suffix = c.unit.map_or("", |u| u.suffix);
    c.name.strip_suffix(suffix).unwrap_or(c.name)
}

/// The `daily` table's value columns: every column of `record::COLUMNS` marked
/// `daily`, in record order, with its name there and how it is folded in; an extreme
/// is followed by the time it happened (`temperature_max_ts`), a direction by its
/// vector sum (`wind_dir_east_sum`, `wind_dir_north_sum`, `wind_dir_weight`).
pub(super) fn daily_columns() -> &'static [DailyColumn] {
    static COLS: OnceLock<Vec<DailyColumn>> = OnceLock::new();
    COLS.get_or_init(|| {
        let mut out = Vec::new();
        for c in COLUMNS.iter().filter(|c| c.daily) {
            let mut push = |name: String, merge| {
                out.push(DailyColumn {
                    column: c,
                    name,
                    merge,
                });
                out.len() - 1
            };
            match c.statistic {
                Statistic::Mean => {
                    let suffix = c.unit.map_or("", |u| u.suffix);
                    push(format!("{}_sum{suffix}", stem(c)), Merge::WeightedSum);
                }
                Statistic::Min => {
                    let at = push(c.name.to_string(), Merge::Min);
                    push(format!("{}_ts", stem(c)), Merge::MinAt(at));
                }
                Statistic::Max => {
                    let at = push(c.name.to_string(), Merge::Max);
                    push(format!("{}_ts", stem(c)), Merge::MaxAt(at));
                }
                Statistic::Sum => {
                    push(c.name.to_string(), Merge::Sum);
                }
                Statistic::VectorMean { .. } => {
                    // `wind_dir_deg` → wind_dir_east_sum, …
                    let q = c.quantity;
                    push(format!("{q}_east_sum"), Merge::East);
                    push(format!("{q}_north_sum"), Merge::North);
                    push(format!("{q}_weight"), Merge::Weight);
                }
                _ => {
                    push(c.name.to_string(), Merge::Count);
                }
            }
        }
        out
    })
}

/// The mean a count is the weight of, when the day keeps it.
fn kept_mean_of(count: &Column) -> Option<&'static Column> {
    COLUMNS
        .iter()
        .find(|c| c.daily && c.quantity == count.quantity && c.statistic == Statistic::Mean)
}

/// The daily upsert. SQLite's scalar `min(NULL, x)` is NULL, so every extreme and sum
/// falls back with `coalesce` to whichever side is not NULL. An extreme's time moves
/// only when the new record beats the kept extreme strictly (the first record that
/// reached it keeps it); SQLite evaluates every `SET` expression on the old row, so
/// the comparison sees the old extreme.
pub(super) fn upsert_daily_sql(target: Target) -> &'static str {
    static SQL: [OnceLock<String>; 2] = [OnceLock::new(), OnceLock::new()];
    target.cached(&SQL, |target| {
        let mut cols = vec!["date".to_string(), "records".to_string()];
        let mut sets = vec!["records = records + 1".to_string()];
        let keep = |op: &str, c: &str| {
            format!(
                "{c} = coalesce({op}, {c}, excluded.{c})",
                op = op.replace('#', c)
            )
        };
        let all = daily_columns();
        for d in all {
            let name = &d.name;
            sets.push(match d.merge {
                Merge::WeightedSum | Merge::Sum => keep("# + excluded.#", name),
                Merge::Min => keep("min(#, excluded.#)", name),
                Merge::Max => keep("max(#, excluded.#)", name),
                Merge::MinAt(v) | Merge::MaxAt(v) => {
                    let v = &all[v].name;
                    let op = if matches!(d.merge, Merge::MinAt(_)) { "<" } else { ">" };
                    format!(
                        "{name} = CASE WHEN excluded.{v} IS NOT NULL AND ({v} IS NULL OR excluded.{v} {op} {v}) \
                         THEN excluded.{name} ELSE {name} END"
                    )
                }
                // Counts and vector sums are NOT NULL.
                Merge::Count | Merge::East | Merge::North | Merge::Weight => {
                    format!("{name} = {name} + excluded.{name}")
                }
            });
            cols.push(name.clone());
        }
        // `records` starts at 1; every other column is a parameter.
        let mut params = vec!["?1".to_string(), "1".to_string()];
        params.extend((2..cols.len()).map(|i| format!("?{i}")));
        format!(
            "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (date) DO UPDATE SET {}",
            target.daily(),
            cols.join(", "),
            params.join(", "),
            sets.join(", ")
        )
    })
}

/// A record's direction as a speed-weighted vector: (east, north, weight), each
/// sample with a direction weighted by the record's mean speed (as an hour folds it).
pub(super) fn wind_vector(c: &Column, r: &ArchiveRecord) -> (f64, f64, f64) {
    let Statistic::VectorMean { speed } = c.statistic else {
        return (0.0, 0.0, 0.0);
    };
    let n = count_of(c.quantity).map_or(0, |n| n.count(r));
    let speed = crate::record::column(speed).and_then(|s| s.real(r));
    match (c.real(r), speed) {
        (Some(dir), Some(speed)) if dir.is_finite() && speed.is_finite() && speed > 0.0 => {
            let w = speed * f64::from(n);
            let rad = dir.to_radians();
            (w * rad.sin(), w * rad.cos(), w)
        }
        _ => (0.0, 0.0, 0.0),
    }
}

/// The station-local calendar date (`YYYY-MM-DD`) of an instant: the date part of
/// [`crate::time::local_rfc3339`], which is written digit by digit (this runs for every
/// record folded, and chrono's format interpreter was most of its cost).
pub fn local_date(t: Timestamp, tz: chrono_tz::Tz) -> String {
    let mut text = crate::time::local_rfc3339(t, tz);
    if text.as_bytes().get(10) == Some(&b'T') {
        text.truncate(10);
        return text;
    }
    t.to_chrono()
        .with_timezone(&tz)
        .format("%Y-%m-%d")
        .to_string()
}

pub(super) fn upsert_daily(
    conn: &Connection,
    target: Target,
    tz: chrono_tz::Tz,
    r: &ArchiveRecord,
) -> rusqlite::Result<()> {
    let mut v: Vec<SqlValue> = Vec::with_capacity(40);
    let date = local_date(r.start, tz);
    v.push(SqlValue::Text(date.clone()));
    for d in daily_columns() {
        let c = d.column;
        v.push(match d.merge {
            Merge::WeightedSum => {
                let n = count_of(c.quantity).map_or(0, |n| n.count(r));
                real(weighted(c.real(r), n).0)
            }
            // A mean's weight counts only the samples of a mean that was kept, so the
            // sum divided by it is the day's mean.
            Merge::Count => SqlValue::Integer(match kept_mean_of(c) {
                Some(mean) => weighted(mean.real(r), c.count(r)).1,
                None => i64::from(c.count(r)),
            }),
            Merge::Min | Merge::Max | Merge::Sum => real(c.real(r)),
            Merge::MinAt(_) | Merge::MaxAt(_) => match finite(c.real(r)) {
                Some(_) => SqlValue::Integer(r.start.secs()),
                None => SqlValue::Null,
            },
            Merge::East => SqlValue::Real(wind_vector(c, r).0),
            Merge::North => SqlValue::Real(wind_vector(c, r).1),
            Merge::Weight => SqlValue::Real(wind_vector(c, r).2),
        });
    }
    conn.prepare_cached(upsert_daily_sql(target))?
        .execute(rusqlite::params_from_iter(v))?;
    super::daily_extra::upsert(conn, target, &date, r)?;
    Ok(())
}

impl Db {
    /// The zone the daily summaries were computed in, as recorded by the last writer.
    pub(super) fn stored_time_zone(&self) -> Result<Option<chrono_tz::Tz>, StoreError> {
        let v: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM state WHERE key = ?1",
                [STATE_TIME_ZONE],
                |row| row.get(0),
            )
            .optional()?;
        match v {
            None => Ok(None),
            Some(name) => name.parse().map(Some).map_err(|_| {
                self.corrupt(format!(
                    "state `{STATE_TIME_ZONE}` is `{name}`, not a time zone"
                ))
            }),
        }
    }
}

impl Reader {
    /// Rain since local midnight of the station-local day containing `at` (from the
    /// daily summary); `None` when the gauge gave no data that day.
    pub fn daily_rain_mm(&self, at: Timestamp) -> Result<Option<f64>, StoreError> {
        let daily = self.db.daily_sources()?.daily;
        Ok(self
            .db
            .conn
            .prepare_cached(&format!("SELECT rain_mm FROM {daily} WHERE date = ?1"))?
            .query_row([local_date(at, self.db.tz)], |row| row.get(0))
            .optional()?
            .flatten())
    }

    /// A `daily_summary` row for `date` from the records that start in `[lo, hi)` on
    /// that station-local date; `None` when there are none.
    pub(super) fn partial_day(
        &self,
        columns: &[String],
        date: &str,
        lo: i64,
        hi: i64,
    ) -> Result<Option<Vec<Value>>, StoreError> {
        let sql = format!(
            "SELECT start_ts, end_ts, {} FROM archive WHERE id >= ?1 AND id < ?2 ORDER BY id",
            VALUE_COLUMNS.join(", ")
        );
        let mut stmt = self.db.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(self.db.id_range(lo, hi)?)?;
        // A cut day folds its records as an hour does; the daily summary's columns are
        // a subset of an hour's (means, extremes, gust, rain).
        let mut acc = HourAcc::default();
        // The time of each extreme, as the daily upsert keeps it: the start of the
        // first record that reached it.
        let mut times: Vec<(&DailyColumn, Option<(f64, i64)>)> = daily_columns()
            .iter()
            .filter(|d| matches!(d.merge, Merge::Min | Merge::Max))
            .map(|d| (d, None))
            .collect();
        while let Some(row) = rows.next()? {
            let r = read_record(row)?;
            if local_date(r.start, self.db.tz) != date {
                continue;
            }
            acc.add(&r);
            for (d, best) in &mut times {
                let Some(v) = finite(d.column.real(&r)) else {
                    continue;
                };
                let beats = match best {
                    None => true,
                    Some((b, _)) if d.merge == Merge::Min => v < *b,
                    Some((b, _)) => v > *b,
                };
                if beats {
                    *best = Some((v, r.start.secs()));
                }
            }
        }
        if acc.records() == 0 {
            return Ok(None);
        }
        let mut cells: BTreeMap<String, Value> = BTreeMap::new();
        cells.insert("date".into(), Value::Text(date.to_string()));
        cells.insert("records".into(), Value::Int(acc.records()));
        cells.extend(acc.cells().map(|(name, v)| (name.to_string(), v)));
        for (d, best) in times {
            cells.insert(
                format!("{}_time_utc", stem(d.column)),
                best.map_or(Value::Null, |(_, t)| {
                    Value::Text(Timestamp::from_secs(t).rfc3339())
                }),
            );
        }
        columns
            .iter()
            .map(|c| {
                cells.remove(c).ok_or_else(|| {
                    self.db
                        .corrupt(format!("daily_summary column `{c}` unknown"))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

impl Store {
    /// Records the station time zone; if the daily summaries were computed in another
    /// one (the station moved, or the config was fixed), recomputes them so that
    /// "daily" means local days in the zone configured now.
    pub(super) fn adopt_time_zone(&mut self) -> Result<(), StoreError> {
        let stored = self.reader.db.stored_time_zone()?;
        if stored == Some(self.reader.db.tz) {
            return Ok(());
        }
        let tx = self
            .reader
            .db
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if stored.is_some() {
            tracing::warn!(
                path = %self.reader.db.path.display(),
                from = %stored.map(|t| t.name()).unwrap_or_default(),
                to = %self.reader.db.tz.name(),
                "station time zone changed; recomputing the daily summaries"
            );
        }
        tx.execute("DELETE FROM daily", [])?;
        tx.execute("DELETE FROM daily_extra", [])?;
        tx.execute(
            "INSERT OR REPLACE INTO state (key, value) VALUES (?1, 0)",
            [STATE_DAILY_THROUGH],
        )?;
        Store::fold_into_daily(&tx, self.reader.db.tz, 0)?;
        tx.execute(
            "INSERT OR REPLACE INTO state (key, value) VALUES (?1, ?2)",
            params![STATE_TIME_ZONE, self.reader.db.tz.name()],
        )?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::archive::insert_archive_sql;
    use super::super::SCHEMA_SQL;
    use super::*;

    #[test]
    fn daily_upsert_names_every_column_once() {
        let sql = upsert_daily_sql(Target::Stored);
        let cols = sql.split('(').nth(1).unwrap().split(')').next().unwrap();
        let cols: Vec<&str> = cols.split(", ").collect();
        let values = sql
            .split("VALUES (")
            .nth(1)
            .unwrap()
            .split(')')
            .next()
            .unwrap();
        assert_eq!(cols.len(), values.split(", ").count());
        assert_eq!(cols.len(), 2 + daily_columns().len());
        // Every column is really in the schema.
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA_SQL).unwrap();
        conn.prepare(sql).unwrap();
        conn.prepare(insert_archive_sql()).unwrap();
    }

    #[test]
    fn the_daily_table_keeps_exactly_the_record_columns_marked_daily() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA_SQL).unwrap();
        let mut stmt = conn
            .prepare("SELECT name FROM pragma_table_info('daily')")
            .unwrap();
        let mut in_schema = stmt
            .query_map([], |row| row.get::<_, String>(0))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let mut from_table: Vec<String> = ["date".to_string(), "records".to_string()]
            .into_iter()
            .chain(daily_columns().iter().map(|d| d.name.clone()))
            .collect();
        in_schema.sort_unstable();
        from_table.sort_unstable();
        assert_eq!(in_schema, from_table);
    }
}
