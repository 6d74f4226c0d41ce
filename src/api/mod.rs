//! The HTTP API: one route table for the router, each route's auth and the OpenAPI document.

mod admin;
mod batch;
mod compression;
mod deadline;
mod document;
mod edge;
mod error;
mod events;
mod extract;
mod health;
mod idempotency;
mod json;
mod kept;
mod lists;
mod observe;
mod paging;
mod sessions;
mod sign_in;
mod state;
mod sync;
mod todos;
mod users;
mod web;
mod whoami;

use std::time::Duration;

use axum::Router;
use axum::http::header::{
    AUTHORIZATION, CONTENT_TYPE, ETAG, IF_MATCH, IF_NONE_MATCH, LINK, LOCATION, RETRY_AFTER,
};
use axum::http::{HeaderName, HeaderValue, Method};
use serde_json::Value;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::OidcSettings;

pub use error::{ApiError, ApiResult};
pub use events::RECHECK;
pub use kept::ListCache;
pub use paging::Cursors;
pub use state::{AppState, Services};

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Every route, once, as the groups of handlers that share a path: `$then!` is given the list.
/// The served router and the OpenAPI document are both made from it. Protected handlers take a
/// `Principal`; the OpenAPI `security` of each operation says the same, and a test holds the two
/// together.
macro_rules! every_route {
    ($then:ident) => {
        $then! {
            [sessions::login],
            [sessions::refresh],
            [sessions::logout],
            [sessions::end_sessions, sessions::list_sessions],
            [sessions::end_session],
            [sign_in::sign_in_config],
            [users::sign_up, users::list_users],
            [users::get_user, users::update_user, users::delete_user],
            [users::change_password],
            [users::export],
            [admin::all_todos],
            [todos::list_todos, todos::create_todo, todos::delete_in_state],
            [lists::list_lists, lists::create_list],
            [lists::get_list, lists::rename_list, lists::delete_list],
            [lists::list_members],
            [lists::share_list, lists::unshare_list],
            [todos::complete_all],
            [batch::batch],
            [sync::sync],
            [todos::move_todo],
            [events::todo_events],
            [todos::get_todo, todos::update_todo, todos::delete_todo],
            [health::healthz],
            [health::openapi_json],
            [whoami::whoami],
            [web::page],
            [web::asset],
        }
    };
}

/// The routes with their OpenAPI document (every operation and schema described): what the
/// document and the deployment's route list are read from.
fn route_table() -> OpenApiRouter<AppState> {
    macro_rules! documented {
        ($([$($module:ident :: $handler:ident),+]),* $(,)?) => {
            OpenApiRouter::with_openapi(document::info())
                $(.routes(routes!($($module::$handler),+)))*
        };
    }
    every_route!(documented)
}

/// The same routes without their documentation: what the server runs, each handler already
/// wrapped in `around` (and each path's 405 as well). Building the document at every start, to
/// drop it, ran utoipa's code for every operation and schema (pages of code kept resident for
/// nothing) before the first answer; each handler's path and methods are read from its
/// annotation as the document reads them.
fn served_routes(state: &AppState, around: Around) -> axum::Router {
    macro_rules! served {
        ($([$($module:ident :: $handler:ident),+]),* $(,)?) => {{
            use axum::handler::Handler as _;
            use utoipa::Path as _;
            let router = axum::Router::new();
            $(
                // A group is the handlers of one path, served by one method router: a handler
                // of another path put in it would be answered at the wrong path.
                let paths = [$(utoipa_axum::paste! {
                    $module::[<__path_ $handler>]::path()
                }),+];
                let path = &paths[0];
                assert!(
                    paths.iter().all(|p| p == path),
                    "one group of the route table holds several paths: {paths:?}"
                );
                let methods = axum::routing::MethodRouter::new();
                $(
                    let methods = utoipa_axum::paste! {{
                        served_methods(
                            methods,
                            &$module::[<__path_ $handler>]::methods(),
                            around.wrap($module::$handler.with_state(state.clone())),
                        )
                    }};
                )+
                let not_allowed = || async { ApiError::MethodNotAllowed };
                let methods =
                    methods.fallback_service(around.wrap(not_allowed.with_state(state.clone())));
                let router = router.route(path, methods);
            )*
            let not_found = || async { ApiError::NotFound("Not found") };
            router.fallback_service(around.wrap(not_found.with_state(state.clone())))
        }};
    }
    every_route!(served)
}

/// `methods` with `service` answering `these` as well.
fn served_methods<S>(
    methods: axum::routing::MethodRouter,
    these: &[utoipa::openapi::path::HttpMethod],
    service: S,
) -> axum::routing::MethodRouter
where
    S: tower::Service<axum::extract::Request, Error = std::convert::Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Response: axum::response::IntoResponse + 'static,
    S::Future: Send + 'static,
{
    use utoipa_axum::PathItemExt;
    these.iter().fold(methods, |methods, method| {
        methods.on_service(method.to_method_filter(), service.clone())
    })
}

/// What wraps each route's handler: the request log (it needs the matched route) and the
/// deadline. Applied to each handler before the router boxes it: as a router layer it was a
/// second box around the first, cloned and its future boxed again for every request.
#[derive(Clone, Copy)]
struct Around {
    log_requests: bool,
    timeout: Duration,
}

impl Around {
    fn wrap<S>(self, handler: S) -> observe::Observe<deadline::Deadline<S>> {
        use tower::Layer as _;
        observe::Observe::new(
            deadline::DeadlineLayer(self.timeout).layer(handler),
            self.log_requests,
        )
    }
}

/// The OpenAPI document of every route.
pub fn openapi() -> Value {
    openapi_with(None)
}

/// The document as a service with these settings serves it (an OIDC issuer is a second
/// security scheme).
pub fn openapi_with(oidc: Option<&OidcSettings>) -> Value {
    let doc = document::complete(route_table().split_for_parts().1, oidc);
    serde_json::to_value(doc).unwrap_or_default()
}

/// One route of the table and whether it needs a caller: what deployment descriptions (the SAM
/// template) are generated from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// Upper case, e.g. `GET`.
    pub method: String,
    /// With `{name}` parameters, e.g. `/todos/{uid}`.
    pub path: String,
    pub protected: bool,
}

/// Every route of the table, sorted by path then method: read from the handlers' annotations
/// as utoipa collected them.
pub fn route_specs() -> Vec<RouteSpec> {
    let doc = route_table().split_for_parts().1;
    let mut specs = Vec::new();
    for (path, item) in &doc.paths.paths {
        let operations = [
            ("GET", &item.get),
            ("PUT", &item.put),
            ("POST", &item.post),
            ("DELETE", &item.delete),
            ("OPTIONS", &item.options),
            ("HEAD", &item.head),
            ("PATCH", &item.patch),
            ("TRACE", &item.trace),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation {
                specs.push(RouteSpec {
                    method: method.to_owned(),
                    path: path.clone(),
                    protected: operation.security.as_ref().is_some_and(|s| !s.is_empty()),
                });
            }
        }
    }
    specs.sort_by(|a, b| (&a.path, &a.method).cmp(&(&b.path, &b.method)));
    specs
}

/// The whole service as one router: used by the Lambda entry and the tests.
pub fn app(state: AppState) -> Router {
    Router::new().fallback_service(service(state))
}

/// The whole service as the layers around the routes, unboxed: what the local server calls for
/// each request. A router around it would box the stack and clone that box (an allocation and
/// a copy of every layer) per request, for a route table of one fallback.
pub fn service(
    state: AppState,
) -> impl tower::Service<
    axum::extract::Request,
    Response = axum::http::Response<
        impl axum::body::HttpBody<Data = axum::body::Bytes, Error: Into<axum::BoxError>>
        + Send
        + 'static,
    >,
    Error = std::convert::Infallible,
    Future: Send,
> + Clone
+ Send
+ Sync
+ 'static {
    // None configured: no CORS headers (not even `Vary`), browsers keep to same-origin.
    let cors = (!state.cors_origins.is_empty()).then(|| cors_layer(&state.cors_origins));
    let compress = state.compress;
    // Under Lambda the entry logs each request itself, with API Gateway's request id.
    let around = Around {
        log_requests: state.log_requests,
        timeout: state.request_timeout,
    };
    let routes = served_routes(&state, around);
    // The rest wraps the router once, not each route: a layer given to the router is boxed
    // around every route and that box cloned, layer by layer, for every request (profiled:
    // 6 % of a cached list).
    ServiceBuilder::new()
        // gzip for clients that ask (never for event streams, which must flow as written).
        .layer(compression::WhenAskedLayer { gzip: compress })
        // Request ids, credentials marked secret, panics answered, security headers.
        .layer(edge::EdgeLayer::default())
        // A preflight is answered here, before any route or token check.
        .option_layer(cors)
        .service(routes)
}

/// CORS for the configured origins.
fn cors_layer(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            AUTHORIZATION,
            CONTENT_TYPE,
            IF_MATCH,
            IF_NONE_MATCH,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("last-event-id"),
            HeaderName::from_static("x-checkoff-session"),
        ])
        .expose_headers([
            ETAG,
            LINK,
            LOCATION,
            RETRY_AFTER,
            HeaderName::from_static("x-request-id"),
        ])
        .max_age(Duration::from_secs(600))
}
