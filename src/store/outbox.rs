//! The outbox: what uploaders read and record in the database (cursors, batches in
//! flight, each destination's state), and the [`Outbox`] handle that can do only that.

use super::row::{Columns, VALUE_COLUMNS};
use super::{Db, Outbox, Reader, StoreError};
use crate::observation::{FaultKind, Quantity};
use crate::record::{ArchiveRecord, ExtraStat, FaultCount};
use crate::time::Timestamp;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

const STATE_CURSOR_PREFIX: &str = "upload_cursor.";
const STATE_UPLOAD_STATE: &str = "upload_state.";
const STATE_UPLOAD_SUCCESS: &str = "upload_last_success_ts.";
const STATE_UPLOAD_ERROR: &str = "upload_last_error.";
const STATE_UPLOAD_ERROR_TS: &str = "upload_last_error_ts.";
const STATE_UPLOAD_INFLIGHT: &str = "upload_inflight.";
/// Current-conditions networks: the observation time last sent (seconds).
const STATE_UPLOAD_SENT_TS: &str = "upload_last_sent_ts.";
/// ... and what was sent (the fields, never a secret).
const STATE_UPLOAD_SENT: &str = "upload_last_sent.";
/// The state an uploader records after every acknowledged batch.
pub const UPLOAD_STATE_OK: &str = "ok";

/// One upload destination as the database knows it (`weatherd status`).
#[derive(Clone, Debug, PartialEq)]
pub struct UploadStatus {
    pub name: String,
    /// The id of the last acknowledged record (0: none yet).
    pub cursor: i64,
    /// `ok`, `failing`, `stopped: why`; `None` before the first attempt.
    pub state: Option<String>,
    pub last_success: Option<Timestamp>,
    pub last_error: Option<String>,
    pub last_error_at: Option<Timestamp>,
    /// Records after the cursor.
    pub backlog: i64,
    /// Start of the oldest record after the cursor.
    pub oldest_waiting: Option<Timestamp>,
    /// Current-conditions networks only: the time of the last observation sent and
    /// what was sent (fields and values, without credentials).
    pub last_sent: Option<(Timestamp, String)>,
}

fn fault_kind(name: &str) -> Option<FaultKind> {
    [
        FaultKind::ReadError,
        FaultKind::Timeout,
        FaultKind::Busy,
        FaultKind::OutOfRange,
        FaultKind::Spike,
    ]
    .into_iter()
    .find(|k| k.name() == name)
}

/// The `state` table key of one destination's entry (`upload.cursor.NAME`, ...).
fn state_key(prefix: &str, destination: &str) -> String {
    format!("{prefix}{destination}")
}

/// What both an [`Outbox`] and a [`Reader`] read.
impl Db {
    /// An uploader's cursor: the id of the last record the destination acknowledged
    /// (0 if it never did).
    pub(super) fn upload_cursor(&self, destination: &str) -> Result<i64, StoreError> {
        let key = state_key(STATE_CURSOR_PREFIX, destination);
        let v: Option<i64> = self
            .conn
            .prepare_cached("SELECT value FROM state WHERE key = ?1")?
            .query_row([key], |row| row.get(0))
            .optional()?;
        Ok(v.unwrap_or(0))
    }

    /// The last record id of the batch a destination was last sent and has not
    /// acknowledged yet, if any (stale once the cursor reached it). An uploader re-sends
    /// exactly that batch after a restart, so it keeps its idempotency key.
    pub(super) fn upload_inflight(&self, destination: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM state WHERE key = ?1")?
            .query_row([state_key(STATE_UPLOAD_INFLIGHT, destination)], |row| {
                row.get(0)
            })
            .optional()?)
    }

    /// How many records wait after `after_id`, and the start of the oldest of them.
    pub(super) fn backlog_after(
        &self,
        after_id: i64,
    ) -> Result<(i64, Option<Timestamp>), StoreError> {
        let count: i64 = self
            .conn
            .prepare_cached("SELECT count(*) FROM archive WHERE id > ?1")?
            .query_row([after_id], |row| row.get(0))?;
        let oldest: Option<Timestamp> = self
            .conn
            .prepare_cached("SELECT start_ts FROM archive WHERE id > ?1 ORDER BY id LIMIT 1")?
            .query_row([after_id], |row| row.get(0))
            .optional()?;
        Ok((count, oldest))
    }

    /// Up to `limit` records with ids greater than `after_id`, oldest first, with their
    /// extras and faults: what an uploader sends next. Fault times come back in whole
    /// seconds (as stored), and `last_rain_tip` is `None` (the store keeps only the
    /// newest, see `resume`).
    pub(super) fn records_after(
        &self,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<(i64, ArchiveRecord)>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT id, start_ts, end_ts, {} FROM archive WHERE id > ?1 ORDER BY id LIMIT ?2",
            VALUE_COLUMNS.join(", ")
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut out: Vec<(i64, ArchiveRecord)> = Vec::new();
        let mut rows = stmt.query(params![after_id, limit])?;
        while let Some(row) = rows.next()? {
            let mut cols = Columns::new(row);
            out.push((cols.get("id")?, cols.record()?));
        }
        let (Some(first), Some(last)) = (out.first().map(|r| r.0), out.last().map(|r| r.0)) else {
            return Ok(out);
        };
        let index =
            |out: &[(i64, ArchiveRecord)], id: i64| out.binary_search_by_key(&id, |r| r.0).ok();

        let mut extras = self.conn.prepare_cached(
            "SELECT archive_id, quantity, kind, value, min, max, n FROM archive_extra \
             WHERE archive_id BETWEEN ?1 AND ?2 ORDER BY archive_id, quantity",
        )?;
        let found: Vec<(i64, String, ExtraStat)> = extras
            .query_map(params![first, last], |row| {
                let mut cols = Columns::new(row);
                Ok((
                    cols.get("archive_id")?,
                    cols.get("quantity")?,
                    cols.extra()?,
                ))
            })?
            .collect::<Result<_, _>>()?;
        for (id, quantity, stat) in found {
            if let Some(i) = index(&out, id) {
                out[i].1.extras.push((Arc::from(quantity), stat));
            }
        }

        let mut faults = self.conn.prepare_cached(
            "SELECT archive_id, sensor, quantity, kind, count, first_ts, message FROM fault \
             WHERE archive_id BETWEEN ?1 AND ?2 ORDER BY id",
        )?;
        type FaultRow = (i64, String, Option<String>, String, u32, Timestamp, String);
        let found: Vec<FaultRow> = faults
            .query_map(params![first, last], |row| {
                let mut cols = Columns::new(row);
                Ok((
                    cols.get("archive_id")?,
                    cols.get("sensor")?,
                    cols.get("quantity")?,
                    cols.get("kind")?,
                    cols.get("count")?,
                    cols.get("first_ts")?,
                    cols.get("message")?,
                ))
            })?
            .collect::<Result<_, _>>()?;
        for (id, sensor, quantity, kind, count, first_ts, message) in found {
            let kind = fault_kind(&kind)
                .ok_or_else(|| self.corrupt(format!("fault kind `{kind}` in record {id}")))?;
            if let Some(i) = index(&out, id) {
                out[i].1.faults.push(FaultCount {
                    sensor: Arc::from(sensor),
                    quantity: quantity.as_deref().map(Quantity::from_name),
                    kind,
                    count,
                    first_at: first_ts,
                    message,
                });
            }
        }
        Ok(out)
    }
}

/// The reads an uploader needs, on its own connection.
impl Outbox {
    pub fn path(&self) -> &Path {
        &self.db.path
    }

    /// See [`Reader::upload_cursor`].
    pub fn upload_cursor(&self, destination: &str) -> Result<i64, StoreError> {
        self.db.upload_cursor(destination)
    }

    /// See [`Reader::upload_inflight`].
    pub fn upload_inflight(&self, destination: &str) -> Result<Option<i64>, StoreError> {
        self.db.upload_inflight(destination)
    }

    /// See [`Reader::backlog_after`].
    pub fn backlog_after(&self, after_id: i64) -> Result<(i64, Option<Timestamp>), StoreError> {
        self.db.backlog_after(after_id)
    }

    /// See [`Reader::records_after`].
    pub fn records_after(
        &self,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<(i64, ArchiveRecord)>, StoreError> {
        self.db.records_after(after_id, limit)
    }

    /// See [`Reader::last_id`].
    pub fn last_id(&self) -> Result<i64, StoreError> {
        self.db.last_id()
    }
}

impl Reader {
    /// An uploader's cursor: the id of the last record the destination acknowledged
    /// (0 if it never did).
    pub fn upload_cursor(&self, destination: &str) -> Result<i64, StoreError> {
        self.db.upload_cursor(destination)
    }

    /// The last record id of the batch a destination was last sent and has not
    /// acknowledged yet, if any (stale once the cursor reached it).
    pub fn upload_inflight(&self, destination: &str) -> Result<Option<i64>, StoreError> {
        self.db.upload_inflight(destination)
    }

    /// How many records wait after `after_id`, and the start of the oldest of them.
    pub fn backlog_after(&self, after_id: i64) -> Result<(i64, Option<Timestamp>), StoreError> {
        self.db.backlog_after(after_id)
    }

    /// Up to `limit` records with ids greater than `after_id`, oldest first, with their
    /// extras and faults (what an uploader sends next).
    pub fn records_after(
        &self,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<(i64, ArchiveRecord)>, StoreError> {
        self.db.records_after(after_id, limit)
    }
}

/// What an uploader records.
impl Outbox {
    /// Sets an uploader's cursor by hand (a test double: the uploader advances it only
    /// through `acknowledge`; only with the `testkit` feature).
    #[cfg(any(test, feature = "testkit"))]
    pub fn set_upload_cursor(&mut self, destination: &str, id: i64) -> Result<(), StoreError> {
        let key = state_key(STATE_CURSOR_PREFIX, destination);
        self.db
            .conn
            .prepare_cached("INSERT OR REPLACE INTO state (key, value) VALUES (?1, ?2)")?
            .execute(params![key, id])?;
        Ok(())
    }

    /// Records the destination acknowledged everything up to `last_id`: advances the
    /// cursor (never backwards) and marks the destination healthy, in one transaction,
    /// so the cursor and the status never disagree after a crash.
    pub fn ack_upload(
        &mut self,
        destination: &str,
        last_id: i64,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let tx = self
            .db
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut put =
                tx.prepare_cached("INSERT OR REPLACE INTO state (key, value) VALUES (?1, ?2)")?;
            let cursor_key = state_key(STATE_CURSOR_PREFIX, destination);
            let current: i64 = tx
                .prepare_cached("SELECT value FROM state WHERE key = ?1")?
                .query_row([&cursor_key], |row| row.get(0))
                .optional()?
                .unwrap_or(0);
            put.execute(params![cursor_key, last_id.max(current)])?;
            put.execute(params![
                state_key(STATE_UPLOAD_STATE, destination),
                UPLOAD_STATE_OK
            ])?;
            put.execute(params![
                state_key(STATE_UPLOAD_SUCCESS, destination),
                at.secs()
            ])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Records a destination's state (`ok`, `failing`, `stopped: why`) and, if given,
    /// its latest error, in one transaction. The cursor is not touched.
    pub fn set_upload_state(
        &mut self,
        destination: &str,
        state: &str,
        error: Option<(&str, Timestamp)>,
    ) -> Result<(), StoreError> {
        let tx = self
            .db
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut put =
                tx.prepare_cached("INSERT OR REPLACE INTO state (key, value) VALUES (?1, ?2)")?;
            put.execute(params![state_key(STATE_UPLOAD_STATE, destination), state])?;
            if let Some((message, at)) = error {
                put.execute(params![state_key(STATE_UPLOAD_ERROR, destination), message])?;
                put.execute(params![
                    state_key(STATE_UPLOAD_ERROR_TS, destination),
                    at.secs()
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Records what a current-conditions network last accepted: the observation's time
    /// (its schedule and rate limit resume from it after a restart) and the fields sent.
    pub fn set_upload_sent(
        &mut self,
        destination: &str,
        observed: Timestamp,
        what: &str,
    ) -> Result<(), StoreError> {
        let tx = self
            .db
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut put =
                tx.prepare_cached("INSERT OR REPLACE INTO state (key, value) VALUES (?1, ?2)")?;
            put.execute(params![
                state_key(STATE_UPLOAD_SENT_TS, destination),
                observed.secs()
            ])?;
            put.execute(params![state_key(STATE_UPLOAD_SENT, destination), what])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// See [`Reader::upload_last_sent`].
    pub fn upload_last_sent(
        &self,
        destination: &str,
    ) -> Result<Option<(Timestamp, String)>, StoreError> {
        self.db.upload_last_sent(destination)
    }

    /// Records the last id of a batch before it is first sent (see `upload_inflight`).
    pub fn set_upload_inflight(
        &mut self,
        destination: &str,
        last_id: i64,
    ) -> Result<(), StoreError> {
        self.db
            .conn
            .prepare_cached("INSERT OR REPLACE INTO state (key, value) VALUES (?1, ?2)")?
            .execute(params![
                state_key(STATE_UPLOAD_INFLIGHT, destination),
                last_id
            ])?;
        Ok(())
    }
}

impl Db {
    fn upload_last_sent(
        &self,
        destination: &str,
    ) -> Result<Option<(Timestamp, String)>, StoreError> {
        let get = |prefix: &str| -> Result<Option<SqlValue>, StoreError> {
            Ok(self
                .conn
                .prepare_cached("SELECT value FROM state WHERE key = ?1")?
                .query_row([state_key(prefix, destination)], |row| row.get(0))
                .optional()?)
        };
        Ok(
            match (get(STATE_UPLOAD_SENT_TS)?, get(STATE_UPLOAD_SENT)?) {
                (Some(SqlValue::Integer(t)), Some(SqlValue::Text(what))) => {
                    Some((Timestamp::from_secs(t), what))
                }
                _ => None,
            },
        )
    }
}

impl Reader {
    /// A current-conditions network's last accepted observation: its time and what
    /// was sent (`None` for archive destinations and before the first).
    pub fn upload_last_sent(
        &self,
        destination: &str,
    ) -> Result<Option<(Timestamp, String)>, StoreError> {
        self.db.upload_last_sent(destination)
    }

    /// Everything `weatherd status` shows about one destination.
    pub fn upload_status(&self, destination: &str) -> Result<UploadStatus, StoreError> {
        let get = |prefix: &str| -> Result<Option<SqlValue>, StoreError> {
            Ok(self
                .db
                .conn
                .prepare_cached("SELECT value FROM state WHERE key = ?1")?
                .query_row([state_key(prefix, destination)], |row| row.get(0))
                .optional()?)
        };
        let int = |v: Option<SqlValue>| match v {
            Some(SqlValue::Integer(i)) => Some(i),
            _ => None,
        };
        let text = |v: Option<SqlValue>| match v {
            Some(SqlValue::Text(t)) => Some(t),
            _ => None,
        };
        let cursor = self.upload_cursor(destination)?;
        let (backlog, oldest_waiting) = self.backlog_after(cursor)?;
        Ok(UploadStatus {
            name: destination.to_string(),
            cursor,
            state: text(get(STATE_UPLOAD_STATE)?),
            last_success: int(get(STATE_UPLOAD_SUCCESS)?).map(Timestamp::from_secs),
            last_error: text(get(STATE_UPLOAD_ERROR)?),
            last_error_at: int(get(STATE_UPLOAD_ERROR_TS)?).map(Timestamp::from_secs),
            backlog,
            oldest_waiting,
            last_sent: self.upload_last_sent(destination)?,
        })
    }

    /// The destinations this database has a cursor or a state for, by name.
    pub fn upload_names(&self) -> Result<Vec<String>, StoreError> {
        let mut names = BTreeSet::new();
        let mut stmt = self
            .db
            .conn
            .prepare("SELECT key FROM state WHERE key LIKE 'upload_%'")?;
        let keys = stmt.query_map([], |row| row.get::<_, String>(0))?;
        for key in keys {
            let key = key?;
            for prefix in [STATE_CURSOR_PREFIX, STATE_UPLOAD_STATE] {
                if let Some(name) = key.strip_prefix(prefix) {
                    names.insert(name.to_string());
                }
            }
        }
        Ok(names.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_kinds_round_trip_by_name() {
        for k in [
            FaultKind::ReadError,
            FaultKind::Timeout,
            FaultKind::Busy,
            FaultKind::OutOfRange,
            FaultKind::Spike,
        ] {
            assert_eq!(fault_kind(k.name()), Some(k));
        }
        assert_eq!(fault_kind("gremlins"), None);
    }
}
