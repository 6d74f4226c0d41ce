//! GET /todos/events: each user's changes as server-sent events, so the web app shows what
//! another tab, device or the CLI did without reloading.
//!
//! Handlers publish every change made through this process to a [`ChangeFeed`]; the last few
//! hundred are kept so that a client reconnecting with `Last-Event-ID` gets what it missed.
//! Changes made by another process (the CLI, another `serve` on the same SQLite file) are known
//! only as "something changed": those, and gaps the feed can no longer fill, are sent as a
//! `reset` event (refetch the list). An idle stream waits on channels and a heartbeat timer.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde_json::json;
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

use super::error::{ApiError, ApiResult};
use super::extract::Principal;
use crate::api::AppState;
use crate::domain::{Todo, Username};

/// Changes kept for clients that reconnect.
const KEPT: usize = 512;
/// How often an idle stream sends a comment, so proxies and clients know it is alive.
const HEARTBEAT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone)]
pub enum What {
    Created(Todo),
    Updated(Todo),
    Deleted(Uuid),
    /// Many at once (a bulk action): refetch.
    Reset,
}

#[derive(Debug, Clone)]
pub struct Change {
    seq: u64,
    owner: Username,
    what: What,
}

pub struct ChangeFeed {
    /// Tells this process's event ids from another's (or an earlier run's).
    boot: String,
    next: AtomicU64,
    sender: broadcast::Sender<Change>,
    kept: Mutex<VecDeque<Change>>,
    /// Set when the server shuts down: every stream ends.
    closing: watch::Sender<bool>,
}

impl Default for ChangeFeed {
    fn default() -> Self {
        Self {
            boot: Uuid::new_v4().simple().to_string()[..8].to_owned(),
            next: AtomicU64::new(1),
            sender: broadcast::channel(KEPT).0,
            kept: Mutex::new(VecDeque::with_capacity(KEPT)),
            closing: watch::channel(false).0,
        }
    }
}

impl ChangeFeed {
    pub fn publish(&self, owner: &Username, what: What) {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        // Numbered under the lock, so the kept changes are in order.
        let change = Change {
            seq: self.next.fetch_add(1, Ordering::SeqCst),
            owner: owner.clone(),
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

    fn id(&self, seq: u64) -> String {
        format!("{}-{seq}", self.boot)
    }

    /// What `owner` missed since event `last`, or `None` when that cannot be told (an id of
    /// another run, or older than what is kept).
    fn since(&self, owner: &Username, last: &str) -> Option<Vec<Change>> {
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
                .filter(|c| c.seq > seq && c.owner == *owner)
                .cloned()
                .collect(),
        )
    }

    /// The id a `reset` sent now carries: a client resuming from it misses nothing after.
    fn current_id(&self) -> String {
        self.id(self.next.load(Ordering::SeqCst) - 1)
    }

    fn event(&self, change: &Change) -> Event {
        let (name, data) = match &change.what {
            What::Created(todo) => ("created", serde_json::to_string(todo)),
            What::Updated(todo) => ("updated", serde_json::to_string(todo)),
            What::Deleted(uid) => ("deleted", Ok(json!({ "uid": uid }).to_string())),
            What::Reset => ("reset", Ok("{}".to_owned())),
        };
        Event::default()
            .id(self.id(change.seq))
            .event(name)
            .data(data.unwrap_or_else(|_| "{}".to_owned()))
    }

    fn reset(&self) -> Event {
        Event::default()
            .id(self.current_id())
            .event("reset")
            .data("{}")
    }
}

/// Live changes of your todos
#[utoipa::path(get, path = "/todos/events", tag = "todos", security(("token" = [])),
    params(("Last-Event-ID" = Option<String>, Header, description = "The last event's id, to get what was missed")),
    responses(
        (status = 200, content_type = "text/event-stream",
            description = "Server-sent events: `created` and `updated` (data: the item), `deleted` (data: `{\"uid\"}`), `reset` (refetch the list); a comment every 20 s. The stream ends when the token expires."),
        (status = 401, description = "Unauthorized"),
        (status = 501, description = "No live events here (under Lambda): poll GET /todos with If-None-Match"),
    ))]
pub async fn todo_events(
    State(app): State<AppState>,
    Principal(caller): Principal,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if !app.live_events {
        return Err(ApiError::NotImplemented(
            "Live events are not available here; poll GET /todos with If-None-Match",
        ));
    }
    // Subscribed before the replay is read: nothing published in between is lost.
    let receiver = app.events.sender.subscribe();
    let first: Vec<Event> = match headers.get("last-event-id").and_then(|v| v.to_str().ok()) {
        None => Vec::new(),
        Some(last) => match app.events.since(&caller.owner, last) {
            Some(missed) => missed.iter().map(|c| app.events.event(c)).collect(),
            None => vec![app.events.reset()],
        },
    };
    let external = app.store.changes().map(|clock| clock.watch_external());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let expires = caller
        .context
        .get("exp")
        .and_then(|v| v.as_u64())
        .map_or(Duration::from_secs(3600), |exp| {
            Duration::from_secs(exp.saturating_sub(now))
        });
    let stream = changes(app, caller.owner, receiver, external, first, expires);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(HEARTBEAT).text("keep-alive"))
        .into_response())
}

struct Listening {
    app: AppState,
    owner: Username,
    receiver: broadcast::Receiver<Change>,
    external: Option<watch::Receiver<u64>>,
    closing: watch::Receiver<bool>,
    pending: VecDeque<Event>,
    until: tokio::time::Instant,
}

fn changes(
    app: AppState,
    owner: Username,
    receiver: broadcast::Receiver<Change>,
    external: Option<watch::Receiver<u64>>,
    first: Vec<Event>,
    lasting: Duration,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let closing = app.events.closing.subscribe();
    let state = Listening {
        closing,
        app,
        owner,
        receiver,
        external,
        pending: first.into(),
        until: tokio::time::Instant::now() + lasting,
    };
    futures_util::stream::unfold(state, |mut s| async move {
        loop {
            if let Some(event) = s.pending.pop_front() {
                return Some((Ok(event), s));
            }
            let next = {
                let external = async {
                    match s.external.as_mut() {
                        Some(watch) => watch.changed().await.is_ok(),
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    received = s.receiver.recv() => match received {
                        Ok(change) => Next::Change(change),
                        Err(broadcast::error::RecvError::Lagged(_)) => Next::Reset,
                        Err(broadcast::error::RecvError::Closed) => Next::End,
                    },
                    changed = external => if changed { Next::Reset } else { Next::NoExternal },
                    // The token that opened the stream has expired: the client comes back
                    // with a new one (and its Last-Event-ID).
                    () = tokio::time::sleep_until(s.until) => Next::End,
                    _ = s.closing.wait_for(|closing| *closing) => Next::End,
                }
            };
            match next {
                Next::Change(change) if change.owner == s.owner => {
                    let event = s.app.events.event(&change);
                    return Some((Ok(event), s));
                }
                Next::Change(_) => {}
                Next::Reset => {
                    let event = s.app.events.reset();
                    return Some((Ok(event), s));
                }
                Next::NoExternal => s.external = None,
                Next::End => return None,
            }
        }
    })
}

/// What woke a waiting stream.
enum Next {
    Change(Change),
    /// Something this stream cannot name changed: the client refetches.
    Reset,
    /// The store stopped telling about other processes' writes.
    NoExternal,
    End,
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
        feed.publish(&name("alice"), What::Created(todo("alice")));
        let seen = feed.current_id();
        feed.publish(&name("bob"), What::Created(todo("bob")));
        let uid = Uuid::now_v7();
        feed.publish(&name("alice"), What::Deleted(uid));
        let missed = feed.since(&name("alice"), &seen).unwrap();
        assert_eq!(missed.len(), 1);
        assert!(matches!(missed[0].what, What::Deleted(u) if u == uid));
        assert!(
            feed.since(&name("alice"), &feed.current_id())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn ids_of_another_run_or_too_old_cannot_be_resumed() {
        let feed = ChangeFeed::default();
        feed.publish(&name("alice"), What::Reset);
        assert!(feed.since(&name("alice"), "deadbeef-1").is_none());
        assert!(feed.since(&name("alice"), "garbage").is_none());
        let first = feed.current_id();
        for _ in 0..KEPT + 5 {
            feed.publish(&name("bob"), What::Reset);
        }
        assert!(feed.since(&name("alice"), &first).is_none());
    }
}
