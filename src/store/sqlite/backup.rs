//! Copies of the database file: taken while the service runs, and put back.

use std::path::Path;
use std::time::Duration;

use rusqlite::backup::Backup;
use rusqlite::{Connection, OpenFlags};

use super::{DB_FILE, open_connection, schema};

/// Writes a consistent copy of the database in `data_dir` to `out` (which must not exist yet),
/// while servers go on reading and writing: the copy is one read transaction's view.
pub fn backup(data_dir: &Path, out: &Path) -> Result<(), String> {
    if out.exists() {
        return Err(format!(
            "{} exists already; choose a new file",
            out.display()
        ));
    }
    let source = data_dir.join(DB_FILE);
    if !source.exists() {
        return Err(format!("no database in {}", data_dir.display()));
    }
    // Not query_only: VACUUM INTO writes (the copy), though never the source.
    let conn = open_connection(&source, false).map_err(|e| e.to_string())?;
    let target = out.to_str().ok_or("the backup's path is not UTF-8")?;
    conn.execute("VACUUM INTO ?1", [target])
        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    check(out).map(drop)
}

/// Replaces the database in `data_dir` with the copy in `from`, after checking the copy. The
/// replacement is one transaction on the live file: a server still running sees the old data
/// or the new, never a mix (stop servers first anyway, so nobody writes to the old data).
pub fn restore(data_dir: &Path, from: &Path) -> Result<(), String> {
    check(from)?;
    std::fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let copy = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| e.to_string())?;
    let mut live = open_connection(&data_dir.join(DB_FILE), false).map_err(|e| e.to_string())?;
    // All pages in one step: the copy lands as one transaction on the live file.
    Backup::new(&copy, &mut live)
        .and_then(|backup| backup.run_to_completion(i32::MAX, Duration::ZERO, None))
        .map_err(|e| format!("cannot restore: {e}"))?;
    // A copy from an older checkoff is brought up to date like any database at start.
    schema::migrate(&mut live)
}

/// Whether `file` is a sound checkoff database: SQLite's integrity check passes and its schema
/// is one this checkoff knows. Returns its schema version.
fn check(file: &Path) -> Result<i64, String> {
    let conn = Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("cannot open {}: {e}", file.display()))?;
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .map_err(|e| format!("{} is not an SQLite database: {e}", file.display()))?;
    if verdict != "ok" {
        return Err(format!("{} is damaged: {verdict}", file.display()));
    }
    let has_users: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'users'",
            [],
            |row| row.get(0),
        )
        .map_err(|e| e.to_string())?;
    if !has_users {
        return Err(format!("{} is not a checkoff database", file.display()));
    }
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| e.to_string())?;
    schema::check_version(version)?;
    Ok(version)
}
