//! The request line, written by the server straight into its log queue: as the text format
//! writes it, byte for byte, but without going through `tracing` (the event, the filter, the
//! formatter and its visitor took ~5 % of a cached list's CPU, most of the access log's cost).
//! Only where nothing can tell the difference: text lines, no colours, queued for the
//! background writer, a filter that shows the line and no span filter (`[…]` in `RUST_LOG`)
//! that could depend on where it is logged. Anywhere else, and for a request id `{:?}` would
//! escape, the caller logs through `tracing` as before.

use std::fmt::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::line_fields::{plain, write_digits, write_thousandths};
use super::line_time::{YEAR_10000, write_time};

/// The target of the request line's event (the module that logs it).
pub const REQUEST_TARGET: &str = "checkoff::api::observe";

/// Whether [`RequestLine::queue`] writes lines: set once logging is set up to allow it.
static DIRECT: AtomicBool = AtomicBool::new(false);

/// Has request lines written straight into the queue from now on.
pub(super) fn go_direct() {
    DIRECT.store(true, Ordering::Relaxed);
}

/// What the line of one request says (never a header or body: tokens and passwords travel
/// there).
pub struct RequestLine<'a> {
    pub request_id: &'a str,
    pub method: &'a str,
    pub route: &'a str,
    pub status: u16,
    pub micros: u64,
}

impl RequestLine<'_> {
    /// Queues the line for the log writer and says so; `false` when the caller is to log it
    /// through `tracing`.
    pub fn queue(&self) -> bool {
        if !DIRECT.load(Ordering::Relaxed) {
            return false;
        }
        let Ok(now) = SystemTime::now().duration_since(UNIX_EPOCH) else {
            return false;
        };
        thread_local! {
            static LINE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        LINE.with_borrow_mut(|line| {
            line.clear();
            self.write(now, line).is_ok() && super::logging::queue_line(line.as_bytes())
        })
    }

    /// The line as the text format writes the event `info!(message = "request", request_id,
    /// %method, route, status, ms)` at `now`; an error for what that format would write
    /// otherwise (escaped strings, a time it writes its own way).
    fn write(&self, now: Duration, line: &mut String) -> fmt::Result {
        // The method is written as it is (`%method`): a token, nothing to escape.
        // Up to 10^15 µs (31 years) the event's `ms` float is its thousandths exactly.
        if now.as_secs() >= YEAR_10000
            || self.micros >= 1_000_000_000_000_000
            || !plain(self.request_id)
            || !plain(self.route)
        {
            return Err(fmt::Error);
        }
        write_time(now, line)?;
        line.push_str("  INFO ");
        line.push_str(REQUEST_TARGET);
        line.push_str(": request request_id=\"");
        line.push_str(self.request_id);
        line.push_str("\" method=");
        line.push_str(self.method);
        line.push_str(" route=\"");
        line.push_str(self.route);
        line.push_str("\" status=");
        write_digits(line, self.status.into())?;
        line.push_str(" ms=");
        write_thousandths(line, self.micros / 1000, self.micros % 1000)?;
        line.write_char('\n')
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::fmt::format::Writer;
    use tracing_subscriber::fmt::time::FormatTime;

    use super::*;
    use crate::telemetry::line_fields::LineFields;
    use crate::telemetry::line_fields::tests::Lines;
    use crate::telemetry::line_format::LineFormat;

    const AT: Duration = Duration::new(1_796_304_071, 123_456_789);

    #[derive(Clone, Copy)]
    struct At;

    impl FormatTime for At {
        fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
            write_time(AT, w)
        }
    }

    /// The line the server's text format writes for this request's event.
    fn traced(line: &RequestLine<'_>) -> String {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(lines.clone())
            .with_ansi(false)
            .fmt_fields(LineFields)
            .event_format(LineFormat::with_timer(At))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let method = axum::http::Method::from_bytes(line.method.as_bytes()).unwrap();
            let ms = line.micros as f64 / 1e3;
            let (request_id, route, status) = (line.request_id, line.route, line.status);
            tracing::info!(target: REQUEST_TARGET, message = "request", request_id, %method, route, status, ms);
        });
        lines.text()
    }

    fn line<'a>(
        request_id: &'a str,
        method: &'a str,
        route: &'a str,
        micros: u64,
    ) -> RequestLine<'a> {
        RequestLine {
            request_id,
            method,
            route,
            status: 200,
            micros,
        }
    }

    #[test]
    fn a_line_reads_exactly_as_the_text_format_writes_its_event() {
        let lines = [
            line("5c56f2eb90be-839814", "GET", "/todos", 503),
            line("trace-me-42", "DELETE", "/todos/{uid}", 0),
            line("", "PROPFIND", "-", 12_000),
            line("a b c", "POST", "/users/{username}/sessions", 1_234_567),
            RequestLine {
                status: 503,
                ..line("x", "PATCH", "/todos/{uid}", 999_999_999_999_999)
            },
        ];
        for request in lines {
            let mut ours = String::new();
            request.write(AT, &mut ours).unwrap();
            assert_eq!(ours, traced(&request));
            assert!(ours.starts_with("2026-12-03T"), "{ours}");
        }
    }

    #[test]
    fn what_the_format_would_write_its_own_way_is_left_to_it() {
        let forever = line("x", "GET", "/todos", u64::MAX);
        assert!(forever.write(AT, &mut String::new()).is_err());
        assert!(traced(&forever).contains("ms=1.8"));
        for request_id in ["say \"hi\"", "back\\slash", "tab\there", "ünï"] {
            let request = line(request_id, "GET", "/todos", 1);
            assert!(request.write(AT, &mut String::new()).is_err());
            assert!(traced(&request).contains("request_id=\""), "{request_id}");
        }
    }
}
