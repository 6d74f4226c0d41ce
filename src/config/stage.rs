//! The stages of `checkoff.toml`: each deployment's table, authorizer and settings, checked
//! as the file is read.

use std::collections::BTreeMap;
use std::path::Path;

use clap::ValueEnum;
use serde::Deserialize;

use super::{DEFAULT_CONFIG, OidcSettings, Signup, Ttl, parse_size};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// An SQLite file in the data dir.
    Sqlite,
    /// A DynamoDB table (--table).
    Dynamodb,
}

/// Who decides who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthorizerKind {
    /// checkoff checks its own tokens inside the API function (one function, no extra call).
    Builtin,
    /// checkoff's token check deployed as an API Gateway Lambda authorizer.
    Lambda,
    /// An API Gateway Cognito user pool authorizer.
    Cognito,
    /// API Gateway's AWS_IAM authorization (SigV4-signed requests).
    Iam,
    /// An existing Lambda authorizer of your own.
    Custom,
}

impl AuthorizerKind {
    /// Whether API Gateway decides, so the API function takes the caller from the request context.
    pub fn is_gateway(self) -> bool {
        self != Self::Builtin
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Builtin => "builtin",
            Self::Lambda => "lambda",
            Self::Cognito => "cognito",
            Self::Iam => "iam",
            Self::Custom => "custom",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    #[serde(rename = "x86_64")]
    X86_64,
    Arm64,
}

impl Architecture {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Arm64 => "arm64",
        }
    }
}

/// A stage's authorizer, as `[stages.<name>.authorizer]` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageAuthorizer {
    pub kind: AuthorizerKind,
    /// `cognito`: the user pool's ARN. Without it the stack makes the pool, its hosted sign-in
    /// domain and an app client for the web app.
    pub user_pool_arn: Option<String>,
    /// `cognito` with a pool the stack makes: where the hosted sign-in page may send people
    /// back to, besides the stage's own web app (e.g. `http://localhost:8000/` for working on
    /// the web app, or the CLI's `http://localhost:8976/callback`).
    #[serde(default)]
    pub callback_urls: Vec<String>,
    /// `cognito` with a pool the stack makes: the hosted domain's prefix
    /// (`<prefix>.auth.<region>.amazoncognito.com`); default `checkoff-<stage>-<account id>`.
    pub domain_prefix: Option<String>,
    /// `custom`: the ARN of the existing authorizer function.
    pub function_arn: Option<String>,
    /// `cognito`: the claim that names the caller (default `sub`), e.g. `cognito:username`.
    pub claim: Option<String>,
    /// `builtin` and `lambda`: also accept RS256/ES256 tokens of this OIDC issuer (e.g. a Cognito
    /// user pool's `https://cognito-idp.<region>.amazonaws.com/<pool id>`).
    pub oidc_issuer: Option<String>,
    /// The app client id the issuer's tokens must be for (`aud`, or Cognito's `client_id`).
    pub oidc_audience: Option<String>,
    /// The claim that names an OIDC caller (default `sub`).
    pub oidc_claim: Option<String>,
    /// The issuer's JWKS, when it has no discovery document.
    pub oidc_jwks_url: Option<String>,
}

impl StageAuthorizer {
    /// Whether the stack makes the user pool: `cognito` without a pool of its own.
    pub fn makes_pool(&self) -> bool {
        self.kind == AuthorizerKind::Cognito && self.user_pool_arn.is_none()
    }
}

impl Default for StageAuthorizer {
    fn default() -> Self {
        Self {
            kind: AuthorizerKind::Builtin,
            user_pool_arn: None,
            callback_urls: Vec::new(),
            domain_prefix: None,
            function_arn: None,
            claim: None,
            oidc_issuer: None,
            oidc_audience: None,
            oidc_claim: None,
            oidc_jwks_url: None,
        }
    }
}

/// One `[stages.<name>]` section: where a deployment keeps its data and how it runs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Stage {
    /// The DynamoDB table; `<table>-<stage>` when not given.
    pub table: Option<String>,
    /// Lambda memory in MB.
    pub memory_mb: u32,
    /// Lambda timeout in seconds.
    pub timeout_s: u32,
    pub architecture: Architecture,
    pub log_retention_days: u32,
    /// API Gateway stage throttling: steady requests per second and burst.
    pub throttle_rate: f64,
    pub throttle_burst: u32,
    /// Origins allowed to call the API from a browser.
    pub cors_origins: Vec<String>,
    /// How long a token from /login stays valid, e.g. `15m`.
    #[serde(deserialize_with = "super::duration::token_ttl")]
    pub token_ttl: Option<Ttl>,
    /// How long a login can be renewed at /refresh, e.g. `30d`.
    #[serde(deserialize_with = "super::duration::session_ttl")]
    pub session_ttl: Option<Ttl>,
    /// Whether anyone may sign up (`open`) or not (`closed`, the default under Lambda).
    pub signup: Option<Signup>,
    /// The SSM SecureString parameter of the JWT secret; `/checkoff/<stage>/jwt-secret` when not given.
    pub jwt_secret_param: Option<String>,
    /// Per-account limits: todos held, bytes held (e.g. `32MiB`), writes per second.
    pub quota_todos: Option<u64>,
    pub quota_bytes: Option<String>,
    pub write_rate: Option<u32>,
    pub authorizer: StageAuthorizer,
}

impl Default for Stage {
    fn default() -> Self {
        Self {
            table: None,
            memory_mb: 128,
            timeout_s: 10,
            architecture: Architecture::Arm64,
            log_retention_days: 30,
            throttle_rate: 100.0,
            throttle_burst: 200,
            cors_origins: Vec::new(),
            token_ttl: None,
            session_ttl: None,
            signup: None,
            jwt_secret_param: None,
            quota_todos: None,
            quota_bytes: None,
            write_rate: None,
            authorizer: StageAuthorizer::default(),
        }
    }
}

/// A stage name: letters, digits and `-`, as AWS resource names allow, short enough that the
/// functions' names (`checkoff-<stage>-authorizer`) fit Lambda's 64 characters.
pub fn check_stage_name(name: &str) -> Result<(), String> {
    if !name.is_empty()
        && name.len() <= 40
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        Ok(())
    } else {
        Err(format!(
            "stage {name:?} may contain only letters, digits and - (1 to 40 of them)"
        ))
    }
}

/// Where checkoff fetches an OIDC issuer's keys from: https, or plain http on this machine (for
/// tests and a local issuer), since keys fetched in the clear could be anyone's.
///
/// Judged on the URL as parsed, the way the HTTP client will read it, not on how its text
/// begins: `http://localhost:1@remote.example/` is remote.example with a user name. Anything a
/// reader could take two ways (user info, a backslash, a fragment, white space) is refused.
pub fn check_oidc_url(url: &str, what: &str) -> Result<(), String> {
    let refused = |why: &str| {
        Err(format!(
            "{what} {url:?} must be an https URL (http only for 127.0.0.1, [::1] or localhost){why}"
        ))
    };
    // The parser would forgive these (a missing `//`, tabs, `\` for `/`); a URL that needs
    // forgiving is not one to fetch keys from.
    let has_slashes = ["https://", "http://"].iter().any(|prefix| {
        url.get(..prefix.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
    });
    if !has_slashes
        || url.contains('\\')
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return refused("");
    }
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return refused("");
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return refused(", without a user name or password");
    }
    if parsed.fragment().is_some() {
        return refused(", without a #fragment");
    }
    // The parsed host, written the one way the parser writes it (lower case, IPv4 as four
    // decimals, IPv6 compressed in brackets): `127.1` and `0x7f.0.0.1` are 127.0.0.1 too.
    let on_this_machine = match parsed.host_str() {
        Some(host) => matches!(host, "localhost" | "127.0.0.1" | "[::1]"),
        None => return refused(""),
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if on_this_machine => Ok(()),
        _ => refused(""),
    }
}

/// An OIDC issuer: a URL keys may be fetched from (`check_oidc_url`) and, as OpenID Connect
/// Discovery requires, without a query (its discovery document is found by appending a path).
pub(super) fn check_oidc_issuer(issuer: &str) -> Result<(), String> {
    check_oidc_url(issuer, "the OIDC issuer")?;
    if issuer.contains('?') {
        return Err(format!("the OIDC issuer {issuer:?} must not have a ?query"));
    }
    Ok(())
}

/// A Cognito hosted domain prefix: lower-case letters, digits and hyphens, 1 to 63, not
/// starting or ending with a hyphen, and without the words Cognito reserves.
fn check_domain_prefix(prefix: &str) -> Result<(), String> {
    let shaped = (1..=63).contains(&prefix.len())
        && prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !prefix.starts_with('-')
        && !prefix.ends_with('-');
    let reserved = ["aws", "amazon", "cognito"]
        .iter()
        .any(|word| prefix.contains(word));
    if shaped && !reserved {
        Ok(())
    } else {
        Err(format!(
            "domain_prefix {prefix:?} must be 1 to 63 lower-case letters, digits and - (not at either end), without aws, amazon or cognito"
        ))
    }
}

/// An origin a browser sends: `http(s)://host[:port]`, nothing after it.
pub fn check_origin(origin: &str) -> Result<(), String> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    match rest {
        Some(host)
            if !host.is_empty()
                && host.chars().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')
                }) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "CORS origin {origin:?} must be an origin such as https://app.example.com (no path, no *)"
        )),
    }
}

impl Stage {
    /// What the file says must also make sense, so a bad stage fails here and not in AWS.
    pub(super) fn check(&self, name: &str) -> Result<(), String> {
        check_stage_name(name)?;
        let fail = |why: &str| Err(format!("stage {name}: {why}"));
        let table_name_ok = |t: &str| {
            (3..=255).contains(&t.len())
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        };
        if self.table.as_deref().is_some_and(|t| !table_name_ok(t)) {
            return fail("table must be 3 to 255 letters, digits, _ - or .");
        }
        if !(128..=10_240).contains(&self.memory_mb) {
            return fail("memory_mb must be from 128 to 10240");
        }
        if !(1..=900).contains(&self.timeout_s) {
            return fail("timeout_s must be from 1 to 900");
        }
        const RETENTION: [u32; 22] = [
            1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
            2922, 3288, 3653,
        ];
        if !RETENTION.contains(&self.log_retention_days) {
            return fail(
                "log_retention_days must be one CloudWatch offers (1, 3, 5, 7, 14, 30, 60, 90, 365, ...)",
            );
        }
        if !(self.throttle_rate > 0.0 && self.throttle_burst > 0) {
            return fail("throttle_rate and throttle_burst must be above 0");
        }
        if let Some(param) = &self.jwt_secret_param
            && !param.starts_with('/')
        {
            return fail("jwt_secret_param must be a parameter path starting with /");
        }
        for origin in &self.cors_origins {
            check_origin(origin).map_err(|e| format!("stage {name}: {e}"))?;
        }
        let auth = &self.authorizer;
        OidcSettings::from_parts(
            auth.kind,
            auth.oidc_issuer.clone(),
            auth.oidc_audience.clone(),
            auth.oidc_claim.clone(),
            auth.oidc_jwks_url.clone(),
        )
        .map_err(|e| format!("stage {name}: {e}"))?;
        if !auth.makes_pool() && (!auth.callback_urls.is_empty() || auth.domain_prefix.is_some()) {
            return fail(
                "callback_urls and domain_prefix are for a cognito authorizer whose pool the stack makes (no user_pool_arn)",
            );
        }
        // https, or http on this machine only: what Cognito itself accepts.
        for url in &auth.callback_urls {
            check_oidc_url(url, "the callback URL").map_err(|e| format!("stage {name}: {e}"))?;
        }
        if let Some(prefix) = &auth.domain_prefix {
            check_domain_prefix(prefix).map_err(|e| format!("stage {name}: {e}"))?;
        }
        match auth.kind {
            AuthorizerKind::Custom if auth.function_arn.is_none() => {
                fail("the custom authorizer needs function_arn")
            }
            _ => Ok(()),
        }
    }
}

/// `checkoff.toml`: `[stages.<name>]` sections.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default, deserialize_with = "super::duration::stages")]
    pub stages: BTreeMap<String, Stage>,
}

impl ConfigFile {
    /// The file at `path`, or, when no path is given, `checkoff.toml` if there is one.
    pub fn load(path: Option<&Path>) -> Result<Self, String> {
        let (path, required) = match path {
            Some(path) => (path, true),
            None => (Path::new(DEFAULT_CONFIG), false),
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self::default());
            }
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let file: Self = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        for (name, stage) in &file.stages {
            stage
                .check(name)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(file)
    }

    /// The section of `name`. With no file at all every stage has the defaults; in a file, a
    /// stage it does not name is a mistake worth stopping for.
    pub fn stage(&self, name: &str) -> Result<Stage, String> {
        check_stage_name(name)?;
        if self.stages.is_empty() {
            return Ok(Stage::default());
        }
        let stage = self.stages.get(name).cloned().ok_or_else(|| {
            let known: Vec<&str> = self.stages.keys().map(String::as_str).collect();
            format!(
                "no stage {name:?} in the config (it has: {})",
                known.join(", ")
            )
        })?;
        if let Some(size) = &stage.quota_bytes {
            parse_size(size).map_err(|e| format!("stage {name}: quota_bytes: {e}"))?;
        }
        Ok(stage)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_sample_config_parses_and_its_stages_check() {
        let file = ConfigFile::load(Some(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/checkoff.toml"
        ))))
        .unwrap();
        assert!(file.stage("dev").is_ok());
        assert!(file.stage("prod").is_ok());
        assert!(file.stage("nope").unwrap_err().contains("dev, prod"));
    }

    #[test]
    fn a_stage_with_a_bad_value_is_refused_with_the_reason() {
        let bad = |text: &str| {
            let file: ConfigFile = toml::from_str(text).unwrap();
            let (name, stage) = file.stages.iter().next().unwrap();
            stage.check(name).unwrap_err()
        };
        assert!(bad("[stages.x]\nmemory_mb = 64").contains("memory_mb"));
        assert!(bad("[stages.x]\nlog_retention_days = 8").contains("log_retention_days"));
        let pool = "[stages.x.authorizer]\nkind = \"cognito\"\nuser_pool_arn = \"arn:aws:cognito-idp:eu-west-1:1:userpool/p\"";
        assert!(
            bad(&format!("{pool}\ncallback_urls = [\"https://a.com/\"]"))
                .contains("no user_pool_arn")
        );
        let made = "[stages.x.authorizer]\nkind = \"cognito\"";
        assert!(bad(&format!("{made}\ncallback_urls = [\"http://a.com/\"]")).contains("https URL"));
        assert!(bad(&format!("{made}\ndomain_prefix = \"my-cognito\"")).contains("domain_prefix"));
        assert!(bad(&format!("{made}\ndomain_prefix = \"Tasks\"")).contains("domain_prefix"));
        assert!(bad("[stages.x]\ncors_origins = [\"*\"]").contains("no path, no *"));
        assert!(bad("[stages.x]\ncors_origins = [\"https://a.com/x\"]").contains("no path"));
        assert!(toml::from_str::<ConfigFile>("[stages.x]\nmemroy_mb = 1").is_err());
    }

    #[test]
    fn a_cognito_stage_without_a_pool_has_the_stack_make_one() {
        let file: ConfigFile = toml::from_str(
            "[stages.x.authorizer]\nkind = \"cognito\"\ncallback_urls = [\"http://localhost:8000/\"]\ndomain_prefix = \"tasks-x\"",
        )
        .unwrap();
        let stage = file.stage("x").unwrap();
        stage.check("x").unwrap();
        assert_eq!(stage.authorizer.callback_urls, ["http://localhost:8000/"]);
        assert_eq!(stage.authorizer.domain_prefix.as_deref(), Some("tasks-x"));
    }

    #[test]
    fn a_stage_ttl_is_read_with_the_file_and_a_bad_one_names_its_stage_and_key() {
        let file: ConfigFile =
            toml::from_str("[stages.x]\ntoken_ttl = \"15m\"\nsession_ttl = \"7d\"").unwrap();
        let stage = &file.stages["x"];
        assert_eq!(
            stage.token_ttl.as_ref().map(Ttl::duration),
            Some(Duration::from_secs(15 * 60))
        );
        assert_eq!(stage.session_ttl.as_ref().map(Ttl::as_str), Some("7d"));
        for (text, named) in [
            (
                "[stages.dev]\n[stages.prod]\nmemory_mb = 256\nsession_ttl = \"soon\"",
                "stage prod: session_ttl: ",
            ),
            ("[stages.x]\ntoken_ttl = \"0s\"", "stage x: token_ttl: "),
        ] {
            let error = toml::from_str::<ConfigFile>(text).unwrap_err().to_string();
            assert!(error.contains(named), "{error}");
        }
    }

    #[test]
    fn oidc_keys_are_fetched_over_https_or_from_this_machine() {
        for good in [
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC",
            "https://issuer.example.com",
            "http://127.0.0.1:8080/realm",
            "http://localhost:9000",
            "http://[::1]:9000",
            "https://issuer.example.com/keys.json?version=2",
            "HTTPS://issuer.example.com",
            "HTTP://LOCALHOST:9000/realm",
            // The same address, written otherwise: the parser reads it as 127.0.0.1.
            "http://127.1:9000",
        ] {
            assert!(check_oidc_url(good, "issuer").is_ok(), "{good}");
        }
        for bad in [
            "http://issuer.example.com",
            "http://127.0.0.1.evil.com",
            "http://localhost.evil.com/x",
            "https://",
            "ftp://x",
            "issuer.example.com",
            "https://a b",
            // What the text starts with is not where the request goes.
            "http://localhost:1@remote.example/keys.json",
            "http://localhost@remote.example/keys.json",
            "http://127.0.0.1:80@remote.example",
            "http://[::1]@remote.example",
            "http://localhost%2eevil.com/",
            "HTTP://remote.example/keys.json",
            // User info even where the host is fine: the URL reads two ways.
            "https://user:secret@issuer.example.com",
            "https://user@issuer.example.com",
            "http://remote.example@localhost/",
            // Parsers disagree on these: a backslash, a fragment, a missing `//`, control
            // characters.
            "http://localhost\\@remote.example/",
            "http://remote.example\\.localhost/",
            "https:\\\\issuer.example.com",
            "http://localhost#@remote.example",
            "https://issuer.example.com/#keys",
            "https:issuer.example.com",
            "http:/localhost/keys.json",
            "https://issuer.example.com/\tkeys",
            "https://issuer.example.com/\nkeys",
            "http://localhost./keys.json",
            "http://[::ffff:127.0.0.1]/keys.json",
            "http://0.0.0.0/keys.json",
        ] {
            assert!(check_oidc_url(bad, "issuer").is_err(), "{bad}");
        }
        assert!(check_oidc_issuer("https://issuer.example.com/realm").is_ok());
        assert!(check_oidc_issuer("https://issuer.example.com/?tenant=a").is_err());
    }

    #[test]
    fn stage_names_are_what_aws_names_allow() {
        assert!(check_stage_name("prod-eu").is_ok());
        for bad in ["", "a b", "x_y", "ü", &"a".repeat(41)] {
            assert!(check_stage_name(bad).is_err(), "{bad:?}");
        }
    }
}
