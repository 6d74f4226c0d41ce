//! GET /sync over HTTP on both stores: everything, then what changed since — the caller's own
//! writes, other members' writes in shared lists, writes through another instance and straight
//! to the store (as the CLI makes them), and lists or todos gone from sight.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, error_message, status_json};

async fn sync(app: &TestApp, token: &str, since: Option<&str>) -> Value {
    let path = match since {
        Some(since) => format!("/sync?since={since}"),
        None => "/sync".to_owned(),
    };
    let (status, body) =
        status_json(app.authed(Method::GET, &path, token).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn texts(answer: &Value, field: &str, key: &str) -> BTreeSet<String> {
    answer[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| match key {
            "" => item.as_str().unwrap().to_owned(),
            key => item[key].as_str().unwrap().to_owned(),
        })
        .collect()
}

/// What a sync since a token sent in `field` (by `key`): exactly `expected` — and on
/// DynamoDB, whose sync also sends again what changed in the 30 s before its token, perhaps
/// some of `before` too (what changed earlier in the test).
fn sent(answer: &Value, field: &str, key: &str, expected: &[&str], before: &[&str]) {
    let got = texts(answer, field, key);
    let expected = set(expected);
    if !crate::helpers::on_dynamodb() {
        assert_eq!(got, expected, "{field}: {answer}");
        return;
    }
    assert!(expected.is_subset(&got), "{field}: {answer}");
    let allowed: BTreeSet<String> = expected.union(&set(before)).cloned().collect();
    assert!(got.is_subset(&allowed), "{field}: {answer}");
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

async fn send(app: &TestApp, token: &str, method: Method, path: &str, body: Value) -> Value {
    let response = app
        .authed(method, path, token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{status}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

async fn make_list(app: &TestApp, token: &str, name: &str) -> String {
    let made = send(app, token, Method::POST, "/lists", json!({ "name": name })).await;
    made["id"].as_str().unwrap().to_owned()
}

async fn share(app: &TestApp, token: &str, list: &str, with: &str, role: &str) {
    let path = format!("/lists/{list}/members/{with}");
    send(app, token, Method::PUT, &path, json!({ "role": role })).await;
}

async fn add(app: &TestApp, token: &str, list: &str, description: &str) -> String {
    let body = json!({ "description": description, "list": list });
    let made = send(app, token, Method::POST, "/todos", body).await;
    made["uid"].as_str().unwrap().to_owned()
}

/// PATCHes the state of `todo` (as created).
async fn set_state(app: &TestApp, token: &str, todo: &Value, state: &str) {
    let path = format!("/todos/{}", todo["uid"].as_str().unwrap());
    send(app, token, Method::PATCH, &path, json!({ "state": state })).await;
}

fn token_of(answer: &Value) -> String {
    answer["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_first_sync_sends_every_list_and_todo_the_caller_can_see() {
    let app = TestApp::spawn().await;
    let alice = app.user_token("alice").await;
    let bob = app.user_token("bob").await;
    app.create_todo(&alice, "in the inbox").await;
    let home = make_list(&app, &alice, "Home").await;
    add(&app, &alice, &home, "at home").await;
    let shop = make_list(&app, &bob, "Shop").await;
    add(&app, &bob, &shop, "milk").await;
    share(&app, &bob, &shop, "alice", "viewer").await;
    let private = make_list(&app, &bob, "Private").await;
    add(&app, &bob, &private, "bob's secret").await;

    let all = sync(&app, &alice, None).await;
    assert_eq!(all["full"], true);
    assert_eq!(
        texts(&all, "lists", "name"),
        set(&["Inbox", "Home", "Shop"])
    );
    let roles: Vec<(&str, &str)> = all["lists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["name"].as_str().unwrap(), l["role"].as_str().unwrap()))
        .collect();
    assert!(roles.contains(&("Shop", "viewer")), "{roles:?}");
    assert_eq!(
        texts(&all, "todos", "description"),
        set(&["in the inbox", "at home", "milk"])
    );
    assert!(all["deleted_todos"].as_array().unwrap().is_empty());
    // An empty `since` is left out, as an empty cursor is.
    assert_eq!(sync(&app, &alice, Some("")).await["full"], true);

    // Nothing changed: nothing sent, and the token goes on working.
    let again = sync(&app, &alice, Some(&token_of(&all))).await;
    assert_eq!(again["full"], false);
    let made = ["in the inbox", "at home", "milk"];
    sent(&again, "todos", "description", &[], &made);
    sent(&again, "lists", "name", &[], &["Home", "Shop"]);
    sent(&again, "deleted_lists", "", &[], &[]);
    sent(&again, "deleted_todos", "", &[], &[]);
    let still = sync(&app, &alice, Some(&token_of(&again))).await;
    sent(&still, "todos", "description", &[], &made);

    // A sync that found nothing may be answered again without reading (SQLite): never once
    // anything that concerns the caller changed — a shared list renamed, a todo added to it,
    // one of the caller's own.
    let quiet = token_of(&sync(&app, &alice, Some(&token_of(&still))).await);
    let quiet = token_of(&sync(&app, &alice, Some(&quiet)).await);
    let path = format!("/lists/{shop}");
    send(
        &app,
        &bob,
        Method::PATCH,
        &path,
        json!({ "name": "Corner shop" }),
    )
    .await;
    let renamed = sync(&app, &alice, Some(&quiet)).await;
    sent(&renamed, "lists", "name", &["Corner shop"], &["Home"]);
    let quiet = token_of(&sync(&app, &alice, Some(&token_of(&renamed))).await);
    add(&app, &bob, &shop, "bread").await;
    let added = sync(&app, &alice, Some(&quiet)).await;
    sent(&added, "todos", "description", &["bread"], &made);
    let quiet = token_of(&sync(&app, &alice, Some(&token_of(&added))).await);
    app.create_todo(&alice, "mine").await;
    let mine = sync(&app, &alice, Some(&quiet)).await;
    let earlier = ["in the inbox", "at home", "milk", "bread"];
    sent(&mine, "todos", "description", &["mine"], &earlier);
}

/// More writes since a token than one read of the change log holds (DynamoDB reads it 500
/// entries a request): a change after them all is still sent, and each todo once.
#[tokio::test]
async fn a_sync_after_more_writes_than_a_page_of_the_log_sends_every_change_once() {
    let app = TestApp::spawn_with(checkoff::config::ServiceSettings {
        quota: checkoff::config::Quota {
            writes_per_second: 0,
            ..checkoff::config::Quota::default()
        },
        ..checkoff::config::ServiceSettings::default()
    })
    .await;
    let alice = app.user_token("alice").await;
    let busy = app.create_todo(&alice, "busy").await;
    let last = app.create_todo(&alice, "last").await;
    let token = token_of(&sync(&app, &alice, None).await);
    for n in 0..520 {
        let state = if n % 2 == 0 { "started" } else { "unstarted" };
        set_state(&app, &alice, &busy, state).await;
    }
    set_state(&app, &alice, &last, "completed").await;
    let changed = sync(&app, &alice, Some(&token)).await;
    let todos = changed["todos"].as_array().unwrap();
    assert_eq!(todos.len(), 2, "{changed}");
    sent(&changed, "todos", "description", &["busy", "last"], &[]);
}

#[tokio::test]
async fn a_sync_since_sends_every_change_whoever_made_it_on_whichever_instance() {
    let app = TestApp::spawn().await;
    let other = app.twin().await;
    let alice = app.user_token("alice").await;
    let bob = app.user_token("bob").await;
    let kept = app.create_todo(&alice, "kept").await;
    let gone = app.create_todo(&alice, "gone").await;
    let shop = make_list(&app, &bob, "Shop").await;
    share(&app, &bob, &shop, "alice", "editor").await;
    let milk = add(&app, &bob, &shop, "milk").await;
    let token = token_of(&sync(&app, &alice, None).await);

    // Alice on this instance, Bob on the other, and a write straight to the store.
    set_state(&app, &alice, &kept, "completed").await;
    let deleted = app
        .authed(
            Method::DELETE,
            &format!("/todos/{}", gone["uid"].as_str().unwrap()),
            &alice,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    add(&other, &bob, &shop, "bread").await;
    send(
        &other,
        &bob,
        Method::PATCH,
        &format!("/todos/{milk}"),
        json!({ "description": "oat milk" }),
    )
    .await;
    send(
        &other,
        &bob,
        Method::PATCH,
        &format!("/lists/{shop}"),
        json!({ "name": "Groceries" }),
    )
    .await;
    let owner = checkoff::domain::Username::parse("alice").unwrap();
    let description = checkoff::domain::Description::parse("from the command line").unwrap();
    let cli = checkoff::domain::Todo::new(owner, description, Default::default());
    app.store.create_todo(&cli).await.unwrap();
    // A todo of Bob's own, in a list not shared: Alice never hears of it.
    app.create_todo(&bob, "bob's own").await;

    for instance in [&app, &other] {
        let changes = sync(instance, &alice, Some(&token)).await;
        let expected = ["kept", "bread", "oat milk", "from the command line"];
        sent(&changes, "todos", "description", &expected, &[]);
        let states: Vec<&str> = changes["todos"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["description"] == "kept")
            .map(|t| t["state"].as_str().unwrap())
            .collect();
        assert_eq!(states, ["completed"]);
        sent(&changes, "lists", "name", &["Groceries"], &[]);
        let gone = [gone["uid"].as_str().unwrap()];
        sent(&changes, "deleted_todos", "", &gone, &[]);
        sent(&changes, "deleted_lists", "", &[], &[]);
    }
}

#[tokio::test]
async fn what_leaves_the_callers_sight_is_sent_as_deleted() {
    let app = TestApp::spawn().await;
    let alice = app.user_token("alice").await;
    let bob = app.user_token("bob").await;
    let shop = make_list(&app, &bob, "Shop").await;
    let private = make_list(&app, &bob, "Private").await;
    share(&app, &bob, &shop, "alice", "viewer").await;
    let moved = add(&app, &bob, &shop, "moved away").await;
    let token = token_of(&sync(&app, &alice, None).await);

    // Moved to a list Alice cannot see: deleted for her.
    let path = format!("/todos/{moved}");
    send(&app, &bob, Method::PATCH, &path, json!({ "list": private })).await;
    let changes = sync(&app, &alice, Some(&token)).await;
    sent(&changes, "deleted_todos", "", &[&moved], &[]);
    sent(&changes, "todos", "description", &[], &[]);
    let token = token_of(&changes);

    // A new share arrives whole; an ended one is a deleted list.
    let garden = make_list(&app, &bob, "Garden").await;
    add(&app, &bob, &garden, "rake").await;
    share(&app, &bob, &garden, "alice", "editor").await;
    let removed = app
        .authed(
            Method::DELETE,
            &format!("/lists/{shop}/members/alice"),
            &bob,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let changes = sync(&app, &alice, Some(&token)).await;
    sent(&changes, "lists", "name", &["Garden"], &[]);
    sent(&changes, "todos", "description", &["rake"], &[]);
    sent(&changes, "deleted_lists", "", &[&shop], &[]);
    let token = token_of(&changes);

    // The list deleted by its owner: deleted for its members too.
    let deleted = app
        .authed(Method::DELETE, &format!("/lists/{garden}"), &bob)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let changes = sync(&app, &alice, Some(&token)).await;
    sent(&changes, "deleted_lists", "", &[&garden], &[&shop]);
    sent(&changes, "lists", "name", &[], &[]);
}

#[tokio::test]
async fn a_token_works_for_its_own_account_only() {
    let app = TestApp::spawn().await;
    let alice = app.user_token("alice").await;
    let bob = app.user_token("bob").await;
    let alices = token_of(&sync(&app, &alice, None).await);
    let bobs = sync(&app, &bob, None).await;
    for bad in [alices.as_str(), "nonsense", &alices[..alices.len() - 2]] {
        let answer = app
            .authed(Method::GET, &format!("/sync?since={bad}"), &bob)
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_message(answer, StatusCode::BAD_REQUEST).await,
            "since is not a sync token of yours"
        );
    }
    let _ = bobs;
    // A new account of a deleted one's name cannot use the old account's token.
    let deleted = app
        .authed(Method::DELETE, "/users/alice", &alice)
        .json(&json!({ "current_password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let again = app.user_token("alice").await;
    let answer = app
        .authed(Method::GET, &format!("/sync?since={alices}"), &again)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let anonymous = app.request(Method::GET, "/sync").send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

/// A person's copy of what a sync sends, kept as a client keeps it: by uid.
fn apply(held: &mut std::collections::BTreeMap<String, Value>, answer: &Value) {
    for todo in answer["todos"].as_array().unwrap() {
        held.insert(todo["uid"].as_str().unwrap().to_owned(), todo.clone());
    }
    for uid in answer["deleted_todos"].as_array().unwrap() {
        held.remove(uid.as_str().unwrap());
    }
    for list in answer["deleted_lists"].as_array().unwrap() {
        held.retain(|_, todo| todo["list"] != *list);
    }
}

/// Creates, changes and deletes `count` todos of `who`'s (in `list`, if given) through `base`.
async fn write_many(base: String, token: String, list: Option<String>, count: usize) {
    let client = reqwest::Client::new();
    let mut made: Vec<String> = Vec::new();
    for i in 0..count {
        let mut body = json!({ "description": format!("todo {i} via {base}") });
        if let Some(list) = &list {
            body["list"] = json!(list);
        }
        let todo: Value = client
            .post(format!("{base}/todos"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        made.push(todo["uid"].as_str().unwrap().to_owned());
        if i % 3 == 1 {
            let changed = client
                .patch(format!("{base}/todos/{}", made[made.len() - 2]))
                .bearer_auth(&token)
                .json(&json!({ "state": "completed" }))
                .send()
                .await
                .unwrap();
            assert_eq!(changed.status(), StatusCode::OK);
        }
        if i % 5 == 4 {
            let gone = made.remove(0);
            let deleted = client
                .delete(format!("{base}/todos/{gone}"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_syncing_while_two_instances_write_ends_with_what_is_stored() {
    let app = TestApp::spawn().await;
    let other = app.twin().await;
    let alice = app.user_token("alice").await;
    let bob = app.user_token("bob").await;
    let shop = make_list(&app, &bob, "Shop").await;
    share(&app, &bob, &shop, "alice", "editor").await;
    let first = sync(&app, &alice, None).await;
    let mut held = std::collections::BTreeMap::new();
    apply(&mut held, &first);
    let mut token = token_of(&first);

    // Alice writes through this instance, Bob in the shared list through the other, at once,
    // while Alice's client syncs again and again.
    let writers = [
        tokio::spawn(write_many(app.base.clone(), alice.clone(), None, 24)),
        tokio::spawn(write_many(
            other.base.clone(),
            bob.clone(),
            Some(shop.clone()),
            24,
        )),
    ];
    let mut polls = 0;
    while writers.iter().any(|w| !w.is_finished()) {
        polls += 1;
        let answer = sync(&app, &alice, Some(&token)).await;
        apply(&mut held, &answer);
        token = token_of(&answer);
        tokio::time::sleep(std::time::Duration::from_millis(15)).await;
    }
    for writer in writers {
        writer.await.unwrap();
    }
    assert!(polls > 0, "the writers were done before the first sync");
    let answer = sync(&other, &alice, Some(&token)).await;
    apply(&mut held, &answer);

    // Exactly what is stored, each at its last version.
    let (_, own) = status_json(app.list_todos(&alice, "?limit=1000").await).await;
    let (_, shared) = status_json(
        app.list_todos(&alice, &format!("?list={shop}&limit=1000"))
            .await,
    )
    .await;
    let stored: std::collections::BTreeMap<String, u64> = own
        .as_array()
        .unwrap()
        .iter()
        .chain(shared.as_array().unwrap())
        .map(|t| {
            (
                t["uid"].as_str().unwrap().to_owned(),
                t["version"].as_u64().unwrap(),
            )
        })
        .collect();
    let synced: std::collections::BTreeMap<String, u64> = held
        .iter()
        .map(|(uid, t)| (uid.clone(), t["version"].as_u64().unwrap()))
        .collect();
    assert_eq!(stored.len(), 2 * (24 - 24 / 5));
    assert_eq!(synced, stored);
}
