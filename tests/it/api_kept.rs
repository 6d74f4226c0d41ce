//! Lists and single todos are served again without reading the store while nothing changed (on
//! SQLite): these check that no change, made here or by another process, is ever hidden by that.

use std::sync::Arc;

use checkoff::ServiceSettings;
use checkoff::domain::{Description, Metadata, Timestamp, Todo, TodoPatch, Username};
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

async fn created_uid(app: &TestApp, token: &str, description: &str) -> String {
    let created = app.create_todo(token, description).await;
    created["uid"].as_str().unwrap().to_owned()
}

/// A todo as `GET /todos/{uid}` answers it: status, `ETag` and body.
async fn got(app: &TestApp, token: &str, uid: &str) -> (StatusCode, String, Value) {
    let answer = app
        .authed(Method::GET, &format!("/todos/{uid}"), token)
        .send()
        .await
        .unwrap();
    let tag = answer
        .headers()
        .get("etag")
        .map_or("", |v| v.to_str().unwrap())
        .to_owned();
    let (status, body) = status_json(answer).await;
    (status, tag, body)
}

#[tokio::test]
async fn every_change_shows_in_the_next_read_of_the_todo_at_once() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let bob = app.user_token("bob").await;
    let uid = created_uid(&app, &token, "first").await;
    // Read twice: the second answer may come from what the first one kept.
    for _ in 0..2 {
        let (status, tag, body) = got(&app, &token, &uid).await;
        assert_eq!((status, tag.as_str()), (StatusCode::OK, "\"1\""));
        assert_eq!(body["description"], "first");
        // Kept for its owner only: anyone else is told there is no such todo.
        assert_eq!(got(&app, &bob, &uid).await.0, StatusCode::NOT_FOUND);
    }

    let changed = app
        .authed(Method::PATCH, &format!("/todos/{uid}"), &token)
        .json(&json!({ "state": "completed" }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    let (_, tag, body) = got(&app, &token, &uid).await;
    assert_eq!(
        (tag.as_str(), &body["state"]),
        ("\"2\"", &json!("completed"))
    );
    // A change to another of the owner's todos leaves this one as it is.
    app.create_todo(&token, "second").await;
    assert_eq!(got(&app, &token, &uid).await.2, body);

    let deleted = app
        .authed(Method::DELETE, &format!("/todos/{uid}"), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(got(&app, &token, &uid).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_todo_changed_by_another_process_reads_changed_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_on_sqlite(dir.path(), ServiceSettings::default()).await;
    let token = app.user_token("alice").await;
    let uid = created_uid(&app, &token, "mine").await;
    for _ in 0..2 {
        assert_eq!(got(&app, &token, &uid).await.1, "\"1\"");
    }

    let elsewhere = SqliteStore::open(dir.path()).unwrap();
    let owner = Username::parse("alice").unwrap();
    let changed = Description::parse("changed elsewhere").unwrap();
    let patch = TodoPatch::new(Some(changed), None, None).unwrap();
    let uid_value = uid.parse().unwrap();
    elsewhere
        .update_todo(&owner, uid_value, &patch, None, Timestamp::now())
        .await
        .unwrap();
    let (_, tag, body) = got(&app, &token, &uid).await;
    assert_eq!(
        (tag.as_str(), &body["description"]),
        ("\"2\"", &json!("changed elsewhere"))
    );

    elsewhere
        .delete_todo(&owner, uid_value, None)
        .await
        .unwrap();
    assert_eq!(got(&app, &token, &uid).await.0, StatusCode::NOT_FOUND);
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

/// The service cannot see another process's writes happen; it notices them in SQLite's file
/// before it serves anything it kept.
#[tokio::test]
async fn a_todo_added_by_another_process_shows_in_the_next_list() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_on_sqlite(dir.path(), ServiceSettings::default()).await;
    let token = app.user_token("alice").await;
    app.create_todo(&token, "mine").await;
    for _ in 0..2 {
        assert_eq!(descriptions(&listed(&app, &token, "").await), ["mine"]);
    }
    add_from_elsewhere(dir.path(), "alice", "from elsewhere").await;
    assert_eq!(
        descriptions(&listed(&app, &token, "").await),
        ["mine", "from elsewhere"]
    );
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
