//! What the web app builds on: bulk actions, list ETags for pollers, the live change stream,
//! and sessions held in an HttpOnly cookie.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Stream, TestApp, error_message, status_json};

async fn set_state(app: &TestApp, token: &str, todo: &Value, state: &str) {
    let path = format!("/todos/{}", todo["uid"].as_str().unwrap());
    let response = app
        .authed(Method::PATCH, &path, token)
        .json(&json!({ "state": state }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

async fn states(app: &TestApp, token: &str) -> Vec<String> {
    let (_, list) = status_json(app.list_todos(token, "").await).await;
    list.as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn mark_all_completed_and_clear_completed_touch_only_the_callers_todos() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let other = app.user_token("bob").await;
    let todos: Vec<Value> =
        futures_util::future::join_all(["a", "b", "c"].map(|d| app.create_todo(&token, d))).await;
    set_state(&app, &token, &todos[1], "started").await;
    set_state(&app, &token, &todos[2], "completed").await;
    app.create_todo(&other, "bob's").await;

    let (status, body) = status_json(
        app.authed(Method::POST, "/todos/complete-all", &token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "changed": 2 })));
    assert_eq!(states(&app, &token).await, ["completed"; 3]);
    assert_eq!(states(&app, &other).await, ["unstarted"]);
    // Each changed item moved on a version, as any update does.
    let (_, list) = status_json(app.list_todos(&token, "").await).await;
    assert_eq!(list[0]["version"], 2);

    let (status, body) = status_json(
        app.authed(Method::DELETE, "/todos?state=completed", &token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "deleted": 3 })));
    assert!(states(&app, &token).await.is_empty());
    assert_eq!(states(&app, &other).await, ["unstarted"]);

    // Only the completed ones can go in bulk.
    for bad in ["/todos", "/todos?state=started", "/todos?state=nonsense"] {
        let response = app
            .authed(Method::DELETE, bad, &token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(states(&app, &other).await, ["unstarted"]);
}

#[tokio::test]
async fn a_poller_gets_304_until_the_list_changes() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    app.create_todo(&token, "one").await;
    let first = app.list_todos(&token, "").await;
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();

    let again = app
        .authed(Method::GET, "/todos", &token)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()["etag"], etag.as_str());

    app.create_todo(&token, "two").await;
    let changed = app
        .authed(Method::GET, "/todos", &token)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert_ne!(changed.headers()["etag"], etag.as_str());
}

#[tokio::test]
async fn changes_made_elsewhere_arrive_live_and_a_reconnect_gets_what_it_missed() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let other = app.user_token("bob").await;
    let mut stream = Stream::open(&app, &token, None).await;

    let started = std::time::Instant::now();
    let todo = app.create_todo(&token, "from another tab").await;
    let (first_id, name, data) = stream.next(Duration::from_secs(2)).await.expect("created");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(name, "created");
    assert_eq!(data, todo);

    // Another user's changes never show.
    app.create_todo(&other, "bob's").await;
    set_state(&app, &token, &todo, "started").await;
    let (_, name, data) = stream.next(Duration::from_secs(2)).await.expect("updated");
    assert_eq!(
        (name.as_str(), data["state"].as_str()),
        ("updated", Some("started"))
    );
    drop(stream);

    // While disconnected: a delete and a bulk action.
    let path = format!("/todos/{}", todo["uid"].as_str().unwrap());
    app.authed(Method::DELETE, &path, &token)
        .send()
        .await
        .unwrap();
    let mut resumed = Stream::open(&app, &token, Some(&first_id)).await;
    let (_, name, _) = resumed
        .next(Duration::from_secs(2))
        .await
        .expect("replayed update");
    assert_eq!(name, "updated");
    let (_, name, data) = resumed
        .next(Duration::from_secs(2))
        .await
        .expect("replayed delete");
    assert_eq!((name.as_str(), &data["uid"]), ("deleted", &todo["uid"]));

    // An id the server cannot resume from: start over.
    let mut lost = Stream::open(&app, &token, Some("00000000-1")).await;
    let (_, name, _) = lost.next(Duration::from_secs(2)).await.expect("reset");
    assert_eq!(name, "reset");
}

#[tokio::test]
async fn a_stream_ends_with_its_token_and_when_the_server_stops() {
    let app = TestApp::spawn_with(checkoff::ServiceSettings {
        token_ttl: Duration::from_secs(2),
        ..checkoff::ServiceSettings::default()
    })
    .await;
    let token = app.user_token("alice").await;
    let mut stream = Stream::open(&app, &token, None).await;
    // The leeway of token checks aside, the stream closes when the token expires.
    assert!(stream.next(Duration::from_secs(5)).await.is_none());
    let started = std::time::Instant::now();
    let token = app.user_token("bob").await;
    let _open = Stream::open(&app, &token, None).await;
    app.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown waited for the stream"
    );
}

#[tokio::test]
async fn a_browser_session_keeps_its_refresh_token_in_an_httponly_cookie() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let login = app
        .request(Method::POST, "/login")
        .header("X-Checkoff-Session", "cookie")
        .json(&json!({ "username": "alice", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/refresh",
        "Max-Age=",
    ] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    let (status, body) = status_json(login).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("refresh_token").is_none(), "{body}");
    let first = cookie.split(';').next().unwrap().to_owned();

    let refresh = |cookie: String| {
        app.request(Method::POST, "/refresh")
            .header("X-Checkoff-Session", "cookie")
            .header("Cookie", cookie)
            .json(&json!({}))
            .send()
    };
    let renewed = refresh(first.clone()).await.unwrap();
    let second = renewed.headers()["set-cookie"].to_str().unwrap().to_owned();
    let (status, body) = status_json(renewed).await;
    assert_eq!(status, StatusCode::OK);
    let token = body["token"].as_str().unwrap().to_owned();
    assert!(body.get("refresh_token").is_none());
    assert_ne!(second.split(';').next().unwrap(), first);

    // The used cookie again: the session ends, and the browser is told to drop the cookie.
    let reused = refresh(first).await.unwrap();
    assert!(
        reused.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        error_message(reused, StatusCode::UNAUTHORIZED).await,
        "Invalid or expired refresh token"
    );
    assert_eq!(
        app.list_todos(&token, "").await.status(),
        StatusCode::UNAUTHORIZED
    );

    // No cookie at all.
    let response = app
        .request(Method::POST, "/refresh")
        .header("X-Checkoff-Session", "cookie")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Logging out clears the cookie.
    let token = app.user_token("bob").await;
    let out = app
        .authed(Method::POST, "/logout", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}

#[tokio::test]
async fn a_change_by_another_process_on_the_sqlite_file_asks_the_stream_to_refetch() {
    if crate::helpers::on_dynamodb() {
        return; // Only SQLite tells a server about other processes' writes.
    }
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_in(dir.path(), checkoff::ServiceSettings::default()).await;
    let token = app.user_token("alice").await;
    let mut stream = Stream::open(&app, &token, None).await;

    // Another connection to the file, as the CLI or a second server would have.
    let elsewhere = checkoff::store::SqliteStore::open(dir.path()).unwrap();
    let todo = checkoff::domain::Todo::new(
        checkoff::domain::Username::parse("alice").unwrap(),
        checkoff::domain::Description::parse("from the CLI").unwrap(),
        checkoff::domain::Metadata::default(),
    );
    checkoff::store::TodoStore::create_todo(&elsewhere, &todo)
        .await
        .unwrap();
    let (_, name, _) = stream.next(Duration::from_secs(2)).await.expect("an event");
    assert_eq!(name, "reset");
}

#[tokio::test]
async fn a_servers_own_writes_arrive_once_and_never_as_a_reset() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let mut stream = Stream::open(&app, &token, None).await;
    let todo = app.create_todo(&token, "mine").await;
    let (_, name, _) = stream.next(Duration::from_secs(2)).await.expect("created");
    assert_eq!(name, "created");
    set_state(&app, &token, &todo, "started").await;
    let (_, name, _) = stream.next(Duration::from_secs(2)).await.expect("updated");
    assert_eq!(name, "updated");
    // Other traffic after the writes, as the next click brings.
    assert_eq!(app.list_todos(&token, "").await.status(), StatusCode::OK);
    assert_eq!(
        stream.next(Duration::from_secs(1)).await,
        None,
        "nothing more: the server's own writes are no change it cannot name"
    );
}

async fn create_with_key(
    app: &TestApp,
    token: &str,
    key: &str,
    description: &str,
) -> reqwest::Response {
    app.authed(Method::POST, "/todos", token)
        .header("Idempotency-Key", key)
        .json(&json!({ "description": description }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_retried_create_with_its_idempotency_key_creates_nothing_more() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let first = create_with_key(&app, &token, "order-1", "buy milk").await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let location = first.headers()["location"].clone();
    let first: Value = first.json().await.unwrap();

    let again = create_with_key(&app, &token, "order-1", "buy milk").await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["location"], location);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first);

    // The same key with another body: refused, nothing made.
    let other = create_with_key(&app, &token, "order-1", "buy bread").await;
    let message = error_message(other, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(message.contains("Idempotency-Key"), "{message}");
    // Keys are per caller.
    let bob = app.user_token("bob").await;
    assert_eq!(
        create_with_key(&app, &bob, "order-1", "buy milk")
            .await
            .status(),
        StatusCode::CREATED
    );
    // Racing retries: one todo.
    let racing = futures_util::future::join_all(
        (0..5).map(|_| create_with_key(&app, &token, "order-2", "once")),
    )
    .await;
    let uids: std::collections::HashSet<String> =
        futures_util::future::join_all(racing.into_iter().map(|r| async move {
            assert_eq!(r.status(), StatusCode::CREATED);
            r.json::<Value>().await.unwrap()["uid"]
                .as_str()
                .unwrap()
                .to_owned()
        }))
        .await
        .into_iter()
        .collect();
    assert_eq!(uids.len(), 1);
    let (_, list) = status_json(app.list_todos(&token, "").await).await;
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");

    for bad in ["", &"k".repeat(256), "with space", "ключ"] {
        let response = app
            .authed(Method::POST, "/todos", &token)
            .header("Idempotency-Key", bad.as_bytes())
            .json(&json!({ "description": "x" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad:?}");
    }
}

#[tokio::test]
async fn a_retried_bulk_action_gets_its_first_answer() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    app.create_todo(&token, "a").await;
    app.create_todo(&token, "b").await;
    let complete = || {
        app.authed(Method::POST, "/todos/complete-all", &token)
            .header("Idempotency-Key", "all-done")
            .send()
    };
    let (status, first) = status_json(complete().await.unwrap()).await;
    assert_eq!(
        (status, first.clone()),
        (StatusCode::OK, json!({ "changed": 2 }))
    );
    let again = complete().await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let clear = app
        .authed(Method::DELETE, "/todos?state=completed", &token)
        .header("Idempotency-Key", "all-done")
        .send()
        .await
        .unwrap();
    assert_eq!(clear.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A create under the bulk action's key: refused as another request (it was a 500, found by
    // schemathesis: the kept answer was read as a todo before its request was compared).
    let create = create_with_key(&app, &token, "all-done", "c").await;
    assert_eq!(create.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
