//! The smallest useful Lambda function in Rust: `lambda_http` serving an axum router with one
//! route. The benchmark's reference for cold start and per-invocation cost under the Runtime API
//! (built with the same profile as checkoff).

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = Router::new().route("/hello", get(|| async { "hello" }));
    lambda_http::run(app).await
}
