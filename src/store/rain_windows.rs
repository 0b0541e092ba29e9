//! Rain in the windows people and the networks ask about — the last hour, the last
//! 24 hours and since local midnight — as running columns of a raw query, so a student
//! answers "how much rain in the last 24 h?" from `query` without SQL.
//!
//! Computed at query time from the stored per-record totals (the same numbers the
//! uploads and the page use through [`Reader::rain_mm_between`]), never stored: they
//! overlap, so storing them would write every tip 3 times on the SD card.

use super::daily::local_date;
use super::query::{Table, Value};
use super::{Reader, StoreError};
use crate::time::Timestamp;
use chrono::TimeZone;
use rusqlite::params;
use std::collections::HashMap;

/// The column names, after the record's own columns (a contract: the page, the docs
/// and scripts use them).
pub const RAIN_WINDOW_COLUMNS: [&str; 3] =
    ["rain_last_hour_mm", "rain_last_24h_mm", "rain_today_mm"];

/// The records whose end lies after `?1` and whose id lies in `[?3, ?2)`.
const WINDOW_ROWS: &str = "SELECT id, start_ts, end_ts, rain_mm FROM archive \
     WHERE id >= ?3 AND id < ?2 AND end_ts > ?1 ORDER BY end_ts, id";

const HOUR_S: i64 = 3600;
const DAY_S: i64 = 86_400;

/// Running sums over records ordered by their end: `prefix[i]` is the rain of the first
/// `i` records in nanometres and `data[i]` how many of them had rain-gauge data (so a
/// window with none is unknown, not 0 mm). Integers, because a difference of two
/// float running sums would print 0.20000000000000284 for 0.2 mm.
struct Running {
    ends: Vec<i64>,
    prefix: Vec<i64>,
    data: Vec<u32>,
}

const NM_PER_MM: f64 = 1e6;

impl Running {
    /// Rain of the records ending in `(after, until]`; `None` without gauge data.
    fn between(&self, after: i64, until: i64) -> Option<f64> {
        let lo = self.ends.partition_point(|&e| e <= after);
        let hi = self.ends.partition_point(|&e| e <= until);
        (hi > lo && self.data[hi] > self.data[lo])
            .then(|| (self.prefix[hi] - self.prefix[lo]) as f64 / NM_PER_MM)
    }
}

impl Reader {
    /// Appends [`RAIN_WINDOW_COLUMNS`] to a raw table of the records starting at
    /// `from_s` or later with ids below `to_id` (column 0 is the record id). Each window ends at the record's
    /// end: the last hour is the records ending in (end − 1 h, end], and so on; "today"
    /// starts at the local midnight of the record's start.
    pub(super) fn add_rain_windows(
        &self,
        table: &mut Table,
        from_s: i64,
        to_id: i64,
    ) -> Result<(), StoreError> {
        // A record is at most a day long (the archive interval divides a day), so the
        // records ending in the day before `from` start at most two days before it:
        // that bound lets SQLite read a range of ids from there, not every record
        // ever stored (`end_ts` has no index).
        let first = self.db.id_at(from_s.saturating_sub(2 * DAY_S))?;
        let mut stmt = self.db.conn.prepare_cached(WINDOW_ROWS)?;
        let mut rows = stmt.query(params![from_s.saturating_sub(DAY_S), to_id, first])?;
        let mut at = HashMap::new();
        let mut starts = Vec::new();
        let mut run = Running {
            ends: Vec::new(),
            prefix: vec![0],
            data: vec![0],
        };
        while let Some(row) = rows.next()? {
            let rain: Option<f64> = row.get(3)?;
            at.insert(row.get::<_, i64>(0)?, run.ends.len());
            starts.push(row.get::<_, i64>(1)?);
            run.ends.push(row.get(2)?);
            let nm = (rain.unwrap_or(0.0) * NM_PER_MM).round() as i64;
            run.prefix
                .push(run.prefix.last().copied().unwrap_or(0) + nm);
            run.data
                .push(run.data.last().copied().unwrap_or(0) + u32::from(rain.is_some()));
        }
        drop(rows);

        let tz = self.db.tz;
        let mut midnights: HashMap<String, i64> = HashMap::new();
        table
            .columns
            .extend(RAIN_WINDOW_COLUMNS.iter().map(|c| c.to_string()));
        for row in &mut table.rows {
            let index = match row.first() {
                Some(Value::Int(id)) => at.get(id).copied(),
                _ => None,
            };
            let Some(i) = index else {
                row.extend([Value::Null, Value::Null, Value::Null]);
                continue;
            };
            let end = run.ends[i];
            let start = Timestamp::from_secs(starts[i]);
            let date = local_date(start, tz);
            let midnight = *midnights
                .entry(date)
                .or_insert_with(|| local_midnight(start, tz));
            row.push(run.between(end - HOUR_S, end).into());
            row.push(run.between(end - DAY_S, end).into());
            row.push(run.between(midnight, end).into());
        }
        Ok(())
    }
}

/// The UTC second of the local midnight that starts the day of `t` (the earlier one if
/// a clock change repeats it, the first existing instant if it skips it).
fn local_midnight(t: Timestamp, tz: chrono_tz::Tz) -> i64 {
    let day = tz
        .timestamp_opt(t.secs(), 0)
        .single()
        .map(|d| d.date_naive())
        .unwrap_or_default();
    let mut local = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    // A zone whose clocks skip midnight (some do at DST): the day starts at the first
    // instant that exists.
    for _ in 0..4 {
        if let Some(d) = tz.from_local_datetime(&local).earliest() {
            return d.timestamp();
        }
        local += chrono::Duration::minutes(30);
    }
    t.secs() - t.secs().rem_euclid(DAY_S)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The windows' rows come from a range of ids, not from a walk
    /// over every record stored before the range (which made a one-day raw query of a
    /// year-old station read the whole year).
    #[test]
    fn the_window_rows_are_a_range_of_ids() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(super::super::SCHEMA_SQL).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {WINDOW_ROWS}"))
            .unwrap()
            .query_map(params![0, 0, 0], |row| row.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join("; ");
        assert!(
            plan.contains("INTEGER PRIMARY KEY (rowid>? AND rowid<?)"),
            "not a range of ids: {plan}"
        );
    }
}
