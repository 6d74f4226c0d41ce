//! The built-in JWT authorizer: every bad token gets the same 401; scoped tokens get 403 off
//! their routes.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use checkoff::auth::{RouteGrants, TokenService};
use checkoff::domain::Username;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::TestApp;

const UNAUTHORIZED: &str = "{\"message\":\"Unauthorized\"}\n";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The claims of a token for `sub`, whose account was made at `acct`.
fn claims(acct: &str, sub: &str, iat: u64, nbf: u64, exp: u64) -> Value {
    json!({ "sub": sub, "iat": iat, "nbf": nbf, "exp": exp, "jti": "test", "acct": acct })
}

fn sign(app: &TestApp, alg: Algorithm, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(app.secret.bytes()),
    )
    .unwrap()
}

async fn assert_unauthorized(app: &TestApp, authorization: Option<&str>) {
    assert_unauthorized_on(app, "/todos", authorization).await;
}

async fn assert_unauthorized_on(app: &TestApp, path: &str, authorization: Option<&str>) {
    let mut request = app.request(Method::GET, path);
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "{authorization:?}"
    );
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(
        response.text().await.unwrap(),
        UNAUTHORIZED,
        "{authorization:?}"
    );
}

#[tokio::test]
async fn a_token_works_bare_or_as_bearer() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    for value in [
        token.clone(),
        format!("Bearer {token}"),
        format!("bearer {token}"),
    ] {
        let response = app
            .request(Method::GET, "/todos")
            .header("Authorization", value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn missing_or_garbled_credentials_get_the_exact_401() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    assert_unauthorized(&app, None).await;
    for value in [
        "",
        "Bearer",
        "Bearer ",
        "garbage",
        "a.b.c",
        "Basic YWxpY2U6cHc=",
        &format!("Token {token}"),
    ] {
        assert_unauthorized(&app, Some(value)).await;
    }
}

#[tokio::test]
async fn tokens_with_alg_none_or_another_algorithm_are_refused() {
    let app = TestApp::spawn().await;
    app.user_token("alice").await;
    let acct = app.account("alice").await;
    let t = now();
    let body = claims(&acct, "alice", t, t, t + 600);

    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(body.to_string());
    assert_unauthorized(&app, Some(&format!("{header}.{payload}."))).await;
    assert_unauthorized(&app, Some(&sign(&app, Algorithm::HS512, &body))).await;
    assert_unauthorized(&app, Some(&sign(&app, Algorithm::HS384, &body))).await;
    // The control: the same claims under HS256 are accepted.
    let good = sign(&app, Algorithm::HS256, &body);
    assert_eq!(
        app.authed(Method::GET, "/todos", &good)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_refused() {
    let app = TestApp::spawn().await;
    app.user_token("alice").await;
    let acct = app.account("alice").await;
    let t = now();
    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(&acct, "alice", t, t, t + 600),
        &EncodingKey::from_secret(&[7u8; 32]),
    )
    .unwrap();
    assert_unauthorized(&app, Some(&forged)).await;
}

#[tokio::test]
async fn a_tampered_payload_is_refused() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    app.create_user("bob").await;
    let bob = app.account("bob").await;
    let parts: Vec<&str> = token.split('.').collect();
    let t = now();
    let swapped = URL_SAFE_NO_PAD.encode(claims(&bob, "bob", t, t, t + 600).to_string());
    assert_unauthorized(&app, Some(&format!("{}.{swapped}.{}", parts[0], parts[2]))).await;
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_refused() {
    let app = TestApp::spawn().await;
    app.user_token("alice").await;
    let acct = app.account("alice").await;
    let t = now();
    assert_unauthorized(
        &app,
        Some(&sign(
            &app,
            Algorithm::HS256,
            &claims(&acct, "alice", t - 7200, t - 7200, t - 60),
        )),
    )
    .await;
    assert_unauthorized(
        &app,
        Some(&sign(
            &app,
            Algorithm::HS256,
            &claims(&acct, "alice", t, t + 600, t + 1200),
        )),
    )
    .await;
}

#[tokio::test]
async fn tokens_missing_a_required_claim_are_refused() {
    let app = TestApp::spawn().await;
    app.user_token("alice").await;
    let acct = app.account("alice").await;
    let t = now();
    for missing in ["exp", "nbf", "sub", "iat", "jti", "acct"] {
        let mut body = claims(&acct, "alice", t, t, t + 600);
        body.as_object_mut().unwrap().remove(missing);
        assert_unauthorized(&app, Some(&sign(&app, Algorithm::HS256, &body))).await;
    }
}

#[tokio::test]
async fn a_token_of_a_deleted_user_stops_working() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    app.create_todo(&token, "soon gone").await;
    app.store
        .delete_user(&Username::parse("alice").unwrap())
        .await
        .unwrap();
    assert_unauthorized(&app, Some(&token)).await;
}

#[tokio::test]
async fn a_token_dies_with_its_account_even_when_the_name_is_taken_again() {
    let app = TestApp::spawn().await;
    let old = app.user_token("carol").await;
    let carol = Username::parse("carol").unwrap();
    app.store.delete_user(&carol).await.unwrap();
    // Time moves on between the two accounts, as it does between two commands.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let new = app.user_token("carol").await;
    app.create_todo(&new, "the new carol's").await;

    assert_unauthorized(&app, Some(&old)).await;
    assert_unauthorized(&app, Some(&format!("Bearer {old}"))).await;
    let (status, listed) = crate::helpers::status_json(app.list_todos(&new, "").await).await;
    assert_eq!(
        (status, listed.as_array().unwrap().len()),
        (StatusCode::OK, 1)
    );
}

#[tokio::test]
async fn a_token_for_a_user_that_never_existed_is_refused() {
    let app = TestApp::spawn().await;
    let t = now();
    assert_unauthorized(
        &app,
        Some(&sign(
            &app,
            Algorithm::HS256,
            &claims("2026-11-25T10:00:00.000Z", "ghost", t, t, t + 600),
        )),
    )
    .await;
}

#[tokio::test]
async fn a_scoped_token_is_forbidden_off_its_routes() {
    let app = TestApp::spawn().await;
    let full = app.user_token("alice").await;
    let todo = app.create_todo(&full, "read me").await;
    let tokens = TokenService::new(&app.secret, std::time::Duration::from_secs(600));
    let account = app.account_created("alice").await;
    let read_only = tokens
        .issue(
            "alice",
            &account,
            None,
            Some(&RouteGrants::parse(&["GET /todos*"]).unwrap()),
            None,
        )
        .unwrap()
        .token;

    let uid = todo["uid"].as_str().unwrap();
    assert_eq!(
        app.list_todos(&read_only, "").await.status(),
        StatusCode::OK
    );
    let get = app
        .authed(Method::GET, &format!("/todos/{uid}"), &read_only)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::OK);
    let create = app
        .authed(Method::POST, "/todos", &read_only)
        .json(&json!({"description": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(create.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        create.text().await.unwrap(),
        "{\"message\":\"User is not authorized to access this resource\"}\n"
    );
    let delete = app
        .authed(Method::DELETE, &format!("/todos/{uid}"), &read_only)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.list_todos(&full, "")
            .await
            .json::<Vec<Value>>()
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_bad_token_is_named_as_the_problem_in_www_authenticate() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let acct = app.account("alice").await;
    let t = now();
    let expired = sign(
        &app,
        Algorithm::HS256,
        &claims(&acct, "alice", t - 7200, t - 7200, t - 60),
    );
    for (authorization, challenge) in [
        (None, "Bearer"),
        (
            Some(format!("Bearer {expired}")),
            r#"Bearer error="invalid_token""#,
        ),
        (
            Some(format!("Bearer {token}x")),
            r#"Bearer error="invalid_token""#,
        ),
    ] {
        let mut request = app.request(Method::GET, "/todos");
        if let Some(value) = &authorization {
            request = request.header("Authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()["www-authenticate"],
            challenge,
            "{authorization:?}"
        );
        assert_eq!(response.text().await.unwrap(), UNAUTHORIZED);
    }
}

#[tokio::test]
async fn whoami_answers_what_the_authorizer_decided() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let whoami = async |token: &str| {
        let response = app.authed(Method::GET, "/whoami", token).send().await;
        crate::helpers::status_json(response.unwrap()).await
    };
    let (status, me) = whoami(&token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["principal"], "alice");
    assert_eq!(me["owner"], "alice");
    assert_eq!(me["authorizer"], "builtin");
    assert_eq!(me["admin"], false);
    assert_eq!(me["routes"], json!(["*"]));
    assert!(
        me["context"]["jti"].is_string() && me["context"]["exp"].is_u64(),
        "{me}"
    );

    let tokens = TokenService::new(&app.secret, std::time::Duration::from_secs(600));
    let account = app.account_created("alice").await;
    let grants = RouteGrants::parse(&["GET /todos*", "GET /whoami"]).unwrap();
    let scoped = tokens
        .issue("alice", &account, None, Some(&grants), None)
        .unwrap()
        .token;
    let (_, me) = whoami(&scoped).await;
    assert_eq!(me["routes"], json!(["GET /todos*", "GET /whoami"]));
    let elsewhere = RouteGrants::parse(&["GET /todos*"]).unwrap();
    let other = tokens
        .issue("alice", &account, None, Some(&elsewhere), None)
        .unwrap()
        .token;
    let refused = app
        .authed(Method::GET, "/whoami", &other)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_unauthorized_on(&app, "/whoami", None).await;
}
