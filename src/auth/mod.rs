//! Who is calling and what they may call: the AuthResponse of the source documents
//! (principal, routes, context), produced by an [`Authorizer`].

mod gateway;
mod grants;
mod hash_pool;
mod jwks;
mod jwt;
mod key;
mod oidc;
mod passwords;
mod sign_in;
mod throttle;
mod token_check;
mod tokens;

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::request::Parts;
use serde_json::{Map, Value};

use crate::domain::{Timestamp, Usage, Username};

// Settings of the login throttle (config's) and the stored form of the original sample's
// password records (domain's), named here too, where callers found them.
pub use crate::config::ThrottlePolicy;
pub use crate::domain::legacy_pbkdf2_phc;
pub use gateway::{GatewayAuthorizer, GatewayIdentity, owner_of};
pub use grants::{RouteGrants, RoutePattern};
pub use jwt::{JwtAuthorizer, token_of};
pub use key::{JwtSecret, load_or_create_secret};
pub use oidc::{OIDC_KIND, OidcAuthorizer};
pub use passwords::{PasswordAlgorithm, Passwords, Verdict};
pub use sign_in::{DiscoveredSignIn, SignIn, SignInProvider, stage_variables};
pub use throttle::{LoginThrottle, user_key};
pub use token_check::TokenCheck;
pub use tokens::{IssuedToken, LEEWAY_SECONDS, TokenService};

/// What an authorizer decided about a request.
#[derive(Debug, Clone)]
pub struct Decision {
    /// Who the authorizer says is calling: a user name, an OIDC subject, an IAM ARN.
    /// Shared: the built-in check names the owner, whose name is already shared.
    pub principal: Arc<str>,
    /// Whose data the caller works on.
    pub owner: Username,
    /// When the owner's account was made (its profile's `created_at`): with `owner`, the
    /// account itself, which a later account under the same name is not. `None` only where the
    /// profile is not read (the Lambda authorizer, for an OIDC caller seen for the first time).
    pub account: Option<Timestamp>,
    /// What the account held when its profile was read for this decision: what the
    /// per-account limits are checked against, at no cost of its own.
    pub usage: Usage,
    /// Which authorizer decided, e.g. `builtin` or `oidc`.
    pub authorizer: &'static str,
    pub admin: bool,
    pub routes: RouteGrants,
    /// Facts the authorizer wants handlers to see (token id, expiry, claims).
    /// Shared: the built-in check makes it once per token.
    pub context: Arc<Map<String, Value>>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No credentials: always the same answer.
    #[error("unauthorized")]
    Unauthorized,
    /// A token that proves nothing (bad signature, expired, its user gone): the same answer,
    /// and the client is told the token itself is what to replace (RFC 6750 `invalid_token`).
    #[error("invalid token")]
    InvalidToken,
    /// The authorizer could not reach what it needs to decide (the store, a key set).
    #[error("authorizer unavailable: {0}")]
    Unavailable(String),
}

/// Turns a request into a [`Decision`]. The built-in JWT authorizer is one; OIDC and API Gateway
/// context authorizers are others.
#[async_trait]
pub trait Authorizer: Send + Sync + 'static {
    async fn authorize(&self, request: &Parts) -> Result<Decision, AuthError>;

    /// The decision, when it can be made without waiting (a token whose owner's profile is
    /// kept, or that fails on its own): the common case spared the boxed future of
    /// [`Authorizer::authorize`], which `None` leaves it to.
    fn decide_now(&self, _request: &Parts) -> Option<Result<Decision, AuthError>> {
        None
    }

    /// Whose data the request is for, as far as can be told without the store (a token's
    /// signature and lifetime, API Gateway's word), so that a read of theirs may start beside
    /// [`Authorizer::authorize`] — its answer given only once that agrees. `None`: nothing
    /// starts before the decision.
    fn claimed_owner(&self, _request: &Parts) -> Option<crate::domain::Username> {
        None
    }
}
