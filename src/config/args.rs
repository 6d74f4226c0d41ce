//! The flags (and their environment variables) every command and `serve` read.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::limits::{parse_header_name, parse_proxy};
use super::{
    AuthorizerKind, ConfigFile, SecretSource, Signup, Stage, StoreKind, parse_size, parse_ttl,
};

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
    /// Memory for list pages and single todos kept as sent, in KiB (0 = off). Only on SQLite,
    /// where the service sees every change before it serves a kept answer, another process's too.
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
    /// Most bytes of todo texts (descriptions, titles, notes) and metadata one account may hold, e.g. 32MiB; 0: no limit
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
