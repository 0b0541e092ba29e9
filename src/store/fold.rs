//! When records reach the daily summaries (`daily`, `daily_extra`): not in every
//! record's commit, but hourly, at local midnight and when the station stops or starts.
//!
//! Why: with `synchronous=FULL` each commit writes every page it changed to the log.
//! Folding each record into its day's rows as it was written cost two of the four
//! pages a record dirtied (today's `daily` and `daily_extra` leaves), rewritten once a
//! minute. Folded hourly, a record costs its archive page, and the day's rows are
//! written 24 times a day instead of 1440.
//!
//! What every reader sees is unchanged: `state.daily_through_id` names the newest
//! record folded, and a reader folds the records after it (at most an hour's, unless
//! the station was killed) into temporary copies of their days' rows, with the same
//! upserts, in its own connection's memory. Reads of the daily tables take their
//! sources from [`Db::daily_sources`]: the stored rows before the first open day, the
//! reader's copies from it on. `sqlite3` users reading `daily` directly see it up to an
//! hour behind while the station runs (schema.sql says so), complete after it stops.

use super::daily::{local_date, upsert_daily};
use super::daily_extra::fold_extras;
use super::row::{read_record, VALUE_COLUMNS};
use super::{Db, Store, StoreError};
use crate::record::ArchiveRecord;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::sync::OnceLock;

/// `state` key: the id of the newest record folded into `daily` and `daily_extra`.
pub(super) const STATE_DAILY_THROUGH: &str = "daily_through_id";

/// Where a fold writes: the database's daily tables, or a reader's temporary copies
/// of the days not yet folded there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Target {
    Stored,
    Tail,
}

impl Target {
    pub(super) const ALL: [Target; 2] = [Target::Stored, Target::Tail];

    pub(super) fn daily(self) -> &'static str {
        match self {
            Target::Stored => "main.daily",
            Target::Tail => "temp.daily_tail",
        }
    }

    pub(super) fn daily_extra(self) -> &'static str {
        match self {
            Target::Stored => "main.daily_extra",
            Target::Tail => "temp.daily_extra_tail",
        }
    }

    /// This target's copy of a statement built once per target.
    pub(super) fn cached(
        self,
        cell: &'static [OnceLock<String>; 2],
        build: fn(Target) -> String,
    ) -> &'static str {
        let i = Target::ALL.iter().position(|t| *t == self).unwrap_or(0);
        cell[i].get_or_init(|| build(self))
    }
}

/// Whether a fold follows this record in its transaction: it ends an hour (UTC; every
/// whole-hour zone's hours too) or a station-local day (zones at :30 and :45).
pub(super) fn closes_a_fold(r: &ArchiveRecord, tz: chrono_tz::Tz) -> bool {
    use crate::time::local_day_number;
    r.end.secs().rem_euclid(3600) == 0
        || local_day_number(r.start, tz) != local_day_number(r.end, tz)
}

/// Folds the records after id `after` into `target`'s daily tables, in record order
/// (sums, and the first record to reach an extreme, depend on it). Returns the newest
/// id folded (`after` when there was none).
pub(super) fn fold(
    conn: &Connection,
    target: Target,
    tz: chrono_tz::Tz,
    after: i64,
) -> Result<i64, StoreError> {
    static SQL: OnceLock<String> = OnceLock::new();
    let sql = SQL.get_or_init(|| {
        format!(
            "SELECT start_ts, end_ts, {}, id FROM archive WHERE id > ?1 ORDER BY id",
            VALUE_COLUMNS.join(", ")
        )
    });
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query([after])?;
    let mut last = after;
    while let Some(row) = rows.next()? {
        upsert_daily(conn, target, tz, &read_record(row)?)?;
        last = row.get(VALUE_COLUMNS.len() + 2)?;
    }
    drop(rows);
    fold_extras(conn, target, tz, after)?;
    Ok(last)
}

impl Db {
    /// The id of the newest record in the daily tables.
    pub(super) fn daily_through(&self) -> Result<i64, StoreError> {
        let v: Option<i64> = self
            .conn
            .prepare_cached("SELECT value FROM main.state WHERE key = ?1")?
            .query_row([STATE_DAILY_THROUGH], |row| row.get(0))
            .optional()?;
        v.ok_or_else(|| self.corrupt(format!("state `{STATE_DAILY_THROUGH}` is missing")))
    }

    /// The daily tables as a reader must see them, as SQL to put after `FROM`: the
    /// stored tables when every record is folded in; otherwise the stored rows before
    /// the first open day, and from it on this connection's temporary copies with the
    /// unfolded records folded in. All of it is read in one snapshot, so a fold by
    /// the station in between cannot count a record twice or not at all.
    pub(super) fn daily_sources(&self) -> Result<DailySources, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let through = self.daily_through()?;
        let first: Option<i64> = self
            .conn
            .prepare_cached("SELECT start_ts FROM archive WHERE id > ?1 ORDER BY id LIMIT 1")?
            .query_row([through], |row| row.get(0))
            .optional()?;
        let Some(first) = first else {
            tx.commit()?;
            return Ok(DailySources::stored());
        };
        let key = (through, self.last_id()?);
        let date = local_date(crate::time::Timestamp::from_secs(first), self.tz);
        let fresh = matches!(&*self.tail.borrow(), Some((k, d)) if *k == key && *d == date);
        if !fresh {
            *self.tail.borrow_mut() = None;
            for (stored, tail) in [
                ("daily", Target::Tail.daily()),
                ("daily_extra", Target::Tail.daily_extra()),
            ] {
                self.create_tail_table(stored, tail)?;
                self.conn.execute(&format!("DELETE FROM {tail}"), [])?;
                self.conn.execute(
                    &format!("INSERT INTO {tail} SELECT * FROM main.{stored} WHERE date >= ?1"),
                    [&date],
                )?;
            }
            fold(&self.conn, Target::Tail, self.tz, through)?;
            *self.tail.borrow_mut() = Some((key, date.clone()));
        }
        tx.commit()?;
        // `date` is this program's YYYY-MM-DD text: safe inside the SQL.
        let union = |stored: &str, tail: &str| {
            format!(
                "(SELECT * FROM main.{stored} WHERE date < '{date}' UNION ALL SELECT * FROM {tail})"
            )
        };
        Ok(DailySources {
            daily: union("daily", Target::Tail.daily()),
            daily_extra: union("daily_extra", Target::Tail.daily_extra()),
        })
    }

    /// A temporary table shaped as the stored one (same columns, same key, so the
    /// same upserts work on it), in this connection's memory only.
    fn create_tail_table(&self, stored: &str, tail: &str) -> Result<(), StoreError> {
        let ddl: String = self.conn.query_row(
            "SELECT sql FROM main.sqlite_schema WHERE type = 'table' AND name = ?1",
            [stored],
            |row| row.get(0),
        )?;
        let body = ddl
            .strip_prefix("CREATE TABLE ")
            .and_then(|rest| rest.trim_start().strip_prefix(stored))
            .filter(|rest| rest.trim_start().starts_with('('))
            .ok_or_else(|| self.corrupt(format!("table `{stored}` is defined as: {ddl}")))?;
        let name = tail.trim_start_matches("temp.");
        self.conn
            .execute_batch(&format!("CREATE TEMP TABLE IF NOT EXISTS {name} {body}"))?;
        Ok(())
    }
}

/// The daily tables' sources for one read (see [`Db::daily_sources`]).
pub(super) struct DailySources {
    pub(super) daily: String,
    pub(super) daily_extra: String,
}

impl DailySources {
    fn stored() -> DailySources {
        DailySources {
            daily: Target::Stored.daily().to_string(),
            daily_extra: Target::Stored.daily_extra().to_string(),
        }
    }
}

impl Store {
    /// Folds every record not yet in the daily tables, in the caller's transaction;
    /// returns the newest id folded, for [`Store::daily_through`] once it commits.
    pub(super) fn fold_into_daily(
        conn: &Connection,
        tz: chrono_tz::Tz,
        through: i64,
    ) -> Result<i64, StoreError> {
        let last = fold(conn, Target::Stored, tz, through)?;
        if last != through {
            conn.prepare_cached("INSERT OR REPLACE INTO state (key, value) VALUES (?1, ?2)")?
                .execute(params![STATE_DAILY_THROUGH, last])?;
        }
        Ok(last)
    }

    /// Folds what a stopped station left unfolded (it was killed, or lost power,
    /// between two folds), so readers start with short tails.
    pub(super) fn catch_up_daily(&mut self) -> Result<(), StoreError> {
        let through = self.reader.db.daily_through()?;
        self.daily_through = through;
        if self.reader.db.last_id()? > through {
            let tz = self.reader.db.tz;
            let tx = self
                .reader
                .db
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let last = Store::fold_into_daily(&tx, tz, through)?;
            tx.commit()?;
            self.daily_through = last;
        }
        Ok(())
    }
}
