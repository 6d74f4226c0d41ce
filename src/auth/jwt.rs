//! The built-in token check: a token from `/login` (or `checkoff tokens issue`) of a user who
//! still exists, whose session has not ended. [`super::TokenCheck`] takes it from the
//! `Authorization` header, raw or as `Bearer <token>`.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::tokens::now_seconds;
use super::{AuthError, Decision, RouteGrants, TokenService};
use crate::domain::Username;
use crate::store::{Store, StoreError, UserStore};

pub struct JwtAuthorizer {
    tokens: Arc<TokenService>,
    store: Arc<dyn UserStore>,
}

impl JwtAuthorizer {
    pub fn new(tokens: Arc<TokenService>, store: Arc<dyn Store>) -> Self {
        Self { tokens, store }
    }
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
    /// The owner a token names, if its signature and lifetime hold (the rest of the check
    /// reads the store: [`JwtAuthorizer::decide`]).
    pub fn claimed_owner(&self, token: &str) -> Option<Username> {
        Some(TokenFacts::of(&*self.tokens.verify(token)?)?.owner.clone())
    }

    /// The decision on one token, wherever it came from (a header here, an API Gateway
    /// authorizer event in the Lambda authorizer).
    pub async fn decide(&self, token: &str) -> Result<Decision, AuthError> {
        let claims = self.tokens.verify(token).ok_or(AuthError::InvalidToken)?;
        let facts = TokenFacts::of(&claims).ok_or(AuthError::InvalidToken)?;
        // A token outlives nothing: once its user is gone, so is its access.
        let user = match self.store.kept_user(&facts.owner) {
            Some(user) => user,
            None => match self.store.get_user(&facts.owner).await {
                Ok(Some(user)) => Arc::new(user),
                Ok(None) => return Err(AuthError::InvalidToken),
                Err(StoreError::Unavailable(why)) => return Err(AuthError::Unavailable(why)),
                Err(e) => return Err(AuthError::Unavailable(e.to_string())),
            },
        };
        admit(&claims, facts, &user)
    }

    /// [`JwtAuthorizer::decide`] when it needs no wait: the owner's profile is kept (or the
    /// token fails on its own). `None`: the profile has to be read.
    pub fn decide_kept(&self, token: &str) -> Option<Result<Decision, AuthError>> {
        let Some(claims) = self.tokens.verify(token) else {
            return Some(Err(AuthError::InvalidToken));
        };
        let Some(facts) = TokenFacts::of(&claims) else {
            return Some(Err(AuthError::InvalidToken));
        };
        let user = self.store.kept_user(&facts.owner)?;
        Some(admit(&claims, facts, &user))
    }
}

/// The decision on a verified token, given its owner's profile as it stands.
fn admit(
    claims: &super::tokens::Claims,
    facts: &TokenFacts,
    user: &crate::domain::User,
) -> Result<Decision, AuthError> {
    // A token of an account deleted, and perhaps made again under the same name, is void.
    if !user.created_at.written_as(&claims.acct) {
        return Err(AuthError::InvalidToken);
    }
    // Its session ended (logout, a revoked API token, a password change, a logout
    // everywhere): the profile just read says so, no further request needed.
    if let Some(sid) = facts.sid {
        if user.revoked.revokes(&sid, now_seconds()) {
            return Err(AuthError::InvalidToken);
        }
        if let Some(generation) = claims.generation
            && !user.revoked.admits_login(&sid, generation)
        {
            return Err(AuthError::InvalidToken);
        }
    }
    Ok(Decision {
        principal: facts.owner.shared(),
        account: Some(user.created_at),
        usage: user.usage,
        owner: facts.owner.clone(),
        authorizer: "builtin",
        admin: user.admin,
        routes: facts.routes.clone(),
        context: Arc::clone(&facts.context),
    })
}

/// What a verified token says besides its signature and lifetime, worked out once and kept
/// with its claims for as long as the token cache keeps them: parsing the name, routes and
/// session and building the context for every request cost ~2 % of a cached list.
#[derive(Debug, Clone)]
pub struct TokenFacts {
    owner: Username,
    routes: RouteGrants,
    sid: Option<uuid::Uuid>,
    /// With the account (`Decision::account`): what the API function behind checkoff's
    /// Lambda authorizer checks again against the profile, as API Gateway keeps this answer
    /// for minutes.
    context: Arc<Map<String, Value>>,
}

impl TokenFacts {
    /// `None` for claims that do not hold together (a bad name, route or session id).
    fn of(claims: &super::tokens::Claims) -> Option<&Self> {
        claims.facts.get_or_init(|| Self::read(claims)).as_ref()
    }

    fn read(claims: &super::tokens::Claims) -> Option<Self> {
        let owner = Username::parse(&claims.sub).ok()?;
        let routes = match &claims.routes {
            None => RouteGrants::all(),
            Some(patterns) => RouteGrants::parse(patterns).ok()?,
        };
        let sid = match claims.sid.as_deref().map(uuid::Uuid::parse_str) {
            Some(Ok(sid)) => Some(sid),
            Some(Err(_)) => return None,
            None => None,
        };
        let mut context = Map::new();
        context.insert("jti".into(), Value::String(claims.jti.clone()));
        context.insert("exp".into(), json!(claims.exp));
        if let Some(sid) = &claims.sid {
            context.insert("sid".into(), Value::String(sid.clone()));
        }
        if let Some(generation) = claims.generation {
            context.insert("gen".into(), json!(generation));
        }
        Some(Self {
            owner,
            routes,
            sid,
            context: Arc::new(context),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_and_bearer_tokens_are_both_read() {
        assert_eq!(token_of("abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(token_of("Bearer abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(token_of("bearer  abc"), Some("abc"));
    }

    #[test]
    fn other_schemes_and_empty_values_carry_no_token() {
        assert_eq!(token_of(""), None);
        assert_eq!(token_of("Bearer "), None);
        assert_eq!(token_of("Basic dXNlcjpwYXNz"), None);
    }
}
