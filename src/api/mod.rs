//! The HTTP API: one route table for the router, each route's auth and the OpenAPI document.

mod error;
mod extract;
mod health;
mod lists;
mod login;
mod paging;
mod todos;

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::{ApiError, ApiResult};
pub use lists::ListCache;
pub use paging::Cursors;

use crate::AppState;

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Every route, once. Protected handlers take a `Principal`; the OpenAPI `security` of each
/// operation says the same, and a test holds the two together.
fn route_table() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(document_base())
        .routes(routes!(login::login))
        .routes(routes!(todos::list_todos, todos::create_todo))
        .routes(routes!(
            todos::get_todo,
            todos::update_todo,
            todos::delete_todo
        ))
        .routes(routes!(health::healthz))
}

fn document_base() -> OpenApi {
    let mut doc = OpenApi::builder()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("checkoff")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some("A Todo REST API"))
                .build(),
        )
        .build();
    let scheme = SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
        "Authorization",
        "A token from POST /login, bare or as `Bearer <token>`",
    )));
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme("token", scheme);
    doc
}

/// The OpenAPI document of every route.
pub fn openapi() -> OpenApi {
    route_table().split_for_parts().1
}

/// The whole service as one router: used by the local server, the Lambda entry and the tests.
pub fn app(state: AppState) -> Router {
    let (router, doc) = route_table().split_for_parts();
    let timeout = state.request_timeout;
    router
        .route("/openapi.json", get(move || async move { Json(doc) }))
        .fallback(|| async { ApiError::NotFound("Not found") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(timeout, deadline))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal("a handler panicked".into()).into_response()
        }))
        .layer(TraceLayer::new_for_http())
        .layer(SetSensitiveRequestHeadersLayer::new([AUTHORIZATION]))
        .with_state(state)
}

/// Bounds every request: past the limit the client gets a 503 rather than a hang.
async fn deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    }
}
