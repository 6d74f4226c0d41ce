//! The built-in authorizer: a token from `/login` (or `checkoff tokens issue`) in the
//! `Authorization` header, raw or as `Bearer <token>`, of a user who still exists.

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde_json::{Map, Value, json};

use super::tokens::now_seconds;
use super::{AuthError, Authorizer, Decision, RouteGrants, TokenService};
use crate::domain::Username;
use crate::store::{Store, StoreError};

pub struct JwtAuthorizer {
    tokens: Arc<TokenService>,
    store: Arc<dyn Store>,
}

impl JwtAuthorizer {
    pub fn new(tokens: Arc<TokenService>, store: Arc<dyn Store>) -> Self {
        Self { tokens, store }
    }
}

/// The token from `Authorization: <token>` or `Authorization: Bearer <token>`.
fn bearer_token(parts: &Parts) -> Option<&str> {
    token_of(parts.headers.get(AUTHORIZATION)?.to_str().ok()?)
}

/// The token in an `Authorization` value: bare, or after `Bearer `.
pub fn token_of(value: &str) -> Option<&str> {
    let value = value.trim();
    let token = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        Some(_) => return None,
        None if value.eq_ignore_ascii_case("bearer") => return None,
        None => value,
    };
    (!token.is_empty()).then_some(token)
}

impl JwtAuthorizer {
    /// The decision on one token, wherever it came from (a header here, an API Gateway
    /// authorizer event in the Lambda authorizer).
    pub async fn decide(&self, token: &str) -> Result<Decision, AuthError> {
        let claims = self.tokens.verify(token).ok_or(AuthError::InvalidToken)?;
        let owner = Username::parse(&claims.sub).map_err(|_| AuthError::InvalidToken)?;
        let routes = match &claims.routes {
            None => RouteGrants::all(),
            Some(patterns) => RouteGrants::parse(patterns).map_err(|_| AuthError::InvalidToken)?,
        };
        let sid = match claims.sid.as_deref().map(uuid::Uuid::parse_str) {
            Some(Ok(sid)) => Some(sid),
            Some(Err(_)) => return Err(AuthError::InvalidToken),
            None => None,
        };
        // A token outlives nothing: once its user is gone, so is its access.
        let user = match self.store.get_user(&owner).await {
            // A token of an account deleted, and perhaps made again under the same name, is void.
            Ok(Some(user)) if user.created_at.to_string() == claims.acct => user,
            Ok(_) => return Err(AuthError::InvalidToken),
            Err(StoreError::Unavailable(why)) => return Err(AuthError::Unavailable(why)),
            Err(e) => return Err(AuthError::Unavailable(e.to_string())),
        };
        // Its session ended (logout, a password change, a revoked API token): the profile just
        // read says so, no further request needed.
        if sid.is_some_and(|sid| user.revoked.revokes(&sid, now_seconds())) {
            return Err(AuthError::InvalidToken);
        }
        let mut context = Map::new();
        context.insert("jti".into(), Value::String(claims.jti.clone()));
        context.insert("exp".into(), json!(claims.exp));
        if let Some(sid) = &claims.sid {
            context.insert("sid".into(), Value::String(sid.clone()));
        }
        Ok(Decision {
            principal: owner.to_string(),
            owner,
            authorizer: "builtin",
            admin: user.admin,
            routes,
            context,
        })
    }
}

#[async_trait]
impl Authorizer for JwtAuthorizer {
    async fn authorize(&self, parts: &Parts) -> Result<Decision, AuthError> {
        let token = bearer_token(parts).ok_or(AuthError::Unauthorized)?;
        self.decide(token).await
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    fn parts(header: Option<&str>) -> Parts {
        let mut request = Request::builder().uri("/todos");
        if let Some(value) = header {
            request = request.header(AUTHORIZATION, value);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn raw_and_bearer_tokens_are_both_read() {
        assert_eq!(
            bearer_token(&parts(Some("abc.def.ghi"))),
            Some("abc.def.ghi")
        );
        assert_eq!(
            bearer_token(&parts(Some("Bearer abc.def.ghi"))),
            Some("abc.def.ghi")
        );
        assert_eq!(bearer_token(&parts(Some("bearer  abc"))), Some("abc"));
    }

    #[test]
    fn other_schemes_and_empty_headers_carry_no_token() {
        assert_eq!(bearer_token(&parts(None)), None);
        assert_eq!(bearer_token(&parts(Some(""))), None);
        assert_eq!(bearer_token(&parts(Some("Bearer "))), None);
        assert_eq!(bearer_token(&parts(Some("Basic dXNlcjpwYXNz"))), None);
    }
}
