//! The store: the only owner of the SQLite database.
//!
//! It creates the database from `schema.sql`, migrates it by `PRAGMA user_version`,
//! refuses files that are not weatherd databases without touching them, writes one
//! transaction per archive record, and answers queries.
//!
//! # Durability
//!
//! The database runs in WAL mode. A station opens it with `synchronous=FULL`: every
//! commit (one per archive record, once a minute) syncs the log, so a power cut loses
//! at most the record being written, and never corrupts the file (a torn tail of the
//! log fails its checksum and is ignored on recovery). One fsync a minute costs an SD
//! card nothing measurable: the same log pages would be written back by the kernel
//! within 30 s anyway. Simulated replays at `--speed max` switch to
//! `synchronous=NORMAL` ([`Durability::Fast`]): the log is then synced only at
//! checkpoints, still never corrupt, and the data can be replayed from its seed.
//! Checkpoints run at SQLite's default cadence (the log reaches 1000 pages, a few
//! hours of records at one a minute), which writes each hot page (the newest archive
//! and index leaves, today's summary) to the main file once per checkpoint rather than
//! once per record.
//!
//! # Concurrent readers
//!
//! Students read the file with `sqlite3` while the daemon writes. WAL lets readers and
//! the writer proceed together; a `busy_timeout` makes the rare moments where one must
//! wait (checkpoints, schema changes) wait instead of failing with "database is locked".
//! The writer waits at most [`WRITE_BUSY_TIMEOUT`]; a record it cannot write then (or on
//! a full disk) is kept and retried by the station, never dropped on the first refusal.

use crate::observation::{FaultKind, Quantity};
use crate::record::{ArchiveRecord, FaultCount, Resume, Stat};
use crate::time::{Timestamp, NANOS_PER_SEC};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub const SCHEMA_SQL: &str = include_str!("../schema.sql");

/// `PRAGMA application_id` of every weatherd database: 'WTHR' in ASCII.
pub const APPLICATION_ID: i32 = 0x5754_4852;

/// The migration steps, in order: step `i` takes a database from schema version `i` to
/// `i + 1`, in one transaction. A new schema version appends a step here (and never
/// edits an old one: databases in the field were created by it).
const MIGRATIONS: &[&str] = &[SCHEMA_SQL];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How long a reading connection waits for a lock held by another (e.g. a student's
/// `sqlite3`) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a writing connection waits for the write lock. Long enough for a
/// checkpoint or a short `sqlite3` statement, short enough (under the 5-s sample
/// interval) that the station's loop, which waits with it, misses no sample; a longer
/// lock makes the station keep the record in memory and retry (see `station::Pending`).
pub const WRITE_BUSY_TIMEOUT: Duration = Duration::from_secs(2);

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

const STATE_LAST_RAIN_TIP: &str = "last_rain_tip_ns";
const STATE_TIME_ZONE: &str = "time_zone";
const STATE_CURSOR_PREFIX: &str = "upload_cursor.";
const STATE_UPLOAD_STATE: &str = "upload_state.";
const STATE_UPLOAD_SUCCESS: &str = "upload_last_success_ts.";
const STATE_UPLOAD_ERROR: &str = "upload_last_error.";
const STATE_UPLOAD_ERROR_TS: &str = "upload_last_error_ts.";
const STATE_UPLOAD_INFLIGHT: &str = "upload_inflight.";
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
}

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

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("{path}: not a weatherd database ({reason}); it was left untouched")]
    Foreign { path: PathBuf, reason: String },
    #[error("{path}: written by a newer weatherd (schema version {found}, this one knows up to {supported}); it was left untouched")]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error(
        "record {start} starts before the newest stored record ends ({last_end}); not written"
    )]
    Overlap {
        start: Timestamp,
        last_end: Timestamp,
    },
    /// The record itself is malformed (e.g. it ends before it starts).
    #[error("record {start}: {reason}; not written")]
    Invalid { start: Timestamp, reason: String },
    /// A value read back from the database is not what weatherd writes.
    #[error("{path}: unexpected content: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
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

impl From<ValueRef<'_>> for Value {
    fn from(v: ValueRef<'_>) -> Self {
        match v {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Int(i),
            ValueRef::Real(r) => Value::Real(r),
            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Value::Text(format!("<{} bytes>", b.len())),
        }
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

/// The four quantities stored as mean/min/max/n, with their unit suffix, in column
/// order.
const STATS: [(&str, &str); 4] = [
    ("temperature", "c"),
    ("humidity", "pct"),
    ("pressure", "hpa"),
    ("ground_temperature", "c"),
];

/// The value columns of `archive` after `start_ts, end_ts`, in schema order. The insert,
/// the raw query and reading records back all use this one list.
const VALUE_COLUMNS: [&str; 27] = [
    "samples",
    "temperature_c",
    "temperature_min_c",
    "temperature_max_c",
    "temperature_n",
    "humidity_pct",
    "humidity_min_pct",
    "humidity_max_pct",
    "humidity_n",
    "pressure_hpa",
    "pressure_min_hpa",
    "pressure_max_hpa",
    "pressure_n",
    "ground_temperature_c",
    "ground_temperature_min_c",
    "ground_temperature_max_c",
    "ground_temperature_n",
    "dew_point_c",
    "sea_level_pressure_hpa",
    "wind_speed_kmh",
    "wind_gust_kmh",
    "wind_dir_deg",
    "wind_n",
    "wind_dir_n",
    "rain_mm",
    "rain_rate_mm_per_h",
    "rain_n",
];

/// Non-finite numbers are not measurements: store them as NULL (SQLite would turn a
/// NaN into NULL anyway, but keep infinities out too).
fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

fn real(v: Option<f64>) -> SqlValue {
    finite(v).map_or(SqlValue::Null, SqlValue::Real)
}

fn stat_values(s: &Stat) -> [SqlValue; 4] {
    [
        real(s.mean),
        real(s.min),
        real(s.max),
        SqlValue::Integer(i64::from(s.n)),
    ]
}

/// The values for `VALUE_COLUMNS`, in the same order.
fn record_values(r: &ArchiveRecord) -> Vec<SqlValue> {
    let mut v = Vec::with_capacity(VALUE_COLUMNS.len());
    v.push(SqlValue::Integer(i64::from(r.samples)));
    for s in [
        &r.temperature_c,
        &r.humidity_pct,
        &r.pressure_hpa,
        &r.ground_temperature_c,
    ] {
        v.extend(stat_values(s));
    }
    v.extend([
        real(r.dew_point_c),
        real(r.sea_level_pressure_hpa),
        real(r.wind_speed_kmh),
        real(r.wind_gust_kmh),
        real(r.wind_dir_deg),
        SqlValue::Integer(i64::from(r.wind_n)),
        SqlValue::Integer(i64::from(r.wind_dir_n)),
        real(r.rain_mm),
        real(r.rain_rate_mm_per_h),
        SqlValue::Integer(i64::from(r.rain_n)),
    ]);
    debug_assert_eq!(v.len(), VALUE_COLUMNS.len());
    v
}

fn insert_archive_sql() -> &'static str {
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

/// The daily upsert. SQLite's scalar `min(NULL, x)` is NULL, so every extreme and sum
/// falls back with `coalesce` to whichever side is not NULL.
fn upsert_daily_sql() -> &'static str {
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

/// A mean weighted by its sample count, as the daily sums store it: the sum and the
/// weight, or nothing when the mean is missing.
fn weighted(mean: Option<f64>, n: u32) -> (Option<f64>, i64) {
    match finite(mean) {
        Some(m) if n > 0 => (Some(m * f64::from(n)), i64::from(n)),
        _ => (None, 0),
    }
}

/// The station-local calendar date (`YYYY-MM-DD`) of an instant.
pub fn local_date(t: Timestamp, tz: chrono_tz::Tz) -> String {
    t.to_chrono()
        .with_timezone(&tz)
        .format("%Y-%m-%d")
        .to_string()
}

fn upsert_daily(conn: &Connection, tz: chrono_tz::Tz, r: &ArchiveRecord) -> rusqlite::Result<()> {
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

/// Whole seconds, rounded up: the first whole second at or after `t`.
fn ceil_secs(t: Timestamp) -> i64 {
    let s = t.secs();
    if t.nanos().rem_euclid(NANOS_PER_SEC) == 0 {
        s
    } else {
        s + 1
    }
}

fn fault_kind(name: &str) -> Option<FaultKind> {
    [
        FaultKind::ReadError,
        FaultKind::Timeout,
        FaultKind::Busy,
        FaultKind::OutOfRange,
    ]
    .into_iter()
    .find(|k| k.name() == name)
}

/// The name of a column derived from a quantity name by inserting a word before the
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

/// What is at the path before SQLite gets to see it.
enum FileKind {
    Missing,
    Empty,
    Sqlite,
}

pub struct Store {
    conn: rusqlite::Connection,
    tz: chrono_tz::Tz,
    path: PathBuf,
    /// The rain tip as stored in `state`, so it is written only when it changes.
    last_rain_tip: Option<Timestamp>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("tz", &self.tz)
            .finish()
    }
}

/// The `state` table key of one destination's entry (`upload.cursor.NAME`, ...).
fn state_key(prefix: &str, destination: &str) -> String {
    format!("{prefix}{destination}")
}

/// How hard each commit holds on to its data (see "Durability" above).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: a committed record survives a power cut. The default.
    PowerSafe,
    /// `synchronous=NORMAL`: a committed record survives a crash of the process but a
    /// power cut may lose the records since the last checkpoint. Never corrupts.
    Fast,
}

impl Store {
    /// Chooses how each commit is synced; [`Durability::PowerSafe`] after `open`.
    pub fn set_durability(&self, durability: Durability) -> Result<(), StoreError> {
        // A fast replay also checkpoints ten times less often: each checkpoint copies
        // the hot pages (newest leaves, today's summary) back into the database once,
        // however many records changed them since the last one.
        let (level, checkpoint_pages) = match durability {
            Durability::PowerSafe => ("FULL", 1000),
            Durability::Fast => ("NORMAL", 10_000),
        };
        self.conn.pragma_update(None, "synchronous", level)?;
        self.conn
            .pragma_update(None, "wal_autocheckpoint", checkpoint_pages)?;
        Ok(())
    }

    /// Opens (creating or migrating) the database for writing.
    ///
    /// Refuses, without writing a byte, anything that is not a weatherd database: a
    /// file that is not SQLite, an SQLite database of another program (another
    /// `application_id`, or tables without ours), or one written by a newer weatherd.
    pub fn open(path: &Path, tz: chrono_tz::Tz) -> Result<Store, StoreError> {
        let kind = inspect_file(path)?;
        if let (FileKind::Missing, Some(parent)) = (&kind, path.parent()) {
            if !parent.as_os_str().is_empty() && !parent.is_dir() {
                return Err(open_error(
                    path,
                    format!("directory {} does not exist", parent.display()),
                ));
            }
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags).map_err(|e| open_error(path, e))?;
        conn.busy_timeout(WRITE_BUSY_TIMEOUT)
            .map_err(|e| open_error(path, e))?;
        // Identify before anything below writes (setting WAL rewrites the header).
        let version = identify(&conn, path)?;
        if conn.is_readonly(rusqlite::DatabaseName::Main)? {
            return Err(open_error(
                path,
                "the file is not writable (check its owner and permissions)",
            ));
        }
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))
            .map_err(|e| open_error(path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(open_error(
                path,
                format!("cannot switch to WAL mode (got `{mode}`)"),
            ));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.set_prepared_statement_cache_capacity(32);
        migrate(&mut conn, path, version)?;

        let mut store = Store {
            conn,
            tz,
            path: path.to_path_buf(),
            last_rain_tip: None,
        };
        store.last_rain_tip = store.stored_rain_tip()?;
        store.adopt_time_zone()?;
        Ok(store)
    }

    /// Opens an existing database read-only (for `query`); never creates or migrates.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        match inspect_file(path)? {
            FileKind::Missing => {
                return Err(open_error(
                    path,
                    "no such database (it is created by `weatherd run`; check database.path in the config)",
                ))
            }
            FileKind::Empty => {
                return Err(StoreError::Foreign { path: path.to_path_buf(), reason: "empty file".into() })
            }
            FileKind::Sqlite => {}
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| open_error(path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| open_error(path, e))?;
        let version = identify(&conn, path)?;
        if version < SCHEMA_VERSION {
            return Err(open_error(
                path,
                format!(
                    "schema version {version} is older than this weatherd's ({SCHEMA_VERSION}); \
                     run `weatherd run` once to upgrade it"
                ),
            ));
        }
        let mut store = Store {
            conn,
            tz: chrono_tz::UTC,
            path: path.to_path_buf(),
            last_rain_tip: None,
        };
        store.last_rain_tip = store.stored_rain_tip()?;
        if let Some(tz) = store.stored_time_zone()? {
            store.tz = tz;
        }
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This connection's `synchronous` setting by name (`OFF`, `NORMAL`, `FULL`,
    /// `EXTRA`): what a commit costs and survives (see "Durability" above).
    pub fn synchronous(&self) -> Result<&'static str, StoreError> {
        let level: i64 = self
            .conn
            .query_row("PRAGMA synchronous", [], |row| row.get(0))?;
        Ok(match level {
            0 => "OFF",
            1 => "NORMAL",
            2 => "FULL",
            _ => "EXTRA",
        })
    }

    /// The database's journal mode as SQLite reports it (`wal` for every weatherd
    /// database).
    pub fn journal_mode(&self) -> Result<String, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))?)
    }

    /// The station time zone the daily summaries are computed in.
    pub fn time_zone(&self) -> chrono_tz::Tz {
        self.tz
    }

    /// Writes one record (row, extras, faults, daily summary, rain state) in one
    /// transaction and returns its id.
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
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut last_end: Option<i64> = tx
            .prepare_cached("SELECT end_ts FROM archive ORDER BY start_ts DESC LIMIT 1")?
            .query_row([], |row| row.get(0))
            .optional()?;
        let mut rain_tip = self.last_rain_tip;
        let mut ids = Vec::with_capacity(recs.len());
        for rec in recs {
            check_record(rec, last_end)?;
            let id = insert_one(&tx, self.tz, rec)?;
            if rec.last_rain_tip != rain_tip {
                rain_tip = rec.last_rain_tip;
                write_rain_tip(&tx, rain_tip)?;
            }
            last_end = Some(rec.end.secs());
            ids.push(id);
        }
        tx.commit()?;
        self.last_rain_tip = rain_tip;
        Ok(ids)
    }

    /// Where the stored history ends.
    pub fn resume(&self) -> Result<Resume, StoreError> {
        let last_end: Option<i64> = self
            .conn
            .prepare_cached("SELECT end_ts FROM archive ORDER BY start_ts DESC LIMIT 1")?
            .query_row([], |row| row.get(0))
            .optional()?;
        Ok(Resume {
            last_end: last_end.map(Timestamp::from_secs),
            last_rain_tip: self.stored_rain_tip()?,
        })
    }

    /// Number of stored records.
    pub fn record_count(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM archive", [], |row| row.get(0))?)
    }

    /// The newest record's id (0 when empty): where a new uploader's cursor starts if
    /// it should send only what comes next.
    pub fn last_id(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT coalesce(max(id), 0) FROM archive", [], |row| {
                row.get(0)
            })?)
    }

    /// Total number of faulty samples recorded (sum of `fault.count`).
    pub fn faults_total(&self) -> Result<i64, StoreError> {
        Ok(self
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
        Ok(self
            .conn
            .prepare_cached(
                "SELECT sum(rain_mm) FROM archive WHERE start_ts >= ?1 AND start_ts < ?2",
            )?
            .query_row(params![ceil_secs(from), ceil_secs(to)], |row| row.get(0))?)
    }

    /// Rain since local midnight of the station-local day containing `at` (from the
    /// daily summary); `None` when the gauge gave no data that day.
    pub fn daily_rain_mm(&self, at: Timestamp) -> Result<Option<f64>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT rain_mm FROM daily WHERE date = ?1")?
            .query_row([local_date(at, self.tz)], |row| row.get(0))
            .optional()?
            .flatten())
    }

    /// An uploader's cursor: the id of the last record the destination acknowledged
    /// (0 if it never did).
    pub fn upload_cursor(&self, destination: &str) -> Result<i64, StoreError> {
        let key = state_key(STATE_CURSOR_PREFIX, destination);
        let v: Option<i64> = self
            .conn
            .prepare_cached("SELECT value FROM state WHERE key = ?1")?
            .query_row([key], |row| row.get(0))
            .optional()?;
        Ok(v.unwrap_or(0))
    }

    /// Advances an uploader's cursor (call only after the destination acknowledged).
    pub fn set_upload_cursor(&mut self, destination: &str, id: i64) -> Result<(), StoreError> {
        let key = state_key(STATE_CURSOR_PREFIX, destination);
        self.conn
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

    /// The last record id of the batch a destination was last sent and has not
    /// acknowledged yet, if any (stale once the cursor reached it). An uploader re-sends
    /// exactly that batch after a restart, so it keeps its idempotency key.
    pub fn upload_inflight(&self, destination: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM state WHERE key = ?1")?
            .query_row([state_key(STATE_UPLOAD_INFLIGHT, destination)], |row| {
                row.get(0)
            })
            .optional()?)
    }

    /// Records the last id of a batch before it is first sent (see `upload_inflight`).
    pub fn set_upload_inflight(
        &mut self,
        destination: &str,
        last_id: i64,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("INSERT OR REPLACE INTO state (key, value) VALUES (?1, ?2)")?
            .execute(params![
                state_key(STATE_UPLOAD_INFLIGHT, destination),
                last_id
            ])?;
        Ok(())
    }

    /// Everything `weatherd status` shows about one destination.
    pub fn upload_status(&self, destination: &str) -> Result<UploadStatus, StoreError> {
        let get = |prefix: &str| -> Result<Option<SqlValue>, StoreError> {
            Ok(self
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
        })
    }

    /// The destinations this database has a cursor or a state for, by name.
    pub fn upload_names(&self) -> Result<Vec<String>, StoreError> {
        let mut names = BTreeSet::new();
        let mut stmt = self
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

    /// How many records wait after `after_id`, and the start of the oldest of them.
    pub fn backlog_after(&self, after_id: i64) -> Result<(i64, Option<Timestamp>), StoreError> {
        let count: i64 = self
            .conn
            .prepare_cached("SELECT count(*) FROM archive WHERE id > ?1")?
            .query_row([after_id], |row| row.get(0))?;
        let oldest: Option<i64> = self
            .conn
            .prepare_cached("SELECT start_ts FROM archive WHERE id > ?1 ORDER BY id LIMIT 1")?
            .query_row([after_id], |row| row.get(0))
            .optional()?;
        Ok((count, oldest.map(Timestamp::from_secs)))
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
        let end: Option<i64> = match column {
            Some(column) => self
                .conn
                .prepare_cached(&format!(
                    "SELECT end_ts FROM archive WHERE {column} > 0 ORDER BY id DESC LIMIT 1"
                ))?
                .query_row([], |row| row.get(0))
                .optional()?,
            None => self
                .conn
                .prepare_cached(
                    "SELECT a.end_ts FROM archive_extra e JOIN archive a ON a.id = e.archive_id \
                     WHERE e.quantity = ?1 AND e.n > 0 ORDER BY e.archive_id DESC LIMIT 1",
                )?
                .query_row([quantity.name()], |row| row.get(0))
                .optional()?,
        };
        Ok(end.map(Timestamp::from_secs))
    }

    /// Fault counts per sensor: all time, and in intervals that started at or after
    /// `since` (e.g. the last 24 hours), with the newest fault's time and message.
    pub fn sensor_faults(&self, since: Timestamp) -> Result<Vec<SensorFaults>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT f.sensor, sum(f.count), \
                    sum(CASE WHEN a.start_ts >= ?1 THEN f.count ELSE 0 END), \
                    max(f.first_ts), \
                    (SELECT g.message FROM fault g WHERE g.sensor = f.sensor ORDER BY g.id DESC LIMIT 1) \
             FROM fault f JOIN archive a ON a.id = f.archive_id \
             GROUP BY f.sensor ORDER BY f.sensor",
        )?;
        let rows = stmt.query_map([ceil_secs(since)], |row| {
            Ok(SensorFaults {
                sensor: row.get(0)?,
                total: row.get(1)?,
                recent: row.get(2)?,
                last_at: row.get::<_, Option<i64>>(3)?.map(Timestamp::from_secs),
                last_message: row.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Up to `limit` records with ids greater than `after_id`, oldest first, with their
    /// extras and faults: what an uploader sends next. Fault times come back in whole
    /// seconds (as stored), and `last_rain_tip` is `None` (the store keeps only the
    /// newest, see `resume`).
    pub fn records_after(
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
            out.push((row.get(0)?, read_record(row, 1)?));
        }
        let (Some(first), Some(last)) = (out.first().map(|r| r.0), out.last().map(|r| r.0)) else {
            return Ok(out);
        };
        let index =
            |out: &[(i64, ArchiveRecord)], id: i64| out.binary_search_by_key(&id, |r| r.0).ok();

        let mut extras = self.conn.prepare_cached(
            "SELECT archive_id, quantity, mean, min, max, n FROM archive_extra \
             WHERE archive_id BETWEEN ?1 AND ?2 ORDER BY archive_id, quantity",
        )?;
        let found: Vec<(i64, String, Stat)> = extras
            .query_map(params![first, last], |row| {
                let stat = Stat {
                    mean: row.get(2)?,
                    min: row.get(3)?,
                    max: row.get(4)?,
                    n: row.get(5)?,
                };
                Ok((row.get(0)?, row.get(1)?, stat))
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
        type FaultRow = (i64, String, Option<String>, String, u32, i64, String);
        let found: Vec<FaultRow> = faults
            .query_map(params![first, last], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                    row.get(6)?,
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
                    first_at: Timestamp::from_secs(first_ts),
                    message,
                });
            }
        }
        Ok(out)
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
    ///   the records inside the range (same columns, same arithmetic).
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
             FROM archive WHERE start_ts >= ?1 AND start_ts < ?2 ORDER BY start_ts",
            VALUE_COLUMNS.join(", ")
        );
        let mut table = Table {
            columns: vec!["id".into(), "start_utc".into(), "end_utc".into()],
            rows: vec![],
        };
        table
            .columns
            .extend(VALUE_COLUMNS.iter().map(|c| c.to_string()));
        let width = table.columns.len();
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params![from_s, to_s])?;
        let mut ids = Vec::new();
        while let Some(row) = rows.next()? {
            let mut cells = Vec::with_capacity(width);
            cells.push(Value::Int(row.get(0)?));
            cells.push(Value::Text(utc_text(row.get(1)?)));
            cells.push(Value::Text(utc_text(row.get(2)?)));
            for i in 3..width {
                cells.push(Value::from(row.get_ref(i)?));
            }
            ids.push(row.get::<_, i64>(0)?);
            table.rows.push(cells);
        }
        drop(rows);

        let extras = self.extras_in(from_s, to_s)?;
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
            row[at] = stat.mean.into();
            row[at + 1] = stat.min.into();
            row[at + 2] = stat.max.into();
            row[at + 3] = Value::Int(i64::from(stat.n));
        }
        Ok(table)
    }

    /// Extras of the records starting in `[from_s, to_s)`: (archive id or start second
    /// as asked, quantity, stat), in archive order.
    fn extras_in(&self, from_s: i64, to_s: i64) -> Result<Vec<(i64, String, Stat)>, StoreError> {
        self.extras_query("a.id", from_s, to_s)
    }

    fn extras_query(
        &self,
        key: &str,
        from_s: i64,
        to_s: i64,
    ) -> Result<Vec<(i64, String, Stat)>, StoreError> {
        let sql = format!(
            "SELECT {key}, e.quantity, e.mean, e.min, e.max, e.n \
             FROM archive a JOIN archive_extra e ON e.archive_id = a.id \
             WHERE a.start_ts >= ?1 AND a.start_ts < ?2 ORDER BY a.start_ts"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![from_s, to_s], |row| {
            let stat = Stat {
                mean: row.get(2)?,
                min: row.get(3)?,
                max: row.get(4)?,
                n: row.get(5)?,
            };
            Ok((row.get(0)?, row.get(1)?, stat))
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
            "SELECT start_ts, end_ts, {} FROM archive WHERE start_ts >= ?1 AND start_ts < ?2 ORDER BY start_ts",
            VALUE_COLUMNS.join(", ")
        );
        let mut hours: BTreeMap<i64, HourAcc> = BTreeMap::new();
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params![from_s, to_s])?;
        while let Some(row) = rows.next()? {
            let rec = read_record(row, 0)?;
            hours
                .entry(rec.start.secs().div_euclid(3600) * 3600)
                .or_default()
                .add(&rec);
        }
        drop(rows);

        let extras = self.extras_query("a.start_ts", from_s, to_s)?;
        let mut extra_acc: BTreeMap<(i64, &str), StatAcc> = BTreeMap::new();
        for (start, quantity, stat) in &extras {
            let hour = start.div_euclid(3600) * 3600;
            extra_acc
                .entry((hour, quantity.as_str()))
                .or_default()
                .add(stat);
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
            table.rows[r].splice(at..at + 4, acc.cells());
        }
        Ok(table)
    }

    fn query_day(
        &self,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Result<Table, StoreError> {
        let first = from.map_or_else(|| "0000-00-00".to_string(), |t| local_date(t, self.tz));
        let last = to.map_or_else(
            || "9999-99-99".to_string(),
            |t| local_date(t.add_nanos(-1), self.tz),
        );
        let mut stmt = self.conn.prepare_cached(
            "SELECT * FROM daily_summary WHERE date >= ?1 AND date <= ?2 ORDER BY date",
        )?;
        let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
        let width = columns.len();
        let mut table = Table {
            columns,
            rows: vec![],
        };
        let mut rows = stmt.query(params![first, last])?;
        while let Some(row) = rows.next()? {
            table.rows.push(
                (0..width)
                    .map(|i| row.get_ref(i).map(Value::from))
                    .collect::<Result<_, _>>()?,
            );
        }
        drop(rows);
        drop(stmt);

        // The daily table sums whole days. A bound inside a day (09:00 rather than
        // midnight) makes that day partial: its row is computed from the records in
        // the range instead, with the same columns and the same arithmetic.
        let (from_s, to_s) = bounds(from, to);
        let date_of = |secs: i64| local_date(Timestamp::from_secs(secs), self.tz);
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
        for (date, lo, hi) in partial {
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
        Ok(table)
    }

    /// A `daily_summary` row for `date` from the records that start in `[lo, hi)` on
    /// that station-local date; `None` when there are none.
    fn partial_day(
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
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params![lo, hi])?;
        let mut records = 0i64;
        let mut stats: [StatAcc; 4] = Default::default();
        let mut wind = StatAcc::default();
        let mut gust: Option<f64> = None;
        let mut rain: Option<f64> = None;
        while let Some(row) = rows.next()? {
            let r = read_record(row, 0)?;
            if local_date(r.start, self.tz) != date {
                continue;
            }
            records += 1;
            for (acc, s) in stats.iter_mut().zip([
                &r.temperature_c,
                &r.humidity_pct,
                &r.pressure_hpa,
                &r.ground_temperature_c,
            ]) {
                acc.add(s);
            }
            wind.add(&Stat {
                mean: r.wind_speed_kmh,
                min: None,
                max: None,
                n: r.wind_n,
            });
            gust = opt_max(gust, finite(r.wind_gust_kmh));
            if let Some(mm) = finite(r.rain_mm) {
                rain = Some(rain.unwrap_or(0.0) + mm);
            }
        }
        if records == 0 {
            return Ok(None);
        }
        let mut cells: BTreeMap<String, Value> = BTreeMap::new();
        cells.insert("date".into(), Value::Text(date.to_string()));
        cells.insert("records".into(), Value::Int(records));
        for ((q, unit), acc) in STATS.iter().zip(&stats) {
            cells.insert(format!("{q}_{unit}"), acc.mean().into());
            cells.insert(format!("{q}_min_{unit}"), acc.min.into());
            cells.insert(format!("{q}_max_{unit}"), acc.max.into());
        }
        cells.insert("wind_speed_kmh".into(), wind.mean().into());
        cells.insert("wind_gust_kmh".into(), gust.into());
        cells.insert("rain_mm".into(), rain.into());
        columns
            .iter()
            .map(|c| {
                cells
                    .remove(c)
                    .ok_or_else(|| self.corrupt(format!("daily_summary column `{c}` unknown")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    fn corrupt(&self, message: String) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            message,
        }
    }

    fn stored_rain_tip(&self) -> Result<Option<Timestamp>, StoreError> {
        let v: Option<i64> = self
            .conn
            .prepare_cached("SELECT value FROM state WHERE key = ?1")?
            .query_row([STATE_LAST_RAIN_TIP], |row| row.get(0))
            .optional()?;
        Ok(v.map(Timestamp))
    }

    fn stored_time_zone(&self) -> Result<Option<chrono_tz::Tz>, StoreError> {
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

    /// Records the station time zone; if the daily summaries were computed in another
    /// one (the station moved, or the config was fixed), recomputes them so that
    /// "daily" means local days in the zone configured now.
    fn adopt_time_zone(&mut self) -> Result<(), StoreError> {
        let stored = self.stored_time_zone()?;
        if stored == Some(self.tz) {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if stored.is_some() {
            tracing::warn!(
                path = %self.path.display(),
                from = %stored.map(|t| t.name()).unwrap_or_default(),
                to = %self.tz.name(),
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
                upsert_daily(&tx, self.tz, &read_record(row, 0)?)?;
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO state (key, value) VALUES (?1, ?2)",
            params![STATE_TIME_ZONE, self.tz.name()],
        )?;
        tx.commit()?;
        Ok(())
    }
}

/// What the station reports about records waiting in its memory (see
/// `station::Pending`): `weatherd status` reads it, because those records are not in
/// the database, the one thing status otherwise reads.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct PendingState {
    /// Records waiting to be written.
    pub waiting: u64,
    /// When the database first refused a write in the current outage.
    pub since: Option<Timestamp>,
    pub last_error: Option<String>,
    /// Records lost by this run of the station: dropped because the queue was full,
    /// or still waiting when it stopped.
    pub dropped: u64,
    /// When the station wrote this report.
    pub updated: Timestamp,
    pub pid: u32,
}

/// The report file: `<database>.state`, next to the database (its directory is the
/// one place the daemon may write).
///
/// It is written while the database refuses writes, which includes a full disk, so the
/// file is made once at start-up with a fixed size ([`PendingReport::SIZE`] bytes, all
/// written, so its blocks are allocated) and afterwards only overwritten in place: on
/// ext4 (Raspberry Pi OS) that needs no free space. If a write fails anyway (e.g. the
/// file could not be created), the log says so once and `status` shows the last report
/// it finds, with its time.
pub struct PendingReport {
    path: PathBuf,
    file: Option<std::fs::File>,
    warned: bool,
}

impl PendingReport {
    pub const SIZE: usize = 1024;

    /// The report file of a database.
    pub fn path_for(db: &Path) -> PathBuf {
        let mut p = db.as_os_str().to_os_string();
        p.push(".state");
        PathBuf::from(p)
    }

    /// Creates (or reuses) the file and reports an empty queue.
    pub fn open(db: &Path) -> PendingReport {
        let path = Self::path_for(db);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path);
        let mut report = PendingReport {
            path,
            file: None,
            warned: false,
        };
        match file {
            Ok(f) => report.file = Some(f),
            Err(e) => report.warn(&e),
        }
        report.write(&PendingState {
            updated: Timestamp::now(),
            pid: std::process::id(),
            ..Default::default()
        });
        report
    }

    fn warn(&mut self, e: &std::io::Error) {
        if !self.warned {
            self.warned = true;
            tracing::warn!(
                path = %self.path.display(),
                "cannot write the store report that `weatherd status` reads: {e}"
            );
        }
    }

    pub fn write(&mut self, state: &PendingState) {
        use std::os::unix::fs::FileExt;
        let Some(file) = &self.file else { return };
        let mut text = format!(
            "weatherd store report\nwaiting={}\nsince={}\ndropped={}\nupdated={}\npid={}\n",
            state.waiting,
            state.since.map_or(String::new(), |t| t.secs().to_string()),
            state.dropped,
            state.updated.secs(),
            state.pid,
        );
        if let Some(e) = &state.last_error {
            // One line, and short enough to fit the fixed size.
            let line: String = e
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(400)
                .collect();
            text.push_str(&format!("last_error={line}\n"));
        }
        let mut bytes = text.into_bytes();
        bytes.truncate(Self::SIZE);
        // Padding keeps the size fixed, so a rewrite never needs a new block.
        bytes.resize(Self::SIZE, b' ');
        if let Err(e) = file.write_all_at(&bytes, 0) {
            self.warn(&e);
        }
    }

    /// Reads a database's report; `None` if there is none (no station ran on it since
    /// this feature, or the file cannot be read).
    pub fn read(db: &Path) -> Option<PendingState> {
        use std::io::Read;
        let mut text = String::new();
        std::fs::File::open(Self::path_for(db))
            .ok()?
            .take(Self::SIZE as u64)
            .read_to_string(&mut text)
            .ok()?;
        let mut lines = text.lines();
        if lines.next()? != "weatherd store report" {
            return None;
        }
        let mut state = PendingState::default();
        for line in lines {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.trim_end();
            let int = || value.parse::<i64>().ok();
            match key {
                "waiting" => state.waiting = value.parse().ok()?,
                "since" => state.since = int().map(Timestamp::from_secs),
                "dropped" => state.dropped = value.parse().ok()?,
                "updated" => state.updated = Timestamp::from_secs(int()?),
                "pid" => state.pid = value.parse().ok()?,
                "last_error" => state.last_error = Some(value.to_string()),
                _ => {}
            }
        }
        Some(state)
    }
}

/// `2026-01-01T00:00:00Z` for Unix seconds, as `Timestamp::rfc3339` writes it, but
/// without a format-string interpreter: the raw query writes two per row.
fn utc_text(secs: i64) -> String {
    // Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
    let (days, tod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        return Timestamp::from_secs(secs).rfc3339();
    }
    let (h, m, s) = (tod / 3600, tod / 60 % 60, tod % 60);
    let mut out = String::with_capacity(20);
    for (v, width, sep) in [
        (year, 4, '-'),
        (month, 2, '-'),
        (day, 2, 'T'),
        (h, 2, ':'),
        (m, 2, ':'),
        (s, 2, 'Z'),
    ] {
        let mut div = 10i64.pow(width - 1);
        while div > 0 {
            out.push(char::from(b'0' + (v / div % 10) as u8));
            div /= 10;
        }
        out.push(sep);
    }
    out
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

fn check_record(rec: &ArchiveRecord, last_end: Option<i64>) -> Result<(), StoreError> {
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
        if rec.start.secs() < last_end {
            return Err(StoreError::Overlap {
                start: rec.start,
                last_end: Timestamp::from_secs(last_end),
            });
        }
    }
    Ok(())
}

fn insert_one(
    conn: &Connection,
    tz: chrono_tz::Tz,
    rec: &ArchiveRecord,
) -> Result<i64, StoreError> {
    let mut values = record_values(rec);
    values.insert(0, SqlValue::Integer(rec.end.secs()));
    values.insert(0, SqlValue::Integer(rec.start.secs()));
    conn.prepare_cached(insert_archive_sql())?
        .execute(rusqlite::params_from_iter(values))?;
    let id = conn.last_insert_rowid();
    if !rec.extras.is_empty() {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO archive_extra (archive_id, quantity, mean, min, max, n) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for (quantity, s) in &rec.extras {
            stmt.execute(params![
                id,
                &**quantity,
                finite(s.mean),
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
                f.first_at.secs(),
                f.message
            ])?;
        }
    }
    upsert_daily(conn, tz, rec)?;
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

/// Reads `start_ts, end_ts, VALUE_COLUMNS...` starting at column `at`.
fn read_record(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<ArchiveRecord> {
    let stat = |i: usize| -> rusqlite::Result<Stat> {
        Ok(Stat {
            mean: row.get(i)?,
            min: row.get(i + 1)?,
            max: row.get(i + 2)?,
            n: row.get(i + 3)?,
        })
    };
    let v = at + 2; // first value column
    Ok(ArchiveRecord {
        start: Timestamp::from_secs(row.get(at)?),
        end: Timestamp::from_secs(row.get(at + 1)?),
        samples: row.get(v)?,
        temperature_c: stat(v + 1)?,
        humidity_pct: stat(v + 5)?,
        pressure_hpa: stat(v + 9)?,
        ground_temperature_c: stat(v + 13)?,
        dew_point_c: row.get(v + 17)?,
        sea_level_pressure_hpa: row.get(v + 18)?,
        wind_speed_kmh: row.get(v + 19)?,
        wind_gust_kmh: row.get(v + 20)?,
        wind_dir_deg: row.get(v + 21)?,
        wind_n: row.get(v + 22)?,
        wind_dir_n: row.get(v + 23)?,
        rain_mm: row.get(v + 24)?,
        rain_rate_mm_per_h: row.get(v + 25)?,
        rain_n: row.get(v + 26)?,
        extras: Vec::new(),
        faults: Vec::new(),
        last_rain_tip: None,
    })
}

/// Sample-weighted mean, min and max of one quantity over several records.
#[derive(Default)]
struct StatAcc {
    sum: f64,
    n: i64,
    min: Option<f64>,
    max: Option<f64>,
}

fn opt_min(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

fn opt_max(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

impl StatAcc {
    fn add(&mut self, s: &Stat) {
        if let (Some(sum), n) = weighted(s.mean, s.n) {
            self.sum += sum;
            self.n += n;
        }
        self.min = opt_min(self.min, s.min);
        self.max = opt_max(self.max, s.max);
    }
    fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }
    fn cells(&self) -> [Value; 4] {
        [
            self.mean().into(),
            self.min.into(),
            self.max.into(),
            Value::Int(self.n),
        ]
    }
}

/// A plain mean over the records that have a value.
#[derive(Default)]
struct MeanAcc {
    sum: f64,
    n: i64,
}

impl MeanAcc {
    fn add(&mut self, v: Option<f64>) {
        if let Some(x) = v {
            self.sum += x;
            self.n += 1;
        }
    }
    fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }
}

/// One UTC hour of records.
#[derive(Default)]
struct HourAcc {
    records: i64,
    samples: i64,
    stats: [StatAcc; 4],
    dew_point: MeanAcc,
    sea_level_pressure: MeanAcc,
    wind: StatAcc,
    gust: Option<f64>,
    /// Wind direction as a vector sum, each record weighted by its mean speed and the
    /// samples that had a direction (the closest to a sample-level vector mean the
    /// archive allows).
    dir_x: f64,
    dir_y: f64,
    rain: Option<f64>,
    rain_rate: Option<f64>,
}

impl HourAcc {
    fn columns() -> Vec<String> {
        let mut c = vec![
            "start_utc".to_string(),
            "records".to_string(),
            "samples".to_string(),
        ];
        for (q, unit) in STATS {
            c.extend([
                format!("{q}_{unit}"),
                format!("{q}_min_{unit}"),
                format!("{q}_max_{unit}"),
            ]);
        }
        for name in [
            "dew_point_c",
            "sea_level_pressure_hpa",
            "wind_speed_kmh",
            "wind_gust_kmh",
            "wind_dir_deg",
            "rain_mm",
            "rain_rate_mm_per_h",
        ] {
            c.push(name.to_string());
        }
        c
    }

    fn add(&mut self, r: &ArchiveRecord) {
        self.records += 1;
        self.samples += i64::from(r.samples);
        for (acc, s) in self.stats.iter_mut().zip([
            &r.temperature_c,
            &r.humidity_pct,
            &r.pressure_hpa,
            &r.ground_temperature_c,
        ]) {
            acc.add(s);
        }
        self.dew_point.add(r.dew_point_c);
        self.sea_level_pressure.add(r.sea_level_pressure_hpa);
        self.wind.add(&Stat {
            mean: r.wind_speed_kmh,
            min: None,
            max: None,
            n: r.wind_n,
        });
        self.gust = opt_max(self.gust, r.wind_gust_kmh);
        if let (Some(dir), Some(speed)) = (r.wind_dir_deg, r.wind_speed_kmh) {
            let w = speed * f64::from(r.wind_dir_n);
            self.dir_x += w * dir.to_radians().sin();
            self.dir_y += w * dir.to_radians().cos();
        }
        if let Some(mm) = r.rain_mm {
            self.rain = Some(self.rain.unwrap_or(0.0) + mm);
        }
        self.rain_rate = opt_max(self.rain_rate, r.rain_rate_mm_per_h);
    }

    fn row(&self, hour: i64) -> Vec<Value> {
        let mut v = vec![
            Value::Text(Timestamp::from_secs(hour).rfc3339()),
            Value::Int(self.records),
            Value::Int(self.samples),
        ];
        for s in &self.stats {
            v.extend([s.mean().into(), s.min.into(), s.max.into()]);
        }
        // A vector sum this close to zero is calm (or perfectly opposed winds): no
        // direction, as for a single record.
        let dir = (self.dir_x.hypot(self.dir_y) > 1e-9)
            .then(|| self.dir_x.atan2(self.dir_y).to_degrees().rem_euclid(360.0));
        v.extend([
            self.dew_point.mean().into(),
            self.sea_level_pressure.mean().into(),
            self.wind.mean().into(),
            self.gust.into(),
            dir.into(),
            self.rain.into(),
            self.rain_rate.into(),
        ]);
        v
    }
}

fn open_error(path: &Path, message: impl ToString) -> StoreError {
    StoreError::Open {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

fn foreign(path: &Path, reason: impl Into<String>) -> StoreError {
    StoreError::Foreign {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Looks at the file without SQLite, which would create a missing file and would
/// accept a directory path only to fail later with a vaguer message.
fn inspect_file(path: &Path) -> Result<FileKind, StoreError> {
    use std::io::Read;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileKind::Missing),
        Err(e) => return Err(open_error(path, format!("cannot access: {e}"))),
    };
    if meta.is_dir() {
        return Err(open_error(path, "is a directory, not a database file"));
    }
    if meta.len() == 0 {
        return Ok(FileKind::Empty);
    }
    let mut header = [0u8; 16];
    let mut file =
        std::fs::File::open(path).map_err(|e| open_error(path, format!("cannot read: {e}")))?;
    let read = file
        .read(&mut header)
        .map_err(|e| open_error(path, format!("cannot read: {e}")))?;
    if read < header.len() || &header != SQLITE_MAGIC {
        return Err(foreign(path, "the file is not an SQLite database"));
    }
    Ok(FileKind::Sqlite)
}

/// Checks that the database is ours (or brand new) and returns its schema version.
/// Reads only.
fn identify(conn: &Connection, path: &Path) -> Result<i64, StoreError> {
    let read = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => {
            foreign(path, "the file is not an SQLite database")
        }
        _ => open_error(path, e),
    };
    let app_id: i32 = conn
        .query_row("PRAGMA application_id", [], |row| row.get(0))
        .map_err(read)?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(read)?;
    let objects: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
        .map_err(read)?;
    if app_id != 0 && app_id != APPLICATION_ID {
        return Err(foreign(
            path,
            format!("application_id is {app_id:#010x}, weatherd's is {APPLICATION_ID:#010x}"),
        ));
    }
    if app_id == 0 && (objects > 0 || version != 0) {
        return Err(foreign(
            path,
            "it has content but no weatherd application_id",
        ));
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version == 0 && objects > 0 {
        return Err(foreign(path, "it has tables but no schema version"));
    }
    Ok(version)
}

fn migrate(conn: &mut Connection, path: &Path, from: i64) -> Result<(), StoreError> {
    for (step, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(from).unwrap_or(usize::MAX))
    {
        let version = step as i64 + 1;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)
            .map_err(|e| open_error(path, format!("upgrading to schema version {version}: {e}")))?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        tracing::info!(path = %path.display(), version, "database schema created/upgraded");
    }
    Ok(())
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

    #[test]
    fn utc_text_matches_chrono() {
        let mut secs = -86_400 * 366;
        while secs < 4_102_444_800 {
            assert_eq!(
                utc_text(secs),
                Timestamp::from_secs(secs).rfc3339(),
                "{secs}"
            );
            secs += 86_399 * 7 + 3_601;
        }
        assert_eq!(utc_text(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_text(1_767_225_599), "2025-12-31T23:59:59Z");
    }

    #[test]
    fn ceil_secs_rounds_up_only_fractions() {
        assert_eq!(ceil_secs(Timestamp::from_secs(10)), 10);
        assert_eq!(ceil_secs(Timestamp::from_secs(10).add_nanos(1)), 11);
        assert_eq!(ceil_secs(Timestamp::from_secs(-10).add_nanos(1)), -9);
    }

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

    #[test]
    fn fault_kinds_round_trip_by_name() {
        for k in [
            FaultKind::ReadError,
            FaultKind::Timeout,
            FaultKind::Busy,
            FaultKind::OutOfRange,
        ] {
            assert_eq!(fault_kind(k.name()), Some(k));
        }
        assert_eq!(fault_kind("gremlins"), None);
    }

    #[test]
    fn hour_direction_is_a_vector_mean() {
        let mut h = HourAcc::default();
        for dir in [350.0, 10.0] {
            h.add(&ArchiveRecord {
                start: Timestamp::from_secs(0),
                end: Timestamp::from_secs(60),
                wind_speed_kmh: Some(10.0),
                wind_dir_deg: Some(dir),
                wind_n: 12,
                wind_dir_n: 12,
                ..Default::default()
            });
        }
        let row = h.row(0);
        let col = HourAcc::columns()
            .iter()
            .position(|c| c == "wind_dir_deg")
            .unwrap();
        let Value::Real(d) = row[col] else {
            panic!("no direction: {:?}", row[col])
        };
        assert!(d.min(360.0 - d) < 1e-6, "{d}");
    }
}
