//! Slows password guessing: after a few failures for one username, or many from one client
//! address, further attempts are refused (429) for a while that doubles with each new failure.
//! Counting is per username and per address, so failures on one account never block a login to
//! another from elsewhere. The counts live in the store, so the limit holds across every
//! instance (and Lambda execution environment) that shares it; old ones expire.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::ThrottlePolicy;
use crate::store::{Failures, GuardStore, Store, StoreError, StoreResult};

/// One counter: a username or a client address, and the failures it is allowed.
struct Counter {
    key: String,
    free: u32,
}

/// Writers racing on one counter retry from the other's record this many times.
const ATTEMPTS: usize = 5;
/// As [`ATTEMPTS`], for taking an attempt: a burst of logins races on one count, and each
/// round lets one through, until the lock is on.
const RESERVE_ATTEMPTS: usize = 32;
/// About the longest a password check takes: a lock younger than this may be the work of
/// attempts still in flight, and an attempt waits that long at most for it to lift.
const IN_FLIGHT: Duration = Duration::from_secs(2);
/// How often a waiting attempt looks again.
const WAIT_STEP: Duration = Duration::from_millis(25);

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The key of a username's failure count (what `checkoff users unlock` clears).
pub fn user_key(username: &str) -> String {
    format!("user:{username}")
}

fn address_key(address: IpAddr) -> String {
    format!("addr:{address}")
}

pub struct LoginThrottle {
    policy: ThrottlePolicy,
    store: Arc<dyn GuardStore>,
}

impl LoginThrottle {
    pub fn new(policy: ThrottlePolicy, store: Arc<dyn Store>) -> Self {
        Self { policy, store }
    }

    fn counters(&self, username: &str, address: Option<IpAddr>) -> Vec<Counter> {
        let mut counters = vec![Counter {
            key: user_key(username),
            free: self.policy.per_user,
        }];
        if let Some(address) = address {
            counters.push(Counter {
                key: address_key(address),
                free: self.policy.per_address,
            });
        }
        counters
    }

    /// Takes one attempt for `username` from `address` before the password is checked: counted
    /// as a failure now, so that a burst of concurrent guesses gets no more of them checked
    /// than a slow sequence would. `Some(wait)` refuses the attempt (a lock is on); then
    /// nothing of it is counted against the name. A right password then calls
    /// [`LoginThrottle::succeeded`].
    pub async fn attempt(
        &self,
        username: &str,
        address: Option<IpAddr>,
    ) -> StoreResult<Option<Duration>> {
        // The address first: an address that is locked adds nothing to a name's count, so it
        // cannot lock out a name it keeps guessing.
        let mut counters = self.counters(username, address);
        counters.reverse();
        for counter in counters {
            if let Some(wait) = self.reserve(&counter).await? {
                return Ok(Some(wait));
            }
        }
        Ok(None)
    }

    /// Counts one attempt under `counter` unless it is locked (then how long it still is).
    ///
    /// A lock set a moment ago may be the work of attempts still being checked (a burst of
    /// logins with the right password, each counted before its check): such an attempt waits a
    /// little for one of them to succeed, which lifts the lock, rather than being refused at
    /// once. Wrong guesses gain nothing by it: they are let through only once the lock is gone.
    async fn reserve(&self, counter: &Counter) -> StoreResult<Option<Duration>> {
        let waiting_since = now_millis();
        let mut attempts = 0;
        while attempts < RESERVE_ATTEMPTS {
            let old = self.store.get_failures(&counter.key).await?;
            let now = now_millis();
            if let Some(locked) = old.as_ref().filter(|f| f.locked_until > now) {
                let fresh = now.saturating_sub(locked.last) < millis(IN_FLIGHT);
                if fresh && now.saturating_sub(waiting_since) < millis(IN_FLIGHT) {
                    tokio::time::sleep(WAIT_STEP).await;
                    continue;
                }
                return Ok(Some(Duration::from_millis(locked.locked_until - now)));
            }
            attempts += 1;
            let new = self.after_failure(old.as_ref(), counter.free, now);
            let forget_at = (now + millis(self.policy.memory)).max(new.locked_until) / 1000 + 1;
            match self
                .store
                .put_failures(&counter.key, old.as_ref(), &new, forget_at)
                .await
            {
                Ok(()) => return Ok(None),
                Err(StoreError::Changed) => continue,
                Err(e) => return Err(e),
            }
        }
        // So many attempts at once that the count kept moving: a burst, and refused as one.
        Ok(Some(Duration::from_secs(1)))
    }

    /// The password was right: the name's failures are forgotten (not the address's: a
    /// guesser with an account of their own must not reset their count by logging in), and
    /// this attempt no longer counts against the address.
    pub async fn succeeded(&self, username: &str, address: Option<IpAddr>) -> StoreResult<()> {
        self.store.clear_failures(&user_key(username)).await?;
        let Some(address) = address else {
            return Ok(());
        };
        let key = address_key(address);
        for _ in 0..ATTEMPTS {
            let Some(old) = self.store.get_failures(&key).await? else {
                return Ok(());
            };
            let count = old.count.saturating_sub(1);
            let new = Failures {
                count,
                // A lock this attempt's own count set is lifted with it.
                locked_until: if count >= self.policy.per_address {
                    old.locked_until
                } else {
                    0
                },
                ..old
            };
            let forget_at = (now_millis() + millis(self.policy.memory)) / 1000 + 1;
            match self
                .store
                .put_failures(&key, Some(&old), &new, forget_at)
                .await
            {
                Err(StoreError::Changed) => continue,
                other => return other,
            }
        }
        Ok(())
    }

    /// The record after one more failure at `now`: counts older than the policy's memory are
    /// forgotten; past the free allowance each failure locks twice as long as the last.
    fn after_failure(&self, old: Option<&Failures>, free: u32, now: u64) -> Failures {
        let remembered = old.filter(|f| now.saturating_sub(f.last) < millis(self.policy.memory));
        let count = remembered.map_or(0, |f| f.count).saturating_add(1);
        let locked_until = if count >= free {
            let doublings = (count - free).min(20);
            let lock = self
                .policy
                .first_lock
                .saturating_mul(1 << doublings)
                .min(self.policy.max_lock);
            now + millis(lock)
        } else {
            remembered.map_or(0, |f| f.locked_until)
        };
        Failures {
            count,
            last: now,
            locked_until,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    const HOME: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    fn throttle(policy: ThrottlePolicy) -> (LoginThrottle, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
        (LoginThrottle::new(policy, store), dir)
    }

    #[tokio::test]
    async fn a_username_locks_after_its_allowance() {
        let (throttle, _dir) = throttle(ThrottlePolicy::default());
        for _ in 0..5 {
            assert_eq!(throttle.attempt("bob", HOME).await.unwrap(), None);
        }
        // Refused once the lock has outlived any check that could still lift it.
        let wait = throttle.attempt("bob", None).await.unwrap().unwrap();
        assert!(
            wait <= Duration::from_secs(5) - IN_FLIGHT && wait > Duration::from_secs(2),
            "{wait:?}"
        );
        assert_eq!(
            throttle.attempt("alice", HOME).await.unwrap(),
            None,
            "another username is not blocked"
        );
    }

    #[tokio::test]
    async fn a_burst_with_the_right_password_waits_its_turn_instead_of_being_refused() {
        let (throttle, _dir) = throttle(ThrottlePolicy::default());
        let throttle = Arc::new(throttle);
        // Twelve logins at once, each lifting the lock as its check succeeds.
        let burst = (0..12).map(|_| {
            let throttle = Arc::clone(&throttle);
            tokio::spawn(async move {
                let refused = throttle.attempt("bob", HOME).await.unwrap();
                tokio::time::sleep(Duration::from_millis(30)).await;
                if refused.is_none() {
                    throttle.succeeded("bob", HOME).await.unwrap();
                }
                refused
            })
        });
        for answer in futures_util::future::join_all(burst).await {
            assert_eq!(answer.unwrap(), None);
        }
    }

    #[tokio::test]
    async fn a_burst_of_guesses_gets_no_more_of_them_checked_than_a_sequence() {
        let (throttle, _dir) = throttle(ThrottlePolicy::default());
        let throttle = Arc::new(throttle);
        let burst = (0..40).map(|_| {
            let throttle = Arc::clone(&throttle);
            tokio::spawn(async move { throttle.attempt("bob", HOME).await.unwrap() })
        });
        let allowed = futures_util::future::join_all(burst)
            .await
            .into_iter()
            .filter(|answer| matches!(answer, Ok(None)))
            .count();
        assert_eq!(allowed, 5);
    }

    #[test]
    fn locks_double_up_to_the_cap() {
        let (throttle, _dir) = throttle(ThrottlePolicy {
            per_user: 1,
            ..ThrottlePolicy::default()
        });
        let first = throttle.after_failure(None, 1, 0);
        assert_eq!(first.locked_until, 5_000);
        let second = throttle.after_failure(Some(&first), 1, 1);
        assert_eq!(second.locked_until, 1 + 10_000);
        let mut last = second;
        for now in 2..40 {
            last = throttle.after_failure(Some(&last), 1, now);
        }
        assert_eq!(last.locked_until, 39 + 15 * 60 * 1000);
    }

    #[tokio::test]
    async fn an_address_spraying_usernames_gets_locked() {
        let (throttle, _dir) = throttle(ThrottlePolicy {
            per_address: 3,
            ..ThrottlePolicy::default()
        });
        for name in ["a", "b", "c"] {
            assert_eq!(throttle.attempt(name, HOME).await.unwrap(), None);
        }
        assert!(throttle.attempt("d", HOME).await.unwrap().is_some());
        assert!(throttle.attempt("d", None).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_locked_address_adds_nothing_to_the_names_it_guesses() {
        let (throttle, _dir) = throttle(ThrottlePolicy {
            per_address: 1,
            ..ThrottlePolicy::default()
        });
        assert_eq!(throttle.attempt("a", HOME).await.unwrap(), None);
        for _ in 0..10 {
            assert!(throttle.attempt("bob", HOME).await.unwrap().is_some());
        }
        assert_eq!(throttle.attempt("bob", None).await.unwrap(), None);
    }

    #[tokio::test]
    async fn success_clears_the_username_and_gives_the_address_its_attempt_back() {
        let (throttle, _dir) = throttle(ThrottlePolicy {
            per_address: 2,
            ..ThrottlePolicy::default()
        });
        for _ in 0..4 {
            assert_eq!(throttle.attempt("bob", None).await.unwrap(), None);
        }
        throttle.succeeded("bob", None).await.unwrap();
        for _ in 0..4 {
            assert_eq!(throttle.attempt("bob", None).await.unwrap(), None);
        }
        // Right passwords from one address never add up to a lock of it.
        for _ in 0..5 {
            assert_eq!(throttle.attempt("carol", HOME).await.unwrap(), None);
            throttle.succeeded("carol", HOME).await.unwrap();
        }
    }

    #[tokio::test]
    async fn old_failures_are_forgotten() {
        let (throttle, _dir) = throttle(ThrottlePolicy {
            per_user: 2,
            memory: Duration::from_millis(200),
            first_lock: Duration::from_millis(100),
            ..ThrottlePolicy::default()
        });
        throttle.attempt("bob", None).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(throttle.attempt("bob", None).await.unwrap(), None);
        assert_eq!(throttle.attempt("bob", None).await.unwrap(), None);
    }
}
