//! The person's order (`position` keys): whatever keys an order holds and wherever a todo is
//! moved, the keys stay valid and in order, and a crowded gap is spread out without touching
//! the keys outside the stretch it rewrites.

use checkoff::domain::Position;
use proptest::collection::vec;
use proptest::prelude::*;

use crate::config;

/// Keys as an order collects them: short ones from creation, long ones from many moves into
/// one gap (a prefix, a run of zeros, a last digit), up to the longest allowed.
fn key() -> impl Strategy<Value = Position> {
    ("[0-9a-z]{0,12}", 0usize..190, 1u32..36).prop_map(|(prefix, zeros, last)| {
        let mut key = format!("{prefix}{}", "0".repeat(zeros));
        key.truncate(Position::MAX_CHARS - 1);
        key.push(char::from_digit(last, 36).unwrap());
        Position::from_stored(&key).unwrap()
    })
}

/// A run of an order: distinct keys, ascending.
fn run() -> impl Strategy<Value = Vec<Position>> {
    vec(key(), 1..40).prop_map(|mut keys| {
        keys.sort();
        keys.dedup();
        keys
    })
}

fn ascending(keys: &[Position]) -> bool {
    keys.windows(2).all(|w| w[0] < w[1])
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_key_between_two_is_between_them(low in proptest::option::of(key()), high in proptest::option::of(key())) {
        if let Some(key) = Position::between(low.as_ref(), high.as_ref()) {
            prop_assert!(Position::from_stored(key.as_str()).is_ok(), "{key:?}");
            prop_assert!(low.as_ref().is_none_or(|l| *l < key));
            prop_assert!(high.as_ref().is_none_or(|h| key < *h));
        } else {
            // Only a reversed pair or a gap with no room left in the longest key refuses.
            let reversed = matches!((&low, &high), (Some(l), Some(h)) if l >= h);
            let full = low.iter().chain(&high).any(|k| k.as_str().len() >= Position::MAX_CHARS - 1);
            prop_assert!(reversed || full, "{low:?} {high:?}");
        }
    }

    #[test]
    fn moves_keep_the_order(keys in run(), moves in vec((any::<prop::sample::Index>(), any::<bool>()), 1..60)) {
        // Each move takes a key out and puts a new one next to another, as the service does.
        let mut order = keys;
        for (at, before) in moves {
            if order.len() < 2 {
                break;
            }
            let from = at.index(order.len());
            order.remove(from);
            let anchor = (from + 1) % order.len();
            let gap = if before { anchor } else { anchor + 1 };
            let low = gap.checked_sub(1).map(|i| &order[i]);
            let key = match Position::between(low, order.get(gap)) {
                Some(key) => key,
                None => {
                    let Some(respaced) = Position::respace(&order, gap, true, true) else {
                        continue;
                    };
                    let end = respaced.start + respaced.keys.len();
                    order.splice(respaced.start..end, respaced.keys);
                    respaced.moved
                }
            };
            order.insert(gap, key);
            prop_assert!(ascending(&order), "{order:?}");
        }
    }

    #[test]
    fn a_respaced_stretch_fits_between_the_keys_it_leaves(
        keys in run(),
        at in any::<prop::sample::Index>(),
        first in any::<bool>(),
        last in any::<bool>(),
    ) {
        let gap = at.index(keys.len() + 1);
        // A run that does not begin the order has a key before the gap, and one that does not
        // end it a key after the gap (the service reads both sides of the anchor).
        let first = first || gap == 0;
        let last = last || gap == keys.len();
        if let Some(respaced) = Position::respace(&keys, gap, first, last) {
            let end = respaced.start + respaced.keys.len();
            prop_assert!(respaced.start <= gap && gap <= end);
            prop_assert!(respaced.keys.len() <= Position::MAX_RESPACED);
            prop_assert!(first || respaced.start >= 1, "the first key read is a bound");
            prop_assert!(last || end < keys.len(), "so is the last");
            let mut order = keys.clone();
            order.splice(respaced.start..end, respaced.keys.clone());
            order.insert(gap, respaced.moved.clone());
            prop_assert!(ascending(&order), "{order:?}");
            for key in respaced.keys.iter().chain([&respaced.moved]) {
                prop_assert!(Position::from_stored(key.as_str()).is_ok());
                prop_assert!(key.as_str().len() <= Position::MAX_CHARS / 2);
            }
            let low = gap.checked_sub(1).map(|i| &order[i]);
            prop_assert!(Position::between(low, Some(&respaced.moved)).is_some(), "room was made");
        }
    }
}
