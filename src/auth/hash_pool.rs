//! Threads that only hash passwords, at a lower CPU priority than the threads serving requests:
//! when both want the CPU, requests win; when requests leave it idle, logins get all of it.
//! A pool thread runs one hash at a time; the hash's lanes run on [`lanes`], one thread per core.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// Nice value of the hashing threads (0 is normal; 19 the lowest).
const NICENESS: i32 = 10;

/// How long a hashing thread keeps what it made for hashes (its working memory) with no hash
/// to do: kept through a burst of logins, given back between them.
const KEEP_IDLE: Duration = Duration::from_millis(500);

pub(super) struct HashPool {
    jobs: mpsc::Sender<Job>,
}

impl HashPool {
    /// `idle` runs on a pool thread once it has had nothing to do for [`KEEP_IDLE`].
    pub(super) fn start(threads: usize, idle: fn()) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("checkoff-hash-{index}"))
                .spawn(move || {
                    lower_priority();
                    let mut busy = false;
                    loop {
                        let queue = queue.lock().unwrap_or_else(|p| p.into_inner());
                        let job = match busy {
                            true => queue.recv_timeout(KEEP_IDLE),
                            false => queue.recv().map_err(mpsc::RecvTimeoutError::from),
                        };
                        drop(queue);
                        busy = match job {
                            Ok(job) => {
                                job();
                                true
                            }
                            Err(mpsc::RecvTimeoutError::Timeout) => {
                                idle();
                                false
                            }
                            Err(mpsc::RecvTimeoutError::Disconnected) => return,
                        };
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        Self { jobs }
    }

    pub(super) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, String> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = reply.send(work());
            }))
            .map_err(|_| "the password hashing threads have stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "a password hashing job failed".to_owned())
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
    async fn an_idle_thread_gives_back_what_it_keeps_and_goes_on_working() {
        static IDLE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let pool = HashPool::start(1, || {
            IDLE.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        // Not before its first job (it has nothing to give back), nor while busy.
        assert_eq!(pool.run(|| 1).await.unwrap(), 1);
        assert_eq!(IDLE.load(std::sync::atomic::Ordering::SeqCst), 0);
        tokio::time::sleep(KEEP_IDLE + Duration::from_millis(500)).await;
        assert_eq!(IDLE.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Once, not every KEEP_IDLE after; and it still answers.
        tokio::time::sleep(KEEP_IDLE).await;
        assert_eq!(IDLE.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(pool.run(|| 2).await.unwrap(), 2);
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
