//! The validated domain types: every parser takes any text without panicking, accepts exactly
//! what its rules allow, and what it accepts reads back the same through text and serde.

use std::collections::BTreeMap;

use checkoff::domain::{
    Description, LoginPassword, Metadata, Password, Timestamp, TodoState, Username,
};
use proptest::collection::{hash_map, vec};
use proptest::prelude::*;
use serde_json::Value;
use serde_json::value::RawValue;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::config;

/// Text of every kind: arbitrary Unicode, control characters and white space among letters,
/// and lengths around the bounds of the types.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9 ._@+:#/-]{0,70}",
        "[ \\t\\n\\r\\x00\\x1b\\x7fa-zé\\u{85}\\u{2028}\\u{200b}]{0,20}",
        "[a-zé ]{990,1010}",
        "[a-zA-Z0-9]{1020,1030}",
    ]
}

/// `text` with `c` put in at a char boundary strictly inside it (never at either end).
fn insert_inside(text: &str, at: prop::sample::Index, c: char) -> String {
    let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).skip(1).collect();
    let at = boundaries[at.index(boundaries.len())];
    format!("{}{c}{}", &text[..at], &text[at..])
}

// ---- Description ----

fn description_rules_hold(raw: &str) -> bool {
    let text = raw.trim();
    !text.is_empty()
        && text.chars().count() <= Description::MAX_CHARS
        && !text.chars().any(char::is_control)
}

/// Descriptions that keep the rules: no control characters, no white space at either end.
fn valid_description() -> impl Strategy<Value = String> {
    prop_oneof![
        "[^\\p{Cc}\\s][^\\p{Cc}]{0,60}[^\\p{Cc}\\s]",
        "[^\\p{Cc}\\s]{2,10}( [^\\p{Cc}\\s]{1,10}){0,5}",
        "[^\\p{Cc}\\s]{990,1000}",
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_description_is_accepted_exactly_when_it_keeps_the_rules(raw in any_text()) {
        let parsed = Description::parse(&raw);
        prop_assert_eq!(parsed.is_ok(), description_rules_hold(&raw), "{:?} -> {:?}", raw, parsed);
        if let Ok(description) = parsed {
            prop_assert_eq!(description.as_str(), raw.trim());
            prop_assert!(!description.as_str().chars().any(char::is_control));
            prop_assert_eq!(Description::parse(description.as_str()), Ok(description.clone()));
            let json = serde_json::to_string(&description).unwrap();
            prop_assert_eq!(serde_json::from_str::<Description>(&json).unwrap(), description);
        }
    }

    #[test]
    fn a_valid_description_is_accepted_and_one_control_character_spoils_it(
        text in valid_description(),
        control in "\\p{Cc}",
        at in any::<prop::sample::Index>(),
    ) {
        let description = Description::parse(&text);
        prop_assert_eq!(description.as_ref().map(Description::as_str), Ok(text.as_str()));
        let spoiled = insert_inside(&text, at, control.chars().next().unwrap());
        prop_assert!(Description::parse(&spoiled).is_err(), "{:?}", spoiled);
        // What a store gives back is read even so: it was accepted once.
        prop_assert!(Description::from_stored(&spoiled).is_ok() || spoiled.chars().count() > Description::MAX_CHARS);
    }

    #[test]
    fn descriptions_longer_than_the_bound_are_refused(text in "[^\\p{Cc}\\s]{1001,1100}") {
        prop_assert!(Description::parse(&text).is_err());
    }
}

// ---- Username ----

fn username_allows(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+' | ':')
}

fn username_rules_hold(raw: &str) -> bool {
    raw.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && raw.len() <= Username::MAX_LEN
        && raw.chars().all(username_allows)
}

const VALID_USERNAME: &str = "[a-zA-Z0-9][a-zA-Z0-9._@+:-]{0,63}";

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_username_is_accepted_exactly_when_it_keeps_the_rules(raw in any_text()) {
        let parsed = Username::parse(&raw);
        prop_assert_eq!(parsed.is_ok(), username_rules_hold(&raw), "{:?} -> {:?}", raw, parsed);
        prop_assert_eq!(
            Username::parse_account(&raw).is_ok(),
            parsed.is_ok() && !raw.contains(':'),
            "an account name never has the ':' of outside callers"
        );
        if let Ok(name) = parsed {
            prop_assert_eq!(name.as_str(), raw.as_str());
            prop_assert_eq!(Username::parse(&name.to_string()), Ok(name.clone()));
            let json = serde_json::to_string(&name).unwrap();
            prop_assert_eq!(serde_json::from_str::<Username>(&json).unwrap(), name);
        }
    }

    #[test]
    fn a_valid_username_is_accepted_and_one_foreign_character_spoils_it(
        name in VALID_USERNAME,
        foreign in any::<char>().prop_filter("outside the alphabet", |c| !username_allows(*c)),
        at in 0usize..65,
    ) {
        prop_assert!(Username::parse(&name).is_ok(), "{:?}", name);
        let at = at.min(name.len());
        let spoiled = format!("{}{foreign}{}", &name[..at], &name[at..]);
        prop_assert!(Username::parse(&spoiled).is_err(), "{:?}", spoiled);
    }

    #[test]
    fn outside_callers_always_get_a_valid_name_no_account_can_take(
        kind in prop_oneof![Just("cognito"), Just("iam"), Just("custom"), Just("oidc")],
        principal in any_text(),
    ) {
        let name = Username::external(kind, &principal);
        prop_assert_eq!(Username::parse(name.as_str()), Ok(name.clone()));
        let prefix = format!("{kind}:");
        prop_assert!(name.as_str().starts_with(&prefix));
        prop_assert!(Username::parse_account(name.as_str()).is_err());
    }
}

// ---- Passwords ----

fn policy_holds(raw: &str) -> bool {
    (Password::MIN_CHARS..=1024).contains(&raw.chars().count())
        && raw.chars().any(|c| c.is_ascii_uppercase())
        && raw.chars().any(|c| c.is_ascii_lowercase())
        && raw.chars().any(|c| c.is_ascii_digit())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_password_meets_the_policy_exactly_when_it_keeps_its_rules(raw in any_text()) {
        let parsed = Password::parse(raw.clone());
        prop_assert_eq!(parsed.is_ok(), policy_holds(&raw), "{:?}", raw);
        if let Ok(password) = parsed {
            prop_assert_eq!(password.expose(), raw.as_str());
            let debug = format!("{password:?}");
            prop_assert!(!debug.contains(password.expose()));
        }
        let login = LoginPassword::parse(raw.clone());
        prop_assert_eq!(login.is_ok(), !raw.is_empty() && raw.chars().count() <= 1024);
        if let Ok(login) = login {
            prop_assert_eq!(login.expose(), raw.as_str());
        }
    }

    #[test]
    fn a_policy_password_loses_its_standing_with_each_rule_broken(
        password in "[A-Z][a-z][0-9][a-zA-Z0-9!?é ]{7,40}",
    ) {
        prop_assert!(Password::parse(password.clone()).is_ok(), "{:?}", password);
        let without = |gone: fn(char) -> bool| password.chars().filter(|c| !gone(*c)).collect::<String>();
        prop_assert!(Password::parse(without(|c| c.is_ascii_digit())).is_err());
        prop_assert!(Password::parse(without(|c| c.is_ascii_uppercase())).is_err());
        prop_assert!(Password::parse(without(|c| c.is_ascii_lowercase())).is_err());
        let short: String = password.chars().take(Password::MIN_CHARS - 1).collect();
        prop_assert!(Password::parse(short).is_err());
    }
}

// ---- Metadata ----

/// JSON values of every kind, nested past the depth bound, with strings full of the brackets,
/// quotes and backslashes that a text scan must see past. Numbers are exact in binary, so a
/// value reads back equal.
fn json_value() -> impl Strategy<Value = Value> {
    let tricky = "[\\[\\]{}\"\\\\a/ é\\x00]{0,8}";
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<i32>().prop_map(|n| Value::from(f64::from(n) / 4.0)),
        tricky.prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(12, 96, 4, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            hash_map(tricky, inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// A JSON object that is likely within the bounds, or just past one.
fn json_object() -> impl Strategy<Value = Value> {
    prop_oneof![
        json_value().prop_map(|v| serde_json::json!({ "k": v })),
        hash_map("[a-z]{1,3}", json_value(), 0..5)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        (16_370usize..16_400).prop_map(|n| serde_json::json!({ "k": "x".repeat(n) })),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn metadata_is_accepted_exactly_when_it_keeps_the_rules(value in prop_oneof![json_value(), json_object()]) {
        let keeps = value.is_object()
            && depth(&value) <= Metadata::MAX_DEPTH
            && value.to_string().len() <= Metadata::MAX_BYTES;
        let parsed = Metadata::parse(value.clone());
        prop_assert_eq!(parsed.is_ok(), keeps, "{} -> {:?}", value, parsed);
        if let Ok(metadata) = parsed {
            prop_assert_eq!(serde_json::from_str::<Value>(metadata.as_json()).unwrap(), value.clone());
            prop_assert_eq!(Metadata::from_json(metadata.as_json()), Ok(metadata.clone()));
            let json = serde_json::to_string(&metadata).unwrap();
            prop_assert_eq!(serde_json::from_str::<Metadata>(&json).unwrap(), metadata);
        }
    }

    #[test]
    fn stored_metadata_text_is_judged_as_its_value_is(value in prop_oneof![json_value(), json_object()]) {
        let text = value.to_string();
        prop_assert_eq!(
            Metadata::from_json(&text).is_ok(),
            Metadata::parse(value).is_ok(),
            "{}", text
        );
    }

    #[test]
    fn stored_metadata_text_is_refused_unless_it_is_a_json_object(
        text in prop_oneof![
            any_text(),
            (json_object(), any::<prop::sample::Index>(), any::<char>())
                .prop_map(|(v, at, c)| insert_inside(&format!("{v} "), at, c)),
        ],
    ) {
        if Metadata::from_json(&text).is_ok() {
            // An object by JSON's grammar, which sets numbers no range (`1e400` is JSON, though
            // not an f64): its values are read raw.
            let object = serde_json::from_str::<BTreeMap<String, Box<RawValue>>>(&text);
            prop_assert!(object.is_ok(), "accepted {:?}", text);
            prop_assert!(text.len() <= Metadata::MAX_BYTES);
        }
    }
}

// ---- TodoState ----

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_state_is_one_of_the_three_names_and_nothing_else(
        raw in prop_oneof![any_text(), "(un)?(started|completed|Started|done)\\s?"],
    ) {
        let parsed = raw.parse::<TodoState>();
        let named = ["unstarted", "started", "completed"].contains(&raw.as_str());
        prop_assert_eq!(parsed.is_ok(), named, "{:?}", raw);
        let from_json = serde_json::from_value::<TodoState>(Value::String(raw.clone()));
        prop_assert_eq!(from_json.ok(), parsed.clone().ok());
        if let Ok(state) = parsed {
            prop_assert_eq!(state.to_string(), raw.clone());
            prop_assert_eq!(serde_json::to_value(state).unwrap(), Value::String(raw));
        }
    }
}

// ---- Timestamp ----

/// RFC 3339 text of every shape: any offset, fraction or none, out-of-range fields, and
/// instants that leave the years 0000–9999 once moved to UTC.
fn rfc3339() -> impl Strategy<Value = String> {
    let offset = prop_oneof![
        3 => Just("Z".to_owned()),
        1 => Just("z".to_owned()),
        3 => (prop_oneof![Just('+'), Just('-')], 0u8..=24, 0u8..=60)
            .prop_map(|(sign, h, m)| format!("{sign}{h:02}:{m:02}")),
    ];
    let fraction = prop_oneof![
        3 => Just(3usize),
        1 => 0usize..=10,
    ]
    .prop_flat_map(|n| proptest::string::string_regex(&format!("[0-9]{{{n}}}")).unwrap())
    .prop_map(|digits| {
        if digits.is_empty() {
            digits
        } else {
            format!(".{digits}")
        }
    });
    let year = prop_oneof![0u16..=9999, 0u16..=1, 9998u16..=9999];
    let any_day = (year, 0u8..=13, 0u8..=32, 0u8..=25, 0u8..=60, 0u8..=61);
    // The first and the last hours the form can write, where an offset moves the instant out.
    let edge_day = prop_oneof![
        (
            Just(0u16),
            Just(1u8),
            Just(1u8),
            0u8..=2,
            0u8..=59,
            0u8..=59
        ),
        (
            Just(9999u16),
            Just(12u8),
            Just(31u8),
            21u8..=23,
            0u8..=59,
            0u8..=59
        ),
    ];
    let day = prop_oneof![3 => any_day, 1 => edge_day];
    (day, fraction, offset).prop_map(|((y, mo, d, h, mi, s), fraction, offset)| {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{fraction}{offset}")
    })
}

/// What `raw` means as this type writes it, by the `time` crate's own RFC 3339 parser: the
/// instant in UTC, cut to the millisecond, if it lies in the years 0000–9999.
fn expected_text(raw: &str) -> Option<String> {
    let at = OffsetDateTime::parse(raw, &Rfc3339)
        .ok()?
        .checked_to_offset(UtcOffset::UTC)?;
    (0..=9999).contains(&at.year()).then(|| {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second(),
            at.millisecond()
        )
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_timestamp_reads_what_rfc_3339_says_and_writes_it_back(raw in prop_oneof![rfc3339(), any_text()]) {
        let parsed = Timestamp::parse(&raw);
        prop_assert_eq!(parsed.as_ref().ok().map(ToString::to_string), expected_text(&raw), "{:?}", raw);
        if let Ok(at) = parsed {
            let text = at.to_string();
            prop_assert_eq!(Timestamp::parse(&text), Ok(at));
            prop_assert_eq!(serde_json::to_value(at).unwrap(), Value::String(text.clone()));
            prop_assert_eq!(serde_json::from_value::<Timestamp>(Value::String(text)).unwrap(), at);
        }
    }

    #[test]
    fn unix_seconds_within_the_written_years_read_back(seconds in prop_oneof![any::<u64>(), 0u64..=253_402_300_799]) {
        let at = Timestamp::from_unix_seconds(seconds);
        prop_assert_eq!(at.is_ok(), seconds <= 253_402_300_799, "{}", seconds);
        if let Ok(at) = at {
            prop_assert_eq!(at.unix_seconds(), seconds);
            prop_assert_eq!(Timestamp::parse(&at.to_string()), Ok(at));
        }
    }

    #[test]
    fn a_later_time_is_never_earlier(raw in rfc3339(), seconds in any::<u64>()) {
        if let Ok(at) = Timestamp::parse(&raw) {
            let later = at.plus(std::time::Duration::from_secs(seconds));
            prop_assert!(later >= at, "{} + {}s = {}", at, seconds, later);
            prop_assert_eq!(Timestamp::parse(&later.to_string()), Ok(later));
        }
    }
}
