//! Lists shared with other accounts, over HTTP on both stores: what an owner, an editor, a
//! viewer and a stranger may do, and that every way a share ends ends it at the next request,
//! on this instance and another.

use checkoff::domain::Username;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, error_message, status_json};

struct Person {
    name: &'static str,
    token: String,
}

async fn person(app: &TestApp, name: &'static str) -> Person {
    Person {
        name,
        token: app.user_token(name).await,
    }
}

async fn send(
    app: &TestApp,
    who: &Person,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Response {
    let request = app.authed(method, path, &who.token);
    match body {
        Some(body) => request.json(&body),
        None => request,
    }
    .send()
    .await
    .unwrap()
}

/// A new list of `who`'s: its id.
async fn make_list(app: &TestApp, who: &Person, name: &str) -> String {
    let made = send(
        app,
        who,
        Method::POST,
        "/lists",
        Some(json!({ "name": name })),
    )
    .await;
    let (status, body) = status_json(made).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn share(app: &TestApp, who: &Person, list: &str, with: &str, role: &str) -> StatusCode {
    let path = format!("/lists/{list}/members/{with}");
    send(app, who, Method::PUT, &path, Some(json!({ "role": role })))
        .await
        .status()
}

async fn add(app: &TestApp, who: &Person, list: &str, description: &str) -> Response {
    let body = json!({ "description": description, "list": list });
    send(app, who, Method::POST, "/todos", Some(body)).await
}

/// The descriptions `who` reads in `list`, or the status when it is not 200.
async fn read_list(app: &TestApp, who: &Person, list: &str) -> Result<Vec<String>, StatusCode> {
    let response = app.list_todos(&who.token, &format!("?list={list}")).await;
    if response.status() != StatusCode::OK {
        return Err(response.status());
    }
    let (_, body) = status_json(response).await;
    Ok(body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["description"].as_str().unwrap().to_owned())
        .collect())
}

async fn read_list_uids(app: &TestApp, who: &Person, list: &str) -> Vec<String> {
    let response = app.list_todos(&who.token, &format!("?list={list}")).await;
    let (status, body) = status_json(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|t| t["uid"].as_str().unwrap().to_owned())
        .collect()
}

async fn lists_of(app: &TestApp, who: &Person) -> Vec<Value> {
    let (status, body) = status_json(send(app, who, Method::GET, "/lists", None).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().unwrap().clone()
}

/// Alice's "Household" with one todo, shared with Bob as an editor and Carol as a viewer.
async fn household(app: &TestApp) -> (Person, Person, Person, String, String) {
    let alice = person(app, "alice").await;
    let bob = person(app, "bob").await;
    let carol = person(app, "carol").await;
    let list = make_list(app, &alice, "Household").await;
    let (status, milk) = status_json(add(app, &alice, &list, "milk").await).await;
    assert_eq!(status, StatusCode::CREATED, "{milk}");
    assert_eq!(
        share(app, &alice, &list, "bob", "editor").await,
        StatusCode::CREATED
    );
    assert_eq!(
        share(app, &alice, &list, "carol", "viewer").await,
        StatusCode::CREATED
    );
    let milk = milk["uid"].as_str().unwrap().to_owned();
    (alice, bob, carol, list, milk)
}

#[tokio::test]
async fn an_editor_works_in_a_shared_list_and_a_viewer_reads_it() {
    let app = TestApp::spawn().await;
    let (alice, bob, carol, list, milk) = household(&app).await;
    // Sharing again with the same role changes nothing and says so.
    assert_eq!(
        share(&app, &alice, &list, "bob", "editor").await,
        StatusCode::OK
    );

    let members = send(
        &app,
        &carol,
        Method::GET,
        &format!("/lists/{list}/members"),
        None,
    )
    .await;
    let (status, members) = status_json(members).await;
    assert_eq!(status, StatusCode::OK);
    let members: Vec<(&str, &str)> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["username"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        members,
        [("alice", "owner"), ("bob", "editor"), ("carol", "viewer")]
    );

    let bobs = lists_of(&app, &bob).await;
    assert_eq!(bobs.len(), 2, "his Inbox and the shared list: {bobs:?}");
    assert_eq!(
        (&bobs[1]["id"], &bobs[1]["role"]),
        (&json!(list), &json!("editor"))
    );
    assert_eq!(
        (&bobs[1]["owner"], &bobs[1]["open"]),
        (&json!("alice"), &json!(1))
    );
    assert_eq!(read_list(&app, &bob, &list).await.unwrap(), ["milk"]);

    // Bob adds, changes and deletes; what he makes is Alice's, made by him.
    let (status, eggs) = status_json(add(&app, &bob, &list, "eggs").await).await;
    assert_eq!(status, StatusCode::CREATED, "{eggs}");
    assert_eq!(
        (&eggs["username"], &eggs["created_by"]),
        (&json!("alice"), &json!("bob"))
    );
    let done = json!({ "state": "completed" });
    let changed = send(
        &app,
        &bob,
        Method::PATCH,
        &format!("/todos/{milk}"),
        Some(done),
    )
    .await;
    let (status, changed) = status_json(changed).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    // Made by its owner (no `created_by`), changed by Bob.
    assert_eq!(
        (&changed["updated_by"], changed.get("created_by")),
        (&json!("bob"), None)
    );
    let seen = send(&app, &alice, Method::GET, &format!("/todos/{milk}"), None).await;
    assert_eq!(status_json(seen).await.1["updated_by"], "bob");
    assert_eq!(
        read_list(&app, &alice, &list).await.unwrap(),
        ["milk", "eggs"]
    );
    // Bob's own list of todos is still his own.
    let (_, own) = status_json(app.list_todos(&bob.token, "").await).await;
    assert_eq!(own, json!([]));

    // Carol reads everything and changes nothing.
    assert_eq!(
        read_list(&app, &carol, &list).await.unwrap(),
        ["milk", "eggs"]
    );
    let eggs = eggs["uid"].as_str().unwrap();
    let one = send(&app, &carol, Method::GET, &format!("/todos/{eggs}"), None).await;
    assert_eq!(one.status(), StatusCode::OK);
    let refused = [
        add(&app, &carol, &list, "cake").await,
        send(
            &app,
            &carol,
            Method::PATCH,
            &format!("/todos/{eggs}"),
            Some(json!({"description": "x"})),
        )
        .await,
        send(
            &app,
            &carol,
            Method::DELETE,
            &format!("/todos/{eggs}"),
            None,
        )
        .await,
    ];
    for answer in refused {
        let message = error_message(answer, StatusCode::FORBIDDEN).await;
        assert!(message.contains("Viewers"), "{message}");
    }
    let deleted = send(&app, &bob, Method::DELETE, &format!("/todos/{eggs}"), None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(read_list(&app, &carol, &list).await.unwrap(), ["milk"]);
}

#[tokio::test]
async fn only_the_owner_renames_deletes_or_shares_and_a_member_may_leave() {
    let app = TestApp::spawn().await;
    let (alice, bob, carol, list, _) = household(&app).await;
    let _dave = person(&app, "dave").await;
    let path = format!("/lists/{list}");
    let refused = [
        send(
            &app,
            &bob,
            Method::PATCH,
            &path,
            Some(json!({ "name": "Mine" })),
        )
        .await,
        send(&app, &bob, Method::DELETE, &path, None).await,
        send(
            &app,
            &bob,
            Method::PUT,
            &format!("{path}/members/dave"),
            Some(json!({"role": "viewer"})),
        )
        .await,
        send(
            &app,
            &bob,
            Method::DELETE,
            &format!("{path}/members/carol"),
            None,
        )
        .await,
    ];
    for answer in refused {
        assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    }
    // Carol leaves; Bob stays.
    let left = send(
        &app,
        &carol,
        Method::DELETE,
        &format!("{path}/members/carol"),
        None,
    )
    .await;
    assert_eq!(left.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        read_list(&app, &carol, &list).await,
        Err(StatusCode::NOT_FOUND)
    );
    assert_eq!(lists_of(&app, &carol).await.len(), 1);
    assert_eq!(read_list(&app, &bob, &list).await.unwrap(), ["milk"]);
    // The owner cannot leave; she renames (her rename shows to Bob at once).
    let leave = send(
        &app,
        &alice,
        Method::DELETE,
        &format!("{path}/members/alice"),
        None,
    )
    .await;
    assert_eq!(leave.status(), StatusCode::CONFLICT);
    let renamed = send(
        &app,
        &alice,
        Method::PATCH,
        &path,
        Some(json!({ "name": "Home" })),
    )
    .await;
    assert_eq!(renamed.status(), StatusCode::OK);
    let (_, seen) = status_json(send(&app, &bob, Method::GET, &path, None).await).await;
    assert_eq!(
        (&seen["name"], &seen["role"]),
        (&json!("Home"), &json!("editor"))
    );
    // A todo stays with its owner: it moves only between the owner's lists.
    let bobs = app.create_todo(&bob.token, "his").await;
    let into_shared = json!({ "list": list });
    let path = format!("/todos/{}", bobs["uid"].as_str().unwrap());
    let moved = send(&app, &bob, Method::PATCH, &path, Some(into_shared)).await;
    let message = error_message(moved, StatusCode::CONFLICT).await;
    assert!(message.contains("same owner"), "{message}");
    let bobs_inbox = lists_of(&app, &bob).await[0]["id"].clone();
    let milk = read_list_uids(&app, &bob, &list).await.remove(0);
    let out = json!({ "list": bobs_inbox });
    let moved = send(
        &app,
        &bob,
        Method::PATCH,
        &format!("/todos/{milk}"),
        Some(out),
    )
    .await;
    assert_eq!(moved.status(), StatusCode::CONFLICT);
    // Bob becomes a viewer.
    assert_eq!(
        share(&app, &alice, &list, "bob", "viewer").await,
        StatusCode::OK
    );
    assert_eq!(
        add(&app, &bob, &list, "x").await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_share_ends_at_the_next_request_on_every_instance() {
    let app = TestApp::spawn().await;
    let other = app.twin().await;
    let (alice, bob, carol, list, milk) = household(&app).await;
    assert_eq!(read_list(&other, &bob, &list).await.unwrap(), ["milk"]);

    let removed = send(
        &app,
        &alice,
        Method::DELETE,
        &format!("/lists/{list}/members/bob"),
        None,
    )
    .await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    for instance in [&app, &other] {
        assert_eq!(
            read_list(instance, &bob, &list).await,
            Err(StatusCode::NOT_FOUND)
        );
        let todo = send(instance, &bob, Method::GET, &format!("/todos/{milk}"), None).await;
        assert_eq!(
            error_message(todo, StatusCode::NOT_FOUND).await,
            "Todo not found"
        );
        let change = json!({ "description": "sour milk" });
        let write = send(
            instance,
            &bob,
            Method::PATCH,
            &format!("/todos/{milk}"),
            Some(change),
        )
        .await;
        assert_eq!(write.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            add(instance, &bob, &list, "x").await.status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(lists_of(instance, &bob).await.len(), 1);
    }

    // Deleting the list ends Carol's share the same way.
    assert_eq!(read_list(&other, &carol, &list).await.unwrap(), ["milk"]);
    let deleted = send(
        &app,
        &alice,
        Method::DELETE,
        &format!("/lists/{list}"),
        None,
    )
    .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    for instance in [&app, &other] {
        assert_eq!(
            read_list(instance, &carol, &list).await,
            Err(StatusCode::NOT_FOUND)
        );
        let todo = send(
            instance,
            &carol,
            Method::GET,
            &format!("/todos/{milk}"),
            None,
        )
        .await;
        assert_eq!(todo.status(), StatusCode::NOT_FOUND);
        assert_eq!(lists_of(instance, &carol).await.len(), 1);
    }
    other.stop().await;
}

#[tokio::test]
async fn a_stranger_is_told_what_a_missing_list_is_told() {
    let app = TestApp::spawn().await;
    let (_, _, _, list, milk) = household(&app).await;
    // An administrator is a stranger to other people's lists too: the admin view is theirs.
    app.create_user("eve").await;
    let eve = Username::parse("eve").unwrap();
    app.store.set_admin(&eve, true).await.unwrap();
    let (_, login) = status_json(app.login("eve", PASSWORD).await).await;
    let admin = Person {
        name: "eve",
        token: login["token"].as_str().unwrap().to_owned(),
    };
    for dave in [&person(&app, "dave").await, &admin] {
        a_stranger_is_told_what_is_told_of_nothing(&app, dave, &list, &milk).await;
    }
    let view = send(
        &app,
        &admin,
        Method::GET,
        "/admin/todos?state=unstarted",
        None,
    )
    .await;
    let (status, view) = status_json(view).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let seen: Vec<(&str, &str)> = view
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["uid"].as_str().unwrap(), t["list"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [(milk.as_str(), list.as_str())],
        "the admin view names each todo's list"
    );
}

async fn a_stranger_is_told_what_is_told_of_nothing(
    app: &TestApp,
    dave: &Person,
    list: &str,
    milk: &str,
) {
    let list = list.to_owned();
    let missing = uuid::Uuid::new_v4().to_string();
    for target in [&list, &missing] {
        let path = format!("/lists/{target}");
        let answers = [
            send(app, dave, Method::GET, &path, None).await,
            send(app, dave, Method::GET, &format!("{path}/members"), None).await,
            send(
                app,
                dave,
                Method::PUT,
                &format!("{path}/members/dave"),
                Some(json!({"role": "editor"})),
            )
            .await,
            send(
                app,
                dave,
                Method::DELETE,
                &format!("{path}/members/bob"),
                None,
            )
            .await,
            send(
                app,
                dave,
                Method::PATCH,
                &path,
                Some(json!({ "name": "x" })),
            )
            .await,
            add(app, dave, target, "sneak").await,
            app.list_todos(&dave.token, &format!("?list={target}"))
                .await,
        ];
        for answer in answers {
            let url = answer.url().clone();
            assert_eq!(
                error_message(answer, StatusCode::NOT_FOUND).await,
                "List not found",
                "{url}"
            );
        }
    }
    let todo = send(app, dave, Method::GET, &format!("/todos/{milk}"), None).await;
    assert_eq!(
        error_message(todo, StatusCode::NOT_FOUND).await,
        "Todo not found"
    );
    let gone = send(app, dave, Method::DELETE, &format!("/todos/{milk}"), None).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn shares_are_asked_for_clearly() {
    let app = TestApp::spawn().await;
    let (alice, _, _, list, _) = household(&app).await;
    let inbox = lists_of(&app, &alice).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        share(&app, &alice, &list, "bob", "owner").await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        share(&app, &alice, &list, "bob", "admin").await,
        StatusCode::BAD_REQUEST
    );
    let extra = json!({ "role": "editor", "until": "tomorrow" });
    let path = format!("/lists/{list}/members/bob");
    assert_eq!(
        send(&app, &alice, Method::PUT, &path, Some(extra))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    let nobody = format!("/lists/{list}/members/nobody");
    let answer = send(
        &app,
        &alice,
        Method::PUT,
        &nobody,
        Some(json!({"role": "viewer"})),
    )
    .await;
    assert_eq!(
        error_message(answer, StatusCode::NOT_FOUND).await,
        "User not found"
    );
    assert_eq!(
        share(&app, &alice, &inbox, "bob", "viewer").await,
        StatusCode::CONFLICT
    );
    assert_eq!(
        share(&app, &alice, &list, "alice", "viewer").await,
        StatusCode::CONFLICT
    );
    let not_member = send(
        &app,
        &alice,
        Method::DELETE,
        &format!("/lists/{list}/members/dave"),
        None,
    )
    .await;
    assert_eq!(not_member.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_deleted_account_ends_its_shares_both_ways() {
    let app = TestApp::spawn().await;
    let (alice, bob, carol, list, _) = household(&app).await;
    // Bob goes: Alice's list no longer names him, and a new Bob inherits nothing.
    let gone = app
        .authed(Method::DELETE, "/users/bob", &bob.token)
        .json(&json!({ "current_password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    let members = send(
        &app,
        &alice,
        Method::GET,
        &format!("/lists/{list}/members"),
        None,
    )
    .await;
    let names: Vec<String> = status_json(members)
        .await
        .1
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["username"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["alice", "carol"]);
    let new_bob = person(&app, "bob").await;
    assert_eq!(
        read_list(&app, &new_bob, &list).await,
        Err(StatusCode::NOT_FOUND)
    );
    assert_eq!(lists_of(&app, &new_bob).await.len(), 1);

    // Alice goes: Carol's share ends with her list.
    let gone = app
        .authed(Method::DELETE, "/users/alice", &alice.token)
        .json(&json!({ "current_password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        read_list(&app, &carol, &list).await,
        Err(StatusCode::NOT_FOUND)
    );
    assert_eq!(lists_of(&app, &carol).await.len(), 1);
    assert_eq!(carol.name, "carol");
}

#[tokio::test]
async fn a_members_stream_is_told_of_changes_in_the_list_until_the_share_ends() {
    let app = TestApp::spawn().await;
    let (alice, bob, _, list, milk) = household(&app).await;
    let mut stream = crate::helpers::Stream::open(&app, &bob.token, None).await;
    let within = std::time::Duration::from_secs(2);

    // Alice's changes in the shared list: Bob's stream is told to read again (no data).
    assert_eq!(
        add(&app, &alice, &list, "bread").await.status(),
        StatusCode::CREATED
    );
    let (_, name, data) = stream.next(within).await.expect("a hint");
    assert_eq!((name.as_str(), &data), ("reset", &json!({})), "{data}");
    let path = format!("/todos/{milk}");
    let deleted = send(&app, &alice, Method::DELETE, &path, None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(stream.next(within).await.expect("a hint").1, "reset");
    // Her own Inbox is hers alone; a todo moved there from the shared list leaves it (a hint).
    let private = app.create_todo(&alice.token, "private").await;
    let bread = read_list_uids(&app, &alice, &list).await.pop().unwrap();
    let inbox = private["list"].clone();
    let out = send(
        &app,
        &alice,
        Method::PATCH,
        &format!("/todos/{bread}"),
        Some(json!({ "list": inbox })),
    )
    .await;
    assert_eq!(out.status(), StatusCode::OK);
    assert_eq!(stream.next(within).await.expect("a hint").1, "reset");

    let removed = send(
        &app,
        &alice,
        Method::DELETE,
        &format!("/lists/{list}/members/bob"),
        None,
    )
    .await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    // The removal itself is the last hint Bob hears of the list.
    assert_eq!(stream.next(within).await.expect("a hint").1, "reset");
    assert_eq!(
        add(&app, &alice, &list, "after").await.status(),
        StatusCode::CREATED
    );
    assert!(
        stream
            .next(std::time::Duration::from_millis(700))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn changes_to_a_shared_list_itself_are_told_to_those_who_see_it_at_once() {
    let app = TestApp::spawn().await;
    let alice = person(&app, "alice").await;
    let bob = person(&app, "bob").await;
    let list = make_list(&app, &alice, "Trip").await;
    let mut bobs = crate::helpers::Stream::open(&app, &bob.token, None).await;
    let mut alices = crate::helpers::Stream::open(&app, &alice.token, None).await;
    let within = std::time::Duration::from_secs(2);
    let quiet = std::time::Duration::from_millis(500);
    async fn hinted(stream: &mut crate::helpers::Stream, within: std::time::Duration) -> bool {
        matches!(stream.next(within).await, Some((_, name, _)) if name == "reset")
    }

    // Shared with Bob, then his role changed: his pages read their lists again.
    assert_eq!(
        share(&app, &alice, &list, "bob", "editor").await,
        StatusCode::CREATED
    );
    assert!(hinted(&mut bobs, within).await, "told of the new share");
    assert_eq!(
        share(&app, &alice, &list, "bob", "viewer").await,
        StatusCode::OK
    );
    assert!(hinted(&mut bobs, within).await, "told of the new role");
    // Renamed: Bob, and Alice's other devices.
    let path = format!("/lists/{list}");
    let renamed = send(
        &app,
        &alice,
        Method::PATCH,
        &path,
        Some(json!({ "name": "Holiday" })),
    )
    .await;
    assert_eq!(renamed.status(), StatusCode::OK);
    assert!(hinted(&mut bobs, within).await, "Bob told of the rename");
    // Alice's stream heard the share, the role and the rename: drain what she was told.
    while alices.next(quiet).await.is_some() {}
    // Bob leaves: Alice is told.
    let left = send(
        &app,
        &bob,
        Method::DELETE,
        &format!("/lists/{list}/members/bob"),
        None,
    )
    .await;
    assert_eq!(left.status(), StatusCode::NO_CONTENT);
    assert!(hinted(&mut alices, within).await, "Alice told Bob left");
    while bobs.next(quiet).await.is_some() {}
    // Shared again and deleted: Bob is told of the deletion, though he is no member after it.
    assert_eq!(
        share(&app, &alice, &list, "bob", "editor").await,
        StatusCode::CREATED
    );
    assert!(hinted(&mut bobs, within).await);
    let deleted = send(&app, &alice, Method::DELETE, &path, None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(hinted(&mut bobs, within).await, "Bob told of the deletion");
    // A list no one else sees: nothing reaches Bob.
    let own = make_list(&app, &alice, "Mine").await;
    let renamed = send(
        &app,
        &alice,
        Method::PATCH,
        &format!("/lists/{own}"),
        Some(json!({ "name": "Still mine" })),
    )
    .await;
    assert_eq!(renamed.status(), StatusCode::OK);
    assert!(bobs.next(quiet).await.is_none());
}

#[tokio::test]
async fn an_editor_reorders_a_shared_list_and_no_one_else_does() {
    let app = TestApp::spawn().await;
    let (alice, bob, carol, list, milk) = household(&app).await;
    let (_, eggs) = status_json(add(&app, &alice, &list, "eggs").await).await;
    let eggs = eggs["uid"].as_str().unwrap().to_owned();
    let private = app.create_todo(&alice.token, "private").await;
    let private = private["uid"].as_str().unwrap().to_owned();
    let dave = person(&app, "dave").await;
    let by_position = async || {
        let response = app
            .list_todos(&alice.token, &format!("?list={list}&sort=position"))
            .await;
        let (status, body) = status_json(response).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.as_array()
            .unwrap()
            .iter()
            .map(|t| t["uid"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(by_position().await, [milk.clone(), eggs.clone()]);
    let move_next = async |who: &Person, uid: &str, before: &str| {
        let path = format!("/todos/{uid}/move");
        send(
            &app,
            who,
            Method::POST,
            &path,
            Some(json!({ "before": before })),
        )
        .await
    };

    // Bob, an editor, puts eggs first: the owner's order changes.
    let moved = move_next(&bob, &eggs, &milk).await;
    let (status, body) = status_json(moved).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["uid"], json!(eggs));
    assert_eq!(body["updated_by"], json!("bob"), "{body}");
    assert_eq!(by_position().await, [eggs.clone(), milk.clone()]);
    // Carol, a viewer, may not; Dave, a stranger, hears of no such todo.
    let refused = move_next(&carol, &milk, &eggs).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let stranger = move_next(&dave, &milk, &eggs).await;
    let missing = move_next(&dave, &uuid::Uuid::now_v7().to_string(), &eggs).await;
    assert_eq!(stranger.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        error_message(stranger, StatusCode::NOT_FOUND).await,
        error_message(missing, StatusCode::NOT_FOUND).await
    );
    // Next to a todo of Alice's Bob cannot see: the answer of an anchor that does not exist.
    let unseen = move_next(&bob, &milk, &private).await;
    let nowhere = move_next(&bob, &milk, &uuid::Uuid::now_v7().to_string()).await;
    assert_eq!(
        error_message(unseen, StatusCode::NOT_FOUND).await,
        error_message(nowhere, StatusCode::NOT_FOUND).await
    );
    assert_eq!(by_position().await, [eggs, milk]);
}

#[tokio::test]
async fn an_account_has_at_most_a_hundred_lists_shared_with_it() {
    let app = TestApp::spawn().await;
    let bob = person(&app, "bob").await;
    for owner in ["alice", "carol"] {
        let owner = person(&app, owner).await;
        for i in 0..50 {
            let list = make_list(&app, &owner, &format!("list {i}")).await;
            assert_eq!(
                share(&app, &owner, &list, "bob", "viewer").await,
                StatusCode::CREATED
            );
        }
    }
    let dave = person(&app, "dave").await;
    let one_more = make_list(&app, &dave, "one more").await;
    let path = format!("/lists/{one_more}/members/bob");
    let refused = send(
        &app,
        &dave,
        Method::PUT,
        &path,
        Some(json!({ "role": "viewer" })),
    )
    .await;
    let message = error_message(refused, StatusCode::FORBIDDEN).await;
    assert!(message.contains("100 lists shared"), "{message}");
    // Bob leaves one: there is room again.
    let first = lists_of(&app, &bob).await[1]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let left = send(
        &app,
        &bob,
        Method::DELETE,
        &format!("/lists/{first}/members/bob"),
        None,
    )
    .await;
    assert_eq!(left.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        share(&app, &dave, &one_more, "bob", "viewer").await,
        StatusCode::CREATED
    );
    assert_eq!(
        lists_of(&app, &bob).await.len(),
        101,
        "his Inbox and 100 shared"
    );
}
