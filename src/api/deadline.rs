//! The request deadline: past it the client gets an answer rather than a wait. A request whose
//! body stopped coming is the client's doing (408); anything else waited on the service (503).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use hyper::body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};

use super::error::ApiError;

/// Bounds every request by its limit: a layer of its own rather than a `from_fn`, which would
/// box the service behind it and the future of every request.
#[derive(Clone, Copy)]
pub(super) struct DeadlineLayer(pub Duration);

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline {
            inner,
            limit: self.0,
        }
    }
}

#[derive(Clone)]
pub(super) struct Deadline<S> {
    inner: S,
    limit: Duration,
}

impl<S> Service<Request> for Deadline<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Bounded<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // Only a body still to come can keep the request waiting on the client.
        let (request, waiting) = if request.body().is_end_stream() {
            (request, None)
        } else {
            let waiting = Arc::new(AtomicBool::new(false));
            let watched = Arc::clone(&waiting);
            let request = request.map(|body| {
                Body::new(Watched {
                    body,
                    waiting: watched,
                })
            });
            (request, Some(waiting))
        };
        Bounded {
            inner: self.inner.call(request),
            ends: Instant::now() + self.limit,
            timer: None,
            waiting,
        }
    }
}

pin_project_lite::pin_project! {
    /// A request's answer, or past the deadline, the answer that says why there is none. The
    /// timer is set only once the answer has to be waited for: most are ready at the first
    /// poll, and a timer made for each (tokio's `Timeout`) was moved with every future around
    /// it.
    pub(super) struct Bounded<F> {
        #[pin]
        inner: F,
        ends: Instant,
        timer: Option<Pin<Box<Sleep>>>,
        waiting: Option<Arc<AtomicBool>>,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Bounded<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(answered) = this.inner.poll(cx) {
            return Poll::Ready(answered);
        }
        let ends = *this.ends;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(ends)));
        ready!(timer.as_mut().poll(cx));
        let waiting = this
            .waiting
            .as_ref()
            .is_some_and(|w| w.load(Ordering::Relaxed));
        Poll::Ready(Ok(match waiting {
            true => ApiError::BodyTimeout.into_response(),
            false => ApiError::Timeout.into_response(),
        }))
    }
}

/// A request body that notes whether its reader is waiting for the client to send more.
struct Watched {
    body: Body,
    waiting: Arc<AtomicBool>,
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        self.waiting.store(polled.is_pending(), Ordering::Relaxed);
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::post;
    use futures_util::stream;
    use tower::ServiceExt;

    use super::*;

    fn app() -> Router {
        Router::new()
            .route("/read", post(|_: Bytes| async {}))
            .route("/think", post(std::future::pending::<()>))
            .layer(DeadlineLayer(Duration::from_millis(50)))
    }

    async fn status(path: &str, body: Body) -> StatusCode {
        let request = Request::post(path).body(body).unwrap();
        app().oneshot(request).await.unwrap().status()
    }

    fn never_ending() -> Body {
        Body::from_stream(stream::pending::<Result<Bytes, std::io::Error>>())
    }

    #[tokio::test]
    async fn a_body_that_stops_coming_is_the_clients_timeout() {
        assert_eq!(
            status("/read", never_ending()).await,
            StatusCode::REQUEST_TIMEOUT
        );
    }

    #[tokio::test]
    async fn a_handler_past_the_deadline_is_the_services_timeout() {
        assert_eq!(
            status("/think", Body::empty()).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        // Its body unread, the wait was not on the client.
        assert_eq!(
            status("/think", never_ending()).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
