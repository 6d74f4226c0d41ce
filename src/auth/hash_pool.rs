//! Threads that only hash passwords, at a lower CPU priority than the threads serving requests:
//! when both want the CPU, requests win; when requests leave it idle, logins get all of it.
//! A pool thread runs one hash at a time; the hash's lanes run on [`lanes`], one thread per core.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// Nice value of the hashing threads (0 is normal; 19 the lowest).
const NICENESS: i32 = 10;

/// How long a hashing thread keeps what it made for hashes (its working memory) with no hash to
/// do while callers still [expect](HashPool::expect) one (with 4+ cores, one thread may idle
/// while another hashes). Once none does, a thread gives it back at once: a storm keeps it from
/// its first login to its last, and the next login after a pause maps it again (~1 ms of page
/// faults against ~10 ms of hashing). Given back only on a timer, it outlived a storm into the
/// requests after it and set the server's peak.
const KEEP_IDLE: Duration = Duration::from_millis(500);

pub(super) struct HashPool {
    queue: Arc<Queue>,
}

/// Jobs waiting for a pool thread. A thread waits on `ready` with the lock let go, so each one
/// times out on its own: with a channel behind a mutex, one thread waiting for a job held the
/// lock, and the others, blocked on the lock, never timed out to give their memory back.
#[derive(Default)]
struct Queue {
    jobs: Mutex<Jobs>,
    ready: Condvar,
}

#[derive(Default)]
struct Jobs {
    waiting: VecDeque<Job>,
    /// Callers that will or may still queue a job (waiting for their turn, or for an answer).
    expected: usize,
    /// The pool is gone (or no thread could be started): threads end once the queue is empty.
    closed: bool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Jobs> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next job; `None` once `busy` was true and no caller expects a job or [`KEEP_IDLE`]
    /// passed without one; `Err` when the pool is closed.
    fn next(&self, busy: bool) -> Result<Option<Job>, ()> {
        let mut jobs = self.lock();
        loop {
            if let Some(job) = jobs.waiting.pop_front() {
                return Ok(Some(job));
            }
            if jobs.closed {
                return Err(());
            }
            if busy && jobs.expected == 0 {
                return Ok(None);
            }
            if !busy {
                jobs = self.ready.wait(jobs).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            let (guard, waited) = self
                .ready
                .wait_timeout(jobs, KEEP_IDLE)
                .unwrap_or_else(|p| p.into_inner());
            jobs = guard;
            if waited.timed_out() && jobs.waiting.is_empty() && !jobs.closed {
                return Ok(None);
            }
        }
    }
}

/// A caller that will or may queue a job, from [`HashPool::expect`] until dropped.
pub(super) struct Expected<'a>(&'a Queue);

impl Drop for Expected<'_> {
    fn drop(&mut self) {
        let mut jobs = self.0.lock();
        jobs.expected -= 1;
        if jobs.expected == 0 {
            // Under the lock: a thread is either before its check (and sees none expected) or
            // waiting (and is woken).
            self.0.ready.notify_all();
        }
    }
}

impl HashPool {
    /// `idle` runs on a pool thread that has run a job once no caller expects another (or
    /// [`KEEP_IDLE`] passed without one).
    pub(super) fn start(threads: usize, idle: fn()) -> Self {
        let queue = Arc::new(Queue::default());
        let mut started = 0;
        for index in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("checkoff-hash-{index}"))
                .spawn(move || {
                    lower_priority();
                    let mut busy = false;
                    while let Ok(job) = queue.next(busy) {
                        busy = match job {
                            Some(job) => {
                                job();
                                true
                            }
                            None => {
                                idle();
                                false
                            }
                        };
                    }
                });
            match spawned {
                Ok(_) => started += 1,
                Err(e) => tracing::error!(error = %e, "cannot start a password hashing thread"),
            }
        }
        queue.lock().closed = started == 0;
        Self { queue }
    }

    /// Says a job may come: the threads keep what they made for jobs until every such caller
    /// has dropped its [`Expected`]. Taken before waiting for a turn, so a storm of callers
    /// keeps it from the first job to the last.
    pub(super) fn expect(&self) -> Expected<'_> {
        self.queue.lock().expected += 1;
        Expected(&self.queue)
    }

    pub(super) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, String> {
        let (reply, answer) = oneshot::channel();
        {
            let mut jobs = self.queue.lock();
            if jobs.closed {
                return Err("the password hashing threads have stopped".to_owned());
            }
            jobs.waiting.push_back(Box::new(move || {
                let _ = reply.send(work());
            }));
        }
        self.queue.ready.notify_one();
        answer
            .await
            .map_err(|_| "a password hashing job failed".to_owned())
    }
}

impl Drop for HashPool {
    fn drop(&mut self) {
        self.queue.lock().closed = true;
        self.queue.ready.notify_all();
    }
}

/// The threads computing Argon2 lanes in parallel, at the same lowered priority; started at the
/// first hash (again at the next one, if the threads could not be started).
pub(super) fn lanes() -> Result<&'static rayon::ThreadPool, String> {
    static LANES: OnceLock<rayon::ThreadPool> = OnceLock::new();
    if let Some(pool) = LANES.get() {
        return Ok(pool);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .thread_name(|index| format!("checkoff-lane-{index}"))
        .start_handler(|_| lower_priority())
        .build()
        .map_err(|e| format!("cannot start the password hashing lanes: {e}"))?;
    Ok(LANES.get_or_init(|| pool))
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: setpriority and gettid only read their arguments; on Linux a thread id names just
    // this thread, so only its own priority changes.
    let result =
        unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, NICENESS) };
    if result != 0 {
        tracing::debug!("could not lower the priority of a password hashing thread");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    #[tokio::test]
    async fn jobs_run_and_answer() {
        let pool = HashPool::start(2, || {});
        let answers: Vec<_> = (0..8).map(|i| pool.run(move || i * 2)).collect();
        let mut results = Vec::new();
        for answer in answers {
            results.push(answer.await.unwrap());
        }
        assert_eq!(results, [0, 2, 4, 6, 8, 10, 12, 14]);
    }

    #[tokio::test]
    async fn each_thread_gives_back_what_it_keeps_once_no_job_is_expected() {
        static IDLE: AtomicUsize = AtomicUsize::new(0);
        let pool = HashPool::start(2, || {
            IDLE.fetch_add(1, SeqCst);
        });
        // Two jobs that can only finish together: one on each thread.
        let both = Arc::new(std::sync::Barrier::new(2));
        let job = |both: Arc<std::sync::Barrier>| move || both.wait().is_leader();
        let expected = pool.expect();
        let (a, b) = tokio::join!(
            pool.run(job(Arc::clone(&both))),
            pool.run(job(Arc::clone(&both)))
        );
        assert!(a.unwrap() ^ b.unwrap());
        // Kept while a caller still expects a job (well short of KEEP_IDLE)...
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(IDLE.load(SeqCst), 0);
        // ...and given back by each thread as soon as none does, without waiting for KEEP_IDLE.
        drop(expected);
        let started = std::time::Instant::now();
        while IDLE.load(SeqCst) < 2 && started.elapsed() < KEEP_IDLE / 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(IDLE.load(SeqCst), 2);
        // Once, not again while nothing runs; and the pool still answers.
        tokio::time::sleep(KEEP_IDLE + Duration::from_millis(100)).await;
        assert_eq!(IDLE.load(SeqCst), 2);
        assert_eq!(pool.run(|| 2).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn a_thread_idle_while_jobs_are_still_expected_gives_back_after_keep_idle() {
        static IDLE: AtomicUsize = AtomicUsize::new(0);
        let pool = HashPool::start(1, || {
            IDLE.fetch_add(1, SeqCst);
        });
        let _expected = pool.expect();
        assert_eq!(pool.run(|| 1).await.unwrap(), 1);
        tokio::time::sleep(KEEP_IDLE + Duration::from_millis(300)).await;
        assert_eq!(IDLE.load(SeqCst), 1);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn hashing_threads_run_below_normal_priority() {
        let pool = HashPool::start(1, || {});
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        // SAFETY: getpriority only reads; the thread id is the pool thread's own.
        let nice = runtime
            .block_on(pool.run(|| unsafe {
                libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t)
            }))
            .unwrap();
        assert_eq!(nice, NICENESS);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn lane_threads_run_below_normal_priority() {
        // SAFETY: as above; `install` runs the closure on a lane thread.
        let nice = lanes().unwrap().install(|| unsafe {
            libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t)
        });
        assert_eq!(nice, NICENESS);
    }
}
