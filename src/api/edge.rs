//! What every request and answer goes through once, around the routes: the request's id (the
//! caller's `x-request-id`, or one made here) put on both, credentials marked so that no log
//! prints them, a handler's panic answered 500, and the security headers.
//!
//! One layer with one future. As tower-http's five layers (request id, its echo, two header
//! markers, the panic catcher) plus a trace span that no default log level shows, the answer of
//! a cached list was moved through seven futures, and those layers took ~6 % of its CPU
//! (profiled; the moves showed as `memmove`).

use std::convert::Infallible;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::header::{
    AUTHORIZATION, CONTENT_SECURITY_POLICY, COOKIE, REFERRER_POLICY, SET_COOKIE,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use super::error::ApiError;

pub(super) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone, Default)]
pub(super) struct EdgeLayer {
    ids: RequestIds,
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            inner,
            ids: self.ids.clone(),
        }
    }
}

#[derive(Clone)]
pub(super) struct Edge<S> {
    inner: S,
    ids: RequestIds,
}

impl<S> Service<Request> for Edge<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Edged<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let headers = request.headers_mut();
        for name in [AUTHORIZATION, COOKIE] {
            if let axum::http::header::Entry::Occupied(mut values) = headers.entry(name) {
                values.iter_mut().for_each(|v| v.set_sensitive(true));
            }
        }
        let id = match headers.get(X_REQUEST_ID) {
            Some(id) => id.clone(),
            None => {
                let id = self.ids.next();
                headers.insert(X_REQUEST_ID, id.clone());
                id
            }
        };
        let inner = catch_unwind(AssertUnwindSafe(|| self.inner.call(request))).ok();
        Edged { inner, id }
    }
}

pin_project_lite::pin_project! {
    /// The answer of the routes, finished here; `inner` is `None` when the handler panicked
    /// before it had a future.
    pub(super) struct Edged<F> {
        #[pin]
        inner: Option<F>,
        id: HeaderValue,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Edged<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = match this.inner.as_pin_mut() {
            Some(inner) => match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(Ok(response))) => response,
                Err(_) => ApiError::Internal("a handler panicked".into()).into_response(),
            },
            None => ApiError::Internal("a handler panicked".into()).into_response(),
        };
        let headers = response.headers_mut();
        if let Some(cookie) = headers.get_mut(SET_COOKIE) {
            cookie.set_sensitive(true);
        }
        headers
            .entry(X_REQUEST_ID)
            .or_insert_with(|| this.id.clone());
        Poll::Ready(Ok(security_headers(response)))
    }
}

/// Headers every answer carries unless its handler said otherwise.
fn security_headers(mut response: Response) -> Response {
    // Made once: `from_static` checks every byte where it is called at run time.
    const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
    const CSP: HeaderValue = HeaderValue::from_static(super::web::CONTENT_SECURITY_POLICY);
    const NO_REFERRER: HeaderValue = HeaderValue::from_static("no-referrer");
    let headers = response.headers_mut();
    for (name, value) in [
        (X_CONTENT_TYPE_OPTIONS, NOSNIFF),
        (CONTENT_SECURITY_POLICY, CSP),
        (REFERRER_POLICY, NO_REFERRER),
    ] {
        headers.entry(name).or_insert(value);
    }
    response
}

/// Request ids made here: this process's random prefix and a count — unique across processes
/// without asking the OS for randomness on every request (a UUID each cost a syscall).
#[derive(Clone)]
struct RequestIds {
    prefix: Arc<str>,
    next: Arc<AtomicU64>,
}

impl Default for RequestIds {
    fn default() -> Self {
        Self {
            prefix: uuid::Uuid::new_v4().simple().to_string()[..12].into(),
            next: Arc::default(),
        }
    }
}

impl RequestIds {
    fn next(&self) -> HeaderValue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut digits = itoa::Buffer::new();
        let mut id = Id::default();
        id.push(self.prefix.as_bytes());
        id.push(b"-");
        id.push(digits.format(n).as_bytes());
        // Hex digits, a dash and decimal digits: always a valid header value. Made with its
        // owner inside: the copies for the request and the answer share it (one allocation,
        // where a `Vec` turned into `Bytes` took a second at its first copy).
        HeaderValue::from_maybe_shared(Bytes::from_owner(id))
            .unwrap_or_else(|_| HeaderValue::from_static("-"))
    }
}

/// A request id's bytes: the prefix (12), a dash and at most 20 digits.
struct Id {
    bytes: [u8; 33],
    len: usize,
}

impl Default for Id {
    fn default() -> Self {
        Self {
            bytes: [0; 33],
            len: 0,
        }
    }
}

impl Id {
    fn push(&mut self, more: &[u8]) {
        let end = (self.len + more.len()).min(self.bytes.len());
        self.bytes[self.len..end].copy_from_slice(&more[..end - self.len]);
        self.len = end;
    }
}

impl AsRef<[u8]> for Id {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    fn app() -> Router {
        Router::new()
            .route("/fine", get(|| async { "fine" }))
            .route(
                "/panics",
                get(|| async {
                    if true {
                        panic!("a bug");
                    }
                }),
            )
            .layer(EdgeLayer::default())
    }

    async fn answer(path: &str, id: Option<&str>) -> Response {
        let mut request = Request::get(path);
        if let Some(id) = id {
            request = request.header("x-request-id", id);
        }
        app()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn every_answer_has_an_id_and_the_security_headers() {
        let first = answer("/fine", None).await;
        let second = answer("/fine", None).await;
        let (a, b) = (
            &first.headers()["x-request-id"],
            &second.headers()["x-request-id"],
        );
        assert_ne!(a, b);
        for answer in [&first, &second] {
            assert_eq!(answer.headers()["x-content-type-options"], "nosniff");
            assert_eq!(answer.headers()["referrer-policy"], "no-referrer");
            assert!(answer.headers().contains_key("content-security-policy"));
        }
        let echoed = answer("/fine", Some("trace-me-7")).await;
        assert_eq!(echoed.headers()["x-request-id"], "trace-me-7");
    }

    #[tokio::test]
    async fn a_panicking_handler_is_a_500_with_the_usual_headers() {
        let answer = answer("/panics", Some("boom-1")).await;
        assert_eq!(answer.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(answer.headers()["x-request-id"], "boom-1");
        assert_eq!(answer.headers()["x-content-type-options"], "nosniff");
        let body = axum::body::to_bytes(answer.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(
            &body[..],
            b"{\"message\":\"Internal server error\"}\n".as_slice()
        );
    }
}
