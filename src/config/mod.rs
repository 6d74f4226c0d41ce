//! The one typed settings value of the service, from flags, the environment and the stage's
//! section of `checkoff.toml` (in that order of precedence), and the stages themselves.

mod args;
mod duration;
mod identity;
mod limits;
mod stage;
mod throttle;

use std::path::Path;
use std::time::Duration;

pub use args::{Runtime, ServiceArgs, StoreArgs, StoreSettings, secret_param_of};
pub use duration::{Ttl, parse_ttl};
pub use identity::{Identity, OidcSettings, SecretSource};
pub use limits::{Proxies, Quota, Signup, parse_size};
pub use stage::{
    Architecture, AuthorizerKind, ConfigFile, Stage, StageAuthorizer, StoreKind, check_oidc_url,
    check_origin, check_stage_name,
};
pub use throttle::ThrottlePolicy;

/// The file of stages read when `--config` is not given (and only if it exists).
pub const DEFAULT_CONFIG: &str = "checkoff.toml";

/// The handler of the API function in a deployment's template (`bootstrap` is the binary
/// itself).
pub const API_HANDLER: &str = "bootstrap";

/// The handler name (`_HANDLER`, from the function's `Handler`) of the authorizer function: the
/// template gives it, the Lambda entry serves the authorizer when it is its own.
pub const AUTHORIZER_HANDLER: &str = "authorizer";

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
}
