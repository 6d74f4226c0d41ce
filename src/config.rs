//! The one typed settings value of the service, from flags, the environment and the stage's
//! section of `checkoff.toml` (in that order of precedence), and the stages themselves.

mod duration;
mod throttle;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde::Deserialize;

pub use duration::{Ttl, parse_ttl};
pub use throttle::ThrottlePolicy;

/// The file of stages read when `--config` is not given (and only if it exists).
pub const DEFAULT_CONFIG: &str = "checkoff.toml";

/// The handler of the API function in a deployment's template (`bootstrap` is the binary
/// itself).
pub const API_HANDLER: &str = "bootstrap";

/// The handler name (`_HANDLER`, from the function's `Handler`) of the authorizer function: the
/// template gives it, the Lambda entry serves the authorizer when it is its own.
pub const AUTHORIZER_HANDLER: &str = "authorizer";

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
    /// `cognito`: the user pool's ARN.
    pub user_pool_arn: Option<String>,
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

impl Default for StageAuthorizer {
    fn default() -> Self {
        Self {
            kind: AuthorizerKind::Builtin,
            user_pool_arn: None,
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
    #[serde(deserialize_with = "duration::token_ttl")]
    pub token_ttl: Option<Ttl>,
    /// How long a login can be renewed at /refresh, e.g. `30d`.
    #[serde(deserialize_with = "duration::session_ttl")]
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
fn check_oidc_issuer(issuer: &str) -> Result<(), String> {
    check_oidc_url(issuer, "the OIDC issuer")?;
    if issuer.contains('?') {
        return Err(format!("the OIDC issuer {issuer:?} must not have a ?query"));
    }
    Ok(())
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
    fn check(&self, name: &str) -> Result<(), String> {
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
        match auth.kind {
            AuthorizerKind::Cognito if auth.user_pool_arn.is_none() => {
                fail("the cognito authorizer needs user_pool_arn")
            }
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
    #[serde(default, deserialize_with = "duration::stages")]
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

/// Where the data lives: flags shared by every command.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Where data lives [default: sqlite; dynamodb with --stage and under AWS Lambda].
    #[arg(long, env = "CHECKOFF_STORE", value_enum, global = true)]
    pub store: Option<StoreKind>,
    /// Directory of the SQLite database and the JWT key (created on first start).
    #[arg(
        long,
        env = "CHECKOFF_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// DynamoDB table (with --store dynamodb; `<table>-<stage>` with --stage); region, credentials
    /// and endpoint come from the standard AWS environment (AWS_REGION, AWS_PROFILE,
    /// AWS_ENDPOINT_URL, ...).
    #[arg(
        long,
        env = "CHECKOFF_TABLE",
        default_value = "checkoff",
        global = true
    )]
    pub table: String,
    /// A stage of checkoff.toml (dev, prod, ...): its table, secret and settings.
    #[arg(long, env = "CHECKOFF_STAGE", global = true)]
    pub stage: Option<String>,
    /// The file of stages [default: ./checkoff.toml, if there is one].
    #[arg(long, env = "CHECKOFF_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// An SSM SecureString parameter holding the JWT secret (base64), read once at start
    /// [default with --stage on DynamoDB: /checkoff/<stage>/jwt-secret; CHECKOFF_JWT_SECRET
    /// wins over both].
    #[arg(long, env = "CHECKOFF_JWT_SECRET_PARAM", global = true)]
    pub jwt_secret_param: Option<String>,
}

/// Where the process runs: decides defaults such as the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Local,
    Lambda,
}

/// The data location every command agrees on.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub kind: StoreKind,
    pub data_dir: PathBuf,
    pub table: String,
}

impl StoreArgs {
    /// The stage named by `--stage`, from the config file.
    pub fn stage(&self) -> Result<Option<(String, Stage)>, String> {
        let Some(name) = &self.stage else {
            return Ok(None);
        };
        let stage = ConfigFile::load(self.config.as_deref())?.stage(name)?;
        Ok(Some((name.clone(), stage)))
    }

    pub fn resolve(
        &self,
        stage: Option<&(String, Stage)>,
        runtime: Runtime,
    ) -> Result<StoreSettings, String> {
        // A stage is a deployment on AWS: its data is in its DynamoDB table unless told otherwise.
        let kind = self.store.unwrap_or(match (runtime, stage) {
            (Runtime::Local, None) => StoreKind::Sqlite,
            _ => StoreKind::Dynamodb,
        });
        let table = match stage {
            Some((_, Stage { table: Some(t), .. })) => t.clone(),
            Some((name, _)) => format!("{}-{name}", self.table),
            None => self.table.clone(),
        };
        Ok(StoreSettings {
            kind,
            data_dir: self.data_dir.clone(),
            table,
        })
    }
}

impl StoreArgs {
    /// `CHECKOFF_JWT_SECRET` when set, else the SSM parameter given or the stage's (on
    /// DynamoDB), else `jwt.key` in the data dir.
    pub fn secret(&self, stage: Option<&(String, Stage)>, kind: StoreKind) -> SecretSource {
        if std::env::var_os("CHECKOFF_JWT_SECRET").is_some() {
            SecretSource::Env
        } else if let Some(param) = &self.jwt_secret_param {
            SecretSource::Ssm(param.clone())
        } else if let (Some((name, stage)), StoreKind::Dynamodb) = (stage, kind) {
            SecretSource::Ssm(secret_param_of(name, stage))
        } else {
            SecretSource::DataDir(self.data_dir.clone())
        }
    }
}

/// The SSM parameter of a stage's JWT secret.
pub fn secret_param_of(stage_name: &str, stage: &Stage) -> String {
    stage
        .jwt_secret_param
        .clone()
        .unwrap_or_else(|| format!("/checkoff/{stage_name}/jwt-secret"))
}

/// How the service runs: flags of `serve`, read from the environment under Lambda.
#[derive(Debug, Clone, Args)]
pub struct ServiceArgs {
    /// How long a token from /login or /refresh stays valid (e.g. 15m, 1h) [default: the
    /// stage's, else 15m].
    #[arg(long, env = "CHECKOFF_TOKEN_TTL", value_parser = parse_ttl)]
    pub token_ttl: Option<Duration>,
    /// How long a login can be renewed at /refresh before logging in again [default: the
    /// stage's, else 30d].
    #[arg(long, env = "CHECKOFF_SESSION_TTL", value_parser = parse_ttl)]
    pub session_ttl: Option<Duration>,
    /// Whether anyone may sign up with POST /users [default: the stage's, else open on the local
    /// server and closed under Lambda].
    #[arg(long, env = "CHECKOFF_SIGNUP", value_enum)]
    pub signup: Option<Signup>,
    /// How long the caller's profile, read by the authorizer, may be reused [default: 1s on
    /// SQLite, 0s on DynamoDB]. It saves a store read per API call. On SQLite a kept profile is
    /// dropped as soon as another process has written to the file, so nothing is seen late; on
    /// DynamoDB a logout, password change or deletion made through another instance would be
    /// seen only that much later, hence off.
    #[arg(long, env = "CHECKOFF_USER_CACHE_TTL", value_parser = humantime::parse_duration)]
    pub user_cache_ttl: Option<Duration>,
    /// Memory for list pages kept as sent, in KiB (0 = off). Only on SQLite, where the service
    /// sees every change: its own at once, another process's within 50 ms.
    #[arg(long, env = "CHECKOFF_LIST_CACHE_KIB", default_value_t = 2048)]
    pub list_cache_kib: usize,
    /// Longest a request may take before it is answered 503.
    #[arg(long, env = "CHECKOFF_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_ttl)]
    pub request_timeout: Duration,
    /// Who decides who is calling [default: the stage's, else builtin]. The kinds other than
    /// builtin and lambda exist only behind API Gateway.
    #[arg(long, env = "CHECKOFF_AUTHORIZER", value_enum)]
    pub authorizer: Option<AuthorizerKind>,
    /// With the cognito authorizer: the claim that names the caller [default: sub].
    #[arg(long, env = "CHECKOFF_IDENTITY_CLAIM")]
    pub identity_claim: Option<String>,
    /// Also accept RS256/ES256 tokens of this OIDC issuer (a Cognito user pool's
    /// https://cognito-idp.<region>.amazonaws.com/<pool id>) [default: the stage's, else none].
    #[arg(long, env = "CHECKOFF_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// The client id the issuer's tokens must be for (`aud`, or `client_id` of Cognito access
    /// tokens); required with --oidc-issuer.
    #[arg(long, env = "CHECKOFF_OIDC_AUDIENCE")]
    pub oidc_audience: Option<String>,
    /// The claim that names an OIDC caller, e.g. cognito:username or email [default: sub].
    #[arg(long, env = "CHECKOFF_OIDC_CLAIM")]
    pub oidc_claim: Option<String>,
    /// The issuer's JWKS, for issuers without a discovery document [default: the discovery
    /// document's jwks_uri, else <issuer>/.well-known/jwks.json].
    #[arg(long, env = "CHECKOFF_OIDC_JWKS_URL")]
    pub oidc_jwks_url: Option<String>,
    /// Most todos one account may hold; 0: no limit [default: the stage's, else 10000].
    #[arg(long, env = "CHECKOFF_QUOTA_TODOS")]
    pub quota_todos: Option<u64>,
    /// Most bytes of descriptions and metadata one account may hold, e.g. 32MiB; 0: no limit
    /// [default: the stage's, else 32MiB].
    #[arg(long, env = "CHECKOFF_QUOTA_BYTES", value_parser = parse_size)]
    pub quota_bytes: Option<u64>,
    /// Most writes (creates, changes, deletes) per second one account may make on one instance,
    /// with ten seconds' worth at once; 0: no limit [default: the stage's, else 50].
    #[arg(long, env = "CHECKOFF_WRITE_RATE")]
    pub write_rate: Option<u32>,
    /// Reverse proxies whose word on the client's address is taken (addresses or CIDR ranges,
    /// comma-separated, e.g. 127.0.0.1,10.0.0.0/8) [default: none: the address a connection
    /// comes from is the client's]. Behind a proxy without it, every client has the proxy's
    /// address, and the login limit per address counts them all as one.
    #[arg(
        long = "trusted-proxy",
        env = "CHECKOFF_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_parser = parse_proxy
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The header those proxies name the client's address in, as a list the rightmost entry of
    /// which their last hop added.
    #[arg(
        long,
        env = "CHECKOFF_FORWARDED_HEADER",
        default_value = "x-forwarded-for",
        value_parser = parse_header_name
    )]
    pub forwarded_header: axum::http::HeaderName,
    /// Origins allowed to call the API from a browser (repeatable) [default: the stage's].
    #[arg(
        long = "cors-origin",
        env = "CHECKOFF_CORS_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,
}

/// A size in bytes: a number, or one with `KiB`, `MiB` or `GiB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => {
            return Err(format!(
                "{text:?} is no size: write e.g. 32MiB, 512KiB or 1000"
            ));
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("{text:?} is no size: write e.g. 32MiB, 512KiB or 1000"))
}

/// What one account may hold and do; 0 in any field is no limit there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Todos held.
    pub todos: u64,
    /// Bytes of descriptions and metadata held.
    pub bytes: u64,
    /// Writes per second, on one instance, with ten seconds' worth at once.
    pub writes_per_second: u32,
}

impl Default for Quota {
    fn default() -> Self {
        Self {
            todos: 10_000,
            bytes: 32 << 20,
            writes_per_second: 50,
        }
    }
}

/// An address (`10.1.2.3`) or a range (`10.0.0.0/8`) of trusted proxies.
fn parse_proxy(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{text:?} is not an address or a CIDR range such as 10.0.0.0/8"))
}

fn parse_header_name(text: &str) -> Result<axum::http::HeaderName, String> {
    axum::http::HeaderName::try_from(text.trim())
        .map_err(|_| format!("{text:?} is not a header name"))
}

/// Whose word on the client's address is taken, and where they give it.
#[derive(Debug, Clone)]
pub struct Proxies {
    pub trusted: Vec<ipnet::IpNet>,
    pub header: axum::http::HeaderName,
}

impl Default for Proxies {
    fn default() -> Self {
        Self {
            trusted: Vec::new(),
            header: axum::http::HeaderName::from_static("x-forwarded-for"),
        }
    }
}

impl Proxies {
    /// The client behind a connection from `peer`: the peer itself, unless it is a trusted
    /// proxy; then the rightmost address in `forwarded` (all the header's values, in order)
    /// that is not a trusted proxy's, since only the trusted hops' additions can be believed.
    pub fn client<'a>(
        &self,
        peer: std::net::IpAddr,
        forwarded: impl DoubleEndedIterator<Item = &'a str>,
    ) -> std::net::IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        for hop in forwarded.rev().flat_map(|value| value.rsplit(',')) {
            match hop.trim().parse::<std::net::IpAddr>() {
                Ok(address) if self.trusts(address) => client = address,
                Ok(address) => return address,
                // A hop that is no address cannot be counted on: stop at what was believed.
                Err(_) => return client,
            }
        }
        client
    }

    fn trusts(&self, address: std::net::IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&address))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signup {
    Open,
    Closed,
}

impl ServiceArgs {
    /// The service's settings from the environment alone, for commands that use the service
    /// without serving it.
    pub fn from_env() -> Result<Self, String> {
        use clap::{CommandFactory as _, FromArgMatches as _};
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            service: ServiceArgs,
        }
        let matches = Only::command()
            .try_get_matches_from(["checkoff"])
            .map_err(|e| e.to_string())?;
        Only::from_arg_matches(&matches)
            .map(|only| only.service)
            .map_err(|e| e.to_string())
    }
}

/// Where the JWT signing secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `CHECKOFF_JWT_SECRET`, base64.
    Env,
    /// An SSM SecureString parameter.
    Ssm(String),
    /// `jwt.key` in the data dir, made on first start.
    DataDir(PathBuf),
}

/// Which caller identity the service accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub kind: AuthorizerKind,
    /// The claim naming a Cognito caller.
    pub claim: String,
    /// An OIDC issuer whose tokens checkoff's own token check also accepts.
    pub oidc: Option<OidcSettings>,
}

/// An OIDC issuer (a Cognito user pool, or any OpenID provider) whose RS256/ES256 tokens the
/// built-in and lambda authorizers accept beside their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    /// `iss` exactly as the issuer writes it.
    pub issuer: String,
    /// The client id: `aud` must contain it, or (tokens without `aud`) `client_id` must be it.
    pub audience: String,
    /// The claim naming the caller.
    pub claim: String,
    /// The JWKS; when `None`, found through discovery (then `/.well-known/jwks.json`).
    pub jwks_url: Option<String>,
    /// The least time between two fetches asked for by tokens with a `kid` the keys at hand
    /// lack (the first such token after a fetch is not kept waiting: the issuer may just have
    /// published its key): whoever sends made-up `kid`s cannot make checkoff hammer the issuer.
    pub refetch_interval: Duration,
}

impl OidcSettings {
    pub const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(60);

    /// The issuer's settings from what flags, environment or a stage gave; `None` without an
    /// issuer. The pieces must make a whole, for an authorizer kind that checks tokens itself.
    pub fn from_parts(
        kind: AuthorizerKind,
        issuer: Option<String>,
        audience: Option<String>,
        claim: Option<String>,
        jwks_url: Option<String>,
    ) -> Result<Option<Self>, String> {
        let Some(issuer) = issuer.filter(|i| !i.is_empty()) else {
            if audience.is_some() || claim.is_some() || jwks_url.is_some() {
                return Err("the OIDC audience, claim and JWKS URL need an OIDC issuer".into());
            }
            return Ok(None);
        };
        check_oidc_issuer(&issuer)?;
        if let Some(url) = &jwks_url {
            check_oidc_url(url, "the OIDC JWKS URL")?;
        }
        let audience = audience
            .filter(|a| !a.trim().is_empty())
            .ok_or("an OIDC issuer needs its audience (the app client id its tokens are for)")?;
        let claim = claim.unwrap_or_else(|| "sub".into());
        if claim.trim().is_empty() {
            return Err("the OIDC claim must name a claim, e.g. sub".into());
        }
        if !matches!(kind, AuthorizerKind::Builtin | AuthorizerKind::Lambda) {
            return Err(format!(
                "OIDC tokens are checked by the builtin or lambda authorizer, not by {}",
                kind.as_str()
            ));
        }
        Ok(Some(Self {
            issuer,
            audience,
            claim,
            jwks_url,
            refetch_interval: Self::DEFAULT_REFETCH_INTERVAL,
        }))
    }
}

/// Everything the service builder needs, resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub runtime: Runtime,
    pub store: StoreSettings,
    pub secret: SecretSource,
    pub identity: Identity,
    /// 0 = no profile cache.
    pub user_cache_ttl: Duration,
    pub cors_origins: Vec<String>,
    pub service: ServiceSettings,
}

const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);
const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// Settings the running service needs beyond its store and secret.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// Access tokens from /login and /refresh.
    pub token_ttl: Duration,
    /// How long a login can be renewed with refresh tokens.
    pub session_ttl: Duration,
    /// Whether POST /users makes accounts for anyone.
    pub signup: bool,
    pub request_timeout: Duration,
    pub throttle: ThrottlePolicy,
    /// Memory for list pages kept as sent (0 = none).
    pub list_cache_bytes: usize,
    /// Reverse proxies whose forwarded client address is believed.
    pub proxies: Proxies,
    /// What one account may hold and do.
    pub quota: Quota,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        Self {
            token_ttl: DEFAULT_TOKEN_TTL,
            session_ttl: DEFAULT_SESSION_TTL,
            signup: true,
            request_timeout: Duration::from_secs(30),
            throttle: ThrottlePolicy::default(),
            list_cache_bytes: 2 << 20,
            proxies: Proxies::default(),
            quota: Quota::default(),
        }
    }
}

impl Settings {
    /// Flags and environment first, then the stage, then defaults.
    pub fn resolve(
        store_args: &StoreArgs,
        args: &ServiceArgs,
        runtime: Runtime,
    ) -> Result<Self, String> {
        let stage = store_args.stage()?;
        let store = store_args.resolve(stage.as_ref(), runtime)?;
        let stage_ttl = stage
            .as_ref()
            .and_then(|(_, s)| s.token_ttl.as_ref().map(Ttl::duration));
        let stage_session_ttl = stage
            .as_ref()
            .and_then(|(_, s)| s.session_ttl.as_ref().map(Ttl::duration));
        let stage_quota_bytes = match stage.as_ref().and_then(|(_, s)| s.quota_bytes.as_deref()) {
            Some(size) => Some(parse_size(size)?),
            None => None,
        };
        let defaults = Quota::default();
        let quota = Quota {
            todos: args
                .quota_todos
                .or(stage.as_ref().and_then(|(_, s)| s.quota_todos))
                .unwrap_or(defaults.todos),
            bytes: args
                .quota_bytes
                .or(stage_quota_bytes)
                .unwrap_or(defaults.bytes),
            writes_per_second: args
                .write_rate
                .or(stage.as_ref().and_then(|(_, s)| s.write_rate))
                .unwrap_or(defaults.writes_per_second),
        };
        let signup = args
            .signup
            .or(stage.as_ref().and_then(|(_, s)| s.signup))
            .unwrap_or(match runtime {
                Runtime::Local => Signup::Open,
                Runtime::Lambda => Signup::Closed,
            });
        let stage_auth = stage
            .as_ref()
            .map(|(_, s)| s.authorizer.clone())
            .unwrap_or_default();
        let kind = args.authorizer.unwrap_or(stage_auth.kind);
        let claim = args
            .identity_claim
            .clone()
            .or(stage_auth.claim)
            .unwrap_or_else(|| "sub".into());
        let oidc = OidcSettings::from_parts(
            kind,
            args.oidc_issuer.clone().or(stage_auth.oidc_issuer),
            args.oidc_audience.clone().or(stage_auth.oidc_audience),
            args.oidc_claim.clone().or(stage_auth.oidc_claim),
            args.oidc_jwks_url.clone().or(stage_auth.oidc_jwks_url),
        )?;
        if runtime == Runtime::Local
            && !matches!(kind, AuthorizerKind::Builtin | AuthorizerKind::Lambda)
        {
            return Err(format!(
                "the {} authorizer is API Gateway's: it exists only under AWS Lambda (use builtin here)",
                kind.as_str()
            ));
        }
        for origin in &args.cors_origins {
            check_origin(origin)?;
        }
        let cors_origins = if args.cors_origins.is_empty() {
            stage
                .as_ref()
                .map(|(_, s)| s.cors_origins.clone())
                .unwrap_or_default()
        } else {
            args.cors_origins.clone()
        };
        let user_cache_ttl = args.user_cache_ttl.unwrap_or(match store.kind {
            StoreKind::Sqlite => Duration::from_secs(1),
            StoreKind::Dynamodb => Duration::ZERO,
        });
        Ok(Self {
            runtime,
            secret: store_args.secret(stage.as_ref(), store.kind),
            store,
            identity: Identity { kind, claim, oidc },
            user_cache_ttl,
            cors_origins,
            service: ServiceSettings {
                token_ttl: args.token_ttl.or(stage_ttl).unwrap_or(DEFAULT_TOKEN_TTL),
                session_ttl: args
                    .session_ttl
                    .or(stage_session_ttl)
                    .unwrap_or(DEFAULT_SESSION_TTL),
                signup: signup == Signup::Open,
                request_timeout: args.request_timeout,
                list_cache_bytes: args.list_cache_kib.saturating_mul(1024),
                proxies: Proxies {
                    trusted: args.trusted_proxies.clone(),
                    header: args.forwarded_header.clone(),
                },
                quota,
                ..ServiceSettings::default()
            },
        })
    }

    /// Settings for a service on `data_dir` with everything else at its default, as tests and
    /// embedders start from.
    pub fn local(data_dir: &Path, store: StoreKind, table: &str) -> Self {
        Self {
            runtime: Runtime::Local,
            store: StoreSettings {
                kind: store,
                data_dir: data_dir.to_owned(),
                table: table.to_owned(),
            },
            secret: SecretSource::DataDir(data_dir.to_owned()),
            identity: Identity {
                kind: AuthorizerKind::Builtin,
                claim: "sub".into(),
                oidc: None,
            },
            user_cache_ttl: Duration::ZERO,
            cors_origins: Vec::new(),
            service: ServiceSettings::default(),
        }
    }
}

#[cfg(test)]
mod tests {
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
        assert!(bad("[stages.x.authorizer]\nkind = \"cognito\"").contains("user_pool_arn"));
        assert!(bad("[stages.x]\ncors_origins = [\"*\"]").contains("no path, no *"));
        assert!(bad("[stages.x]\ncors_origins = [\"https://a.com/x\"]").contains("no path"));
        assert!(toml::from_str::<ConfigFile>("[stages.x]\nmemroy_mb = 1").is_err());
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
    fn sizes_read_with_their_units() {
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("32MiB"), Ok(32 << 20));
        assert_eq!(parse_size(" 512KiB "), Ok(512 << 10));
        assert_eq!(parse_size("0"), Ok(0));
        for bad in ["", "MiB", "1.5MiB", "32MB", "-1", "99999999999GiB"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_trusted_proxies_say_who_the_client_is() {
        let proxies = Proxies {
            trusted: vec![
                parse_proxy("10.0.0.0/8").unwrap(),
                parse_proxy("127.0.0.1").unwrap(),
            ],
            ..Proxies::default()
        };
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        // A client that is no proxy says nothing about itself.
        assert_eq!(
            proxies.client(ip("203.0.113.9"), ["1.2.3.4"].into_iter()),
            ip("203.0.113.9")
        );
        // Through one proxy, and through two (a client's own made-up entry comes first).
        assert_eq!(
            proxies.client(ip("127.0.0.1"), ["198.51.100.7"].into_iter()),
            ip("198.51.100.7")
        );
        assert_eq!(
            proxies.client(
                ip("127.0.0.1"),
                ["6.6.6.6, 198.51.100.7", "10.1.1.1"].into_iter()
            ),
            ip("198.51.100.7")
        );
        // No header, or nothing but garbage: the proxy itself.
        assert_eq!(
            proxies.client(ip("127.0.0.1"), std::iter::empty()),
            ip("127.0.0.1")
        );
        assert_eq!(
            proxies.client(ip("127.0.0.1"), ["junk"].into_iter()),
            ip("127.0.0.1")
        );
        assert!(parse_proxy("10.0.0.0/33").is_err());
        assert!(parse_proxy("proxy.example").is_err());
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
    fn an_oidc_issuer_needs_its_audience_and_a_token_checking_authorizer() {
        let parts = |kind, issuer: Option<&str>, audience: Option<&str>| {
            OidcSettings::from_parts(
                kind,
                issuer.map(Into::into),
                audience.map(Into::into),
                None,
                None,
            )
        };
        let issuer = Some("https://issuer.example.com");
        assert_eq!(parts(AuthorizerKind::Builtin, None, None), Ok(None));
        let oidc = parts(AuthorizerKind::Lambda, issuer, Some("client"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (oidc.claim.as_str(), oidc.audience.as_str()),
            ("sub", "client")
        );
        assert!(
            parts(AuthorizerKind::Builtin, issuer, None)
                .unwrap_err()
                .contains("audience")
        );
        assert!(
            parts(AuthorizerKind::Builtin, None, Some("client"))
                .unwrap_err()
                .contains("issuer")
        );
        assert!(
            parts(AuthorizerKind::Cognito, issuer, Some("client"))
                .unwrap_err()
                .contains("builtin or lambda")
        );
        let bad = |text: &str| {
            let file: ConfigFile = toml::from_str(text).unwrap();
            let (name, stage) = file.stages.iter().next().unwrap();
            stage.check(name).unwrap_err()
        };
        assert!(
            bad("[stages.x.authorizer]\nkind = \"builtin\"\noidc_issuer = \"http://idp.example.com\"\noidc_audience = \"c\"")
                .contains("https")
        );
    }

    #[test]
    fn stage_names_are_what_aws_names_allow() {
        assert!(check_stage_name("prod-eu").is_ok());
        for bad in ["", "a b", "x_y", "ü", &"a".repeat(41)] {
            assert!(check_stage_name(bad).is_err(), "{bad:?}");
        }
    }
}
