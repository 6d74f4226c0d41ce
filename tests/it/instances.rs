//! Two `checkoff serve` processes on one store (the SQLite file, or one DynamoDB table): what one
//! of them ends, the other refuses at once.

use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::cli::Server;
use crate::helpers::{PASSWORD, dynamodb_endpoint, fresh_dynamo_table, on_dynamodb};

/// Two servers sharing the data dir (and its JWT key) and the store the tests run against.
async fn two_servers(data_dir: &Path) -> Option<(Server, Server)> {
    let env: Vec<(String, String)> = if on_dynamodb() {
        let endpoint = dynamodb_endpoint()?;
        let store = fresh_dynamo_table(&endpoint).await;
        let mut env: Vec<(String, String)> = crate::dynamodb::aws_env(&endpoint)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        env.push(("CHECKOFF_STORE".into(), "dynamodb".into()));
        env.push(("CHECKOFF_TABLE".into(), store.table().to_owned()));
        env
    } else {
        Vec::new()
    };
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Some((
        Server::start_with(data_dir, &env),
        Server::start_with(data_dir, &env),
    ))
}

async fn works(server: &Server, grant: &Value) -> bool {
    let token = grant["token"].as_str().unwrap();
    match server
        .authed(Method::GET, "/todos", token)
        .send()
        .await
        .unwrap()
        .status()
    {
        StatusCode::OK => true,
        StatusCode::UNAUTHORIZED => false,
        other => panic!("unexpected {other}"),
    }
}

async fn refresh(server: &Server, grant: &Value) -> (StatusCode, Value) {
    let response = server
        .request(Method::POST, "/refresh")
        .json(&json!({ "refresh_token": grant["refresh_token"] }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn what_one_instance_ends_the_other_refuses_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let Some((a, b)) = two_servers(dir.path()).await else {
        return;
    };
    let response = a
        .request(Method::POST, "/users")
        .json(&json!({ "username": "alice", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);

    // Log out on one, refused on the other.
    let session = a.login("alice", PASSWORD).await;
    assert!(
        works(&b, &session).await,
        "a token of one works on the other"
    );
    let response = a
        .authed(Method::POST, "/logout", session["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(!works(&b, &session).await, "logged out on a, refused on b");

    // A refresh token replayed on the other instance ends the session there and here.
    let first = a.login("alice", PASSWORD).await;
    let (status, rotated) = refresh(&b, &first).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = refresh(&a, &first).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!works(&b, &rotated).await);
    assert!(!works(&a, &rotated).await);

    // Logging out everywhere on one instance ends the sessions opened on both.
    let on_a = a.login("alice", PASSWORD).await;
    let on_b = b.login("alice", PASSWORD).await;
    let response = b
        .authed(Method::DELETE, "/sessions", on_b["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for server in [&a, &b] {
        assert!(!works(server, &on_a).await);
        assert!(!works(server, &on_b).await);
    }
}

#[tokio::test]
async fn failed_logins_count_across_instances() {
    let dir = tempfile::tempdir().unwrap();
    let Some((a, b)) = two_servers(dir.path()).await else {
        return;
    };
    for name in ["alice", "bob"] {
        let response = a
            .request(Method::POST, "/users")
            .json(&json!({ "username": name, "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let attempt = |server: &Server, name: &str, password: &str| {
        server
            .request(Method::POST, "/login")
            .json(&json!({ "username": name, "password": password }))
            .send()
    };
    // Five wrong passwords for alice, spread over both instances: her allowance.
    for (i, server) in [&a, &b, &a, &b, &a].into_iter().enumerate() {
        let response = attempt(server, "alice", "Wrong1Password").await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    // Locked on both, even with the right password.
    for server in [&a, &b] {
        let response = attempt(server, "alice", PASSWORD).await.unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(response.headers().contains_key("retry-after"));
    }
    // Another name is not blocked.
    let response = attempt(&b, "bob", PASSWORD).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
