//! checkoff's token check as an API Gateway Lambda authorizer, like Chalice's built-in
//! authorizers: a TOKEN or REQUEST event in, the IAM policy of the decision out (the principal,
//! every route the token grants as `execute-api` ARNs so API Gateway can cache the answer for all
//! of them, and the context map). A missing or bad token is the error `Unauthorized`, which API
//! Gateway turns into a 401.

use std::collections::HashMap;

use lambda_http::lambda_runtime::{self, Diagnostic, LambdaEvent};
use lambda_http::service_fn;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{AuthError, Decision, TokenCheck, token_of};

pub(super) async fn run(check: TokenCheck) -> Result<(), String> {
    let check = &check;
    let handler = service_fn(move |event: LambdaEvent<AuthorizerEvent>| async move {
        let started = std::time::Instant::now();
        let answer = authorize(check, &event.payload).await;
        tracing::info!(
            request_id = %event.context.request_id,
            kind = %event.payload.kind,
            allowed = answer.is_ok(),
            ms = started.elapsed().as_secs_f64() * 1000.0,
            "authorizer"
        );
        answer
    });
    lambda_runtime::run(handler)
        .await
        .map_err(|e| format!("the Lambda runtime stopped: {e}"))
}

/// The parts of a TOKEN or REQUEST authorizer event that the decision needs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizerEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    authorization_token: Option<String>,
    method_arn: String,
    #[serde(default)]
    headers: Option<HashMap<String, String>>,
}

/// Why no policy: `Unauthorized` exactly, as API Gateway expects, or a failure it answers 500.
#[derive(Debug)]
pub struct Refusal(String);

impl From<Refusal> for Diagnostic {
    fn from(refusal: Refusal) -> Self {
        Diagnostic {
            error_type: "Unauthorized".into(),
            error_message: refusal.0,
        }
    }
}

fn unauthorized() -> Refusal {
    Refusal("Unauthorized".into())
}

async fn authorize(check: &TokenCheck, event: &AuthorizerEvent) -> Result<Value, Refusal> {
    let raw = match event.kind.as_str() {
        "TOKEN" => event.authorization_token.as_deref(),
        "REQUEST" => event.headers.as_ref().and_then(|headers| {
            headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
                .map(|(_, value)| value.as_str())
        }),
        _ => None,
    };
    let token = raw.and_then(token_of).ok_or_else(unauthorized)?;
    let decision = check.decide(token).await.map_err(|e| match e {
        AuthError::Unauthorized | AuthError::InvalidToken => unauthorized(),
        AuthError::Unavailable(why) => {
            tracing::warn!(%why, "authorizer could not decide");
            Refusal("the authorizer could not reach its store".into())
        }
    })?;
    let base = api_base(&event.method_arn).ok_or_else(unauthorized)?;
    Ok(policy(&decision, &base))
}

/// `arn:aws:execute-api:<region>:<account>:<api>/<stage>` of a method ARN
/// (`…/<stage>/<METHOD>/<path>`).
fn api_base(method_arn: &str) -> Option<String> {
    let mut parts = method_arn.splitn(3, '/');
    let api = parts.next().filter(|a| a.starts_with("arn:"))?;
    let stage = parts.next().filter(|s| !s.is_empty())?;
    Some(format!("{api}/{stage}"))
}

/// The IAM policy of a decision: each granted route pattern as an `execute-api` ARN, whose `*`
/// API Gateway matches as our patterns do.
fn policy(decision: &Decision, base: &str) -> Value {
    let resources: Vec<String> = decision
        .routes
        .patterns()
        .iter()
        .map(|pattern| {
            let (method, path) = match pattern.split_once(' ') {
                Some((method, path)) => (method, path),
                None => ("*", pattern.as_str()),
            };
            let path = if path == "*" { "/*" } else { path };
            format!("{base}/{method}{path}")
        })
        .collect();
    // API Gateway takes only flat string, number and boolean values in the context.
    let mut context: serde_json::Map<String, Value> = decision
        .context
        .iter()
        .filter(|(_, v)| v.is_string() || v.is_number() || v.is_boolean())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // The account the token is of: the API function refuses this kept answer once the
    // account is gone, even if its name is taken again.
    if let Some(account) = decision.account {
        context.insert("acct".into(), Value::String(account.to_string()));
    }
    context.insert("admin".into(), Value::Bool(decision.admin));
    context.insert(
        "routes".into(),
        Value::String(decision.routes.patterns().join(",")),
    );
    json!({
        // The owner, which is the principal for checkoff's own tokens and `oidc:<principal>` for
        // an OIDC issuer's: the API function behind reads it as the name the caller owns under.
        "principalId": decision.owner.as_str(),
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{
                "Action": "execute-api:Invoke",
                "Effect": "Allow",
                "Resource": resources,
            }],
        },
        "context": context,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::RouteGrants;
    use crate::domain::Username;

    fn decision(routes: &[&str]) -> Decision {
        Decision {
            principal: "alice".into(),
            owner: Username::parse("alice").unwrap(),
            account: None,
            usage: Default::default(),
            authorizer: "builtin",
            admin: false,
            routes: RouteGrants::parse(routes).unwrap(),
            context: Default::default(),
        }
    }

    #[test]
    fn the_api_and_stage_are_read_off_the_method_arn() {
        assert_eq!(
            api_base("arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/GET/todos/x").unwrap(),
            "arn:aws:execute-api:eu-west-1:123456789012:abc123/dev"
        );
        assert!(api_base("nonsense").is_none());
        assert!(api_base("arn:aws:execute-api:eu-west-1:1:abc").is_none());
    }

    #[test]
    fn granted_routes_become_execute_api_resources() {
        let base = "arn:aws:execute-api:r:1:api/dev";
        let all = policy(&decision(&["*"]), base);
        assert_eq!(
            all["policyDocument"]["Statement"][0]["Resource"],
            json!([format!("{base}/*/*")])
        );
        let some = policy(&decision(&["GET /todos*", "/todos/*"]), base);
        assert_eq!(
            some["policyDocument"]["Statement"][0]["Resource"],
            json!([format!("{base}/GET/todos*"), format!("{base}/*/todos/*")])
        );
        assert_eq!(some["principalId"], "alice");
        assert_eq!(some["context"]["routes"], "GET /todos*,* /todos/*");
    }
}
