//! /todos: the seed walkthrough, validation, paging, conditional writes and isolation between
//! users.

use std::collections::HashSet;

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, error_message, status_json};

fn uid(todo: &Value) -> String {
    todo["uid"].as_str().unwrap().to_owned()
}

async fn send_json(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Value,
) -> Response {
    app.authed(method, path, token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The `<…>` target of a `Link: <…>; rel="next"` header, if any.
fn next_link(response: &Response) -> Option<String> {
    let link = response.headers().get("link")?.to_str().unwrap().to_owned();
    assert!(link.ends_with(r#">; rel="next""#), "{link}");
    Some(
        link.trim_start_matches('<')
            .split('>')
            .next()
            .unwrap()
            .to_owned(),
    )
}

#[tokio::test]
async fn the_seed_walkthrough_works_end_to_end() {
    let app = TestApp::spawn().await;
    let token = app.user_token("myusername").await;

    let (status, listed) = status_json(app.list_todos(&token, "").await).await;
    assert_eq!((status, listed), (StatusCode::OK, json!([])));

    let created = send_json(
        &app,
        Method::POST,
        "/todos",
        &token,
        json!({"description": "My first Todo", "metadata": {}}),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(created.headers()["etag"], "\"1\"");
    let todo: Value = created.json().await.unwrap();
    assert_eq!(location, format!("/todos/{}", uid(&todo)));
    assert_eq!(todo["state"], "unstarted");
    assert_eq!(todo["username"], "myusername");
    assert_eq!(todo["description"], "My first Todo");

    let (_, listed) = status_json(app.list_todos(&token, "").await).await;
    assert_eq!(listed, json!([todo]));

    let updated = send_json(
        &app,
        Method::PUT,
        &location,
        &token,
        json!({"state": "completed"}),
    )
    .await;
    assert_eq!(updated.status(), StatusCode::OK);
    assert_eq!(updated.headers()["etag"], "\"2\"");
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(updated["state"], "completed");
    assert_eq!(updated["version"], 2);

    let fetched = app
        .authed(Method::GET, &location, &token)
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.headers()["etag"], "\"2\"");
    assert_eq!(fetched.json::<Value>().await.unwrap(), updated);

    let deleted = app
        .authed(Method::DELETE, &location, &token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(deleted.text().await.unwrap().is_empty());
    let gone = app
        .authed(Method::GET, &location, &token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_message(gone, StatusCode::NOT_FOUND).await,
        "Todo not found"
    );
    let again = app
        .authed(Method::DELETE, &location, &token)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_item_has_exactly_the_documented_fields() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let todo = app.create_todo(&token, "  padded  ").await;

    let mut keys: Vec<_> = todo.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "completed_at",
            "created_at",
            "description",
            "due",
            "list",
            "metadata",
            "notes",
            "position",
            "priority",
            "state",
            "title",
            "uid",
            "updated_at",
            "username",
            "version"
        ]
    );
    // A client that sends no planning field gets none.
    for empty in ["title", "notes", "due", "completed_at"] {
        assert_eq!(todo[empty], json!(null), "{empty}");
    }
    assert_eq!(todo["priority"], "none");
    assert!(todo["position"].is_string());
    assert_eq!(todo["description"], "padded");
    assert_eq!(todo["metadata"], json!({}));
    assert_eq!(Uuid::parse_str(&uid(&todo)).unwrap().get_version_num(), 7);
    let created = todo["created_at"].as_str().unwrap();
    assert_eq!(created.len(), "2026-01-01T00:00:00.000Z".len());
    assert!(created.ends_with('Z'));
    assert_eq!(todo["updated_at"], todo["created_at"]);
}

#[tokio::test]
async fn someone_elses_todo_is_not_found_for_every_method() {
    let app = TestApp::spawn().await;
    let alice = app.user_token("alice").await;
    let bob = app.user_token("bob").await;
    let todo = app.create_todo(&alice, "alice's").await;
    let path = format!("/todos/{}", uid(&todo));

    for method in [Method::GET, Method::DELETE] {
        let response = app
            .authed(method.clone(), &path, &bob)
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_message(response, StatusCode::NOT_FOUND).await,
            "Todo not found",
            "{method}"
        );
    }
    for method in [Method::PUT, Method::PATCH] {
        let response = send_json(&app, method, &path, &bob, json!({"state": "completed"})).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    let (_, bobs) = status_json(app.list_todos(&bob, "").await).await;
    assert_eq!(bobs, json!([]));
    let (_, still) =
        status_json(app.authed(Method::GET, &path, &alice).send().await.unwrap()).await;
    assert_eq!(still, todo, "untouched by bob's attempts");
}

#[tokio::test]
async fn a_path_that_is_not_a_uuid_is_not_found() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    for path in ["/todos/123", "/todos/not-a-uuid", "/todos/%FF%FE"] {
        let response = app.authed(Method::GET, path, &token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn invalid_new_todos_are_refused_with_the_reason() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let deep = (0..10).fold(json!(1), |inner, _| json!({ "k": inner }));
    let cases = [
        (json!({}), "missing field `description`"),
        (
            json!({"title": "only a title"}),
            "missing field `description`",
        ),
        (json!({"description": ""}), "description must not be empty"),
        (
            json!({"description": "   "}),
            "description must not be empty",
        ),
        (
            json!({"description": "x".repeat(1001)}),
            "at most 1000 characters",
        ),
        (json!({"description": 5}), "invalid type"),
        (
            json!({"description": "a", "metadata": []}),
            "metadata must be a JSON object",
        ),
        (
            json!({"description": "a", "metadata": "x"}),
            "metadata must be a JSON object",
        ),
        (
            json!({"description": "a", "metadata": deep}),
            "nested at most 8 levels",
        ),
        (
            json!({"description": "a", "metadata": {"k": "x".repeat(17_000)}}),
            "at most 16384 bytes",
        ),
        (
            json!({"description": "a", "state": "completed"}),
            "unknown field `state`",
        ),
        (
            json!({"description": "a", "uid": "mine"}),
            "unknown field `uid`",
        ),
        (json!(["description"]), "request body must be a JSON object"),
    ];
    for (body, expected) in cases {
        let response = send_json(&app, Method::POST, "/todos", &token, body.clone()).await;
        let message = error_message(response, StatusCode::BAD_REQUEST).await;
        assert!(message.contains(expected), "{body}: {message}");
    }
    let (_, listed) = status_json(app.list_todos(&token, "").await).await;
    assert_eq!(listed, json!([]), "nothing was stored");
}

#[tokio::test]
async fn null_metadata_on_create_means_an_empty_object() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let response = send_json(
        &app,
        Method::POST,
        "/todos",
        &token,
        json!({"description": "a", "metadata": null}),
    )
    .await;
    let (status, todo) = status_json(response).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(todo["metadata"], json!({}));
}

#[tokio::test]
async fn invalid_changes_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let todo = app.create_todo(&token, "keep me").await;
    let path = format!("/todos/{}", uid(&todo));
    let cases = [
        (
            json!({"state": "done"}),
            "state must be one of unstarted, started, completed (got \"done\")",
        ),
        (json!({"state": "Completed"}), "state must be one of"),
        (json!({"state": 1}), "invalid type"),
        (json!({"description": ""}), "description must not be empty"),
        (json!({"metadata": [1]}), "metadata must be a JSON object"),
        (json!({"owner": "bob"}), "unknown field `owner`"),
        (json!({}), "nothing to change"),
        (json!({"state": null}), "null is not a value here"),
        (
            json!({"state": null, "description": "x"}),
            "null is not a value here",
        ),
    ];
    for (body, expected) in cases {
        for method in [Method::PUT, Method::PATCH] {
            let response = send_json(&app, method, &path, &token, body.clone()).await;
            let message = error_message(response, StatusCode::BAD_REQUEST).await;
            assert!(message.contains(expected), "{body}: {message}");
        }
    }
    let (_, after) =
        status_json(app.authed(Method::GET, &path, &token).send().await.unwrap()).await;
    assert_eq!(after, todo);
}

#[tokio::test]
async fn put_and_patch_change_only_the_given_fields() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let todo = app.create_todo(&token, "original").await;
    let path = format!("/todos/{}", uid(&todo));

    let (_, started) = status_json(
        send_json(
            &app,
            Method::PATCH,
            &path,
            &token,
            json!({"state": "started"}),
        )
        .await,
    )
    .await;
    assert_eq!(started["description"], "original");
    assert_eq!(started["state"], "started");
    let (_, renamed) = status_json(
        send_json(
            &app,
            Method::PUT,
            &path,
            &token,
            json!({"description": "renamed", "metadata": {"a": 1}}),
        )
        .await,
    )
    .await;
    assert_eq!(renamed["state"], "started");
    assert_eq!(renamed["description"], "renamed");
    assert_eq!(renamed["metadata"], json!({"a": 1}));
    assert_eq!(renamed["version"], 3);
    assert_eq!(renamed["created_at"], todo["created_at"]);
    assert!(renamed["updated_at"].as_str() >= todo["updated_at"].as_str());
}

#[tokio::test]
async fn if_match_guards_updates_and_deletes() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let todo = app.create_todo(&token, "guarded").await;
    let path = format!("/todos/{}", uid(&todo));
    let change = |tag: &'static str, state: &'static str| {
        app.authed(Method::PUT, &path, &token)
            .header("If-Match", tag)
            .json(&json!({ "state": state }))
            .send()
    };

    let ok = change("\"1\"", "started").await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.headers()["etag"], "\"2\"");
    let stale = change("\"1\"", "completed").await.unwrap();
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    error_message(stale, StatusCode::PRECONDITION_FAILED).await;
    assert_eq!(
        change("W/\"2\"", "completed").await.unwrap().status(),
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        change("\"abc\"", "completed").await.unwrap().status(),
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        change("2", "completed").await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        change("*", "completed").await.unwrap().status(),
        StatusCode::OK
    );
    // A list matches when it names the current version (RFC 9110), and not otherwise.
    assert_eq!(
        change("\"7\", W/\"3\", \"3\"", "completed")
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        change("\"1\", \"2\"", "completed").await.unwrap().status(),
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        change("\"1\", 2", "completed").await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );

    let (_, current) =
        status_json(app.authed(Method::GET, &path, &token).send().await.unwrap()).await;
    assert_eq!(
        (current["state"].clone(), current["version"].clone()),
        (json!("completed"), json!(4))
    );

    let delete = |tag: &'static str| {
        app.authed(Method::DELETE, &path, &token)
            .header("If-Match", tag)
            .send()
    };
    assert_eq!(
        delete("\"3\"").await.unwrap().status(),
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        delete("\"2\", \"4\"").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let missing = app
        .authed(Method::PUT, &path, &token)
        .header("If-Match", "*")
        .json(&json!({"state": "started"}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_if_match_that_names_nothing_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let todo = app.create_todo(&token, "guarded").await;
    let path = format!("/todos/{}", uid(&todo));
    let blank = reqwest::header::HeaderValue::from_static("");
    let spaces = reqwest::header::HeaderValue::from_static("   ");
    let not_text = reqwest::header::HeaderValue::from_bytes(b"\"1\xff\"").unwrap();
    let tag = reqwest::header::HeaderValue::from_static("\"1\"");

    for lines in [
        vec![blank.clone()],
        vec![spaces],
        vec![not_text],
        // Several lines are one list: a blank one among them is still a malformed list.
        vec![tag.clone(), blank.clone()],
    ] {
        let mut put = app.authed(Method::PUT, &path, &token);
        let mut delete = app.authed(Method::DELETE, &path, &token);
        for line in &lines {
            put = put.header("If-Match", line.clone());
            delete = delete.header("If-Match", line.clone());
        }
        let put = put
            .json(&json!({ "description": "overwritten" }))
            .send()
            .await
            .unwrap();
        let message = error_message(put, StatusCode::BAD_REQUEST).await;
        assert!(message.contains("If-Match"), "{lines:?}: {message}");
        let delete = delete.send().await.unwrap();
        error_message(delete, StatusCode::BAD_REQUEST).await;
    }

    let (status, current) =
        status_json(app.authed(Method::GET, &path, &token).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (current["description"].clone(), current["version"].clone()),
        (json!("guarded"), json!(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_guarded_updates_let_exactly_one_through() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let todo = app.create_todo(&token, "contested").await;
    let path = format!("/todos/{}", uid(&todo));

    let attempts = (0..12).map(|i| {
        app.authed(Method::PATCH, &path, &token)
            .header("If-Match", "\"1\"")
            .json(&json!({ "description": format!("writer {i}") }))
            .send()
    });
    let statuses: Vec<StatusCode> = futures_join(attempts).await;

    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::PRECONDITION_FAILED)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_updates_of_one_todo_at_once_are_all_made_and_none_is_lost() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let todo = app.create_todo(&token, "busy").await;
    let path = format!("/todos/{}", uid(&todo));

    // More writers than an update's rounds against racers: none may be refused for it.
    const WRITERS: u64 = 40;
    let updates = (0..WRITERS).map(|i| {
        let change = match i % 2 {
            0 => json!({ "state": "completed" }),
            _ => json!({ "metadata": { "writer": i } }),
        };
        app.authed(Method::PATCH, &path, &token)
            .json(&change)
            .send()
    });
    let statuses = futures_join(updates).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );

    let (status, current) =
        status_json(app.authed(Method::GET, &path, &token).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(current["version"], json!(1 + WRITERS), "{current}");
    assert_eq!(current["state"], json!("completed"));
}

async fn futures_join<F>(requests: impl Iterator<Item = F>) -> Vec<StatusCode>
where
    F: std::future::Future<Output = reqwest::Result<Response>> + Send + 'static,
{
    let tasks: Vec<_> = requests.map(tokio::spawn).collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap().unwrap().status());
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_are_all_listed() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let creates = (0..40).map(|i| {
        app.authed(Method::POST, "/todos", &token)
            .json(&json!({ "description": format!("t{i}") }))
            .send()
    });
    let statuses = futures_join(creates).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::CREATED),
        "{statuses:?}"
    );
    let (_, listed) = status_json(app.list_todos(&token, "").await).await;
    assert_eq!(listed.as_array().unwrap().len(), 40);
}

#[tokio::test]
async fn lists_page_with_next_links_until_every_item_is_seen_once_in_order() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(uid(&app.create_todo(&token, &format!("todo {i}")).await));
    }

    let mut seen = Vec::new();
    let mut next = Some("/todos?limit=3".to_owned());
    let mut pages = 0;
    while let Some(path) = next {
        let response = app.authed(Method::GET, &path, &token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        next = next_link(&response);
        let items: Vec<Value> = response.json().await.unwrap();
        assert!(items.len() <= 3);
        seen.extend(items.iter().map(uid));
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created);
}

#[tokio::test]
async fn the_default_page_is_100_items() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    for i in 0..101 {
        app.create_todo(&token, &format!("todo {i}")).await;
    }
    let first = app.list_todos(&token, "").await;
    let next = next_link(&first).expect("a next page");
    assert_eq!(first.json::<Vec<Value>>().await.unwrap().len(), 100);
    let second = app.authed(Method::GET, &next, &token).send().await.unwrap();
    assert!(next_link(&second).is_none());
    assert_eq!(second.json::<Vec<Value>>().await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_state_filter_holds_across_pages() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let mut completed = Vec::new();
    for i in 0..6 {
        let todo = app.create_todo(&token, &format!("todo {i}")).await;
        if i % 2 == 0 {
            send_json(
                &app,
                Method::PUT,
                &format!("/todos/{}", uid(&todo)),
                &token,
                json!({"state": "completed"}),
            )
            .await;
            completed.push(uid(&todo));
        }
    }
    let first = app.list_todos(&token, "?state=completed&limit=2").await;
    let next = next_link(&first).expect("a second page");
    assert!(next.contains("state=completed"), "{next}");
    let mut seen: Vec<String> = first
        .json::<Vec<Value>>()
        .await
        .unwrap()
        .iter()
        .map(uid)
        .collect();
    let second = app.authed(Method::GET, &next, &token).send().await.unwrap();
    let items: Vec<Value> = second.json().await.unwrap();
    assert!(items.iter().all(|t| t["state"] == "completed"));
    seen.extend(items.iter().map(uid));
    assert_eq!(seen, completed);
    let (_, started) = status_json(app.list_todos(&token, "?state=started").await).await;
    assert_eq!(started, json!([]));
}

#[tokio::test]
async fn bad_list_parameters_are_400s() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let cases = [
        (
            "?state=done",
            "state must be one of unstarted, started, completed",
        ),
        ("?limit=0", "limit must be a whole number from 1 to 1000"),
        ("?limit=1001", "limit must be a whole number from 1 to 1000"),
        ("?limit=ten", "limit must be a whole number from 1 to 1000"),
        ("?limit=-1", "limit must be a whole number from 1 to 1000"),
        ("?cursor=nonsense", "cursor is not valid"),
    ];
    for (query, expected) in cases {
        let message =
            error_message(app.list_todos(&token, query).await, StatusCode::BAD_REQUEST).await;
        assert!(message.contains(expected), "{query}: {message}");
    }
    assert_eq!(
        app.list_todos(&token, "?limit=1000").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_cursor_works_only_for_the_caller_and_list_it_came_from() {
    let app = TestApp::spawn().await;
    let alice = app.user_token("alice").await;
    let bob = app.user_token("bob").await;
    for i in 0..3 {
        app.create_todo(&alice, &format!("a{i}")).await;
        app.create_todo(&bob, &format!("b{i}")).await;
    }
    let next = next_link(&app.list_todos(&alice, "?limit=1").await).unwrap();
    let cursor = next.split("cursor=").nth(1).unwrap().to_owned();

    let stolen = app.authed(Method::GET, &next, &bob).send().await.unwrap();
    assert!(
        error_message(stolen, StatusCode::BAD_REQUEST)
            .await
            .contains("cursor is not valid")
    );
    let refiltered = app
        .list_todos(&alice, &format!("?state=completed&cursor={cursor}"))
        .await;
    assert_eq!(refiltered.status(), StatusCode::BAD_REQUEST);
    let mut tampered = cursor.clone();
    tampered.replace_range(0..1, if cursor.starts_with('A') { "B" } else { "A" });
    assert_eq!(
        app.list_todos(&alice, &format!("?cursor={tampered}"))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.authed(Method::GET, &next, &alice)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn item_uids_are_unique_and_ordered_by_creation() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let mut uids = Vec::new();
    for i in 0..20 {
        uids.push(uid(&app.create_todo(&token, &format!("{i}")).await));
    }
    assert_eq!(uids.iter().collect::<HashSet<_>>().len(), 20);
    let mut sorted = uids.clone();
    sorted.sort();
    assert_eq!(sorted, uids);
}

#[tokio::test]
async fn a_list_larger_than_a_megabyte_comes_back_whole() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    // 80 items of ~15 KiB: about 1.2 MB, past the 1 MB a single DynamoDB Query returns.
    let padding = "x".repeat(15 * 1024);
    let mut created = Vec::new();
    for i in 0..80 {
        let body = json!({ "description": format!("big {i}"), "metadata": { "pad": padding } });
        let response = send_json(&app, Method::POST, "/todos", &token, body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        created.push(uid(&response.json().await.unwrap()));
    }

    let whole = app.list_todos(&token, "?limit=1000").await;
    assert!(next_link(&whole).is_none());
    let items: Vec<Value> = whole.json().await.unwrap();
    assert_eq!(items.iter().map(uid).collect::<Vec<_>>(), created);

    let mut seen = Vec::new();
    let mut next = Some("/todos?limit=30".to_owned());
    while let Some(path) = next {
        let response = app.authed(Method::GET, &path, &token).send().await.unwrap();
        next = next_link(&response);
        seen.extend(response.json::<Vec<Value>>().await.unwrap().iter().map(uid));
    }
    assert_eq!(seen, created);
}

#[tokio::test]
async fn control_characters_in_a_description_are_refused_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let todo = app.create_todo(&token, "clean").await;
    let path = format!("/todos/{}", uid(&todo));
    for hostile in [
        "nul\u{0}byte",
        "clear\u{1b}[2Jscreen",
        "del\u{7f}",
        "two\nlines",
    ] {
        let created = send_json(
            &app,
            Method::POST,
            "/todos",
            &token,
            json!({ "description": hostile }),
        )
        .await;
        let message = error_message(created, StatusCode::BAD_REQUEST).await;
        assert!(message.contains("control characters"), "{message}");
        let changed = send_json(
            &app,
            Method::PATCH,
            &path,
            &token,
            json!({ "description": hostile }),
        )
        .await;
        error_message(changed, StatusCode::BAD_REQUEST).await;
    }
    let (_, listed) = status_json(app.list_todos(&token, "").await).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["description"], "clean");
}
