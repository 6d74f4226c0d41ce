//! /lists over HTTP: every account's Inbox, lists made, renamed and deleted with their todos,
//! todos put in and moved between lists, and nobody else's list reachable (on both stores).

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_message, status_json};

async fn lists(app: &TestApp, token: &str) -> Vec<Value> {
    let response = app
        .authed(Method::GET, "/lists", token)
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().expect("an array").clone()
}

async fn make_list(app: &TestApp, token: &str, name: &str) -> Value {
    let response = app
        .authed(Method::POST, "/lists", token)
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap();
    let location = response.headers().get("location").cloned();
    let (status, body) = status_json(response).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().unwrap();
    assert_eq!(location.unwrap(), format!("/lists/{id}").as_str());
    body
}

async fn todo_in(app: &TestApp, token: &str, description: &str, list: &str) -> Response {
    app.authed(Method::POST, "/todos", token)
        .json(&json!({ "description": description, "list": list }))
        .send()
        .await
        .unwrap()
}

/// The descriptions `GET /todos{query}` answers, in order.
async fn listed(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let (status, body) = status_json(app.list_todos(token, query).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|t| t["description"].as_str().unwrap().to_owned())
        .collect()
}

fn id(list: &Value) -> &str {
    list["id"].as_str().expect("an id")
}

#[tokio::test]
async fn every_account_has_an_inbox_that_holds_its_todos() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let before = lists(&app, &token).await;
    assert_eq!(before.len(), 1, "{before:?}");
    let inbox = &before[0];
    assert_eq!(inbox["name"], "Inbox");
    assert_eq!(inbox["inbox"], true);
    assert_eq!(inbox["role"], "owner");
    assert_eq!(inbox["owner"], "alice");
    assert_eq!(
        (inbox["open"].as_u64(), inbox["completed"].as_u64()),
        (Some(0), Some(0))
    );

    // A client that knows nothing of lists puts its todos in the Inbox.
    let todo = app.create_todo(&token, "milk").await;
    assert_eq!(todo["list"], inbox["id"]);
    let uid = todo["uid"].as_str().unwrap();
    let done = app
        .authed(Method::PATCH, &format!("/todos/{uid}"), &token)
        .json(&json!({ "state": "completed" }))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    app.create_todo(&token, "bread").await;
    let after = lists(&app, &token).await;
    assert_eq!(
        (after[0]["open"].as_u64(), after[0]["completed"].as_u64()),
        (Some(1), Some(1))
    );
    let one = app
        .authed(Method::GET, &format!("/lists/{}", id(inbox)), &token)
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(one).await;
    assert_eq!((status, &body["name"]), (StatusCode::OK, &json!("Inbox")));
    assert_eq!(
        listed(&app, &token, &format!("?list={}", id(inbox))).await,
        ["milk", "bread"]
    );
}

#[tokio::test]
async fn a_list_is_made_renamed_and_deleted_with_its_todos() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    app.create_todo(&token, "in the inbox").await;
    let groceries = make_list(&app, &token, "  Groceries ").await;
    assert_eq!(groceries["name"], "Groceries");
    assert_eq!(
        (groceries["inbox"].as_bool(), groceries["version"].as_u64()),
        (Some(false), Some(1))
    );
    let list = id(&groceries).to_owned();

    let (status, eggs) = status_json(todo_in(&app, &token, "eggs", &list).await).await;
    assert_eq!(status, StatusCode::CREATED, "{eggs}");
    assert_eq!(eggs["list"], list.as_str());
    let (status, _) = status_json(todo_in(&app, &token, "flour", &list).await).await;
    assert_eq!(status, StatusCode::CREATED);

    // One list pages alone, with the filters it always had; without `list`, every list.
    assert_eq!(
        listed(&app, &token, &format!("?list={list}")).await,
        ["eggs", "flour"]
    );
    assert_eq!(
        listed(&app, &token, &format!("?list={list}&limit=1")).await,
        ["eggs"]
    );
    assert!(
        listed(&app, &token, &format!("?list={list}&state=completed"))
            .await
            .is_empty()
    );
    assert_eq!(
        listed(&app, &token, "").await,
        ["in the inbox", "eggs", "flour"]
    );
    let names: Vec<Value> = lists(&app, &token)
        .await
        .iter()
        .map(|l| l["name"].clone())
        .collect();
    assert_eq!(names, [json!("Inbox"), json!("Groceries")]);
    assert_eq!(lists(&app, &token).await[1]["open"], 2);

    // Renamed on its version only.
    let path = format!("/lists/{list}");
    let rename = |tag: &'static str, name: &'static str| {
        app.authed(Method::PATCH, &path, &token)
            .header("If-Match", tag)
            .json(&json!({ "name": name }))
            .send()
    };
    let renamed = rename("\"1\"", "Shop").await.unwrap();
    assert_eq!(renamed.headers()["etag"], "\"2\"");
    let (status, body) = status_json(renamed).await;
    assert_eq!(
        (status, &body["name"], &body["open"]),
        (StatusCode::OK, &json!("Shop"), &json!(2))
    );
    let stale = rename("\"1\"", "Market").await.unwrap();
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);

    let deleted = app
        .authed(Method::DELETE, &path, &token)
        .header("If-Match", "\"2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(listed(&app, &token, "").await, ["in the inbox"]);
    let eggs_path = format!("/todos/{}", eggs["uid"].as_str().unwrap());
    let gone = app
        .authed(Method::GET, &eggs_path, &token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_message(gone, StatusCode::NOT_FOUND).await,
        "Todo not found"
    );
    let gone = app.authed(Method::GET, &path, &token).send().await.unwrap();
    assert_eq!(
        error_message(gone, StatusCode::NOT_FOUND).await,
        "List not found"
    );
    let again = app
        .authed(Method::DELETE, &path, &token)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    assert_eq!(lists(&app, &token).await.len(), 1);
    let late = todo_in(&app, &token, "late", &list).await;
    assert_eq!(
        error_message(late, StatusCode::NOT_FOUND).await,
        "List not found"
    );
}

#[tokio::test]
async fn the_inbox_keeps_its_name_and_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let inbox = lists(&app, &token).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/lists/{inbox}");
    let renamed = app
        .authed(Method::PATCH, &path, &token)
        .json(&json!({ "name": "Mine" }))
        .send()
        .await
        .unwrap();
    let message = error_message(renamed, StatusCode::CONFLICT).await;
    assert!(message.contains("Inbox"), "{message}");
    let deleted = app
        .authed(Method::DELETE, &path, &token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::CONFLICT);
    assert_eq!(lists(&app, &token).await[0]["name"], "Inbox");
}

#[tokio::test]
async fn todos_move_between_lists_by_an_update() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let inbox = lists(&app, &token).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let work = id(&make_list(&app, &token, "Work").await).to_owned();
    let todo = app.create_todo(&token, "report").await;
    let path = format!("/todos/{}", todo["uid"].as_str().unwrap());
    let moved = |list: String, tag: Option<&'static str>| {
        let request = app
            .authed(Method::PATCH, &path, &token)
            .json(&json!({ "list": list }));
        match tag {
            Some(tag) => request.header("If-Match", tag),
            None => request,
        }
        .send()
    };

    let (status, body) = status_json(moved(work.clone(), Some("\"1\"")).await.unwrap()).await;
    assert_eq!(
        (status, &body["list"], &body["version"]),
        (StatusCode::OK, &json!(work), &json!(2))
    );
    assert_eq!(
        listed(&app, &token, &format!("?list={work}")).await,
        ["report"]
    );
    assert!(
        listed(&app, &token, &format!("?list={inbox}"))
            .await
            .is_empty()
    );
    let stale = moved(inbox.clone(), Some("\"1\"")).await.unwrap();
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);

    // Not to a list that is not there; the todo stays where it was.
    let nowhere = moved(uuid::Uuid::new_v4().to_string(), None).await.unwrap();
    assert_eq!(
        error_message(nowhere, StatusCode::NOT_FOUND).await,
        "List not found"
    );
    let (_, body) = status_json(app.authed(Method::GET, &path, &token).send().await.unwrap()).await;
    assert_eq!((&body["list"], &body["version"]), (&json!(work), &json!(2)));

    let (status, body) = status_json(moved(inbox.clone(), None).await.unwrap()).await;
    assert_eq!((status, &body["list"]), (StatusCode::OK, &json!(inbox)));
    assert_eq!(
        listed(&app, &token, &format!("?list={inbox}")).await,
        ["report"]
    );
}

#[tokio::test]
async fn nobody_else_reaches_a_list_and_it_answers_as_one_that_does_not_exist() {
    let app = TestApp::spawn().await;
    let alice = app.user_token("alice").await;
    let bob = app.user_token("bob").await;
    let list = id(&make_list(&app, &alice, "Secret").await).to_owned();
    let (status, _) = status_json(todo_in(&app, &alice, "plan", &list).await).await;
    assert_eq!(status, StatusCode::CREATED);
    let alices_inbox = lists(&app, &alice).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let missing = uuid::Uuid::new_v4().to_string();

    for target in [&list, &alices_inbox, &missing] {
        let path = format!("/lists/{target}");
        let answers = [
            app.authed(Method::GET, &path, &bob).send().await.unwrap(),
            app.authed(Method::PATCH, &path, &bob)
                .json(&json!({ "name": "Mine" }))
                .send()
                .await
                .unwrap(),
            app.authed(Method::DELETE, &path, &bob)
                .send()
                .await
                .unwrap(),
            app.list_todos(&bob, &format!("?list={target}")).await,
            todo_in(&app, &bob, "sneak", target).await,
        ];
        for answer in answers {
            let url = answer.url().clone();
            let message = error_message(answer, StatusCode::NOT_FOUND).await;
            assert_eq!(message, "List not found", "{url}");
        }
        let bobs = app.create_todo(&bob, "mine").await;
        let moved = app
            .authed(
                Method::PATCH,
                &format!("/todos/{}", bobs["uid"].as_str().unwrap()),
                &bob,
            )
            .json(&json!({ "list": target }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_message(moved, StatusCode::NOT_FOUND).await,
            "List not found"
        );
    }
    // Bob sees only his own Inbox; Alice's list is as she left it.
    let bobs = lists(&app, &bob).await;
    assert_eq!((bobs.len(), &bobs[0]["owner"]), (1, &json!("bob")));
    assert_eq!(
        listed(&app, &alice, &format!("?list={list}")).await,
        ["plan"]
    );
    assert_eq!(lists(&app, &alice).await[1]["name"], "Secret");
}

#[tokio::test]
async fn bad_names_and_ids_get_clear_answers() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    for body in [
        json!({ "name": "" }),
        json!({ "name": "   " }),
        json!({ "name": "a\nb" }),
        json!({ "name": "x".repeat(201) }),
        json!({ "name": 3 }),
        json!({}),
        json!({ "name": "ok", "colour": "red" }),
    ] {
        let made = app
            .authed(Method::POST, "/lists", &token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(made.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    let not_an_id = app
        .authed(Method::GET, "/lists/inbox", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_message(not_an_id, StatusCode::NOT_FOUND).await,
        "List not found"
    );
    let listed = app.list_todos(&token, "?list=inbox").await;
    let message = error_message(listed, StatusCode::BAD_REQUEST).await;
    assert!(message.contains("list"), "{message}");
    // A value of the wrong kind in a body is named by its field.
    let created = todo_in(&app, &token, "x", "inbox").await;
    let message = error_message(created, StatusCode::BAD_REQUEST).await;
    assert!(
        message.starts_with("invalid request body: list: "),
        "{message}"
    );
    assert_eq!(lists(&app, &token).await.len(), 1, "nothing was made");
}

#[tokio::test]
async fn a_deleted_account_takes_its_lists_and_a_new_one_of_the_name_starts_empty() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let list = id(&make_list(&app, &token, "Old").await).to_owned();
    let (status, _) = status_json(todo_in(&app, &token, "old plan", &list).await).await;
    assert_eq!(status, StatusCode::CREATED);
    let deleted = app
        .authed(Method::DELETE, "/users/alice", &token)
        .json(&json!({ "current_password": crate::helpers::PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    let token = app.user_token("alice").await;
    let now = lists(&app, &token).await;
    assert_eq!(now.len(), 1, "{now:?}");
    let old = app
        .authed(Method::GET, &format!("/lists/{list}"), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), StatusCode::NOT_FOUND);
    assert!(listed(&app, &token, "").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_made_with_an_idempotency_key_is_made_once() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let make = |key: &str, name: &str| {
        app.authed(Method::POST, "/lists", &token)
            .header("Idempotency-Key", key)
            .json(&json!({ "name": name }))
            .send()
    };

    // Sent three times at once, then once more: one list, every answer its own.
    let tries: Vec<Response> =
        futures_util::future::join_all((0..3).map(|_| make("trip-1", "Trip")))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
    let mut ids = Vec::new();
    for response in tries
        .into_iter()
        .chain([make("trip-1", "Trip").await.unwrap()])
    {
        let replayed = response.headers().contains_key("idempotent-replayed");
        let location = response.headers().get("location").cloned();
        let (status, body) = status_json(response).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(location.unwrap(), format!("/lists/{}", id(&body)).as_str());
        ids.push((id(&body).to_owned(), replayed));
    }
    assert!(ids.iter().all(|(id, _)| *id == ids[0].0), "{ids:?}");
    assert!(ids.last().unwrap().1, "a retry says it is one");
    let names: Vec<String> = lists(&app, &token)
        .await
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["Inbox", "Trip"]);

    // The same key for another list is refused; another key makes another list.
    let reused = make("trip-1", "Work").await.unwrap();
    let message = error_message(reused, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(message.contains("Idempotency-Key"), "{message}");
    let other = make("trip-2", "Trip").await.unwrap();
    assert_eq!(other.status(), StatusCode::CREATED);
    assert_eq!(lists(&app, &token).await.len(), 3);
    // Another account's same key is its own.
    let bob = app.user_token("bob").await;
    let theirs = app
        .authed(Method::POST, "/lists", &bob)
        .header("Idempotency-Key", "trip-1")
        .json(&json!({ "name": "Trip" }))
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(theirs).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(id(&body), ids[0].0);
    let malformed = make("", "Trip").await.unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
}
