//! Property tests: the domain types, the order of positions, the list cursor, the token parsers and request parsing
//! through the real router, each fed generated and arbitrary input.
//!
//! Few cases per property by default, so `cargo test --all-targets` stays quick;
//! `PROPTEST_CASES=N` runs N per property (`scripts/fuzz` runs many).

mod cursors;
mod domain;
mod order;
mod requests;
mod service;
mod tokens;

use proptest::test_runner::Config;

/// Cases per property when `PROPTEST_CASES` is not set.
const QUICK_CASES: u32 = 48;

/// proptest's default configuration (which reads the `PROPTEST_*` variables), with
/// [`QUICK_CASES`] unless `PROPTEST_CASES` says otherwise: `Config::with_cases` would ignore it.
pub fn config() -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = QUICK_CASES;
    }
    config
}

/// As [`config`], with a `1/share` of the cases: for properties whose every case does costly
/// work (a password hash).
pub fn config_share(share: u32) -> Config {
    let mut config = config();
    config.cases = (config.cases / share).max(1);
    config
}

#[test]
fn proptest_cases_follows_the_environment() {
    match std::env::var("PROPTEST_CASES") {
        Ok(cases) => assert_eq!(config().cases.to_string(), cases),
        Err(_) => assert_eq!(config().cases, QUICK_CASES),
    }
}
