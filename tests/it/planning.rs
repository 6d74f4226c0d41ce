//! Planning fields (title, notes, priority, due, position, completed_at), the views and sorts
//! of `GET /todos`, and moving a todo in one's own order: through the store (the same answers
//! from both) and through the API, on whichever store the suite runs on.

use std::sync::Arc;

use checkoff::domain::{
    Change, Description, Due, DueBound, ListAsk, Metadata, Notes, Plan, Position, Priority, Sort,
    Title, Todo, TodoPatch, TodoState, User, Username, View, Zone,
};
use checkoff::store::Store;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::contract::all_pages;
use crate::helpers::{TestApp, error_message, open_store, status_json};

fn name(n: &str) -> Username {
    Username::parse(n).unwrap()
}

fn planned(owner: &str, text: &str, priority: Priority, due: Option<Value>) -> Todo {
    let plan = Plan {
        title: Some(Title::parse(&format!("{text} title")).unwrap()),
        notes: Some(Notes::parse("first line\nsecond line").unwrap()),
        priority,
        due: due.map(|d| Due::parse(&d).unwrap()),
    };
    Todo::planned(
        name(owner),
        Description::parse(text).unwrap(),
        Metadata::default(),
        plan,
    )
}

async fn store_with_user(owner: &str) -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path()).await;
    let user = User::new(name(owner), "$argon2id$x".into(), None, false);
    store.create_user(&user).await.unwrap();
    (store, dir)
}

#[tokio::test]
async fn planning_fields_survive_the_store_and_every_kind_of_change() {
    let (store, _dir) = store_with_user("alice").await;
    let alice = name("alice");
    let due = json!({"at": "2026-12-24T18:00", "tz": "Europe/Berlin"});
    let todo = planned("alice", "buy milk", Priority::High, Some(due));
    store.create_todo(&todo).await.unwrap();
    assert_eq!(
        store.get_todo(&alice, todo.uid).await.unwrap(),
        Some(todo.clone())
    );

    // Set some, remove others, leave the rest.
    let patch = TodoPatch {
        title: Change::Clear,
        notes: Change::Set(Notes::parse("only this").unwrap()),
        due: Change::Set(Due::parse(&json!("2026-12-31")).unwrap()),
        priority: Some(Priority::None),
        ..TodoPatch::default()
    };
    let now = checkoff::domain::Timestamp::now();
    let changed = store
        .update_todo(&alice, todo.uid, &patch, Some(1), now)
        .await
        .unwrap();
    assert_eq!(changed, todo.clone().patched(&patch, now));
    assert_eq!(changed.title, None);
    assert_eq!(
        store.get_todo(&alice, todo.uid).await.unwrap(),
        Some(changed.clone())
    );

    // completed_at follows the state: set on completion, kept while completed, cleared after.
    let complete = TodoPatch::new(None, Some(TodoState::Completed), None).unwrap();
    let done = store
        .update_todo(
            &alice,
            todo.uid,
            &complete,
            None,
            checkoff::domain::Timestamp::now(),
        )
        .await
        .unwrap();
    let completed_at = done.completed_at.expect("completed_at is set");
    let again = store
        .update_todo(
            &alice,
            todo.uid,
            &complete,
            None,
            checkoff::domain::Timestamp::now(),
        )
        .await
        .unwrap();
    assert_eq!(again.completed_at, Some(completed_at));
    let reopen = TodoPatch::new(None, Some(TodoState::Started), None).unwrap();
    let reopened = store
        .update_todo(
            &alice,
            todo.uid,
            &reopen,
            None,
            checkoff::domain::Timestamp::now(),
        )
        .await
        .unwrap();
    assert_eq!(reopened.completed_at, None);
    assert_eq!(
        store.get_todo(&alice, todo.uid).await.unwrap(),
        Some(reopened)
    );

    let at = checkoff::domain::Timestamp::now();
    assert_eq!(store.complete_all(&alice, at).await.unwrap(), 1);
    let all = store.get_todo(&alice, todo.uid).await.unwrap().unwrap();
    assert_eq!(all.completed_at, Some(at));
    // The due (a day now) and notes stayed through the changes of state.
    assert_eq!(all.due, changed.due);
    assert_eq!(all.notes, changed.notes);
}

#[tokio::test]
async fn every_view_and_sort_answers_what_the_query_admits_in_its_order() {
    let (store, _dir) = store_with_user("alice").await;
    let dues = [
        None,
        Some(json!("2026-12-23")),
        Some(json!("2026-12-24")),
        Some(json!("2026-12-25")),
        Some(json!({"at": "2026-12-24T00:30", "tz": "Europe/Berlin"})),
        Some(json!({"at": "2026-12-24T09:00", "tz": "America/New_York"})),
        Some(json!({"at": "2026-12-23T22:00", "tz": "UTC"})),
        None,
    ];
    let mut todos = Vec::new();
    for (i, due) in dues.into_iter().enumerate() {
        let mut todo = planned("alice", &format!("todo {i}"), Priority::ALL[i % 4], due);
        if i == 1 {
            todo.state = TodoState::Completed;
        }
        store.create_todo(&todo).await.unwrap();
        todos.push(todo);
    }
    let now: jiff::Timestamp = "2026-12-24T08:00:00Z".parse().unwrap();
    for zone in ["Europe/Berlin", "America/New_York", "Pacific/Kiritimati"] {
        let zone = Zone::parse(zone).unwrap();
        for view in [
            None,
            Some(View::Today),
            Some(View::Overdue),
            Some(View::Upcoming),
            Some(View::NoDate),
        ] {
            for sort in Sort::ALL {
                let ask = ListAsk {
                    view,
                    sort,
                    ..ListAsk::default()
                };
                let query = ask.query(&zone, now).unwrap();
                let mut expected: Vec<&Todo> = todos.iter().filter(|t| query.admits(t)).collect();
                expected.sort_by_key(|t| (query.key(t), t.uid));
                let expected: Vec<_> = expected.into_iter().map(|t| t.uid).collect();
                for limit in [2, 100] {
                    let listed: Vec<_> = all_pages(&*store, "alice", &query, limit)
                        .await
                        .iter()
                        .map(|t| t.uid)
                        .collect();
                    assert_eq!(listed, expected, "{zone:?} {view:?} {sort:?} by {limit}");
                }
            }
        }
    }
    // Bounds of dates and instants, with a state.
    let ask = ListAsk {
        state: Some(TodoState::Unstarted),
        due_after: Some(DueBound::parse("due_after", "2026-12-24").unwrap()),
        due_before: Some(DueBound::parse("due_before", "2026-12-25T00:00:00Z").unwrap()),
        sort: Sort::Due,
        ..ListAsk::default()
    };
    let query = ask.query(&Zone::utc(), now).unwrap();
    let listed: Vec<_> = all_pages(&*store, "alice", &query, 1).await;
    let texts: Vec<_> = listed.iter().map(|t| t.description.as_str()).collect();
    // 00:30 in Berlin on the 24th is 23:30 UTC on the 23rd: before the bound in UTC.
    assert_eq!(texts, ["todo 2", "todo 5"]);
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Value,
) -> reqwest::Response {
    app.authed(method, path, token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn created(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, todo) = status_json(send(app, Method::POST, "/todos", token, body).await).await;
    assert_eq!(status, StatusCode::CREATED, "{todo}");
    todo
}

fn uids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|t| t["uid"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn planning_fields_through_the_api() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let todo = created(
        &app,
        &token,
        json!({"description": "Buy milk", "title": "Milk", "notes": "2 litres\noat", "priority": "high",
               "due": {"at": "2026-12-24T18:00", "tz": "europe/berlin"}}),
    )
    .await;
    assert_eq!(
        (&todo["description"], &todo["title"]),
        (&json!("Buy milk"), &json!("Milk"))
    );
    assert_eq!(
        todo["due"],
        json!({"at": "2026-12-24T18:00", "tz": "Europe/Berlin", "utc": "2026-12-24T17:00:00Z"})
    );
    assert_eq!(todo["priority"], "high");
    let path = format!("/todos/{}", todo["uid"].as_str().unwrap());

    // null removes, a value sets, what is left out stays.
    let (status, changed) = status_json(
        send(
            &app,
            Method::PATCH,
            &path,
            &token,
            json!({"notes": null, "due": "2026-12-24", "state": "completed"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["notes"], json!(null));
    assert_eq!(changed["due"], "2026-12-24");
    assert_eq!(changed["title"], "Milk");
    assert!(changed["completed_at"].is_string());
    let (_, reopened) = status_json(
        send(
            &app,
            Method::PATCH,
            &path,
            &token,
            json!({"state": "started"}),
        )
        .await,
    )
    .await;
    assert_eq!(reopened["completed_at"], json!(null));

    let refusals = [
        (
            json!({"due": {"at": "2026-03-29T02:30", "tz": "Europe/Berlin"}}),
            "does not exist in Europe/Berlin",
        ),
        (
            json!({"due": {"at": "2026-12-24T18:00", "tz": "Mars/Olympus"}}),
            "not a time zone",
        ),
        (json!({"due": "2026-02-29"}), "no such day"),
        (json!({"priority": "urgent"}), "priority must be one of"),
        (json!({"priority": null}), "null is not a value here"),
        (
            json!({"title": "two\nlines"}),
            "title must not contain control characters",
        ),
    ];
    for (body, expected) in refusals {
        let message = error_message(
            send(&app, Method::PATCH, &path, &token, body.clone()).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(message.contains(expected), "{body}: {message}");
        let mut new = body.clone();
        new["description"] = json!("x");
        if body.get("priority") != Some(&json!(null)) {
            let message = error_message(
                send(&app, Method::POST, "/todos", &token, new).await,
                StatusCode::BAD_REQUEST,
            )
            .await;
            assert!(message.contains(expected), "{body}: {message}");
        }
    }
    let (_, listed) = status_json(app.list_todos(&token, "").await).await;
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "nothing else was stored"
    );
}

#[tokio::test]
async fn views_are_evaluated_in_the_callers_time_zone_and_pages_keep_them() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let zone = Zone::parse("Pacific/Kiritimati").unwrap();
    let samoa = Zone::parse("Pacific/Pago_Pago").unwrap();
    let now = jiff::Timestamp::now();
    // Kiritimati (UTC+14) and Pago Pago (UTC-11) are never on the same day.
    let there = checkoff::domain::write_day(zone.day_at(now));
    let here = checkoff::domain::write_day(samoa.day_at(now));
    assert_ne!(there, here);
    let mut due_there = Vec::new();
    for i in 0..3 {
        let todo = created(
            &app,
            &token,
            json!({"description": format!("there {i}"), "due": there}),
        )
        .await;
        due_there.push(todo["uid"].as_str().unwrap().to_owned());
    }
    let todo = created(&app, &token, json!({"description": "here", "due": here})).await;
    let due_here = todo["uid"].as_str().unwrap().to_owned();
    created(&app, &token, json!({"description": "no date"})).await;

    let (status, today) = status_json(
        app.list_todos(&token, "?view=today&tz=Pacific/Kiritimati")
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(uids(&today), due_there);
    let (_, today) = status_json(
        app.list_todos(&token, "?view=today&tz=Pacific/Pago_Pago")
            .await,
    )
    .await;
    assert_eq!(uids(&today), [due_here.as_str()]);
    let (_, none) = status_json(app.list_todos(&token, "?view=no-date").await).await;
    assert_eq!(none[0]["description"], "no date");

    // Pages of a view keep it (and the zone) in their links.
    let first = app
        .list_todos(&token, "?view=today&tz=Pacific/Kiritimati&sort=due&limit=2")
        .await;
    let link = first.headers()[header::LINK].to_str().unwrap().to_owned();
    assert!(
        link.contains("view=today")
            && link.contains("tz=Pacific/Kiritimati")
            && link.contains("sort=due"),
        "{link}"
    );
    let next = link.trim_start_matches('<').split('>').next().unwrap();
    let (_, rest) = status_json(app.authed(Method::GET, next, &token).send().await.unwrap()).await;
    assert_eq!(uids(&rest), [due_there[2].as_str()]);
    // A cursor works only for the list it came from.
    let cursor = next.split("cursor=").nth(1).unwrap();
    let other = app
        .list_todos(&token, &format!("?view=upcoming&limit=2&cursor={cursor}"))
        .await;
    assert_eq!(other.status(), StatusCode::BAD_REQUEST);

    for (query, expected) in [
        ("?view=soon", "view must be one of"),
        ("?tz=Mars/Olympus", "not a time zone"),
        ("?sort=name", "sort must be one of"),
        ("?due_before=tomorrow", "due_before must be a date"),
    ] {
        let message =
            error_message(app.list_todos(&token, query).await, StatusCode::BAD_REQUEST).await;
        assert!(message.contains(expected), "{query}: {message}");
    }
}

#[tokio::test]
async fn a_todo_moves_before_or_after_another_and_stays_there() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let mut order = Vec::new();
    for i in 0..4 {
        let todo = app.create_todo(&token, &format!("todo {i}")).await;
        order.push(todo["uid"].as_str().unwrap().to_owned());
    }
    let by_position = async || {
        let (_, listed) = status_json(app.list_todos(&token, "?sort=position").await).await;
        uids(&listed)
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(by_position().await, order);
    let move_to = async |uid: &str, body: Value| {
        send(
            &app,
            Method::POST,
            &format!("/todos/{uid}/move"),
            &token,
            body,
        )
        .await
    };
    // The last before the first, then the first after the third.
    let moved = move_to(&order[3], json!({"before": order[0]})).await;
    assert_eq!(moved.status(), StatusCode::OK);
    assert_eq!(
        by_position().await,
        [
            order[3].clone(),
            order[0].clone(),
            order[1].clone(),
            order[2].clone()
        ]
    );
    assert_eq!(
        move_to(&order[0], json!({"after": order[2]}))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        by_position().await,
        [
            order[3].clone(),
            order[1].clone(),
            order[2].clone(),
            order[0].clone()
        ]
    );
    // Back and forth into one gap, many times: the order holds.
    for i in 0..40 {
        let (what, anchor) = if i % 2 == 0 {
            (&order[1], &order[2])
        } else {
            (&order[2], &order[1])
        };
        assert_eq!(
            move_to(what, json!({"after": anchor})).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        by_position().await,
        [
            order[3].clone(),
            order[1].clone(),
            order[2].clone(),
            order[0].clone()
        ]
    );

    let bob = app.user_token("bob").await;
    let bobs = app.create_todo(&bob, "bob's").await;
    let bobs = bobs["uid"].as_str().unwrap();
    let refusals = [
        (order[0].as_str(), json!({}), StatusCode::BAD_REQUEST),
        (
            order[0].as_str(),
            json!({"before": order[1], "after": order[2]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            order[0].as_str(),
            json!({"before": order[0]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            order[0].as_str(),
            json!({"before": bobs}),
            StatusCode::NOT_FOUND,
        ),
        (bobs, json!({"before": order[0]}), StatusCode::NOT_FOUND),
    ];
    for (uid, body, status) in refusals {
        assert_eq!(
            move_to(uid, body.clone()).await.status(),
            status,
            "{uid} {body}"
        );
    }
    assert_eq!(
        by_position().await,
        [
            order[3].clone(),
            order[1].clone(),
            order[2].clone(),
            order[0].clone()
        ]
    );
}

#[tokio::test]
async fn an_order_whose_keys_grew_too_long_is_written_out_afresh_and_the_move_done() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let mut uids = Vec::new();
    for i in 0..3 {
        let todo = app.create_todo(&token, &format!("todo {i}")).await;
        uids.push(uuid::Uuid::parse_str(todo["uid"].as_str().unwrap()).unwrap());
    }
    // The first two as hundreds of moves into one gap would leave them: no key fits between.
    let alice = name("alice");
    for (uid, last) in [(uids[0], '1'), (uids[1], '2')] {
        let key = format!("{}{last}", "1".repeat(Position::MAX_CHARS - 1));
        let patch = TodoPatch {
            position: Some(Position::from_stored(&key).unwrap()),
            ..TodoPatch::default()
        };
        let now = checkoff::domain::Timestamp::now();
        app.store
            .update_todo(&alice, uid, &patch, None, now)
            .await
            .unwrap();
    }
    let path = format!("/todos/{}/move", uids[2]);
    let body = json!({"after": uids[0].to_string()});
    let (status, moved) = status_json(send(&app, Method::POST, &path, &token, body).await).await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    let (_, listed) = status_json(app.list_todos(&token, "?sort=position").await).await;
    let expected: Vec<String> = [uids[0], uids[2], uids[1]]
        .iter()
        .map(|u| u.to_string())
        .collect();
    assert_eq!(uids_of(&listed), expected);
    for todo in listed.as_array().unwrap() {
        assert!(todo["position"].as_str().unwrap().len() < 10, "{todo}");
    }
}

fn uids_of(list: &Value) -> Vec<String> {
    uids(list).into_iter().map(str::to_owned).collect()
}
