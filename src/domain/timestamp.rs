use std::fmt;

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use super::Invalid;

/// An instant in UTC at millisecond precision, written as fixed-width RFC 3339
/// (`2026-11-21T06:01:20.123Z`) so that text order is time order in every store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc()).expect("the clock is in years 0000–9999")
    }

    /// The instant in UTC, if it lies in the years the fixed-width form can write (an offset
    /// can move `9999-12-31T23:00:00-02:00` past them).
    fn from_datetime(at: OffsetDateTime) -> Option<Self> {
        let at = at
            .checked_to_offset(UtcOffset::UTC)
            .filter(|at| (0..=9999).contains(&at.year()))?;
        // Truncating here keeps a value equal to itself after a round trip through any store.
        at.replace_millisecond(at.millisecond()).ok().map(Self)
    }

    /// The last instant the fixed-width form can write.
    fn last() -> Self {
        let date = Date::from_calendar_date(9999, Month::December, 31).unwrap_or(Date::MAX);
        let time = Time::from_hms_milli(23, 59, 59, 999).unwrap_or(Time::MIDNIGHT);
        Self(PrimitiveDateTime::new(date, time).assume_utc())
    }

    /// Seconds since the Unix epoch (what token claims and DynamoDB's TTL count in).
    pub fn unix_seconds(&self) -> u64 {
        u64::try_from(self.0.unix_timestamp()).unwrap_or(0)
    }

    pub fn from_unix_seconds(seconds: u64) -> Result<Self, Invalid> {
        i64::try_from(seconds)
            .ok()
            .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
            .and_then(Self::from_datetime)
            .ok_or_else(|| Invalid(format!("{seconds} is not a time")))
    }

    /// This instant moved `by` into the future (saturating at the end of year 9999).
    pub fn plus(&self, by: std::time::Duration) -> Self {
        let by = time::Duration::try_from(by).unwrap_or(time::Duration::MAX);
        let last = Self::last();
        self.0
            .checked_add(by)
            .and_then(Self::from_datetime)
            .map_or(last, |at| at.min(last))
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Self::parse_own_format(raw)
            .or_else(|| {
                OffsetDateTime::parse(raw, &Rfc3339)
                    .ok()
                    .and_then(Self::from_datetime)
            })
            .ok_or_else(|| Invalid(format!("{raw:?} is not an RFC 3339 timestamp")))
    }

    /// The fixed-width form this type writes, read without a general RFC 3339 parser: every
    /// listed item carries two of them, so this is on the hot path of every list.
    fn parse_own_format(raw: &str) -> Option<Self> {
        let b = raw.as_bytes();
        if b.len() != 24 || [b[4], b[7], b[10], b[13], b[16], b[19], b[23]] != *b"--T::.Z" {
            return None;
        }
        let number = |from: usize, to: usize| -> Option<u32> {
            b[from..to].iter().try_fold(0u32, |n, d| {
                d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
            })
        };
        let month = Month::try_from(u8::try_from(number(5, 7)?).ok()?).ok()?;
        let date = Date::from_calendar_date(
            i32::try_from(number(0, 4)?).ok()?,
            month,
            u8::try_from(number(8, 10)?).ok()?,
        )
        .ok()?;
        let time = Time::from_hms_milli(
            u8::try_from(number(11, 13)?).ok()?,
            u8::try_from(number(14, 16)?).ok()?,
            u8::try_from(number(17, 19)?).ok()?,
            u16::try_from(number(20, 23)?).ok()?,
        )
        .ok()?;
        Some(Self(PrimitiveDateTime::new(date, time).assume_utc()))
    }
}

impl Timestamp {
    /// Whether `text` is this instant as this type writes it (no string made: asked on every
    /// authorized request).
    pub fn written_as(&self, text: &str) -> bool {
        self.text() == text.as_bytes()
    }

    /// The fixed-width text form, written digit by digit: two of these per listed item made the
    /// general formatter a tenth of a list request's CPU.
    pub(super) fn text(&self) -> [u8; 24] {
        use super::zero_padded as put;
        let (year, month, day) = self.0.to_calendar_date();
        let (hour, minute, second, milli) = self.0.to_hms_milli();
        let mut out = *b"0000-00-00T00:00:00.000Z";
        put(&mut out[0..4], year.clamp(0, 9999).unsigned_abs());
        put(&mut out[5..7], u32::from(u8::from(month)));
        put(&mut out[8..10], u32::from(day));
        put(&mut out[11..13], u32::from(hour));
        put(&mut out[14..16], u32::from(minute));
        put(&mut out[17..19], u32::from(second));
        put(&mut out[20..23], u32::from(milli));
        out
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.text();
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = self.text();
        serializer.serialize_str(std::str::from_utf8(&text).map_err(serde::ser::Error::custom)?)
    }
}

impl TryFrom<String> for Timestamp {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_its_text_form() {
        let now = Timestamp::now();
        assert_eq!(Timestamp::parse(&now.to_string()).unwrap(), now);
        assert!(now.written_as(&now.to_string()));
        assert!(!now.written_as(&now.plus(std::time::Duration::from_millis(1)).to_string()));
        assert!(!now.written_as("2026-11-21T06:01:20Z"));
    }

    #[test]
    fn writes_fixed_width_utc_with_milliseconds() {
        let at = Timestamp::parse("2026-11-21T07:01:20.123456+01:00").unwrap();
        assert_eq!(at.to_string(), "2026-11-21T06:01:20.123Z");
        let whole = Timestamp::parse("2026-01-02T03:04:05Z").unwrap();
        assert_eq!(whole.to_string(), "2026-01-02T03:04:05.000Z");
    }

    #[test]
    fn refuses_text_that_is_not_a_timestamp() {
        for bad in [
            "yesterday",
            "2026-13-01T00:00:00.000Z",
            "2026-02-30T00:00:00.000Z",
            "2026-01-01T24:00:00.000Z",
            "2026-01-01T00:00:00.00aZ",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn converts_to_and_from_unix_seconds() {
        let at = Timestamp::parse("2026-01-02T03:04:05.000Z").unwrap();
        assert_eq!(Timestamp::from_unix_seconds(at.unix_seconds()).unwrap(), at);
        let later = at.plus(std::time::Duration::from_secs(90));
        assert_eq!(later.to_string(), "2026-01-02T03:05:35.000Z");
        assert_eq!(
            at.plus(std::time::Duration::MAX).to_string(),
            "9999-12-31T23:59:59.999Z"
        );
        let late = Timestamp::parse("9999-12-31T21:00:00.000Z").unwrap();
        assert_eq!(
            late.plus(std::time::Duration::from_secs(1)).to_string(),
            "9999-12-31T21:00:01.000Z"
        );
    }

    #[test]
    fn refuses_instants_outside_the_years_it_can_write() {
        for outside in ["9999-12-31T23:00:00-02:00", "0000-01-01T00:00:00+00:01"] {
            assert!(Timestamp::parse(outside).is_err(), "{outside}");
        }
        let first = Timestamp::parse("0001-01-01T00:30:00+01:00").unwrap();
        assert_eq!(first.to_string(), "0000-12-31T23:30:00.000Z");
    }

    #[test]
    fn serializes_as_its_text_form() {
        let at = Timestamp::parse("2026-01-02T03:04:05.006Z").unwrap();
        assert_eq!(
            serde_json::to_string(&at).unwrap(),
            "\"2026-01-02T03:04:05.006Z\""
        );
    }
}
