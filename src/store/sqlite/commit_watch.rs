//! Whether anyone has committed to the database, read without a lock or a system call.
//!
//! In WAL mode every connection to a file, in any process, shares the wal-index (`<db>-shm`,
//! mapped into memory). Its header begins with two copies of a 48-byte record that each commit
//! rewrites (the commit counter `iChange`, the last frame, the salts, a checksum): SQLite's own
//! readers compare it before each read transaction to know whether anything changed
//! (<https://www.sqlite.org/walformat.html>, "The WAL-Index Header"). Reading the same bytes is
//! what `PRAGMA data_version` learns, without the read transaction around it (two `fcntl` locks
//! and, for a connection shared by the workers, a contended mutex: a fifth of a cached list
//! request's time).
//!
//! The mapping is only valid while the file keeps its size: SQLite truncates the wal-index only
//! when the first connection of all opens it, and this process holds a connection open (kept
//! beside the mapping in [`CommitWatch::Index`]) for as long as the mapping lives.

use std::fs::File;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use rusqlite::Connection;

/// `WALINDEX_MAX_VERSION`: the format SQLite writes and every reader expects.
const FORMAT: u32 = 3_007_000;
/// Words in one copy of the header.
const WORDS: usize = 12;
/// Bytes mapped: both copies.
const MAPPED: usize = 2 * WORDS * 4;

/// Tells whether anyone (this process included) has committed since it was last asked.
pub(super) enum CommitWatch {
    /// The wal-index header, as a fingerprint of the last one seen. Fields drop in order: the
    /// mapping before the connection that keeps the file its size.
    Index {
        index: WalIndex,
        seen: AtomicU64,
        _holder: Mutex<Connection>,
    },
    /// Where the wal-index cannot be mapped: `PRAGMA data_version` on a connection of its own
    /// (it moves for every other connection's commits), with its last answer.
    Pragma(Mutex<(Connection, Option<i64>)>),
}

impl CommitWatch {
    /// Watches the database `conn` is connected to, through `conn`.
    pub(super) fn new(db: &Path, conn: Connection) -> rusqlite::Result<Self> {
        // A read makes the connection open (and from then on hold) the wal-index.
        let version = data_version(&conn)?;
        Ok(match WalIndex::open(db) {
            Some(index) => Self::Index {
                seen: AtomicU64::new(index.read().map_or(0, fingerprint)),
                index,
                _holder: Mutex::new(conn),
            },
            None => Self::Pragma(Mutex::new((conn, Some(version)))),
        })
    }

    /// Whether a commit may have happened since the last call. Unreadable counts as changed: a
    /// stale answer is worse than a cache miss.
    pub(super) fn changed(&self) -> bool {
        match self {
            Self::Index { index, seen, .. } => index.read().is_none_or(|header| {
                let now = fingerprint(header);
                seen.swap(now, Ordering::Relaxed) != now
            }),
            Self::Pragma(watcher) => {
                let mut watcher = watcher.lock().unwrap_or_else(|p| p.into_inner());
                let now = data_version(&watcher.0).ok();
                let changed = now.is_none() || now != watcher.1;
                watcher.1 = now;
                changed
            }
        }
    }
}

/// Prepared once, not parsed on each call.
fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("PRAGMA data_version")?
        .query_row([], |row| row.get(0))
}

fn fingerprint(header: [u32; WORDS]) -> u64 {
    let mut hasher = DefaultHasher::new();
    header.hash(&mut hasher);
    hasher.finish()
}

/// The wal-index header, mapped.
pub(super) struct WalIndex {
    header: NonNull<AtomicU32>,
}

// The mapping is read through atomics only, from any thread.
unsafe impl Send for WalIndex {}
unsafe impl Sync for WalIndex {}

impl WalIndex {
    /// Maps the wal-index of `db`, which a connection of this process holds open (see the
    /// module's comment). `None` when there is none to map (a file system without shared
    /// memory) or it is not in the format this code knows.
    fn open(db: &Path) -> Option<Self> {
        let mut name = db.as_os_str().to_owned();
        name.push("-shm");
        let file = File::open(name).ok()?;
        if file.metadata().ok()?.len() < MAPPED as u64 {
            return None;
        }
        // SAFETY: a read-only shared mapping of a file at least MAPPED bytes long, which stays
        // that long while a connection of this process is open; unmapped in `drop`.
        let mapped = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                MAPPED,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if mapped == libc::MAP_FAILED {
            return None;
        }
        let index = Self {
            header: NonNull::new(mapped.cast())?,
        };
        // iVersion, and isInit (the byte after iChange) set by whoever wrote it.
        let header = index.read()?;
        (header[0] == FORMAT && header[3].to_ne_bytes()[0] == 1).then_some(index)
    }

    /// The header as the last commit left it; `None` while a commit is rewriting it.
    pub(super) fn read(&self) -> Option<[u32; WORDS]> {
        // SQLite writes the second copy, then the first; reading the first, then the second
        // (acquire: in that order), and finding them equal means neither was half written.
        let first = self.copy(0);
        let second = self.copy(WORDS);
        (first == second).then_some(first)
    }

    fn copy(&self, from: usize) -> [u32; WORDS] {
        std::array::from_fn(|i| {
            // SAFETY: within the mapping (2 × WORDS words), aligned (a page start), and only
            // ever accessed atomically here; other processes write it as SQLite does.
            unsafe { self.header.add(from + i).as_ref() }.load(Ordering::Acquire)
        })
    }
}

impl Drop for WalIndex {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `open`, unmapped once.
        unsafe { libc::munmap(self.header.as_ptr().cast(), MAPPED) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::open_connection;

    /// A database with a table, a watch on it (both kinds) and a connection of its own.
    fn database() -> (tempfile::TempDir, [CommitWatch; 2], Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let writer = open_connection(&path, false).unwrap();
        writer.execute_batch("CREATE TABLE t (n INTEGER)").unwrap();
        let mapped = CommitWatch::new(&path, open_connection(&path, true).unwrap()).unwrap();
        assert!(matches!(mapped, CommitWatch::Index { .. }), "not mapped");
        let conn = open_connection(&path, true).unwrap();
        let asked = CommitWatch::Pragma(Mutex::new((conn, None)));
        (dir, [mapped, asked], writer)
    }

    #[test]
    fn every_commit_of_another_connection_is_seen_once_and_reads_are_not() {
        let (_dir, watches, writer) = database();
        for watch in &watches {
            watch.changed(); // the other watch's commits
            assert!(!watch.changed());
            for n in 0..5 {
                writer.execute("INSERT INTO t VALUES (?1)", [n]).unwrap();
                assert!(watch.changed(), "commit {n} unseen");
                assert!(!watch.changed(), "commit {n} seen twice");
                writer
                    .query_row("SELECT count(*) FROM t", [], |_| Ok(()))
                    .unwrap();
                assert!(!watch.changed(), "a read seen as a commit");
            }
        }
    }

    #[test]
    fn a_commit_after_the_log_was_checkpointed_and_restarted_is_seen() {
        let (_dir, watches, writer) = database();
        for (n, watch) in watches.iter().enumerate() {
            writer.execute("INSERT INTO t VALUES (1)", []).unwrap();
            writer
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .unwrap();
            watch.changed();
            writer.execute("INSERT INTO t VALUES (2)", []).unwrap();
            assert!(watch.changed(), "watch {n}");
        }
    }
}
