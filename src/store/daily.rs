//! The daily summaries: one row per station-local date, folded in as each record is
//! written, recomputed when the station's time zone changes, and computed from the
//! records for a day a query's bounds cut.

use super::hourly::{opt_max, opt_min, HourAcc};
use super::query::Value;
use super::row::{read_record, real, weighted, VALUE_COLUMNS};
use super::{Db, Reader, Store, StoreError};
use crate::record::{count_of, ArchiveRecord, Column, Extreme, Statistic, COLUMNS};
use crate::time::Timestamp;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const STATE_TIME_ZONE: &str = "time_zone";

/// How a record column is kept in the `daily` table.
#[derive(Clone, Copy)]
enum Merge {
    /// A mean, kept as its sample-weighted sum (`temperature_sum_c`).
    WeightedSum,
    /// The samples behind a kept mean (its weight), or a plain count.
    Count,
    Min,
    Max,
    Sum,
}

/// The `daily` table's value columns, in record order: every column of
/// `record::COLUMNS` marked `daily`, with its name there and how it is folded in, then
/// the extremes kept of derived columns (`heat_index_max_c`).
fn daily_columns() -> impl Iterator<Item = (&'static Column, Cow<'static, str>, Merge)> {
    let extremes = COLUMNS.iter().flat_map(|c| {
        c.daily_extremes.iter().map(move |&e| {
            let merge = match e {
                Extreme::Min => Merge::Min,
                Extreme::Max => Merge::Max,
            };
            (c, Cow::Owned(c.daily_extreme_name(e)), merge)
        })
    });
    COLUMNS
        .iter()
        .filter(|c| c.daily)
        .map(|c| match c.statistic {
            Statistic::Mean => {
                let suffix = c.unit.map_or("", |u| u.suffix);
                let stem = c.name.strip_suffix(suffix).unwrap_or(c.name);
                (
                    c,
                    Cow::Owned(format!("{stem}_sum{suffix}")),
                    Merge::WeightedSum,
                )
            }
            Statistic::Min => (c, Cow::Borrowed(c.name), Merge::Min),
            Statistic::Max => (c, Cow::Borrowed(c.name), Merge::Max),
            Statistic::Sum => (c, Cow::Borrowed(c.name), Merge::Sum),
            _ => (c, Cow::Borrowed(c.name), Merge::Count),
        })
        .chain(extremes)
}

/// The mean a count is the weight of, when the day keeps it.
fn kept_mean_of(count: &Column) -> Option<&'static Column> {
    COLUMNS
        .iter()
        .find(|c| c.daily && c.quantity == count.quantity && c.statistic == Statistic::Mean)
}

/// The daily upsert. SQLite's scalar `min(NULL, x)` is NULL, so every extreme and sum
/// falls back with `coalesce` to whichever side is not NULL.
pub(super) fn upsert_daily_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let mut cols = vec!["date".to_string(), "records".to_string()];
        let mut sets = vec!["records = records + 1".to_string()];
        let keep = |op: &str, c: &str| {
            format!(
                "{c} = coalesce({op}, {c}, excluded.{c})",
                op = op.replace('#', c)
            )
        };
        for (_, name, merge) in daily_columns() {
            sets.push(match merge {
                Merge::WeightedSum | Merge::Sum => keep("# + excluded.#", &name),
                Merge::Min => keep("min(#, excluded.#)", &name),
                Merge::Max => keep("max(#, excluded.#)", &name),
                // Counts are NOT NULL.
                Merge::Count => format!("{name} = {name} + excluded.{name}"),
            });
            cols.push(name.into_owned());
        }
        // `records` starts at 1; every other column is a parameter.
        let mut params = vec!["?1".to_string(), "1".to_string()];
        params.extend((2..cols.len()).map(|i| format!("?{i}")));
        format!(
            "INSERT INTO daily ({}) VALUES ({}) ON CONFLICT (date) DO UPDATE SET {}",
            cols.join(", "),
            params.join(", "),
            sets.join(", ")
        )
    })
}

/// The station-local calendar date (`YYYY-MM-DD`) of an instant.
pub fn local_date(t: Timestamp, tz: chrono_tz::Tz) -> String {
    t.to_chrono()
        .with_timezone(&tz)
        .format("%Y-%m-%d")
        .to_string()
}

pub(super) fn upsert_daily(
    conn: &Connection,
    tz: chrono_tz::Tz,
    r: &ArchiveRecord,
) -> rusqlite::Result<()> {
    let mut v: Vec<SqlValue> = Vec::with_capacity(22);
    v.push(SqlValue::Text(local_date(r.start, tz)));
    for (c, _, merge) in daily_columns() {
        v.push(match merge {
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
        });
    }
    conn.prepare_cached(upsert_daily_sql())?
        .execute(rusqlite::params_from_iter(v))?;
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
        Ok(self
            .db
            .conn
            .prepare_cached("SELECT rain_mm FROM daily WHERE date = ?1")?
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
            "SELECT start_ts, end_ts, {} FROM archive WHERE start_ts >= ?1 AND start_ts < ?2 ORDER BY start_ts",
            VALUE_COLUMNS.join(", ")
        );
        let mut stmt = self.db.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params![lo, hi])?;
        // A cut day folds its records as an hour does; the daily summary's columns are
        // a subset of an hour's (means, extremes, gust, rain).
        let mut acc = HourAcc::default();
        // The derived extremes a day keeps, which an hour does not list.
        let mut extremes: Vec<(&Column, String, Merge, Option<f64>)> = daily_columns()
            .filter(|(c, _, _)| !c.daily_extremes.is_empty())
            .map(|(c, name, merge)| (c, name.into_owned(), merge, None))
            .collect();
        while let Some(row) = rows.next()? {
            let r = read_record(row)?;
            if local_date(r.start, self.db.tz) != date {
                continue;
            }
            acc.add(&r);
            for (c, _, merge, kept) in &mut extremes {
                *kept = match merge {
                    Merge::Min => opt_min(*kept, c.real(&r)),
                    _ => opt_max(*kept, c.real(&r)),
                };
            }
        }
        if acc.records() == 0 {
            return Ok(None);
        }
        let mut cells: BTreeMap<String, Value> = BTreeMap::new();
        cells.insert("date".into(), Value::Text(date.to_string()));
        cells.insert("records".into(), Value::Int(acc.records()));
        cells.extend(acc.cells().map(|(name, v)| (name.to_string(), v)));
        cells.extend(extremes.into_iter().map(|(_, name, _, v)| (name, v.into())));
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
        {
            let sql = format!(
                "SELECT start_ts, end_ts, {} FROM archive ORDER BY start_ts",
                VALUE_COLUMNS.join(", ")
            );
            let mut stmt = tx.prepare(&sql)?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                upsert_daily(&tx, self.reader.db.tz, &read_record(row)?)?;
            }
        }
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
        let sql = upsert_daily_sql();
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
        assert_eq!(cols.len(), 27);
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
            .chain(daily_columns().map(|(_, name, _)| name.into_owned()))
            .collect();
        in_schema.sort_unstable();
        from_table.sort_unstable();
        assert_eq!(in_schema, from_table);
    }
}
