//! A temporary database and the handles the station and the uploaders hold on it.

use super::records::record;
use std::path::{Path, PathBuf};
use weatherd::record::ArchiveRecord;
use weatherd::store::{Outbox, Store};

/// A fresh temporary directory and a database path inside it (not created yet); the
/// directory, and so the database, goes when the `TempDir` drops.
pub fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("weather.db");
    (dir, path)
}

/// The station's handle (creates and migrates the database), station time UTC.
pub fn open(path: &Path) -> Store {
    Store::open(path, chrono_tz::UTC).expect("open store")
}

/// An uploader's handle on a database `open` already created.
pub fn outbox(path: &Path) -> Outbox {
    Store::open_outbox(path).expect("open outbox")
}

/// Appends records `from..to` (indices as in [`record`]) and returns their ids.
pub fn fill(store: &mut Store, from: i64, to: i64) -> Vec<i64> {
    let recs: Vec<ArchiveRecord> = (from..to).map(record).collect();
    store.insert_batch(&recs).expect("insert")
}

/// A fresh temporary directory (for a test that names its own files in it).
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Rows in the archive of the database at `db`, read without writing (0 while the
/// file or its tables do not exist yet, so a test can poll a starting daemon).
pub fn count_rows(db: &Path) -> usize {
    if !db.exists() {
        return 0;
    }
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.query_row("SELECT count(*) FROM archive", [], |r| r.get::<_, i64>(0)))
        .map_or(0, |n| n as usize)
}

/// Every row `sql` returns on `conn`, each column as SQLite's own value (for comparing
/// databases, or a table with what a query shows).
pub fn sql_rows(conn: &rusqlite::Connection, sql: &str) -> Vec<Vec<rusqlite::types::Value>> {
    let mut stmt = conn.prepare(sql).expect("prepare");
    let n = stmt.column_count();
    stmt.query_map([], |r| (0..n).map(|i| r.get(i)).collect())
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// The column names of a table or view, in order.
pub fn sql_columns(conn: &rusqlite::Connection, table: &str) -> Vec<String> {
    sql_rows(
        conn,
        &format!("SELECT name FROM pragma_table_info('{table}')"),
    )
    .into_iter()
    .map(|r| match &r[0] {
        rusqlite::types::Value::Text(t) => t.clone(),
        v => panic!("a column name is {v:?}"),
    })
    .collect()
}
