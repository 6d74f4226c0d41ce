//! Validated domain types. Each is built only through `parse`/`TryFrom`, so a value that exists is
//! a value that passed its rules; handlers turn raw input into these first.

/// Character classes of the rules below, for the regular expressions the OpenAPI document
/// gives: spelt so that ECMA-262 (JSON Schema) and Python (schemathesis) read them alike (their
/// `\s` differ). Whitespace is what Rust's `trim` removes (Unicode `White_Space`).
macro_rules! whitespace {
    () => {
        r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
    };
}
/// Unicode `Cc`: what `char::is_control` finds.
macro_rules! control {
    () => {
        r"\x00-\x1f\x7f-\x9f"
    };
}

mod json;
mod list;
mod listing;
mod password;
mod plan;
mod search;
mod session;
mod timestamp;
mod todo;
mod user;

pub use list::{ListCounts, ListId, ListName, Membership, Role, TodoList};
pub use listing::{DueBound, DueFilter, DueRange, ListAsk, OPEN_END, Sort, TodoQuery, View};
pub use password::{LoginPassword, Password, legacy_pbkdf2_phc};
pub use plan::{
    Due, Notes, Position, Priority, Respaced, Title, Zone, parse_day, write_day, write_instant,
};
pub use search::{Search, words};
pub use session::{Revocations, Session, SessionKind};
pub use timestamp::Timestamp;
pub use todo::{Change, Description, Metadata, Plan, Todo, TodoPatch, TodoState, completed_at};
pub use user::{Email, Usage, User, Username};

/// `value`'s last `out.len()` digits into `out`, zeros in front: dates and times are written
/// this way rather than through `core::fmt` (a tenth of a list's CPU when they were not).
fn zero_padded(out: &mut [u8], value: u32) {
    let mut value = value;
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// One value of a closed set that clients name by its text: a state, a priority, a sort, a view.
trait Named: Copy + 'static {
    /// What a value is called in messages (`state`).
    const WHAT: &'static str;
    fn all() -> &'static [Self];
    fn name(self) -> &'static str;
}

/// The value named `raw`, or why not (naming every choice).
fn by_name<T: Named>(raw: &str) -> Result<T, Invalid> {
    T::all()
        .iter()
        .copied()
        .find(|v| v.name() == raw)
        .ok_or_else(|| {
            let names: Vec<&str> = T::all().iter().map(|v| v.name()).collect();
            Invalid(format!(
                "{} must be one of {} (got {raw:?})",
                T::WHAT,
                names.join(", ")
            ))
        })
}

/// A string schema for the OpenAPI document, as a parser here checks it.
fn text_schema(
    description: &str,
    pattern: &str,
    max_chars: Option<usize>,
) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some(description))
        .min_length(Some(1))
        .max_length(max_chars)
        .pattern(Some(pattern))
        .build()
}

/// Why a value was refused, in words meant for the person who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

#[cfg(test)]
mod patterns {
    //! The regular expressions of the OpenAPI document agree with the parsers they describe.

    use super::{Description, Email, Username};

    fn agree(pattern: &str, parse: impl Fn(&str) -> bool, samples: &[String]) {
        let regex = regex_lite::Regex::new(pattern).unwrap();
        for sample in samples {
            assert_eq!(
                regex.is_match(sample),
                parse(sample),
                "{pattern} on {sample:?}"
            );
        }
    }

    /// Strings made of the characters a rule turns on, at the lengths where it changes its mind.
    fn samples(pieces: &[&str], lengths: &[usize]) -> Vec<String> {
        let mut out = Vec::new();
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    out.push(format!("{a}{b}{c}"));
                    for &n in lengths {
                        out.push(format!("{a}{}{c}", b.repeat(n)));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn the_description_pattern_is_the_description_parser() {
        let pieces = [
            "", "x", " ", "\t", "\n", "\u{0}", "\u{1b}", "\u{7f}", "\u{85}", "\u{a0}", "\u{2028}",
            "\u{3000}", "\u{200b}", "é", "\u{1c}",
        ];
        let samples = samples(&pieces, &[499, 500, 998, 999, 1000, 1001]);
        agree(
            Description::PATTERN,
            |s| Description::parse(s).is_ok(),
            &samples,
        );
    }

    #[test]
    fn the_title_and_notes_patterns_are_their_parsers() {
        let pieces = [
            "", "x", " ", "\t", "\n", "\r", "\u{0}", "\u{1b}", "\u{7f}", "\u{85}", "\u{a0}",
            "\u{2028}", "\u{3000}", "é", "\u{11}", "\u{82}",
        ];
        agree(
            super::Title::PATTERN,
            |s| super::Title::parse(s).is_ok(),
            &samples(&pieces, &[198, 199, 200, 201]),
        );
        agree(
            super::Notes::PATTERN,
            |s| super::Notes::parse(s).is_ok(),
            &samples(&pieces, &[3]),
        );
    }

    #[test]
    fn the_username_patterns_are_the_username_parsers() {
        let pieces = [
            "", "a", "Z", "0", ".", "_", "-", "@", "+", ":", " ", "é", "#", "/",
        ];
        let samples = samples(&pieces, &[31, 62, 63, 64]);
        agree(Username::PATTERN, |s| Username::parse(s).is_ok(), &samples);
        agree(
            Username::ACCOUNT_PATTERN,
            |s| Username::parse_account(s).is_ok(),
            &samples,
        );
    }

    #[test]
    fn the_email_pattern_is_the_email_parser() {
        let pieces = [
            "", "a", "@", ".", "a@b.c", " ", "\t", "\u{0}", "\u{a0}", "é", "\u{85}",
        ];
        let samples = samples(&pieces, &[125, 250, 251, 252, 253]);
        let regex = regex_lite::Regex::new(Email::PATTERN).unwrap();
        let within = |s: &str| regex.is_match(s) && s.chars().count() <= Email::MAX_CHARS;
        for sample in &samples {
            assert_eq!(within(sample), Email::parse(sample).is_ok(), "{sample:?}");
        }
    }
}
