//! checkoff's token check: its own HS256 tokens, and, when an OIDC issuer is configured, that
//! issuer's RS256/ES256 tokens. The token's header says which check applies; each check then
//! holds it to its own algorithm and keys, so an HS256 token "signed" with the issuer's public
//! key meets checkoff's secret and fails.

use async_trait::async_trait;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jsonwebtoken::Algorithm;

use super::{AuthError, Authorizer, Decision, JwtAuthorizer, OidcAuthorizer, token_of};
use crate::domain::Username;

pub struct TokenCheck {
    builtin: JwtAuthorizer,
    oidc: Option<OidcAuthorizer>,
}

impl TokenCheck {
    pub fn new(builtin: JwtAuthorizer, oidc: Option<OidcAuthorizer>) -> Self {
        Self { builtin, oidc }
    }

    /// The decision on one token, from a header here or an API Gateway authorizer event.
    pub async fn decide(&self, token: &str) -> Result<Decision, AuthError> {
        let Some(oidc) = &self.oidc else {
            return self.builtin.decide(token).await;
        };
        match jsonwebtoken::decode_header(token).map(|header| header.alg) {
            Ok(Algorithm::HS256) => self.builtin.decide(token).await,
            Ok(Algorithm::RS256 | Algorithm::ES256) => oidc.decide(token).await,
            // `none` is no algorithm jsonwebtoken knows, so it lands here with the rest.
            _ => Err(AuthError::InvalidToken),
        }
    }

    /// Whether `token` is one of checkoff's own (HS256), the only kind there is without an
    /// issuer; an undecodable header is not.
    fn is_builtin(&self, token: &str) -> bool {
        self.oidc.is_none()
            || jsonwebtoken::decode_header(token).is_ok_and(|header| header.alg == Algorithm::HS256)
    }
}

/// The token of a request's `Authorization` header.
fn token_in(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(token_of)
}

#[async_trait]
impl Authorizer for TokenCheck {
    async fn authorize(&self, parts: &Parts) -> Result<Decision, AuthError> {
        self.decide(token_in(parts).ok_or(AuthError::Unauthorized)?)
            .await
    }

    /// Only checkoff's own tokens, as for `claimed_owner`: an issuer's may need its key
    /// set fetched, and its profile read.
    fn decide_now(&self, parts: &Parts) -> Option<Result<Decision, AuthError>> {
        let Some(token) = token_in(parts) else {
            return Some(Err(AuthError::Unauthorized));
        };
        self.is_builtin(token)
            .then(|| self.builtin.decide_kept(token))
            .flatten()
    }

    /// Only checkoff's own tokens: an issuer's needs its key set first, perhaps fetched.
    fn claimed_owner(&self, parts: &Parts) -> Option<Username> {
        let token = token_in(parts)?;
        self.is_builtin(token)
            .then(|| self.builtin.claimed_owner(token))
            .flatten()
    }
}
