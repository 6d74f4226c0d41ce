//! What one account may hold and do ([`Quota`]): checked on every write against what its
//! profile, read by the authorizer for this very request, says it holds, and against its rate of
//! writes on this instance. Writes racing each other are each checked against the same reading,
//! so an account may pass its limit by the writes it has in flight at once, never by more.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::error::{ServiceError, ServiceResult};
use crate::auth::Decision;
use crate::config::Quota;
use crate::domain::Username;

/// Seconds' worth of writes an account may make at once.
const BURST_SECONDS: u32 = 10;
/// Accounts whose write rate is tracked at most; past it, those with a full allowance (idle for
/// ten seconds) are forgotten, which costs them nothing.
const MAX_TRACKED: usize = 10_000;

pub struct AccountLimits {
    quota: Quota,
    buckets: Mutex<HashMap<Username, Bucket>>,
}

/// A token bucket: writes left, as of `at`.
#[derive(Clone, Copy)]
struct Bucket {
    left: f64,
    at: Instant,
}

impl AccountLimits {
    pub fn new(quota: Quota) -> Self {
        Self {
            quota,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// One write of `caller`'s that changes no size (a state change, a delete).
    pub fn write(&self, caller: &Decision) -> ServiceResult<()> {
        self.take_write(&caller.owner)
    }

    /// One write of `caller`'s that adds `todos` todos and `bytes` bytes (fewer, when negative).
    pub fn grow(&self, caller: &Decision, todos: u64, bytes: i64) -> ServiceResult<()> {
        let usage = caller.usage;
        if todos > 0 && self.quota.todos > 0 && usage.todos + todos > self.quota.todos {
            return Err(ServiceError::OverQuota(format!(
                "This account holds {} todos, its limit: delete some to make room",
                self.quota.todos
            )));
        }
        if bytes > 0 && self.quota.bytes > 0 && usage.bytes + bytes as u64 > self.quota.bytes {
            return Err(ServiceError::OverQuota(format!(
                "This account's todos would take more than {} bytes (their texts and metadata), \
                 its limit: delete or shorten some to make room",
                self.quota.bytes
            )));
        }
        self.take_write(&caller.owner)
    }

    /// Whether `bytes` more would fit in what `caller`'s account may hold.
    pub fn has_room(&self, caller: &Decision, bytes: u64) -> bool {
        self.quota.bytes == 0 || caller.usage.bytes + bytes <= self.quota.bytes
    }

    fn take_write(&self, owner: &Username) -> ServiceResult<()> {
        let rate = f64::from(self.quota.writes_per_second);
        if rate == 0.0 {
            return Ok(());
        }
        let burst = rate * f64::from(BURST_SECONDS);
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(owner) {
            buckets.retain(|_, b| b.left + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(owner.clone()).or_insert(Bucket {
            left: burst,
            at: now,
        });
        let left = (bucket.left + now.duration_since(bucket.at).as_secs_f64() * rate).min(burst);
        if left < 1.0 {
            return Err(ServiceError::Limited {
                message: format!(
                    "This account makes more than {} writes a second, its limit; slow down",
                    self.quota.writes_per_second
                ),
                retry_after: Duration::from_secs_f64((1.0 - left) / rate),
            });
        }
        *bucket = Bucket {
            left: left - 1.0,
            at: now,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::RouteGrants;
    use crate::domain::Usage;

    fn caller(todos: u64, bytes: u64) -> Decision {
        Decision {
            principal: "alice".into(),
            owner: Username::parse("alice").unwrap(),
            account: None,
            usage: Usage { todos, bytes },
            authorizer: "builtin",
            admin: false,
            routes: RouteGrants::all(),
            context: Default::default(),
        }
    }

    #[test]
    fn an_account_holds_no_more_than_its_todos_and_bytes() {
        let limits = AccountLimits::new(Quota {
            todos: 10,
            bytes: 1000,
            writes_per_second: 0,
        });
        assert!(limits.grow(&caller(9, 0), 1, 10).is_ok());
        assert!(matches!(
            limits.grow(&caller(10, 0), 1, 10),
            Err(ServiceError::OverQuota(_))
        ));
        assert!(limits.grow(&caller(5, 990), 1, 10).is_ok());
        assert!(limits.grow(&caller(5, 991), 1, 10).is_err());
        // Shrinking, or changing nothing, is always allowed.
        assert!(limits.grow(&caller(10, 2000), 0, -5).is_ok());
        assert!(limits.write(&caller(99, 9999)).is_ok());
    }

    #[test]
    fn writes_beyond_the_rate_wait_for_their_turn() {
        let limits = AccountLimits::new(Quota {
            todos: 0,
            bytes: 0,
            writes_per_second: 2,
        });
        for _ in 0..2 * BURST_SECONDS {
            assert!(limits.write(&caller(0, 0)).is_ok());
        }
        match limits.write(&caller(0, 0)) {
            Err(ServiceError::Limited { retry_after, .. }) => {
                assert!(retry_after <= Duration::from_millis(500), "{retry_after:?}")
            }
            other => panic!("{other:?}"),
        }
        let mut bob = caller(0, 0);
        bob.owner = Username::parse("bob").unwrap();
        assert!(limits.write(&bob).is_ok(), "another account has its own");
    }
}
