//! The caller as API Gateway's authorizer (a Cognito user pool, IAM, checkoff's own Lambda
//! authorizer or a custom one) already decided it. Only the Lambda entry puts a
//! [`GatewayIdentity`] on a request, and only a service configured for a gateway kind reads it.

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::request::Parts;
use serde_json::{Map, Value};

use super::tokens::{LEEWAY_SECONDS, now_seconds};
use super::{AuthError, Authorizer, Decision, OIDC_KIND, RouteGrants};
use crate::config::AuthorizerKind;
use crate::domain::{User, Username};
use crate::store::{Store, StoreError, UserStore};

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
    store: Arc<dyn UserStore>,
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
        if self.kind == AuthorizerKind::Lambda && !is_oidc_owner(owner.as_str()) {
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

/// The owner of a principal's data. checkoff's own authorizer vouches for checkoff's users, who
/// own under their names. Every other kind vouches for people checkoff does not know: they own
/// under a name of their own kind (`cognito:carol`), which no account with a password can have,
/// so an outside identity never lands on a local account (nor on another kind's caller).
/// checkoff's Lambda authorizer also vouches for the callers of an OIDC issuer it checked, and
/// names them by their owner (`oidc:…`).
pub fn owner_of(kind: AuthorizerKind, principal: &str) -> Option<Username> {
    match kind {
        AuthorizerKind::Lambda if is_oidc_owner(principal) => Username::parse(principal).ok(),
        AuthorizerKind::Lambda | AuthorizerKind::Builtin => Username::parse_account(principal).ok(),
        AuthorizerKind::Iam => Some(Username::external(kind.as_str(), &iam_identity(principal))),
        _ => Some(Username::external(kind.as_str(), principal)),
    }
}

fn is_oidc_owner(name: &str) -> bool {
    name.strip_prefix(OIDC_KIND)
        .is_some_and(|rest| rest.starts_with(':'))
}

/// An assumed role's caller is the role, not the session: `arn:aws:sts::<account>:assumed-role/
/// <role>/<session>` is `arn:aws:iam::<account>:role/<role>`, so a caller's todos do not vanish
/// with each new session.
fn iam_identity(arn: &str) -> String {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if let [prefix, partition, "sts", "", account, resource] = parts.as_slice()
        && let Some(rest) = resource.strip_prefix("assumed-role/")
        && let Some((role, _session)) = rest.split_once('/')
    {
        return format!("{prefix}:{partition}:iam::{account}:role/{role}");
    }
    arn.to_owned()
}

/// Whether the answer of checkoff's Lambda authorizer, which API Gateway keeps for minutes,
/// still holds for the profile read now: the token has not expired, its account is this one
/// (not one deleted and made again under the name), and its session has not ended. What the
/// authorizer saw is in its context (`exp`, `acct`, `sid`, `gen`), a context API Gateway may
/// pass on with every value as text.
fn still_holds(context: &Map<String, Value>, user: &User, now: u64) -> bool {
    let number = |name: &str| match context.get(name) {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    let Some(exp) = number("exp") else {
        return false;
    };
    if exp + LEEWAY_SECONDS <= now {
        return false;
    }
    // An OIDC issuer's caller has no account stamp or session of checkoff's.
    if is_oidc_owner(user.username.as_str()) {
        return true;
    }
    if text(context.get("acct")) != Some(user.created_at.to_string()) {
        return false;
    }
    let sid = match context.get("sid") {
        None => None,
        Some(value) => match text(Some(value)).and_then(|s| uuid::Uuid::try_parse(&s).ok()) {
            Some(sid) => Some(sid),
            None => return false,
        },
    };
    match (sid, number("gen")) {
        (Some(sid), generation) => {
            !user.revoked.revokes(&sid, now)
                && generation.is_none_or(|g| user.revoked.admits_login(&sid, g))
        }
        (None, _) => true,
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

impl GatewayAuthorizer {
    /// The caller API Gateway vouches for: their principal, the authorizer's context and the
    /// owner they act as.
    fn vouched(&self, parts: &Parts) -> Result<(String, Map<String, Value>, Username), AuthError> {
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
        let owner = owner_of(self.kind, &principal).ok_or(AuthError::Unauthorized)?;
        Ok((principal, context, owner))
    }
}

#[async_trait]
impl Authorizer for GatewayAuthorizer {
    async fn authorize(&self, parts: &Parts) -> Result<Decision, AuthError> {
        let (principal, context, owner) = self.vouched(parts)?;
        let user = self.profile(&owner).await?;
        if self.kind == AuthorizerKind::Lambda && !still_holds(&context, &user, now_seconds()) {
            return Err(AuthError::InvalidToken);
        }
        Ok(Decision {
            principal: principal.into(),
            account: Some(user.created_at),
            usage: user.usage,
            owner,
            authorizer: self.kind.as_str(),
            admin: user.admin,
            // API Gateway has already held the caller to the routes its authorizer allowed.
            routes: RouteGrants::all(),
            context: context.into(),
        })
    }

    fn claimed_owner(&self, parts: &Parts) -> Option<Username> {
        self.vouched(parts).ok().map(|(_, _, owner)| owner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkoffs_own_authorizer_vouches_for_accounts_by_name() {
        let owner = owner_of(AuthorizerKind::Lambda, "alice").unwrap();
        assert_eq!(owner.as_str(), "alice");
        assert!(owner_of(AuthorizerKind::Lambda, "cognito:alice").is_none());
    }

    #[test]
    fn checkoffs_own_authorizer_vouches_for_oidc_callers_by_their_owner() {
        let owner = Username::external(OIDC_KIND, "carol");
        assert_eq!(
            owner_of(AuthorizerKind::Lambda, owner.as_str()),
            Some(owner)
        );
        assert!(owner_of(AuthorizerKind::Lambda, "oidcx:carol").is_none());
        assert!(owner_of(AuthorizerKind::Builtin, "oidc:carol").is_none());
    }

    #[test]
    fn outside_callers_never_own_under_an_accounts_name() {
        for kind in [
            AuthorizerKind::Cognito,
            AuthorizerKind::Custom,
            AuthorizerKind::Iam,
        ] {
            let owner = owner_of(kind, "admin").unwrap();
            assert_ne!(owner.as_str(), "admin");
            assert!(owner.as_str().starts_with(kind.as_str()), "{owner}");
        }
        assert_ne!(
            owner_of(AuthorizerKind::Cognito, "x"),
            owner_of(AuthorizerKind::Custom, "x")
        );
    }

    #[test]
    fn an_assumed_roles_sessions_are_one_caller() {
        let session = |name: &str| {
            owner_of(
                AuthorizerKind::Iam,
                &format!("arn:aws:sts::123456789012:assumed-role/Deploy/{name}"),
            )
        };
        assert_eq!(session("one"), session("two"));
        assert_eq!(
            session("one"),
            owner_of(AuthorizerKind::Iam, "arn:aws:iam::123456789012:role/Deploy")
        );
        let user = owner_of(AuthorizerKind::Iam, "arn:aws:iam::123456789012:user/alice");
        assert_ne!(session("one"), user);
    }
}
