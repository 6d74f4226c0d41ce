//! Tokens of an OIDC issuer (a Cognito user pool, or any OpenID provider): RS256 or ES256,
//! signed with a key of the issuer's JWKS, for our client, valid now. Unlike `chalice local`,
//! the signature is always checked. A caller gets a profile the first time they are seen,
//! under `oidc:<principal>`, a name no password account can have.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use super::jwks::Jwks;
use super::{AuthError, Decision, RouteGrants};
use crate::config::OidcSettings;
use crate::domain::{User, Username};
use crate::store::{Store, StoreError, UserStore};

/// The kind under which OIDC callers own their data (`oidc:<principal>`).
pub const OIDC_KIND: &str = "oidc";

/// Clock skew tolerated on `exp` and `nbf`: the issuer's clock is not ours.
const LEEWAY_SECONDS: u64 = 30;

/// Claims passed on to handlers (and to API Gateway by the Lambda authorizer). `iat` and
/// `auth_time` tell how recent the sign-in is: what an account without a password shows
/// instead of one (deleting it).
const CONTEXT_CLAIMS: [&str; 9] = [
    "iss",
    "sub",
    "token_use",
    "client_id",
    "aud",
    "scope",
    "exp",
    "iat",
    "auth_time",
];

pub struct OidcAuthorizer {
    issuer: String,
    audience: String,
    claim: String,
    keys: Jwks,
    store: Arc<dyn UserStore>,
    /// Whether a caller seen for the first time gets a profile here. The Lambda authorizer
    /// function may only read the store; the API function behind it makes the profile.
    provision: bool,
}

impl OidcAuthorizer {
    pub fn new(
        settings: &OidcSettings,
        store: Arc<dyn Store>,
        provision: bool,
    ) -> Result<Self, String> {
        Ok(Self {
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            claim: settings.claim.clone(),
            keys: Jwks::new(
                &settings.issuer,
                settings.jwks_url.as_deref(),
                settings.refetch_interval,
            )?,
            store,
            provision,
        })
    }

    /// The decision on one token of the issuer.
    pub async fn decide(&self, token: &str) -> Result<Decision, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::InvalidToken)?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(AuthError::InvalidToken);
        }
        let kid = header.kid.as_deref().ok_or(AuthError::InvalidToken)?;
        let key = self.keys.key(kid).await?.ok_or(AuthError::InvalidToken)?;
        // The key says which algorithm it verifies; the token's header does not get to choose.
        if key.alg != header.alg {
            return Err(AuthError::InvalidToken);
        }
        let mut validation = Validation::new(key.alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        // Checked below: Cognito's access tokens name the client in `client_id`, not `aud`.
        validation.validate_aud = false;
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation)
            .map_err(|_| AuthError::InvalidToken)?
            .claims;
        if !is_for(&claims, &self.audience) || !is_known_use(&claims) {
            return Err(AuthError::InvalidToken);
        }
        let principal = text(claims.get(&self.claim)).ok_or(AuthError::InvalidToken)?;
        let owner = Username::external(OIDC_KIND, &principal);
        let profile = self.profile(&owner).await?;
        let context: serde_json::Map<String, serde_json::Value> = CONTEXT_CLAIMS
            .iter()
            .filter_map(|name| Some(((*name).to_owned(), claims.get(*name)?.clone())))
            .collect();
        Ok(Decision {
            principal: principal.into(),
            owner,
            account: profile.as_ref().map(|user| user.created_at),
            usage: profile.as_ref().map(|user| user.usage).unwrap_or_default(),
            authorizer: OIDC_KIND,
            admin: profile.is_some_and(|user| user.admin),
            routes: RouteGrants::all(),
            context: context.into(),
        })
    }

    /// The caller's profile, made the first time they are seen (`None` where this check may
    /// not make it: the Lambda authorizer function).
    async fn profile(&self, owner: &Username) -> Result<Option<User>, AuthError> {
        let unavailable = |e: StoreError| AuthError::Unavailable(e.to_string());
        if let Some(user) = self.store.get_user(owner).await.map_err(unavailable)? {
            return Ok(Some(user));
        }
        if !self.provision {
            return Ok(None);
        }
        let user = User::external(owner.clone());
        match self.store.create_user(&user).await {
            Ok(()) => {
                tracing::info!(owner = %owner, "profile created for an OIDC caller");
                Ok(Some(user))
            }
            // Made by a request of the same caller a moment ago: theirs is the one to use.
            Err(StoreError::AlreadyExists) => self.store.get_user(owner).await.map_err(unavailable),
            Err(e) => Err(unavailable(e)),
        }
    }
}

/// Whether the token is for `audience`: `aud` names it, or, in a token without `aud` (a Cognito
/// access token), `client_id` is it. A token with an `aud` of another API is not ours, whatever
/// its `client_id`.
fn is_for(claims: &Map<String, Value>, audience: &str) -> bool {
    match claims.get("aud") {
        Some(Value::String(aud)) => aud == audience,
        Some(Value::Array(auds)) => auds.iter().any(|aud| aud.as_str() == Some(audience)),
        Some(_) => false,
        None => claims.get("client_id").and_then(Value::as_str) == Some(audience),
    }
}

/// Cognito marks its tokens `id` or `access`; anything else (a refresh token's kin) is refused.
fn is_known_use(claims: &Map<String, Value>) -> bool {
    match claims.get("token_use") {
        None => true,
        Some(value) => matches!(value.as_str(), Some("id" | "access")),
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn the_audience_is_aud_or_else_cognitos_client_id() {
        assert!(is_for(&claims(json!({"aud": "app"})), "app"));
        assert!(is_for(&claims(json!({"aud": ["other", "app"]})), "app"));
        assert!(is_for(&claims(json!({"client_id": "app"})), "app"));
        assert!(!is_for(&claims(json!({"aud": "other"})), "app"));
        assert!(!is_for(
            &claims(json!({"aud": "other", "client_id": "app"})),
            "app"
        ));
        assert!(!is_for(&claims(json!({"aud": 1})), "app"));
        assert!(!is_for(&claims(json!({})), "app"));
    }

    #[test]
    fn only_id_and_access_tokens_are_used() {
        assert!(is_known_use(&claims(json!({}))));
        assert!(is_known_use(&claims(json!({"token_use": "id"}))));
        assert!(is_known_use(&claims(json!({"token_use": "access"}))));
        assert!(!is_known_use(&claims(json!({"token_use": "refresh"}))));
        assert!(!is_known_use(&claims(json!({"token_use": 1}))));
    }
}
