//! checkoff under the Lambda Runtime API, measured: cold start (process start to the first event
//! answered) for checkoff and for a minimal `lambda_http` + axum function, peak RSS after the
//! seed's walkthrough, and the cost of a warm invocation over the same request handed to the
//! router in-process. Prints a Markdown table. Run by `bench/lambda` (which builds both in
//! release); usage:
//!
//! `lambda_bench CHECKOFF HELLO HELLO_DYNAMODB [sqlite|dynamodb] [COLD_RUNS] [WARM_INVOCATIONS]`
//!
//! On `dynamodb`, DynamoDB Local must be at `AWS_ENDPOINT_URL` (with region and dummy
//! credentials in the environment).

#[path = "../tests/support/runtime_api.rs"]
#[allow(dead_code)]
mod runtime_api;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use checkoff::auth::Passwords;
use checkoff::config::{Runtime, SecretSource, Settings, StoreKind};
use checkoff::domain::{Password, Timestamp, User, Username};
use checkoff::store::Store;
use runtime_api::{Answer, RuntimeApi};
use serde_json::{Value, json};
use tower::ServiceExt;

const PASSWORD: &str = "Bench-password1";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A Function URL event (the v2 payload, stage `$default`).
fn event(method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Value {
    let mut headers = json!({ "content-type": "application/json" });
    if let Some(token) = token {
        headers["authorization"] = json!(format!("Bearer {token}"));
    }
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "bench", "requestId": "bench",
            "domainName": "bench.lambda-url.us-east-1.on.aws", "stage": "$default",
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench" },
            "timeEpoch": 0,
        },
        "body": body.map(|b| b.to_string()), "isBase64Encoded": false,
    })
}

fn status_and_body(answer: &Answer) -> (u64, Value) {
    let Answer::Response(response) = answer else {
        panic!("the function failed: {answer:?}");
    };
    let body = response["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (response["statusCode"].as_u64().unwrap_or(0), body)
}

fn spawn(binary: &str, api: &RuntimeApi, env: &[(String, String)]) -> Killed {
    let child = Command::new(binary)
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("_HANDLER", "bootstrap")
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the function");
    Killed(child)
}

/// Medians over `runs` cold starts, in ms.
struct Cold {
    /// Process start to the first event answered.
    answered: f64,
    answered_p90: f64,
    /// Process start to the first call for an event (Lambda's "Init Duration").
    init: f64,
}

async fn cold_start(binary: &str, env: &[(String, String)], first: &Value, runs: usize) -> Cold {
    let mut answered = Vec::with_capacity(runs);
    let mut init = Vec::with_capacity(runs);
    for _ in 0..runs {
        let api = RuntimeApi::start().await;
        let started = Instant::now();
        let _function = spawn(binary, &api, env);
        let answer = api.invoke(first.clone()).await;
        answered.push(started.elapsed().as_secs_f64() * 1000.0);
        init.push((api.first_poll().unwrap() - started).as_secs_f64() * 1000.0);
        let (status, body) = status_and_body(&answer);
        assert_eq!(status, 200, "{body}");
    }
    answered.sort_by(f64::total_cmp);
    init.sort_by(f64::total_cmp);
    Cold {
        answered: percentile(&answered, 0.5),
        answered_p90: percentile(&answered, 0.9),
        init: percentile(&init, 0.5),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let checkoff = args
        .get(1)
        .expect("usage: lambda_bench CHECKOFF HELLO HELLO_DYNAMODB [store] [runs] [invocations]");
    let hello = args.get(2).expect("the hello function");
    let hello_dynamodb = args.get(3).expect("the hello function with DynamoDB");
    let store_kind = args.get(4).map_or("sqlite", String::as_str);
    let runs: usize = args.get(5).and_then(|r| r.parse().ok()).unwrap_or(20);
    let invocations: usize = args.get(6).and_then(|r| r.parse().ok()).unwrap_or(2000);

    let dir = tempfile::tempdir().unwrap();
    let secret = STANDARD.encode([42u8; 32]);
    let mut env = vec![("CHECKOFF_JWT_SECRET".to_owned(), secret.clone())];
    // The bench's own service gets the same secret from its environment.
    // SAFETY: set before any other thread of this process reads the environment.
    unsafe { std::env::set_var("CHECKOFF_JWT_SECRET", &secret) };
    let (kind, table) = if store_kind == "dynamodb" {
        let table = format!("bench-{}", uuid::Uuid::new_v4().simple());
        let client = checkoff::store::dynamodb::client_from_env().await;
        checkoff::store::dynamodb::create_table(&client, &table, |_| {})
            .await
            .expect("table");
        env.push(("CHECKOFF_TABLE".into(), table.clone()));
        env.extend(runtime_api::aws_environment());
        (StoreKind::Dynamodb, table)
    } else {
        env.push(("CHECKOFF_STORE".into(), "sqlite".into()));
        env.push(("CHECKOFF_DATA_DIR".into(), dir.path().display().to_string()));
        (StoreKind::Sqlite, String::new())
    };
    let mut settings = Settings::local(dir.path(), kind, &table);
    settings.runtime = Runtime::Lambda;
    settings.secret = SecretSource::Env;
    settings.user_cache_ttl = Duration::from_secs(if kind == StoreKind::Sqlite { 1 } else { 5 });
    let state = checkoff::service::build(&settings)
        .await
        .expect("the service");
    let store: Arc<dyn Store> = Arc::clone(&state.store);
    let user = User {
        username: Username::parse("bench").unwrap(),
        password_hash: Passwords::new()
            .hash(&Password::parse(PASSWORD.into()).unwrap())
            .await
            .unwrap(),
        email: None,
        admin: false,
        created_at: Timestamp::now(),
        revoked: Default::default(),
        usage: Default::default(),
        zone: None,
    };
    store.create_user(&user).await.expect("user");
    let token = state
        .tokens
        .issue(
            "bench",
            &user.created_at,
            None,
            None,
            Some(Duration::from_secs(3600)),
        )
        .unwrap()
        .token;

    // Cold starts: the first event is a list of the caller's todos (token check, profile, store).
    let list = event("GET", "/todos", Some(&token), None);
    let checkoff_cold = cold_start(checkoff, &env, &list, runs).await;
    let hello_event = event("GET", "/hello", None, None);
    let hello_cold = cold_start(hello, &[], &hello_event, runs).await;
    // On DynamoDB, the minimal function also makes the first list's two requests.
    let hello_store = if kind == StoreKind::Dynamodb {
        let mut with_table = env.clone();
        with_table.push(("HELLO_TABLE".into(), table.clone()));
        Some(cold_start(hello_dynamodb, &with_table, &hello_event, runs).await)
    } else {
        None
    };

    // One warm function: the seed's walkthrough, then many lists.
    let api = RuntimeApi::start().await;
    let function = spawn(checkoff, &api, &env);
    let login = api
        .invoke(event(
            "POST",
            "/login",
            None,
            Some(json!({"username": "bench", "password": PASSWORD})),
        ))
        .await;
    let (status, body) = status_and_body(&login);
    assert_eq!(status, 200, "{body}");
    let created = api
        .invoke(event(
            "POST",
            "/todos",
            Some(&token),
            Some(json!({"description": "My first Todo", "metadata": {}})),
        ))
        .await;
    let (status, todo) = status_and_body(&created);
    assert_eq!(status, 201);
    let uid = todo["uid"].as_str().unwrap().to_owned();
    for request in [
        event("GET", "/todos", Some(&token), None),
        event(
            "PUT",
            &format!("/todos/{uid}"),
            Some(&token),
            Some(json!({"state": "completed"})),
        ),
        event("GET", &format!("/todos/{uid}"), Some(&token), None),
        event("DELETE", &format!("/todos/{uid}"), Some(&token), None),
    ] {
        let (status, body) = status_and_body(&api.invoke(request).await);
        assert!(status < 300, "{status} {body}");
    }
    let rss_walkthrough = peak_rss_mb(function.0.id());
    for i in 0..20 {
        let new = json!({"description": format!("todo {i}")});
        api.invoke(event("POST", "/todos", Some(&token), Some(new)))
            .await;
    }
    let mut warm = Vec::with_capacity(invocations);
    for _ in 0..invocations {
        let started = Instant::now();
        let answer = api.invoke(list.clone()).await;
        warm.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(status_and_body(&answer).0, 200);
    }
    let rss_after = peak_rss_mb(function.0.id());
    drop(function);

    // The same list handed to the router in the bench's own process.
    let router = checkoff::app(state);
    let mut in_process = Vec::with_capacity(invocations);
    for _ in 0..invocations {
        let request = axum::http::Request::get("/todos")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let started = Instant::now();
        let response = router.clone().oneshot(request).await.unwrap();
        let _ = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        in_process.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    warm.sort_by(f64::total_cmp);
    in_process.sort_by(f64::total_cmp);
    let (warm_p50, direct_p50) = (percentile(&warm, 0.5), percentile(&in_process, 0.5));

    println!("| figure ({store_kind}) | value | goal |");
    println!("|---|---:|---|");
    let row = |name: &str, cold: &Cold| {
        println!(
            "| cold start, {name}: process start to first event answered, median / p90 of {runs} (init alone) | {:.1} / {:.1} ms ({:.1} ms) | |",
            cold.answered, cold.answered_p90, cold.init
        );
    };
    row("checkoff (first event: list with a token)", &checkoff_cold);
    row("minimal lambda_http + axum function", &hello_cold);
    println!(
        "| cold start ratio, checkoff / minimal | {:.2}× (init {:.2}×) | |",
        checkoff_cold.answered / hello_cold.answered,
        checkoff_cold.init / hello_cold.init
    );
    if let Some(hello_store) = &hello_store {
        row(
            "minimal function making the same two DynamoDB requests",
            hello_store,
        );
        let ratio = checkoff_cold.answered / hello_store.answered;
        println!(
            "| cold start ratio, checkoff / minimal with the same DynamoDB requests | {ratio:.2}× | ≤ 1.3×: {} |",
            verdict(ratio <= 1.3)
        );
    }
    println!(
        "| peak RSS after the seed's walkthrough | {rss_walkthrough:.1} MB | ≤ 30 MB: {} |",
        verdict(rss_walkthrough <= 30.0)
    );
    println!("| peak RSS after {invocations} more lists | {rss_after:.1} MB | |");
    println!(
        "| warm invocation, list 20, through the Runtime API (p50 / p99) | {warm_p50:.3} / {:.3} ms | |",
        percentile(&warm, 0.99)
    );
    println!(
        "| the same list in-process, router called directly (p50 / p99) | {direct_p50:.3} / {:.3} ms | |",
        percentile(&in_process, 0.99)
    );
    println!(
        "| warm invocation overhead (p50 difference) | {:.3} ms | report |",
        warm_p50 - direct_p50
    );
}

/// A goal's outcome as the reports print it.
fn verdict(met: bool) -> &'static str {
    if met { "**PASS**" } else { "**MISS**" }
}
