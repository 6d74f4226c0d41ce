//! Prometheus metrics for `serve`, on an address of their own (`--metrics-addr`): requests by
//! route and status with their latency, store errors, login failures and throttles, list cache
//! hits. Without the flag no recorder is installed and recording costs next to nothing. And the
//! log lines of both entries ([`init_logging`]).

mod line_fields;
mod line_format;
mod line_time;
mod logging;
mod request_line;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

pub use logging::{LogFormat, LogWriter, dropped_lines, init_logging};
pub use request_line::{REQUEST_TARGET, RequestLine};

/// Request latency buckets, in seconds: from a cached list to a slow password hash.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often the recorder drains its histograms' samples into their buckets. Installed without
/// the exporter's own listener, nothing else does: with no scrape for a while the samples would
/// pile up in memory.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Whether this process records metrics: without a recorder, the request path skips making
/// their labels at all.
static RECORDING: AtomicBool = AtomicBool::new(false);

pub fn recording() -> bool {
    RECORDING.load(Ordering::Relaxed)
}

/// The metric handle kept in `slot`, made by `make` the first time, while metrics are recorded
/// (`None` otherwise: nothing is made). Making a handle (its key, a lookup in the recorder's
/// registry) for every event cost 7 % of a cached list's CPU.
pub fn kept<T>(
    slot: &'static std::sync::OnceLock<T>,
    make: impl FnOnce() -> T,
) -> Option<&'static T> {
    recording().then(|| slot.get_or_init(make))
}

/// Makes this process record metrics; the handle renders them, each with its `# HELP` line.
pub fn install() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| format!("cannot record metrics: {e}"))?;
    describe();
    RECORDING.store(true, Ordering::Relaxed);
    Ok(handle)
}

/// What each metric counts, for whoever reads `/metrics`.
fn describe() {
    use metrics::{Unit, describe_counter, describe_histogram};
    describe_counter!(
        "checkoff_http_requests_total",
        "Requests answered, by method, route and status."
    );
    describe_histogram!(
        "checkoff_http_request_duration_seconds",
        Unit::Seconds,
        "Time from a request's arrival to its answer, by route."
    );
    describe_histogram!(
        "checkoff_store_duration_seconds",
        Unit::Seconds,
        "Time of one store operation (a SQLite read or write, a DynamoDB request with its retries), by store."
    );
    describe_counter!(
        "checkoff_store_errors_total",
        "Store operations that failed, by kind: unavailable (nothing done, worth retrying), unknown (a write that may have been done) or internal."
    );
    describe_counter!(
        "checkoff_login_failures_total",
        "Logins refused for a wrong name or password."
    );
    describe_counter!(
        "checkoff_logins_throttled_total",
        "Logins refused (429) because the name or address is locked after failures."
    );
    describe_counter!(
        "checkoff_log_lines_dropped_total",
        "Log lines dropped because the log writer fell behind (requests never wait for it)."
    );
    describe_counter!(
        "checkoff_list_cache_total",
        "List pages and single todos asked for, by result: served as kept (hit) or read (miss)."
    );
}

/// Serves `GET /metrics` on `listener`, and keeps the recorder's upkeep, until `shutdown`
/// resolves.
pub async fn serve(
    listener: TcpListener,
    handle: PrometheusHandle,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let upkeep = {
        let handle = handle.clone();
        async move {
            let mut every = tokio::time::interval(UPKEEP_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                handle.run_upkeep();
            }
        }
    };
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                metrics::counter!("checkoff_log_lines_dropped_total").absolute(dropped_lines());
                (
                    [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                    handle.render(),
                )
            }
        }),
    );
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown);
    tokio::select! {
        result = served => result,
        () = upkeep => Ok(()),
    }
}
