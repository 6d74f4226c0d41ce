//! The clock of the header timeout, one per connection.
//!
//! hyper arms a new timer each time it starts reading a request's headers and drops it once
//! they are in: on a keep-alive connection, a timer put into tokio's wheel and taken out again
//! for every request (an allocation, a clock read and the wheel's lock twice, ~2 % of a cached
//! list's CPU). Here a connection keeps one tokio timer for its whole life. Each request's
//! deadline only checks it: a timer armed for an earlier request's deadline wakes the
//! connection once, early, and is moved on to the deadline of the request then waiting, so the
//! wheel sees about one change per header timeout per connection instead of two per request,
//! and a client that stops sending headers is still cut off at its own deadline.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::time::Sleep;

/// Given to hyper for one connection.
#[derive(Clone, Default)]
pub(super) struct ConnectionTimer {
    armed: Arc<Mutex<Option<Pin<Box<Sleep>>>>>,
}

impl hyper::rt::Timer for ConnectionTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(Deadline {
            at: deadline.into(),
            armed: Arc::clone(&self.armed),
        })
    }

    fn now(&self) -> Instant {
        tokio::time::Instant::now().into()
    }
}

/// One request's deadline, watched by the connection's timer.
struct Deadline {
    at: tokio::time::Instant,
    armed: Arc<Mutex<Option<Pin<Box<Sleep>>>>>,
}

impl Future for Deadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if tokio::time::Instant::now() >= self.at {
            return Poll::Ready(());
        }
        let mut armed = self.armed.lock().unwrap_or_else(|p| p.into_inner());
        let timer = armed.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(self.at)));
        loop {
            // Later than this deadline, or spent: it must ring for this one.
            if timer.deadline() > self.at || timer.is_elapsed() {
                timer.as_mut().reset(self.at);
            }
            match timer.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) if tokio::time::Instant::now() >= self.at => {
                    return Poll::Ready(());
                }
                // It rang for an earlier deadline: armed again above.
                Poll::Ready(()) => {}
            }
        }
    }
}

impl hyper::rt::Sleep for Deadline {}

#[cfg(test)]
mod tests {
    use hyper::rt::Timer;

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[tokio::test]
    async fn each_deadline_rings_at_its_own_time_on_one_timer() {
        let timer = ConnectionTimer::default();
        // A first request's headers came in time: its deadline, armed, is dropped unrung.
        let first = timer.sleep_until(Instant::now() + 100 * MS);
        let _ = tokio::time::timeout(MS, first).await;
        // The next request never sends its headers: it rings at its own deadline, not the
        // first one's.
        tokio::time::sleep(50 * MS).await;
        let started = Instant::now();
        timer.sleep_until(started + 200 * MS).await;
        let waited = started.elapsed();
        assert!(waited >= 200 * MS && waited < 400 * MS, "{waited:?}");
    }

    #[tokio::test]
    async fn a_deadline_earlier_than_the_armed_one_is_not_missed() {
        let timer = ConnectionTimer::default();
        // Polled once, arming the connection's timer for 30 s, then dropped.
        let late = timer.sleep_until(Instant::now() + 30_000 * MS);
        let _ = tokio::time::timeout(MS, late).await;
        let started = Instant::now();
        timer.sleep_until(started + 100 * MS).await;
        let waited = started.elapsed();
        assert!(waited >= 100 * MS && waited < 300 * MS, "{waited:?}");
    }
}
