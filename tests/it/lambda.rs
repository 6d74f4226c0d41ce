//! The real binary under a Lambda Runtime API emulator: API Gateway REST (v1), HTTP API (v2)
//! and Function URL events for the walkthrough of the original sample, the Lambda authorizer's
//! TOKEN and REQUEST events, identities from API Gateway's request context (taken only when
//! configured), and an init failure reported through the init-error call. On the store of
//! `CHECKOFF_TEST_STORE`, like the API suite.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use checkoff::store::Store;
use serde_json::{Value, json};

use crate::cli::{Running, bare_command, bare_command_of};
use crate::helpers::{PASSWORD, dynamodb_endpoint, fresh_dynamo_table};
use crate::runtime_api::{ANSWER_LIMIT, Answer, RuntimeApi};

/// The store of the run, seen from the test and from the function's environment.
struct TestStore {
    store: Arc<dyn Store>,
    env: Vec<(String, String)>,
    dir: tempfile::TempDir,
}

impl TestStore {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let secret = STANDARD.encode([7u8; 32]);
        let mut env = vec![("CHECKOFF_JWT_SECRET".to_owned(), secret)];
        let store: Arc<dyn Store> = if crate::helpers::on_dynamodb() {
            let endpoint = dynamodb_endpoint().expect("DynamoDB Local");
            let store = fresh_dynamo_table(&endpoint).await;
            // No CHECKOFF_STORE: under Lambda the store is DynamoDB unless said otherwise.
            env.push(("CHECKOFF_TABLE".into(), store.table().to_owned()));
            env.extend(crate::runtime_api::aws_environment());
            Arc::new(store)
        } else {
            env.push(("CHECKOFF_STORE".into(), "sqlite".into()));
            env.push(("CHECKOFF_DATA_DIR".into(), dir.path().display().to_string()));
            Arc::new(checkoff::store::SqliteStore::open(dir.path()).unwrap())
        };
        Self { store, env, dir }
    }

    /// Where the function with `handler` logs (standard error, as CloudWatch takes it).
    fn log(&self, handler: &str) -> std::path::PathBuf {
        self.dir.path().join(format!("{handler}.log"))
    }

    async fn add_user(&self, name: &str) {
        crate::helpers::add_user(&*self.store, name).await;
    }
}

/// The binary as Lambda starts it: no arguments, the Runtime API's address and the function's
/// settings in the environment.
fn start_function(
    api: &RuntimeApi,
    store: &TestStore,
    handler: &str,
    env: &[(&str, &str)],
) -> Running {
    // scripts/lambda-build runs these tests against the bootstrap of the zip it built.
    let mut command = match std::env::var("CHECKOFF_LAMBDA_BOOTSTRAP") {
        Ok(bootstrap) => bare_command_of(&bootstrap),
        Err(_) => bare_command(),
    };
    command
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "checkoff")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("_HANDLER", handler)
        .envs(store.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .env("RUST_LOG", "info")
        .stderr(std::fs::File::create(store.log(handler)).expect("a log file"));
    Running(command.spawn().expect("start the function"))
}

/// The three HTTP event shapes that reach a function.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// API Gateway REST API, stage `dev` in the public path.
    Rest,
    /// API Gateway HTTP API with a named stage `dev`.
    Http,
    /// A Lambda Function URL.
    FunctionUrl,
}

/// An HTTP request as the event of `shape`.
fn event(
    shape: Shape,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
    authorizer: Option<Value>,
) -> Value {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let header_map: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    let body = body.map(Value::to_string);
    match shape {
        Shape::Rest => {
            let query_map: serde_json::Map<String, Value> = query
                .split('&')
                .filter(|p| !p.is_empty())
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.to_owned(), json!([v])))
                .collect();
            let mut context = json!({
                "accountId": "123456789012", "resourceId": "r1", "stage": "dev",
                "requestId": "rest-request-1", "httpMethod": method, "path": format!("/dev{path}"),
                "identity": { "sourceIp": "203.0.113.9", "userAgent": "tests" },
                "apiId": "abc123", "protocol": "HTTP/1.1",
            });
            if let Some(authorizer) = authorizer {
                context["authorizer"] = authorizer;
            }
            json!({
                "resource": path, "path": path, "httpMethod": method,
                "headers": header_map,
                "multiValueHeaders": header_map.iter().map(|(k, v)| (k.clone(), json!([v]))).collect::<serde_json::Map<_, _>>(),
                "multiValueQueryStringParameters": if query_map.is_empty() { Value::Null } else { Value::Object(query_map) },
                "requestContext": context,
                "body": body, "isBase64Encoded": false,
            })
        }
        Shape::Http | Shape::FunctionUrl => {
            let (raw_path, stage, domain) = match shape {
                Shape::Http => (
                    format!("/dev{path}"),
                    "dev",
                    "abc123.execute-api.us-east-1.amazonaws.com",
                ),
                _ => (
                    path.to_owned(),
                    "$default",
                    "abc123.lambda-url.us-east-1.on.aws",
                ),
            };
            let mut context = json!({
                "accountId": "123456789012", "apiId": "abc123", "domainName": domain,
                "requestId": "http-request-1", "routeKey": "$default", "stage": stage,
                "http": { "method": method, "path": raw_path, "protocol": "HTTP/1.1",
                          "sourceIp": "203.0.113.9", "userAgent": "tests" },
                "time": "25/Nov/2026:10:00:00 +0000", "timeEpoch": 0,
            });
            if let Some(authorizer) = authorizer {
                context["authorizer"] = authorizer;
            }
            json!({
                "version": "2.0", "routeKey": "$default",
                "rawPath": raw_path, "rawQueryString": query,
                "headers": header_map,
                "requestContext": context,
                "body": body, "isBase64Encoded": false,
            })
        }
    }
}

/// Status, headers (lower case) and JSON body (or `Null`) of an HTTP answer.
fn http_answer(answer: Answer) -> (u16, HashMap<String, String>, Value) {
    let Answer::Response(response) = answer else {
        panic!("the function failed: {answer:?}");
    };
    let status = response["statusCode"].as_u64().expect("statusCode") as u16;
    let mut headers = HashMap::new();
    if let Some(map) = response["headers"].as_object() {
        for (k, v) in map {
            headers.insert(
                k.to_ascii_lowercase(),
                v.as_str().unwrap_or_default().to_owned(),
            );
        }
    }
    if let Some(map) = response["multiValueHeaders"].as_object() {
        for (k, v) in map {
            if let Some(first) = v.get(0).and_then(Value::as_str) {
                headers.insert(k.to_ascii_lowercase(), first.to_owned());
            }
        }
    }
    let body = response["body"]
        .as_str()
        .filter(|b| !b.is_empty())
        .map(|b| serde_json::from_str(b).unwrap_or_else(|_| panic!("not JSON: {b}")))
        .unwrap_or(Value::Null);
    (status, headers, body)
}

/// The stage prefix the caller sees in front of paths, in links the function sends back.
fn public_prefix(shape: Shape) -> &'static str {
    match shape {
        Shape::Rest | Shape::Http => "/dev",
        Shape::FunctionUrl => "",
    }
}

/// The seed's walkthrough, as events of `shape`: log in, list, refuse without a token, add,
/// complete, read back, page, delete.
async fn walkthrough(shape: Shape) {
    let api = RuntimeApi::start().await;
    let store = TestStore::new().await;
    store.add_user("myusername").await;
    let _function = start_function(&api, &store, "bootstrap", &[]);
    let call = async |method: &str, path: &str, token: Option<&str>, body: Option<Value>| {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(auth) = &auth {
            headers.push(("authorization", auth.as_str()));
        }
        http_answer(
            api.invoke(event(shape, method, path, &headers, body.as_ref(), None))
                .await,
        )
    };

    let (status, _, body) = call(
        "POST",
        "/login",
        None,
        Some(json!({"username": "myusername", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();

    let (status, _, body) = call("GET", "/todos", Some(&token), None).await;
    assert_eq!((status, body), (200, json!([])));
    let (status, _, body) = call("GET", "/todos", None, None).await;
    assert_eq!((status, body), (401, json!({"message": "Unauthorized"})));

    let (status, headers, todo) = call(
        "POST",
        "/todos",
        Some(&token),
        Some(json!({"description": "My first Todo", "metadata": {}})),
    )
    .await;
    assert_eq!(status, 201, "{todo}");
    let uid = todo["uid"].as_str().unwrap().to_owned();
    let prefix = public_prefix(shape);
    assert_eq!(headers["location"], format!("{prefix}/todos/{uid}"));

    let (status, _, updated) = call(
        "PUT",
        &format!("/todos/{uid}"),
        Some(&token),
        Some(json!({"state": "completed"})),
    )
    .await;
    assert_eq!((status, &updated["state"]), (200, &json!("completed")));
    let (status, headers, read) = call("GET", &format!("/todos/{uid}"), Some(&token), None).await;
    assert_eq!((status, &read["state"]), (200, &json!("completed")));
    assert_eq!(headers["etag"], "\"2\"");

    call(
        "POST",
        "/todos",
        Some(&token),
        Some(json!({"description": "second"})),
    )
    .await;
    let (status, headers, page) = call("GET", "/todos?limit=1", Some(&token), None).await;
    assert_eq!((status, page.as_array().unwrap().len()), (200, 1));
    let link = &headers["link"];
    assert!(
        link.starts_with(&format!("<{prefix}/todos?limit=1&cursor=")),
        "{link}"
    );
    let next = link
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .strip_prefix(prefix)
        .unwrap()
        .to_owned();
    let (status, _, page) = call("GET", &next, Some(&token), None).await;
    assert_eq!((status, &page[0]["description"]), (200, &json!("second")));

    let (status, _, _) = call("DELETE", &format!("/todos/{uid}"), Some(&token), None).await;
    assert_eq!(status, 204);
    let (status, _, body) = call("GET", &format!("/todos/{uid}"), Some(&token), None).await;
    assert_eq!((status, body), (404, json!({"message": "Todo not found"})));

    // One log line per request, with API Gateway's request id, and never the token.
    let log = std::fs::read_to_string(store.log("bootstrap")).unwrap();
    let request_id = match shape {
        Shape::Rest => "rest-request-1",
        _ => "http-request-1",
    };
    let created = log
        .lines()
        .find(|l| l.contains("method=POST") && l.contains("path=/todos"))
        .unwrap_or_else(|| panic!("no line for the create: {log}"));
    assert!(
        created.contains(&format!("request_id=\"{request_id}\"")),
        "{created}"
    );
    assert!(created.contains("status=201"), "{created}");
    assert!(!log.contains(&token), "the token was logged");
}

#[tokio::test]
async fn the_walkthrough_works_through_api_gateway_rest_events() {
    walkthrough(Shape::Rest).await;
}

#[tokio::test]
async fn the_walkthrough_works_through_http_api_events() {
    walkthrough(Shape::Http).await;
}

#[tokio::test]
async fn the_walkthrough_works_through_function_url_events() {
    walkthrough(Shape::FunctionUrl).await;
}

/// A token for `name` signed with the test store's secret, as `/login` would give.
async fn login(api: &RuntimeApi, name: &str) -> String {
    let answer = api
        .invoke(event(
            Shape::FunctionUrl,
            "POST",
            "/login",
            &[],
            Some(&json!({"username": name, "password": PASSWORD})),
            None,
        ))
        .await;
    let (status, _, body) = http_answer(answer);
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

const METHOD_ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:abc123/dev/GET/todos";

fn token_event(token: &str) -> Value {
    json!({ "type": "TOKEN", "authorizationToken": token, "methodArn": METHOD_ARN })
}

#[tokio::test]
async fn the_authorizer_answers_token_and_request_events_with_the_policy_of_the_decision() {
    let store = TestStore::new().await;
    store.add_user("alice").await;
    let token = {
        let api = RuntimeApi::start().await;
        let _api_function = start_function(&api, &store, "bootstrap", &[]);
        login(&api, "alice").await
    };
    // An emulator of its own: a killed function's pending `next` call would take the next event.
    let api = RuntimeApi::start().await;
    let _authorizer = start_function(&api, &store, "authorizer", &[]);

    let Answer::Response(policy) = api.invoke(token_event(&format!("Bearer {token}"))).await else {
        panic!("the token was refused");
    };
    assert_eq!(policy["principalId"], "alice");
    let statement = &policy["policyDocument"]["Statement"][0];
    assert_eq!(statement["Effect"], "Allow");
    assert_eq!(statement["Action"], "execute-api:Invoke");
    assert_eq!(
        statement["Resource"],
        json!(["arn:aws:execute-api:us-east-1:123456789012:abc123/dev/*/*"])
    );
    assert_eq!(policy["context"]["admin"], false);
    assert!(policy["context"]["jti"].is_string());

    let request_event = json!({
        "type": "REQUEST", "methodArn": METHOD_ARN, "resource": "/todos", "path": "/todos",
        "httpMethod": "GET", "headers": { "Authorization": token },
        "requestContext": { "stage": "dev", "requestId": "r", "apiId": "abc123" },
    });
    let Answer::Response(policy) = api.invoke(request_event).await else {
        panic!("the REQUEST event was refused");
    };
    assert_eq!(policy["principalId"], "alice");

    for bad in [
        "Bearer not-a-token".to_owned(),
        String::new(),
        format!("{token}x"),
    ] {
        let answer = api.invoke(token_event(&bad)).await;
        let Answer::Error(error) = answer else {
            panic!("{bad:?} was allowed: {answer:?}");
        };
        assert_eq!(error["errorMessage"], "Unauthorized", "{bad:?}");
    }
}

#[tokio::test]
async fn a_base64_encoded_body_is_read_as_its_bytes() {
    let api = RuntimeApi::start().await;
    let store = TestStore::new().await;
    store.add_user("erin").await;
    let _function = start_function(&api, &store, "bootstrap", &[]);
    let login = json!({"username": "erin", "password": PASSWORD}).to_string();
    let mut request = event(Shape::Rest, "POST", "/login", &[], None, None);
    request["body"] = json!(STANDARD.encode(login));
    request["isBase64Encoded"] = json!(true);
    let (status, _, body) = http_answer(api.invoke(request).await);
    assert_eq!(status, 200, "{body}");
    assert!(body["token"].is_string());
}

#[tokio::test]
async fn a_scoped_token_is_allowed_only_its_routes_in_the_policy() {
    let api = RuntimeApi::start().await;
    let store = TestStore::new().await;
    store.add_user("bob").await;
    let secret = checkoff::auth::JwtSecret::from_base64(&store.env[0].1).unwrap();
    let tokens = checkoff::auth::TokenService::new(&secret, Duration::from_secs(600));
    let grants = checkoff::auth::RouteGrants::parse(&["GET /todos*"]).unwrap();
    let bob = checkoff::domain::Username::parse("bob").unwrap();
    let account = store
        .store
        .get_user(&bob)
        .await
        .unwrap()
        .unwrap()
        .created_at;
    let token = tokens
        .issue("bob", &account, None, Some(&grants), None)
        .unwrap()
        .token;
    let _authorizer = start_function(&api, &store, "authorizer", &[]);

    let Answer::Response(policy) = api.invoke(token_event(&token)).await else {
        panic!("refused");
    };
    assert_eq!(
        policy["policyDocument"]["Statement"][0]["Resource"],
        json!(["arn:aws:execute-api:us-east-1:123456789012:abc123/dev/GET/todos*"])
    );
    assert_eq!(policy["context"]["routes"], "GET /todos*");
}

/// `GET /todos` as a REST event carrying `authorizer` in its request context, no token.
fn vouched(authorizer: Value, method: &str, body: Option<&Value>) -> Value {
    let path = "/todos";
    event(Shape::Rest, method, path, &[], body, Some(authorizer))
}

#[tokio::test]
async fn a_builtin_function_ignores_an_authorizer_context_it_did_not_ask_for() {
    let api = RuntimeApi::start().await;
    let store = TestStore::new().await;
    store.add_user("alice").await;
    let _function = start_function(&api, &store, "bootstrap", &[]);
    let forged = json!({ "principalId": "alice", "claims": { "sub": "alice" } });
    let (status, _, body) = http_answer(api.invoke(vouched(forged, "GET", None)).await);
    assert_eq!((status, body), (401, json!({"message": "Unauthorized"})));
}

#[tokio::test]
async fn behind_checkoffs_lambda_authorizer_the_principal_comes_from_the_context() {
    let api = RuntimeApi::start().await;
    let store = TestStore::new().await;
    store.add_user("alice").await;
    let _function = start_function(
        &api,
        &store,
        "bootstrap",
        &[("CHECKOFF_AUTHORIZER", "lambda")],
    );

    // As API Gateway passes on the authorizer's context: every value as text.
    let alice = checkoff::domain::Username::parse("alice").unwrap();
    let account = store
        .store
        .get_user(&alice)
        .await
        .unwrap()
        .unwrap()
        .created_at;
    let exp = (checkoff::domain::Timestamp::now().unix_seconds() + 600).to_string();
    let context = json!({ "principalId": "alice", "jti": "x", "admin": "false",
        "acct": account.to_string(), "exp": exp });
    let new = json!({"description": "from the gateway"});
    let (status, _, todo) = http_answer(
        api.invoke(vouched(context.clone(), "POST", Some(&new)))
            .await,
    );
    assert_eq!(
        (status, &todo["username"]),
        (201, &json!("alice")),
        "{todo}"
    );
    let (status, _, list) = http_answer(api.invoke(vouched(context, "GET", None)).await);
    assert_eq!((status, list.as_array().unwrap().len()), (200, 1));

    // Our authorizer vouches only for users who exist; no context at all is no caller.
    let ghost = json!({ "principalId": "ghost" });
    let (status, _, _) = http_answer(api.invoke(vouched(ghost, "GET", None)).await);
    assert_eq!(status, 401);
    let bare = event(Shape::Rest, "GET", "/todos", &[], None, None);
    let (status, _, _) = http_answer(api.invoke(bare).await);
    assert_eq!(status, 401);
}

#[tokio::test]
async fn behind_cognito_a_new_caller_gets_a_profile_named_by_the_configured_claim() {
    let api = RuntimeApi::start().await;
    let store = TestStore::new().await;
    // A local account of the same name, with a todo, that the Cognito caller must not reach.
    store.add_user("carol").await;
    let local = checkoff::domain::Username::parse("carol").unwrap();
    let todo = checkoff::domain::Todo::new(
        local.clone(),
        checkoff::domain::Description::parse("local carol's").unwrap(),
        checkoff::domain::Metadata::default(),
    );
    store.store.create_todo(&todo).await.unwrap();
    let _function = start_function(
        &api,
        &store,
        "bootstrap",
        &[
            ("CHECKOFF_AUTHORIZER", "cognito"),
            ("CHECKOFF_IDENTITY_CLAIM", "cognito:username"),
        ],
    );
    let claims = json!({ "claims": { "sub": "0d1e2f30-aaaa-bbbb-cccc-000000000001", "cognito:username": "carol" } });
    let new = json!({"description": "from Cognito"});
    let (status, _, todo) = http_answer(api.invoke(vouched(claims, "POST", Some(&new))).await);
    assert_eq!(
        (status, &todo["username"]),
        (201, &json!("cognito:carol")),
        "{todo}"
    );
    let carol = checkoff::domain::Username::parse("cognito:carol").unwrap();
    let profile = store
        .store
        .get_user(&carol)
        .await
        .unwrap()
        .expect("profile created");
    assert!(
        profile.password_hash.is_empty(),
        "no password: signs in through Cognito only"
    );

    // HTTP API JWT authorizers put the claims elsewhere; the same caller, the same todos.
    let v2 = event(
        Shape::Http,
        "GET",
        "/todos",
        &[],
        None,
        Some(json!({ "jwt": { "claims": { "cognito:username": "carol" }, "scopes": null } })),
    );
    let (status, _, list) = http_answer(api.invoke(v2).await);
    assert_eq!(
        (status, list[0]["description"].clone()),
        (200, json!("from Cognito"))
    );

    // The decision, as API Gateway's authorizer made it.
    let claims = json!({ "claims": { "cognito:username": "carol", "email": "c@example.com" } });
    let me = event(Shape::Rest, "GET", "/whoami", &[], None, Some(claims));
    let (status, _, me) = http_answer(api.invoke(me).await);
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        (&me["principal"], &me["owner"], &me["authorizer"]),
        (&json!("carol"), &json!("cognito:carol"), &json!("cognito"))
    );
    assert_eq!(me["context"]["email"], "c@example.com");

    // A claim that is not there is no caller.
    let unnamed = json!({ "claims": { "sub": "x" } });
    let (status, _, _) = http_answer(api.invoke(vouched(unnamed, "GET", None)).await);
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_stage_whose_stack_made_the_pool_tells_the_web_app_to_sign_in_there() {
    let api = RuntimeApi::start().await;
    let store = TestStore::new().await;
    let _function = start_function(
        &api,
        &store,
        "bootstrap",
        &[("CHECKOFF_AUTHORIZER", "cognito")],
    );
    // API Gateway hands every event the stage's variables, which the template set.
    let with_variables = |path: &str| {
        let mut e = event(Shape::Rest, "GET", path, &[], None, None);
        e["stageVariables"] = json!({
            "signInClientId": "4example5client6id",
            "signInDomain": "https://checkoff-dev-123456789012.auth.eu-west-1.amazoncognito.com",
            "signInIssuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf",
        });
        e
    };
    let (status, _, config) = http_answer(api.invoke(with_variables("/auth/config")).await);
    assert_eq!(status, 200, "{config}");
    assert_eq!(
        config["password"], false,
        "the gateway takes the pool's tokens only"
    );
    assert_eq!(config["signup"], false, "people sign up at the pool");
    let hosted = "https://checkoff-dev-123456789012.auth.eu-west-1.amazoncognito.com";
    assert_eq!(
        config["provider"],
        json!({
            "name": "Cognito",
            "issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf",
            "client_id": "4example5client6id",
            "authorization_endpoint": format!("{hosted}/oauth2/authorize"),
            "token_endpoint": format!("{hosted}/oauth2/token"),
            "end_session_endpoint": format!("{hosted}/logout"),
            "revocation_endpoint": format!("{hosted}/oauth2/revoke"),
            "logout_redirect_param": "logout_uri",
            "scope": "openid email profile",
        })
    );
    // The page may fetch tokens from the pool's domain, and from nowhere else new.
    let Answer::Response(page) = api.invoke(with_variables("/")).await else {
        panic!("the function failed");
    };
    let policy = [&page["headers"], &page["multiValueHeaders"]]
        .iter()
        .find_map(|h| {
            let v = &h["content-security-policy"];
            v.as_str().or_else(|| v[0].as_str()).map(str::to_owned)
        })
        .expect("a content security policy");
    assert!(
        policy.contains(&format!("connect-src 'self' {hosted};")),
        "{policy}"
    );

    // Without the variables (a stage with a pool of its own): no provider to offer.
    let plain = event(Shape::Rest, "GET", "/auth/config", &[], None, None);
    let (status, _, config) = http_answer(api.invoke(plain).await);
    assert_eq!(
        (status, &config["provider"]),
        (200, &Value::Null),
        "{config}"
    );
}

#[tokio::test]
async fn behind_iam_the_caller_is_the_signing_arn_and_owns_apart_from_everyone() {
    let api = RuntimeApi::start().await;
    let store = TestStore::new().await;
    let _function = start_function(&api, &store, "bootstrap", &[("CHECKOFF_AUTHORIZER", "iam")]);
    let signed = |arn: &str, method: &str, body: Option<&Value>| {
        let mut e = event(Shape::Rest, method, "/todos", &[], body, None);
        e["requestContext"]["identity"]["userArn"] = json!(arn);
        e
    };
    let alice = "arn:aws:iam::123456789012:user/alice";
    let new = json!({"description": "signed"});
    let (status, _, todo) = http_answer(api.invoke(signed(alice, "POST", Some(&new))).await);
    assert_eq!(status, 201, "{todo}");
    let owner = todo["username"].as_str().unwrap().to_owned();
    let expected = checkoff::auth::owner_of(checkoff::config::AuthorizerKind::Iam, alice).unwrap();
    assert_eq!(owner, expected.as_str());
    assert!(owner.starts_with("iam:"), "{owner}");
    let other = "arn:aws:iam::123456789012:user/bob";
    let (status, _, list) = http_answer(api.invoke(signed(other, "GET", None)).await);
    assert_eq!((status, list), (200, json!([])));
}

#[tokio::test]
async fn a_start_that_fails_is_reported_through_the_init_error_call() {
    let api = RuntimeApi::start().await;
    let store = TestStore::new().await;
    let mut function = start_function(
        &api,
        &store,
        "bootstrap",
        &[("CHECKOFF_JWT_SECRET", "c2hvcnQ=")],
    );
    let error = api.init_error().await;
    assert_eq!(error["errorType"], "Runtime.InitError");
    let message = error["errorMessage"].as_str().unwrap();
    assert!(message.contains("CHECKOFF_JWT_SECRET"), "{message}");
    let deadline = Instant::now() + ANSWER_LIMIT;
    let status = loop {
        if let Some(status) = function.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the function did not exit");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(!status.success());
}

#[test]
fn the_local_server_refuses_authorizers_that_only_api_gateway_can_run() {
    let dir = tempfile::tempdir().unwrap();
    for kind in ["cognito", "iam", "custom"] {
        let outcome = crate::cli::run(
            crate::cli::checkoff(
                dir.path(),
                &["serve", "--addr", "127.0.0.1:0", "--authorizer", kind],
            ),
            None,
        );
        outcome
            .assert_code(1)
            .assert_stderr_contains("only under AWS Lambda");
    }
}

#[tokio::test]
async fn the_jwt_secret_is_read_from_ssm_once_per_cold_start() {
    let Some(ssm) = crate::helpers::ssm_endpoint() else {
        return;
    };
    let api = RuntimeApi::start().await;
    let mut store = TestStore::new().await;
    store.env.retain(|(k, _)| k != "CHECKOFF_JWT_SECRET");
    store.add_user("dora").await;
    let param = format!(
        "/checkoff/t{}/jwt-secret",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let aws = [
        ("AWS_ENDPOINT_URL_SSM", ssm.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut create = crate::cli::checkoff(
        dir.path(),
        &[
            "--jwt-secret-param",
            &param,
            "resources",
            "create",
            "--only",
            "secret",
        ],
    );
    create.envs(aws);
    crate::cli::run(create, None)
        .assert_code(0)
        .assert_stdout_contains(&format!("JWT secret created in SSM parameter {param}."));

    let mut env = aws.to_vec();
    env.push(("CHECKOFF_JWT_SECRET_PARAM", &param));
    let function = start_function(&api, &store, "bootstrap", &env);
    let token = login(&api, "dora").await;
    let list = event(
        Shape::FunctionUrl,
        "GET",
        "/todos",
        &[("authorization", &token)],
        None,
        None,
    );
    let (status, _, _) = http_answer(api.invoke(list.clone()).await);
    assert_eq!(status, 200);
    // Read once, at the start: with the parameter gone the warm function goes on signing and
    // checking tokens with the secret it read.
    let mut cleanup = crate::cli::checkoff(
        dir.path(),
        &[
            "--jwt-secret-param",
            &param,
            "resources",
            "cleanup",
            "--only",
            "secret",
        ],
    );
    cleanup.envs(aws);
    crate::cli::run(cleanup, None).assert_code(0);
    let (status, _, _) = http_answer(api.invoke(list).await);
    assert_eq!(status, 200);
    assert!(!login(&api, "dora").await.is_empty());
    drop(function);

    // A parameter that is not there stops the start, with its name in the reason.
    let missing = RuntimeApi::start().await;
    env.pop();
    env.push(("CHECKOFF_JWT_SECRET_PARAM", "/checkoff/nowhere/jwt-secret"));
    let _function = start_function(&missing, &store, "bootstrap", &env);
    let error = missing.init_error().await;
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap()
            .contains("/checkoff/nowhere/jwt-secret"),
        "{error}"
    );
}

#[tokio::test]
async fn behind_a_custom_authorizer_an_unseen_principal_gets_a_profile() {
    let api = RuntimeApi::start().await;
    let store = TestStore::new().await;
    let _function = start_function(
        &api,
        &store,
        "bootstrap",
        &[("CHECKOFF_AUTHORIZER", "custom")],
    );
    let context = json!({ "principalId": "partner-7", "tier": "gold" });
    let new = json!({"description": "from a partner"});
    let (status, _, todo) = http_answer(api.invoke(vouched(context, "POST", Some(&new))).await);
    assert_eq!(
        (status, &todo["username"]),
        (201, &json!("custom:partner-7")),
        "{todo}"
    );
    let partner = checkoff::domain::Username::parse("custom:partner-7").unwrap();
    assert!(store.store.get_user(&partner).await.unwrap().is_some());
}

#[tokio::test]
async fn oidc_tokens_pass_checkoffs_lambda_authorizer_and_the_api_function_makes_the_profile() {
    use crate::oidc::{AUDIENCE, Issuer, TestKey};
    let key = TestKey::rsa("rsa-1");
    let issuer = Issuer::start(&[&key]).await;
    let store = TestStore::new().await;
    let oidc = [
        ("CHECKOFF_OIDC_ISSUER", issuer.url.as_str()),
        ("CHECKOFF_OIDC_AUDIENCE", AUDIENCE),
    ];
    let policy = {
        let api = RuntimeApi::start().await;
        let _authorizer = start_function(&api, &store, "authorizer", &oidc);
        let mut wrong = issuer.claims("nina");
        wrong["aud"] = json!("another-client");
        let Answer::Error(error) = api.invoke(token_event(&key.sign(&wrong))).await else {
            panic!("a token for another client was allowed");
        };
        assert_eq!(error["errorMessage"], "Unauthorized");
        let token = format!("Bearer {}", key.sign(&issuer.claims("nina")));
        let Answer::Response(policy) = api.invoke(token_event(&token)).await else {
            panic!("the issuer's token was refused");
        };
        policy
    };
    // The owner, not the bare subject: an OIDC `sub` never lands on a password account.
    assert_eq!(policy["principalId"], "oidc:nina");
    assert_eq!(policy["context"]["sub"], "nina");
    assert_eq!(policy["context"]["iss"], issuer.url.as_str());

    let api = RuntimeApi::start().await;
    let mut env = oidc.to_vec();
    env.push(("CHECKOFF_AUTHORIZER", "lambda"));
    let _function = start_function(&api, &store, "bootstrap", &env);
    let new = json!({"description": "through the authorizer"});
    // What API Gateway hands on of the authorizer's answer.
    let mut context = policy["context"].clone();
    context["principalId"] = policy["principalId"].clone();
    let (status, _, todo) = http_answer(api.invoke(vouched(context, "POST", Some(&new))).await);
    assert_eq!(
        (status, &todo["username"]),
        (201, &json!("oidc:nina")),
        "{todo}"
    );
    let owner = checkoff::domain::Username::parse("oidc:nina").unwrap();
    assert!(
        store.store.get_user(&owner).await.unwrap().is_some(),
        "profile made"
    );
}

/// One request through a Function URL event: status and body.
async fn call(
    api: &RuntimeApi,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .iter()
        .map(|b| ("authorization", b.as_str()))
        .collect();
    let (status, _, body) = http_answer(
        api.invoke(event(
            Shape::FunctionUrl,
            method,
            path,
            &headers,
            body,
            None,
        ))
        .await,
    );
    (status, body)
}

#[tokio::test]
async fn under_lambda_people_sign_up_refresh_and_log_out_and_the_authorizer_sees_it() {
    let store = TestStore::new().await;
    let signup = json!({ "username": "erin", "password": PASSWORD });
    {
        // Closed unless the stage opens it.
        let api = RuntimeApi::start().await;
        let _function = start_function(&api, &store, "bootstrap", &[]);
        let (status, body) = call(&api, "POST", "/users", None, Some(&signup)).await;
        assert_eq!(status, 403, "{body}");
    }
    let api = RuntimeApi::start().await;
    let _function = start_function(&api, &store, "bootstrap", &[("CHECKOFF_SIGNUP", "open")]);
    let (status, body) = call(&api, "POST", "/users", None, Some(&signup)).await;
    assert_eq!(status, 201, "{body}");
    let (status, first) = call(&api, "POST", "/login", None, Some(&signup)).await;
    assert_eq!(status, 200, "{first}");
    let refresh = json!({ "refresh_token": first["refresh_token"] });
    let (status, second) = call(&api, "POST", "/refresh", None, Some(&refresh)).await;
    assert_eq!(status, 200, "{second}");
    let token = second["token"].as_str().unwrap();
    let (status, _) = call(&api, "GET", "/todos", Some(token), None).await;
    assert_eq!(status, 200);

    let authorizer_api = RuntimeApi::start().await;
    let _authorizer = start_function(&authorizer_api, &store, "authorizer", &[]);
    let answer = authorizer_api.invoke(token_event(token)).await;
    assert!(matches!(answer, Answer::Response(_)), "{answer:?}");

    let (status, _) = call(&api, "POST", "/logout", Some(token), None).await;
    assert_eq!(status, 204);
    let (status, _) = call(&api, "GET", "/todos", Some(token), None).await;
    assert_eq!(status, 401);
    let Answer::Error(error) = authorizer_api.invoke(token_event(token)).await else {
        panic!("the authorizer let a logged-out token through");
    };
    assert_eq!(error["errorMessage"], "Unauthorized");
}

#[tokio::test]
async fn under_lambda_events_say_to_poll_and_the_refresh_cookie_carries_the_stage() {
    let store = TestStore::new().await;
    store.add_user("alice").await;
    let api = RuntimeApi::start().await;
    let _function = start_function(&api, &store, "bootstrap", &[]);
    let credentials = json!({ "username": "alice", "password": PASSWORD });
    let answer = api
        .invoke(event(
            Shape::Rest,
            "POST",
            "/login",
            &[("x-checkoff-session", "cookie")],
            Some(&credentials),
            None,
        ))
        .await;
    let (status, headers, body) = http_answer(answer);
    assert_eq!(status, 200, "{body}");
    let cookie = headers.get("set-cookie").expect("a cookie");
    assert!(cookie.contains("; Path=/dev/refresh;"), "{cookie}");
    let token = body["token"].as_str().unwrap();

    let (status, body) = call(&api, "GET", "/todos/events", Some(token), None).await;
    assert_eq!(status, 501, "{body}");
    assert!(body["message"].as_str().unwrap().contains("If-None-Match"));
    // The web app is served too (it polls here).
    let Answer::Response(page) = api
        .invoke(event(Shape::Rest, "GET", "/", &[], None, None))
        .await
    else {
        panic!("the page was not served");
    };
    assert_eq!(page["statusCode"], 200);
    assert!(page["body"].as_str().unwrap().contains("<html"), "{page}");
}

/// The policy checkoff's Lambda authorizer gives `token`, as the context API Gateway hands the
/// API function (`principalId` beside the rest), and as it keeps it for minutes.
async fn authorizer_context(store: &TestStore, token: &str) -> Value {
    let api = RuntimeApi::start().await;
    let _authorizer = start_function(&api, store, "authorizer", &[]);
    let Answer::Response(policy) = api.invoke(token_event(&format!("Bearer {token}"))).await else {
        panic!("the token was refused");
    };
    let mut context = policy["context"].clone();
    context["principalId"] = policy["principalId"].clone();
    // API Gateway hands numbers and booleans on as text.
    for value in context.as_object_mut().unwrap().values_mut() {
        if !value.is_string() {
            *value = json!(value.to_string());
        }
    }
    context
}

#[tokio::test]
async fn a_kept_authorizer_answer_stops_working_when_its_session_or_account_ends() {
    let store = TestStore::new().await;
    store.add_user("alice").await;
    // Logins and logouts through a builtin function of the same stage.
    let builtin = RuntimeApi::start().await;
    let _builtin = start_function(&builtin, &store, "bootstrap", &[]);
    let login = || async {
        let body = json!({"username": "alice", "password": PASSWORD});
        let (status, _, grant) = http_answer(
            builtin
                .invoke(event(Shape::Rest, "POST", "/login", &[], Some(&body), None))
                .await,
        );
        assert_eq!(status, 200, "{grant}");
        grant["token"].as_str().unwrap().to_owned()
    };
    let (stays, leaves) = (login().await, login().await);
    let kept = authorizer_context(&store, &stays).await;
    let ended = authorizer_context(&store, &leaves).await;

    let api = RuntimeApi::start().await;
    let _function = start_function(
        &api,
        &store,
        "bootstrap",
        &[("CHECKOFF_AUTHORIZER", "lambda")],
    );
    let list = |context: &Value| api.invoke(vouched(context.clone(), "GET", None));
    assert_eq!(http_answer(list(&ended).await).0, 200);

    let bearer = format!("Bearer {leaves}");
    let logout = event(
        Shape::Rest,
        "POST",
        "/logout",
        &[("authorization", &bearer)],
        None,
        None,
    );
    assert_eq!(http_answer(builtin.invoke(logout).await).0, 204);
    assert_eq!(
        http_answer(list(&ended).await).0,
        401,
        "a logged-out session"
    );
    assert_eq!(
        http_answer(list(&kept).await).0,
        200,
        "another session goes on"
    );

    let mut expired = kept.clone();
    expired["exp"] = json!((checkoff::domain::Timestamp::now().unix_seconds() - 60).to_string());
    assert_eq!(http_answer(list(&expired).await).0, 401, "an expired token");

    // The account deleted and made again under the same name.
    let alice = checkoff::domain::Username::parse("alice").unwrap();
    store.store.delete_user(&alice).await.unwrap();
    store.add_user("alice").await;
    assert_eq!(
        http_answer(list(&kept).await).0,
        401,
        "an account made again"
    );
}

#[tokio::test]
async fn under_lambda_the_login_limit_counts_api_gateways_source_address() {
    let store = TestStore::new().await;
    store.add_user("alice").await;
    let api = RuntimeApi::start().await;
    let _function = start_function(&api, &store, "bootstrap", &[]);
    let wrong = json!({"username": "alice", "password": "Wrong1horse"});
    for shape in [Shape::Rest, Shape::Http] {
        let (status, _, _) = http_answer(
            api.invoke(event(shape, "POST", "/login", &[], Some(&wrong), None))
                .await,
        );
        assert_eq!(status, 401);
    }
    let failures = store
        .store
        .get_failures("addr:203.0.113.9")
        .await
        .unwrap()
        .expect("counted under the caller's sourceIp");
    assert_eq!(failures.count, 2);
}

#[tokio::test]
async fn a_custom_authorizers_principal_shaped_like_a_digest_reaches_no_one_elses_todos() {
    let store = TestStore::new().await;
    let api = RuntimeApi::start().await;
    let _function = start_function(
        &api,
        &store,
        "bootstrap",
        &[("CHECKOFF_AUTHORIZER", "custom")],
    );
    // A principal that cannot be a name is kept under a digest of it...
    let arn = json!({ "principalId": "arn:aws:iam::123456789012:user/victim" });
    let secret = json!({"description": "the victim's"});
    let (status, _, todo) = http_answer(
        api.invoke(vouched(arn.clone(), "POST", Some(&secret)))
            .await,
    );
    assert_eq!(status, 201, "{todo}");
    let owner = todo["username"].as_str().unwrap().to_owned();
    let digest = owner
        .strip_prefix("custom:")
        .expect("a custom caller's name");
    // ...and a caller whose principal is that digest gets a place of their own.
    let copycat = json!({ "principalId": digest });
    let (status, _, list) = http_answer(api.invoke(vouched(copycat, "GET", None)).await);
    assert_eq!(status, 200);
    assert_eq!(
        list,
        json!([]),
        "the digest's holder saw the victim's todos"
    );
    let (_, _, list) = http_answer(api.invoke(vouched(arn, "GET", None)).await);
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn answers_are_readable_text_for_a_browser_through_every_kind_of_api() {
    let store = TestStore::new().await;
    store.add_user("alice").await;
    let api = RuntimeApi::start().await;
    let _function = start_function(&api, &store, "bootstrap", &[]);
    // What a browser (or Python's requests) sends with every request.
    let browser = [("accept-encoding", "gzip, deflate, br"), ("accept", "*/*")];
    let login = json!({"username": "alice", "password": PASSWORD});
    for shape in [Shape::Rest, Shape::Http, Shape::FunctionUrl] {
        let answer = api
            .invoke(event(shape, "POST", "/login", &browser, Some(&login), None))
            .await;
        let Answer::Response(raw) = &answer else {
            panic!("{answer:?}");
        };
        // A REST API without binary media types hands a base64 body on as it is: unreadable.
        assert_ne!(raw["isBase64Encoded"], json!(true), "{shape:?}: {raw}");
        let (status, headers, body) = http_answer(answer);
        assert_eq!(status, 200, "{shape:?}");
        assert!(!headers.contains_key("content-encoding"), "{shape:?}");
        assert!(body["token"].is_string(), "{shape:?}");
        // The web app's page, and the script it links (by a name with its digest).
        let mut page = "/".to_owned();
        for _ in 0..2 {
            let answer = api
                .invoke(event(shape, "GET", &page, &browser, None, None))
                .await;
            let Answer::Response(raw) = answer else {
                panic!("{page}");
            };
            assert_ne!(raw["isBase64Encoded"], json!(true), "{shape:?} {page}");
            assert_eq!(raw["statusCode"], 200, "{shape:?} {page}");
            let html = raw["body"].as_str().unwrap_or_default();
            if let Some(script) = html
                .split('"')
                .find(|link| link.starts_with("assets/") && link.ends_with(".js"))
            {
                page = format!("/{script}");
            }
        }
        assert!(page.ends_with(".js"), "{shape:?}: no script linked");
    }
}
