//! Who may call: where the signing secret comes from, the authorizer, an OIDC issuer.

use std::path::PathBuf;
use std::time::Duration;

use super::AuthorizerKind;
use super::stage::{check_oidc_issuer, check_oidc_url};

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
