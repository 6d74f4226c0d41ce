//! Tells readers whether an owner's todos may have changed since a moment they remember, without
//! asking the database. The API keeps serialised list pages against a [`Stamp`] and serves them
//! only while the stamp is still current.
//!
//! Owners hash to one of a fixed set of stripes (no growth with the number of users; two owners
//! sharing a stripe only cost each other a cache miss). A write counts as begun before its
//! transaction commits and as ended after, so a reader never takes a stamp while a write it could
//! miss is in flight. Writes by other processes are noticed by the store and end every stamp at
//! once ([`ChangeClock::external_change`]).

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

use tokio::sync::watch;

use crate::domain::Username;

const STRIPES: usize = 256;

pub struct ChangeClock {
    hasher: RandomState,
    /// Bumped when another process changed the database.
    epoch: AtomicU64,
    /// The epoch, for those who wait for it to move (live event streams).
    external: watch::Sender<u64>,
    /// One stripe per share of owners, and one more (the last) for writes of no one's todos
    /// (lists, memberships, profiles, sessions).
    begun: [AtomicU64; STRIPES + 1],
    ended: [AtomicU64; STRIPES + 1],
}

/// An owner's todos as of one moment; equal stamps mean nothing changed in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    epoch: u64,
    writes: u64,
}

/// The stripe a write to one owner's todos counts against.
#[derive(Debug, Clone, Copy)]
pub struct Stripe(usize);

impl Default for ChangeClock {
    fn default() -> Self {
        Self {
            hasher: RandomState::new(),
            epoch: AtomicU64::new(0),
            external: watch::channel(0).0,
            begun: std::array::from_fn(|_| AtomicU64::new(0)),
            ended: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl ChangeClock {
    pub fn stripe(&self, owner: &Username) -> Stripe {
        // The low bits of a full 64-bit hash; STRIPES is far below u64::MAX.
        Stripe((self.hasher.hash_one(owner.as_str()) % STRIPES as u64) as usize)
    }

    /// The stripe of writes that change no one's todos.
    pub fn unowned(&self) -> Stripe {
        Stripe(STRIPES)
    }

    /// The current stamp of `owner`'s todos, or `None` while a write to them is in flight.
    pub fn stamp(&self, owner: &Username) -> Option<Stamp> {
        self.stripe_stamp(self.stripe(owner))
    }

    /// The current stamp of everything but todos (see [`ChangeClock::unowned`]).
    pub fn unowned_stamp(&self) -> Option<Stamp> {
        self.stripe_stamp(self.unowned())
    }

    fn stripe_stamp(&self, Stripe(i): Stripe) -> Option<Stamp> {
        let epoch = self.epoch.load(SeqCst);
        let ended = self.ended[i].load(SeqCst);
        (self.begun[i].load(SeqCst) == ended).then_some(Stamp {
            epoch,
            writes: ended,
        })
    }

    /// Call before the write can become visible (before its COMMIT).
    pub fn begin(&self, Stripe(i): Stripe) {
        self.begun[i].fetch_add(1, SeqCst);
    }

    /// Call once the write is visible or abandoned, before anyone hears that it happened.
    pub fn end(&self, Stripe(i): Stripe) {
        self.ended[i].fetch_add(1, SeqCst);
    }

    /// Counts the changes seen from other processes: equal readings mean nothing written
    /// elsewhere has been noticed in between.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(SeqCst)
    }

    /// Something may have changed the data outside this process (a check that cannot tell this
    /// process's own commits from another's): no earlier stamp is current any more, but live
    /// streams are not told, since most such changes are this process's own, already sent.
    pub fn maybe_external_change(&self) {
        self.epoch.fetch_add(1, SeqCst);
    }

    /// Something outside this process changed the data: no earlier stamp is current any more,
    /// and live streams are told to read again.
    pub fn external_change(&self) {
        let epoch = self.epoch.fetch_add(1, SeqCst) + 1;
        self.external.send_replace(epoch);
    }

    /// Wakes when another process changes the data.
    pub fn watch_external(&self) -> watch::Receiver<u64> {
        self.external.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Username {
        Username::parse(s).expect("a valid name")
    }

    #[test]
    fn a_write_ends_the_stamp_and_hides_it_while_in_flight() {
        let clock = ChangeClock::default();
        let alice = name("alice");
        let before = clock.stamp(&alice).expect("no write in flight");
        let stripe = clock.stripe(&alice);
        clock.begin(stripe);
        assert_eq!(clock.stamp(&alice), None);
        clock.end(stripe);
        let after = clock.stamp(&alice).expect("the write ended");
        assert_ne!(before, after);
    }

    #[test]
    fn an_external_change_ends_every_stamp() {
        let clock = ChangeClock::default();
        let alice = name("alice");
        let before = clock.stamp(&alice);
        clock.external_change();
        assert_ne!(before, clock.stamp(&alice));
    }
}
