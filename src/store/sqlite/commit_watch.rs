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
//! The header is read through SQLite's own mapping of the wal-index, asked of the connection's
//! file (`SQLITE_FCNTL_FILE_POINTER`, then the VFS's `xShmMap` for the region already mapped):
//! it stays valid while that connection is open, which [`CommitWatch::Index`] keeps it. Never by
//! opening `-shm` here: closing any descriptor of a file drops every POSIX lock the process holds
//! on it, SQLite's lock that tells other processes the wal-index is in use among them, and the
//! next process to open the database would take itself for the first and rebuild the wal-index
//! under this one (a SIGBUS here, wrong reads at worst).

use std::ptr::NonNull;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use rusqlite::Connection;

/// `WALINDEX_MAX_VERSION`: the format SQLite writes and every reader expects.
const FORMAT: u32 = 3_007_000;
/// Words in one copy of the header.
const WORDS: usize = 12;
/// The size of a wal-index region: what SQLite maps at a time.
const REGION: i32 = 32 * 1024;
/// The header's word `iChange`, which each commit adds one to.
const CHANGE: usize = 2;

/// Tells whether anyone (this process included) has committed since it was last asked.
pub(super) enum CommitWatch {
    /// The wal-index header, as a fingerprint of the last one seen. Fields drop in order: the
    /// pointer before the connection whose mapping it points into.
    Index {
        index: WalIndex,
        seen: AtomicU64,
        /// While the writer's transaction is under way (until [`CommitWatch::own_commit`]
        /// notes its end): the `iChange` it began at, as [`committing`] marks it; 0 otherwise.
        own: AtomicU64,
        _holder: Mutex<Connection>,
    },
    /// Where the wal-index cannot be mapped: `PRAGMA data_version` on a connection of its own
    /// (it moves for every other connection's commits), with its last answer.
    Pragma(Mutex<(Connection, Option<i64>)>),
}

impl CommitWatch {
    /// Watches the database `conn` is connected to, through `conn`.
    pub(super) fn new(conn: Connection) -> rusqlite::Result<Self> {
        // A read makes the connection open (and from then on hold) the wal-index.
        let version = data_version(&conn)?;
        // SAFETY: the pointer stays valid while `conn` is open, and `conn` is kept beside it.
        Ok(match unsafe { WalIndex::open(&conn) } {
            Some(index) => Self::Index {
                seen: AtomicU64::new(index.read().map_or(0, fingerprint)),
                own: AtomicU64::new(0),
                index,
                _holder: Mutex::new(conn),
            },
            None => Self::Pragma(Mutex::new((conn, Some(version)))),
        })
    }

    /// Calls `on_commit` if a commit may have happened since the last call (unreadable counts
    /// as one: a stale answer is worse than a cache miss) — and before any later caller can
    /// take that commit as already handled: a caller told "nothing new" must find whatever
    /// `on_commit` did done. So the header's fingerprint is recorded after `on_commit`, and
    /// the data_version answer under the lock `on_commit` runs in.
    pub(super) fn catch_up(&self, on_commit: impl FnOnce()) {
        self.catch_up_reading(on_commit);
    }

    /// For the writer, once its write transaction has begun (no other connection can commit
    /// until it ends): catches up as [`CommitWatch::catch_up`] does, and returns the header its
    /// own commit will follow, for [`CommitWatch::own_commit`].
    ///
    /// Until that note, a header one commit on from this one, or at its count but rewritten
    /// (the log restarted by this transaction), is this transaction's doing, which a reader is
    /// not to take for another process's. Without the mark, a reader between the COMMIT and its
    /// note did, and under a steady load of writes that ended every kept answer and profile of
    /// every user many times a second.
    pub(super) fn own_write_begun(&self, on_commit: impl FnOnce()) -> Option<[u32; WORDS]> {
        let before = self.catch_up_reading(on_commit);
        if let (Self::Index { own, .. }, Some(before)) = (self, before) {
            own.store(committing(before[CHANGE]), Ordering::Release);
        }
        before
    }

    /// [`CommitWatch::catch_up`], returning the wal-index header it compared (`None` for the
    /// PRAGMA watch, or when the header could not be read).
    fn catch_up_reading(&self, on_commit: impl FnOnce()) -> Option<[u32; WORDS]> {
        match self {
            Self::Index {
                index, seen, own, ..
            } => loop {
                // `seen` first: a header read after it is at least as new as what it records.
                let known = seen.load(Ordering::Acquire);
                let header = index.read();
                let news = match header {
                    // Only read in the steady state: no write for the workers' cores to pass
                    // around.
                    Some(now) if fingerprint(now) == known => false,
                    // The writer's own transaction, before its note (`own_commit`): no news.
                    Some(now) if by_own_commit(own.load(Ordering::Acquire), now[CHANGE]) => false,
                    // Half rewritten while the writer holds the lock: by the writer (another
                    // process's rewrite after it is read whole next time).
                    None if own.load(Ordering::Acquire) != 0 => false,
                    _ => true,
                };
                if !news {
                    break header;
                }
                // Recorded meanwhile (the writer's note, or another reader): the header read
                // may be older than what was recorded, and taken for news it would undo it.
                if seen.load(Ordering::Acquire) != known {
                    continue;
                }
                on_commit();
                if let Some(now) = header {
                    let _ = seen.compare_exchange(
                        known,
                        fingerprint(now),
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    );
                }
                break header;
            },
            Self::Pragma(watcher) => {
                let mut watcher = watcher.lock().unwrap_or_else(|p| p.into_inner());
                let now = data_version(&watcher.0).ok();
                if now.is_none() || now != watcher.1 {
                    on_commit();
                }
                watcher.1 = now;
                None
            }
        }
    }

    /// After the writer's transaction ends, `committed` or not; clears its mark. A commit is no
    /// news to this process (the change clock ended the answers it touched), so it is recorded
    /// as seen — unless the header shows another commit since `before`, or the watch had not
    /// caught up with one before it: those the next `catch_up` reports. Without this, every
    /// write of this process would look like another process's and end every kept answer and
    /// profile.
    pub(super) fn own_commit(&self, before: Option<[u32; WORDS]>, committed: bool) {
        let Self::Index {
            index, seen, own, ..
        } = self
        else {
            return;
        };
        // One more than `before`: this commit alone (a checkpoint in between changes no data).
        if let (true, Some(before), Some(after)) = (committed, before, index.read())
            && after[CHANGE] == before[CHANGE].wrapping_add(1)
        {
            let _ = seen.compare_exchange(
                fingerprint(before),
                fingerprint(after),
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
        own.store(0, Ordering::Release);
    }
}

/// The mark of the writer's commit in a transaction begun at `change` (never 0, which marks
/// none).
fn committing(change: u32) -> u64 {
    (1 << 32) | u64::from(change)
}

/// Whether a header at `change` is the doing of the commit `mark` marks: only the writer
/// holding the lock rewrites the header, and no one else can commit before its COMMIT ends.
fn by_own_commit(mark: u64, change: u32) -> bool {
    let began = mark as u32;
    mark != 0 && (change == began || change == began.wrapping_add(1))
}

/// Moves whenever another connection has committed, never for `conn`'s own commits. Prepared
/// once, not parsed on each call.
pub(super) fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("PRAGMA data_version")?
        .query_row([], |row| row.get(0))
}

/// Read before every kept answer (twice a cached request): a fast hash, not SipHash (~250
/// instructions, measured), as nothing here is chosen by a client.
fn fingerprint(header: [u32; WORDS]) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0).hash_one(header)
}

/// The wal-index header, as SQLite maps it.
pub(super) struct WalIndex {
    header: NonNull<AtomicU32>,
}

// The mapping is read through atomics only, from any thread.
unsafe impl Send for WalIndex {}
unsafe impl Sync for WalIndex {}

impl WalIndex {
    /// The header of the wal-index `conn` has mapped (in WAL mode, having read once). `None`
    /// when there is none (a VFS without shared memory, a region not mapped) or it is not in the
    /// format this code knows.
    ///
    /// # Safety
    /// The result must not outlive `conn`.
    unsafe fn open(conn: &Connection) -> Option<Self> {
        use rusqlite::ffi;
        let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
        // SAFETY: a live connection's handle; FILE_POINTER writes a `sqlite3_file*` to `file`.
        let found = unsafe {
            ffi::sqlite3_file_control(
                conn.handle(),
                c"main".as_ptr(),
                ffi::SQLITE_FCNTL_FILE_POINTER,
                (&raw mut file).cast(),
            )
        };
        if found != ffi::SQLITE_OK || file.is_null() {
            return None;
        }
        // SAFETY: SQLite's open file; its methods outlive the connection's use of it. Region 0
        // is already mapped (the connection has read in WAL mode), so `xShmMap` without
        // extending only hands back SQLite's pointer to it.
        let region = unsafe {
            let methods = (*file).pMethods.as_ref()?;
            let map = methods.xShmMap.filter(|_| methods.iVersion >= 2)?;
            let mut region: *mut std::ffi::c_void = std::ptr::null_mut();
            (map(file, 0, REGION, 0, &raw mut region) == ffi::SQLITE_OK).then_some(region)?
        };
        let index = Self {
            header: NonNull::new(region.cast())?,
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
            // SAFETY: within the region (32 KiB, the header is its first 96 bytes), aligned,
            // and only ever accessed atomically here; other processes write it as SQLite does.
            unsafe { self.header.add(from + i).as_ref() }.load(Ordering::Acquire)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::open_connection;

    impl CommitWatch {
        /// Whether `catch_up` saw a commit.
        fn changed(&self) -> bool {
            let mut seen = false;
            self.catch_up(|| seen = true);
            seen
        }
    }

    /// A database with a table, a watch on it (both kinds) and a connection of its own.
    fn database() -> (tempfile::TempDir, [CommitWatch; 2], Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let writer = open_connection(&path, false).unwrap();
        writer.execute_batch("CREATE TABLE t (n INTEGER)").unwrap();
        let mapped = CommitWatch::new(open_connection(&path, true).unwrap()).unwrap();
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
    fn the_writers_own_commits_are_not_news_and_anothers_around_them_are() {
        let (dir, [watch, _], writer) = database();
        let other = open_connection(&dir.path().join("t.db"), false).unwrap();
        watch.changed();
        let mut heard = false;
        let mut commit = |n: i64| {
            writer.execute_batch("BEGIN IMMEDIATE").unwrap();
            let before = watch.own_write_begun(|| heard = true);
            writer.execute("INSERT INTO t VALUES (?1)", [n]).unwrap();
            writer.execute_batch("COMMIT").unwrap();
            before
        };
        for n in 0..3 {
            let before = commit(n);
            watch.own_commit(before, true);
            assert!(!watch.changed(), "the writer's own commit {n} reported");
        }
        // Another connection commits between the writer's COMMIT and its note.
        let before = commit(3);
        other.execute("INSERT INTO t VALUES (-1)", []).unwrap();
        watch.own_commit(before, true);
        assert!(watch.changed(), "a commit right after the writer's unseen");
        // ... and before the writer's transaction, unseen by the watch until then.
        other.execute("INSERT INTO t VALUES (-2)", []).unwrap();
        let before = commit(4);
        watch.own_commit(before, true);
        assert!(heard, "a commit before the writer's unseen");
        assert!(!watch.changed(), "seen twice");
    }

    #[test]
    fn the_writers_commit_is_no_news_before_its_note_and_anothers_after_it_is() {
        let (dir, [watch, _], writer) = database();
        let other = open_connection(&dir.path().join("t.db"), false).unwrap();
        watch.changed();
        let begin = || {
            writer.execute_batch("BEGIN IMMEDIATE").unwrap();
            let before = watch.own_write_begun(|| panic!("no commit came between"));
            writer.execute("INSERT INTO t VALUES (1)", []).unwrap();
            before
        };
        // A reader between the COMMIT and the writer's note.
        let before = begin();
        writer.execute_batch("COMMIT").unwrap();
        assert!(!watch.changed(), "the writer's commit taken for another's");
        watch.own_commit(before, true);
        assert!(!watch.changed());
        // Another connection's commit right after the writer's, before its note.
        let before = begin();
        writer.execute_batch("COMMIT").unwrap();
        other.execute("INSERT INTO t VALUES (-1)", []).unwrap();
        assert!(watch.changed(), "a commit after the writer's unseen");
        watch.own_commit(before, true);
        assert!(!watch.changed(), "seen twice");
        // A commit that restarts the log (copied to the database to its end by another
        // connection, which leaves the header as it was).
        other
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .unwrap();
        assert!(!watch.changed(), "a checkpoint seen as a commit");
        let before = begin();
        writer.execute_batch("COMMIT").unwrap();
        assert!(
            !watch.changed(),
            "the writer's commit restarting the log taken for another's"
        );
        watch.own_commit(before, true);
        assert!(!watch.changed());
        // A COMMIT that fails rolls back: another's commit then is reported once it is noted.
        let before = begin();
        writer.execute_batch("ROLLBACK").unwrap();
        other.execute("INSERT INTO t VALUES (-2)", []).unwrap();
        watch.own_commit(before, false);
        assert!(watch.changed(), "a commit after a failed one unseen");
    }

    #[test]
    fn a_header_at_the_writers_count_or_one_on_is_its_own_while_marked() {
        let mark = committing(7);
        // Rewritten as the log restarts, then committed.
        assert!(by_own_commit(mark, 7) && by_own_commit(mark, 8));
        assert!(!by_own_commit(mark, 6) && !by_own_commit(mark, 9));
        assert!(!by_own_commit(0, 0) && !by_own_commit(0, 1));
        let wrapping = committing(u32::MAX);
        assert!(by_own_commit(wrapping, u32::MAX) && by_own_commit(wrapping, 0));
    }

    /// Whether a process holds SQLite's lock that says the wal-index is in use (its "DMS" byte,
    /// 128, read-locked by every process with the database open). Asked with an OFD lock, which
    /// sees this process's own POSIX locks too.
    fn wal_index_in_use(path: &std::path::Path) -> bool {
        use std::os::fd::AsRawFd;
        let shm = std::fs::File::open(path.with_extension("db-shm")).unwrap();
        // SAFETY: a zeroed flock filled in below, and a descriptor open for the call.
        let mut lock: libc::flock = unsafe { std::mem::zeroed() };
        lock.l_type = libc::F_WRLCK as i16;
        lock.l_whence = libc::SEEK_SET as i16;
        lock.l_start = 128;
        lock.l_len = 1;
        let asked = unsafe { libc::fcntl(shm.as_raw_fd(), libc::F_OFD_GETLK, &raw mut lock) };
        assert_eq!(asked, 0);
        // Never closed: closing would drop this process's locks on the file, SQLite's too.
        std::mem::forget(shm);
        lock.l_type != libc::F_UNLCK as i16
    }

    #[test]
    fn watching_keeps_sqlites_lock_on_the_wal_index() {
        let (dir, watches, writer) = database();
        let path = dir.path().join("t.db");
        drop(writer);
        for watch in &watches {
            watch.changed();
        }
        // The watches' connections alone hold it: nobody else may take the wal-index for
        // unused and rebuild it under them (what closing a descriptor of our own would allow).
        assert!(wal_index_in_use(&path));
        drop(watches);
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
