//! Lists are served again without reading the store while nothing changed (on SQLite): these
//! check that no change, made here or by another process, is ever hidden by that.

use std::sync::Arc;
use std::time::{Duration, Instant};

use checkoff::ServiceSettings;
use checkoff::domain::{Description, Metadata, Todo, Username};
use checkoff::store::{SqliteStore, Store, TodoStore};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, status_json};

async fn listed(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let (status, body) = status_json(app.list_todos(token, query).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().expect("a JSON array").clone()
}

fn descriptions(items: &[Value]) -> Vec<&str> {
    items
        .iter()
        .map(|t| t["description"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn every_change_shows_in_the_next_list_at_once() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let first = app.create_todo(&token, "first").await;
    let uid = first["uid"].as_str().unwrap();
    // Listed twice: the second answer may come from what the first one kept.
    for _ in 0..2 {
        assert_eq!(descriptions(&listed(&app, &token, "").await), ["first"]);
        assert!(listed(&app, &token, "?state=completed").await.is_empty());
    }

    app.create_todo(&token, "second").await;
    assert_eq!(
        descriptions(&listed(&app, &token, "").await),
        ["first", "second"]
    );

    let changed = app
        .authed(Method::PATCH, &format!("/todos/{uid}"), &token)
        .json(&json!({ "state": "completed", "description": "first, done" }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    let all = listed(&app, &token, "").await;
    assert_eq!(descriptions(&all), ["first, done", "second"]);
    assert_eq!(all[0]["state"], "completed");
    assert_eq!(all[0]["version"], 2);
    assert_eq!(
        descriptions(&listed(&app, &token, "?state=completed").await),
        ["first, done"]
    );

    let deleted = app
        .authed(Method::DELETE, &format!("/todos/{uid}"), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(descriptions(&listed(&app, &token, "").await), ["second"]);
    assert!(listed(&app, &token, "?state=completed").await.is_empty());
}

#[tokio::test]
async fn one_users_lists_never_show_in_anothers() {
    let app = TestApp::spawn().await;
    let alice = app.user_token("alice").await;
    let bob = app.user_token("bob").await;
    app.create_todo(&alice, "alice's").await;
    assert_eq!(descriptions(&listed(&app, &alice, "").await), ["alice's"]);
    assert!(listed(&app, &bob, "").await.is_empty());
    app.create_todo(&bob, "bob's").await;
    assert_eq!(descriptions(&listed(&app, &bob, "").await), ["bob's"]);
    assert_eq!(descriptions(&listed(&app, &alice, "").await), ["alice's"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_during_concurrent_writes_end_up_with_every_write() {
    let app = Arc::new(TestApp::spawn().await);
    let token = app.user_token("alice").await;
    let writer = {
        let (app, token) = (Arc::clone(&app), token.clone());
        tokio::spawn(async move {
            for i in 0..30 {
                app.create_todo(&token, &format!("t{i}")).await;
            }
        })
    };
    // Lists race the writes the whole time, so pages are kept and dropped throughout.
    while !writer.is_finished() {
        listed(&app, &token, "").await;
    }
    writer.await.unwrap();
    assert_eq!(listed(&app, &token, "").await.len(), 30);
}

/// A todo written to the service's SQLite file by another connection, as another process would.
async fn add_from_elsewhere(dir: &std::path::Path, owner: &str, description: &str) {
    let elsewhere = SqliteStore::open(dir).unwrap();
    let todo = Todo::new(
        Username::parse(owner).unwrap(),
        Description::parse(description).unwrap(),
        Metadata::default(),
    );
    elsewhere.create_todo(&todo).await.unwrap();
}

async fn spawn_on_sqlite(dir: &std::path::Path, settings: ServiceSettings) -> TestApp {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir).unwrap());
    TestApp::spawn_on(store, dir, settings).await
}

/// The service cannot see another process's writes happen; it notices them in SQLite's file.
#[tokio::test]
async fn a_todo_added_by_another_process_shows_in_lists_soon() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_on_sqlite(dir.path(), ServiceSettings::default()).await;
    let token = app.user_token("alice").await;
    app.create_todo(&token, "mine").await;
    for _ in 0..2 {
        assert_eq!(descriptions(&listed(&app, &token, "").await), ["mine"]);
    }

    add_from_elsewhere(dir.path(), "alice", "from elsewhere").await;
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let items = listed(&app, &token, "").await;
        if descriptions(&items) == ["mine", "from elsewhere"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still not listed after 3 s: {items:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn with_the_list_cache_off_another_process_s_todo_shows_at_the_next_list() {
    let dir = tempfile::tempdir().unwrap();
    let settings = ServiceSettings {
        list_cache_bytes: 0,
        ..ServiceSettings::default()
    };
    let app = spawn_on_sqlite(dir.path(), settings).await;
    let token = app.user_token("alice").await;
    app.create_todo(&token, "mine").await;
    assert_eq!(descriptions(&listed(&app, &token, "").await), ["mine"]);
    add_from_elsewhere(dir.path(), "alice", "from elsewhere").await;
    assert_eq!(
        descriptions(&listed(&app, &token, "").await),
        ["mine", "from elsewhere"]
    );
}
