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
//! Checkpoints run at SQLite's default cadence (the log reaches 1000 pages, hours of
//! records at one a minute), which writes each hot page (the newest archive leaf, the
//! day's summary rows) to the main file once per checkpoint rather than once per
//! record.
//!
//! # SD wear
//!
//! A commit costs the pages it changed, appended to the log, and the kernel writes
//! whole 4 KiB file pages. So a record's commit changes as few pages as possible: the
//! archive's newest leaf (and, as it fills, a new leaf with its parent and the file
//! header), small pages ([`NEW_DATABASE_PAGE_SIZE`]), no index on `start_ts` (see
//! `migrate`), and the daily tables folded in hourly rather than with every record
//! (see `fold`). docs/benchmarks.md has the measurements.
//!
//! # Concurrent readers
//!
//! Students read the file with `sqlite3` while the daemon writes. WAL lets readers and
//! the writer proceed together; a `busy_timeout` makes the rare moments where one must
//! wait (checkpoints, schema changes) wait instead of failing with "database is locked".
//! The writer waits at most [`WRITE_BUSY_TIMEOUT`]; a record it cannot write then (or on
//! a full disk) is kept and retried by the station, never dropped on the first refusal.
//!
//! # Rooms
//!
//! - `mod.rs` (here): the handles, opening, identifying and migrating the file, pragmas.
//! - `archive`: writing records. `daily`: the daily summaries. `fold`: when records
//!   reach them, and what readers see meanwhile. `migrate`: migration steps written in
//!   code. `outbox`: upload cursors,
//!   batches in flight and destination states. `query`: reading tables back.
//!   `row`: the archive's value columns and how a record maps to them. `hourly`: the
//!   hourly accumulators. `report`: the store report file next to the database.
//!
//! # Handles
//!
//! SQLite stays in here; the rest of weatherd holds one of three handles, each able to
//! do only its job:
//!
//! - [`Store`]: the station's writer. It creates and migrates the database and writes
//!   records; it also reads (it dereferences to a [`Reader`] on its own connection).
//! - [`Reader`]: `query` and `status`, on a read-only connection that never creates,
//!   migrates or writes.
//! - [`Outbox`]: one per uploader. It reads batches after a cursor and records cursors,
//!   batches in flight and states; it cannot write records or migrate (it opens only a
//!   database already at this build's schema, which the station's `Store` made so).

use crate::time::{Timestamp, NANOS_PER_SEC};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::Duration;

mod archive;
mod daily;
mod daily_extra;
mod fold;
mod hourly;
mod migrate;
mod outbox;
mod query;
mod rain_windows;
mod report;
mod row;

pub use daily::local_date;
pub use daily_extra::{DailyRow, DayStat};
pub use outbox::{UploadStatus, UPLOAD_STATE_OK};
pub use query::{Every, SensorFaults, Table, Value};
pub use rain_windows::RAIN_WINDOW_COLUMNS;
pub use report::{PendingReport, PendingState};

pub const SCHEMA_SQL: &str = include_str!("../../schema.sql");

/// `PRAGMA application_id` of every weatherd database: 'WTHR' in ASCII.
pub const APPLICATION_ID: i32 = 0x5754_4852;

/// The migration steps, in order: step `i` takes a database from schema version `i` to
/// `i + 1`, in one transaction. A new schema version appends a step here (and never
/// edits an old one: databases in the field were created by it). Step 0 is
/// `schema.sql`, which always describes the NEWEST schema: a new database is created
/// by it alone, at [`SCHEMA_VERSION`]; the later steps only upgrade older files.
const MIGRATIONS: &[Step] = &[
    Step::sql(SCHEMA_SQL),
    // 1 → 2: times of the daily extremes, `daily_extra` (refilled on open).
    Step::sql(include_str!("v2_daily_times.sql")),
    // 2 → 3: derived values (altimeter, heat index, wind chill, apparent temperature)
    // and the `spike` fault kind.
    Step::sql(include_str!("v3_derived_and_spike.sql")),
    // 3 → 4: how each extra quantity folds (`kind`), and its value whatever the kind.
    Step::sql(include_str!("v4_extra_kinds.sql")),
    // 4 → 5: fewer pages per record: the daily tables folded hourly, and `archive`
    // rebuilt without the `start_ts` index.
    Step {
        sql: include_str!("v5_fewer_pages_per_record.sql"),
        then: Some(migrate::archive_without_start_index),
    },
];

/// One migration step: its SQL, then, where SQL cannot say it from what the file
/// holds, code (in the same transaction).
struct Step {
    sql: &'static str,
    then: Option<fn(&rusqlite::Connection) -> rusqlite::Result<()>>,
}

impl Step {
    const fn sql(sql: &'static str) -> Step {
        Step { sql, then: None }
    }
}

/// The page size of a database weatherd creates, in bytes (SQLite's default: 4096;
/// 512 is its smallest).
///
/// SD wear: with `synchronous=FULL` every commit appends each page it changed to the
/// write-ahead log as one frame (page + 24 bytes) and syncs it, and the kernel writes
/// the log in 4 KiB file pages: a commit costs the file pages its frames touch (the one
/// the last commit ended in, again, and those after). A record changes the archive's
/// newest leaf, and when that is full a new leaf, its parent and the file header; a
/// leaf of 512 bytes holds two one-minute records. Measured with `scripts/bench --only
/// 3` (one simulated day, three runs, 2026-11-30, after the daily tables left the
/// record's commit and `start_ts` its index): 5.66 kB written per record with 512-byte
/// pages, 6.13 kB with 1024, 6.8 kB with 2048 (`--short`). Queries read more, smaller
/// pages (the ten-year database is 7 % larger); the daily tables are ordinary tables
/// so their rows stay whole on a 512-byte page (schema.sql). Databases created before
/// keep their page size (docs/benchmarks.md says how to convert one).
pub const NEW_DATABASE_PAGE_SIZE: i64 = 512;

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
    Sqlite(SqliteError),
}

/// An error SQLite reported. Opaque, so that SQLite stays private to the store: ask
/// it what kind it is with the methods below.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct SqliteError(rusqlite::Error);

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(SqliteError(e))
    }
}

impl StoreError {
    /// The database refused the write by a constraint (e.g. a duplicate start time):
    /// the record itself is refused, and retrying it cannot help.
    pub fn is_constraint_violation(&self) -> bool {
        matches!(self, StoreError::Sqlite(SqliteError(e))
            if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation))
    }

    /// A value read back is not what weatherd writes (hand-edited, or damaged):
    /// retrying will not help until the row is fixed, unlike a busy or full database.
    pub fn is_bad_data(&self) -> bool {
        use rusqlite::Error as E;
        matches!(
            self,
            StoreError::Corrupt { .. }
                | StoreError::Sqlite(SqliteError(
                    E::InvalidColumnType(..)
                        | E::FromSqlConversionFailure(..)
                        | E::IntegralValueOutOfRange(..)
                        | E::Utf8Error(..)
                ))
        )
    }
}

/// Non-finite numbers are not measurements: store them as NULL (SQLite would turn a
/// NaN into NULL anyway, but keep infinities out too).
fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
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

/// What is at the path before SQLite gets to see it.
enum FileKind {
    Missing,
    Empty,
    Sqlite,
}

/// One open connection and what every handle knows about it.
struct Db {
    conn: Connection,
    /// The station time zone the daily summaries are computed in.
    tz: chrono_tz::Tz,
    path: PathBuf,
    /// The open days' temporary rows (see `fold`), and for which `(daily_through_id,
    /// newest id)` and first open date they were built.
    tail: std::cell::RefCell<Option<((i64, i64), String)>>,
}

impl Db {
    fn corrupt(&self, message: String) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            message,
        }
    }

    /// Opens an existing weatherd database at this build's schema version, without
    /// creating or migrating anything (`Reader` and `Outbox`).
    fn open_existing(path: &Path, flags: OpenFlags, busy: Duration) -> Result<Db, StoreError> {
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
        let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(|e| open_error(path, e))?;
        conn.busy_timeout(busy).map_err(|e| open_error(path, e))?;
        memory_temp_store(&conn).map_err(|e| open_error(path, e))?;
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
        let mut db = Db {
            conn,
            tz: chrono_tz::UTC,
            path: path.to_path_buf(),
            tail: Default::default(),
        };
        if let Some(tz) = db.stored_time_zone()? {
            db.tz = tz;
        }
        Ok(db)
    }
}

/// A read-only handle: what `query` and `status` use. Its connection is opened
/// read-only, so nothing through it can change the database, and it has no method
/// that writes:
///
/// ```compile_fail
/// # fn f(reader: &mut weatherd::store::Reader, rec: &weatherd::record::ArchiveRecord) {
/// reader.insert(rec).unwrap();
/// # }
/// ```
///
/// ```compile_fail
/// # fn f(reader: &mut weatherd::store::Reader, at: weatherd::time::Timestamp) {
/// reader.ack_upload("school", 1, at).unwrap();
/// # }
/// ```
pub struct Reader {
    db: Db,
}

/// The station's handle: creates and migrates the database and writes records. It
/// reads through [`Reader`]'s methods on its own connection.
pub struct Store {
    reader: Reader,
    /// The rain tip as stored in `state`, so it is written only when it changes.
    last_rain_tip: Option<Timestamp>,
    /// The newest record folded into the daily tables (`state.daily_through_id`).
    daily_through: i64,
}

/// An uploader's handle (see the `outbox` room): it reads batches after a cursor and
/// records cursors, batches in flight and states, and nothing else. It cannot write a
/// record (the station's [`Store`] can):
///
/// ```
/// # fn f(store: &mut weatherd::store::Store, rec: &weatherd::record::ArchiveRecord) {
/// store.insert(rec).unwrap();
/// # }
/// ```
///
/// ```compile_fail
/// # fn f(outbox: &mut weatherd::store::Outbox, rec: &weatherd::record::ArchiveRecord) {
/// outbox.insert(rec).unwrap();
/// # }
/// ```
///
/// ```
/// # fn f(outbox: &mut weatherd::store::Outbox, at: weatherd::time::Timestamp) {
/// outbox.ack_upload("school", 1, at).unwrap();
/// # }
/// ```
pub struct Outbox {
    db: Db,
}

/// A writer can read everything a reader can, on its own connection (a record just
/// written is visible at once, as tests and the station's resume rely on).
impl std::ops::Deref for Store {
    type Target = Reader;
    fn deref(&self) -> &Reader {
        &self.reader
    }
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("path", &self.path)
            .field("tz", &self.tz)
            .finish()
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("db", &self.reader.db)
            .finish()
    }
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("db", &self.db).finish()
    }
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("db", &self.db).finish()
    }
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
        let conn = &self.reader.db.conn;
        conn.pragma_update(None, "synchronous", level)?;
        conn.pragma_update(None, "wal_autocheckpoint", checkpoint_pages)?;
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
        memory_temp_store(&conn).map_err(|e| open_error(path, e))?;
        // Identify before anything below writes (setting WAL rewrites the header).
        let version = identify(&conn, path)?;
        if conn.is_readonly(rusqlite::DatabaseName::Main)? {
            return Err(open_error(
                path,
                "the file is not writable (check its owner and permissions)",
            ));
        }
        if matches!(kind, FileKind::Missing) {
            // Before the first table, and before WAL mode: afterwards the page size
            // of a database is fixed (only a VACUUM outside WAL mode changes it).
            conn.pragma_update(None, "page_size", NEW_DATABASE_PAGE_SIZE)
                .map_err(|e| open_error(path, e))?;
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
        write_pragmas(&conn)?;
        migrate(&mut conn, path, version)?;

        let db = Db {
            conn,
            tz,
            path: path.to_path_buf(),
            tail: Default::default(),
        };
        let last_rain_tip = db.stored_rain_tip()?;
        let mut store = Store {
            reader: Reader { db },
            last_rain_tip,
            daily_through: 0,
        };
        store.adopt_time_zone()?;
        store.catch_up_daily()?;
        Ok(store)
    }

    /// Opens an existing database read-only (for `query` and `status`); never creates
    /// or migrates.
    pub fn open_read_only(path: &Path) -> Result<Reader, StoreError> {
        let db = Db::open_existing(path, OpenFlags::SQLITE_OPEN_READ_ONLY, BUSY_TIMEOUT)?;
        Ok(Reader { db })
    }

    /// Opens an uploader's handle on an existing database at this build's schema (the
    /// station opens its [`Store`], which creates and migrates it, before it starts
    /// the uploaders).
    pub fn open_outbox(path: &Path) -> Result<Outbox, StoreError> {
        let db = Db::open_existing(path, OpenFlags::SQLITE_OPEN_READ_WRITE, WRITE_BUSY_TIMEOUT)?;
        write_pragmas(&db.conn)?;
        Ok(Outbox { db })
    }
}

/// Temporary tables (a reader's open days, see `fold`) in memory, not in a file
/// under /var/tmp on the SD card.
fn memory_temp_store(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "temp_store", "MEMORY")
}

/// The pragmas of every connection that writes: a committed cursor or record survives
/// a power cut (see "Durability" above).
fn write_pragmas(conn: &Connection) -> Result<(), StoreError> {
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(())
}

impl Reader {
    pub fn path(&self) -> &Path {
        &self.db.path
    }

    /// This connection's `synchronous` setting by name (`OFF`, `NORMAL`, `FULL`,
    /// `EXTRA`): what a commit costs and survives (see "Durability" above).
    pub fn synchronous(&self) -> Result<&'static str, StoreError> {
        let level: i64 = self
            .db
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
            .db
            .conn
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))?)
    }

    /// The station time zone the daily summaries are computed in.
    pub fn time_zone(&self) -> chrono_tz::Tz {
        self.db.tz
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
    for (step, migration) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(from).unwrap_or(usize::MAX))
    {
        // schema.sql creates the newest schema in one step.
        let version = if step == 0 {
            SCHEMA_VERSION
        } else {
            step as i64 + 1
        };
        let failed = |e: rusqlite::Error| {
            open_error(path, format!("upgrading to schema version {version}: {e}"))
        };
        // A step may rebuild a table: with foreign keys on, dropping the old copy
        // would delete the rows that refer to it (ON DELETE CASCADE), and renaming it
        // would point those references, and the views, at the old copy. Both pragmas
        // are no-ops inside a transaction, so they are set around it, and the keys are
        // checked before anything else runs.
        conn.pragma_update(None, "foreign_keys", false)?;
        conn.pragma_update(None, "legacy_alter_table", true)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(migration.sql).map_err(failed)?;
        if let Some(then) = migration.then {
            then(&tx).map_err(failed)?;
        }
        tx.pragma_update(None, "user_version", version)?;
        let broken: Option<String> = tx
            .query_row("PRAGMA foreign_key_check", [], |row| row.get(0))
            .optional()?;
        if let Some(table) = broken {
            return Err(open_error(
                path,
                format!("upgrading to schema version {version}: a row of `{table}` lost the record it belongs to; not upgraded"),
            ));
        }
        tx.commit()?;
        conn.pragma_update(None, "legacy_alter_table", false)?;
        conn.pragma_update(None, "foreign_keys", true)?;
        tracing::info!(path = %path.display(), version, "database schema created/upgraded");
        if step == 0 {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceil_secs_rounds_up_only_fractions() {
        assert_eq!(ceil_secs(Timestamp::from_secs(10)), 10);
        assert_eq!(ceil_secs(Timestamp::from_secs(10).add_nanos(1)), 11);
        assert_eq!(ceil_secs(Timestamp::from_secs(-10).add_nanos(1)), -9);
    }
}
