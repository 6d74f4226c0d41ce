//! A failure answer means nothing happened: checkoff on a DynamoDB that throttles, fails and
//! stalls. A proxy in front of DynamoDB Local answers a share of the calls itself, chosen by a
//! seed: a throttle or a server error before the call reaches the table (nothing done), a
//! server error after it did (done, but the answer is lost), or no answer at all. Whatever the
//! SDK's retries make of that, every answer checkoff gives must be true: a 2xx is stored, any
//! other answer left the data as it was, unless it says the write may have happened.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use reqwest::Method;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::TcpListener;

use super::helpers::*;
use checkoff::config::ServiceSettings;
use checkoff::store::{DynamoStore, PageRequest, Store, UserStore};

/// What the proxy does with one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    /// Passed on and answered.
    None,
    /// Answered `ThrottlingException` without passing it on.
    Throttled,
    /// Answered `InternalServerError` without passing it on.
    FailedBefore,
    /// Passed on, then answered `InternalServerError`: done, but the caller cannot know.
    FailedAfter,
    /// Passed on, then never answered.
    StalledAfter,
}

struct Faults {
    /// Percent of the calls that fail.
    share: u64,
    /// Every call stalls before it is passed on (the table is unreachable).
    stall_all: bool,
    /// Calls of this operation are throttled once this many of them have passed.
    throttle_after: Option<(&'static str, u32)>,
    /// Calls of this operation are passed on, and their answers never come back.
    stall_answers_of: Option<&'static str>,
    rng: u64,
    seen: BTreeMap<Fault, u32>,
}

impl Faults {
    /// SplitMix64: the same seed makes the same faults in the same order.
    fn next(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn choose(&mut self) -> Fault {
        let roll = self.next() % 100;
        let fault = if roll >= self.share {
            Fault::None
        } else {
            // Stalls are rarer: each costs a whole attempt timeout.
            match self.next() % 20 {
                0..=6 => Fault::Throttled,
                7..=12 => Fault::FailedBefore,
                13..=18 => Fault::FailedAfter,
                _ => Fault::StalledAfter,
            }
        };
        *self.seen.entry(fault).or_default() += 1;
        fault
    }
}

struct Proxy {
    target: String,
    client: reqwest::Client,
    faults: Mutex<Faults>,
}

/// A DynamoDB endpoint in front of DynamoDB Local that fails on purpose.
pub struct FaultyDynamo {
    pub url: String,
    proxy: Arc<Proxy>,
    server: tokio::task::JoinHandle<()>,
}

impl FaultyDynamo {
    async fn start(target: &str, seed: u64) -> Self {
        let proxy = Arc::new(Proxy {
            target: target.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            faults: Mutex::new(Faults {
                share: 0,
                stall_all: false,
                throttle_after: None,
                stall_answers_of: None,
                rng: seed,
                seen: BTreeMap::new(),
            }),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .fallback(pass_on)
            .with_state(Arc::clone(&proxy));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, proxy, server }
    }

    /// Fails `percent` of the calls from now on.
    fn fail(&self, percent: u64) {
        self.proxy.faults.lock().unwrap().share = percent;
    }

    /// Throttles every call of `operation` (e.g. `TransactWriteItems`) after the next `passed`.
    fn throttle_after(&self, operation: &'static str, passed: u32) {
        self.proxy.faults.lock().unwrap().throttle_after = Some((operation, passed));
    }

    /// Passes every call of `operation` on and keeps its answer (`None`: no more).
    fn stall_answers_of(&self, operation: Option<&'static str>) {
        self.proxy.faults.lock().unwrap().stall_answers_of = operation;
    }

    fn stall_all(&self, stall: bool) {
        self.proxy.faults.lock().unwrap().stall_all = stall;
    }

    fn seen(&self) -> BTreeMap<Fault, u32> {
        self.proxy.faults.lock().unwrap().seen.clone()
    }
}

impl Drop for FaultyDynamo {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Longer than any attempt the SDK waits for; bounded, so that nothing outlives the test.
const STALL: Duration = Duration::from_secs(20);

async fn pass_on(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let operation = request
        .headers()
        .get("x-amz-target")
        .and_then(|t| t.to_str().ok())
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or_default()
        .to_owned();
    let (fault, stall_all) = {
        let mut faults = proxy.faults.lock().unwrap();
        let stalled = faults.stall_answers_of == Some(operation.as_str());
        let fault = match &mut faults.throttle_after {
            _ if stalled => Fault::StalledAfter,
            Some((op, 0)) if *op == operation => Fault::Throttled,
            Some((op, passed)) if *op == operation => {
                *passed -= 1;
                Fault::None
            }
            _ => faults.choose(),
        };
        (fault, faults.stall_all)
    };
    if stall_all {
        tokio::time::sleep(STALL).await;
    }
    match fault {
        Fault::Throttled => return dynamodb_error(400, "ThrottlingException"),
        Fault::FailedBefore => return dynamodb_error(500, "InternalServerError"),
        _ => {}
    }
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let mut forwarded = proxy
        .client
        .request(parts.method, format!("{}{}", proxy.target, parts.uri))
        .body(body);
    for (name, value) in &parts.headers {
        if name != header::HOST && name != header::CONTENT_LENGTH {
            forwarded = forwarded.header(name, value);
        }
    }
    let answer = match forwarded.send().await {
        Ok(answer) => answer,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let body = answer.bytes().await.unwrap_or_default();
    match fault {
        Fault::FailedAfter => dynamodb_error(500, "InternalServerError"),
        Fault::StalledAfter => {
            tokio::time::sleep(STALL).await;
            dynamodb_error(500, "InternalServerError")
        }
        _ => {
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = status;
            for (name, value) in &headers {
                if name != header::CONTENT_LENGTH && name != header::TRANSFER_ENCODING {
                    response.headers_mut().insert(name, value.clone());
                }
            }
            response
        }
    }
}

/// An error as DynamoDB words it (the SDK reads the code from `__type`).
fn dynamodb_error(status: u16, code: &str) -> Response {
    let body = json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{code}"),
        "message": "injected by the test's proxy",
    });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    response
}

/// checkoff on the faulty endpoint, and a store that reads the same table straight, to check
/// what is really there. The SDK keeps checkoff's attempts and timeouts; only its backoff is
/// shortened, so that the test spends its time on calls rather than waiting.
async fn faulty_app(
    seed: u64,
    settings: ServiceSettings,
) -> Option<(TestApp, FaultyDynamo, Arc<dyn Store>, TempDir)> {
    let endpoint = dynamodb_endpoint()?;
    let faulty = FaultyDynamo::start(&endpoint, seed).await;
    let direct = fresh_dynamo_table(&endpoint).await;
    let client = {
        let config = dynamo_client(&faulty.url).config().to_builder();
        let retries = checkoff::store::dynamodb::retries()
            .with_initial_backoff(Duration::from_millis(10))
            .with_max_backoff(Duration::from_millis(50));
        aws_sdk_dynamodb::Client::from_conf(config.retry_config(retries).build())
    };
    let through_faults: Arc<dyn Store> = Arc::new(DynamoStore::new(client, direct.table()));
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_on(through_faults, dir.path(), settings).await;
    Some((app, faulty, Arc::new(direct), dir))
}

/// Every todo of `owner`'s as the table holds it, in order.
async fn todos_of(store: &dyn Store, owner: &str) -> Vec<Value> {
    let owner = checkoff::domain::Username::parse(owner).unwrap();
    let page = store
        .list_todos(
            &owner,
            &checkoff::domain::TodoQuery::all(),
            &PageRequest::first(1000),
        )
        .await
        .unwrap();
    page.items
        .iter()
        .map(|t| serde_json::to_value(t).unwrap())
        .collect()
}

/// What one answer said, for the report.
#[derive(Debug, Default)]
struct Tally {
    ok: u32,
    refused: u32,
    unavailable: u32,
    maybe: u32,
}

/// An answer's status and JSON body (`null` for none: a 204).
async fn status_and_body(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Whether a failure answer says the write may have happened.
fn says_maybe(body: &Value) -> bool {
    body["message"]
        .as_str()
        .is_some_and(|m| m.contains("may have"))
}

#[tokio::test]
async fn under_half_the_calls_failing_every_answer_is_true() {
    let Some((app, faulty, direct, _dir)) = faulty_app(24, ServiceSettings::default()).await else {
        return;
    };
    let token = app.user_token("alice").await;
    faulty.fail(50);
    let mut tally = Tally::default();
    let mut rng = Faults {
        share: 0,
        stall_all: false,
        throttle_after: None,
        stall_answers_of: None,
        rng: 7,
        seen: BTreeMap::new(),
    };
    for step in 0..60 {
        let before = todos_of(&*direct, "alice").await;
        let pick = |n: u64| before.get(n as usize % before.len().max(1));
        let roll = rng.next();
        let (what, request) = match (roll % 6, pick(roll >> 8)) {
            (0 | 1, _) | (_, None) => (
                "create",
                app.authed(Method::POST, "/todos", &token)
                    .json(&json!({ "description": format!("step {step}") })),
            ),
            (2, Some(todo)) => (
                "update",
                app.authed(
                    Method::PATCH,
                    &format!("/todos/{}", todo["uid"].as_str().unwrap()),
                    &token,
                )
                .json(&json!({ "description": format!("changed at {step}"), "state": "started" })),
            ),
            (3, Some(todo)) => (
                "update if-match",
                app.authed(
                    Method::PATCH,
                    &format!("/todos/{}", todo["uid"].as_str().unwrap()),
                    &token,
                )
                .header("if-match", format!("\"{}\"", todo["version"]))
                .json(&json!({ "state": "completed" })),
            ),
            (4, Some(todo)) => (
                "delete",
                app.authed(
                    Method::DELETE,
                    &format!("/todos/{}", todo["uid"].as_str().unwrap()),
                    &token,
                ),
            ),
            (_, Some(_)) if roll.is_multiple_of(2) => (
                "complete all",
                app.authed(Method::POST, "/todos/complete-all", &token),
            ),
            (_, Some(_)) => (
                "clear completed",
                app.authed(Method::DELETE, "/todos?state=completed", &token),
            ),
        };
        let started = Instant::now();
        let response = request.send().await.unwrap();
        let took = started.elapsed();
        let (status, body) = status_and_body(response).await;
        let after = todos_of(&*direct, "alice").await;
        let context = format!("step {step}, {what}: {status} {body} after {took:?}");
        assert!(took < Duration::from_secs(15), "{context}: too slow");
        if status.is_success() {
            tally.ok += 1;
            match what {
                "create" | "update" | "update if-match" => {
                    assert!(after.contains(&body), "{context}: the answer is not stored");
                }
                "delete" => assert_eq!(after.len() + 1, before.len(), "{context}"),
                _ => {}
            }
            continue;
        }
        if status == StatusCode::SERVICE_UNAVAILABLE && says_maybe(&body) {
            tally.maybe += 1;
            continue;
        }
        if status.is_server_error() {
            tally.unavailable += 1;
        } else {
            tally.refused += 1;
        }
        assert_eq!(
            after, before,
            "{context}: a failure answer, yet the data changed"
        );
    }
    let seen = faulty.seen();
    eprintln!("answers: {tally:?}; faults: {seen:?}");
    assert!(
        tally.ok > 10,
        "too few successes to mean anything: {tally:?}"
    );
    assert!(
        seen.get(&Fault::FailedAfter).copied().unwrap_or(0) > 5,
        "the seed made too few lost answers: {seen:?}"
    );
    app.stop().await;
}

/// The same for the writes of accounts and sessions: a sign-up, a password change or a refresh
/// answered with a failure changed nothing (a refresh token is not spent by a refresh that
/// failed); one answered 2xx is stored.
#[tokio::test]
async fn under_half_the_calls_failing_accounts_and_sessions_stay_true() {
    let settings = ServiceSettings {
        signup: true,
        ..Default::default()
    };
    let Some((app, faulty, direct, _dir)) = faulty_app(19, settings).await else {
        return;
    };
    let profile = |name: &str| {
        let direct = Arc::clone(&direct);
        let name = checkoff::domain::Username::parse(name).unwrap();
        async move { direct.get_user(&name).await.unwrap() }
    };
    let mut tally = Tally::default();
    let mut count = |status: StatusCode, body: &Value| {
        if status.is_success() {
            tally.ok += 1;
        } else if says_maybe(body) {
            tally.maybe += 1;
        } else if status.is_server_error() {
            tally.unavailable += 1;
        } else {
            tally.refused += 1;
        }
        status.is_success() || says_maybe(body)
    };

    faulty.fail(50);
    for step in 0..12 {
        let name = format!("user{step}");
        let response = app
            .request(Method::POST, "/users")
            .json(&json!({ "username": name, "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        let (status, body) = status_and_body(response).await;
        let stored = profile(&name).await.is_some();
        if !count(status, &body) {
            assert!(
                !stored,
                "sign-up {step}: {status} {body}, yet the account exists"
            );
        } else if status.is_success() {
            assert!(stored, "sign-up {step}: {status}, yet no account");
        }
    }

    let mut password = PASSWORD.to_owned();
    for step in 0..10 {
        faulty.fail(0);
        let grant = logged_in_with(&app, "user-pw", &password).await;
        faulty.fail(50);
        let before = profile("user-pw").await.unwrap().password_hash;
        let next = format!("{PASSWORD}-{step}");
        let response = app
            .authed(Method::PUT, "/users/user-pw/password", token(&grant))
            .json(&json!({ "current_password": password, "new_password": next }))
            .send()
            .await
            .unwrap();
        let (status, body) = status_and_body(response).await;
        let after = profile("user-pw").await.unwrap().password_hash;
        let sure = !says_maybe(&body);
        if count(status, &body) && !sure {
            if after != before {
                password = next;
            }
        } else if status.is_success() {
            assert_ne!(
                after, before,
                "password {step}: {status}, yet the same hash"
            );
            password = next;
        } else {
            assert_eq!(
                after, before,
                "password {step}: {status} {body}, yet changed"
            );
        }
    }

    faulty.fail(0);
    let grant = logged_in_with(&app, "user-rt", PASSWORD).await;
    let mut refresh = grant["refresh_token"].as_str().unwrap().to_owned();
    faulty.fail(50);
    for step in 0..12 {
        let response = app
            .request(Method::POST, "/refresh")
            .json(&json!({ "refresh_token": refresh }))
            .send()
            .await
            .unwrap();
        let (status, body) = status_and_body(response).await;
        let answered = count(status, &body);
        if status.is_success() {
            refresh = body["refresh_token"].as_str().unwrap().to_owned();
        } else if !answered {
            // Not spent: it still refreshes (asked with the faults off).
            faulty.fail(0);
            let again = app
                .request(Method::POST, "/refresh")
                .json(&json!({ "refresh_token": refresh }))
                .send()
                .await
                .unwrap();
            let again_status = again.status();
            let again: Value = again.json().await.unwrap();
            assert_eq!(
                again_status,
                StatusCode::OK,
                "refresh {step}: {status} {body} spent it: {again}"
            );
            refresh = again["refresh_token"].as_str().unwrap().to_owned();
            faulty.fail(50);
        } else {
            break;
        }
    }
    eprintln!("answers: {tally:?}; faults: {:?}", faulty.seen());
    assert!(
        tally.ok > 10,
        "too few successes to mean anything: {tally:?}"
    );
    app.stop().await;
}

/// Creates `name` (if new) and logs in with `password`: the grant.
async fn logged_in_with(app: &TestApp, name: &str, password: &str) -> Value {
    let username = checkoff::domain::Username::parse(name).unwrap();
    if app.store.get_user(&username).await.unwrap().is_none() {
        app.create_user(name).await;
    }
    let response = app.login(name, password).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// A table that stops answering: a request gets its 503 within the SDK's timeouts (not at the
/// request's deadline, not never), and once the table answers again so does checkoff, without
/// a restart.
#[tokio::test]
async fn a_stalled_table_answers_503_in_time_and_recovers() {
    let Some((app, faulty, _direct, _dir)) = faulty_app(3, ServiceSettings::default()).await else {
        return;
    };
    let token = app.user_token("alice").await;
    faulty.stall_all(true);
    a_create_answers_503_in_time(&app, &token).await;

    faulty.stall_all(false);
    app.create_todo(&token, "after the stall").await;
    assert_eq!(descriptions(&app, &token).await, ["after the stall"]);
    app.stop().await;
}

/// A SQLite database whose write lock another process holds (a backup tool, a second server
/// mid-write): a write waits for it as long as the busy timeout allows, then answers 503 with
/// nothing stored, and writes go on once the lock is let go.
#[tokio::test]
async fn sqlite_a_held_write_lock_answers_503_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(checkoff::store::SqliteStore::open(dir.path()).unwrap());
    let app = TestApp::spawn_on(store, dir.path(), ServiceSettings::default()).await;
    let token = app.user_token("alice").await;
    app.create_todo(&token, "before").await;

    let holder =
        rusqlite::Connection::open(dir.path().join(checkoff::store::sqlite::DB_FILE)).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    a_create_answers_503_in_time(&app, &token).await;
    holder.execute_batch("ROLLBACK").unwrap();

    app.create_todo(&token, "after").await;
    assert_eq!(descriptions(&app, &token).await, ["before", "after"]);
    app.stop().await;
}

/// A full disk under SQLite: the write that does not fit answers 503 and leaves nothing behind
/// (no half a todo, no broken database); once there is room again, writes go on, and everything
/// acknowledged is there after a restart. Needs a small tmpfs (root); skipped where the machine
/// cannot mount one.
#[tokio::test]
async fn sqlite_a_full_disk_answers_503_and_loses_nothing() {
    let Some(disk) = SmallDisk::mount() else {
        eprintln!("skipped: this machine cannot mount a tmpfs");
        return;
    };
    let store = Arc::new(checkoff::store::SqliteStore::open(&disk.path).unwrap());
    let app = TestApp::spawn_on(store, &disk.path, ServiceSettings::default()).await;
    let token = app.user_token("alice").await;
    app.create_todo(&token, "before").await;

    disk.fill();
    let mut acknowledged = vec!["before".to_owned()];
    let mut refused = 0;
    for n in 0..100 {
        let description = format!("{n} {}", "x".repeat(900));
        let response = app
            .authed(Method::POST, "/todos", &token)
            .json(&json!({ "description": description }))
            .send()
            .await
            .unwrap();
        match response.status() {
            StatusCode::CREATED => acknowledged.push(description),
            StatusCode::SERVICE_UNAVAILABLE => refused += 1,
            other => panic!("a create on a full disk answered {other}"),
        }
    }
    assert!(refused > 0, "the disk never filled");
    assert_eq!(descriptions(&app, &token).await, acknowledged);

    disk.empty();
    app.create_todo(&token, "after").await;
    acknowledged.push("after".into());
    app.stop().await;
    let store = Arc::new(checkoff::store::SqliteStore::open(&disk.path).unwrap());
    let app = TestApp::spawn_on(store, &disk.path, ServiceSettings::default()).await;
    let grant = logged_in(&app, "alice").await;
    assert_eq!(
        descriptions(&app, super::helpers::token(&grant)).await,
        acknowledged
    );
    app.stop().await;
}

/// A create answered 503 with `Retry-After`, within the store's timeouts (well before the
/// request's 30 s deadline).
async fn a_create_answers_503_in_time(app: &TestApp, token: &str) {
    let started = Instant::now();
    let response = app
        .authed(Method::POST, "/todos", token)
        .json(&json!({ "description": "not now" }))
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    assert!(took < Duration::from_secs(15), "answered after {took:?}");
}

async fn descriptions(app: &TestApp, token: &str) -> Vec<String> {
    let listed: Value = app.list_todos(token, "").await.json().await.unwrap();
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["description"].as_str().unwrap().to_owned())
        .collect()
}

/// A 4 MiB tmpfs, unmounted when dropped.
struct SmallDisk {
    path: std::path::PathBuf,
    _dir: TempDir,
}

impl SmallDisk {
    fn mount() -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then(|| Self {
            path: dir.path().to_owned(),
            _dir: dir,
        })
    }

    /// Takes every byte left.
    fn fill(&self) {
        use std::io::Write;
        let mut filler = std::fs::File::create(self.path.join("filler")).unwrap();
        let block = vec![0u8; 64 * 1024];
        while filler.write_all(&block).is_ok() {}
        while filler.write_all(&block[..512]).is_ok() {}
        let _ = filler.sync_all();
    }

    fn empty(&self) {
        std::fs::remove_file(self.path.join("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

/// A bulk change that stops half-way (the first 99 todos completed in one transaction with
/// their change-log entry, the next refused): the answer must not say "nothing happened". It says the change may have
/// happened, and the same request again finishes it.
#[tokio::test]
async fn a_bulk_change_cut_short_does_not_answer_nothing_happened() {
    let Some((app, faulty, direct, _dir)) = faulty_app(5, ServiceSettings::default()).await else {
        return;
    };
    let token = app.user_token("alice").await;
    let alice = checkoff::domain::Username::parse("alice").unwrap();
    for n in 0..150 {
        let description = checkoff::domain::Description::parse(&format!("todo {n}")).unwrap();
        let todo = checkoff::domain::Todo::new(alice.clone(), description, Default::default());
        direct.create_todo(&todo).await.unwrap();
    }
    faulty.throttle_after("TransactWriteItems", 1);
    let response = app
        .authed(Method::POST, "/todos/complete-all", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert!(says_maybe(&body), "{body}");
    let completed = |todos: &[Value]| todos.iter().filter(|t| t["state"] == "completed").count();
    assert_eq!(completed(&todos_of(&*direct, "alice").await), 99);

    faulty.throttle_after("TransactWriteItems", u32::MAX);
    let response = app
        .authed(Method::POST, "/todos/complete-all", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(completed(&todos_of(&*direct, "alice").await), 150);
    app.stop().await;
}

/// A count on the profile that drifted below zero (an `ADD` whose answer was lost, then a
/// delete) reads as zero: the account goes on working instead of answering 503 to everything.
#[tokio::test]
async fn a_usage_count_that_drifted_below_zero_does_not_lock_the_account_out() {
    let Some(endpoint) = dynamodb_endpoint() else {
        return;
    };
    let store = fresh_dynamo_table(&endpoint).await;
    add_user(&store, "alice").await;
    dynamo_client(&endpoint)
        .update_item()
        .table_name(store.table())
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S("USER#alice".into()),
        )
        .key(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S("PROFILE".into()),
        )
        .update_expression("ADD todo_count :minus, todo_bytes :minus")
        .expression_attribute_values(
            ":minus",
            aws_sdk_dynamodb::types::AttributeValue::N("-99".into()),
        )
        .send()
        .await
        .unwrap();
    let alice = checkoff::domain::Username::parse("alice").unwrap();
    let profile = store
        .get_user(&alice)
        .await
        .unwrap()
        .expect("the profile reads");
    assert_eq!((profile.usage.todos, profile.usage.bytes), (0, 0));
}

/// A create the table did whose answers never come back (every try passed on, every answer
/// stalled past the try's timeout): read back, it is answered 201 within the tries' timeouts
/// — its change-log entry's (one try, then looked for) and the todo's, inside the 20 s a
/// logged write is given — and the todo is there once.
#[tokio::test]
async fn a_create_whose_answers_stall_is_read_back_and_answered_once() {
    let Some((app, faulty, direct, _dir)) = faulty_app(8, ServiceSettings::default()).await else {
        return;
    };
    let token = app.user_token("alice").await;
    faulty.stall_answers_of(Some("PutItem"));
    let started = Instant::now();
    let response = app
        .authed(Method::POST, "/todos", &token)
        .json(&json!({ "description": "its answer stalled" }))
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    faulty.stall_answers_of(None);
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(took < Duration::from_secs(20), "answered after {took:?}");
    let stored = todos_of(&*direct, "alice").await;
    let descriptions: Vec<&str> = stored
        .iter()
        .map(|t| t["description"].as_str().unwrap())
        .collect();
    assert_eq!(descriptions, ["its answer stalled"]);
    app.stop().await;
}
