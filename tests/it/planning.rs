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

#[tokio::test]
async fn the_order_reads_both_ways_from_a_todo_and_repositions_all_or_nothing() {
    let (store, _dir) = store_with_user("alice").await;
    let alice = name("alice");
    let mut todos = Vec::new();
    for i in 0..4 {
        let todo = planned("alice", &format!("todo {i}"), Priority::None, None);
        store.create_todo(&todo).await.unwrap();
        todos.push(todo);
    }
    let uids = |list: Vec<Todo>| list.into_iter().map(|t| t.uid).collect::<Vec<_>>();
    let before = store
        .todos_beside(&alice, &todos[2], true, 5)
        .await
        .unwrap();
    assert_eq!(uids(before), [todos[1].uid, todos[0].uid], "nearest first");
    let after = store
        .todos_beside(&alice, &todos[1], false, 1)
        .await
        .unwrap();
    assert_eq!(uids(after), [todos[2].uid]);
    let last = store
        .todos_beside(&alice, &todos[3], false, 5)
        .await
        .unwrap();
    assert!(last.is_empty());

    let place = |todo: &Todo, key: &str, version: u64| checkoff::store::Placement {
        uid: todo.uid,
        version,
        position: Position::from_stored(key).unwrap(),
        list: todo.list,
    };
    let now = checkoff::domain::Timestamp::now();
    // One of them read at a version it is no longer at: neither is written.
    let stale = [place(&todos[0], "y", 1), place(&todos[1], "z", 7)];
    let refused = store.reposition_todos(&alice, &stale, now).await;
    assert!(
        matches!(refused, Err(checkoff::store::StoreError::Changed)),
        "{refused:?}"
    );
    let first = store.get_todo(&alice, todos[0].uid).await.unwrap().unwrap();
    assert_eq!((first.version, &first.position), (1, &todos[0].position));
    // A todo that is gone refuses the same way.
    let gone = [
        place(&todos[0], "y", 1),
        place(&planned("alice", "x", Priority::None, None), "z", 1),
    ];
    let refused = store.reposition_todos(&alice, &gone, now).await;
    assert!(matches!(refused, Err(checkoff::store::StoreError::Changed)));

    let moves = [place(&todos[0], "y", 1), place(&todos[1], "z", 1)];
    store.reposition_todos(&alice, &moves, now).await.unwrap();
    let query = checkoff::domain::TodoQuery {
        sort: Sort::Position,
        ..Default::default()
    };
    let order = all_pages(&*store, "alice", &query, 10).await;
    let expected = [todos[2].uid, todos[3].uid, todos[0].uid, todos[1].uid];
    assert_eq!(uids(order.clone()), expected);
    let moved = order.iter().find(|t| t.uid == todos[1].uid).unwrap();
    assert_eq!((moved.version, moved.updated_at), (2, now));
}

#[tokio::test]
async fn a_crowded_gap_is_respaced_in_one_write_and_the_rest_of_the_order_keeps_its_keys() {
    // One write a second: a move that respaces many todos is still one write.
    let settings = checkoff::config::ServiceSettings {
        quota: checkoff::config::Quota {
            todos: 0,
            bytes: 0,
            writes_per_second: 1,
        },
        ..Default::default()
    };
    let app = TestApp::spawn_with(settings).await;
    let token = app.user_token("alice").await;
    let alice = name("alice");
    let mut todos = Vec::new();
    for i in 0..8 {
        let todo = planned("alice", &format!("todo {i}"), Priority::None, None);
        app.store.create_todo(&todo).await.unwrap();
        todos.push(todo);
    }
    // Todos 2 to 5 as a thousand moves into the gap after todo 1 would leave them.
    let base = todos[1].position.as_str().to_owned();
    for (i, todo) in todos[2..6].iter().enumerate() {
        let key = format!("{base}{}1", "0".repeat(199 - base.len() - i));
        let patch = TodoPatch {
            position: Some(Position::from_stored(&key).unwrap()),
            ..TodoPatch::default()
        };
        let now = checkoff::domain::Timestamp::now();
        app.store
            .update_todo(&alice, todo.uid, &patch, None, now)
            .await
            .unwrap();
    }
    let query = checkoff::domain::TodoQuery {
        sort: Sort::Position,
        ..Default::default()
    };
    let before = all_pages(&*app.store, "alice", &query, 100).await;
    assert!(Position::between(Some(&before[1].position), Some(&before[2].position)).is_none());

    // Todo 7 goes between todos 1 and 2: no key fits there.
    let path = format!("/todos/{}/move", todos[7].uid);
    let body = json!({"before": todos[2].uid.to_string()});
    let (status, moved) = status_json(send(&app, Method::POST, &path, &token, body).await).await;
    assert_eq!(status, StatusCode::OK, "{moved}");

    let after = all_pages(&*app.store, "alice", &query, 100).await;
    let order: Vec<_> = after.iter().map(|t| t.uid).collect();
    let expected: Vec<_> = [0, 1, 7, 2, 3, 4, 5, 6]
        .iter()
        .map(|&i| todos[i].uid)
        .collect();
    assert_eq!(order, expected);
    for todo in &after {
        let was = before.iter().find(|t| t.uid == todo.uid).unwrap();
        if todo.position == was.position {
            assert_eq!(
                todo.version, was.version,
                "unchanged keys keep their version"
            );
        } else {
            assert_eq!(todo.version, was.version + 1, "a new key is a new version");
            assert!(todo.position.as_str().len() <= Position::MAX_CHARS / 2);
        }
    }
    // Only the stretch around the gap was written: the ends of the order kept their keys.
    assert_eq!(after[0].position, todos[0].position);
    assert_eq!(after[7].position, todos[6].position);
    assert_eq!(moved["position"], json!(after[2].position.as_str()));
}

#[tokio::test]
async fn search_finds_words_in_titles_descriptions_and_notes_whatever_the_case_and_accents() {
    let (store, _dir) = store_with_user("alice").await;
    let bob = User::new(name("bob"), "$argon2id$x".into(), None, false);
    store.create_user(&bob).await.unwrap();
    let alice = name("alice");
    let with = |owner: &str, title: Option<&str>, text: &str, notes: Option<&str>| {
        let plan = Plan {
            title: title.map(|t| Title::parse(t).unwrap()),
            notes: notes.map(|n| Notes::parse(n).unwrap()),
            ..Plan::default()
        };
        Todo::planned(
            name(owner),
            Description::parse(text).unwrap(),
            Metadata::default(),
            plan,
        )
    };
    let cafe = with("alice", Some("Café au lait"), "for the weekend", None);
    let milk = with(
        "alice",
        None,
        "buy oat MILK",
        Some("the one from the Épicerie"),
    );
    let other = with("alice", Some("Call mum"), "about Sunday", None);
    let bobs = with("bob", Some("Café crème"), "buy milk", None);
    for todo in [&cafe, &milk, &other, &bobs] {
        store.create_todo(todo).await.unwrap();
    }
    let found = async |q: &str| -> Vec<uuid::Uuid> {
        let query = checkoff::domain::TodoQuery {
            search: Some(checkoff::domain::Search::parse(q).unwrap()),
            ..Default::default()
        };
        all_pages(&*store, "alice", &query, 1)
            .await
            .into_iter()
            .map(|t| t.uid)
            .collect()
    };
    assert_eq!(found("cafe").await, [cafe.uid], "accents");
    assert_eq!(found("CAFÉ").await, [cafe.uid], "case");
    assert_eq!(found("milk").await, [milk.uid], "only the caller's");
    assert_eq!(
        found("épic").await,
        [milk.uid],
        "notes, by the beginning of a word"
    );
    assert_eq!(found("oat milk").await, [milk.uid], "every word");
    assert!(found("oat tea").await.is_empty());
    assert!(found("ilk").await.is_empty(), "not the middle of a word");
    assert!(found("alice").await.is_empty(), "not the owner's name");

    // What the index holds follows every change of the texts.
    let patch = TodoPatch {
        title: Change::Set(Title::parse("Thé vert").unwrap()),
        ..TodoPatch::default()
    };
    let now = checkoff::domain::Timestamp::now();
    store
        .update_todo(&alice, cafe.uid, &patch, None, now)
        .await
        .unwrap();
    assert!(found("cafe").await.is_empty());
    assert_eq!(found("the vert").await, [cafe.uid]);
    let state = TodoPatch {
        state: Some(TodoState::Completed),
        ..TodoPatch::default()
    };
    store
        .update_todo(&alice, cafe.uid, &state, None, now)
        .await
        .unwrap();
    assert_eq!(
        found("vert").await,
        [cafe.uid],
        "a change of state keeps the words"
    );
    store.delete_todo(&alice, milk.uid, None).await.unwrap();
    assert!(found("milk").await.is_empty());
    assert_eq!(found("sun").await, [other.uid]);
}

#[tokio::test]
async fn a_search_through_the_api_pages_with_its_words_and_refuses_one_without_any() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    for text in [
        "Buy milk",
        "Crème brûlée",
        "Call mum",
        "Crêpes for breakfast",
    ] {
        app.create_todo(&token, text).await;
    }
    let (status, page) = status_json(app.list_todos(&token, "?q=cre&limit=1").await).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page[0]["description"], "Crème brûlée");
    let response = app.list_todos(&token, "?q=cre&limit=1").await;
    let link = response.headers()[header::LINK]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(link.contains("q=cre"), "{link}");
    let next = link.trim_start_matches('<').split('>').next().unwrap();
    let get = async |path: &str| {
        status_json(app.authed(Method::GET, path, &token).send().await.unwrap()).await
    };
    let (_, second) = get(next).await;
    assert_eq!(second[0]["description"], "Crêpes for breakfast");
    // The cursor belongs to that search.
    let (status, _) = get(&next.replace("q=cre", "q=mum")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let refused = app.list_todos(&token, "?q=%21%21").await;
    assert_eq!(
        error_message(refused, StatusCode::BAD_REQUEST).await,
        "q must have a letter or a digit to look for"
    );
    let long = "a".repeat(201);
    let (status, _) = status_json(app.list_todos(&token, &format!("?q={long}")).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, found) = status_json(
        app.list_todos(&token, "?q=MUM&state=unstarted&sort=priority")
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn views_asked_without_a_zone_are_in_the_persons_own_zone() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    // A zone whose date is not UTC's right now (Kiritimati is 14 hours ahead, Pago Pago 11
    // behind: at every hour one of them is on another day).
    let now = jiff::Timestamp::now();
    let utc_day = Zone::utc().day_at(now);
    let zone = ["Pacific/Kiritimati", "Pacific/Pago_Pago"]
        .into_iter()
        .map(|z| Zone::parse(z).unwrap())
        .find(|z| z.day_at(now) != utc_day)
        .unwrap();
    let there = zone.day_at(now).to_string();
    let made = app
        .authed(Method::POST, "/todos", &token)
        .json(&json!({"description": "today there", "due": there}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), StatusCode::CREATED);
    let today = async || {
        let (status, list) = status_json(app.list_todos(&token, "?view=today").await).await;
        assert_eq!(status, StatusCode::OK);
        list.as_array().unwrap().len()
    };
    assert_eq!(
        today().await,
        0,
        "without a zone of the person's, UTC's today"
    );

    let set = |tz: Value| {
        app.authed(Method::PATCH, "/users/alice", &token)
            .json(&json!({ "tz": tz }))
            .send()
    };
    let (status, profile) = status_json(set(json!(zone.name())).await.unwrap()).await;
    assert_eq!(
        (status, &profile["tz"]),
        (StatusCode::OK, &json!(zone.name()))
    );
    assert_eq!(today().await, 1, "the profile's zone");
    let explicit = app.list_todos(&token, "?view=today&tz=UTC").await;
    let (_, explicit) = status_json(explicit).await;
    assert!(explicit.as_array().unwrap().is_empty(), "tz= still wins");

    let (status, profile) = status_json(set(Value::Null).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(profile.get("tz").is_none(), "{profile}");
    assert_eq!(today().await, 0);

    let refused = set(json!("Mars/Olympus")).await.unwrap();
    assert!(
        error_message(refused, StatusCode::BAD_REQUEST)
            .await
            .contains("Mars/Olympus")
    );
    let unknown = app
        .authed(Method::PATCH, "/users/alice", &token)
        .json(&json!({"admin": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        unknown.status(),
        StatusCode::BAD_REQUEST,
        "nothing else is changed here"
    );
    app.create_user("bob").await;
    let others = app
        .authed(Method::PATCH, "/users/bob", &token)
        .json(&json!({"tz": "UTC"}))
        .send()
        .await
        .unwrap();
    assert_eq!(others.status(), StatusCode::FORBIDDEN);
}
