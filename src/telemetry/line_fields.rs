//! The fields of a text log line, written as `tracing-subscriber`'s `DefaultFields` writes them,
//! but without `core::fmt` for the plain values a request line is made of (names, plain strings,
//! integers, a message given as a string, a duration in thousandths): formatting the request
//! line took 7 % of a cached list's CPU, most of it there. Anything else (a formatted message,
//! other floats, errors, `Debug` and `Display` values, strings that need escaping, colours on a
//! terminal) is handed to `DefaultVisitor` itself, so the line reads the same; a test compares
//! the two on every kind of value.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::{DefaultVisitor, Writer};

/// Makes a [`LineVisitor`] for each event and span.
#[derive(Debug, Default, Clone, Copy)]
pub struct LineFields;

impl<'a> MakeVisitor<Writer<'a>> for LineFields {
    type Visitor = LineVisitor<'a>;

    fn make_visitor(&self, writer: Writer<'a>) -> LineVisitor<'a> {
        LineVisitor {
            styled: writer.has_ansi_escapes(),
            writer,
            is_empty: true,
            result: Ok(()),
        }
    }
}

pub struct LineVisitor<'a> {
    writer: Writer<'a>,
    /// Colours are on: every field is the default visitor's.
    styled: bool,
    is_empty: bool,
    result: fmt::Result,
}

impl LineVisitor<'_> {
    /// Writes ` name=` (no space before the first field) and says whether to go on. `None`
    /// when the default visitor is to write this field.
    fn name(&mut self, field: &Field) -> Option<()> {
        let name = field.name();
        if name == "message" || name.starts_with("log.") {
            return None;
        }
        self.separate()?;
        let name = name.strip_prefix("r#").unwrap_or(name);
        self.result = self
            .result
            .and_then(|()| self.writer.write_str(name))
            .and_then(|()| self.writer.write_char('='));
        Some(())
    }

    /// Writes the space before any but the first field and says whether to go on. `None` when
    /// the default visitor writes every field (colours) or writing has failed.
    fn separate(&mut self) -> Option<()> {
        if self.styled || self.result.is_err() {
            return None;
        }
        if !self.is_empty {
            self.result = self.writer.write_char(' ');
        }
        self.is_empty = false;
        Some(())
    }

    /// A message given as a plain string (`message = "request"`): as it is, as the default
    /// visitor writes any message.
    fn message(&mut self, value: &str) -> Option<()> {
        self.separate()?;
        self.result = self.result.and_then(|()| self.writer.write_str(value));
        Some(())
    }

    /// Has the default visitor write one field, after those written here.
    fn default(&mut self, field: &Field, record: impl FnOnce(&mut DefaultVisitor<'_>)) {
        if self.result.is_err() {
            return;
        }
        let mut visitor = DefaultVisitor::new(self.writer.by_ref(), self.is_empty);
        record(&mut visitor);
        self.result = visitor.finish();
        // It writes nothing for `log.` fields (already in the line's metadata).
        self.is_empty &= field.name().starts_with("log.");
    }

    fn integer(&mut self, field: &Field, negative: bool, value: u64) -> Option<()> {
        self.name(field)?;
        if negative {
            self.result = self.result.and_then(|()| self.writer.write_char('-'));
        }
        self.result = self
            .result
            .and_then(|()| write_digits(&mut self.writer, value));
        Some(())
    }

    /// A number of thousandths (a duration in ms to the microsecond), written as `{:?}` writes
    /// it: `0.503`, `12.0`. `None` for any other float.
    fn thousandths(&mut self, field: &Field, value: f64) -> Option<()> {
        let (whole, fraction) = thousandths(value)?;
        self.name(field)?;
        self.result = self
            .result
            .and_then(|()| write_thousandths(&mut self.writer, whole, fraction));
        Some(())
    }
}

/// `whole` and `fraction` thousandths as `{:?}` writes their float: `0.503`, `12.0`.
pub(super) fn write_thousandths(w: &mut impl fmt::Write, whole: u64, fraction: u64) -> fmt::Result {
    write_digits(w, whole)?;
    let digits = [
        b'.',
        b'0' + (fraction / 100 % 10) as u8,
        b'0' + (fraction / 10 % 10) as u8,
        b'0' + (fraction % 10) as u8,
    ];
    let mut end = digits.len();
    while end > 2 && digits[end - 1] == b'0' {
        end -= 1;
    }
    w.write_str(std::str::from_utf8(&digits[..end]).map_err(|_| fmt::Error)?)
}

/// Whether `{:?}` writes `text` as it is, between quotes.
pub(super) fn plain(text: &str) -> bool {
    text.bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
}

/// `value` as whole units and thousandths, if that is exactly what it is (non-negative, below
/// 10^15: there `{:?}` writes the shortest decimal, which is this one, never an exponent).
fn thousandths(value: f64) -> Option<(u64, u64)> {
    if !(value.is_sign_positive() && value < 1e15) {
        return None;
    }
    let scaled = (value * 1000.0).round();
    // Exact: `scaled` is an integer below 2^53, so the cast loses nothing.
    (scaled / 1000.0 == value).then_some((scaled as u64 / 1000, scaled as u64 % 1000))
}

pub(super) fn write_digits(writer: &mut impl fmt::Write, value: u64) -> fmt::Result {
    writer.write_str(itoa::Buffer::new().format(value))
}

impl Visit for LineVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" && self.message(value).is_some() {
            return;
        }
        if plain(value) && self.name(field).is_some() {
            self.result = self.result.and_then(|()| {
                self.writer.write_char('"')?;
                self.writer.write_str(value)?;
                self.writer.write_char('"')
            });
        } else {
            self.default(field, |v| v.record_str(field, value));
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.thousandths(field, value).is_none() {
            self.default(field, |v| v.record_f64(field, value));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.integer(field, false, value).is_none() {
            self.default(field, |v| v.record_u64(field, value));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self
            .integer(field, value < 0, value.unsigned_abs())
            .is_none()
        {
            self.default(field, |v| v.record_i64(field, value));
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.name(field).is_some() {
            self.result = self
                .result
                .and_then(|()| self.writer.write_str(if value { "true" } else { "false" }));
        } else {
            self.default(field, |v| v.record_bool(field, value));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.default(field, |v| v.record_error(field, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.default(field, |v| v.record_debug(field, value));
    }
}

impl VisitOutput<fmt::Result> for LineVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for LineVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::Registry;
    use tracing_subscriber::fmt::format::{DefaultFields, Format, Full};
    use tracing_subscriber::fmt::time::FormatTime;
    use tracing_subscriber::fmt::{FormatEvent, MakeWriter};

    use crate::telemetry::line_format::LineFormat;

    use super::*;

    /// The lines a test's subscriber wrote.
    #[derive(Clone, Default)]
    pub(in crate::telemetry) struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Lines {
        pub(in crate::telemetry) fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Self;
        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    /// The same time on every line.
    #[derive(Clone, Copy)]
    struct SameTime;

    impl FormatTime for SameTime {
        fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
            w.write_str("2026-12-03T13:41:11.123456Z")
        }
    }

    /// tracing-subscriber's own full format, with [`SameTime`].
    fn full() -> Format<Full, SameTime> {
        Format::default().with_timer(SameTime)
    }

    /// Events of every kind of value and level, outside and inside a span, as a subscriber with
    /// these fields and this format writes them.
    fn written<N, E>(fields: N, format: E, ansi: bool) -> String
    where
        N: for<'w> tracing_subscriber::fmt::FormatFields<'w> + Send + Sync + 'static,
        E: FormatEvent<Registry, N> + Send + Sync + 'static,
    {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(lines.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(ansi)
            .fmt_fields(fields)
            .event_format(format)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let method = axum::http::Method::GET;
            // As the request line is logged (`api/observe.rs`).
            tracing::info!(message = "request", request_id = "ab12-3", %method, route = "/todos/{uid}", status = 200u16, ms = 0.503);
            tracing::trace!(n = 1u64, "at every level");
            tracing::debug!(n = 2u64, "at every level");
            tracing::warn!(n = 3u64, "at every level");
            tracing::error!(n = 4u64, "at every level");
            tracing::info!(target: "elsewhere::module", "another target");
            let span = tracing::info_span!("job", user = "alice", n = 3u64);
            let _entered = span.enter();
            tracing::warn!(
                quoted = "say \"hi\"\n\t\\ ünï",
                empty = "",
                negative = -42i64,
                zero = 0u64,
                max = u64::MAX,
                min = i64::MIN,
                yes = true,
                no = false,
                r#type = "raw",
                debug = ?Some(1),
                error = &std::io::Error::other("disk full") as &(dyn std::error::Error + 'static),
                "a message with {} and \"quotes\"", "arguments"
            );
            tracing::error!(first = 1u64, "fields before the message");
            tracing::info!(only = "fields");
            tracing::info!(message = "a message given as a string", n = 1u64);
            tracing::info!(message = "with \"quotes\"\n", then = "more");
            tracing::info!(first = "field", message = "message after a field");
            for ms in [
                0.503,
                12.0,
                0.0,
                -0.0,
                0.001,
                1234.5,
                99.99,
                1e14,
                1e15,
                1e16,
                -1.5,
                0.1 + 0.2,
                1e-7,
                f64::NAN,
                f64::INFINITY,
            ] {
                tracing::info!(message = "request", ms);
            }
        });
        lines.text()
    }

    #[test]
    fn thousandths_read_as_debug_writes_them() {
        for n in (0..2_000_000u64).chain([10u64.pow(15) - 1, 123_456_789_012_345]) {
            let value = n as f64 / 1000.0;
            let (whole, fraction) = thousandths(value).expect("exact thousandths");
            let ours = format!("{whole}.{}", format!("{fraction:03}").trim_end_matches('0'));
            let ours = if ours.ends_with('.') {
                format!("{ours}0")
            } else {
                ours
            };
            assert_eq!(ours, format!("{value:?}"));
        }
        assert_eq!(thousandths(0.1 + 0.2), None);
        assert_eq!(thousandths(-1.0), None);
    }

    #[test]
    fn lines_read_exactly_as_the_default_fields_write_them() {
        for ansi in [false, true] {
            let ours = written(LineFields, full(), ansi);
            assert_eq!(
                ours,
                written(DefaultFields::new(), full(), ansi),
                "ansi: {ansi}"
            );
        }
        let request = r#"2026-12-03T13:41:11.123456Z  INFO checkoff::telemetry::line_fields::tests: request request_id="ab12-3" method=GET route="/todos/{uid}" status=200 ms=0.503"#;
        assert!(written(LineFields, full(), false).contains(request));
    }

    #[test]
    fn lines_read_exactly_as_the_full_format_writes_them() {
        for ansi in [false, true] {
            let ours = written(LineFields, LineFormat::with_timer(SameTime), ansi);
            assert_eq!(ours, written(LineFields, full(), ansi), "ansi: {ansi}");
        }
    }
}
