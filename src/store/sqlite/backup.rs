//! Copies of the database file: taken while the service runs, and put back.

use std::path::Path;
use std::time::Duration;

use rusqlite::backup::Backup;
use rusqlite::{Connection, OpenFlags};

use super::{DB_FILE, open_connection, schema};

/// Writes a consistent copy of the database in `data_dir` to `out` (which must not exist yet),
/// while servers go on reading and writing: the copy is one read transaction's view.
pub fn backup(data_dir: &Path, out: &Path) -> Result<(), String> {
    let source = data_dir.join(DB_FILE);
    if !source.exists() {
        return Err(format!("no database in {}", data_dir.display()));
    }
    let target = out.to_str().ok_or("the backup's path is not UTF-8")?;
    // It holds password hashes: made empty and private before SQLite writes a byte into it
    // (VACUUM INTO fills an empty file and keeps its mode).
    crate::files::create_private_file(out).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            format!("{} exists already; choose a new file", out.display())
        }
        _ => format!("cannot create {}: {e}", out.display()),
    })?;
    let copied = (|| {
        // Not query_only: VACUUM INTO writes (the copy), though never the source.
        let conn = open_connection(&source, false).map_err(|e| e.to_string())?;
        conn.execute("VACUUM INTO ?1", [target])
            .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
        check(out).map(drop)
    })();
    if copied.is_err() {
        // What is there is ours and unfinished: leave the name free for the next try.
        let _ = std::fs::remove_file(out);
    }
    copied
}

/// The file `serve` holds a shared lock on while it uses a data dir; `restore` needs it alone.
const SERVING_LOCK: &str = "serving.lock";

/// Marks `data_dir` as in use by a server for as long as the returned file is open.
pub fn hold_while_serving(data_dir: &Path) -> Result<std::fs::File, String> {
    lock(data_dir, libc::LOCK_SH).map_err(|e| format!("cannot lock {}: {e}", data_dir.display()))
}

fn lock(data_dir: &Path, how: i32) -> std::io::Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    // `serve` comes here first: this is where its data dir is made.
    crate::files::create_private_dir(data_dir)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(data_dir.join(SERVING_LOCK))?;
    // SAFETY: flock on a descriptor this function owns; released when the file closes.
    if unsafe { libc::flock(file.as_raw_fd(), how | libc::LOCK_NB) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(file)
}

/// Replaces the database in `data_dir` with the copy in `from`, after checking the copy and
/// that no server is using the data dir. The replacement is one transaction on the file; what
/// it replaces is kept beside it first (`checkoff.db.before-restore-<time>`), whose path is
/// returned.
pub fn restore(data_dir: &Path, from: &Path) -> Result<Option<std::path::PathBuf>, String> {
    check(from)?;
    let _alone = lock(data_dir, libc::LOCK_EX).map_err(|_| {
        format!(
            "a checkoff server is using {}; stop it first, then restore",
            data_dir.display()
        )
    })?;
    let path = data_dir.join(DB_FILE);
    let kept = if path.exists() {
        let stamp = crate::domain::Timestamp::now()
            .to_string()
            .replace(':', "-");
        let kept = data_dir.join(format!("{DB_FILE}.before-restore-{stamp}"));
        backup(data_dir, &kept)
            .map_err(|e| format!("cannot keep the database it would replace: {e}"))?;
        Some(kept)
    } else {
        None
    };
    crate::files::prepare_private_database(&path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let copy = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| e.to_string())?;
    let mut live = open_connection(&path, false).map_err(|e| e.to_string())?;
    // All pages in one step: the copy lands as one transaction on the live file.
    Backup::new(&copy, &mut live)
        .and_then(|backup| backup.run_to_completion(i32::MAX, Duration::ZERO, None))
        .map_err(|e| format!("cannot restore: {e}"))?;
    // A copy from an older checkoff is brought up to date like any database at start.
    schema::migrate(&mut live)?;
    Ok(kept)
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// A checkoff database big enough that copying it takes a while.
    fn big_database(data_dir: &Path) {
        drop(super::super::SqliteStore::open(data_dir).unwrap());
        let conn = open_connection(&data_dir.join(DB_FILE), false).unwrap();
        conn.execute_batch(
            "CREATE TABLE filler (b BLOB); \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 64) \
             INSERT INTO filler SELECT randomblob(256 * 1024) FROM n;",
        )
        .unwrap();
    }

    #[test]
    fn a_backup_is_never_readable_by_others_not_even_while_it_is_written() {
        let dir = tempfile::tempdir().unwrap();
        big_database(dir.path());
        let out = dir.path().join("copy.db");

        let done = AtomicBool::new(false);
        let modes_seen = std::thread::scope(|scope| {
            let watcher = scope.spawn(|| {
                let mut seen = std::collections::BTreeSet::new();
                while !done.load(Ordering::Acquire) {
                    if let Ok(meta) = std::fs::metadata(&out) {
                        seen.insert(format!("{:o}", meta.permissions().mode() & 0o777));
                    }
                }
                seen
            });
            let copied = backup(dir.path(), &out);
            done.store(true, Ordering::Release);
            copied.unwrap();
            watcher.join().unwrap()
        });

        assert_eq!(modes_seen.into_iter().collect::<Vec<_>>(), ["600"]);
    }

    #[test]
    fn a_backup_never_replaces_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        drop(super::super::SqliteStore::open(dir.path()).unwrap());
        let out = dir.path().join("precious");
        std::fs::write(&out, b"keep me").unwrap();

        let refused = backup(dir.path(), &out).unwrap_err();

        assert!(refused.contains("exists already"), "{refused}");
        assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    }
}
