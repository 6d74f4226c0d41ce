//! The request deadline: past it the client gets an answer rather than a wait. A request whose
//! body stopped coming is the client's doing (408); anything else waited on the service (503).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::{Frame, SizeHint};

use super::error::ApiError;

/// Bounds every request by `limit`.
pub(super) async fn deadline(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let waiting = Arc::new(AtomicBool::new(false));
    let request = if request.body().is_end_stream() {
        request
    } else {
        let waiting = Arc::clone(&waiting);
        request.map(|body| Body::new(Watched { body, waiting }))
    };
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) if waiting.load(Ordering::Relaxed) => ApiError::BodyTimeout.into_response(),
        Err(_) => ApiError::Timeout.into_response(),
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
    use axum::middleware;
    use axum::routing::post;
    use futures_util::stream;
    use tower::ServiceExt;

    use super::*;

    fn app() -> Router {
        Router::new()
            .route("/read", post(|_: Bytes| async {}))
            .route("/think", post(std::future::pending::<()>))
            .layer(middleware::from_fn_with_state(
                Duration::from_millis(50),
                deadline,
            ))
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
