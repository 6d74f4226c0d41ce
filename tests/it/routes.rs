//! The route table as a whole: the OpenAPI document agrees with what each route enforces,
//! unknown routes and methods, body limits, health, restarts, and no 5xx for any input.

use checkoff::ServiceSettings;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_message, reopen_store, status_json};

const UNAUTHORIZED: &str = "{\"message\":\"Unauthorized\"}\n";

/// Every (method, path) of the OpenAPI document, with whether it declares a security requirement.
fn documented_operations() -> Vec<(Method, String, bool)> {
    let doc = serde_json::to_value(checkoff::api::openapi()).unwrap();
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let secured = operation
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|s| !s.is_empty());
            operations.push((
                method.to_uppercase().parse::<Method>().unwrap(),
                path.clone(),
                secured,
            ));
        }
    }
    operations.sort_by(|a, b| (a.1.as_str(), a.0.as_str()).cmp(&(b.1.as_str(), b.0.as_str())));
    operations
}

#[test]
fn the_document_lists_exactly_the_served_routes() {
    let listed: Vec<String> = documented_operations()
        .iter()
        .map(|(m, p, _)| format!("{m} {p}"))
        .collect();
    assert_eq!(
        listed,
        [
            "GET /",
            "GET /admin/todos",
            "GET /assets/{file}",
            "GET /auth/config",
            "POST /batch",
            "GET /healthz",
            "GET /lists",
            "POST /lists",
            "DELETE /lists/{id}",
            "GET /lists/{id}",
            "PATCH /lists/{id}",
            "GET /lists/{id}/members",
            "DELETE /lists/{id}/members/{username}",
            "PUT /lists/{id}/members/{username}",
            "POST /login",
            "POST /logout",
            "GET /openapi.json",
            "POST /refresh",
            "DELETE /sessions",
            "GET /sessions",
            "DELETE /sessions/{id}",
            "GET /sync",
            "DELETE /todos",
            "GET /todos",
            "POST /todos",
            "POST /todos/complete-all",
            "GET /todos/events",
            "DELETE /todos/{uid}",
            "GET /todos/{uid}",
            "PATCH /todos/{uid}",
            "PUT /todos/{uid}",
            "POST /todos/{uid}/move",
            "GET /users",
            "POST /users",
            "DELETE /users/{username}",
            "GET /users/{username}",
            "PATCH /users/{username}",
            "GET /users/{username}/export",
            "PUT /users/{username}/password",
            "GET /whoami",
        ]
    );
}

#[tokio::test]
async fn every_documented_security_requirement_is_enforced_and_no_other() {
    let app = TestApp::spawn().await;
    let asset = first_asset(&app).await;
    for (method, path, secured) in documented_operations() {
        let path = path
            .replace("{uid}", &uuid::Uuid::now_v7().to_string())
            .replace("/assets/{file}", &asset);
        let response = app
            .request(method.clone(), &path)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        if secured {
            assert_eq!(
                (status, body.as_str()),
                (StatusCode::UNAUTHORIZED, UNAUTHORIZED),
                "{method} {path}"
            );
        } else {
            assert_ne!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} needs no token: {body}"
            );
            assert_ne!(status, StatusCode::NOT_FOUND, "{method} {path} is routed");
        }
    }
}

/// The path of the first asset the web app's page links.
async fn first_asset(app: &TestApp) -> String {
    let page = app
        .request(Method::GET, "/")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = page.find("\"assets/").expect("the page links an asset") + 1;
    let end = start + page[start..].find('"').unwrap();
    format!("/{}", &page[start..end])
}

/// A concrete path for a documented one: the caller's own name, a fresh uid or id.
fn concrete(path: &str, name: &str) -> String {
    path.replace("{uid}", &uuid::Uuid::now_v7().to_string())
        .replace("{id}", &uuid::Uuid::new_v4().to_string())
        .replace("{username}", name)
}

#[tokio::test]
async fn every_protected_route_honours_a_tokens_route_grants() {
    let app = TestApp::spawn().await;
    app.create_user("alice").await;
    // An administrator, so that every route can answer past its grant check; the account
    // routes name someone else, so that none of these calls deletes alice.
    let alice = checkoff::domain::Username::parse("alice").unwrap();
    app.store.set_admin(&alice, true).await.unwrap();
    let account = app.account_created("alice").await;
    let tokens =
        checkoff::auth::TokenService::new(&app.secret, std::time::Duration::from_secs(600));
    let token_for = |pattern: &str| {
        let grants = checkoff::auth::RouteGrants::parse(&[pattern]).unwrap();
        tokens
            .issue("alice", &account, None, Some(&grants), None)
            .unwrap()
            .token
    };
    let forbidden = "{\"message\":\"User is not authorized to access this resource\"}\n";
    for (method, path, secured) in documented_operations() {
        if !secured {
            continue;
        }
        let concrete = concrete(&path, "nobody");
        // Granted exactly this route: whatever the answer, it is not the grant's refusal.
        let granted = token_for(&format!("{method} {concrete}"));
        let response = app
            .authed(method.clone(), &concrete, &granted)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        // An event stream's body never ends: its status says enough.
        let body = if concrete.ends_with("/events") {
            String::new()
        } else {
            response.text().await.unwrap()
        };
        assert!(
            status != StatusCode::FORBIDDEN || body != forbidden,
            "{method} {concrete} with a grant for it: {status} {body}"
        );
        assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {concrete}");
        // Granted only another method on the same path, or only another path: refused.
        let other_method = if method == Method::GET { "POST" } else { "GET" };
        for pattern in [
            format!("{other_method} {concrete}"),
            "* /elsewhere*".to_owned(),
        ] {
            let response = app
                .authed(method.clone(), &concrete, &token_for(&pattern))
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            assert_eq!(
                (response.status(), response.text().await.unwrap().as_str()),
                (StatusCode::FORBIDDEN, forbidden),
                "{method} {concrete} with only {pattern:?}"
            );
        }
    }
}

#[tokio::test]
async fn the_openapi_document_is_served() {
    let app = TestApp::spawn().await;
    let (status, doc) = status_json(
        app.request(Method::GET, "/openapi.json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc["paths"]["/todos/{uid}"]["patch"].is_object());
    assert!(doc["components"]["securitySchemes"]["token"].is_object());
}

/// The committed document, `docs/openapi.json`, is what the code makes: a change to the API's
/// description is a change to that file, seen in review. `UPDATE_SNAPSHOTS=1` rewrites it.
#[test]
fn the_document_matches_its_snapshot() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json");
    let made = serde_json::to_string_pretty(&checkoff::api::openapi()).unwrap() + "\n";
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &made).unwrap();
    }
    let kept = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        kept == made,
        "docs/openapi.json differs from the document the code makes: if the change is meant, \
         run UPDATE_SNAPSHOTS=1 cargo test --test it routes::the_document_matches_its_snapshot \
         and review the diff"
    );
}

/// What issue 11 found wrong in the document, and what a generated client needs from it.
#[test]
fn the_document_says_what_the_server_enforces() {
    let doc = serde_json::to_value(checkoff::api::openapi()).unwrap();
    let schemas = &doc["components"]["schemas"];
    let put = &doc["paths"]["/todos/{uid}"]["put"];
    let if_match = put["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "If-Match")
        .unwrap();
    assert_eq!(if_match["schema"]["type"], "string", "{if_match}");
    assert!(if_match["schema"]["pattern"].is_string());
    // A change needs at least one field, and null is a value only of those it removes.
    let changes = &schemas["TodoChanges"];
    assert_eq!(changes["minProperties"], 1);
    for (field, schema) in changes["properties"].as_object().unwrap() {
        let nullable = schema.to_string().contains("null");
        let clearable = ["title", "notes", "due"].contains(&field.as_str());
        assert_eq!(nullable, clearable, "{field}: {schema}");
    }
    // The bounds the parsers enforce.
    let description = &schemas["Description"];
    assert_eq!(description["minLength"], 1);
    assert!(description["pattern"].as_str().unwrap().contains("{0,998}"));
    let login = &schemas["LoginRequest"]["properties"];
    assert_eq!(login["username"]["maxLength"], 64);
    assert_eq!(login["password"]["maxLength"], 1024);
    assert_eq!(schemas["SignUp"]["properties"]["password"]["minLength"], 10);
    // Operation ids are unique (PUT and PATCH share a handler).
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_owned()), "{method} {path}: {id} twice");
            let protected = operation["security"]
                .as_array()
                .is_some_and(|s| !s.is_empty());
            for (status, response) in operation["responses"].as_object().unwrap() {
                let what = format!("{method} {path} {status}");
                assert!(
                    response["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{what}"
                );
                assert!(response["headers"]["X-Request-Id"].is_object(), "{what}");
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/Error",
                        "{what}"
                    );
                }
            }
            let responses = &operation["responses"];
            assert!(
                responses["503"]["headers"]["Retry-After"].is_object(),
                "{method} {path}"
            );
            if protected {
                assert!(
                    responses["401"]["headers"]["WWW-Authenticate"].is_object(),
                    "{method} {path}"
                );
                assert!(responses["403"].is_object(), "{method} {path}");
            }
            if operation.get("requestBody").is_some() {
                assert!(responses["413"].is_object(), "{method} {path}");
            }
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                assert!(
                    !parameter["schema"].to_string().contains("null"),
                    "{method} {path}"
                );
                if parameter["in"] == "path" {
                    assert_eq!(parameter["required"], true, "{method} {path}");
                }
            }
        }
    }
    // Links name operations that exist (an id renamed would leave them pointing nowhere).
    let mut links = 0;
    for item in doc["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            for response in operation["responses"].as_object().unwrap().values() {
                for link in response["links"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|l| l.1)
                {
                    assert!(
                        ids.contains(link["operationId"].as_str().unwrap()),
                        "{link}"
                    );
                    links += 1;
                }
            }
        }
    }
    assert!(links >= 4, "a new todo links to its item routes");
    let created = &doc["paths"]["/todos"]["post"]["responses"]["201"]["headers"];
    assert!(created["Location"].is_object() && created["ETag"].is_object());
    assert!(doc["paths"]["/todos"]["get"]["responses"]["200"]["headers"]["Link"].is_object());
}

#[tokio::test]
async fn null_is_not_a_value_of_an_optional_field() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let todo = app.create_todo(&token, "Buy milk").await;
    let uid = todo["uid"].as_str().unwrap();
    for body in [
        json!({ "description": null }),
        json!({ "description": null, "state": "started" }),
        json!({}),
    ] {
        let response = app
            .authed(Method::PUT, &format!("/todos/{uid}"), &token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    let (status, unchanged) = status_json(
        app.authed(Method::GET, &format!("/todos/{uid}"), &token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(unchanged["version"], todo["version"]);
}

#[tokio::test]
async fn unknown_paths_are_json_404s() {
    let app = TestApp::spawn().await;
    for path in ["/nope", "/todos/a/b", "/login/x"] {
        let response = app.request(Method::GET, path).send().await.unwrap();
        assert_eq!(
            error_message(response, StatusCode::NOT_FOUND).await,
            "Not found",
            "{path}"
        );
    }
}

#[tokio::test]
async fn unsupported_methods_are_json_405s_with_allow() {
    let app = TestApp::spawn().await;
    let todo_path = format!("/todos/{}", uuid::Uuid::now_v7());
    for (method, path) in [
        (Method::PUT, "/todos"),
        (Method::GET, "/login"),
        (Method::POST, todo_path.as_str()),
        (Method::PUT, "/healthz"),
    ] {
        let response = app.request(method.clone(), path).send().await.unwrap();
        assert!(response.headers().contains_key("allow"), "{method} {path}");
        assert_eq!(
            error_message(response, StatusCode::METHOD_NOT_ALLOWED).await,
            "Method not allowed"
        );
    }
}

#[tokio::test]
async fn bodies_over_64_kib_are_413s() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let huge = json!({ "description": "x".repeat(70 * 1024) });
    let create = app
        .authed(Method::POST, "/todos", &token)
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_message(create, StatusCode::PAYLOAD_TOO_LARGE).await,
        "Request body is larger than 64 KiB"
    );
    let login = app
        .request(Method::POST, "/login")
        .json(&json!({"username": "x".repeat(70 * 1024), "password": "p"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let fits = json!({ "description": "ok", "metadata": { "k": "x".repeat(15 * 1024) } });
    let created = app
        .authed(Method::POST, "/todos", &token)
        .json(&fits)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn health_reports_ok_while_the_store_answers() {
    let app = TestApp::spawn().await;
    let (status, body) =
        status_json(app.request(Method::GET, "/healthz").send().await.unwrap()).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
}

#[tokio::test]
async fn todos_and_tokens_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = TestApp::spawn_in(dir.path(), ServiceSettings::default()).await;
    let store = std::sync::Arc::clone(&first.store);
    let token = first.user_token("alice").await;
    let todo = first.create_todo(&token, "durable").await;
    first.stop().await;

    let second = TestApp::spawn_on(
        reopen_store(dir.path(), &store).await,
        dir.path(),
        ServiceSettings::default(),
    )
    .await;
    let (status, listed) = status_json(second.list_todos(&token, "").await).await;
    assert_eq!((status, listed), (StatusCode::OK, json!([todo])));
    second.stop().await;
}

#[tokio::test]
async fn no_input_makes_the_server_answer_5xx() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let todo = app.create_todo(&token, "target").await;
    let item = format!("/todos/{}", todo["uid"].as_str().unwrap());
    let paths = [
        "/login",
        "/todos",
        item.as_str(),
        "/todos/x",
        "/healthz",
        "/todos?limit=%ZZ&state=\u{0}",
        "/%2e%2e/etc/passwd",
    ];
    let bodies: [&[u8]; 10] = [
        b"",
        b"{",
        b"null",
        b"[]",
        b"{\"description\": \"\\ud800\"}",
        b"{\"description\": 1e999}",
        b"\xff\xfe\x00",
        b"{\"metadata\": {\"a\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}",
        b"{\"description\": \"a\", \"description\": \"b\"}",
        b"{\"state\": \"completed\", \"username\": \"alice\", \"password\": \"x\"}",
    ];
    let headers = [
        ("authorization", format!("Bearer {token}")),
        ("authorization", "Bearer \u{7f}".to_owned()),
        ("if-match", "\"99999999999999999999999\"".to_owned()),
        ("content-type", "text/plain".to_owned()),
    ];
    for method in [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ] {
        for path in paths {
            for body in bodies {
                for (name, value) in &headers {
                    let mut request = app.request(method.clone(), path).body(body.to_vec());
                    if *name != "authorization" {
                        request = request.header("authorization", format!("Bearer {token}"));
                    }
                    if let Ok(value) = reqwest::header::HeaderValue::from_str(value) {
                        request = request.header(*name, value);
                    }
                    let response = request.send().await.unwrap();
                    assert!(
                        response.status().as_u16() < 500,
                        "{method} {path} {body:?} {name}: {}",
                        response.status()
                    );
                }
            }
        }
    }
}

#[test]
fn the_lists_parameters_are_documented_as_the_optional_query_parameters_they_are() {
    let doc = serde_json::to_value(checkoff::api::openapi()).unwrap();
    let parameters = doc["paths"]["/todos"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .clone();
    let names: Vec<&str> = parameters
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "state",
            "limit",
            "cursor",
            "sort",
            "view",
            "tz",
            "due_before",
            "due_after",
            "q",
            "list"
        ]
    );
    for parameter in &parameters {
        assert_eq!(parameter["in"], "query", "{parameter}");
        assert_eq!(parameter["required"], false, "{parameter}");
        assert!(
            !parameter["schema"].to_string().contains("null"),
            "{parameter}"
        );
    }
    assert_eq!(parameters[1]["schema"]["minimum"], 1);
    assert_eq!(parameters[1]["schema"]["maximum"], 1000);
}

#[tokio::test]
async fn every_json_answer_ends_with_a_newline() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let todo = app.create_todo(&token, "milk").await;
    let uid = todo["uid"].as_str().unwrap();
    let one = format!("/todos/{uid}");
    let requests = [
        (Method::GET, "/healthz", None, None),
        (Method::GET, "/openapi.json", None, None),
        (Method::GET, "/auth/config", None, None),
        (Method::GET, "/todos", Some(&token), None),
        (Method::GET, "/todos", Some(&token), None), // from the list cache
        (
            Method::POST,
            "/todos",
            Some(&token),
            Some(json!({"description": "eggs"})),
        ),
        (Method::GET, one.as_str(), Some(&token), None),
        (
            Method::PATCH,
            one.as_str(),
            Some(&token),
            Some(json!({"state": "started"})),
        ),
        (Method::POST, "/todos/complete-all", Some(&token), None),
        (Method::GET, "/whoami", Some(&token), None),
        (Method::GET, "/sessions", Some(&token), None),
        (Method::GET, "/users/alice", Some(&token), None),
        (Method::GET, "/users/alice/export", Some(&token), None),
        (Method::GET, "/todos", None, None),   // 401
        (Method::GET, "/nope", None, None),    // 404
        (Method::PUT, "/healthz", None, None), // 405
        (Method::POST, "/todos", Some(&token), Some(json!({"x": 1}))), // 400
    ];
    for (method, path, token, body) in requests {
        let mut request = app.request(method.clone(), path);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        let text = response.text().await.unwrap();
        assert!(
            content_type.starts_with("application/json"),
            "{method} {path}: {content_type}"
        );
        assert!(
            text.ends_with("}\n") || text.ends_with("]\n"),
            "{method} {path} ({status}) ends without a newline: {text:?}"
        );
        serde_json::from_str::<Value>(&text).expect("JSON");
    }
}

/// Every `$ref` of the document names a schema it has: generated clients skip an operation
/// whose parameter points nowhere.
#[test]
fn every_reference_in_the_document_resolves() {
    fn refs<'v>(value: &'v Value, found: &mut Vec<&'v str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    found.push(target);
                }
                map.values().for_each(|v| refs(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }
    let doc = serde_json::to_value(checkoff::api::openapi()).unwrap();
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for target in found {
        let path = target.strip_prefix("#/").expect(target);
        let resolved = path.split('/').try_fold(&doc, |at, key| at.get(key));
        assert!(resolved.is_some(), "{target} points nowhere");
    }
}
