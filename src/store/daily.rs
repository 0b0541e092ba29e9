//! The daily summaries: one row per station-local date, folded in as each record is
//! written, recomputed when the station's time zone changes, and computed from the
//! records for a day a query's bounds cut.

use super::hourly::HourAcc;
use super::query::Value;
use super::row::{read_record, real, weighted, STATS, VALUE_COLUMNS};
use super::{Db, Reader, Store, StoreError};
use crate::record::ArchiveRecord;
use crate::time::Timestamp;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::collections::BTreeMap;
use std::sync::OnceLock;

const STATE_TIME_ZONE: &str = "time_zone";

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
        for (q, unit) in STATS {
            let (sum, n) = (format!("{q}_sum_{unit}"), format!("{q}_n"));
            let (min, max) = (format!("{q}_min_{unit}"), format!("{q}_max_{unit}"));
            sets.push(keep("# + excluded.#", &sum));
            sets.push(format!("{n} = {n} + excluded.{n}"));
            sets.push(keep("min(#, excluded.#)", &min));
            sets.push(keep("max(#, excluded.#)", &max));
            cols.extend([sum, n, min, max]);
        }
        sets.push(keep("# + excluded.#", "wind_speed_sum_kmh"));
        sets.push("wind_n = wind_n + excluded.wind_n".to_string());
        sets.push(keep("max(#, excluded.#)", "wind_gust_kmh"));
        sets.push(keep("# + excluded.#", "rain_mm"));
        sets.push("rain_n = rain_n + excluded.rain_n".to_string());
        for c in [
            "wind_speed_sum_kmh",
            "wind_n",
            "wind_gust_kmh",
            "rain_mm",
            "rain_n",
        ] {
            cols.push(c.to_string());
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
    for s in [
        &r.temperature_c,
        &r.humidity_pct,
        &r.pressure_hpa,
        &r.ground_temperature_c,
    ] {
        let (sum, n) = weighted(s.mean, s.n);
        v.extend([real(sum), SqlValue::Integer(n), real(s.min), real(s.max)]);
    }
    let (wind_sum, wind_n) = weighted(r.wind_speed_kmh, r.wind_n);
    v.extend([
        real(wind_sum),
        SqlValue::Integer(wind_n),
        real(r.wind_gust_kmh),
        real(r.rain_mm),
        SqlValue::Integer(i64::from(r.rain_n)),
    ]);
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
        while let Some(row) = rows.next()? {
            let r = read_record(row)?;
            if local_date(r.start, self.db.tz) != date {
                continue;
            }
            acc.add(&r);
        }
        if acc.records() == 0 {
            return Ok(None);
        }
        let mut cells: BTreeMap<String, Value> = BTreeMap::new();
        cells.insert("date".into(), Value::Text(date.to_string()));
        cells.insert("records".into(), Value::Int(acc.records()));
        cells.extend(acc.cells().map(|(name, v)| (name.to_string(), v)));
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
        assert_eq!(cols.len(), 23);
        // Every column is really in the schema.
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA_SQL).unwrap();
        conn.prepare(sql).unwrap();
        conn.prepare(insert_archive_sql()).unwrap();
    }
}
