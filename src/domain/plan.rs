//! What people plan with besides the description: a title, notes, a due date (or a time in a
//! time zone), a priority and a place in their own order. Each is optional; a todo made by a
//! client that knows none of them has none of them.

use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use utoipa::ToSchema;

use super::Invalid;

/// Years a due date may fall in: four digits, so that the stores' text order is time order.
const YEARS: std::ops::RangeInclusive<i16> = 1900..=9999;

/// A one-line summary, as the seeds' task API has it: 1–200 characters once trimmed, no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct Title(String);

impl Title {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        super::todo::one_line("title", raw, Self::MAX_CHARS).map(Self)
    }

    pub fn from_stored(raw: &str) -> Result<Self, Invalid> {
        super::todo::stored_line("title", raw, Self::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Title {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
}

impl From<Title> for String {
    fn from(t: Title) -> String {
        t.0
    }
}

impl utoipa::PartialSchema for Title {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::text_schema(
            "A one-line summary: 1–200 characters once trimmed, no control characters.",
            Self::PATTERN,
            None,
        )
        .into()
    }
}

impl Title {
    /// [`Title::parse`] as a regular expression (as `Description::PATTERN`, 200 characters).
    pub const PATTERN: &str = concat!(
        "^[",
        whitespace!(),
        "]*[^",
        control!(),
        whitespace!(),
        "]([^",
        control!(),
        "]{0,198}[^",
        control!(),
        whitespace!(),
        "])?[",
        whitespace!(),
        "]*$"
    );
}

impl ToSchema for Title {}

/// Longer free text: up to 10,000 characters once trimmed; line breaks and tabs are kept, other
/// control characters refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct Notes(String);

impl Notes {
    pub const MAX_CHARS: usize = 10_000;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let text = raw.trim();
        if let Some(c) = text
            .chars()
            .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(Invalid(format!(
                "notes must not contain control characters other than line breaks and tabs \
                 (found U+{:04X})",
                u32::from(c)
            )));
        }
        Self::from_stored(text)
    }

    pub fn from_stored(raw: &str) -> Result<Self, Invalid> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(Invalid(
                "notes must not be empty (send null to remove them)".into(),
            ));
        }
        if text.chars().count() > Self::MAX_CHARS {
            return Err(Invalid(format!(
                "notes must be at most {} characters",
                Self::MAX_CHARS
            )));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Notes {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
}

impl From<Notes> for String {
    fn from(n: Notes) -> String {
        n.0
    }
}

impl utoipa::PartialSchema for Notes {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::text_schema(
            "Longer text: 1–10,000 characters once trimmed; line breaks and tabs are kept, other \
             control characters refused.",
            Self::PATTERN,
            Some(Self::MAX_CHARS),
        )
        .into()
    }
}

impl Notes {
    /// [`Notes::parse`] as a regular expression (the length is the schema's `maxLength`).
    pub const PATTERN: &str = concat!(
        "^[",
        whitespace!(),
        "]*[^",
        control!(),
        whitespace!(),
        r"]([^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*[^",
        control!(),
        whitespace!(),
        "])?[",
        whitespace!(),
        "]*$"
    );
}

impl ToSchema for Notes {}

/// How much a todo matters. `none` is what a todo has until someone says otherwise.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum Priority {
    #[default]
    None,
    Low,
    Medium,
    High,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Self::None, Self::Low, Self::Medium, Self::High];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }

    /// 0 (none) to 3 (high): how the stores keep it.
    pub fn rank(self) -> u8 {
        self as u8
    }

    pub fn from_rank(rank: i64) -> Result<Self, Invalid> {
        usize::try_from(rank)
            .ok()
            .and_then(|r| Self::ALL.get(r).copied())
            .ok_or_else(|| Invalid(format!("{rank} is not a priority")))
    }
}

impl super::Named for Priority {
    const WHAT: &'static str = "priority";
    fn all() -> &'static [Self] {
        &Self::ALL
    }
    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl FromStr for Priority {
    type Err = Invalid;
    fn from_str(raw: &str) -> Result<Self, Invalid> {
        super::by_name(raw)
    }
}

impl TryFrom<String> for Priority {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        raw.parse()
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An IANA time zone this checkoff knows (its own copy of the tz database, the same on a laptop
/// and on Lambda), under its canonical name.
#[derive(Clone)]
pub struct Zone {
    /// Named: UTC or a zone of the database (whose name is kept in it), never a bare offset, a
    /// POSIX rule or jiff's unknown zone.
    tz: TimeZone,
}

impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(D::Error::custom)
    }
}

impl Zone {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let unknown = || {
            Invalid(format!(
                "{raw:?} is not a time zone: use an IANA name such as Europe/Berlin or UTC"
            ))
        };
        // Only names: a POSIX rule or a fixed offset would not say where the person is.
        if raw.is_empty() || raw.len() > 64 || raw.contains(|c: char| c.is_whitespace()) {
            return Err(unknown());
        }
        // The bundled database never changes while the process runs, and most requests name
        // the zone the one before them did: each thread keeps the last zone it looked up (the
        // lookup was ~600 instructions, a tenth of what the Today view adds to a list).
        thread_local! {
            static LAST: std::cell::RefCell<Option<(Box<str>, Zone)>> =
                const { std::cell::RefCell::new(None) };
        }
        LAST.with_borrow_mut(|last| match last {
            Some((asked, zone)) if **asked == *raw => Ok(zone.clone()),
            _ => {
                let tz = TimeZone::get(raw).map_err(|_| unknown())?;
                if tz.iana_name().is_none() {
                    return Err(unknown());
                }
                let zone = Self { tz };
                *last = Some((raw.into(), zone.clone()));
                Ok(zone)
            }
        })
    }

    pub fn utc() -> Self {
        Self { tz: TimeZone::UTC }
    }

    /// The canonical name (`europe/berlin` is `Europe/Berlin`).
    pub fn name(&self) -> &str {
        // Every zone made here has one (see the field).
        self.tz.iana_name().unwrap_or("UTC")
    }

    /// The calendar day it is at `now` in this zone.
    pub fn day_at(&self, now: jiff::Timestamp) -> Date {
        now.to_zoned_datetime(self.tz.clone()).date()
    }

    /// The first instant of `day` in this zone (not always midnight: some zones skip it when
    /// their clocks change).
    pub fn start_of(&self, day: Date) -> Result<jiff::Timestamp, Invalid> {
        day.to_zoned_datetime(self.tz.clone())
            .and_then(|z| z.start_of_day())
            .map(|z| z.timestamp())
            .map_err(|e| Invalid(format!("{day} in {}: {e}", self.name())))
    }

    /// The instant `local` names in this zone: refused when the clocks skip it (a gap when
    /// summer time begins); when they show it twice (summer time ends), the first of the two.
    fn instant(&self, local: DateTime) -> Result<jiff::Timestamp, Invalid> {
        let ambiguous = self.tz.to_ambiguous_timestamp(local);
        if let AmbiguousOffset::Gap { before, after } = ambiguous.offset() {
            return Err(Invalid(format!(
                "{} does not exist in {}: the clocks skip from UTC{before} to UTC{after} there \
                 (give a time before or after the change)",
                write_local(local),
                self.name()
            )));
        }
        ambiguous
            .earlier()
            .map_err(|e| Invalid(format!("{} in {}: {e}", write_local(local), self.name())))
    }
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Zone {}

/// When a todo is due: a calendar day (all day, wherever the person is), or a wall-clock time in
/// an IANA time zone, kept as given and answered with the UTC instant it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    Day(Date),
    At {
        local: DateTime,
        zone: String,
        utc: jiff::Timestamp,
    },
}

impl Due {
    /// What a client sends: `"2026-12-24"`, or `{"at": "2026-12-24T18:00", "tz": "Europe/Berlin"}`
    /// (seconds optional; no offset: the zone says it).
    pub fn parse(value: &Value) -> Result<Self, Invalid> {
        let shape = || {
            Invalid(
                "due must be a date (\"2026-12-24\") or a time in a zone \
                 ({\"at\": \"2026-12-24T18:00\", \"tz\": \"Europe/Berlin\"})"
                    .into(),
            )
        };
        match value {
            Value::String(day) => parse_day(day).map(Self::Day),
            Value::Object(fields) => {
                if fields.keys().any(|k| k != "at" && k != "tz" && k != "utc") {
                    return Err(shape());
                }
                let (Some(Value::String(at)), Some(Value::String(tz))) =
                    (fields.get("at"), fields.get("tz"))
                else {
                    return Err(shape());
                };
                // An answer sent back as it came is fine: its `utc` is worked out again, but
                // one that is no instant at all says the client meant something else.
                match fields.get("utc") {
                    None => {}
                    Some(Value::String(utc)) if utc.parse::<jiff::Timestamp>().is_ok() => {}
                    Some(_) => {
                        return Err(Invalid(
                            "due.utc, when sent, must be an instant such as \
                             2026-12-24T17:00:00Z (it is worked out from at and tz anyway)"
                                .into(),
                        ));
                    }
                }
                Self::at(parse_local(at)?, &Zone::parse(tz)?)
            }
            _ => Err(shape()),
        }
    }

    /// What a person types: `today`, `tomorrow`, `next-week` (a week from today), a date
    /// (`2026-12-24`), or a date and time (`2026-12-24 18:00`) in `zone`; days are `zone`'s.
    pub fn from_words(raw: &str, zone: &Zone, now: jiff::Timestamp) -> Result<Self, Invalid> {
        let today = zone.day_at(now);
        let later = |days: i64| {
            today
                .checked_add(jiff::Span::new().days(days))
                .map(Self::Day)
                .map_err(|e| Invalid(e.to_string()))
        };
        match raw.trim().to_ascii_lowercase().as_str() {
            "today" => Ok(Self::Day(today)),
            "tomorrow" => later(1),
            "next-week" | "next week" => later(7),
            text if text.len() == 10 => parse_day(text).map(Self::Day),
            text => match parse_local(&text.replacen(' ', "T", 1)) {
                Ok(local) => Self::at(local, zone),
                Err(_) => Err(Invalid(format!(
                    "{raw:?} is not a due date: write today, tomorrow, next-week, a date \
                     (2026-12-24) or a date and time (\"2026-12-24 18:00\")"
                ))),
            },
        }
    }

    /// A wall-clock time in `zone`.
    pub fn at(local: DateTime, zone: &Zone) -> Result<Self, Invalid> {
        let utc = zone.instant(local)?;
        Ok(Self::At {
            local,
            zone: zone.name().to_owned(),
            utc,
        })
    }

    /// A due as a store keeps it: the day, or the local time, its zone and its instant (not
    /// worked out again: the instant is what the store's order and filters were built from).
    pub fn from_stored(
        day: Option<&str>,
        at: Option<(&str, &str, &str)>,
    ) -> Result<Option<Self>, Invalid> {
        match (day, at) {
            (None, None) => Ok(None),
            (Some(day), None) => parse_day(day).map(|d| Some(Self::Day(d))),
            (None, Some((local, zone, utc))) => Ok(Some(Self::At {
                local: parse_local(local)?,
                zone: zone.to_owned(),
                utc: parse_instant(utc)?,
            })),
            (Some(_), Some(_)) => Err(Invalid("due is both a day and a time".into())),
        }
    }

    /// The day as stored (`2026-12-24`), for an all-day due.
    pub fn day_text(&self) -> Option<String> {
        match self {
            Self::Day(day) => Some(write_day(*day)),
            Self::At { .. } => None,
        }
    }

    /// The local time, zone and UTC instant as stored, for a due at a time.
    pub fn at_text(&self) -> Option<(String, &str, String)> {
        match self {
            Self::Day(_) => None,
            Self::At { local, zone, utc } => {
                Some((write_local(*local), zone.as_str(), write_instant(*utc)))
            }
        }
    }

    /// Where the todo sorts by due: the day (`2026-12-24`) or the UTC instant
    /// (`2026-12-24T17:00:00Z`), as text, so that an all-day due sorts before the times of its
    /// day (its UTC day).
    pub fn sort_key(&self) -> String {
        match self {
            Self::Day(day) => write_day(*day),
            Self::At { utc, .. } => write_instant(*utc),
        }
    }
}

impl Serialize for Due {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Self::Day(day) => serializer.serialize_str(&write_day(*day)),
            Self::At { local, zone, utc } => {
                let mut map = serializer.serialize_map(Some(3))?;
                map.serialize_entry("at", &write_local(*local))?;
                map.serialize_entry("tz", zone)?;
                map.serialize_entry("utc", &write_instant(*utc))?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Due {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Self::parse(&value).map_err(D::Error::custom)
    }
}

impl utoipa::PartialSchema for Due {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        let day = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Date,
            )))
            .pattern(Some(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))
            .description(Some("Due all day on this date, wherever the person is."))
            .examples([serde_json::json!("2026-12-24")]);
        let at = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "Due at a wall-clock time in an IANA time zone. A time the clocks skip there \
                 is refused; a time they show twice is the first of the two. Answered with \
                 `utc`, the instant it names.",
            ))
            .property(
                "at",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(
                        r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?$",
                    ))
                    .examples([serde_json::json!("2026-12-24T18:00")]),
            )
            .required("at")
            .property(
                "tz",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .examples([serde_json::json!("Europe/Berlin")]),
            )
            .required("tz")
            .property(
                "utc",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::DateTime,
                    )))
                    .description(Some(
                        "In answers only: the UTC instant (ignored when sent).",
                    )),
            );
        utoipa::openapi::schema::Schema::OneOf(OneOfBuilder::new().item(day).item(at).build())
            .into()
    }
}

impl ToSchema for Due {}

fn digits(text: &str) -> Option<i16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `YYYY-MM-DD`, a day that exists (no 30 February; 29 February in leap years only).
pub fn parse_day(raw: &str) -> Result<Date, Invalid> {
    let bad = |why: &str| Invalid(format!("{raw:?} is not a date ({why}); write 2026-12-24"));
    // Split by position, not by collecting the parts (an allocation for every due read).
    let bytes = raw.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return Err(bad("not YYYY-MM-DD"));
    }
    let (y, m, d) = (&raw[..4], &raw[5..7], &raw[8..]);
    let (Some(year), Some(month), Some(day)) = (digits(y), digits(m), digits(d)) else {
        return Err(bad("not YYYY-MM-DD"));
    };
    if !YEARS.contains(&year) {
        return Err(bad("the year must be from 1900 to 9999"));
    }
    Date::new(year, month as i8, day as i8).map_err(|_| bad("no such day"))
}

/// `YYYY-MM-DDTHH:MM` or `YYYY-MM-DDTHH:MM:SS`, a wall-clock time without an offset.
fn parse_local(raw: &str) -> Result<DateTime, Invalid> {
    let bad = || {
        Invalid(format!(
            "{raw:?} is not a local time: write 2026-12-24T18:00 (no offset: tz gives the zone)"
        ))
    };
    let (day, time) = raw.split_once('T').ok_or_else(bad)?;
    let day = parse_day(day)?;
    let parts: Vec<&str> = time.split(':').collect();
    let (h, m, s) = match parts.as_slice() {
        [h, m] => (*h, *m, "00"),
        [h, m, s] => (*h, *m, *s),
        _ => return Err(bad()),
    };
    if [h, m, s].iter().any(|p| p.len() != 2) {
        return Err(bad());
    }
    let (Some(h), Some(m), Some(s)) = (digits(h), digits(m), digits(s)) else {
        return Err(bad());
    };
    let time = jiff::civil::Time::new(h as i8, m as i8, s as i8, 0).map_err(|_| bad())?;
    Ok(day.to_datetime(time))
}

/// `YYYY-MM-DDTHH:MM:SSZ`, as [`write_instant`] writes it.
fn parse_instant(raw: &str) -> Result<jiff::Timestamp, Invalid> {
    raw.parse()
        .map_err(|e| Invalid(format!("{raw:?} is not an instant: {e}")))
}

pub fn write_day(day: Date) -> String {
    let mut out = String::with_capacity(20);
    push_day(&mut out, day);
    out
}

/// `day` as `2026-12-24` onto `out`, digit by digit: lists write one or two of these per todo
/// (through `core::fmt` they were a fifth of a todo's JSON).
fn push_day(out: &mut String, day: Date) {
    match u32::try_from(day.year()) {
        Ok(year) if year <= 9999 => push_digits(out, year, 4),
        // Not a year a due date can name, but an instant of one: written as `format!` would.
        _ => out.push_str(&format!("{:04}", day.year())),
    }
    out.push('-');
    push_digits(out, day.month().unsigned_abs().into(), 2);
    out.push('-');
    push_digits(out, day.day().unsigned_abs().into(), 2);
}

/// `value` in `width` digits (at most 4), zeros in front.
fn push_digits(out: &mut String, value: u32, width: usize) {
    let mut digits = [0; 4];
    super::zero_padded(&mut digits[..width], value);
    out.extend(digits[..width].iter().map(|&d| char::from(d)));
}

/// `HH:MM`, and `:SS` when `second` is not `None`.
fn push_time(out: &mut String, hour: i8, minute: i8, second: Option<i8>) {
    out.push('T');
    push_digits(out, hour.unsigned_abs().into(), 2);
    out.push(':');
    push_digits(out, minute.unsigned_abs().into(), 2);
    if let Some(second) = second {
        out.push(':');
        push_digits(out, second.unsigned_abs().into(), 2);
    }
}

/// A local time as given: seconds only when there are some.
pub(super) fn write_local(local: DateTime) -> String {
    let mut out = String::with_capacity(20);
    push_day(&mut out, local.date());
    let second = (local.second() != 0).then_some(local.second());
    push_time(&mut out, local.hour(), local.minute(), second);
    out
}

/// An instant in UTC to the second, fixed width: text order is time order.
pub fn write_instant(at: jiff::Timestamp) -> String {
    // Written out rather than through strftime: views work out two of these per request.
    let utc = jiff::tz::Offset::UTC.to_datetime(at);
    let mut out = String::with_capacity(20);
    push_day(&mut out, utc.date());
    push_time(&mut out, utc.hour(), utc.minute(), Some(utc.second()));
    out.push('Z');
    out
}

/// A place in the person's order: a key in base 36 (`0-9a-z`) compared as text, never ending in
/// `0` so that another key always fits between two. A new todo's key is its uid (which sorts by
/// creation time); a move takes a key between its new neighbours, one character longer about
/// every five moves into the same gap.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Position(String);

impl Position {
    /// Longer keys are refused: the todos' order is written out afresh first.
    pub const MAX_CHARS: usize = 200;

    /// Where a new todo with this uid goes: after every todo made before it.
    pub fn of_new(uid: uuid::Uuid) -> Self {
        let hex = uid.simple().to_string();
        let key = hex.trim_end_matches('0');
        Self(if key.is_empty() {
            "1".into()
        } else {
            key.into()
        })
    }

    pub fn from_stored(raw: &str) -> Result<Self, Invalid> {
        let valid = !raw.is_empty()
            && raw.len() <= Self::MAX_CHARS
            && !raw.ends_with('0')
            && raw
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Invalid(format!("{raw:?} is not a position")))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A key after `low` and before `high` (either end open): `None` when `low` is not below
    /// `high`, or the key would be longer than [`Self::MAX_CHARS`].
    pub fn between(low: Option<&Position>, high: Option<&Position>) -> Option<Position> {
        let digit = |b: u8| {
            u32::from(if b.is_ascii_digit() {
                b - b'0'
            } else {
                b - b'a' + 10
            })
        };
        let low: Vec<u32> = low.map_or(vec![], |p| p.0.bytes().map(digit).collect());
        let high: Option<Vec<u32>> = high.map(|p| p.0.bytes().map(digit).collect());
        let mut key = Vec::new();
        let mut bounded = high.is_some();
        for i in 0..=Self::MAX_CHARS {
            let l = low.get(i).copied().unwrap_or(0);
            let h = match (&high, bounded) {
                (Some(high), true) => high.get(i).copied().unwrap_or(0),
                _ => 36,
            };
            if h < l || (h == l && i >= low.len().max(high.as_ref().map_or(0, Vec::len))) {
                return None;
            }
            if h - l > 1 {
                key.push((l + h) / 2);
                break;
            }
            key.push(l);
            // Below `high` from here on whatever follows, once a digit is under its digit.
            if h > l {
                bounded = false;
            }
        }
        if key.len() > Self::MAX_CHARS || key.last().is_none_or(|d| *d == 0) {
            return None;
        }
        let text = key
            .into_iter()
            .map(|d| char::from_digit(d, 36).expect("a base-36 digit"))
            .collect();
        Some(Self(text))
    }
}

impl Position {
    /// Keys spread out by [`Position::respace`] are at most this long, which leaves room for
    /// hundreds of moves into any gap before the next respacing.
    const SPREAD_CHARS: usize = Self::MAX_CHARS / 2;
    /// A respacing rewrites at most this many todos (one DynamoDB transaction of 100 actions
    /// with the moved one and the change-log entry).
    pub const MAX_RESPACED: usize = 98;

    /// `count` keys spread evenly between `low` and `high` (either end open), each with room
    /// for dozens of moves into the gaps around it; `None` when `low` is not below `high` or
    /// the keys would be longer than `max_chars`.
    fn spread(
        low: Option<&Position>,
        high: Option<&Position>,
        count: usize,
        max_chars: usize,
    ) -> Option<Vec<Position>> {
        if matches!((low, high), (Some(l), Some(h)) if l >= h) {
            return None;
        }
        let digits = |p: Option<&Position>| -> Vec<u32> {
            p.map_or(vec![], |p| {
                p.0.chars().filter_map(|c| c.to_digit(36)).collect()
            })
        };
        let (low, high) = (digits(low), high.map(|h| digits(Some(h))));
        // An open end is 1.0, which is 0.zzz… in base 36: the prefix both ends share.
        let high_digit = |i: usize| match &high {
            Some(high) => high.get(i).copied().unwrap_or(0),
            None => 35,
        };
        let low_digit = |i: usize| low.get(i).copied().unwrap_or(0);
        let shared = (0..max_chars)
            .find(|&i| low_digit(i) != high_digit(i))
            .unwrap_or(max_chars);
        // The value of `width` digits after the shared prefix, as a whole number.
        let value = |digit: &dyn Fn(usize) -> u32, width: u32| {
            (0..width as usize).fold(0u128, |v, i| v * 36 + u128::from(digit(shared + i)))
        };
        let room = (count as u128 + 1) * 64;
        let (width, low_value, span) = (1..=24u32).find_map(|width| {
            let low_value = value(&low_digit, width);
            let high_value = match high {
                Some(_) => value(&high_digit, width),
                None => 36u128.pow(width),
            };
            let span = high_value - low_value;
            (span >= room).then_some((width, low_value, span))
        })?;
        let prefix: String = low[..shared.min(low.len())]
            .iter()
            .chain(std::iter::repeat_n(&0, shared.saturating_sub(low.len())))
            .map(|&d| char::from_digit(d, 36).expect("a base-36 digit"))
            .collect();
        let keys: Vec<Position> = (0..count)
            .map(|i| {
                let mut at = low_value + (i as u128 + 1) * span / (count as u128 + 1);
                let mut tail = vec!['0'; width as usize];
                for slot in tail.iter_mut().rev() {
                    *slot = char::from_digit((at % 36) as u32, 36).expect("a base-36 digit");
                    at /= 36;
                }
                let key = format!("{prefix}{}", String::from_iter(tail));
                Position(key.trim_end_matches('0').to_owned())
            })
            .collect();
        keys.iter().all(|k| k.0.len() <= max_chars).then_some(keys)
    }

    /// New keys for the stretch of an order around a gap too narrow for one more key (after
    /// many moves into it): the fewest todos around `gap` (at most [`Self::MAX_RESPACED`])
    /// whose neighbours outside the stretch, or the ends of the order, leave room to spread
    /// them out in short keys again. `keys` is a run of the order, ascending; the new key goes
    /// between `keys[gap - 1]` and `keys[gap]`; `first` and `last` say whether the run begins
    /// and ends the whole order. Keys outside the stretch keep theirs, so the order holds
    /// whether or not the rest of it was read. `None` when no such stretch is in `keys`.
    pub fn respace(keys: &[Position], gap: usize, first: bool, last: bool) -> Option<Respaced> {
        let len = keys.len();
        let lowest = usize::from(!first).min(gap);
        let highest = if last {
            len
        } else {
            len.saturating_sub(1).max(gap)
        };
        let mut radius = 0;
        loop {
            let start = gap.saturating_sub(radius).max(lowest);
            let end = (gap + radius).min(highest);
            if end - start > Self::MAX_RESPACED {
                return None;
            }
            let low = start.checked_sub(1).map(|i| &keys[i]);
            let high = keys.get(end).filter(|_| end < len);
            if let Some(mut spread) = Self::spread(low, high, end - start + 1, Self::SPREAD_CHARS) {
                let moved = spread.remove(gap - start);
                return Some(Respaced {
                    start,
                    keys: spread,
                    moved,
                });
            }
            if start == lowest && end == highest {
                return None;
            }
            radius += 1;
        }
    }
}

/// What [`Position::respace`] chose: new keys for `keys[start..start + keys.len()]` of the run
/// it was given, and the key of the todo that goes into the gap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Respaced {
    pub start: usize,
    pub keys: Vec<Position>,
    pub moved: Position,
}

impl<'de> Deserialize<'de> for Position {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::from_stored(&raw).map_err(D::Error::custom)
    }
}

impl utoipa::PartialSchema for Position {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "Where the todo stands in its owner's order (`sort=position`): compare as \
                 text. Changed by `POST /todos/{uid}/move`.",
            ))
            .build()
            .into()
    }
}

impl ToSchema for Position {}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn berlin() -> Zone {
        Zone::parse("Europe/Berlin").unwrap()
    }

    fn at(local: &str, tz: &str) -> Result<Due, Invalid> {
        Due::parse(&json!({"at": local, "tz": tz}))
    }

    fn utc_of(due: &Due) -> String {
        due.at_text().unwrap().2
    }

    #[test]
    fn days_must_exist() {
        assert!(parse_day("2028-02-29").is_ok(), "a leap day");
        for bad in [
            "2026-02-29",
            "2100-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-1-01",
            "26-01-01",
            "2026-01-01T10:00",
            "+2026-01-01",
            "1899-12-31",
            "2026-01-é",
            "2026-é-01",
            "2026--1-01",
            "2026-01--1",
            "",
        ] {
            assert!(parse_day(bad).is_err(), "{bad:?}");
        }
        assert!(parse_day("2000-02-29").is_ok(), "divisible by 400");
    }

    #[test]
    fn a_time_in_a_zone_is_answered_with_its_instant() {
        let due = at("2026-12-24T18:00", "Europe/Berlin").unwrap();
        assert_eq!(utc_of(&due), "2026-12-24T17:00:00Z");
        assert_eq!(
            serde_json::to_value(&due).unwrap(),
            json!({"at": "2026-12-24T18:00", "tz": "Europe/Berlin", "utc": "2026-12-24T17:00:00Z"})
        );
        let summer = at("2026-07-01T18:00:30", "Europe/Berlin").unwrap();
        assert_eq!(utc_of(&summer), "2026-07-01T16:00:30Z");
        assert_eq!(
            serde_json::to_value(&summer).unwrap()["at"],
            "2026-07-01T18:00:30"
        );
    }

    #[test]
    fn a_time_the_clocks_skip_is_refused_and_one_they_repeat_is_the_first() {
        // Berlin, 29 March 2026: 02:00 → 03:00.
        let gap = at("2026-03-29T02:30", "Europe/Berlin").unwrap_err().0;
        assert!(gap.contains("does not exist in Europe/Berlin"), "{gap}");
        assert!(at("2026-03-29T03:00", "Europe/Berlin").is_ok());
        // 25 October 2026: 03:00 → 02:00, so 02:30 happens twice (first at +02:00).
        let fold = at("2026-10-25T02:30", "Europe/Berlin").unwrap();
        assert_eq!(utc_of(&fold), "2026-10-25T00:30:00Z");
        // New York, 8 March 2026: 02:00 → 03:00.
        assert!(at("2026-03-08T02:15", "America/New_York").is_err());
    }

    #[test]
    fn across_the_date_line() {
        // Samoa skipped 30 December 2011 altogether.
        assert!(at("2011-12-30T12:00", "Pacific/Apia").is_err());
        let kiritimati = at("2026-01-01T00:00", "Pacific/Kiritimati").unwrap();
        assert_eq!(utc_of(&kiritimati), "2025-12-31T10:00:00Z");
        let now: jiff::Timestamp = "2026-01-01T11:00:00Z".parse().unwrap();
        assert_eq!(
            Zone::parse("Pacific/Kiritimati").unwrap().day_at(now),
            parse_day("2026-01-02").unwrap()
        );
        assert_eq!(
            Zone::parse("Pacific/Pago_Pago").unwrap().day_at(now),
            parse_day("2026-01-01").unwrap()
        );
    }

    #[test]
    fn days_and_times_are_written_as_format_wrote_them() {
        for (y, m, d) in [
            (1900, 1, 1),
            (2026, 12, 24),
            (9999, 12, 31),
            (-44, 3, 15),
            (5, 6, 7),
        ] {
            let day = Date::new(y, m, d).unwrap();
            assert_eq!(write_day(day), format!("{y:04}-{m:02}-{d:02}"));
            for (h, min, s) in [(0, 0, 0), (9, 5, 0), (23, 59, 59), (12, 0, 7)] {
                let local = day.at(h, min, s, 0);
                let time = match s {
                    0 => format!("{h:02}:{min:02}"),
                    s => format!("{h:02}:{min:02}:{s:02}"),
                };
                assert_eq!(write_local(local), format!("{y:04}-{m:02}-{d:02}T{time}"));
                if let Ok(at) = jiff::tz::Offset::UTC.to_timestamp(local) {
                    assert_eq!(
                        write_instant(at),
                        format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}Z")
                    );
                }
            }
        }
    }

    #[test]
    fn days_start_when_the_zone_says() {
        let zone = berlin();
        let start = zone.start_of(parse_day("2026-03-29").unwrap()).unwrap();
        assert_eq!(write_instant(start), "2026-03-28T23:00:00Z");
        // Havana moved its clocks at midnight: 8 March 2026 starts at 01:00.
        let havana = Zone::parse("America/Havana").unwrap();
        let start = havana.start_of(parse_day("2026-03-08").unwrap()).unwrap();
        assert_eq!(write_instant(start), "2026-03-08T05:00:00Z");
    }

    #[test]
    fn a_zone_asked_again_is_the_same_and_the_next_one_its_own() {
        let moment = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        for raw in [
            "europe/berlin",
            "Asia/Tokyo",
            "europe/berlin",
            "Europe/Berlin",
        ] {
            let zone = Zone::parse(raw).unwrap();
            assert_eq!(zone.name().to_lowercase(), raw.to_lowercase());
            let want = TimeZone::get(raw).unwrap().to_offset(moment);
            assert_eq!(zone.tz.to_offset(moment), want, "{raw}");
        }
        assert!(Zone::parse("Mars/Olympus").is_err());
        assert!(Zone::parse("Europe/Berlin ").is_err());
        assert_eq!(Zone::parse("Asia/Tokyo").unwrap().name(), "Asia/Tokyo");
    }

    #[test]
    fn zones_are_iana_names() {
        assert_eq!(
            Zone::parse("europe/berlin").unwrap().name(),
            "Europe/Berlin"
        );
        assert_eq!(Zone::parse("UTC").unwrap().name(), "UTC");
        for bad in [
            "Mars/Olympus",
            "",
            "+02:00",
            "EST5EDT,M3.2.0,M11.1.0",
            "Europe/ Berlin",
            "Etc/Unknown",
        ] {
            let err = Zone::parse(bad).unwrap_err().0;
            assert!(err.contains("not a time zone"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn due_shapes_that_are_refused() {
        for bad in [
            json!(20261224),
            json!({"at": "2026-12-24T18:00"}),
            json!({"at": "2026-12-24T18:00+01:00", "tz": "Europe/Berlin"}),
            json!({"at": "2026-12-24T24:00", "tz": "Europe/Berlin"}),
            json!({"at": "2026-12-24 18:00", "tz": "Europe/Berlin"}),
            json!({"at": "2026-12-24T18:00", "tz": "Europe/Berlin", "x": 1}),
            json!("2026-12-24T18:00"),
            json!([]),
        ] {
            assert!(Due::parse(&bad).is_err(), "{bad}");
        }
        // An answer sent back as it came (with `utc`) is read again.
        let due = at("2026-12-24T18:00", "Europe/Berlin").unwrap();
        let again = Due::parse(&serde_json::to_value(&due).unwrap()).unwrap();
        assert_eq!(again, due);
    }

    #[test]
    fn a_stored_due_reads_back() {
        let due = at("2026-12-24T18:00", "Europe/Berlin").unwrap();
        let (local, zone, utc) = due.at_text().unwrap();
        let back = Due::from_stored(None, Some((&local, zone, &utc))).unwrap();
        assert_eq!(back, Some(due));
        let day = Due::Day(parse_day("2026-12-24").unwrap());
        assert_eq!(
            Due::from_stored(day.day_text().as_deref(), None).unwrap(),
            Some(day)
        );
    }

    #[test]
    fn an_all_day_due_sorts_before_the_times_of_its_day() {
        let day = Due::Day(parse_day("2026-12-24").unwrap()).sort_key();
        let morning = at("2026-12-24T08:00", "UTC").unwrap().sort_key();
        let before = Due::Day(parse_day("2026-12-23").unwrap()).sort_key();
        assert!(before < day && day < morning);
    }

    #[test]
    fn priorities_parse_by_name() {
        assert_eq!("high".parse::<Priority>().unwrap(), Priority::High);
        assert!("urgent".parse::<Priority>().is_err());
        for p in Priority::ALL {
            assert_eq!(Priority::from_rank(i64::from(p.rank())).unwrap(), p);
        }
    }

    #[test]
    fn a_due_sent_back_with_its_utc_is_taken_and_a_utc_of_another_kind_refused() {
        let berlin = json!({"at": "2026-12-24T18:00", "tz": "Europe/Berlin"});
        let mut echoed = berlin.clone();
        echoed["utc"] = json!("2000-01-01T00:00:00Z");
        assert_eq!(Due::parse(&echoed).unwrap(), Due::parse(&berlin).unwrap());
        for utc in [json!({}), json!(5), json!("tomorrow"), Value::Null] {
            let mut bad = berlin.clone();
            bad["utc"] = utc.clone();
            assert!(Due::parse(&bad).is_err(), "{utc}");
        }
    }

    #[test]
    fn dues_from_words_are_days_and_times_of_the_zone() {
        // 23:30 UTC on 31 December is already 1 January in Berlin.
        let now: jiff::Timestamp = "2026-12-31T23:30:00Z".parse().unwrap();
        let words = |raw: &str| Due::from_words(raw, &berlin(), now);
        assert_eq!(words("today").unwrap().day_text().unwrap(), "2027-01-01");
        assert_eq!(words("Tomorrow").unwrap().day_text().unwrap(), "2027-01-02");
        assert_eq!(
            words("next-week").unwrap().day_text().unwrap(),
            "2027-01-08"
        );
        assert_eq!(
            words("2026-02-28").unwrap().day_text().unwrap(),
            "2026-02-28"
        );
        let at = words("2026-07-01 18:00").unwrap();
        assert_eq!(utc_of(&at), "2026-07-01T16:00:00Z");
        assert!(words("2026-03-29 02:30").is_err(), "a gap in Berlin");
        assert!(words("soon").is_err());
        assert!(words("2026-02-30").is_err());
    }

    #[test]
    fn titles_and_notes() {
        assert_eq!(Title::parse("  Buy milk ").unwrap().as_str(), "Buy milk");
        assert!(Title::parse("two\nlines").is_err());
        assert!(Title::parse(&"x".repeat(201)).is_err());
        assert_eq!(Notes::parse("a\n\tb\n").unwrap().as_str(), "a\n\tb");
        assert!(Notes::parse("a\u{1b}b").is_err());
        assert!(Notes::parse("  ").is_err());
    }

    #[test]
    fn a_new_position_follows_creation_order() {
        let first = Position::of_new(uuid::Uuid::now_v7());
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = Position::of_new(uuid::Uuid::now_v7());
        assert!(first < second);
        assert!(!first.as_str().ends_with('0'));
        assert_eq!(Position::from_stored(first.as_str()).unwrap(), first);
    }

    fn spread(index: usize, count: usize) -> Position {
        Position::spread(None, None, count, Position::MAX_CHARS).unwrap()[index].clone()
    }

    #[test]
    fn spread_keys_are_ordered_and_leave_room() {
        for count in [1, 2, 35, 36, 1000, 10_000] {
            let keys = Position::spread(None, None, count, Position::MAX_CHARS).unwrap();
            assert!(keys.windows(2).all(|w| w[0] < w[1]), "{count}");
            assert!(
                keys.iter()
                    .all(|k| !k.as_str().ends_with('0') && k.as_str().len() <= 5)
            );
            let mut low = keys[0].clone();
            for _ in 0..20 {
                low = Position::between(Some(&low), keys.get(1)).unwrap();
            }
        }
    }

    #[test]
    fn many_moves_into_one_gap_grow_the_key_slowly() {
        let (low, high) = (spread(0, 2), spread(1, 2));
        let mut key = high.clone();
        let mut moves = 0;
        while let Some(next) = Position::between(Some(&low), Some(&key)) {
            key = next;
            moves += 1;
        }
        assert!(moves > 900, "{moves} moves before the key was too long");
    }

    #[test]
    fn keys_spread_between_two_keep_between_them() {
        let p = |s: &str| Position::from_stored(s).unwrap();
        for (low, high) in [
            (Some("1"), Some("2")),
            (Some("h00000003"), Some("h1")),
            (None, Some("000000001")),
            (Some("zzzzzz"), None),
            (Some("a"), Some("a01")),
        ] {
            let (low, high) = (low.map(p), high.map(p));
            let keys = Position::spread(low.as_ref(), high.as_ref(), 50, 100).unwrap();
            assert!(keys.windows(2).all(|w| w[0] < w[1]));
            assert!(
                low.as_ref().is_none_or(|l| l < &keys[0]),
                "{low:?} {keys:?}"
            );
            assert!(
                high.as_ref().is_none_or(|h| &keys[49] < h),
                "{high:?} {keys:?}"
            );
            assert!(
                keys.iter()
                    .all(|k| Position::from_stored(k.as_str()).is_ok())
            );
        }
        assert!(Position::spread(Some(&p("b")), Some(&p("a")), 1, 100).is_none());
    }

    #[test]
    fn a_crowded_gap_is_respaced_around_it_only() {
        let p = |s: &str| Position::from_stored(s).unwrap();
        // A thousand moves into the gap after "h": the keys there are long, the others short.
        let crowded = |zeros: usize| p(&format!("h{}1", "0".repeat(zeros)));
        let keys = vec![
            p("5"),
            p("h"),
            crowded(198),
            crowded(197),
            crowded(100),
            p("i"),
            p("t"),
        ];
        let gap = 2;
        assert!(Position::between(Some(&keys[gap - 1]), Some(&keys[gap])).is_none());
        let respaced = Position::respace(&keys, gap, false, false).unwrap();
        let mut order = keys.clone();
        let end = respaced.start + respaced.keys.len();
        order.splice(respaced.start..end, respaced.keys.clone());
        order.insert(gap, respaced.moved.clone());
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        assert!(respaced.start >= 1 && end < keys.len(), "{respaced:?}");
        let new = respaced.keys.iter().chain([&respaced.moved]);
        assert!(
            new.into_iter()
                .all(|k| k.as_str().len() <= Position::SPREAD_CHARS)
        );
        assert!(Position::between(Some(&order[gap]), Some(&order[gap + 1])).is_some());
    }

    #[test]
    fn a_key_fits_between_any_two() {
        let p = |s: &str| Position::from_stored(s).unwrap();
        for (low, high) in [
            ("1", "2"),
            ("1", "11"),
            ("az", "b"),
            ("5", "z"),
            ("zz", "zzz1"),
        ] {
            let (low, high) = (p(low), p(high));
            let key = Position::between(Some(&low), Some(&high)).unwrap();
            assert!(low < key && key < high, "{low:?} < {key:?} < {high:?}");
        }
        let last = p("zzz");
        assert!(Position::between(Some(&last), None).unwrap() > last);
        let first = p("01");
        assert!(Position::between(None, Some(&first)).unwrap() < first);
        assert!(Position::between(Some(&p("b")), Some(&p("a"))).is_none());
        assert!(Position::between(Some(&p("b")), Some(&p("b"))).is_none());
    }
}
