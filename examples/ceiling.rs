//! The benchmark's ceiling: a bare hyper server answering every request with the same 2.5 KB of
//! JSON. Nothing a real service does (routing, auth, storage) is here, so no service on this
//! machine can be faster. Usage: `ceiling 127.0.0.1:PORT [BODY_FILE]`: with a file, its bytes
//! are the body instead (the benchmark passes checkoff's own list answer, so that both send the
//! same bytes).

use std::convert::Infallible;
use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

fn body() -> Bytes {
    let item = r#"{"uid":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","username":"bench","description":"a todo item of the benchmark","state":"unstarted","metadata":{},"created_at":"2026-11-21T06:00:00.000Z","updated_at":"2026-11-21T06:00:00.000Z","version":1}"#;
    let items: Vec<&str> = std::iter::repeat_n(item, 11).collect();
    Bytes::from(format!("[{}]", items.join(",")))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into())
        .parse()
        .expect("an address");
    let listener = TcpListener::bind(addr).await?;
    println!("ceiling listening on http://{}", listener.local_addr()?);
    let body = match std::env::args().nth(2) {
        Some(path) => Bytes::from(std::fs::read(path)?),
        None => body(),
    };
    loop {
        let (stream, _) = listener.accept().await?;
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_: Request<hyper::body::Incoming>| {
                let body = body.clone();
                async move {
                    Ok::<_, Infallible>(
                        Response::builder()
                            .header("content-type", "application/json")
                            .body(Full::new(body))
                            .expect("a valid response"),
                    )
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
