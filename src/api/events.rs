//! GET /todos/events: each user's changes as server-sent events, so the web app shows what
//! another tab, device or the CLI did without reloading.
//!
//! The stream reads the [`ChangeFeed`](crate::services::ChangeFeed). Changes made by another
//! process (the CLI, another `serve` on the same SQLite file) are known only as "something
//! changed": those, and gaps the feed can no longer fill, are sent as a `reset` event (refetch
//! the list). An idle stream waits on channels and a heartbeat timer.
//!
//! A stream is bound to the account and the token that opened it, not to a name: the token is
//! checked again every [`RECHECK`] and at once when this process ends one of the owner's
//! sessions, so a logout, a password change, a revoked token or a deleted account ends the
//! stream on every instance.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde_json::json;
use tokio::sync::{broadcast, watch};

use super::error::{ApiError, ApiResult};
use super::extract::{ClientAddr, Principal};
use crate::api::AppState;
use crate::auth::Decision;
use crate::domain::{Timestamp, Username};
use crate::services::{Change, ChangeFeed, StreamSlot, What};

/// How often an idle stream sends a comment, so proxies and clients know it is alive.
const HEARTBEAT: Duration = Duration::from_secs(20);
/// How often a stream asks the authorizer again whether its token still holds: how long a
/// session ended on another instance may go on receiving.
pub const RECHECK: Duration = Duration::from_secs(2);

/// A change as the event a client reads.
fn event(feed: &ChangeFeed, change: &Change) -> Event {
    let (name, data) = match &change.what {
        What::Created(todo) => ("created", serde_json::to_string(todo)),
        What::Updated(todo) => ("updated", serde_json::to_string(todo)),
        What::Deleted(uid) => ("deleted", Ok(json!({ "uid": uid }).to_string())),
        What::Reset | What::SessionsEnded => ("reset", Ok("{}".to_owned())),
    };
    Event::default()
        .id(feed.id(change.seq))
        .event(name)
        .data(data.unwrap_or_else(|_| "{}".to_owned()))
}

/// "Read the list again", with the id a client resuming from it misses nothing after.
fn reset(feed: &ChangeFeed) -> Event {
    Event::default()
        .id(feed.current_id())
        .event("reset")
        .data("{}")
}

/// Live changes of your todos
#[utoipa::path(get, path = "/todos/events", tag = "todos", security(("token" = [])),
    params(("Last-Event-ID" = Option<String>, Header, description = "The last event's id, to get what was missed")),
    responses(
        (status = 200, content_type = "text/event-stream",
            description = "Server-sent events: `created` and `updated` (data: the item), `deleted` (data: `{\"uid\"}`), `reset` (refetch the list); a comment every 20 s. The stream ends when the token expires, and within seconds of its session ending (logout, password change, revocation, account deletion)."),
        (status = 401, description = "Unauthorized"),
        (status = 429, description = "Too many open streams for this account or address, or in all; see Retry-After"),
        (status = 501, description = "No live events here (under Lambda): poll GET /sync?since= (or GET /todos with If-None-Match)"),
    ))]
pub async fn todo_events(
    State(app): State<AppState>,
    Principal(caller): Principal,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if !app.live_events {
        return Err(ApiError::NotImplemented(
            "Live events are not available here; poll GET /sync?since=<token> (or GET /todos with If-None-Match)",
        ));
    }
    let slot = app.events.limits.admit(&caller.owner, address)?;
    let last = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let state = Listening::open(app, caller, last, recheck_request(&headers), slot);
    Ok(Sse::new(changes(state))
        .keep_alive(KeepAlive::new().interval(HEARTBEAT).text("keep-alive"))
        .into_response())
}

/// How long `caller`'s token has left (an hour when it does not say).
fn token_life(caller: &Decision) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    caller
        .context
        .get("exp")
        .and_then(|v| v.as_u64())
        .map_or(Duration::from_secs(3600), |exp| {
            Duration::from_secs(exp.saturating_sub(now))
        })
}

/// The request the stream's token is checked again with: its credentials, nothing else.
fn recheck_request(headers: &HeaderMap) -> Parts {
    let mut request = axum::http::Request::new(());
    *request.uri_mut() = axum::http::Uri::from_static("/todos/events");
    if let Some(value) = headers.get(AUTHORIZATION) {
        request.headers_mut().insert(AUTHORIZATION, value.clone());
    }
    request.into_parts().0
}

struct Listening {
    app: AppState,
    owner: Username,
    account: Option<Timestamp>,
    /// What the stream was opened with, to ask the authorizer again.
    token: Parts,
    receiver: broadcast::Receiver<Change>,
    external: Option<watch::Receiver<u64>>,
    closing: watch::Receiver<bool>,
    pending: VecDeque<Event>,
    until: tokio::time::Instant,
    recheck: tokio::time::Instant,
    _slot: StreamSlot,
}

impl Listening {
    /// A stream of `caller`'s changes, first what they missed since event `last` (or a
    /// `reset` when that cannot be told).
    fn open(
        app: AppState,
        caller: Decision,
        last: Option<&str>,
        token: Parts,
        slot: StreamSlot,
    ) -> Self {
        // Subscribed before the replay is read: nothing published in between is lost.
        let receiver = app.events.subscribe();
        let first: VecDeque<Event> = match last {
            None => VecDeque::new(),
            Some(last) => match app.events.since(&caller.owner, caller.account, last) {
                Some(missed) => missed.iter().map(|c| event(&app.events, c)).collect(),
                None => VecDeque::from([reset(&app.events)]),
            },
        };
        let now = tokio::time::Instant::now();
        Self {
            external: app.todos.changes().map(|clock| clock.watch_external()),
            closing: app.events.closing(),
            until: now + token_life(&caller),
            recheck: now + RECHECK,
            token,
            app,
            owner: caller.owner,
            account: caller.account,
            receiver,
            pending: first,
            _slot: slot,
        }
    }

    /// Whether the token that opened the stream still holds, for the same account. A store
    /// that cannot answer ends the stream too: the client reconnects, and is checked then.
    async fn still_allowed(&mut self) -> bool {
        self.recheck = tokio::time::Instant::now() + RECHECK;
        match self.app.authorizer.authorize(&self.token).await {
            Ok(decision) => decision.owner == self.owner && decision.account == self.account,
            Err(_) => false,
        }
    }
}

fn changes(state: Listening) -> impl Stream<Item = Result<Event, Infallible>> {
    // Fused: polled again after its end (a layer may), it stays ended instead of panicking.
    futures_util::StreamExt::fuse(futures_util::stream::unfold(state, |mut s| async move {
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
                    () = tokio::time::sleep_until(s.recheck) => Next::Recheck,
                    // The token that opened the stream has expired: the client comes back
                    // with a new one (and its Last-Event-ID).
                    () = tokio::time::sleep_until(s.until) => Next::End,
                    _ = s.closing.wait_for(|closing| *closing) => Next::End,
                }
            };
            match next {
                Next::Change(change) if change.owner != s.owner => {}
                Next::Change(Change {
                    what: What::SessionsEnded,
                    ..
                })
                | Next::Recheck => {
                    if !s.still_allowed().await {
                        return None;
                    }
                }
                Next::Change(change) if change.is_for(&s.owner, s.account) => {
                    let event = event(&s.app.events, &change);
                    return Some((Ok(event), s));
                }
                Next::Change(_) => {}
                Next::Reset => {
                    let event = reset(&s.app.events);
                    return Some((Ok(event), s));
                }
                Next::NoExternal => s.external = None,
                Next::End => return None,
            }
        }
    }))
}

/// What woke a waiting stream.
// One at a time per stream, for a moment: boxing the change would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum Next {
    Change(Change),
    /// Something this stream cannot name changed: the client refetches.
    Reset,
    /// The store stopped telling about other processes' writes.
    NoExternal,
    /// Time to ask whether the stream's token still holds.
    Recheck,
    End,
}
