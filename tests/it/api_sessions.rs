//! Sessions: refresh tokens that rotate, reuse detection, logout and logout everywhere, in one
//! service. Across two server processes: tests/it/instances.rs.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_message, logged_in, status_json, token};

pub async fn refresh(app: &TestApp, refresh_token: &Value) -> (StatusCode, Value) {
    status_json(
        app.request(Method::POST, "/refresh")
            .json(&json!({ "refresh_token": refresh_token }))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// Logs the session of `grant` out, which must work.
async fn log_out(app: &TestApp, grant: &Value) {
    let response = app
        .authed(Method::POST, "/logout", token(grant))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

async fn works(app: &TestApp, grant: &Value) -> bool {
    app.token_works(token(grant)).await
}

#[tokio::test]
async fn a_refresh_token_trades_for_new_tokens_once() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let first = logged_in(&app, "alice").await;

    let (status, second) = refresh(&app, &first["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["token_type"], "Bearer");
    assert_eq!(second["expires_in"], 15 * 60);
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_ne!(second["token"], first["token"]);
    assert!(works(&app, &second).await);
    // The session's earlier access token is still good until it expires.
    assert!(works(&app, &first).await);

    let (status, third) = refresh(&app, &second["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(works(&app, &third).await);
}

#[tokio::test]
async fn presenting_a_used_refresh_token_ends_the_whole_session() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let stolen = logged_in(&app, "alice").await;
    let (_, rightful) = refresh(&app, &stolen["refresh_token"]).await;
    let other_session = logged_in(&app, "alice").await;

    // The thief replays the first refresh token.
    let (status, body) = refresh(&app, &stolen["refresh_token"]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({ "message": "Invalid or expired refresh token" })
    );

    // Everything of that session is over, at once: its access tokens, the rotated refresh token.
    assert!(!works(&app, &rightful).await);
    assert!(!works(&app, &stolen).await);
    let (status, _) = refresh(&app, &rightful["refresh_token"]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Another session of the same user is not touched.
    assert!(works(&app, &other_session).await);
    let (status, _) = refresh(&app, &other_session["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn concurrent_uses_of_one_refresh_token_let_at_most_one_through() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let grant = logged_in(&app, "alice").await;
    let attempts = (0..4).map(|_| refresh(&app, &grant["refresh_token"]));
    let answers = futures_util::future::join_all(attempts).await;
    let winners = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert!(winners <= 1, "{answers:?}");
    // Whatever won, the reuse ended the session: nothing of it works any more.
    for (_, body) in answers.iter().filter(|(s, _)| *s == StatusCode::OK) {
        let (status, _) = refresh(&app, &body["refresh_token"]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn garbage_and_foreign_refresh_tokens_are_401s() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let grant = logged_in(&app, "alice").await;
    let real = grant["refresh_token"].as_str().unwrap();
    let (owner, rest) = real.split_once('.').unwrap();
    let (id, _) = rest.split_once('.').unwrap();
    for bad in [
        "".to_owned(),
        "nonsense".to_owned(),
        token(&grant).to_owned(),
        // A made-up session of alice's, and alice's session with a made-up secret.
        format!(
            "{owner}.{}.{}",
            uuid::Uuid::new_v4().simple(),
            "A".repeat(43)
        ),
    ] {
        let (status, _) = refresh(&app, &json!(bad)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad:?}");
    }
    assert!(works(&app, &grant).await, "garbage ends nothing");
    // A guess at the secret of a real session (its id is in every access token) is no reuse:
    // it is refused, and the session goes on.
    let guess = format!("{owner}.{id}.{}", "B".repeat(43));
    let (status, _) = refresh(&app, &json!(guess)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(works(&app, &grant).await, "a made-up secret ends nothing");

    let response = app
        .request(Method::POST, "/refresh")
        .json(&json!({ "refresh": real }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn logging_out_ends_this_session_only() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let this = logged_in(&app, "alice").await;
    let other = logged_in(&app, "alice").await;

    log_out(&app, &this).await;
    assert!(!works(&app, &this).await);
    let (status, _) = refresh(&app, &this["refresh_token"]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(works(&app, &other).await);

    // Logging out again with the dead token is a 401, not an error.
    let response = app
        .authed(Method::POST, "/logout", token(&this))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_message(response, StatusCode::UNAUTHORIZED).await,
        "Unauthorized"
    );
}

/// Where profiles are not kept (the default here, as on DynamoDB), a read starts beside the
/// token's check; an ended session must still read nothing, and be told 401 before anything
/// about what it asked for (a todo that exists, one that does not, a malformed id or query).
#[tokio::test]
async fn an_ended_session_reads_nothing_and_is_told_so_first() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    let this = logged_in(&app, "alice").await;
    let uid = app.create_todo(token(&this), "secret plans").await["uid"]
        .as_str()
        .unwrap()
        .to_owned();
    let read = async |path: &str| {
        let response = app
            .authed(Method::GET, path, token(&this))
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.text().await.unwrap())
    };
    let paths = [
        format!("/todos/{uid}"),
        "/todos".to_owned(),
        format!("/todos/{}", uuid::Uuid::now_v7()),
        "/todos/not-a-uid".to_owned(),
        "/todos?limit=zero".to_owned(),
    ];
    assert_eq!(read(&paths[0]).await.0, StatusCode::OK);
    log_out(&app, &this).await;
    for path in &paths {
        let (status, body) = read(path).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
        assert!(!body.contains("secret plans"), "{path}: {body}");
    }
}

#[tokio::test]
async fn ending_all_sessions_logs_out_everywhere() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    app.create_user("bob").await;
    let sessions = [
        logged_in(&app, "alice").await,
        logged_in(&app, "alice").await,
    ];
    let bob = logged_in(&app, "bob").await;

    let response = app
        .authed(Method::DELETE, "/sessions", token(&sessions[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for session in &sessions {
        assert!(!works(&app, session).await);
        let (status, _) = refresh(&app, &session["refresh_token"]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert!(works(&app, &bob).await);
    // A fresh login works again.
    assert!(works(&app, &logged_in(&app, "alice").await).await);
}

async fn list(app: &TestApp, grant: &Value) -> Vec<Value> {
    let (status, body) = status_json(
        app.authed(Method::GET, "/sessions", token(grant))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().expect("a list").clone()
}

/// The id GET /sessions gives the session of `grant`.
pub async fn session_id(app: &TestApp, grant: &Value) -> String {
    let sessions = list(app, grant).await;
    let this = sessions.iter().find(|s| s["current"] == true);
    this.expect("the caller's own session is listed")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub async fn end_session(app: &TestApp, grant: &Value, id: &str) -> reqwest::Response {
    app.authed(Method::DELETE, &format!("/sessions/{id}"), token(grant))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_account_lists_the_sessions_and_tokens_that_still_work_and_ends_any_of_them() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    app.create_user("bob").await;
    let laptop = logged_in(&app, "alice").await;
    let phone = logged_in(&app, "alice").await;
    let bob = logged_in(&app, "bob").await;
    let user = app
        .store
        .get_user(&checkoff::domain::Username::parse("alice").unwrap())
        .await
        .unwrap()
        .unwrap();
    let grants = checkoff::auth::RouteGrants::parse(&["GET /todos*".to_owned()]).unwrap();
    let (api_token, issued) = app
        .services()
        .await
        .sessions
        .issue_api_token(&user, Some(&grants), std::time::Duration::from_secs(3600))
        .await
        .unwrap();

    let sessions = list(&app, &laptop).await;
    assert_eq!(sessions.len(), 3, "{sessions:?}");
    let text = serde_json::to_string(&sessions).unwrap();
    assert!(
        !text.contains("hash") && !text.contains(token(&laptop)),
        "{text}"
    );
    assert_eq!(sessions[0]["kind"], "api", "newest first: {sessions:?}");
    assert_eq!(sessions[0]["id"], api_token.id.to_string());
    assert_eq!(sessions[0]["routes"], json!(["GET /todos*"]));
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let phone_id = session_id(&app, &phone).await;
    let laptop_id = session_id(&app, &laptop).await;
    assert_ne!(phone_id, laptop_id);
    assert_eq!(list(&app, &bob).await.len(), 1, "bob sees only his own");

    // Someone else's id, or one that never was, is the same 404; nothing of bob's ends.
    let bob_id = session_id(&app, &bob).await;
    for id in [bob_id.as_str(), "00000000-0000-4000-8000-000000000000"] {
        let response = end_session(&app, &laptop, id).await;
        assert_eq!(
            error_message(response, StatusCode::NOT_FOUND).await,
            "No such session"
        );
    }
    assert!(works(&app, &bob).await);
    let response = end_session(&app, &laptop, "not-an-id").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // Ending the phone's session from the laptop: its token and refresh token stop at once.
    assert_eq!(
        end_session(&app, &laptop, &phone_id).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(!works(&app, &phone).await);
    assert_eq!(
        refresh(&app, &phone["refresh_token"]).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Revoking the API token likewise.
    let id = api_token.id.to_string();
    assert_eq!(
        end_session(&app, &laptop, &id).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(!app.token_works(&issued.token).await);
    let left: Vec<Value> = list(&app, &laptop).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["id"], laptop_id.as_str());

    // Sessions a logout everywhere ended are not listed, though their records may linger.
    let other = logged_in(&app, "alice").await;
    let response = app
        .authed(Method::DELETE, "/sessions", token(&other))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let fresh = logged_in(&app, "alice").await;
    let sessions = list(&app, &fresh).await;
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0]["current"], true);

    // Ending one's own session is a logout: the browser's cookie goes too.
    let response = end_session(&app, &fresh, &session_id(&app, &fresh).await).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("checkoff_refresh=;") && cookie.contains("Max-Age=0"),
        "{cookie}"
    );
    assert!(!works(&app, &fresh).await);
}
