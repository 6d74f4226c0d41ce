//! Durations as people write them (`90s`, `15m`, `1h`, `30d`): one parser for the flags and
//! environment (clap's `value_parser`) and for a stage's `token_ttl` and `session_ttl`, which are
//! read once, as the file is loaded.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{Error as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::Stage;

/// A duration such as `90s`, `15m`, `1h`, `30d`: at least a second, at most a year.
pub fn parse_ttl(raw: &str) -> Result<Duration, String> {
    let ttl = humantime::parse_duration(raw).map_err(|e| format!("{e} (try 30s, 15m, 1h, 7d)"))?;
    if ttl < Duration::from_secs(1) || ttl > Duration::from_secs(366 * 24 * 3600) {
        return Err("must be between 1s and 1 year".into());
    }
    Ok(ttl)
}

/// A TTL as it was written (what a deployment's environment is given again) and the duration it
/// stands for ([`parse_ttl`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ttl {
    text: String,
    duration: Duration,
}

impl Ttl {
    pub fn parse(text: &str) -> Result<Self, String> {
        Ok(Self {
            duration: parse_ttl(text)?,
            text: text.to_owned(),
        })
    }

    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// The text it was read from, e.g. `15m`.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for Ttl {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::parse(text)
    }
}

impl fmt::Display for Ttl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

thread_local! {
    /// The stage whose section is being read, for the errors of its TTLs: serde gives a field no
    /// way to know whose it is.
    static READING_STAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// `[stages.<name>]` sections, each read with its name at hand, so that a TTL that does not parse
/// is reported as `stage <name>: token_ttl: ...` where the file says it.
pub(super) fn stages<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, Stage>, D::Error> {
    struct Stages;

    impl<'de> Visitor<'de> for Stages {
        type Value = BTreeMap<String, Stage>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a table of stages")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut stages = BTreeMap::new();
            while let Some(name) = map.next_key::<String>()? {
                READING_STAGE.set(Some(name.clone()));
                let stage = map.next_value::<Stage>();
                READING_STAGE.set(None);
                stages.insert(name, stage?);
            }
            Ok(stages)
        }
    }

    deserializer.deserialize_map(Stages)
}

/// A stage's `token_ttl`.
pub(super) fn token_ttl<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Ttl>, D::Error> {
    stage_ttl(d, "token_ttl")
}

/// A stage's `session_ttl`.
pub(super) fn session_ttl<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Ttl>, D::Error> {
    stage_ttl(d, "session_ttl")
}

fn stage_ttl<'de, D: Deserializer<'de>>(d: D, key: &str) -> Result<Option<Ttl>, D::Error> {
    let text = String::deserialize(d)?;
    Ttl::parse(&text).map(Some).map_err(|e| {
        D::Error::custom(READING_STAGE.with_borrow(|stage| match stage {
            Some(name) => format!("stage {name}: {key}: {e}"),
            None => format!("{key}: {e}"),
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_are_a_second_to_a_year() {
        assert_eq!(parse_ttl("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_ttl("1s"), Ok(Duration::from_secs(1)));
        assert!(
            parse_ttl("500ms")
                .unwrap_err()
                .contains("between 1s and 1 year")
        );
        assert!(
            parse_ttl("400d")
                .unwrap_err()
                .contains("between 1s and 1 year")
        );
        assert!(
            parse_ttl("soon")
                .unwrap_err()
                .contains("(try 30s, 15m, 1h, 7d)")
        );
        let ttl: Ttl = "7d".parse().unwrap();
        assert_eq!(
            (ttl.as_str(), ttl.duration()),
            ("7d", Duration::from_secs(7 * 24 * 3600))
        );
    }
}
