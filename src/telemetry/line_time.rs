//! The time at the start of a log line, written as `tracing-subscriber`'s own timer writes it
//! (RFC 3339, UTC, to the microsecond: `2026-12-03T13:41:11.123456Z`), but with the date and
//! time up to the second worked out once a second per thread, not for every line: that took a
//! fifth of the request line's formatting.

use std::cell::RefCell;
use std::fmt::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{self, FormatTime};

/// Seconds since 1970 of 10000-01-01, where RFC 3339's four-digit years end.
pub(super) const YEAR_10000: u64 = 253_402_300_800;

#[derive(Debug, Default, Clone, Copy)]
pub struct LineTime;

impl FormatTime for LineTime {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        let now = SystemTime::now();
        match now.duration_since(UNIX_EPOCH) {
            Ok(since) if since.as_secs() < YEAR_10000 => write_time(since, w),
            // A clock before 1970 or past 9999: the default timer knows how to write it.
            _ => time::SystemTime.format_time(w),
        }
    }
}

/// `since` (after 1970, before 10000) as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub(super) fn write_time(since: Duration, w: &mut impl Write) -> fmt::Result {
    thread_local! {
        /// The second this thread last wrote, and its text up to the seconds.
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    SECOND.with_borrow_mut(|(second, text)| {
        if *second != since.as_secs() {
            text.clear();
            let whole = UNIX_EPOCH + Duration::from_secs(since.as_secs());
            write!(text, "{}", humantime::format_rfc3339_seconds(whole))?;
            text.pop(); // its `Z`: the fraction comes first
            *second = since.as_secs();
        }
        w.write_str(text)
    })?;
    let micros = since.subsec_micros();
    let mut digits = *b".000000Z";
    for (i, digit) in digits[1..7].iter_mut().rev().enumerate() {
        *digit = b'0' + (micros / 10u32.pow(i as u32) % 10) as u8;
    }
    w.write_str(std::str::from_utf8(&digits).map_err(|_| fmt::Error)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_rfc3339_to_the_microsecond() {
        let times = [
            Duration::ZERO,
            Duration::new(1, 1_000),
            Duration::new(951_782_400, 999_999_999), // 2000-02-29, the last nanosecond
            Duration::new(1_796_304_071, 123_456_789),
            Duration::new(1_796_304_071, 500), // the same second again, from the cache
            Duration::new(1_796_304_072, 0),
            Duration::new(YEAR_10000 - 1, 42_000),
        ];
        for since in times {
            let mut ours = String::new();
            write_time(since, &mut ours).unwrap();
            let theirs = humantime::format_rfc3339_micros(UNIX_EPOCH + since).to_string();
            assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn a_line_starts_as_with_the_default_timer() {
        let (mut ours, mut theirs) = (String::new(), String::new());
        LineTime.format_time(&mut Writer::new(&mut ours)).unwrap();
        time::SystemTime
            .format_time(&mut Writer::new(&mut theirs))
            .unwrap();
        assert_eq!(ours.len(), theirs.len(), "{ours} / {theirs}");
        let (ours, theirs) = (
            humantime::parse_rfc3339(&ours).unwrap(),
            humantime::parse_rfc3339(&theirs).unwrap(),
        );
        let apart = theirs.duration_since(ours).unwrap_or_default();
        assert!(apart < Duration::from_secs(5), "{apart:?}");
    }
}
