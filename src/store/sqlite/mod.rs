//! The embedded store: one SQLite file in the data dir, WAL, `synchronous=FULL`. Each role of
//! the store is in its own file ([`users`], [`sessions`], [`todos`], [`guard`]); this one opens
//! the file and holds what they share.

mod allocator;
mod backup;
mod commit_watch;
mod error;
mod guard;
mod lists;
mod readers;
mod rows;
mod schema;
mod search_index;
mod sessions;
mod sync;
mod todos;
mod users;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, Row};

use self::commit_watch::CommitWatch;
use self::error::from_sqlite;
use self::readers::Readers;
use self::writer::Writer;
use super::{ChangeClock, Store, StoreError, StoreResult};

pub use self::allocator::use_global_allocator;
pub use self::backup::{backup, hold_while_serving, restore};

pub const DB_FILE: &str = "checkoff.db";

/// How long a connection waits for another (another process) to let go of a lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub struct SqliteStore {
    writer: Writer,
    readers: Readers,
    clock: Arc<ChangeClock>,
    /// Asked before every kept profile is served whether anyone has committed; told by the
    /// writer which commits are its own.
    commits: Arc<CommitWatch>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database in `data_dir` and brings its schema up to date.
    pub fn open(data_dir: &Path) -> StoreResult<Self> {
        crate::files::create_private_dir(data_dir).map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot create data dir {}: {e}",
                data_dir.display()
            ))
        })?;
        let path: PathBuf = data_dir.join(DB_FILE);
        crate::files::prepare_private_database(&path).map_err(|e| {
            StoreError::Unavailable(format!("cannot create {}: {e}", path.display()))
        })?;
        let mut conn = open_connection(&path, false).map_err(from_sqlite)?;
        schema::migrate(&mut conn).map_err(StoreError::Internal)?;
        let clock = Arc::new(ChangeClock::default());
        let watch = open_connection(&path, true).map_err(from_sqlite)?;
        let commits = Arc::new(CommitWatch::new(watch).map_err(from_sqlite)?);
        let writer = Writer::start(conn, Arc::clone(&clock), Arc::clone(&commits))
            .map_err(|e| StoreError::Internal(format!("cannot start the writer: {e}")))?;
        Ok(Self {
            commits,
            writer,
            readers: Readers::new(path),
            clock,
        })
    }
}

impl Drop for SqliteStore {
    /// The log folded into the database file first (`writer::fold_log`): a clean stop of the
    /// server or the end of a command leaves every write in `checkoff.db` itself.
    fn drop(&mut self) {
        self.writer.fold_log();
    }
}

pub(super) fn open_connection(path: &Path, read_only: bool) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: in WAL mode only this fsyncs at every commit, so a 2xx means the write is on disk.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // 1 MiB of page cache per connection (SQLite's default is 2 MiB): hot pages stay, the OS page
    // cache holds the rest, and a few connections do not add up to the service's memory budget.
    conn.pragma_update(None, "cache_size", -1024)?;
    // A stable plan per statement: otherwise SQLite re-prepares a cached statement whenever a new
    // LIMIT is bound (profiled: a fifth of a list request went to re-parsing its SQL).
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    // Room for every statement the store prepares (about forty, and the writer's updates of
    // one or two fields: at most 56, see `todos::update_row`), so none is parsed again because
    // others pushed it out.
    conn.set_prepared_statement_cache_capacity(160);
    if read_only {
        conn.pragma_update(None, "query_only", "ON")?;
    }
    Ok(conn)
}

/// Runs a cached statement and turns each row into a domain value with `read`.
fn query_all<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    read: fn(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(from_sqlite)?;
    let mut rows = stmt.query(params).map_err(from_sqlite)?;
    let mut values = Vec::new();
    while let Some(row) = rows.next().map_err(from_sqlite)? {
        values.push(read(row)?);
    }
    Ok(values)
}

/// SQLite integers are signed; versions never come near the limit.
fn sql_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.readers.read(|conn| {
            conn.query_row("SELECT 1", [], |_| Ok(()))
                .map_err(from_sqlite)
        })
    }

    fn changes(&self) -> Option<&ChangeClock> {
        Some(&self.clock)
    }

    fn catch_up(&self) {
        // The watch may report this process's own commits (one racing the writer's note that
        // it was its own), so a change only ends kept answers; the writer, which sees other
        // processes' commits alone, tells the live streams.
        self.commits.catch_up(|| self.clock.maybe_external_change());
    }
}
