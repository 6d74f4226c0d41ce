//! The framework's floor: the ceiling's hyper loop serving an axum router whose handler
//! answers fixed bytes (no auth, no store, no layers). Usage: `axum_floor 127.0.0.1:PORT BODY_FILE`.

use std::net::SocketAddr;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .expect("an address")
        .parse()
        .expect("an address");
    let body = Bytes::from(std::fs::read(
        std::env::args().nth(2).expect("a body file"),
    )?);
    let answer = move || {
        let body = body.clone();
        async move { ([("content-type", "application/json")], body).into_response() }
    };
    let app = Router::new()
        .route("/todos", get(answer.clone()))
        .route("/todos/{uid}", get(answer));
    let listener = TcpListener::bind(addr).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
