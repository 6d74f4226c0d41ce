//! Where people sign in when an identity provider does it for checkoff: the endpoints of the
//! authorization-code flow with PKCE that the web app and the CLI follow. A Cognito stage whose
//! pool the stack made names them in its stage variables; an OIDC issuer (`--oidc-issuer`)
//! names them in its discovery document, read once and kept.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::jwks::{get_json, issuer_client};
use crate::config::{OidcSettings, check_oidc_url};

/// The scopes asked for: who the person is, their email and profile.
const SCOPE: &str = "openid email profile";
/// How long found endpoints are kept, and how soon a failed discovery is tried again.
const KEEP: Duration = Duration::from_secs(3600);
const RETRY: Duration = Duration::from_secs(30);

/// An identity provider's sign-in, as a public client (no secret) uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SignInProvider {
    /// What to call it on a button.
    #[schema(example = "Cognito")]
    pub name: String,
    /// `iss` of its tokens.
    pub issuer: String,
    /// The public client to sign in as (`client_id`).
    pub client_id: String,
    pub authorization_endpoint: String,
    /// Where a code (with its PKCE verifier) or a refresh token becomes tokens.
    pub token_endpoint: String,
    /// Where signing out ends the provider's own session, if it has such a place.
    pub end_session_endpoint: Option<String>,
    /// Where signing out revokes the refresh token (RFC 7009), if the provider has one.
    pub revocation_endpoint: Option<String>,
    /// The end-session endpoint's parameter naming where to go afterwards:
    /// `post_logout_redirect_uri` (OpenID Connect) or `logout_uri` (Cognito).
    #[schema(example = "post_logout_redirect_uri")]
    pub logout_redirect_param: String,
    /// The scopes to ask for.
    #[schema(example = "openid email profile")]
    pub scope: String,
}

impl SignInProvider {
    /// A Cognito user pool's hosted pages on `domain` (`https://<prefix>.auth.<region>.amazoncognito.com`).
    pub fn cognito(domain: &str, client_id: &str, issuer: &str) -> Result<Self, String> {
        let domain = domain.trim_end_matches('/');
        check_oidc_url(domain, "the sign-in domain")?;
        check_oidc_url(issuer, "the sign-in issuer")?;
        if client_id.is_empty() || !client_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("{client_id:?} is no Cognito app client id"));
        }
        Ok(Self {
            name: "Cognito".into(),
            issuer: issuer.into(),
            client_id: client_id.into(),
            authorization_endpoint: format!("{domain}/oauth2/authorize"),
            token_endpoint: format!("{domain}/oauth2/token"),
            end_session_endpoint: Some(format!("{domain}/logout")),
            revocation_endpoint: Some(format!("{domain}/oauth2/revoke")),
            logout_redirect_param: "logout_uri".into(),
            scope: SCOPE.into(),
        })
    }

    /// The origins of the token and revocation endpoints: the only places besides checkoff
    /// the web app calls.
    pub fn connect_origins(&self) -> Vec<String> {
        let mut origins: Vec<String> = [
            Some(&self.token_endpoint),
            self.revocation_endpoint.as_ref(),
        ]
        .into_iter()
        .flatten()
        .filter_map(|url| origin(url))
        .collect();
        origins.dedup();
        origins
    }
}

/// Whether `issuer` is a Cognito user pool's: `https://cognito-idp.<region>.amazonaws.com/<pool>`.
fn is_cognito_pool(issuer: &str) -> bool {
    issuer
        .strip_prefix("https://cognito-idp.")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(host, pool)| host.ends_with(".amazonaws.com") && !pool.is_empty())
}

/// `scheme://host[:port]` of `url`, as the URL parser reads it (a default port left out).
fn origin(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    Some(url.origin().ascii_serialization()).filter(|o| o != "null")
}

/// The API stage's variables naming a user pool's sign-in: the template of a stage whose stack
/// makes the pool sets them, the Lambda entry reads them.
pub mod stage_variables {
    pub const CLIENT_ID: &str = "signInClientId";
    pub const DOMAIN: &str = "signInDomain";
    pub const ISSUER: &str = "signInIssuer";
}

/// How people sign in to this service.
pub struct SignIn {
    /// Whether `POST /login` takes a username and password here (not where API Gateway decides
    /// with a pool or IAM: checkoff's own tokens would not pass it).
    pub password: bool,
    /// The OIDC issuer whose tokens are accepted, for its sign-in pages.
    pub discovered: Option<DiscoveredSignIn>,
}

impl SignIn {
    /// The provider to offer: the stage's (under API Gateway), else the issuer's.
    pub async fn provider(&self, stage: Option<SignInProvider>) -> Option<SignInProvider> {
        match (stage, &self.discovered) {
            (Some(stage), _) => Some(stage),
            (None, Some(discovered)) => discovered.provider().await,
            (None, None) => None,
        }
    }
}

/// The part of a discovery document sign-in needs.
#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    end_session_endpoint: Option<String>,
    revocation_endpoint: Option<String>,
}

/// What a look at the discovery document found (`None`: the issuer offers no code flow), and
/// when.
type Look = (Instant, Result<Option<SignInProvider>, String>);

/// An OIDC issuer's sign-in, found through its discovery document on first need.
pub struct DiscoveredSignIn {
    issuer: String,
    client_id: String,
    http: reqwest::Client,
    found: tokio::sync::Mutex<Option<Look>>,
}

impl DiscoveredSignIn {
    pub fn new(settings: &OidcSettings) -> Result<Self, String> {
        Ok(Self {
            issuer: settings.issuer.clone(),
            client_id: settings.audience.clone(),
            http: issuer_client()?,
            found: tokio::sync::Mutex::new(None),
        })
    }

    /// The issuer's sign-in, or `None` when it has none or cannot be reached now (then it is
    /// asked again shortly; tokens are still accepted either way).
    pub async fn provider(&self) -> Option<SignInProvider> {
        let mut found = self.found.lock().await;
        let fresh = match &*found {
            Some((at, Ok(_))) => at.elapsed() < KEEP,
            Some((at, Err(_))) => at.elapsed() < RETRY,
            None => false,
        };
        if !fresh {
            let result = self.discover().await;
            if let Err(why) = &result {
                tracing::warn!(issuer = %self.issuer, %why, "cannot find the OIDC issuer's sign-in endpoints");
            }
            *found = Some((Instant::now(), result));
        }
        match &*found {
            Some((_, Ok(provider))) => provider.clone(),
            _ => None,
        }
    }

    async fn discover(&self) -> Result<Option<SignInProvider>, String> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let doc: Discovery = get_json(&self.http, &url).await?;
        if doc.issuer != self.issuer {
            return Err(format!("{url} is of issuer {:?}", doc.issuer));
        }
        let (Some(authorization), Some(token)) = (doc.authorization_endpoint, doc.token_endpoint)
        else {
            return Ok(None);
        };
        check_oidc_url(&authorization, "the authorization_endpoint")?;
        check_oidc_url(&token, "the token_endpoint")?;
        if let Some(end) = &doc.end_session_endpoint {
            check_oidc_url(end, "the end_session_endpoint")?;
        }
        if let Some(revoke) = &doc.revocation_endpoint {
            check_oidc_url(revoke, "the revocation_endpoint")?;
        }
        // A user pool's discovery names no end-session endpoint, yet its hosted pages have
        // one, with parameters of their own: the pool's pages, as a stage would name them.
        if is_cognito_pool(&self.issuer)
            && let Some(domain) = origin(&authorization)
        {
            return SignInProvider::cognito(&domain, &self.client_id, &self.issuer).map(Some);
        }
        // Checked above, so it parses; its host names the button.
        let name = reqwest::Url::parse(&authorization)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_default();
        Ok(Some(SignInProvider {
            name,
            issuer: self.issuer.clone(),
            client_id: self.client_id.clone(),
            authorization_endpoint: authorization,
            token_endpoint: token,
            end_session_endpoint: doc.end_session_endpoint,
            revocation_endpoint: doc.revocation_endpoint,
            logout_redirect_param: "post_logout_redirect_uri".into(),
            scope: SCOPE.into(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cognito_pools_pages_are_under_its_domain() {
        let p = SignInProvider::cognito(
            "https://tasks-1.auth.eu-west-1.amazoncognito.com/",
            "1example23456789",
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC",
        )
        .unwrap();
        assert_eq!(
            p.authorization_endpoint,
            "https://tasks-1.auth.eu-west-1.amazoncognito.com/oauth2/authorize"
        );
        assert_eq!(
            p.connect_origins(),
            ["https://tasks-1.auth.eu-west-1.amazoncognito.com"]
        );
        assert_eq!(p.logout_redirect_param, "logout_uri");
        assert!(SignInProvider::cognito("http://evil.example", "abc", "https://i").is_err());
        assert!(SignInProvider::cognito("https://d.example", "a b", "https://i.example").is_err());
    }

    #[test]
    fn only_a_user_pools_issuer_is_cognitos() {
        assert!(is_cognito_pool(
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC"
        ));
        assert!(!is_cognito_pool(
            "https://cognito-idp.eu-west-1.amazonaws.com/"
        ));
        assert!(!is_cognito_pool("https://cognito-idp.evil.example/x"));
        assert!(!is_cognito_pool("https://idp.example/cognito-idp"));
    }

    #[test]
    fn the_origins_called_are_scheme_host_and_port_of_each_endpoint() {
        let mut p = SignInProvider::cognito("https://d.example", "c", "https://i.example").unwrap();
        p.token_endpoint = "http://127.0.0.1:4000/token".into();
        p.revocation_endpoint = Some("https://idp.example?x=1".into());
        assert_eq!(
            p.connect_origins(),
            ["http://127.0.0.1:4000", "https://idp.example"]
        );
        p.revocation_endpoint = None;
        assert_eq!(p.connect_origins(), ["http://127.0.0.1:4000"]);
        assert_eq!(
            origin("https://idp.example:443/x").as_deref(),
            Some("https://idp.example")
        );
        assert_eq!(
            origin("http://[::1]:9000/token").as_deref(),
            Some("http://[::1]:9000")
        );
    }
}
