//! GET /admin/todos: every user's todos by state, oldest first, for administrators only.

use checkoff::domain::Username;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, error_message, status_json};

async fn admin_token(app: &TestApp, name: &str) -> String {
    app.create_user(name).await;
    app.store
        .set_admin(&Username::parse(name).unwrap(), true)
        .await
        .unwrap();
    let (_, body) = status_json(app.login(name, PASSWORD).await).await;
    body["token"].as_str().unwrap().to_owned()
}

/// Every page of `path` (which has a `?`), following `Link: rel="next"`.
async fn all_pages(app: &TestApp, token: &str, path: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut next = Some(path.to_owned());
    while let Some(path) = next.take() {
        let response = app.authed(Method::GET, &path, token).send().await.unwrap();
        next = response.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            l[1..l.find('>').unwrap()].to_owned()
        });
        let (status, page) = status_json(response).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        items.extend(page.as_array().unwrap().iter().cloned());
        pages += 1;
        assert!(pages < 50, "paging does not end");
    }
    (items, pages)
}

async fn set_state(app: &TestApp, token: &str, todo: &Value, state: &str) -> Value {
    let path = format!("/todos/{}", todo["uid"].as_str().unwrap());
    let (status, body) = status_json(
        app.authed(Method::PUT, &path, token)
            .json(&json!({ "state": state }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    body
}

#[tokio::test]
async fn administrators_see_everyones_todos_by_state_oldest_first_in_pages() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app, "root").await;
    let mut made = Vec::new();
    for name in ["ann", "ben", "cat"] {
        let token = app.user_token(name).await;
        for i in 0..4 {
            let todo = app.create_todo(&token, &format!("{name} {i}")).await;
            let todo = match i {
                1 => set_state(&app, &token, &todo, "started").await,
                3 => set_state(&app, &token, &todo, "completed").await,
                _ => todo,
            };
            made.push(todo);
        }
    }
    let in_state = |state: &str| -> Vec<Value> {
        let mut todos: Vec<Value> = made
            .iter()
            .filter(|t| t["state"] == state)
            .cloned()
            .collect();
        todos.sort_by_key(|t| (t["created_at"].to_string(), t["uid"].to_string()));
        todos
    };

    let (unstarted, pages) = all_pages(&app, &admin, "/admin/todos?state=unstarted&limit=2").await;
    assert_eq!(unstarted, in_state("unstarted"));
    assert_eq!(pages, 3);
    let (started, _) = all_pages(&app, &admin, "/admin/todos?state=started&limit=1").await;
    assert_eq!(started, in_state("started"));

    let (everything, _) = all_pages(&app, &admin, "/admin/todos?limit=5").await;
    let mut expected = made.clone();
    expected.sort_by_key(|t| (t["created_at"].to_string(), t["uid"].to_string()));
    assert_eq!(everything, expected);
}

#[tokio::test]
async fn administrators_find_everyones_pending_todos_by_due_date_in_a_zone() {
    let app = TestApp::spawn().await;
    let admin = admin_token(&app, "root").await;
    let mut due_on_the_24th = Vec::new();
    let mut tokens = Vec::new();
    for name in ["ann", "ben"] {
        let token = app.user_token(name).await;
        tokens.push(token.clone());
        for (text, due) in [
            ("the day", json!("2026-12-24")),
            // 23:30 in Berlin on the 24th is 22:30 UTC: the 24th there.
            (
                "late",
                json!({"at": "2026-12-24T23:30", "tz": "Europe/Berlin"}),
            ),
            // 00:30 in Berlin on the 24th is still the 23rd in UTC, but the 24th there.
            (
                "early",
                json!({"at": "2026-12-24T00:30", "tz": "Europe/Berlin"}),
            ),
            ("the day after", json!("2026-12-25")),
            (
                "the day before",
                json!({"at": "2026-12-23T23:59", "tz": "Europe/Berlin"}),
            ),
        ] {
            let made = app
                .authed(Method::POST, "/todos", &token)
                .json(&json!({"description": format!("{name} {text}"), "due": due}))
                .send()
                .await
                .unwrap();
            let made: Value = made.json().await.unwrap();
            if !text.contains("after") && !text.contains("before") {
                due_on_the_24th.push(made);
            }
        }
        let nothing = app.create_todo(&token, &format!("{name} no date")).await;
        assert!(nothing["due"].is_null());
    }
    // One of them is done: no longer pending.
    let done = due_on_the_24th.remove(0);
    set_state(&app, &tokens[0], &done, "completed").await;
    due_on_the_24th.sort_by_key(|t| (t["created_at"].to_string(), t["uid"].to_string()));

    let path = "/admin/todos?state=unstarted&tz=Europe/Berlin&due_after=2026-12-24\
                &due_before=2026-12-25&limit=2";
    let (pending, pages) = all_pages(&app, &admin, path).await;
    assert_eq!(pending, due_on_the_24th);
    assert_eq!(pages, 3, "the bounds are kept from page to page");

    let (everything_due, _) = all_pages(&app, &admin, "/admin/todos?due_after=2026-01-01").await;
    assert_eq!(
        everything_due.len(),
        10,
        "every todo with a due, whatever its state"
    );
    let bad = app
        .authed(Method::GET, "/admin/todos?due_before=tomorrow", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn others_get_403_and_bad_queries_get_400() {
    let app = TestApp::spawn().await;
    let user = app.user_token("ann").await;
    let response = app
        .authed(Method::GET, "/admin/todos?state=unstarted", &user)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_message(response, StatusCode::FORBIDDEN).await,
        "User is not authorized to access this resource"
    );
    let response = app
        .request(Method::GET, "/admin/todos")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let admin = admin_token(&app, "root").await;
    for bad in [
        "/admin/todos?state=done",
        "/admin/todos?limit=0",
        "/admin/todos?cursor=forged",
    ] {
        let response = app.authed(Method::GET, bad, &admin).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    // A cursor of one state's list does not page another state's.
    app.create_todo(&user, "a").await;
    app.create_todo(&user, "b").await;
    let response = app
        .authed(Method::GET, "/admin/todos?state=unstarted&limit=1", &admin)
        .send()
        .await
        .unwrap();
    let link = response.headers()["link"].to_str().unwrap().to_owned();
    let cursor = link
        .split("cursor=")
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap();
    let response = app
        .authed(
            Method::GET,
            &format!("/admin/todos?state=completed&cursor={cursor}"),
            &admin,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}
