//! The store: the only owner of the SQLite database.
//!
//! It creates the database from `schema.sql`, migrates it by `PRAGMA user_version`,
//! refuses files that are not weatherd databases without touching them, writes one
//! transaction per archive record, and answers queries.

use crate::record::{ArchiveRecord, Resume};
use crate::time::Timestamp;
use std::path::{Path, PathBuf};

pub const SCHEMA_SQL: &str = include_str!("../schema.sql");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("{path}: not a weatherd database ({reason}); it was left untouched")]
    Foreign { path: PathBuf, reason: String },
    #[error("{path}: written by a newer weatherd (schema version {found}, this one knows up to {supported}); it was left untouched")]
    TooNew { path: PathBuf, found: i64, supported: i64 },
    #[error("record {start} starts before the newest stored record ends ({last_end}); not written")]
    Overlap { start: Timestamp, last_end: Timestamp },
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

/// A query result: column names (with units) and rows.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

pub struct Store {
    conn: rusqlite::Connection,
    tz: chrono_tz::Tz,
}

impl Store {
    /// Opens (creating or migrating) the database for writing.
    pub fn open(path: &Path, tz: chrono_tz::Tz) -> Result<Store, StoreError> {
        let _ = (path, tz);
        todo!()
    }

    /// Opens an existing database read-only (for `query`); never creates or migrates.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let _ = path;
        todo!()
    }

    /// Writes one record (row, extras, faults, daily summary, rain state) in one
    /// transaction and returns its id.
    pub fn insert(&mut self, rec: &ArchiveRecord) -> Result<i64, StoreError> {
        let _ = (rec, &self.conn, self.tz);
        todo!()
    }

    /// Where the stored history ends.
    pub fn resume(&self) -> Result<Resume, StoreError> {
        todo!()
    }

    pub fn query(&self, from: Option<Timestamp>, to: Option<Timestamp>, every: Every) -> Result<Table, StoreError> {
        let _ = (from, to, every);
        todo!()
    }
}
