//! The request log line and the request metrics.

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method};
use axum::response::Response;
use metrics::{Counter, Histogram};
use tower::Service;

use crate::telemetry::{REQUEST_TARGET, RequestLine};

/// One line per request at `info`: method, route, status, time and request id (never a header
/// or body: tokens and passwords travel there); and the same in the metrics. Around each
/// route's handler, where the matched route is known; `log` off (Lambda, whose entry logs each
/// request with API Gateway's id) it passes the request through.
#[derive(Clone)]
pub(super) struct Observe<S> {
    inner: S,
    log: bool,
}

impl<S> Observe<S> {
    pub(super) fn new(inner: S, log: bool) -> Self {
        Self { inner, log }
    }
}

impl<S> Service<Request> for Observe<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Observed<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if !self.log {
            return Observed {
                inner: self.inner.call(request),
                seen: None,
            };
        }
        let started = Instant::now();
        let method = request.method().clone();
        // The route as written in the table, never the path asked for: one series per route.
        // Both kept as shared (no copy): the request itself moves on.
        let matched = request.extensions().get::<MatchedPath>().cloned();
        let id = request.headers().get(super::edge::X_REQUEST_ID).cloned();
        Observed {
            inner: self.inner.call(request),
            seen: Some(Seen {
                started,
                method,
                matched,
                id,
            }),
        }
    }
}

/// What the line says of the request, noted as it comes in.
struct Seen {
    started: Instant,
    method: Method,
    matched: Option<MatchedPath>,
    id: Option<HeaderValue>,
}

pin_project_lite::pin_project! {
    pub(super) struct Observed<F> {
        #[pin]
        inner: F,
        seen: Option<Seen>,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Observed<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(response) = ready!(this.inner.poll(cx));
        if let Some(seen) = this.seen.take() {
            log(&seen, &response);
        }
        Poll::Ready(Ok(response))
    }
}

fn log(seen: &Seen, response: &Response) {
    let route = seen.matched.as_ref().map_or("-", MatchedPath::as_str);
    let request_id = seen
        .id
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let elapsed = seen.started.elapsed();
    let status = response.status().as_u16();
    let method = &seen.method;
    let line = RequestLine {
        request_id,
        method: method.as_str(),
        route,
        status,
        micros: u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
    };
    if !line.queue() {
        // To the microsecond, as a number that prints as such (not 0.5031439999999999).
        let ms = line.micros as f64 / 1e3;
        // The message as a field of its own: a plain string written as it is, where a format
        // string goes through `core::fmt`.
        tracing::info!(target: REQUEST_TARGET, message = "request", request_id, %method, route, status, ms);
    }
    if crate::telemetry::recording() {
        record(method_label(method), route, status, elapsed.as_secs_f64());
    }
}

/// The request metrics' handles by method and status, then route.
type Handles =
    foldhash::HashMap<(&'static str, u16), foldhash::HashMap<String, (Counter, Histogram)>>;

/// Counts the request with this method, route and status and records its time in the route's
/// histogram, through handles registered once and kept: making their keys (label strings, a
/// lookup in the recorder's registry) for every request cost 7 % of a cached list. There are as
/// many as routes × methods × statuses the service answers with: a bounded set. Kept per
/// thread: one map behind a lock was fought over by every worker for every request.
fn record(method: &'static str, route: &str, status: u16, seconds: f64) {
    thread_local! {
        static KEPT: RefCell<Handles> = RefCell::default();
    }
    KEPT.with_borrow_mut(|kept| {
        let by_route = kept.entry((method, status)).or_default();
        let (requests, duration) = match by_route.get(route) {
            Some(handles) => handles,
            None => by_route.entry(route.to_owned()).or_insert((
                metrics::counter!(
                    "checkoff_http_requests_total",
                    "method" => method,
                    "route" => route.to_owned(),
                    "status" => status.to_string()
                ),
                metrics::histogram!(
                    "checkoff_http_request_duration_seconds",
                    "route" => route.to_owned()
                ),
            )),
        };
        requests.increment(1);
        duration.record(seconds);
    });
}

/// The method as a metric label. HTTP lets a client invent any method, and every label value is
/// a series the recorder keeps for good: a client sending made-up methods would grow the
/// process and the scrape without bound, so the ones no route answers share one label.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_methods_routes_use_keep_their_name_in_the_metrics() {
        for name in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
            let method = Method::from_bytes(name.as_bytes()).unwrap();
            assert_eq!(method_label(&method), name);
        }
    }

    #[test]
    fn any_other_method_is_counted_as_other() {
        for name in ["TRACE", "CONNECT", "PROPFIND", "get", "XYZZY-1234"] {
            let method = Method::from_bytes(name.as_bytes()).unwrap();
            assert_eq!(method_label(&method), "other", "{name}");
        }
    }
}
