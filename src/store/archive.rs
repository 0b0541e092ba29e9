//! Writing records: one transaction per record (or per imported batch) with its row,
//! extras, faults and the rain gauge's last tip (and hourly the daily summaries).

use super::fold::closes_a_fold;
use super::row::{record_values, VALUE_COLUMNS};
use super::{finite, Db, Reader, Store, StoreError};
use crate::record::{ArchiveRecord, Resume};
use crate::time::{Timestamp, NANOS_PER_SEC};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::sync::OnceLock;

const STATE_LAST_RAIN_TIP: &str = "last_rain_tip_ns";

pub(super) fn insert_archive_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let params: Vec<String> = (3..VALUE_COLUMNS.len() + 3)
            .map(|i| format!("?{i}"))
            .collect();
        format!(
            "INSERT INTO archive (start_ts, end_ts, {}) VALUES (?1, ?2, {})",
            VALUE_COLUMNS.join(", "),
            params.join(", ")
        )
    })
}

impl Store {
    /// Writes one record (row, extras, faults, rain state; the daily summaries when it
    /// ends an hour, see `fold`) in one transaction and returns its id.
    pub fn insert(&mut self, rec: &ArchiveRecord) -> Result<i64, StoreError> {
        Ok(self
            .insert_batch(std::slice::from_ref(rec))?
            .pop()
            .unwrap_or_default())
    }

    /// Writes many records in one transaction (bulk import): all or none. Returns their
    /// ids in order.
    pub fn insert_batch(&mut self, recs: &[ArchiveRecord]) -> Result<Vec<i64>, StoreError> {
        let tx = self
            .reader
            .db
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut last_end: Option<Timestamp> = tx
            .prepare_cached("SELECT end_ts FROM archive ORDER BY id DESC LIMIT 1")?
            .query_row([], |row| row.get(0))
            .optional()?;
        let mut rain_tip = self.last_rain_tip;
        let mut ids = Vec::with_capacity(recs.len());
        for rec in recs {
            check_record(rec, last_end)?;
            let id = insert_one(&tx, rec)?;
            if rec.last_rain_tip != rain_tip {
                rain_tip = rec.last_rain_tip;
                write_rain_tip(&tx, rain_tip)?;
            }
            last_end = Some(rec.end);
            ids.push(id);
        }
        // A batch (an import) is folded at once; a single record when it ends an hour
        // or a day (see `fold`).
        let tz = self.reader.db.tz;
        let through = match recs {
            [] => self.daily_through,
            [one] if !closes_a_fold(one, tz) => self.daily_through,
            _ => Store::fold_into_daily(&tx, tz, self.daily_through)?,
        };
        tx.commit()?;
        self.last_rain_tip = rain_tip;
        self.daily_through = through;
        Ok(ids)
    }
}

impl Reader {
    /// Where the stored history ends.
    pub fn resume(&self) -> Result<Resume, StoreError> {
        let last_end: Option<Timestamp> = self
            .db
            .conn
            .prepare_cached("SELECT end_ts FROM archive ORDER BY id DESC LIMIT 1")?
            .query_row([], |row| row.get(0))
            .optional()?;
        Ok(Resume {
            last_end,
            last_rain_tip: self.db.stored_rain_tip()?,
        })
    }
}

impl Db {
    /// The rain gauge's last tip, kept in nanoseconds (unlike every other stored time)
    /// so a restarted station computes the same rain rate as one that ran on.
    pub(super) fn stored_rain_tip(&self) -> Result<Option<Timestamp>, StoreError> {
        let v: Option<i64> = self
            .conn
            .prepare_cached("SELECT value FROM state WHERE key = ?1")?
            .query_row([STATE_LAST_RAIN_TIP], |row| row.get(0))
            .optional()?;
        Ok(v.map(Timestamp))
    }
}

fn check_record(rec: &ArchiveRecord, last_end: Option<Timestamp>) -> Result<(), StoreError> {
    let invalid = |reason: &str| StoreError::Invalid {
        start: rec.start,
        reason: reason.to_string(),
    };
    if rec.start.nanos() % NANOS_PER_SEC != 0 || rec.end.nanos() % NANOS_PER_SEC != 0 {
        return Err(invalid("archive boundaries must be whole seconds"));
    }
    if rec.end <= rec.start {
        return Err(invalid(&format!("it ends ({}) before it starts", rec.end)));
    }
    if let Some(last_end) = last_end {
        if rec.start < last_end {
            return Err(StoreError::Overlap {
                start: rec.start,
                last_end,
            });
        }
    }
    Ok(())
}

fn insert_one(conn: &Connection, rec: &ArchiveRecord) -> Result<i64, StoreError> {
    let mut values = record_values(rec);
    values.insert(0, SqlValue::Integer(rec.end.secs()));
    values.insert(0, SqlValue::Integer(rec.start.secs()));
    conn.prepare_cached(insert_archive_sql())?
        .execute(rusqlite::params_from_iter(values))?;
    let id = conn.last_insert_rowid();
    if !rec.extras.is_empty() {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO archive_extra (archive_id, quantity, kind, value, mean, min, max, n) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for (quantity, s) in &rec.extras {
            stmt.execute(params![
                id,
                &**quantity,
                s.kind,
                finite(s.value),
                finite(s.mean()),
                finite(s.min),
                finite(s.max),
                s.n
            ])?;
        }
    }
    if !rec.faults.is_empty() {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO fault (archive_id, sensor, quantity, kind, count, first_ts, message) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for f in &rec.faults {
            stmt.execute(params![
                id,
                &*f.sensor,
                f.quantity.as_ref().map(|q| q.name()),
                f.kind.name(),
                f.count,
                f.first_at,
                f.message
            ])?;
        }
    }
    Ok(id)
}

fn write_rain_tip(conn: &Connection, tip: Option<Timestamp>) -> rusqlite::Result<()> {
    match tip {
        Some(t) => conn
            .prepare_cached("INSERT OR REPLACE INTO state (key, value) VALUES (?1, ?2)")?
            .execute(params![STATE_LAST_RAIN_TIP, t.nanos()])?,
        None => conn
            .prepare_cached("DELETE FROM state WHERE key = ?1")?
            .execute([STATE_LAST_RAIN_TIP])?,
    };
    Ok(())
}

impl Drop for Store {
    /// A station that stops leaves every record folded into the daily tables, so
    /// `sqlite3` users see complete days. Best effort: what is left (a full disk, a
    /// lock) is folded when the station starts again, and readers fold it meanwhile.
    fn drop(&mut self) {
        if let Err(e) = self.catch_up_daily() {
            tracing::warn!(path = %self.reader.db.path.display(), error = %e, "daily summaries not folded at close; they will be at the next start");
        }
    }
}
