//! The store contract: every store must pass these, through the `Store` trait alone.

use std::sync::Arc;

use checkoff::domain::{
    Description, DueFilter, ListId, ListName, Membership, Metadata, Revocations, Role, Session,
    SessionKind, Timestamp, Todo, TodoList, TodoPatch, TodoQuery, TodoState, Usage, User, Username,
};
use checkoff::store::{EXPIRED_SESSIONS_FORGOTTEN, PageRequest, Remembered, Store, StoreError};
use serde_json::json;
use tempfile::TempDir;
use uuid::Uuid;

use crate::helpers::{on_dynamodb, open_store};

/// A fresh, empty store of the kind under test.
async fn fresh() -> (Arc<dyn Store>, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (open_store(dir.path()).await, dir)
}

fn name(n: &str) -> Username {
    Username::parse(n).unwrap()
}

fn user(n: &str) -> User {
    User {
        username: name(n),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
        email: None,
        admin: false,
        created_at: Timestamp::now(),
        revoked: Default::default(),
        usage: Default::default(),
        zone: None,
    }
}

fn todo(owner: &str, text: &str) -> Todo {
    Todo::new(
        name(owner),
        Description::parse(text).unwrap(),
        Metadata::default(),
    )
}

fn state_patch(state: TodoState) -> TodoPatch {
    TodoPatch::new(None, Some(state), None).unwrap()
}

async fn with_todos(store: &dyn Store, owner: &str, count: usize) -> Vec<Todo> {
    store.create_user(&user(owner)).await.unwrap();
    let mut todos = Vec::new();
    for i in 0..count {
        let t = todo(owner, &format!("todo {i}"));
        store.create_todo(&t).await.unwrap();
        todos.push(t);
    }
    todos
}

/// Every page of `owner`'s todos that `query` admits, `limit` at a time.
pub(crate) async fn all_pages(
    store: &dyn Store,
    owner: &str,
    query: &TodoQuery,
    limit: u32,
) -> Vec<Todo> {
    let mut page = PageRequest::first(limit);
    let mut seen = Vec::new();
    loop {
        let listed = store.list_todos(&name(owner), query, &page).await.unwrap();
        assert!(listed.items.len() <= limit as usize);
        seen.extend(listed.items);
        match listed.next {
            Some(after) => page.after = Some(after),
            None => return seen,
        }
    }
}

#[tokio::test]
async fn the_store_answers_a_ping() {
    let (store, _dir) = fresh().await;
    store.ping().await.unwrap();
}

#[tokio::test]
async fn a_user_reads_back_as_written() {
    let (store, _dir) = fresh().await;
    let mut alice = user("alice");
    alice.admin = true;
    alice.email = Some(checkoff::domain::Email::parse("alice@example.com").unwrap());
    store.create_user(&alice).await.unwrap();
    assert_eq!(store.get_user(&name("alice")).await.unwrap(), Some(alice));
    assert_eq!(store.get_user(&name("nobody")).await.unwrap(), None);
}

#[tokio::test]
async fn a_taken_username_is_refused() {
    let (store, _dir) = fresh().await;
    store.create_user(&user("alice")).await.unwrap();
    let again = store.create_user(&user("alice")).await;
    assert!(matches!(again, Err(StoreError::AlreadyExists)), "{again:?}");
}

#[tokio::test]
async fn users_list_in_name_order_across_pages() {
    let (store, _dir) = fresh().await;
    for n in ["carol", "alice", "dave", "bob", "erin"] {
        store.create_user(&user(n)).await.unwrap();
    }
    let mut page = PageRequest::first(2);
    let mut names = Vec::new();
    loop {
        let listed = store.list_users(&page).await.unwrap();
        names.extend(listed.items.iter().map(|u| u.username.to_string()));
        match listed.next {
            Some(after) => page.after = Some(after),
            None => break,
        }
    }
    assert_eq!(names, ["alice", "bob", "carol", "dave", "erin"]);
}

#[tokio::test]
async fn a_password_hash_can_be_replaced() {
    let (store, _dir) = fresh().await;
    store.create_user(&user("alice")).await.unwrap();
    store
        .set_password_hash(&name("alice"), "$argon2id$new")
        .await
        .unwrap();
    let stored = store.get_user(&name("alice")).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, "$argon2id$new");
    let missing = store.set_password_hash(&name("nobody"), "x").await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
}

#[tokio::test]
async fn deleting_a_user_takes_their_todos_and_no_one_elses() {
    let (store, _dir) = fresh().await;
    let alices = with_todos(&*store, "alice", 3).await;
    let bobs = with_todos(&*store, "bob", 2).await;
    assert_eq!(store.delete_user(&name("alice")).await.unwrap(), 3);
    assert_eq!(store.get_user(&name("alice")).await.unwrap(), None);
    assert_eq!(
        store.get_todo(&name("alice"), alices[0].uid).await.unwrap(),
        None
    );
    assert!(
        all_pages(&*store, "alice", &TodoQuery::all(), 10)
            .await
            .is_empty()
    );
    assert_eq!(all_pages(&*store, "bob", &TodoQuery::all(), 10).await, bobs);
    let again = store.delete_user(&name("alice")).await;
    assert!(matches!(again, Err(StoreError::NotFound)), "{again:?}");
}

#[tokio::test]
async fn a_todo_reads_back_exactly_and_only_for_its_owner() {
    let (store, _dir) = fresh().await;
    store.create_user(&user("alice")).await.unwrap();
    store.create_user(&user("bob")).await.unwrap();
    let mut t = todo("alice", "buy milk");
    t.metadata = Metadata::parse(json!({"tags": ["home"], "n": 1.5, "deep": {"x": null}})).unwrap();
    store.create_todo(&t).await.unwrap();
    assert_eq!(
        store.get_todo(&name("alice"), t.uid).await.unwrap(),
        Some(t.clone())
    );
    assert_eq!(store.get_todo(&name("bob"), t.uid).await.unwrap(), None);
    assert_eq!(
        store
            .get_todo(&name("alice"), Uuid::now_v7())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn lists_come_oldest_first_and_pages_cover_every_item_once() {
    let (store, _dir) = fresh().await;
    let created = with_todos(&*store, "alice", 7).await;
    with_todos(&*store, "bob", 3).await;
    for limit in [1, 2, 3, 7, 100] {
        assert_eq!(
            all_pages(&*store, "alice", &TodoQuery::all(), limit).await,
            created,
            "limit {limit}"
        );
    }
    let first = store
        .list_todos(&name("alice"), &TodoQuery::all(), &PageRequest::first(7))
        .await
        .unwrap();
    assert_eq!(
        first.next, None,
        "an exactly full last page announces no next page"
    );
}

#[tokio::test]
async fn a_state_filter_applies_across_pages() {
    let (store, _dir) = fresh().await;
    let created = with_todos(&*store, "alice", 6).await;
    for t in created.iter().step_by(2) {
        store
            .update_todo(
                &name("alice"),
                t.uid,
                &state_patch(TodoState::Completed),
                None,
                Timestamp::now(),
            )
            .await
            .unwrap();
    }
    let done = all_pages(
        &*store,
        "alice",
        &TodoQuery::in_state(Some(TodoState::Completed)),
        2,
    )
    .await;
    let uids: Vec<_> = done.iter().map(|t| t.uid).collect();
    let expected: Vec<_> = created.iter().step_by(2).map(|t| t.uid).collect();
    assert_eq!(uids, expected);
    assert!(done.iter().all(|t| t.state == TodoState::Completed));
    assert_eq!(
        all_pages(
            &*store,
            "alice",
            &TodoQuery::in_state(Some(TodoState::Unstarted)),
            2
        )
        .await
        .len(),
        3
    );
    assert!(
        all_pages(
            &*store,
            "alice",
            &TodoQuery::in_state(Some(TodoState::Started)),
            2
        )
        .await
        .is_empty()
    );
}

#[tokio::test]
async fn an_update_changes_only_the_given_fields_and_bumps_the_version() {
    let (store, _dir) = fresh().await;
    let t = with_todos(&*store, "alice", 1).await.remove(0);
    let now = Timestamp::now();
    let patch = TodoPatch::new(Some(Description::parse("new words").unwrap()), None, None).unwrap();
    let updated = store
        .update_todo(&name("alice"), t.uid, &patch, None, now)
        .await
        .unwrap();
    assert_eq!(updated, t.clone().patched(&patch, now));
    assert_eq!(updated.version, 2);
    assert_eq!(
        store.get_todo(&name("alice"), t.uid).await.unwrap(),
        Some(updated)
    );
}

#[tokio::test]
async fn a_conditional_update_needs_the_current_version() {
    let (store, _dir) = fresh().await;
    let t = with_todos(&*store, "alice", 1).await.remove(0);
    let patch = state_patch(TodoState::Started);
    let ok = store
        .update_todo(&name("alice"), t.uid, &patch, Some(1), Timestamp::now())
        .await
        .unwrap();
    assert_eq!(ok.version, 2);
    let stale = store
        .update_todo(&name("alice"), t.uid, &patch, Some(1), Timestamp::now())
        .await;
    assert!(
        matches!(stale, Err(StoreError::VersionMismatch { current: 2 })),
        "{stale:?}"
    );
    assert_eq!(
        store
            .get_todo(&name("alice"), t.uid)
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
}

#[tokio::test]
async fn updates_of_missing_or_foreign_todos_find_nothing() {
    let (store, _dir) = fresh().await;
    let t = with_todos(&*store, "alice", 1).await.remove(0);
    store.create_user(&user("bob")).await.unwrap();
    let patch = state_patch(TodoState::Completed);
    for (owner, uid) in [("bob", t.uid), ("alice", Uuid::now_v7())] {
        let result = store
            .update_todo(&name(owner), uid, &patch, None, Timestamp::now())
            .await;
        assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
        let result = store.delete_todo(&name(owner), uid, None).await;
        assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    }
    assert_eq!(
        store.get_todo(&name("alice"), t.uid).await.unwrap(),
        Some(t)
    );
}

#[tokio::test]
async fn a_delete_removes_the_todo_once() {
    let (store, _dir) = fresh().await;
    let t = with_todos(&*store, "alice", 1).await.remove(0);
    let stale = store.delete_todo(&name("alice"), t.uid, Some(7)).await;
    assert!(
        matches!(stale, Err(StoreError::VersionMismatch { current: 1 })),
        "{stale:?}"
    );
    store
        .delete_todo(&name("alice"), t.uid, Some(1))
        .await
        .unwrap();
    assert_eq!(store.get_todo(&name("alice"), t.uid).await.unwrap(), None);
    let again = store.delete_todo(&name("alice"), t.uid, None).await;
    assert!(matches!(again, Err(StoreError::NotFound)), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_conditional_updates_let_exactly_one_win() {
    let (store, _dir) = fresh().await;
    let t = with_todos(&*store, "alice", 1).await.remove(0);
    let racers = (0..16).map(|i| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            let patch = TodoPatch::new(
                Some(Description::parse(&format!("racer {i}")).unwrap()),
                None,
                None,
            )
            .unwrap();
            store
                .update_todo(&name("alice"), t.uid, &patch, Some(1), Timestamp::now())
                .await
        })
    });
    let mut wins = 0;
    for racer in racers.collect::<Vec<_>>() {
        match racer.await.unwrap() {
            Ok(_) => wins += 1,
            Err(StoreError::VersionMismatch { current: 2 }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(wins, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_unconditional_updates_all_land() {
    let (store, _dir) = fresh().await;
    let t = with_todos(&*store, "alice", 1).await.remove(0);
    let description =
        TodoPatch::new(Some(Description::parse("renamed").unwrap()), None, None).unwrap();
    let state = state_patch(TodoState::Completed);
    let metadata =
        TodoPatch::new(None, None, Some(Metadata::parse(json!({"k": 1})).unwrap())).unwrap();
    let mut tasks = Vec::new();
    for patch in [description, state, metadata] {
        for _ in 0..5 {
            let (store, patch) = (Arc::clone(&store), patch.clone());
            tasks.push(tokio::spawn(async move {
                store
                    .update_todo(&name("alice"), t.uid, &patch, None, Timestamp::now())
                    .await
                    .unwrap()
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let after = store
        .get_todo(&name("alice"), t.uid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.version, 16, "every update counted, none lost");
    assert_eq!(after.description.as_str(), "renamed");
    assert_eq!(after.state, TodoState::Completed);
    assert_eq!(after.metadata, Metadata::parse(json!({"k": 1})).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_are_all_kept() {
    let (store, _dir) = fresh().await;
    store.create_user(&user("alice")).await.unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.create_todo(&todo("alice", &format!("t{i}"))).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(
        all_pages(&*store, "alice", &TodoQuery::all(), 1000)
            .await
            .len(),
        50
    );
}

fn session(owner: &str, kind: SessionKind) -> Session {
    let now = Timestamp::now();
    Session {
        owner: name(owner),
        id: Uuid::new_v4(),
        kind,
        refresh_hash: (kind == SessionKind::Login).then(|| "a".repeat(64)),
        routes: (kind == SessionKind::Api).then(|| vec!["GET /todos*".to_owned()]),
        created_at: now,
        expires_at: now.plus(std::time::Duration::from_secs(3600)),
        generation: 0,
        previous_hash: None,
    }
}

fn unix_now() -> u64 {
    Timestamp::now().unix_seconds()
}

#[tokio::test]
async fn a_todo_or_session_of_an_unknown_owner_is_not_found_and_not_kept() {
    let (store, _dir) = fresh().await;
    let orphan = todo("ghost", "boo");
    assert!(matches!(
        store.create_todo(&orphan).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .create_session(&session("ghost", SessionKind::Login))
            .await,
        Err(StoreError::NotFound)
    ));
    // Nothing of the attempts is inherited by an account made later under the name.
    store.create_user(&user("ghost")).await.unwrap();
    assert!(
        all_pages(&*store, "ghost", &TodoQuery::all(), 10)
            .await
            .is_empty()
    );
    assert!(
        store
            .list_sessions(&name("ghost"))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn racing_creates_of_one_name_keep_exactly_one_account_and_all_its_todos() {
    let (store, _dir) = fresh().await;
    for round in 0..5 {
        let owner = format!("racer{round}");
        let contenders = (0..4).map(|_| {
            let store = Arc::clone(&store);
            let owner = owner.clone();
            tokio::spawn(async move {
                let won = store.create_user(&user(&owner)).await;
                if won.is_ok() {
                    // The winner writes at once, while the losers may still be at work.
                    for i in 0..5 {
                        store
                            .create_todo(&todo(&owner, &format!("t{i}")))
                            .await
                            .unwrap();
                    }
                }
                won.is_ok()
            })
        });
        let wins = futures_util::future::join_all(contenders)
            .await
            .into_iter()
            .filter(|won| *won.as_ref().unwrap())
            .count();
        assert_eq!(wins, 1, "round {round}");
        assert_eq!(
            all_pages(&*store, &owner, &TodoQuery::all(), 100)
                .await
                .len(),
            5,
            "round {round}"
        );
    }
}

#[tokio::test]
async fn sessions_read_back_list_by_owner_and_are_found_by_id() {
    let (store, _dir) = fresh().await;
    store.create_user(&user("alice")).await.unwrap();
    store.create_user(&user("bob")).await.unwrap();
    let login = session("alice", SessionKind::Login);
    let api = session("alice", SessionKind::Api);
    let bobs = session("bob", SessionKind::Login);
    for s in [&login, &api, &bobs] {
        store.create_session(s).await.unwrap();
    }
    assert_eq!(
        store.get_session(&name("alice"), login.id).await.unwrap(),
        Some(login.clone())
    );
    assert_eq!(
        store.get_session(&name("bob"), login.id).await.unwrap(),
        None
    );
    let mut listed = store.list_sessions(&name("alice")).await.unwrap();
    listed.sort_by_key(|s| s.id);
    let mut expected = vec![login.clone(), api.clone()];
    expected.sort_by_key(|s| s.id);
    assert_eq!(listed, expected);
    // The index behind find_session may lag on DynamoDB; it catches up quickly.
    let mut found = None;
    for _ in 0..50 {
        found = store.find_session(api.id).await.unwrap();
        if found.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(found, Some(api.clone()));
    assert_eq!(store.find_session(Uuid::new_v4()).await.unwrap(), None);
}

#[tokio::test]
async fn of_two_rotations_from_one_hash_exactly_one_wins() {
    let (store, _dir) = fresh().await;
    store.create_user(&user("alice")).await.unwrap();
    let login = session("alice", SessionKind::Login);
    store.create_session(&login).await.unwrap();
    let from = login.refresh_hash.clone().unwrap();
    let rotations = ["b", "c", "d"].map(|to| {
        let store = Arc::clone(&store);
        let from = from.clone();
        tokio::spawn(async move {
            store
                .rotate_session(&name("alice"), login.id, &from, &to.repeat(64))
                .await
        })
    });
    let results: Vec<_> = futures_util::future::join_all(rotations)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .filter(|r| r.is_err())
            .all(|r| matches!(r, Err(StoreError::Changed)))
    );
    let now = store
        .get_session(&name("alice"), login.id)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(now.refresh_hash, Some(from));
    assert!(matches!(
        store
            .rotate_session(&name("alice"), Uuid::new_v4(), "x", "y")
            .await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn ended_sessions_go_and_are_recorded_on_the_profile_until_they_run_out() {
    let (store, _dir) = fresh().await;
    store.create_user(&user("alice")).await.unwrap();
    let (a, b) = (
        session("alice", SessionKind::Login),
        session("alice", SessionKind::Api),
    );
    store.create_session(&a).await.unwrap();
    store.create_session(&b).await.unwrap();
    let later = unix_now() + 600;
    store
        .end_sessions(&name("alice"), &[(a.id, later)])
        .await
        .unwrap();

    assert_eq!(store.get_session(&name("alice"), a.id).await.unwrap(), None);
    assert!(
        store
            .get_session(&name("alice"), b.id)
            .await
            .unwrap()
            .is_some()
    );
    let profile = store.get_user(&name("alice")).await.unwrap().unwrap();
    assert_eq!(profile.revoked, Revocations::new([(a.id, later)]));

    // A revocation that has run out is not served, and ending a session with no live tokens
    // leaves no record.
    store
        .end_sessions(&name("alice"), &[(b.id, unix_now() - 10)])
        .await
        .unwrap();
    let profile = store.get_user(&name("alice")).await.unwrap().unwrap();
    assert_eq!(profile.revoked, Revocations::new([(a.id, later)]));
    assert!(
        store
            .list_sessions(&name("alice"))
            .await
            .unwrap()
            .is_empty()
    );

    assert!(matches!(
        store.end_sessions(&name("nobody"), &[(a.id, later)]).await,
        Err(StoreError::NotFound)
    ));
}

/// A login tidies its account's expired sessions a bounded number at a time, and never one
/// that still works or someone else's. On DynamoDB the table's time to live deletes them
/// instead (DynamoDB Local never does), and the call changes nothing.
#[tokio::test]
async fn forgetting_expired_sessions_takes_a_bounded_number_and_only_those() {
    let (store, _dir) = fresh().await;
    let long_ago = Timestamp::from_unix_seconds(unix_now() - 7200).unwrap();
    // Accounts older than their sessions (a store refuses a session from before its account).
    for owner in ["alice", "bob"] {
        let account = User {
            created_at: Timestamp::from_unix_seconds(unix_now() - 9000).unwrap(),
            ..user(owner)
        };
        store.create_user(&account).await.unwrap();
    }
    let expired = |owner: &str| Session {
        created_at: long_ago,
        expires_at: long_ago.plus(std::time::Duration::from_secs(60)),
        ..session(owner, SessionKind::Login)
    };
    let piled = EXPIRED_SESSIONS_FORGOTTEN as usize + 6;
    for _ in 0..piled {
        store.create_session(&expired("alice")).await.unwrap();
    }
    let live = session("alice", SessionKind::Login);
    store.create_session(&live).await.unwrap();
    let bobs = expired("bob");
    store.create_session(&bobs).await.unwrap();
    let before = Timestamp::from_unix_seconds(unix_now() - 3600).unwrap();
    let left = async || store.list_sessions(&name("alice")).await.unwrap();

    store
        .forget_expired_sessions(&name("alice"), before)
        .await
        .unwrap();
    let after_one = left().await;
    store
        .forget_expired_sessions(&name("alice"), before)
        .await
        .unwrap();
    let after_two = left().await;

    if on_dynamodb() {
        assert_eq!(after_two.len(), piled + 1);
    } else {
        assert_eq!(
            after_one.len(),
            piled + 1 - EXPIRED_SESSIONS_FORGOTTEN as usize
        );
        assert_eq!(after_two, vec![live.clone()]);
    }
    assert!(after_two.contains(&live));
    assert_eq!(
        store.get_session(&name("bob"), bobs.id).await.unwrap(),
        Some(bobs)
    );
}

#[tokio::test]
async fn deleting_a_user_takes_their_sessions_and_revocations() {
    let (store, _dir) = fresh().await;
    store.create_user(&user("alice")).await.unwrap();
    let s = session("alice", SessionKind::Login);
    store.create_session(&s).await.unwrap();
    store
        .end_sessions(&name("alice"), &[(Uuid::new_v4(), unix_now() + 600)])
        .await
        .unwrap();
    store.delete_user(&name("alice")).await.unwrap();
    store.create_user(&user("alice")).await.unwrap();
    assert!(
        store
            .list_sessions(&name("alice"))
            .await
            .unwrap()
            .is_empty()
    );
    let profile = store.get_user(&name("alice")).await.unwrap().unwrap();
    assert_eq!(profile.revoked, Revocations::default());
}

#[tokio::test]
async fn administrators_are_made_and_unmade() {
    let (store, _dir) = fresh().await;
    store.create_user(&user("alice")).await.unwrap();
    store.set_admin(&name("alice"), true).await.unwrap();
    assert!(store.get_user(&name("alice")).await.unwrap().unwrap().admin);
    store.set_admin(&name("alice"), false).await.unwrap();
    assert!(!store.get_user(&name("alice")).await.unwrap().unwrap().admin);
    assert!(matches!(
        store.set_admin(&name("nobody"), true).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn a_persons_time_zone_is_kept_changed_and_cleared() {
    let (store, _dir) = fresh().await;
    let berlin = checkoff::domain::Zone::parse("Europe/Berlin").unwrap();
    // A profile made with a zone (as `migrate` copies one) keeps it.
    let mut bob = user("bob");
    bob.zone = Some(berlin.clone());
    store.create_user(&bob).await.unwrap();
    assert_eq!(store.get_user(&name("bob")).await.unwrap().unwrap(), bob);

    store.create_user(&user("alice")).await.unwrap();
    let zone_of = async |n: &str| store.get_user(&name(n)).await.unwrap().unwrap().zone;
    assert_eq!(zone_of("alice").await, None);
    store.set_zone(&name("alice"), Some(&berlin)).await.unwrap();
    assert_eq!(zone_of("alice").await, Some(berlin));
    store.set_zone(&name("alice"), None).await.unwrap();
    assert_eq!(zone_of("alice").await, None);
    assert!(matches!(
        store.set_zone(&name("nobody"), None).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn everyones_todos_list_by_state_oldest_first_across_pages() {
    let (store, _dir) = fresh().await;
    let mut all = Vec::new();
    for owner in ["ann", "ben", "cat"] {
        all.extend(with_todos(&*store, owner, 5).await);
    }
    // Every third one started.
    for t in all.iter_mut().step_by(3) {
        *t = store
            .update_todo(
                &t.username,
                t.uid,
                &state_patch(TodoState::Started),
                None,
                Timestamp::now(),
            )
            .await
            .unwrap();
    }
    let by_age = |mut todos: Vec<Todo>| {
        todos.sort_by_key(|t| (t.created_at, t.uid));
        todos
    };
    for (states, limit) in [
        (vec![TodoState::Unstarted], 3),
        (vec![TodoState::Started], 2),
        (TodoState::ALL.to_vec(), 4),
        (vec![TodoState::Completed], 5),
    ] {
        let mut page = PageRequest::first(limit);
        let mut seen = Vec::new();
        loop {
            let listed = store
                .list_todos_in_states(&states, &DueFilter::Any, &page)
                .await
                .unwrap();
            assert!(listed.items.len() <= limit as usize);
            seen.extend(listed.items);
            match listed.next {
                Some(after) => page.after = Some(after),
                None => break,
            }
        }
        let expected = by_age(
            all.iter()
                .filter(|t| states.contains(&t.state))
                .cloned()
                .collect(),
        );
        // The DynamoDB index is eventually consistent: give it a moment, then compare again.
        if seen != expected {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            let listed = store
                .list_todos_in_states(&states, &DueFilter::Any, &PageRequest::first(1000))
                .await
                .unwrap();
            seen = listed.items;
        }
        assert_eq!(seen, expected, "{states:?}");
    }
}

#[tokio::test]
async fn failure_records_change_only_from_the_record_the_writer_read() {
    use checkoff::store::Failures;
    let (store, _dir) = fresh().await;
    let forget_at = unix_now() + 60;
    let first = Failures {
        count: 1,
        last: 1_000,
        locked_until: 0,
    };
    assert_eq!(store.get_failures("user:alice").await.unwrap(), None);
    store
        .put_failures("user:alice", None, &first, forget_at)
        .await
        .unwrap();
    assert_eq!(store.get_failures("user:alice").await.unwrap(), Some(first));
    // A writer that read "no record" lost the race.
    assert!(matches!(
        store
            .put_failures("user:alice", None, &first, forget_at)
            .await,
        Err(StoreError::Changed)
    ));
    let second = Failures {
        count: 2,
        last: 2_000,
        locked_until: 7_000,
    };
    store
        .put_failures("user:alice", Some(&first), &second, forget_at)
        .await
        .unwrap();
    assert!(matches!(
        store
            .put_failures("user:alice", Some(&first), &second, forget_at)
            .await,
        Err(StoreError::Changed)
    ));
    assert_eq!(
        store.get_failures("user:alice").await.unwrap(),
        Some(second)
    );
    assert_eq!(store.get_failures("addr:127.0.0.1").await.unwrap(), None);
    store.clear_failures("user:alice").await.unwrap();
    assert_eq!(store.get_failures("user:alice").await.unwrap(), None);
}

#[tokio::test]
async fn a_remembered_answer_holds_its_key_until_it_expires() {
    use checkoff::store::Remembered;
    let (store, _dir) = fresh().await;
    store.create_user(&user("alice")).await.unwrap();
    let answer = |key: &str, fingerprint: &str, expires: u64| Remembered {
        owner: name("alice"),
        key: key.into(),
        fingerprint: fingerprint.into(),
        answer: "{}".into(),
        expires,
    };
    let later = unix_now() + 600;
    let first = answer("k1", "f1", later);
    assert_eq!(store.remember(&first).await.unwrap(), None);
    assert_eq!(
        store.remember(&answer("k1", "f2", later)).await.unwrap(),
        Some(first.clone())
    );
    // An expired record frees its key.
    store
        .remember(&answer("old", "f1", unix_now() - 5))
        .await
        .unwrap();
    assert_eq!(
        store.remember(&answer("old", "f2", later)).await.unwrap(),
        None
    );

    // With a todo: both or neither.
    let t = todo("alice", "once");
    let with = answer("k2", "f", later);
    assert_eq!(store.create_todo_remembered(&t, &with).await.unwrap(), None);
    let again = todo("alice", "once");
    assert_eq!(
        store.create_todo_remembered(&again, &with).await.unwrap(),
        Some(with.clone())
    );
    assert_eq!(
        all_pages(&*store, "alice", &TodoQuery::all(), 10).await,
        vec![t]
    );
    // An unknown owner's todo is refused with its record.
    let ghost = Remembered {
        owner: name("ghost"),
        ..answer("k3", "f", later)
    };
    assert!(matches!(
        store
            .create_todo_remembered(&todo("ghost", "x"), &ghost)
            .await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn the_profile_counts_what_the_account_holds_through_every_write() {
    let (store, _dir) = fresh().await;
    store.create_user(&user("alice")).await.unwrap();
    store.create_user(&user("bob")).await.unwrap();
    let alice = name("alice");
    let usage = |store: Arc<dyn Store>| async move {
        store.get_user(&name("alice")).await.unwrap().unwrap().usage
    };
    let a = todo("alice", "first");
    let b = todo("alice", "second one");
    let c = todo("alice", "third");
    for t in [&a, &b, &c] {
        store.create_todo(t).await.unwrap();
    }
    store
        .create_todo(&todo("bob", "not alice's"))
        .await
        .unwrap();
    let bytes = |ts: &[&Todo]| ts.iter().map(|t| t.stored_bytes()).sum::<u64>();
    assert_eq!(
        usage(Arc::clone(&store)).await,
        Usage {
            todos: 3,
            bytes: bytes(&[&a, &b, &c])
        }
    );

    let patch = TodoPatch::new(
        Some(Description::parse("a much longer description").unwrap()),
        Some(TodoState::Completed),
        None,
    )
    .unwrap();
    let a = store
        .update_todo(&alice, a.uid, &patch, None, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(usage(Arc::clone(&store)).await.bytes, bytes(&[&a, &b, &c]));

    store.delete_todo(&alice, b.uid, None).await.unwrap();
    assert_eq!(
        usage(Arc::clone(&store)).await,
        Usage {
            todos: 2,
            bytes: bytes(&[&a, &c])
        }
    );

    assert_eq!(
        store
            .delete_in_state(&alice, TodoState::Completed)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        usage(Arc::clone(&store)).await,
        Usage {
            todos: 1,
            bytes: bytes(&[&c])
        }
    );
}

fn list_of(owner: &str, list_name: &str) -> TodoList {
    TodoList::new(name(owner), ListName::parse(list_name).unwrap())
}

fn in_list(owner: &str, text: &str, list: ListId) -> Todo {
    Todo {
        list,
        ..todo(owner, text)
    }
}

fn move_to(list: ListId) -> TodoPatch {
    TodoPatch {
        list: Some(list),
        ..Default::default()
    }
}

/// `owner`'s open todos per list, as the store counts them.
async fn open_by_list(store: &dyn Store, owner: &str) -> Vec<(ListId, u64)> {
    let mut counts: Vec<(ListId, u64)> = store
        .count_by_list(&name(owner))
        .await
        .unwrap()
        .into_iter()
        .map(|(list, counts)| (list, counts.open))
        .collect();
    counts.sort();
    counts
}

#[tokio::test]
async fn lists_hold_their_owners_todos_and_take_them_when_deleted() {
    let (store, _dir) = fresh().await;
    store.create_user(&user("alice")).await.unwrap();
    let alice = name("alice");
    let inbox = ListId::inbox_of(&alice);
    let work = list_of("alice", "Work");
    store.create_list(&work).await.unwrap();
    assert_eq!(
        store.lists_of(&alice).await.unwrap(),
        std::slice::from_ref(&work)
    );
    assert_eq!(
        store.get_list(&alice, work.id).await.unwrap(),
        Some(work.clone())
    );
    assert_eq!(store.get_list(&name("bob"), work.id).await.unwrap(), None);
    assert!(matches!(
        store.create_list(&list_of("nobody", "Lost")).await,
        Err(StoreError::NotFound)
    ));

    let report = in_list("alice", "report", work.id);
    store.create_todo(&report).await.unwrap();
    let milk = todo("alice", "milk");
    store.create_todo(&milk).await.unwrap();
    assert_eq!(milk.list, inbox);
    let stray = in_list("alice", "stray", ListId::new());
    assert!(matches!(
        store.create_todo(&stray).await,
        Err(StoreError::NoList)
    ));
    let kept = Remembered {
        owner: alice.clone(),
        key: "k".into(),
        fingerprint: "f".into(),
        answer: "{}".into(),
        expires: unix_now() + 600,
    };
    assert!(matches!(
        store.create_todo_remembered(&stray, &kept).await,
        Err(StoreError::NoList)
    ));
    assert_eq!(store.get_todo(&alice, stray.uid).await.unwrap(), None);
    assert_eq!(store.recall(&alice, "k").await.unwrap(), None);
    let mut expected = vec![(inbox, 1), (work.id, 1)];
    expected.sort();
    assert_eq!(open_by_list(&*store, "alice").await, expected);

    // One list's todos, and a move between lists (never into one that is not there).
    let only = |list| TodoQuery {
        list: Some(list),
        ..Default::default()
    };
    let listed = all_pages(&*store, "alice", &only(work.id), 10).await;
    assert_eq!(listed, std::slice::from_ref(&report));
    let moved = store
        .update_todo(
            &alice,
            milk.uid,
            &move_to(work.id),
            Some(1),
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert_eq!((moved.list, moved.version), (work.id, 2));
    assert!(matches!(
        store
            .update_todo(
                &alice,
                milk.uid,
                &move_to(ListId::new()),
                None,
                Timestamp::now()
            )
            .await,
        Err(StoreError::NoList)
    ));
    assert!(matches!(
        store
            .update_todo(&alice, milk.uid, &move_to(inbox), Some(1), Timestamp::now())
            .await,
        Err(StoreError::VersionMismatch { current: 2 })
    ));
    assert_eq!(store.get_todo(&alice, milk.uid).await.unwrap(), Some(moved));
    assert!(
        all_pages(&*store, "alice", &only(inbox), 10)
            .await
            .is_empty()
    );
    assert_eq!(
        all_pages(&*store, "alice", &only(work.id), 1).await.len(),
        2
    );

    let renamed = store
        .rename_list(
            &alice,
            work.id,
            &ListName::parse("Job").unwrap(),
            Some(1),
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert_eq!((renamed.name.as_str(), renamed.version), ("Job", 2));
    assert!(matches!(
        store.delete_list(&alice, work.id, Some(1)).await,
        Err(StoreError::VersionMismatch { current: 2 })
    ));
    assert!(matches!(
        store.delete_list(&name("bob"), work.id, None).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.delete_list(&alice, work.id, Some(2)).await.unwrap(),
        2
    );
    assert_eq!(store.get_list(&alice, work.id).await.unwrap(), None);
    assert!(store.lists_of(&alice).await.unwrap().is_empty());
    assert_eq!(store.get_todo(&alice, report.uid).await.unwrap(), None);
    assert!(open_by_list(&*store, "alice").await.is_empty());
    let usage = store.get_user(&alice).await.unwrap().unwrap().usage;
    assert_eq!((usage.todos, usage.bytes), (0, 0));
    assert!(matches!(
        store.delete_list(&alice, work.id, None).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn no_todo_is_left_in_a_list_deleted_while_todos_join_it() {
    let (store, _dir) = fresh().await;
    store.create_user(&user("alice")).await.unwrap();
    let alice = name("alice");
    let list = list_of("alice", "Busy");
    store.create_list(&list).await.unwrap();
    let elsewhere = todo("alice", "elsewhere");
    store.create_todo(&elsewhere).await.unwrap();
    let writes = (0..16).map(|i| {
        let store = Arc::clone(&store);
        let list = list.id;
        let uid = elsewhere.uid;
        tokio::spawn(async move {
            let alice = name("alice");
            let outcome = match i % 4 {
                // Moves of one todo race each other as well as the deletion.
                0 => store
                    .update_todo(&alice, uid, &move_to(list), None, Timestamp::now())
                    .await
                    .map(drop),
                _ => {
                    store
                        .create_todo(&in_list("alice", &format!("t{i}"), list))
                        .await
                }
            };
            match outcome {
                Ok(()) | Err(StoreError::NoList) | Err(StoreError::Changed) => {}
                // The todo moved in by another racer, then deleted with the list.
                Err(StoreError::NotFound) if i % 4 == 0 => {}
                Err(other) => panic!("{other}"),
            }
        })
    });
    let writes: Vec<_> = writes.collect();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store.delete_list(&alice, list.id, None).await.unwrap();
    for write in writes {
        write.await.unwrap();
    }
    // Whatever joined before the deletion went with it; nothing joined after.
    let left = all_pages(&*store, "alice", &TodoQuery::default(), 50).await;
    assert!(left.iter().all(|t| t.list != list.id), "{left:?}");
    let usage = store.get_user(&alice).await.unwrap().unwrap().usage;
    assert_eq!(usage.todos, left.len() as u64);
    assert_eq!(store.get_list(&alice, list.id).await.unwrap(), None);
}

#[tokio::test]
async fn a_share_is_kept_with_its_list_and_found_by_its_member() {
    let (store, _dir) = fresh().await;
    for n in ["alice", "bob"] {
        store.create_user(&user(n)).await.unwrap();
    }
    let (alice, bob) = (name("alice"), name("bob"));
    let bob_since = store.get_user(&bob).await.unwrap().unwrap().created_at;
    let list = list_of("alice", "Shared");
    store.create_list(&list).await.unwrap();
    let share = |role: Role, since: Timestamp| Membership {
        owner: alice.clone(),
        list: list.id,
        member: bob.clone(),
        role,
        since,
        added_at: Timestamp::now(),
    };
    assert!(
        store
            .put_member(&share(Role::Viewer, bob_since))
            .await
            .unwrap()
    );
    assert!(
        !store
            .put_member(&share(Role::Editor, bob_since))
            .await
            .unwrap()
    );
    let members = store.members_of(&alice, list.id).await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!((&members[0].member, members[0].role), (&bob, Role::Editor));
    let grant = store
        .grant(&bob, list.id)
        .await
        .unwrap()
        .expect("bob's grant");
    assert_eq!(
        (&grant.owner, grant.role, grant.since),
        (&alice, Role::Editor, bob_since)
    );
    assert_eq!(store.grants_of(&bob).await.unwrap(), [grant]);
    assert_eq!(store.grant(&alice, list.id).await.unwrap(), None);

    // Only to a list that is there, and only to the very account named.
    let elsewhere = Membership {
        list: ListId::new(),
        ..share(Role::Viewer, bob_since)
    };
    assert!(matches!(
        store.put_member(&elsewhere).await,
        Err(StoreError::NoList)
    ));
    let earlier_bob = share(
        Role::Viewer,
        Timestamp::parse("2020-01-01T00:00:00Z").unwrap(),
    );
    assert!(matches!(
        store.put_member(&earlier_bob).await,
        Err(StoreError::NotFound)
    ));
    let nobody = Membership {
        member: name("nobody"),
        ..share(Role::Viewer, bob_since)
    };
    assert!(matches!(
        store.put_member(&nobody).await,
        Err(StoreError::NotFound)
    ));

    store.remove_member(&alice, list.id, &bob).await.unwrap();
    assert!(matches!(
        store.remove_member(&alice, list.id, &bob).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.grant(&bob, list.id).await.unwrap(), None);
    assert!(store.grants_of(&bob).await.unwrap().is_empty());

    // A deleted list takes its shares with it.
    store
        .put_member(&share(Role::Viewer, bob_since))
        .await
        .unwrap();
    store.delete_list(&alice, list.id, None).await.unwrap();
    assert_eq!(store.grant(&bob, list.id).await.unwrap(), None);
    assert!(store.grants_of(&bob).await.unwrap().is_empty());
    assert!(store.members_of(&alice, list.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_todo_changed_then_deleted_leaves_search_working() {
    let (store, _dir) = fresh().await;
    let todos = with_todos(&*store, "alice", 3).await;
    let alice = name("alice");
    let search = |q: &str| TodoQuery {
        search: Some(checkoff::domain::Search::parse(q).unwrap()),
        ..Default::default()
    };
    // Searched: every todo is in the index now.
    assert_eq!(
        all_pages(&*store, "alice", &search("todo"), 10).await.len(),
        3
    );
    let patch = TodoPatch::new(Some(Description::parse("renamed").unwrap()), None, None).unwrap();
    for todo in &todos[..2] {
        store
            .update_todo(&alice, todo.uid, &patch, None, Timestamp::now())
            .await
            .unwrap();
    }
    // One deleted while its new text waits for the index, one after it was indexed again.
    store.delete_todo(&alice, todos[0].uid, None).await.unwrap();
    assert_eq!(
        all_pages(&*store, "alice", &search("renamed"), 10)
            .await
            .len(),
        1
    );
    store.delete_todo(&alice, todos[1].uid, None).await.unwrap();
    store.delete_todo(&alice, todos[2].uid, None).await.unwrap();
    assert!(
        all_pages(&*store, "alice", &search("todo"), 10)
            .await
            .is_empty()
    );
    assert!(
        all_pages(&*store, "alice", &search("renamed"), 10)
            .await
            .is_empty()
    );
    let again = todo("alice", "renamed again");
    store.create_todo(&again).await.unwrap();
    assert_eq!(
        all_pages(&*store, "alice", &search("renamed"), 10).await,
        [again]
    );
}
