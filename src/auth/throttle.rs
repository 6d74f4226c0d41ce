//! Slows password guessing: after a few failures for one username, or many from one client
//! address, further attempts are refused (429) for a while that doubles with each new failure.
//! Counting is per username and per address, so failures on one account never block a login to
//! another from elsewhere. The counts live in the store, so the limit holds across every
//! instance (and Lambda execution environment) that shares it; old ones expire.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::store::{Failures, Store, StoreError, StoreResult};

#[derive(Debug, Clone)]
pub struct ThrottlePolicy {
    /// Failures on one username before it is locked.
    pub per_user: u32,
    /// Failures from one address, over all usernames, before it is locked.
    pub per_address: u32,
    /// The first lock; each further failure doubles it, up to `max_lock`.
    pub first_lock: Duration,
    pub max_lock: Duration,
    /// Failures older than this are forgotten.
    pub memory: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            per_user: 5,
            per_address: 50,
            first_lock: Duration::from_secs(5),
            max_lock: Duration::from_secs(15 * 60),
            memory: Duration::from_secs(15 * 60),
        }
    }
}

/// One counter: a username or a client address, and the failures it is allowed.
struct Counter {
    key: String,
    free: u32,
}

/// Writers racing on one counter retry from the other's record this many times.
const ATTEMPTS: usize = 5;

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

pub struct LoginThrottle {
    policy: ThrottlePolicy,
    store: Arc<dyn Store>,
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
                key: format!("addr:{address}"),
                free: self.policy.per_address,
            });
        }
        counters
    }

    /// `Some(wait)` while `username` or `address` is locked.
    pub async fn check(
        &self,
        username: &str,
        address: Option<IpAddr>,
    ) -> StoreResult<Option<Duration>> {
        let now = now_millis();
        let mut wait = 0;
        for counter in self.counters(username, address) {
            if let Some(failures) = self.store.get_failures(&counter.key).await? {
                wait = wait.max(failures.locked_until.saturating_sub(now));
            }
        }
        Ok((wait > 0).then(|| Duration::from_millis(wait)))
    }

    /// Counts a failure against `username` and `address`.
    pub async fn record_failure(&self, username: &str, address: Option<IpAddr>) -> StoreResult<()> {
        for counter in self.counters(username, address) {
            self.count(&counter).await?;
        }
        Ok(())
    }

    async fn count(&self, counter: &Counter) -> StoreResult<()> {
        for _ in 0..ATTEMPTS {
            let old = self.store.get_failures(&counter.key).await?;
            let now = now_millis();
            let new = self.after_failure(old.as_ref(), counter.free, now);
            let forget_at = (now + millis(self.policy.memory)).max(new.locked_until) / 1000 + 1;
            match self
                .store
                .put_failures(&counter.key, old.as_ref(), &new, forget_at)
                .await
            {
                Err(StoreError::Changed) => continue,
                other => return other,
            }
        }
        Err(StoreError::Unavailable(format!(
            "the failure count of {} kept changing",
            counter.key
        )))
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

    /// A right password clears its username's record (not the address's: a guesser with an
    /// account of their own must not reset their count by logging in).
    pub async fn record_success(&self, username: &str) -> StoreResult<()> {
        self.store.clear_failures(&user_key(username)).await
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
        for _ in 0..4 {
            throttle.record_failure("bob", HOME).await.unwrap();
            assert_eq!(throttle.check("bob", HOME).await.unwrap(), None);
        }
        throttle.record_failure("bob", HOME).await.unwrap();
        let wait = throttle.check("bob", None).await.unwrap().unwrap();
        assert!(
            wait <= Duration::from_secs(5) && wait > Duration::from_secs(4),
            "{wait:?}"
        );
        assert_eq!(
            throttle.check("alice", HOME).await.unwrap(),
            None,
            "another username is not blocked"
        );
    }

    #[tokio::test]
    async fn locks_double_up_to_the_cap() {
        let (throttle, _dir) = throttle(ThrottlePolicy {
            per_user: 1,
            ..ThrottlePolicy::default()
        });
        throttle.record_failure("bob", None).await.unwrap();
        throttle.record_failure("bob", None).await.unwrap();
        assert!(throttle.check("bob", None).await.unwrap().unwrap() > Duration::from_secs(9));
        for _ in 0..30 {
            throttle.record_failure("bob", None).await.unwrap();
        }
        assert!(
            throttle.check("bob", None).await.unwrap().unwrap() <= Duration::from_secs(15 * 60)
        );
    }

    #[tokio::test]
    async fn an_address_spraying_usernames_gets_locked() {
        let (throttle, _dir) = throttle(ThrottlePolicy {
            per_address: 3,
            ..ThrottlePolicy::default()
        });
        for name in ["a", "b", "c"] {
            throttle.record_failure(name, HOME).await.unwrap();
        }
        assert!(throttle.check("d", HOME).await.unwrap().is_some());
        assert!(throttle.check("d", None).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn success_clears_the_username() {
        let (throttle, _dir) = throttle(ThrottlePolicy::default());
        for _ in 0..4 {
            throttle.record_failure("bob", HOME).await.unwrap();
        }
        throttle.record_success("bob").await.unwrap();
        throttle.record_failure("bob", HOME).await.unwrap();
        assert_eq!(throttle.check("bob", HOME).await.unwrap(), None);
    }

    #[tokio::test]
    async fn old_failures_are_forgotten() {
        let (throttle, _dir) = throttle(ThrottlePolicy {
            per_user: 2,
            memory: Duration::from_millis(200),
            first_lock: Duration::from_millis(100),
            ..ThrottlePolicy::default()
        });
        throttle.record_failure("bob", None).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        throttle.record_failure("bob", None).await.unwrap();
        assert_eq!(throttle.check("bob", None).await.unwrap(), None);
    }
}
