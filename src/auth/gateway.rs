//! The caller as API Gateway's authorizer (a Cognito user pool, IAM, checkoff's own Lambda
//! authorizer or a custom one) already decided it. Only the Lambda entry puts a
//! [`GatewayIdentity`] on a request, and only a service configured for a gateway kind reads it.

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::request::Parts;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{AuthError, Authorizer, Decision, RouteGrants};
use crate::config::AuthorizerKind;
use crate::domain::{User, Username};
use crate::store::{Store, StoreError};

/// What API Gateway's request context says about the caller.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GatewayIdentity {
    /// `authorizer.principalId` of a Lambda authorizer.
    pub principal_id: Option<String>,
    /// JWT claims of a Cognito / JWT authorizer.
    pub claims: Map<String, Value>,
    /// The rest of a Lambda authorizer's answer (its `context` map).
    pub context: Map<String, Value>,
    /// `identity.userArn` of an IAM-signed request.
    pub user_arn: Option<String>,
}

pub struct GatewayAuthorizer {
    kind: AuthorizerKind,
    claim: String,
    store: Arc<dyn Store>,
}

impl GatewayAuthorizer {
    pub fn new(kind: AuthorizerKind, claim: String, store: Arc<dyn Store>) -> Self {
        Self { kind, claim, store }
    }

    /// The profile behind `owner`. checkoff's own authorizer vouches only for users who exist;
    /// the others know people checkoff has not seen yet, who get a profile on first sight.
    async fn profile(&self, owner: &Username) -> Result<User, AuthError> {
        let unavailable = |e: StoreError| AuthError::Unavailable(e.to_string());
        if let Some(user) = self.store.get_user(owner).await.map_err(unavailable)? {
            return Ok(user);
        }
        if self.kind == AuthorizerKind::Lambda {
            return Err(AuthError::Unauthorized);
        }
        let user = User::external(owner.clone());
        match self.store.create_user(&user).await {
            Ok(()) => {
                tracing::info!(owner = %owner, "profile created for a caller API Gateway vouched for");
                Ok(user)
            }
            Err(StoreError::AlreadyExists) => Ok(user),
            Err(e) => Err(unavailable(e)),
        }
    }
}

/// The owner of a principal's data: the principal itself when it is a valid username (a user
/// name, a Cognito `sub` or `cognito:username`), else a name derived from its digest (an IAM ARN
/// has `:` and `/`), so two principals never share data.
pub fn owner_of(principal: &str) -> Username {
    Username::parse(principal).unwrap_or_else(|_| {
        let digest = Sha256::digest(principal.as_bytes());
        let hex: String = digest[..20].iter().map(|b| format!("{b:02x}")).collect();
        Username::parse(&format!("p-{hex}")).expect("hex is a valid username")
    })
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

#[async_trait]
impl Authorizer for GatewayAuthorizer {
    async fn authorize(&self, parts: &Parts) -> Result<Decision, AuthError> {
        let identity = parts
            .extensions
            .get::<GatewayIdentity>()
            .ok_or(AuthError::Unauthorized)?;
        let (principal, context) = match self.kind {
            AuthorizerKind::Lambda | AuthorizerKind::Custom => (
                identity.principal_id.clone().filter(|p| !p.is_empty()),
                identity.context.clone(),
            ),
            AuthorizerKind::Cognito => (
                text(identity.claims.get(&self.claim)),
                identity.claims.clone(),
            ),
            AuthorizerKind::Iam => (identity.user_arn.clone(), Map::new()),
            AuthorizerKind::Builtin => (None, Map::new()),
        };
        let principal = principal.ok_or(AuthError::Unauthorized)?;
        let owner = owner_of(&principal);
        let user = self.profile(&owner).await?;
        Ok(Decision {
            principal,
            owner,
            authorizer: self.kind.as_str(),
            admin: user.admin,
            // API Gateway has already held the caller to the routes its authorizer allowed.
            routes: RouteGrants::all(),
            context,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_principal_that_is_a_username_owns_under_its_own_name() {
        assert_eq!(owner_of("alice").as_str(), "alice");
        assert_eq!(
            owner_of("3f1c2b4a-1111-2222-3333-444455556666").as_str(),
            "3f1c2b4a-1111-2222-3333-444455556666"
        );
    }

    #[test]
    fn other_principals_own_under_a_stable_digest_of_their_own() {
        let arn = "arn:aws:iam::123456789012:user/alice";
        let owner = owner_of(arn);
        assert!(owner.as_str().starts_with("p-"));
        assert_eq!(owner, owner_of(arn));
        assert_ne!(owner, owner_of("arn:aws:iam::123456789012:user/alicf"));
    }
}
