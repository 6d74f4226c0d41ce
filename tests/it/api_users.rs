//! Sign-up and the users API: POST /users, GET /users, GET/DELETE /users/{name},
//! PUT /users/{name}/password, GET /users/{name}/export.

use checkoff::ServiceSettings;
use checkoff::domain::Username;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, error_message, status_json};

async fn sign_up(app: &TestApp, body: Value) -> reqwest::Response {
    app.request(Method::POST, "/users")
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Signs `name` up with [`PASSWORD`] and logs in: the login answer.
async fn signed_up(app: &TestApp, name: &str) -> Value {
    let response = sign_up(app, json!({ "username": name, "password": PASSWORD })).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let (status, body) = status_json(app.login(name, PASSWORD).await).await;
    assert_eq!(status, StatusCode::OK);
    body
}

fn token(login: &Value) -> &str {
    login["token"].as_str().expect("token")
}

async fn make_admin(app: &TestApp, name: &str) -> String {
    app.create_user(name).await;
    let username = Username::parse(name).unwrap();
    app.store.set_admin(&username, true).await.unwrap();
    let (_, body) = status_json(app.login(name, PASSWORD).await).await;
    token(&body).to_owned()
}

/// No answer about a user ever carries a secret.
fn assert_no_secret(body: &Value) {
    let text = body.to_string();
    for secret in ["hash", "password", "$argon2", "salt", "refresh"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

#[tokio::test]
async fn signing_up_makes_an_account_that_can_log_in() {
    let app = TestApp::spawn().await;
    let response = sign_up(
        &app,
        json!({ "username": "carol", "password": PASSWORD, "email": "carol@example.com" }),
    )
    .await;
    assert_eq!(response.headers()["location"], "/users/carol");
    let (status, profile) = status_json(response).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(profile["username"], "carol");
    assert_eq!(profile["email"], "carol@example.com");
    assert_eq!(profile["admin"], false);
    assert!(profile["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(profile.as_object().unwrap().len(), 4, "{profile}");
    assert_no_secret(&profile);

    let (status, _) = status_json(app.login("carol", PASSWORD).await).await;
    assert_eq!(status, StatusCode::OK);

    // Without an email the field is left out, never null.
    let (status, profile) =
        status_json(sign_up(&app, json!({ "username": "dave", "password": PASSWORD })).await).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(profile.get("email"), None, "{profile}");
}

#[tokio::test]
async fn each_password_rule_is_named_when_broken() {
    let app = TestApp::spawn().await;
    for (password, rule) in [
        ("Short1a", "at least 10 characters"),
        ("alllowercase1", "an upper-case letter"),
        ("ALLUPPERCASE1", "a lower-case letter"),
        ("NoDigitsHereAtAll", "a digit"),
    ] {
        let response = sign_up(&app, json!({ "username": "dave", "password": password })).await;
        let message = error_message(response, StatusCode::BAD_REQUEST).await;
        assert!(message.contains(rule), "{password}: {message}");
    }
    let response = sign_up(&app, json!({ "username": "dave", "password": "short" })).await;
    let message = error_message(response, StatusCode::BAD_REQUEST).await;
    for rule in ["at least 10 characters", "an upper-case letter", "a digit"] {
        assert!(message.contains(rule), "{message}");
    }
    assert_eq!(
        app.login("dave", "short").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn bad_names_emails_and_bodies_are_400s() {
    let app = TestApp::spawn().await;
    for body in [
        json!({ "username": "carol", "password": PASSWORD, "email": "not-an-email" }),
        json!({ "username": "carol", "password": PASSWORD, "email": "a@b" }),
        json!({ "username": "has space", "password": PASSWORD }),
        json!({ "username": "cognito:carol", "password": PASSWORD }),
        json!({ "username": "", "password": PASSWORD }),
        json!({ "username": "carol" }),
        json!({ "username": "carol", "password": PASSWORD, "admin": true }),
    ] {
        let response = sign_up(&app, body.clone()).await;
        let message = error_message(response, StatusCode::BAD_REQUEST).await;
        assert!(!message.is_empty(), "{body}");
    }
    assert_eq!(
        app.login("carol", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_client_can_ask_whether_sign_up_is_open_before_offering_it() {
    for open in [true, false] {
        let app = TestApp::spawn_with(ServiceSettings {
            signup: open,
            ..ServiceSettings::default()
        })
        .await;
        let (status, body) = status_json(
            app.request(Method::GET, "/auth/config")
                .send()
                .await
                .unwrap(),
        )
        .await;
        let expected = json!({ "signup": open, "password": true, "provider": null });
        assert_eq!((status, body), (StatusCode::OK, expected));
    }
}

#[tokio::test]
async fn a_taken_name_is_a_409_and_the_first_account_is_kept() {
    let app = TestApp::spawn().await;
    signed_up(&app, "carol").await;
    let response = sign_up(
        &app,
        json!({ "username": "carol", "password": "Another1Password" }),
    )
    .await;
    assert_eq!(
        error_message(response, StatusCode::CONFLICT).await,
        "Username is taken"
    );
    assert_eq!(app.login("carol", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn with_sign_up_closed_nobody_can_make_an_account() {
    let app = TestApp::spawn_with(ServiceSettings {
        signup: false,
        ..ServiceSettings::default()
    })
    .await;
    let response = sign_up(&app, json!({ "username": "carol", "password": PASSWORD })).await;
    let message = error_message(response, StatusCode::FORBIDDEN).await;
    assert!(message.contains("Sign-up is closed"), "{message}");
    assert_eq!(
        app.login("carol", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_user_sees_their_own_profile_but_not_anothers() {
    let app = TestApp::spawn().await;
    let carol = signed_up(&app, "carol").await;
    signed_up(&app, "dave").await;

    let (status, profile) = status_json(
        app.authed(Method::GET, "/users/carol", token(&carol))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(profile["username"], "carol");
    assert_no_secret(&profile);

    // Another's account and one that does not exist get the same refusal.
    for other in ["/users/dave", "/users/nobody", "/users/dave/export"] {
        let response = app
            .authed(Method::GET, other, token(&carol))
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_message(response, StatusCode::FORBIDDEN).await,
            "User is not authorized to access this resource",
            "{other}"
        );
    }
    let response = app
        .authed(Method::DELETE, "/users/dave", token(&carol))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.login("dave", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn only_administrators_list_users_and_they_page_like_todos() {
    let app = TestApp::spawn().await;
    let carol = signed_up(&app, "carol").await;
    let response = app
        .authed(Method::GET, "/users", token(&carol))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let admin = make_admin(&app, "root").await;
    for name in ["u1", "u2", "u3", "u4"] {
        app.create_user(name).await;
    }
    let mut names = Vec::new();
    let mut path = "/users?limit=2".to_owned();
    loop {
        let response = app.authed(Method::GET, &path, &admin).send().await.unwrap();
        let next = response
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_owned());
        let (status, page) = status_json(response).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.as_array().unwrap().len() <= 2);
        for profile in page.as_array().unwrap() {
            assert_no_secret(profile);
            names.push(profile["username"].as_str().unwrap().to_owned());
        }
        match next {
            Some(link) => {
                path = link
                    .trim_start_matches('<')
                    .split_once('>')
                    .unwrap()
                    .0
                    .to_owned()
            }
            None => break,
        }
    }
    assert_eq!(names, ["carol", "root", "u1", "u2", "u3", "u4"]);

    // A cursor of the users list is no cursor of a todo list, and the other way round.
    let response = app
        .authed(Method::GET, "/users?limit=2", &admin)
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
        .authed(Method::GET, &format!("/todos?cursor={cursor}"), &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn deleting_your_account_takes_your_todos_sessions_and_tokens() {
    let app = TestApp::spawn().await;
    let carol = signed_up(&app, "carol").await;
    app.create_todo(token(&carol), "mine").await;
    let response = app
        .authed(Method::DELETE, "/users/carol", token(&carol))
        .json(&json!({ "current_password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    assert_eq!(
        app.list_todos(token(&carol), "").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let refresh = app
        .request(Method::POST, "/refresh")
        .json(&json!({ "refresh_token": carol["refresh_token"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(refresh.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.login("carol", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // A new carol starts empty.
    let again = signed_up(&app, "carol").await;
    let (_, list) = status_json(app.list_todos(token(&again), "").await).await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn an_administrator_manages_other_accounts() {
    let app = TestApp::spawn().await;
    let admin = make_admin(&app, "root").await;
    let carol = signed_up(&app, "carol").await;
    app.create_todo(token(&carol), "carol's").await;

    let (status, profile) = status_json(
        app.authed(Method::GET, "/users/carol", &admin)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, profile["username"].clone()),
        (StatusCode::OK, json!("carol"))
    );
    let response = app
        .authed(Method::GET, "/users/nobody", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_message(response, StatusCode::NOT_FOUND).await,
        "User not found"
    );

    // A new password without the old one; carol's sessions end.
    let response = app
        .authed(Method::PUT, "/users/carol/password", &admin)
        .json(&json!({ "new_password": "Brand1NewPassword" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.list_todos(token(&carol), "").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("carol", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("carol", "Brand1NewPassword").await.status(),
        StatusCode::OK
    );

    let response = app
        .authed(Method::DELETE, "/users/carol", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = app
        .authed(Method::DELETE, "/users/carol", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn changing_your_password_needs_the_current_one_and_ends_your_other_sessions() {
    let app = TestApp::spawn().await;
    let here = signed_up(&app, "carol").await;
    let (_, elsewhere) = status_json(app.login("carol", PASSWORD).await).await;
    let change = |body: Value| {
        app.authed(Method::PUT, "/users/carol/password", token(&here))
            .json(&body)
            .send()
    };

    let response = change(json!({ "new_password": "Brand1NewPassword" }))
        .await
        .unwrap();
    let message = error_message(response, StatusCode::BAD_REQUEST).await;
    assert!(message.contains("current_password"), "{message}");
    let response = change(
        json!({ "current_password": "Wrong1Password", "new_password": "Brand1NewPassword" }),
    )
    .await
    .unwrap();
    assert_eq!(
        error_message(response, StatusCode::FORBIDDEN).await,
        "The current password is not right"
    );
    let response = change(json!({ "current_password": PASSWORD, "new_password": "weak" }))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let response =
        change(json!({ "current_password": PASSWORD, "new_password": "Brand1NewPassword" }))
            .await
            .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // This session goes on; the other one is over, refresh token and all.
    assert_eq!(
        app.list_todos(token(&here), "").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.list_todos(token(&elsewhere), "").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let refresh = app
        .request(Method::POST, "/refresh")
        .json(&json!({ "refresh_token": elsewhere["refresh_token"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(refresh.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.login("carol", "Brand1NewPassword").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_export_holds_the_profile_and_every_todo() {
    let app = TestApp::spawn().await;
    let carol = signed_up(&app, "carol").await;
    let mut made = Vec::new();
    for i in 0..3 {
        made.push(app.create_todo(token(&carol), &format!("todo {i}")).await);
    }
    let dave = signed_up(&app, "dave").await;
    app.create_todo(token(&dave), "not carol's").await;

    let response = app
        .authed(Method::GET, "/users/carol/export", token(&carol))
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let (status, export) = status_json(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(export["profile"]["username"], "carol");
    assert_eq!(export["todos"], json!(made));
    assert_no_secret(&export["profile"]);
}
