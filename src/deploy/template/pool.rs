//! The Cognito user pool a `cognito` stage without `user_pool_arn` makes, as the seed's task API
//! has it: email as the username, email verified automatically, passwords of at least 10 with
//! upper and lower case and a digit; a hosted sign-in domain; and an app client for the web app
//! (no secret, the authorization-code flow with PKCE, refresh tokens, scopes openid, email and
//! profile).
//!
//! The API function learns the client and the domain from stage variables, not from its
//! environment: the client's callback URL is the stage's own web app, so it names the API, and
//! the API names the function; the function naming the client would close the circle.

use serde_json::{Value, json};

use super::{api_url, arn_of, reference, sub};
use crate::auth::stage_variables as variables;
use crate::config::Stage;

pub const USER_POOL: &str = "UserPool";
const DOMAIN: &str = "UserPoolDomain";
const CLIENT: &str = "UserPoolWebClient";

/// The scopes the gateway asks of a token: one of them, so access tokens from the hosted page
/// and from `aws cognito-idp initiate-auth` both pass, and ID tokens do not.
pub const API_SCOPES: [&str; 2] = ["openid", "aws.cognito.signin.user.admin"];

fn hosted_domain() -> Value {
    sub(&format!(
        "https://${{{DOMAIN}}}.auth.${{AWS::Region}}.amazoncognito.com"
    ))
}

fn issuer() -> Value {
    sub(&format!(
        "https://cognito-idp.${{AWS::Region}}.amazonaws.com/${{{USER_POOL}}}"
    ))
}

pub fn stage_variables() -> Value {
    json!({
        variables::CLIENT_ID: reference(CLIENT),
        variables::DOMAIN: hosted_domain(),
        variables::ISSUER: issuer(),
    })
}

/// The pool, its domain and the web app's client.
pub fn resources(name: &str, stage: &Stage) -> serde_json::Map<String, Value> {
    let auth = &stage.authorizer;
    // Lower case, as domain prefixes must be; the account id makes it unique across accounts.
    let prefix = match &auth.domain_prefix {
        Some(prefix) => json!(prefix),
        None => sub(&format!(
            "checkoff-{}-${{AWS::AccountId}}",
            name.to_ascii_lowercase()
        )),
    };
    // The stage's own web app first, then what the stage adds (a local web app, the CLI).
    let mut callbacks = vec![api_url(name)];
    callbacks.extend(auth.callback_urls.iter().map(|url| json!(url)));
    let mut resources = serde_json::Map::new();
    resources.insert(
        USER_POOL.into(),
        json!({
            "Type": "AWS::Cognito::UserPool",
            // The people outlive the stack, as their todos do.
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "UserPoolName": sub("${AWS::StackName}-users"),
                "UsernameAttributes": ["email"],
                "AutoVerifiedAttributes": ["email"],
                "Policies": {
                    "PasswordPolicy": {
                        "MinimumLength": 10,
                        "RequireUppercase": true,
                        "RequireLowercase": true,
                        "RequireNumbers": true,
                        "RequireSymbols": false,
                    },
                },
                "AccountRecoverySetting": {
                    "RecoveryMechanisms": [{ "Name": "verified_email", "Priority": 1 }],
                },
            },
        }),
    );
    resources.insert(
        DOMAIN.into(),
        json!({
            "Type": "AWS::Cognito::UserPoolDomain",
            "Properties": { "Domain": prefix, "UserPoolId": reference(USER_POOL) },
        }),
    );
    resources.insert(
        CLIENT.into(),
        json!({
            "Type": "AWS::Cognito::UserPoolClient",
            "Properties": {
                "UserPoolId": reference(USER_POOL),
                "ClientName": sub("${AWS::StackName}-web"),
                // A page in a browser keeps no secret: PKCE proves the code is the caller's.
                "GenerateSecret": false,
                // SRP for Amplify-style clients, USER_PASSWORD for `aws cognito-idp
                // initiate-auth` in scripts, as in the seed's walkthrough.
                "ExplicitAuthFlows": [
                    "ALLOW_USER_SRP_AUTH",
                    "ALLOW_USER_PASSWORD_AUTH",
                    "ALLOW_REFRESH_TOKEN_AUTH",
                ],
                "SupportedIdentityProviders": ["COGNITO"],
                "AllowedOAuthFlowsUserPoolClient": true,
                "AllowedOAuthFlows": ["code"],
                "AllowedOAuthScopes": ["openid", "email", "profile"],
                "CallbackURLs": callbacks,
                "LogoutURLs": callbacks,
                "PreventUserExistenceErrors": "ENABLED",
                "EnableTokenRevocation": true,
                "AccessTokenValidity": 60,
                "IdTokenValidity": 60,
                "RefreshTokenValidity": 30,
                "TokenValidityUnits": {
                    "AccessToken": "minutes",
                    "IdToken": "minutes",
                    "RefreshToken": "days",
                },
            },
        }),
    );
    resources
}

pub fn outputs() -> Value {
    json!({
        "UserPoolId": { "Description": "The user pool people sign in to", "Value": reference(USER_POOL) },
        "UserPoolArn": { "Description": "The user pool's ARN", "Value": arn_of(USER_POOL) },
        "UserPoolClientId": {
            "Description": "The web app's client: --client-id of aws cognito-idp sign-up and initiate-auth",
            "Value": reference(CLIENT),
        },
        "UserPoolIssuer": { "Description": "The issuer of the pool's tokens", "Value": issuer() },
        "SignInDomain": { "Description": "The hosted sign-in pages", "Value": hosted_domain() },
    })
}
