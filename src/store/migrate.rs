//! Migration steps SQL alone cannot write, because they start from what a file holds
//! (its own `CREATE TABLE` text, as written by whichever version created it).

use rusqlite::Connection;

/// 4 → 5: `archive` without the UNIQUE index on `start_ts`.
///
/// Why: the index is a second B-tree, so each record's commit wrote its newest leaf
/// as well as the table's: one page of the three a record cost on the SD card. The
/// writer already refuses a record that starts before the newest one ends, so start
/// times stay unique and grow with the id; readers find a time range by a binary
/// search over ids (`Db::id_at`) instead of the index.
///
/// SQLite cannot drop a column constraint, so the table is rebuilt: the old one
/// renamed away, the new one created from the old one's own text minus `UNIQUE`, every
/// row copied with its id (`archive_extra`, `fault` and the upload cursors refer to
/// ids), the old one dropped. `migrate` runs this with foreign keys off and
/// `legacy_alter_table` on, so neither the references nor the views follow the
/// renamed copy, and checks the keys before committing.
pub(super) fn archive_without_start_index(tx: &Connection) -> rusqlite::Result<()> {
    let ddl: String = tx.query_row(
        "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'archive'",
        [],
        |row| row.get(0),
    )?;
    let new = without_start_unique(&ddl).ok_or_else(|| {
        rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(format!(
                "`archive` is not defined as weatherd defined it (no `start_ts ... UNIQUE`): {ddl}"
            )),
        )
    })?;
    tx.execute_batch("ALTER TABLE archive RENAME TO archive_v4")?;
    tx.execute_batch(&new)?;
    tx.execute_batch("INSERT INTO archive SELECT * FROM archive_v4; DROP TABLE archive_v4;")?;
    Ok(())
}

/// The `start_ts` column's definition without its `UNIQUE`; `None` when there is no
/// such column or it is not unique.
fn without_start_unique(ddl: &str) -> Option<String> {
    let column = ddl.find("start_ts")?;
    let end = column + ddl[column..].find(',')?;
    let definition = &ddl[column..end];
    let unique = definition.to_ascii_uppercase().find("UNIQUE")?;
    let at = column + unique;
    Some(format!(
        "{}{}",
        ddl[..at].trim_end_matches(' '),
        &ddl[at + "UNIQUE".len()..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_start_ts_loses_its_unique() {
        let ddl = "CREATE TABLE archive (\n    id INTEGER PRIMARY KEY,\n    start_ts                  INTEGER NOT NULL UNIQUE,\n    end_ts INTEGER NOT NULL,\n    CHECK (end_ts > start_ts)\n)";
        assert_eq!(
            without_start_unique(ddl).as_deref(),
            Some("CREATE TABLE archive (\n    id INTEGER PRIMARY KEY,\n    start_ts                  INTEGER NOT NULL,\n    end_ts INTEGER NOT NULL,\n    CHECK (end_ts > start_ts)\n)")
        );
        assert_eq!(without_start_unique("CREATE TABLE archive (id INTEGER PRIMARY KEY, start_ts INTEGER NOT NULL, end_ts INTEGER UNIQUE)"), None);
    }
}
