use std::fmt;

use serde::{Deserialize, Serialize};
use time::{
    OffsetDateTime, UtcOffset, format_description::well_known::Rfc3339, macros::format_description,
};

use super::Invalid;

/// An instant in UTC at millisecond precision, written as fixed-width RFC 3339
/// (`2026-11-21T06:01:20.123Z`) so that text order is time order in every store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Timestamp(OffsetDateTime);

const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

impl Timestamp {
    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc())
    }

    fn from_datetime(at: OffsetDateTime) -> Self {
        let at = at.to_offset(UtcOffset::UTC);
        let millis = at.millisecond();
        // Truncating here keeps a value equal to itself after a round trip through any store.
        Self(
            at.replace_millisecond(millis)
                .expect("a millisecond read from a valid time is valid"),
        )
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        OffsetDateTime::parse(raw, &Rfc3339)
            .map(Self::from_datetime)
            .map_err(|_| Invalid(format!("{raw:?} is not an RFC 3339 timestamp")))
    }

    pub fn unix_seconds(self) -> i64 {
        self.0.unix_timestamp()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.format(FORMAT).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl TryFrom<String> for Timestamp {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
}

impl From<Timestamp> for String {
    fn from(at: Timestamp) -> String {
        at.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_its_text_form() {
        let now = Timestamp::now();
        assert_eq!(Timestamp::parse(&now.to_string()).unwrap(), now);
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
        assert!(Timestamp::parse("yesterday").is_err());
    }
}
