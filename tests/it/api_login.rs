//! POST /login: tokens for the right password, one answer for every wrong one, and throttling.

use std::time::{Duration, Instant};

use checkoff::auth::legacy_pbkdf2_phc;
use checkoff::domain::{Timestamp, User, Username};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, error_message, status_json};

#[tokio::test]
async fn the_right_password_gets_a_short_bearer_token_and_a_refresh_token() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;

    let (status, body) = status_json(app.login("alice", PASSWORD).await).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 15 * 60);
    assert_eq!(body["refresh_expires_in"], 30 * 24 * 3600);
    assert!(body["refresh_token"].as_str().unwrap().len() > 43);
    let token = body["token"].as_str().unwrap();
    assert_eq!(app.list_todos(token, "").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_answer() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;

    let wrong = app.login("alice", "Wrong1Password").await;
    let wrong_body = (wrong.status(), wrong.text().await.unwrap());
    let unknown = app.login("mallory", PASSWORD).await;
    let unknown_body = (unknown.status(), unknown.text().await.unwrap());
    let invalid_name = app.login("not a name!", PASSWORD).await;
    let invalid_body = (invalid_name.status(), invalid_name.text().await.unwrap());

    let expected = (
        StatusCode::UNAUTHORIZED,
        "{\"message\":\"Invalid username or password\"}\n".to_owned(),
    );
    assert_eq!(wrong_body, expected);
    assert_eq!(unknown_body, expected);
    assert_eq!(invalid_body, expected);
}

#[tokio::test]
async fn an_unknown_user_costs_a_password_hash_like_a_known_one() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    app.login("warm-up", PASSWORD).await;

    // The fastest of several each: a shared machine's other work only ever adds time. Taken in
    // turns, so that a busy second slows both names alike. Fewer than the 5 failures that lock
    // a name, so every one is a real password check.
    let (mut known, mut unknown) = (Duration::MAX, Duration::MAX);
    for _ in 0..4 {
        for (name, fastest) in [("alice", &mut known), ("nobody", &mut unknown)] {
            let started = Instant::now();
            app.login(name, "Wrong1Password").await;
            *fastest = (*fastest).min(started.elapsed());
        }
    }

    // Without the dummy hash an unknown user would answer in well under a tenth of the time.
    assert!(
        unknown * 3 > known,
        "unknown {unknown:?} vs known {known:?}"
    );
    assert!(
        known * 3 > unknown,
        "unknown {unknown:?} vs known {known:?}"
    );
}

#[tokio::test]
async fn malformed_login_requests_are_400s_that_say_what_is_wrong() {
    let app = TestApp::spawn().await;
    let cases = [
        (r#"{"username":"alice"}"#, "missing field `password`"),
        (r#"{"password":"x"}"#, "missing field `username`"),
        (
            r#"{"username":"alice","password":"x","extra":1}"#,
            "unknown field `extra`",
        ),
        (
            r#"{"username":"alice","password":""}"#,
            "password must not be empty",
        ),
        (r#"{"username":5,"password":"x"}"#, "invalid type"),
        ("not json", "request body must be a JSON object"),
        (
            r#"{"username": "alice", "#,
            "invalid request body: EOF while parsing",
        ),
        ("", "request body must be a JSON object"),
    ];
    for (body, expected) in cases {
        let response = app
            .request(Method::POST, "/login")
            .body(body)
            .send()
            .await
            .unwrap();
        let message = error_message(response, StatusCode::BAD_REQUEST).await;
        assert!(message.contains(expected), "{body:?}: {message}");
    }
}

#[tokio::test]
async fn repeated_failures_lock_that_username_but_not_another() {
    let app = TestApp::spawn().await;
    app.create_user("bob").await;
    app.create_user("alice").await;

    for _ in 0..5 {
        assert_eq!(
            app.login("bob", "Wrong1Password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let locked = app.login("bob", PASSWORD).await;

    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=5).contains(&retry_after), "Retry-After {retry_after}");
    let message = error_message(locked, StatusCode::TOO_MANY_REQUESTS).await;
    assert!(message.contains("try again later"), "{message}");
    assert_eq!(app.login("alice", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_original_pbkdf2_account_logs_in_and_is_rehashed_to_argon2id() {
    let app = TestApp::spawn().await;
    let salt = [42u8; 32];
    let mut derived = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"mypassword", &salt, 100_000, &mut derived);
    let legacy = User {
        username: Username::parse("myusername").unwrap(),
        password_hash: legacy_pbkdf2_phc("sha256", &salt, 100_000, &derived).unwrap(),
        email: None,
        admin: false,
        created_at: Timestamp::now(),
        revoked: Default::default(),
        usage: Default::default(),
        zone: None,
    };
    app.store.create_user(&legacy).await.unwrap();

    assert_eq!(
        app.login("myusername", "wrongpassword").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("myusername", "mypassword").await.status(),
        StatusCode::OK
    );

    let stored = app.store.get_user(&legacy.username).await.unwrap().unwrap();
    assert!(
        stored.password_hash.starts_with("$argon2id$"),
        "{}",
        stored.password_hash
    );
    assert_eq!(
        app.login("myusername", "mypassword").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login("myusername", "wrongpassword").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn login_answers_json_even_to_a_form_content_type() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let response = app
        .request(Method::POST, "/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(json!({"username": "alice", "password": PASSWORD}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
