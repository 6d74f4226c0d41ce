//! The fields of a text log line, written as `tracing-subscriber`'s `DefaultFields` writes them,
//! but without `core::fmt` for the plain values a request line is made of (names, plain strings,
//! integers): formatting the request line took 7 % of a cached list's CPU, most of it there.
//! Anything else (the message, floats, errors, `Debug` and `Display` values, strings that need
//! escaping, colours on a terminal) is handed to `DefaultVisitor` itself, so the line reads the
//! same; a test compares the two on every kind of value.

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
        if self.styled || self.result.is_err() || name == "message" || name.starts_with("log.") {
            return None;
        }
        if !self.is_empty {
            self.result = self.writer.write_char(' ');
        }
        self.is_empty = false;
        let name = name.strip_prefix("r#").unwrap_or(name);
        self.result = self
            .result
            .and_then(|()| self.writer.write_str(name))
            .and_then(|()| self.writer.write_char('='));
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

    fn integer(&mut self, field: &Field, negative: bool, mut value: u64) -> Option<()> {
        self.name(field)?;
        let mut digits = [0u8; 21];
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (value % 10) as u8;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        if negative {
            at -= 1;
            digits[at] = b'-';
        }
        let text = std::str::from_utf8(&digits[at..]).map_err(|_| fmt::Error);
        self.result = self.result.and(text).and_then(|t| self.writer.write_str(t));
        Some(())
    }
}

/// Whether `{:?}` writes `text` as it is, between quotes.
fn plain(text: &str) -> bool {
    text.bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
}

impl Visit for LineVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
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
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::fmt::format::DefaultFields;

    use super::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

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

    /// Events of every kind of value, in a span, as a subscriber with these fields writes them.
    fn written<N>(fields: N, ansi: bool) -> String
    where
        N: for<'w> tracing_subscriber::fmt::FormatFields<'w> + Send + Sync + 'static,
    {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(lines.clone())
            .with_ansi(ansi)
            .without_time()
            .fmt_fields(fields)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let method = axum::http::Method::GET;
            tracing::info!(request_id = "ab12-3", %method, route = "/todos/{uid}", status = 200u16, ms = 0.503, "request");
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
        });
        String::from_utf8(lines.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn lines_read_exactly_as_the_default_fields_write_them() {
        for ansi in [false, true] {
            let ours = written(LineFields, ansi);
            assert_eq!(ours, written(DefaultFields::new(), ansi), "ansi: {ansi}");
        }
        let request =
            r#"request request_id="ab12-3" method=GET route="/todos/{uid}" status=200 ms=0.503"#;
        assert!(written(LineFields, false).contains(request));
    }
}
