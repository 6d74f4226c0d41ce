//! The request log line and the request metrics.

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

/// One line per request at `info`: method, route, status, time and request id (never a header
/// or body: tokens and passwords travel there); and the same in the metrics.
pub(super) async fn observe(request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    // The route as written in the table, never the path asked for: one series per route.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "-".to_owned(), |p| p.as_str().to_owned());
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    // To the microsecond, as a number that prints as such (not 0.5031439999999999).
    let ms = (elapsed.as_secs_f64() * 1e6).round() / 1e3;
    tracing::info!(request_id, %method, route, status, ms, "request");
    if !crate::telemetry::recording() {
        return response;
    }
    metrics::counter!(
        "checkoff_http_requests_total",
        "method" => method_label(&method),
        "route" => route.clone(),
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!("checkoff_http_request_duration_seconds", "route" => route)
        .record(elapsed.as_secs_f64());
    response
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
