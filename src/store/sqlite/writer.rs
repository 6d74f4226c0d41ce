//! One thread owns the write connection and commits concurrent writes together, and every
//! caller hears back only after the one fsync'd COMMIT that made its write durable. A write
//! that fails is undone alone: the others in its batch still commit.
//!
//! Every write names the owner whose todos it may change and counts on the [`ChangeClock`] from
//! before its COMMIT to after it. Between batches the thread watches SQLite's `data_version`,
//! which moves only when another connection (another process) commits.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::commit_watch::{CommitWatch, data_version};
use super::error::from_sqlite;
use super::search_index::{INDEX_CHUNK, any_pending, index_some};
use crate::domain::Username;
use crate::store::changes::{ChangeClock, Stripe};
use crate::store::{StoreError, StoreResult};

/// Most writes folded into one commit; bounds how long the first of them waits.
const MAX_BATCH: usize = 256;

/// How soon another process's commit is noticed when this one is not writing.
const WATCH_EVERY: Duration = Duration::from_millis(50);

/// How long new texts may wait for the search index under a steady load (searches do not
/// wait: they index what waits first).
const INDEX_EVERY: Duration = Duration::from_secs(1);
/// How often an idle writer forgets change-log entries past the history kept.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

trait Job: Send {
    /// The stripe of the owner whose todos it may change; `None` for writes that change no
    /// one's todos (login failures).
    fn stripe(&self) -> Option<Stripe>;
    /// Runs the work, in a savepoint of its own if `savepoint`, and keeps its outcome (a batch
    /// run again replaces it); whether it succeeded.
    fn run(&mut self, conn: &Connection, savepoint: bool) -> bool;
    /// Tells the caller the kept outcome, or why the commit failed.
    fn answer(self: Box<Self>, commit_failure: Option<&str>);
    fn fail(self: Box<Self>, why: &str);
}

struct Task<F, T> {
    stripe: Option<Stripe>,
    work: F,
    outcome: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<F, T> Job for Task<F, T>
where
    F: Fn(&Connection) -> StoreResult<T> + Send,
    T: Send + 'static,
{
    fn stripe(&self) -> Option<Stripe> {
        self.stripe
    }

    fn run(&mut self, conn: &Connection, savepoint: bool) -> bool {
        let outcome = match savepoint {
            true => in_savepoint(conn, &self.work),
            false => guarded(conn, &self.work),
        };
        let done = outcome.is_ok();
        self.outcome = Some(outcome);
        done
    }

    fn answer(self: Box<Self>, commit_failure: Option<&str>) {
        let outcome = match (commit_failure, self.outcome) {
            (Some(why), _) => Err(StoreError::Unavailable(why.to_owned())),
            (None, Some(outcome)) => outcome,
            (None, None) => Err(StoreError::Unavailable("the write was not run".into())),
        };
        let _ = self.reply.send(outcome);
    }

    fn fail(self: Box<Self>, why: &str) {
        let _ = self
            .reply
            .send(Err(StoreError::Unavailable(why.to_owned())));
    }
}

/// A failed job rolls back alone; the others in its batch still commit.
fn in_savepoint<T>(
    conn: &Connection,
    work: impl Fn(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    run_cached(conn, "SAVEPOINT job").map_err(from_sqlite)?;
    let result = guarded(conn, work);
    if result.is_ok() {
        run_cached(conn, "RELEASE job")
    } else {
        conn.execute_batch("ROLLBACK TO job; RELEASE job")
    }
    .map_err(from_sqlite)?;
    result
}

/// The job's work, a panic in it answered as a failure.
fn guarded<T>(conn: &Connection, work: impl Fn(&Connection) -> StoreResult<T>) -> StoreResult<T> {
    catch_unwind(AssertUnwindSafe(|| work(conn)))
        .unwrap_or_else(|_| Err(StoreError::Internal("a write panicked".into())))
}

/// A statement run for every write: parsed once.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// What reaches the writer thread.
enum Message {
    Job(Box<dyn Job>),
    /// Fold the log into the database file, then say so.
    FoldLog(mpsc::SyncSender<()>),
}

pub(super) struct Writer {
    jobs: mpsc::Sender<Message>,
    clock: Arc<ChangeClock>,
}

impl Writer {
    pub(super) fn start(
        conn: Connection,
        clock: Arc<ChangeClock>,
        watch: Arc<CommitWatch>,
    ) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel();
        let thread_clock = Arc::clone(&clock);
        std::thread::Builder::new()
            .name("checkoff-sqlite-writer".into())
            .spawn(move || run(conn, queue, &thread_clock, &watch))?;
        Ok(Self { jobs, clock })
    }

    /// Runs `work`, which may change `owner`'s todos, in a write transaction and resolves once
    /// it is committed to disk.
    ///
    /// `work` may run more than once (a batch is run again when one of its writes fails after
    /// changing something): it must touch nothing but `conn`, and change the database only
    /// through INSERT, UPDATE and DELETE, whose rows SQLite counts.
    pub(super) async fn write<T, F>(&self, owner: &Username, work: F) -> StoreResult<T>
    where
        F: Fn(&Connection) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        self.submit(Some(self.clock.stripe(owner)), work).await
    }

    /// Folds the log into the database file once the writes queued before are committed, and
    /// waits for it (10 s at most): see [`fold_log`].
    pub(super) fn fold_log(&self) {
        let (done, folded) = mpsc::sync_channel(1);
        if self.jobs.send(Message::FoldLog(done)).is_ok() {
            let _ = folded.recv_timeout(Duration::from_secs(10));
        }
    }

    /// Runs `work`, which changes no one's todos, as [`Writer::write`] does.
    pub(super) async fn write_unowned<T, F>(&self, work: F) -> StoreResult<T>
    where
        F: Fn(&Connection) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        self.submit(Some(self.clock.unowned()), work).await
    }

    async fn submit<T, F>(&self, stripe: Option<Stripe>, work: F) -> StoreResult<T>
    where
        F: Fn(&Connection) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let started = std::time::Instant::now();
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Message::Job(Box::new(Task {
                stripe,
                work,
                outcome: None,
                reply,
            })))
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?;
        let result = answer
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?;
        // Queueing included: a write waits its turn behind others, as the request does.
        crate::store::record_latency("sqlite", started.elapsed());
        result
    }
}

fn run(conn: Connection, queue: mpsc::Receiver<Message>, clock: &ChangeClock, watch: &CommitWatch) {
    let mut seen = data_version(&conn).ok();
    // Whether todos may wait for the search index (any process may have written some), and
    // when they were last indexed.
    let mut may_wait = true;
    let mut indexed = Instant::now();
    let mut backlog = false;
    // The first idle moment prunes the change log, then one every PRUNE_EVERY.
    let mut pruned: Option<Instant> = None;
    loop {
        let idle = match queue.recv_timeout(WATCH_EVERY) {
            Ok(Message::Job(first)) => {
                let mut batch = vec![first];
                let mut then = None;
                while batch.len() < MAX_BATCH {
                    match queue.try_recv() {
                        Ok(Message::Job(job)) => batch.push(job),
                        Ok(Message::FoldLog(done)) => {
                            then = Some(done);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                commit_batch(&conn, batch, clock, watch);
                if let Some(done) = then {
                    fold_log(&conn, &done);
                }
                may_wait = true;
                false
            }
            Ok(Message::FoldLog(done)) => {
                fold_log(&conn, &done);
                false
            }
            Err(mpsc::RecvTimeoutError::Timeout) => true,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        let now = data_version(&conn).ok();
        // Unreadable counts as changed: a stale answer is worse than a cache miss.
        if now.is_none() || now != seen {
            clock.external_change();
            seen = now;
            may_wait = true;
        }
        if idle && pruned.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            pruned = Some(Instant::now());
            if let Err(e) = super::sync::prune(&conn) {
                tracing::warn!(error = %e, "could not prune the change log");
            }
        }
        // A backlog is indexed a chunk at a time, between batches of writes.
        if may_wait && (idle || backlog || indexed.elapsed() >= INDEX_EVERY) {
            if !backlog {
                indexed = Instant::now();
            }
            backlog = index_waiting(&conn, clock, watch);
            may_wait = backlog;
        }
    }
}

/// Copies every page of the log into the database file and empties the log, then tells
/// `done`. A store closing does this, so that the file alone holds every write (a copy of
/// `checkoff.db` by itself, taken after a clean stop, was unreadable: the newest pages were
/// only in `checkoff.db-wal`) and the next start has no log to read back. Readers in another
/// process may keep it from emptying the log; they are waited for a moment only, and what they
/// still read stays in the log, where SQLite finds it.
fn fold_log(conn: &Connection, done: &mpsc::SyncSender<()>) {
    let _ = conn.busy_timeout(Duration::from_millis(200));
    match conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
        row.get::<_, i64>(0)
    }) {
        Ok(0) => {}
        Ok(_) => tracing::info!("the SQLite log is still being read elsewhere; left as it is"),
        Err(e) => tracing::warn!(error = %e, "could not fold the SQLite log into the database"),
    }
    let _ = conn.busy_timeout(super::BUSY_TIMEOUT);
    let _ = done.send(());
}

/// Indexes a chunk of the texts that wait for the search index, in a transaction of its own;
/// whether more still wait.
fn index_waiting(conn: &Connection, clock: &ChangeClock, watch: &CommitWatch) -> bool {
    match any_pending(conn) {
        Ok(false) => false,
        Ok(true) => {
            // A failure leaves the texts waiting for the next try, and a search indexes them
            // itself first.
            let (reply, mut answer) = oneshot::channel();
            let job = Task {
                stripe: None,
                work: |conn: &Connection| {
                    index_some(conn, INDEX_CHUNK).inspect_err(
                        |e| tracing::warn!(error = %e, "could not update the search index"),
                    )
                },
                outcome: None,
                reply,
            };
            commit_batch(conn, vec![Box::new(job)], clock, watch);
            // Committed: more may wait. Failed: the next round, a second on, tries again.
            matches!(answer.try_recv(), Ok(Ok(()))) && any_pending(conn).unwrap_or(false)
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not read what waits for the search index");
            false
        }
    }
}

fn commit_batch(
    conn: &Connection,
    mut batch: Vec<Box<dyn Job>>,
    clock: &ChangeClock,
    watch: &CommitWatch,
) {
    if let Err(why) = begin(conn) {
        batch.into_iter().for_each(|job| job.fail(&why));
        return;
    }
    let mut before = watch.own_write_begun(|| clock.maybe_external_change());
    let stripes: Vec<Stripe> = batch.iter().filter_map(|job| job.stripe()).collect();
    stripes.iter().for_each(|&s| clock.begin(s));
    let ran = match run_optimistically(conn, &mut batch) {
        Some(ran) => ran,
        // Undone whole, then begun again: another process may have committed in between.
        None => {
            let undone = roll_back(conn);
            watch.own_commit(before, false);
            match undone.and_then(|()| begin(conn)) {
                Ok(()) => {
                    before = watch.own_write_begun(|| clock.maybe_external_change());
                    run_in_savepoints(conn, &mut batch)
                }
                Err(why) => Ran::Lost(why),
            }
        }
    };
    let commit_failure = match &ran {
        Ran::Lost(why) => {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            Some(why.clone())
        }
        // Undone as a savepoint would have been; its caller hears its own failure.
        Ran::FailedAlone => roll_back(conn).err(),
        Ran::Commit => run_cached(conn, "COMMIT").err().map(|e| {
            tracing::error!(error = %e, "SQLite COMMIT failed");
            let _ = conn.execute_batch("ROLLBACK");
            format!("could not commit: {e}")
        }),
    };
    stripes.iter().for_each(|&s| clock.end(s));
    watch.own_commit(before, commit_failure.is_none() && ran != Ran::FailedAlone);
    for job in batch {
        job.answer(commit_failure.as_deref());
    }
}

fn roll_back(conn: &Connection) -> Result<(), String> {
    run_cached(conn, "ROLLBACK").map_err(|e| {
        tracing::error!(error = %e, "SQLite ROLLBACK failed");
        format!("could not roll back a failed write: {e}")
    })
}

fn begin(conn: &Connection) -> Result<(), String> {
    run_cached(conn, "BEGIN IMMEDIATE").map_err(|e| {
        tracing::error!(error = %e, "SQLite BEGIN failed");
        format!("could not start a write: {e}")
    })
}

/// How a batch's jobs ran in its transaction.
#[derive(Debug, PartialEq, Eq)]
enum Ran {
    /// Every change left is one a job made and succeeded with.
    Commit,
    /// A job alone in the transaction failed: rolling it back undoes it.
    FailedAlone,
    /// SQLite rolled the transaction back on its own (a full disk, say), or it could not go on.
    Lost(String),
}

/// Runs the jobs without savepoints. A savepoint makes SQLite copy every page a job changes
/// before changing it, and two more statements run per job (callgrind, 32 connections updating
/// one todo: ~5,400 instructions per update, a tenth of the writer's work). It is needed only
/// to undo a job that fails after it changed something: most failures (a version that does not
/// match, a todo or list not found) change nothing, as SQLite's count of changed rows shows,
/// and a failed statement undoes itself. `None`: a job failed after changing something, which
/// only running the batch again, each job in a savepoint, can undo alone.
fn run_optimistically(conn: &Connection, batch: &mut [Box<dyn Job>]) -> Option<Ran> {
    let alone = batch.len() == 1;
    for job in batch.iter_mut() {
        let changes = conn.total_changes();
        let done = job.run(conn, false);
        if let Some(lost) = lost(conn) {
            return Some(lost);
        }
        if !done && alone {
            return Some(Ran::FailedAlone);
        }
        if !done && conn.total_changes() != changes {
            return None;
        }
    }
    Some(Ran::Commit)
}

/// Runs the jobs each in a savepoint of its own: a failed one rolls back alone.
fn run_in_savepoints(conn: &Connection, batch: &mut [Box<dyn Job>]) -> Ran {
    for job in batch.iter_mut() {
        job.run(conn, true);
        if let Some(lost) = lost(conn) {
            return lost;
        }
    }
    Ran::Commit
}

/// SQLite rolled the whole transaction back on its own: the jobs after it must not run outside
/// it, each committing alone.
fn lost(conn: &Connection) -> Option<Ran> {
    conn.is_autocommit().then(|| {
        tracing::error!("SQLite rolled a write transaction back");
        Ran::Lost("the write was rolled back (is the disk full?)".into())
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::store::SqliteStore;

    fn alice() -> Username {
        Username::parse("alice").unwrap()
    }

    /// A job that writes `value` into the test's table, then fails if told to.
    fn insert(value: i64, fail: bool) -> impl Fn(&Connection) -> StoreResult<()> + Send {
        move |conn| {
            conn.execute("INSERT INTO t (x) VALUES (?1)", [value])
                .map_err(from_sqlite)?;
            match fail {
                true => Err(StoreError::NotFound),
                false => Ok(()),
            }
        }
    }

    async fn stored(store: &SqliteStore) -> Vec<i64> {
        store
            .writer
            .write(&alice(), |conn| {
                let mut values = conn.prepare("SELECT x FROM t ORDER BY x").unwrap();
                let rows = values.query_map([], |row| row.get(0)).unwrap();
                Ok(rows.map(Result::unwrap).collect())
            })
            .await
            .unwrap()
    }

    async fn with_table() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let made = store.writer.write_unowned(|conn| {
            conn.execute_batch("CREATE TABLE t (x INTEGER)")
                .map_err(from_sqlite)
        });
        made.await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn a_write_alone_that_fails_or_panics_leaves_nothing_of_itself() {
        let (_dir, store) = with_table().await;
        let failed = store.writer.write(&alice(), insert(1, true)).await;
        assert!(matches!(failed, Err(StoreError::NotFound)));
        let panicked = store
            .writer
            .write(&alice(), |conn| -> StoreResult<()> {
                insert(2, false)(conn)?;
                panic!("a bug in a write")
            })
            .await;
        assert!(matches!(panicked, Err(StoreError::Internal(_))));
        // The writer goes on, in transactions of its own.
        store
            .writer
            .write(&alice(), insert(3, false))
            .await
            .unwrap();
        assert_eq!(stored(&store).await, [3]);
    }

    /// The database file alone, copied after the store has gone, holds every write: none is
    /// left only in the log.
    #[tokio::test]
    async fn a_store_that_goes_leaves_every_write_in_the_database_file() {
        let (dir, store) = with_table().await;
        for value in [1, 2] {
            store
                .writer
                .write(&alice(), insert(value, false))
                .await
                .unwrap();
        }
        drop(store);
        let copy = tempfile::tempdir().unwrap();
        let path = copy.path().join(super::super::DB_FILE);
        std::fs::copy(dir.path().join(super::super::DB_FILE), &path).unwrap();
        let conn = Connection::open(&path).unwrap();
        let mut values = conn.prepare("SELECT x FROM t ORDER BY x").unwrap();
        let rows = values.query_map([], |row| row.get::<_, i64>(0)).unwrap();
        assert_eq!(rows.map(Result::unwrap).collect::<Vec<_>>(), [1, 2]);
    }

    type Work = Box<dyn Fn(&Connection) -> StoreResult<()> + Send>;

    /// `work`, counting how often it runs.
    fn counted(
        runs: &Arc<AtomicUsize>,
        work: impl Fn(&Connection) -> StoreResult<()> + Send + 'static,
    ) -> Work {
        let runs = Arc::clone(runs);
        Box::new(move |conn| {
            runs.fetch_add(1, Ordering::Relaxed);
            work(conn)
        })
    }

    /// Runs `middle` committed together between writes of 1 and 3 (queued while the writer is
    /// held busy), which both succeed and are stored once: `middle`'s answer, and how many
    /// times the three ran in all.
    async fn between_two(
        middle: impl Fn(&Connection) -> StoreResult<()> + Send + 'static,
    ) -> (StoreResult<()>, usize) {
        let (_dir, store) = with_table().await;
        let (alice, runs) = (alice(), Arc::new(AtomicUsize::new(0)));
        let busy = store.writer.write(&alice, |_| {
            std::thread::sleep(Duration::from_millis(300));
            Ok(())
        });
        let jobs = [
            counted(&runs, insert(1, false)),
            counted(&runs, middle),
            counted(&runs, insert(3, false)),
        ];
        let queued = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let writes = jobs.into_iter().map(|job| store.writer.write(&alice, job));
            futures_util::future::join_all(writes).await
        };
        let (busy, mut results) = tokio::join!(busy, queued);
        busy.unwrap();
        assert!(results[0].is_ok() && results[2].is_ok());
        assert_eq!(stored(&store).await, [1, 3]);
        (results.swap_remove(1), runs.load(Ordering::Relaxed))
    }

    #[tokio::test]
    async fn a_write_that_fails_after_changing_something_rolls_back_alone() {
        let (answer, runs) = between_two(insert(2, true)).await;
        assert!(matches!(answer, Err(StoreError::NotFound)));
        // Only the batch run again, each write in a savepoint, could undo it alone: the first
        // two ran twice, the third once.
        assert_eq!(runs, 5);
    }

    #[tokio::test]
    async fn a_write_that_fails_having_changed_nothing_leaves_its_batch_as_it_ran() {
        let (answer, runs) = between_two(|_| Err(StoreError::NotFound)).await;
        assert!(matches!(answer, Err(StoreError::NotFound)));
        assert_eq!(runs, 3);
    }

    #[tokio::test]
    async fn a_write_that_panics_in_a_batch_leaves_nothing_of_itself() {
        let (answer, runs) = between_two(|conn: &Connection| -> StoreResult<()> {
            insert(2, false)(conn)?;
            panic!("a bug in a write")
        })
        .await;
        assert!(matches!(answer, Err(StoreError::Internal(_))));
        assert_eq!(runs, 5);
    }
}
