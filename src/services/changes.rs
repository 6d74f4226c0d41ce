//! The change feed: every change made through this process to someone's todos, and every
//! session ended here, for the live streams (`GET /todos/events`).
//!
//! Services publish each change once, where they make it; the last few hundred are kept so that
//! a client reconnecting with `Last-Event-ID` gets what it missed. A change carries its owner
//! *and* account (a new account under a deleted one's name is someone else). Streams are capped
//! per account, per client address and in all ([`StreamLimits`]), so they cannot take every
//! connection the server has.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use uuid::Uuid;

use super::error::{ServiceError, ServiceResult};
use crate::auth::Decision;
use crate::domain::{Timestamp, Todo, Username};

/// Changes kept for clients that reconnect.
const KEPT: usize = 512;
#[derive(Debug, Clone)]
pub enum What {
    Created(Todo),
    Updated(Todo),
    Deleted(Uuid),
    /// Many at once (a bulk action): refetch.
    Reset,
    /// A session of the owner ended here (or their account went): streams check their token
    /// at once. Never sent to a client.
    SessionsEnded,
}

#[derive(Debug, Clone)]
pub struct Change {
    pub seq: u64,
    pub owner: Username,
    pub account: Option<Timestamp>,
    pub what: What,
}

impl Change {
    pub fn is_for(&self, owner: &Username, account: Option<Timestamp>) -> bool {
        self.owner == *owner && self.account == account
    }
}

pub struct ChangeFeed {
    /// Tells this process's event ids from another's (or an earlier run's).
    boot: String,
    next: AtomicU64,
    sender: broadcast::Sender<Change>,
    kept: Mutex<VecDeque<Change>>,
    /// Set when the server shuts down: every stream ends.
    closing: watch::Sender<bool>,
    pub limits: StreamLimits,
}

impl Default for ChangeFeed {
    fn default() -> Self {
        Self {
            boot: Uuid::new_v4().simple().to_string()[..8].to_owned(),
            next: AtomicU64::new(1),
            sender: broadcast::channel(KEPT).0,
            kept: Mutex::new(VecDeque::with_capacity(KEPT)),
            closing: watch::channel(false).0,
            limits: StreamLimits::default(),
        }
    }
}

impl ChangeFeed {
    /// A change the caller made to their own todos.
    pub fn publish(&self, caller: &Decision, what: What) {
        self.send(&caller.owner, caller.account, what);
    }

    /// Something changed in a list shared with `member`'s `account` (not their own): their
    /// streams are told to read again. Only the hint: what changed is read through the grant.
    pub fn hint(&self, member: &Username, account: Timestamp) {
        self.send(member, Some(account), What::Reset);
    }

    /// Whether any stream listens in this process (else there is no one to tell).
    pub fn heard(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    /// Sessions of `owner` ended here (a logout, a password change, a revoked token, the
    /// account deleted): their streams check their tokens now rather than at the next
    /// recheck.
    pub fn sessions_ended(&self, owner: &Username) {
        self.send(owner, None, What::SessionsEnded);
    }

    fn send(&self, owner: &Username, account: Option<Timestamp>, what: What) {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        // Numbered under the lock, so the kept changes are in order.
        let change = Change {
            seq: self.next.fetch_add(1, Ordering::SeqCst),
            owner: owner.clone(),
            account,
            what,
        };
        if kept.len() == KEPT {
            kept.pop_front();
        }
        kept.push_back(change.clone());
        drop(kept);
        // No one listening is fine.
        let _ = self.sender.send(change);
    }

    /// Ends every stream (the server is shutting down).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Every change published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.sender.subscribe()
    }

    /// Turns true when the server shuts down.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// The event id of change `seq`.
    pub fn id(&self, seq: u64) -> String {
        format!("{}-{seq}", self.boot)
    }

    /// What `owner`'s `account` missed since event `last`, or `None` when that cannot be told
    /// (an id of another run, or older than what is kept).
    pub fn since(
        &self,
        owner: &Username,
        account: Option<Timestamp>,
        last: &str,
    ) -> Option<Vec<Change>> {
        let (boot, seq) = last.split_once('-')?;
        let seq: u64 = seq.parse().ok()?;
        if boot != self.boot {
            return None;
        }
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let oldest = kept
            .front()
            .map_or(self.next.load(Ordering::SeqCst), |c| c.seq);
        if seq + 1 < oldest {
            return None;
        }
        Some(
            kept.iter()
                .filter(|c| c.seq > seq && c.is_for(owner, account))
                .filter(|c| !matches!(c.what, What::SessionsEnded))
                .cloned()
                .collect(),
        )
    }

    /// The id a `reset` sent now carries: a client resuming from it misses nothing after.
    pub fn current_id(&self) -> String {
        self.id(self.next.load(Ordering::SeqCst) - 1)
    }
}

/// Bounds on open streams, each of which holds a connection for as long as its token lives:
/// per account, per client address, and in all (so that ordinary requests always find a
/// connection slot). Past a bound the answer is 429.
pub struct StreamLimits {
    per_account: usize,
    per_address: usize,
    total: AtomicUsize,
    open: Arc<Mutex<OpenStreams>>,
}

#[derive(Default)]
struct OpenStreams {
    all: usize,
    by_account: HashMap<Username, usize>,
    by_address: HashMap<IpAddr, usize>,
}

/// Streams one account may have open at once (tabs and devices).
pub const STREAMS_PER_ACCOUNT: usize = 8;
/// Streams one client address may have open at once (a household or office behind one NAT).
pub const STREAMS_PER_ADDRESS: usize = 32;

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            per_account: STREAMS_PER_ACCOUNT,
            per_address: STREAMS_PER_ADDRESS,
            total: AtomicUsize::new(usize::MAX),
            open: Arc::default(),
        }
    }
}

impl StreamLimits {
    /// Streams in all may take at most this many connections (the server sets half of its own
    /// limit, keeping the other half for ordinary requests).
    pub fn set_total(&self, total: usize) {
        self.total.store(total.max(1), Ordering::Relaxed);
    }

    /// A slot for one more stream of `owner` from `address`, held until the stream ends.
    pub fn admit(&self, owner: &Username, address: Option<IpAddr>) -> ServiceResult<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let refused = if open.all >= self.total.load(Ordering::Relaxed) {
            Some("Too many live streams are open on this server; try again later")
        } else if open.by_account.get(owner).copied().unwrap_or(0) >= self.per_account {
            Some("Too many live streams are open for this account; close one first")
        } else if address
            .is_some_and(|a| open.by_address.get(&a).copied().unwrap_or(0) >= self.per_address)
        {
            Some("Too many live streams are open from this address; close one first")
        } else {
            None
        };
        if let Some(why) = refused {
            return Err(ServiceError::Limited {
                message: why.to_owned(),
                retry_after: Duration::from_secs(5),
            });
        }
        open.all += 1;
        *open.by_account.entry(owner.clone()).or_default() += 1;
        if let Some(address) = address {
            *open.by_address.entry(address).or_default() += 1;
        }
        Ok(StreamSlot {
            open: Arc::clone(&self.open),
            owner: owner.clone(),
            address,
        })
    }
}

/// One open stream's place in [`StreamLimits`], given back when the stream is dropped.
pub struct StreamSlot {
    open: Arc<Mutex<OpenStreams>>,
    owner: Username,
    address: Option<IpAddr>,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.all = open.all.saturating_sub(1);
        release(&mut open.by_account, &self.owner);
        if let Some(address) = self.address {
            release(&mut open.by_address, &address);
        }
    }
}

/// One fewer under `key`; a key with none left is forgotten, so the maps hold only what is open.
fn release<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, usize>, key: &K) {
    if let Some(count) = counts.get_mut(key) {
        *count -= 1;
        if *count == 0 {
            counts.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Description, Metadata};

    fn name(n: &str) -> Username {
        Username::parse(n).unwrap()
    }

    fn todo(owner: &str) -> Todo {
        Todo::new(
            name(owner),
            Description::parse("x").unwrap(),
            Metadata::default(),
        )
    }

    #[test]
    fn a_reconnecting_client_gets_only_its_own_missed_changes() {
        let feed = ChangeFeed::default();
        feed.send(&name("alice"), None, What::Created(todo("alice")));
        let seen = feed.current_id();
        feed.send(&name("bob"), None, What::Created(todo("bob")));
        let uid = Uuid::now_v7();
        feed.send(&name("alice"), None, What::Deleted(uid));
        let missed = feed.since(&name("alice"), None, &seen).unwrap();
        assert_eq!(missed.len(), 1);
        assert!(matches!(missed[0].what, What::Deleted(u) if u == uid));
        assert!(
            feed.since(&name("alice"), None, &feed.current_id())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_change_reaches_its_account_not_a_later_one_of_the_same_name() {
        let feed = ChangeFeed::default();
        let seen = feed.current_id();
        let old = Timestamp::parse("2026-01-01T00:00:00.000Z").unwrap();
        let new = Timestamp::parse("2026-06-01T00:00:00.000Z").unwrap();
        feed.send(&name("alice"), Some(new), What::Created(todo("alice")));
        feed.sessions_ended(&name("alice"));
        assert!(
            feed.since(&name("alice"), Some(old), &seen)
                .unwrap()
                .is_empty()
        );
        let missed = feed.since(&name("alice"), Some(new), &seen).unwrap();
        assert_eq!(missed.len(), 1, "notices are never replayed");
    }

    #[test]
    fn streams_are_bounded_per_account_per_address_and_in_all() {
        let limits = StreamLimits::default();
        let home = Some(IpAddr::from([127, 0, 0, 1]));
        let held: Vec<StreamSlot> = (0..STREAMS_PER_ACCOUNT)
            .map(|_| limits.admit(&name("alice"), home).unwrap())
            .collect();
        assert!(limits.admit(&name("alice"), None).is_err());
        assert!(limits.admit(&name("bob"), home).is_ok());
        drop(held);
        assert!(
            limits.admit(&name("alice"), home).is_ok(),
            "slots come back"
        );
        let crowd: Vec<StreamSlot> = (0..STREAMS_PER_ADDRESS)
            .map(|i| limits.admit(&name(&format!("u{i}")), home).unwrap())
            .collect();
        assert!(limits.admit(&name("carol"), home).is_err());
        assert!(limits.admit(&name("carol"), None).is_ok());
        drop(crowd);
        limits.set_total(1);
        let only = limits.admit(&name("dave"), None).unwrap();
        assert!(limits.admit(&name("erin"), None).is_err());
        drop(only);
        assert!(limits.open.lock().unwrap().by_account.is_empty());
    }

    #[test]
    fn ids_of_another_run_or_too_old_cannot_be_resumed() {
        let feed = ChangeFeed::default();
        feed.send(&name("alice"), None, What::Reset);
        assert!(feed.since(&name("alice"), None, "deadbeef-1").is_none());
        assert!(feed.since(&name("alice"), None, "garbage").is_none());
        let first = feed.current_id();
        for _ in 0..KEPT + 5 {
            feed.send(&name("bob"), None, What::Reset);
        }
        assert!(feed.since(&name("alice"), None, &first).is_none());
    }
}
