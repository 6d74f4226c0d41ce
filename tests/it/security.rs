//! The security promises of the README, one test each, on the store the tests run against: what
//! must not reach whom, what ends what, and what bounds each caller.

use std::time::Duration;

use checkoff::ServiceSettings;
use checkoff::domain::Username;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::api_sessions::refresh;
use crate::helpers::{PASSWORD, Stream, TestApp, logged_in, status_json, token};

const NEW_PASSWORD: &str = "Another2Horse";
/// How soon a stream must end once its session has: a few seconds, wherever it was ended.
const STREAM_ENDS_WITHIN: Duration = Duration::from_secs(5);
/// How long a session ended by this instance may still receive: not at all.
const HERE: Duration = Duration::ZERO;
/// How long a session ended by another process may still receive: one recheck.
const ELSEWHERE: Duration = checkoff::api::RECHECK.saturating_add(Duration::from_millis(500));

async fn refreshes(app: &TestApp, grant: &Value) -> bool {
    match refresh(app, &grant["refresh_token"]).await.0 {
        StatusCode::OK => true,
        StatusCode::UNAUTHORIZED => false,
        other => panic!("unexpected {other}"),
    }
}

async fn change_password(app: &TestApp, name: &str, token: &str) -> StatusCode {
    app.authed(Method::PUT, &format!("/users/{name}/password"), token)
        .json(&json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }))
        .send()
        .await
        .unwrap()
        .status()
}

/// A stream whose session was just ended must end, showing nothing written after: a todo is
/// written by a session that goes on (`writer`) once `after` has passed. Ended by this
/// instance: at once ([`HERE`]); by another, within a recheck ([`ELSEWHERE`]: a write in that
/// window may still show).
async fn assert_stream_ends(app: &TestApp, stream: &mut Stream, writer: &str, after: Duration) {
    tokio::time::sleep(after).await;
    app.create_todo(writer, "written after the session ended")
        .await;
    assert_eq!(
        stream.ends_within(STREAM_ENDS_WITHIN).await,
        Ok(true),
        "the stream must end, showing nothing more"
    );
}

/// A stream of one session of alice's, logged out through `logs_out` (this instance or
/// another), ends; a todo another session writes after `after` never shows on it.
async fn logging_out_ends_the_stream(app: &TestApp, logs_out: &TestApp, after: Duration) {
    app.create_user("alice").await;
    let tab = logged_in(app, "alice").await;
    let phone = logged_in(app, "alice").await;
    let mut stream = Stream::open(app, token(&tab), None).await;
    let response = logs_out
        .authed(Method::POST, "/logout", token(&tab))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_stream_ends(app, &mut stream, token(&phone), after).await;
}

#[tokio::test]
async fn a_stream_ends_when_its_session_logs_out() {
    let app = TestApp::spawn().await;
    logging_out_ends_the_stream(&app, &app, HERE).await;
}

#[tokio::test]
async fn a_stream_ends_when_a_password_change_ends_its_session() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let stolen = logged_in(&app, "alice").await;
    let owner = logged_in(&app, "alice").await;
    let mut stream = Stream::open(&app, token(&stolen), None).await;
    assert_eq!(
        change_password(&app, "alice", token(&owner)).await,
        StatusCode::NO_CONTENT
    );
    assert_stream_ends(&app, &mut stream, token(&owner), HERE).await;
}

#[tokio::test]
async fn a_stream_ends_when_its_api_token_is_revoked() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let owner = logged_in(&app, "alice").await;
    // `checkoff tokens issue` and `tokens revoke`, as another process on the same store does.
    let cli = app.services().await;
    let user = app
        .store
        .get_user(&Username::parse("alice").unwrap())
        .await
        .unwrap()
        .unwrap();
    let (session, issued) = cli
        .sessions
        .issue_api_token(&user, None, Duration::from_secs(3600))
        .await
        .unwrap();
    let mut stream = Stream::open(&app, &issued.token, None).await;
    cli.sessions
        .revoke(session.id)
        .await
        .unwrap()
        .expect("revoked");
    assert_stream_ends(&app, &mut stream, token(&owner), ELSEWHERE).await;
}

#[tokio::test]
async fn a_stream_ends_when_another_instance_logs_its_session_out() {
    let app = TestApp::spawn().await;
    let other = app.twin().await;
    logging_out_ends_the_stream(&app, &other, ELSEWHERE).await;
}

#[tokio::test]
async fn a_deleted_accounts_stream_ends_and_never_sees_the_next_owner_of_its_name() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let grant = logged_in(&app, "alice").await;
    let mut stream = Stream::open(&app, token(&grant), None).await;
    // Deleted by an administrator elsewhere (the CLI), and the name taken again at once.
    app.store
        .delete_user(&Username::parse("alice").unwrap())
        .await
        .unwrap();
    let response = app
        .request(Method::POST, "/users")
        .json(&json!({ "username": "alice", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let newcomer = logged_in(&app, "alice").await;
    assert_stream_ends(&app, &mut stream, token(&newcomer), HERE).await;
}

#[tokio::test]
async fn logins_racing_a_password_change_do_not_survive_it() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let owner = logged_in(&app, "alice").await;
    // The change checks the current password and hashes the new one before its write; logins
    // with the old password start all along that time, so that some check the old password
    // before the write and open their session after it.
    let change = {
        let request = app
            .authed(Method::PUT, "/users/alice/password", token(&owner))
            .json(&json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }));
        tokio::spawn(async move { request.send().await.unwrap().status() })
    };
    let racing: Vec<_> = (0..12u64)
        .map(|i| {
            let request = app
                .request(Method::POST, "/login")
                .json(&json!({ "username": "alice", "password": PASSWORD }));
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(15 * i)).await;
                request.send().await.unwrap()
            })
        })
        .collect();
    assert_eq!(change.await.unwrap(), StatusCode::NO_CONTENT);
    for login in racing {
        let (status, grant) = status_json(login.await.unwrap()).await;
        if status == StatusCode::OK {
            assert!(!app.token_works(token(&grant)).await, "its token works");
            assert!(!refreshes(&app, &grant).await, "its session renews");
        }
    }
    assert!(
        app.token_works(token(&owner)).await,
        "the changer's session goes on"
    );
    assert!(refreshes(&app, &owner).await);
}

#[tokio::test]
async fn a_burst_of_guesses_gets_no_more_of_them_checked_than_a_slow_sequence() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let burst: Vec<_> = (0..40)
        .map(|i| {
            let request = app
                .request(Method::POST, "/login")
                .json(&json!({ "username": "alice", "password": format!("Wrong{i}horse") }));
            tokio::spawn(async move { request.send().await.unwrap().status() })
        })
        .collect();
    let mut checked = 0;
    for guess in burst {
        match guess.await.unwrap() {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!(checked <= 5, "{checked} guesses were checked");
}

#[tokio::test]
async fn ending_hundreds_of_sessions_at_once_ends_them_all() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let owner = logged_in(&app, "alice").await;
    // Sessions straight in the store (hundreds of logins would meet the login limit).
    let user = app
        .store
        .get_user(&Username::parse("alice").unwrap())
        .await
        .unwrap()
        .unwrap();
    let services = app.services().await;
    let mut tokens = Vec::new();
    for _ in 0..600 {
        let now = checkoff::domain::Timestamp::now();
        let session = checkoff::domain::Session {
            owner: user.username.clone(),
            id: uuid::Uuid::new_v4(),
            kind: checkoff::domain::SessionKind::Login,
            refresh_hash: Some("0".repeat(64)),
            routes: None,
            created_at: now,
            expires_at: now.plus(Duration::from_secs(3600)),
            generation: 0,
            previous_hash: None,
        };
        app.store.create_session(&session).await.unwrap();
        tokens.push(
            services
                .tokens
                .issue_login("alice", &user.created_at, session.id, 0)
                .unwrap()
                .token,
        );
    }
    assert!(app.token_works(&tokens[599]).await);
    assert_eq!(
        change_password(&app, "alice", token(&owner)).await,
        StatusCode::NO_CONTENT
    );
    for token in [&tokens[0], &tokens[300], &tokens[599]] {
        assert!(!app.token_works(token).await);
    }
    // And logging out everywhere, the changer's session too.
    let response = app
        .authed(Method::DELETE, "/sessions", token(&owner))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(!app.token_works(token(&owner)).await);
    assert!(!refreshes(&app, &owner).await);
    let sessions = app.store.list_sessions(&user.username).await.unwrap();
    assert!(sessions.is_empty(), "{} sessions left", sessions.len());
}

#[tokio::test]
async fn a_logged_out_token_stays_refused_to_its_last_second() {
    let app = TestApp::spawn_with(ServiceSettings {
        token_ttl: Duration::from_secs(1),
        ..ServiceSettings::default()
    })
    .await;
    app.create_user("alice").await;
    let grant = logged_in(&app, "alice").await;
    let response = app
        .authed(Method::POST, "/logout", token(&grant))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // Past `exp` but within the clock-skew leeway, where the token itself is still accepted.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!app.token_works(token(&grant)).await);
}

#[tokio::test]
async fn a_made_up_refresh_secret_ends_nothing_but_a_used_one_ends_the_session() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let grant = logged_in(&app, "alice").await;
    let real = grant["refresh_token"].as_str().unwrap();
    let (prefix, _) = real.rsplit_once('.').unwrap();
    let forged = json!({ "refresh_token": format!("{prefix}.{}", "B".repeat(43)) });
    let (status, _) = status_json(
        app.request(Method::POST, "/refresh")
            .json(&forged)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(app.token_works(token(&grant)).await);
    assert!(refreshes(&app, &grant).await, "the real one still renews");
    // The secret just used, presented again: someone else holds its successor.
    assert!(!refreshes(&app, &grant).await);
    assert!(!app.token_works(token(&grant)).await, "the session is over");
}

#[tokio::test]
async fn deleting_your_own_account_needs_your_password() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let grant = logged_in(&app, "alice").await;
    let delete = |body: Option<Value>| {
        let request = app.authed(Method::DELETE, "/users/alice", token(&grant));
        match body {
            Some(body) => request.json(&body),
            None => request,
        }
    };
    assert_eq!(
        delete(None).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let wrong = json!({ "current_password": "Wrong1horse" });
    assert_eq!(
        delete(Some(wrong)).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert!(app.token_works(token(&grant)).await, "nothing was deleted");
    let right = json!({ "current_password": PASSWORD });
    assert_eq!(
        delete(Some(right)).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert!(!app.token_works(token(&grant)).await);
}

#[tokio::test]
async fn a_retried_clear_completed_does_nothing_again() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let complete = |todo: &Value| {
        app.authed(
            Method::PATCH,
            &format!("/todos/{}", todo["uid"].as_str().unwrap()),
            &token,
        )
        .json(&json!({ "state": "completed" }))
        .send()
    };
    let first = app.create_todo(&token, "done before").await;
    assert_eq!(complete(&first).await.unwrap().status(), StatusCode::OK);
    let clear = || {
        app.authed(Method::DELETE, "/todos?state=completed", &token)
            .header("Idempotency-Key", "clear-1")
            .send()
    };
    let (status, body) = status_json(clear().await.unwrap()).await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "deleted": 1 })));
    let later = app.create_todo(&token, "done after").await;
    assert_eq!(complete(&later).await.unwrap().status(), StatusCode::OK);
    let retry = clear().await.unwrap();
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    let (_, body) = status_json(retry).await;
    assert_eq!(body, json!({ "deleted": 1 }));
    let (_, list) = status_json(app.list_todos(&token, "").await).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "the later todo stays");
}

/// `count` live streams of `token`'s, held open.
async fn open_streams(app: &TestApp, token: &str, count: usize) -> Vec<Stream> {
    let mut open = Vec::new();
    for _ in 0..count {
        open.push(Stream::open(app, token, None).await);
    }
    open
}

/// One more stream of `token`'s is refused: 429, saying when to try again.
async fn assert_stream_refused(app: &TestApp, token: &str) {
    let refused = app
        .authed(Method::GET, "/todos/events", token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn streams_are_bounded_per_account_and_leave_connections_for_everyone_else() {
    let app = TestApp::spawn_limited(checkoff::server::Limits {
        max_connections: 8,
        ..Default::default()
    })
    .await;
    let alice = app.user_token("alice").await;
    let bob = app.user_token("bob").await;
    // Half of the 8 connections may be streams.
    let open = open_streams(&app, &alice, 4).await;
    assert_stream_refused(&app, &bob).await;
    let health = app
        .request(Method::GET, "/healthz")
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(
        app.login("bob", PASSWORD).await.status(),
        StatusCode::OK,
        "logins still get a connection"
    );
    drop(open);
}

#[tokio::test]
async fn one_account_cannot_open_streams_without_end() {
    let app = TestApp::spawn().await;
    let alice = app.user_token("alice").await;
    let bob = app.user_token("bob").await;
    let mut open = open_streams(&app, &alice, 8).await;
    assert_stream_refused(&app, &alice).await;
    let _bobs = Stream::open(&app, &bob, None).await;
    open.pop();
    // A closed stream gives its place back (the server notices the client left).
    let mut again = None;
    for _ in 0..50 {
        let response = app
            .authed(Method::GET, "/todos/events", &alice)
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::OK {
            again = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        again.is_some(),
        "a closed stream's place was not given back"
    );
}

fn quota(todos: u64, bytes: u64, writes_per_second: u32) -> ServiceSettings {
    ServiceSettings {
        quota: checkoff::config::Quota {
            todos,
            bytes,
            writes_per_second,
        },
        ..ServiceSettings::default()
    }
}

async fn create(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    status_json(
        app.authed(Method::POST, "/todos", token)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn an_account_holds_no_more_todos_than_its_quota() {
    holds_no_more_todos_than_its_quota(TestApp::spawn_with(quota(3, 0, 0)).await).await;
}

#[tokio::test]
async fn an_account_holds_no_more_todos_than_its_quota_behind_a_profile_cache() {
    // The quota is checked against the usage on the profile the authorizer read: a kept profile
    // must not outlive a write that changed it.
    let app = TestApp::spawn_cached(quota(3, 0, 0), Duration::from_secs(3600)).await;
    holds_no_more_todos_than_its_quota(app).await;
}

async fn holds_no_more_todos_than_its_quota(app: TestApp) {
    let token = app.user_token("alice").await;
    let mut made = Vec::new();
    for i in 0..3 {
        made.push(app.create_todo(&token, &format!("todo {i}")).await);
    }
    let (status, body) = create(&app, &token, json!({"description": "one too many"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("3 todos"),
        "{body}"
    );
    let other = app.user_token("bob").await;
    app.create_todo(&other, "another account has its own room")
        .await;
    let path = format!("/todos/{}", made[0]["uid"].as_str().unwrap());
    let deleted = app.authed(Method::DELETE, &path, &token).send().await;
    assert_eq!(deleted.unwrap().status(), StatusCode::NO_CONTENT);
    app.create_todo(&token, "room again").await;
}

#[tokio::test]
async fn an_account_holds_no_more_bytes_than_its_quota() {
    let app = TestApp::spawn_with(quota(0, 100, 0)).await;
    let token = app.user_token("alice").await;
    let todo = app.create_todo(&token, &"x".repeat(60)).await;
    let (status, body) = create(&app, &token, json!({"description": "y".repeat(50)})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("100 bytes"),
        "{body}"
    );
    let path = format!("/todos/{}", todo["uid"].as_str().unwrap());
    let change = |body: Value| app.authed(Method::PATCH, &path, &token).json(&body).send();
    // Growing it past the limit is refused; shrinking, and growing within it, are not.
    let grown = change(json!({"metadata": {"note": "z".repeat(40)}}))
        .await
        .unwrap();
    assert_eq!(grown.status(), StatusCode::FORBIDDEN);
    let shrunk = change(json!({"description": "short"})).await.unwrap();
    assert_eq!(shrunk.status(), StatusCode::OK);
    let regrown = change(json!({"description": "x".repeat(80)}))
        .await
        .unwrap();
    assert_eq!(regrown.status(), StatusCode::OK);
    let (status, _) = create(&app, &token, json!({"description": "y".repeat(30)})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_accounts_writes_beyond_its_rate_wait_their_turn() {
    let app = TestApp::spawn_with(quota(0, 0, 1)).await;
    let token = app.user_token("alice").await;
    for i in 0..10 {
        app.create_todo(&token, &format!("burst {i}")).await;
    }
    let response = app
        .authed(Method::POST, "/todos", &token)
        .json(&json!({"description": "too fast"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let other = app.user_token("bob").await;
    app.create_todo(&other, "another account writes on").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.create_todo(&token, "after waiting").await;
}

#[tokio::test]
async fn an_export_of_many_pages_is_the_whole_account() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let owner = Username::parse("alice").unwrap();
    for i in 0..1001 {
        let todo = checkoff::domain::Todo::new(
            owner.clone(),
            checkoff::domain::Description::parse(&format!("todo {i}")).unwrap(),
            checkoff::domain::Metadata::default(),
        );
        app.store.create_todo(&todo).await.unwrap();
    }
    let (status, export) = status_json(
        app.authed(Method::GET, "/users/alice/export", &token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(export["profile"]["username"], "alice");
    let todos = export["todos"].as_array().unwrap();
    assert_eq!(todos.len(), 1001);
    assert_eq!(todos[0]["description"], "todo 0");
    assert_eq!(todos[1000]["description"], "todo 1000");
    // As a browser asks for it: compressed, as it is read.
    let zipped = app
        .authed(Method::GET, "/users/alice/export", &token)
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    let bytes = zipped.bytes().await.expect("the whole answer");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
        .unwrap();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), export);
}

/// A service whose logins lock an address after two failures, behind `trusted` proxies.
async fn behind_proxies(trusted: &[&str]) -> TestApp {
    let mut settings = ServiceSettings::default();
    settings.throttle.per_address = 2;
    settings.proxies.trusted = trusted.iter().map(|p| p.parse().unwrap()).collect();
    let app = TestApp::spawn_with(settings).await;
    for name in ["alice", "bob", "carol"] {
        app.create_user(name).await;
    }
    app
}

async fn login_from(app: &TestApp, forwarded: &str, name: &str, password: &str) -> StatusCode {
    app.request(Method::POST, "/login")
        .header("X-Forwarded-For", forwarded)
        .json(&json!({ "username": name, "password": password }))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn behind_a_trusted_proxy_one_clients_failures_lock_out_no_one_else() {
    let app = behind_proxies(&["127.0.0.1/32"]).await;
    let guesser = "198.51.100.7";
    for name in ["alice", "bob"] {
        assert_eq!(
            login_from(&app, guesser, name, "Wrong1horse").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_from(&app, guesser, "carol", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "the guesser's address is locked"
    );
    // Everyone else behind the same proxy logs in, names without failures of their own too.
    assert_eq!(
        login_from(&app, "203.0.113.5", "carol", PASSWORD).await,
        StatusCode::OK
    );
    assert_eq!(
        login_from(&app, "203.0.113.6, 203.0.113.5", "alice", PASSWORD).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn without_a_trusted_proxy_a_forwarded_address_is_not_believed() {
    let app = behind_proxies(&[]).await;
    // A guesser making up a new address for every guess is still one address.
    for (i, name) in ["alice", "bob"].iter().enumerate() {
        let made_up = format!("198.51.100.{i}");
        assert_eq!(
            login_from(&app, &made_up, name, "Wrong1horse").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_from(&app, "198.51.100.99", "carol", "Wrong1horse").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// The account page ends one of the owner's sessions (`ends` serves that request): that
/// session's stream ends, the one of the session that ended it goes on.
async fn ending_a_session_from_another_ends_its_stream(
    app: &TestApp,
    ends: &TestApp,
    after: Duration,
) {
    app.create_user("alice").await;
    let lost_phone = logged_in(app, "alice").await;
    let laptop = logged_in(app, "alice").await;
    let mut stream = Stream::open(app, token(&lost_phone), None).await;
    let id = crate::api_sessions::session_id(app, &lost_phone).await;
    let response = crate::api_sessions::end_session(ends, &laptop, &id).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_stream_ends(app, &mut stream, token(&laptop), after).await;
    assert!(app.token_works(token(&laptop)).await);
}

#[tokio::test]
async fn a_stream_ends_when_its_session_is_ended_from_the_account_page() {
    let app = TestApp::spawn().await;
    ending_a_session_from_another_ends_its_stream(&app, &app, HERE).await;
}

#[tokio::test]
async fn a_stream_ends_when_another_instance_ends_its_session_from_the_account_page() {
    let app = TestApp::spawn().await;
    let other = app.twin().await;
    ending_a_session_from_another_ends_its_stream(&app, &other, ELSEWHERE).await;
}
