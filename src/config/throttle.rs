//! How hard login failures are throttled: settings of the service, applied by
//! `auth::LoginThrottle`.

use std::time::Duration;

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
