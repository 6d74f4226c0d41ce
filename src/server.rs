//! The local HTTP server around `app()`: HTTP/1.1 through hyper, with the limits that keep one
//! client from hurting the others.
//!
//! - A client has `header_timeout` to send a request's headers, counted from when the server is
//!   ready to read them: a slow-loris client, and a keep-alive connection left idle, is closed.
//! - At most `max_connections` at once; past it, new connections wait in the kernel's backlog
//!   until one closes, so the process never runs out of file descriptors (and `/healthz` answers
//!   as soon as a slot frees).
//! - Headers: at most 100, of at most 16 KiB together (431 otherwise).
//! - Live event streams take at most half of `max_connections` (and fewer per account and per
//!   address, see [`crate::services::ChangeFeed`]): the rest always serve ordinary requests.

mod connection;
mod header_timer;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::api::AppState;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    /// How long shutdown waits for requests in flight.
    pub drain: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            drain: Duration::from_secs(10),
        }
    }
}

const MAX_HEADERS: usize = 100;
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Serves until `shutdown` resolves, then stops accepting and lets requests in flight finish
/// (for at most `limits.drain`). Live event streams are ended at once: they would otherwise keep
/// the server up until their tokens expire.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let events = Arc::clone(&state.events);
    // A live stream holds its connection for as long as its token lives: half of the slots
    // stay for ordinary requests, whoever opens streams.
    events.limits.set_total((limits.max_connections / 2).max(1));
    let service = crate::api::service(state);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.header_read_timeout(limits.header_timeout)
        .max_headers(MAX_HEADERS)
        .max_buf_size(MAX_HEADER_BYTES.max(8192));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors or a connection reset before accept: not fatal.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = connection::Connection::new(service.clone(), peer);
        // A timer of its own per connection: see `header_timer`.
        let connection = graceful.watch(
            http.clone()
                .timer(header_timer::ConnectionTimer::default())
                .serve_connection(TokioIo::new(stream), service),
        );
        tokio::spawn(async move {
            // A client that goes away mid-request is no error of ours.
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    events.close();
    if tokio::time::timeout(limits.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still running after {:?}; stopping anyway",
            limits.drain
        );
    }
    Ok(())
}

/// Raises the soft limit of open files to the hard one (commonly 1,024 → 1,048,576) and returns
/// the connections to allow: what is left after room for the store's files and outgoing
/// connections.
pub fn connection_budget() -> usize {
    const RESERVED: u64 = 128;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    let soft = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 256;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
        limit.rlim_cur
    };
    // A very high limit is no reason to take a million connections on one process.
    usize::try_from(soft.saturating_sub(RESERVED).clamp(16, 65_536)).unwrap_or(16)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
