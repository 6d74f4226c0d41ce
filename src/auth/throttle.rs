//! Slows password guessing: after a few failures for one username, or many from one client
//! address, further attempts are refused (429) for a while that doubles with each new failure.
//! Counting is per username and per address, so failures on one account never block a login to
//! another from elsewhere.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// Entries kept at most; past it the oldest knowledge is dropped rather than memory grown.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Address(IpAddr),
}

#[derive(Debug)]
struct Entry {
    failures: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
}

pub struct LoginThrottle {
    policy: ThrottlePolicy,
    entries: Mutex<HashMap<Key, Entry>>,
}

impl LoginThrottle {
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self {
            policy,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn keys(username: &str, address: Option<IpAddr>) -> impl Iterator<Item = Key> {
        std::iter::once(Key::User(username.to_owned())).chain(address.map(Key::Address))
    }

    /// `Err(wait)` while `username` or `address` is locked.
    pub fn check(&self, username: &str, address: Option<IpAddr>) -> Result<(), Duration> {
        let now = Instant::now();
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let wait = Self::keys(username, address)
            .filter_map(|key| entries.get(&key)?.locked_until)
            .filter_map(|until| until.checked_duration_since(now))
            .filter(|wait| !wait.is_zero())
            .max();
        wait.map_or(Ok(()), Err)
    }

    pub fn record_failure(&self, username: &str, address: Option<IpAddr>) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            let memory = self.policy.memory;
            entries.retain(|_, e| now.duration_since(e.last_failure) < memory);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        for key in Self::keys(username, address) {
            let free = match key {
                Key::User(_) => self.policy.per_user,
                Key::Address(_) => self.policy.per_address,
            };
            let entry = entries.entry(key).or_insert(Entry {
                failures: 0,
                last_failure: now,
                locked_until: None,
            });
            if now.duration_since(entry.last_failure) >= self.policy.memory {
                entry.failures = 0;
            }
            entry.failures += 1;
            entry.last_failure = now;
            if entry.failures >= free {
                let doublings = (entry.failures - free).min(20);
                let lock = self.policy.first_lock.saturating_mul(1 << doublings);
                entry.locked_until = Some(now + lock.min(self.policy.max_lock));
            }
        }
    }

    /// A right password clears its username's record (not the address's: a guesser with an
    /// account of their own must not reset their count by logging in).
    pub fn record_success(&self, username: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(&Key::User(username.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    #[test]
    fn a_username_locks_after_its_allowance() {
        let throttle = LoginThrottle::new(ThrottlePolicy::default());
        for _ in 0..4 {
            throttle.record_failure("bob", HOME);
            assert!(throttle.check("bob", HOME).is_ok());
        }
        throttle.record_failure("bob", HOME);
        let wait = throttle.check("bob", None).unwrap_err();
        assert!(
            wait <= Duration::from_secs(5) && wait > Duration::from_secs(4),
            "{wait:?}"
        );
        assert!(
            throttle.check("alice", HOME).is_ok(),
            "another username is not blocked"
        );
    }

    #[test]
    fn locks_double_up_to_the_cap() {
        let policy = ThrottlePolicy {
            per_user: 1,
            ..ThrottlePolicy::default()
        };
        let throttle = LoginThrottle::new(policy);
        throttle.record_failure("bob", None);
        throttle.record_failure("bob", None);
        assert!(throttle.check("bob", None).unwrap_err() > Duration::from_secs(9));
        for _ in 0..30 {
            throttle.record_failure("bob", None);
        }
        assert!(throttle.check("bob", None).unwrap_err() <= Duration::from_secs(15 * 60));
    }

    #[test]
    fn an_address_spraying_usernames_gets_locked() {
        let policy = ThrottlePolicy {
            per_address: 3,
            ..ThrottlePolicy::default()
        };
        let throttle = LoginThrottle::new(policy);
        for name in ["a", "b", "c"] {
            throttle.record_failure(name, HOME);
        }
        assert!(throttle.check("d", HOME).is_err());
        assert!(throttle.check("d", None).is_ok());
    }

    #[test]
    fn success_clears_the_username() {
        let throttle = LoginThrottle::new(ThrottlePolicy::default());
        for _ in 0..4 {
            throttle.record_failure("bob", HOME);
        }
        throttle.record_success("bob");
        throttle.record_failure("bob", HOME);
        assert!(throttle.check("bob", HOME).is_ok());
    }
}
