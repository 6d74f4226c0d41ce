//! A running service per test, on a fresh data dir, with typed helpers.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use checkoff::auth::{JwtSecret, Passwords, load_or_create_secret};
use checkoff::config::{OidcSettings, StoreKind};
use checkoff::domain::{Password, Timestamp, User, Username};
use checkoff::store::{DynamoStore, SqliteStore, Store};
use checkoff::{ServiceSettings, Settings};
use futures_util::StreamExt;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const PASSWORD: &str = "Correct1Horse";

/// The store the tests run against: `CHECKOFF_TEST_STORE` (default `sqlite`); for `dynamodb`, a
/// fresh table on the DynamoDB Local that `scripts/test` started.
pub async fn open_store(data_dir: &Path) -> Arc<dyn Store> {
    match std::env::var("CHECKOFF_TEST_STORE").as_deref() {
        Ok("sqlite") | Err(_) => Arc::new(SqliteStore::open(data_dir).expect("open SQLite store")),
        Ok("dynamodb") => {
            let endpoint =
                dynamodb_endpoint().expect("CHECKOFF_TEST_STORE=dynamodb needs AWS_ENDPOINT_URL");
            Arc::new(fresh_dynamo_table(&endpoint).await)
        }
        Ok(other) => panic!("unknown CHECKOFF_TEST_STORE {other:?}"),
    }
}

/// Whether the tests run against DynamoDB (`CHECKOFF_TEST_STORE=dynamodb`); an endpoint alone
/// says nothing (CI exports DynamoDB Local's for every run).
pub fn on_dynamodb() -> bool {
    std::env::var("CHECKOFF_TEST_STORE").as_deref() == Ok("dynamodb")
}

/// The store again after its service stopped: SQLite opens its file anew; DynamoDB keeps nothing
/// in the process, so the same client serves.
pub async fn reopen_store(data_dir: &Path, previous: &Arc<dyn Store>) -> Arc<dyn Store> {
    if on_dynamodb() {
        Arc::clone(previous)
    } else {
        Arc::new(SqliteStore::open(data_dir).expect("reopen SQLite store"))
    }
}

/// The DynamoDB Local endpoint, when there is one. Under CI there must be: nothing is skipped.
pub fn dynamodb_endpoint() -> Option<String> {
    endpoint("AWS_ENDPOINT_URL", "DynamoDB Local")
}

/// The SSM emulator's endpoint (for the JWT secret parameter), when there is one. Under CI there
/// must be.
pub fn ssm_endpoint() -> Option<String> {
    endpoint("AWS_ENDPOINT_URL_SSM", "SSM emulator")
}

/// The endpoint in `variable` of a local service scripts/test starts.
fn endpoint(variable: &str, service: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(endpoint) => Some(endpoint),
        Err(_) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but no {service}: run the tests through scripts/test")
        }
        Err(_) => {
            eprintln!("skipped: no {service} ({variable} unset); scripts/test starts one");
            None
        }
    }
}

/// A client for DynamoDB Local at `endpoint`, with region and dummy credentials set here so the
/// SDK never looks anywhere else (nor at the EC2 metadata service).
pub fn dynamo_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "checkoff-tests",
        ))
        .endpoint_url(endpoint)
        .timeout_config(checkoff::store::dynamodb::timeouts())
        .retry_config(checkoff::store::dynamodb::retries())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A table of its own for one test.
pub async fn fresh_dynamo_table(endpoint: &str) -> DynamoStore {
    let client = dynamo_client(endpoint);
    let table = format!("test-{}", uuid::Uuid::new_v4().simple());
    checkoff::store::dynamodb::create_table(&client, &table, |_| {})
        .await
        .expect("create table");
    DynamoStore::new(client, table)
}

/// Adds a user with [`PASSWORD`] straight to `store`, as `checkoff users create` does.
pub async fn add_user(store: &dyn Store, name: &str) {
    let password = Password::parse(PASSWORD.into()).unwrap();
    let user = User {
        username: Username::parse(name).unwrap(),
        password_hash: Passwords::new().hash(&password).await.unwrap(),
        email: None,
        admin: false,
        created_at: Timestamp::now(),
        revoked: Default::default(),
        usage: Default::default(),
        zone: None,
    };
    store.create_user(&user).await.expect("create user");
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn Store>,
    pub secret: JwtSecret,
    /// Holds the JWT key (and, on SQLite, the database).
    pub data_dir: std::path::PathBuf,
    settings: Settings,
    _dir: Option<TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(ServiceSettings::default()).await
    }

    pub async fn spawn_with(settings: ServiceSettings) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut app = Self::spawn_in(dir.path(), settings).await;
        app._dir = Some(dir);
        app
    }

    /// A service that keeps profiles it read for `ttl` (`--user-cache-ttl`), as a deployment
    /// may.
    pub async fn spawn_cached(settings: ServiceSettings, ttl: std::time::Duration) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = Settings {
            service: settings,
            user_cache_ttl: ttl,
            ..Settings::local(dir.path(), StoreKind::Sqlite, "unused")
        };
        let mut app = Self::serve(open_store(dir.path()).await, dir.path(), settings).await;
        app._dir = Some(dir);
        app
    }

    /// A service on an existing data dir (which the caller keeps alive).
    pub async fn spawn_in(data_dir: &Path, settings: ServiceSettings) -> Self {
        Self::spawn_on(open_store(data_dir).await, data_dir, settings).await
    }

    /// A service that also accepts the tokens of an OIDC issuer.
    pub async fn spawn_oidc(oidc: OidcSettings) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings::local(dir.path(), StoreKind::Sqlite, "unused");
        settings.identity.oidc = Some(oidc);
        let mut app = Self::serve(open_store(dir.path()).await, dir.path(), settings).await;
        app._dir = Some(dir);
        app
    }

    /// A service on a given store; `data_dir` holds its JWT key.
    pub async fn spawn_on(
        store: Arc<dyn Store>,
        data_dir: &Path,
        settings: ServiceSettings,
    ) -> Self {
        let settings = Settings {
            service: settings,
            ..Settings::local(data_dir, StoreKind::Sqlite, "unused")
        };
        Self::serve(store, data_dir, settings).await
    }

    async fn serve(store: Arc<dyn Store>, data_dir: &Path, settings: Settings) -> Self {
        Self::serve_limited(store, data_dir, settings, Default::default()).await
    }

    /// A service whose server keeps to `limits` (connections, timeouts).
    pub async fn spawn_limited(limits: checkoff::server::Limits) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = Settings::local(dir.path(), StoreKind::Sqlite, "unused");
        let mut app =
            Self::serve_limited(open_store(dir.path()).await, dir.path(), settings, limits).await;
        app._dir = Some(dir);
        app
    }

    /// Another instance of this service: the same store, key and settings, its own process
    /// state (caches, change feed), as a second server would have.
    pub async fn twin(&self) -> Self {
        Self::serve(
            Arc::clone(&self.store),
            &self.data_dir,
            self.settings.clone(),
        )
        .await
    }

    /// The services of another instance, for what no route does (`checkoff tokens issue`).
    pub async fn services(&self) -> checkoff::AppState {
        checkoff::service::build_on(&self.settings, Arc::clone(&self.store))
            .await
            .expect("service builds")
    }

    async fn serve_limited(
        store: Arc<dyn Store>,
        data_dir: &Path,
        settings: Settings,
        limits: checkoff::server::Limits,
    ) -> Self {
        let secret = load_or_create_secret(data_dir).expect("JWT key");
        let state = checkoff::service::build_on(&settings, Arc::clone(&store))
            .await
            .expect("service builds");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            checkoff::server::serve(listener, state, limits, async {
                let _ = stop.await;
            })
            .await
            .expect("server runs");
        });
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            base,
            client,
            store,
            secret,
            data_dir: data_dir.to_owned(),
            settings,
            _dir: None,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    /// Stops the server and waits until it has finished.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(10), server)
                .await
                .expect("server stops")
                .unwrap();
        }
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    pub fn authed(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.request(method, path)
            .header("Authorization", format!("Bearer {token}"))
    }

    /// Adds a user straight to the store, as `checkoff users create` does.
    pub async fn create_user(&self, name: &str) {
        add_user(&*self.store, name).await;
    }

    /// When `name`'s account was made, as its tokens carry it.
    pub async fn account_created(&self, name: &str) -> Timestamp {
        let name = Username::parse(name).unwrap();
        self.store
            .get_user(&name)
            .await
            .unwrap()
            .expect("user")
            .created_at
    }

    /// [`Self::account_created`] as text, the form of the `acct` claim.
    pub async fn account(&self, name: &str) -> String {
        self.account_created(name).await.to_string()
    }

    pub async fn login(&self, name: &str, password: &str) -> Response {
        self.request(Method::POST, "/login")
            .json(&json!({ "username": name, "password": password }))
            .send()
            .await
            .unwrap()
    }

    /// A new user, logged in: their token.
    pub async fn user_token(&self, name: &str) -> String {
        self.create_user(name).await;
        let response = self.login(name, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body["token"].as_str().expect("token").to_owned()
    }

    /// Whether `token` still reads the todo list: 200, or 401 once it no longer works.
    pub async fn token_works(&self, token: &str) -> bool {
        match self.list_todos(token, "").await.status() {
            StatusCode::OK => true,
            StatusCode::UNAUTHORIZED => false,
            other => panic!("unexpected {other}"),
        }
    }

    pub async fn create_todo(&self, token: &str, description: &str) -> Value {
        let response = self
            .authed(Method::POST, "/todos", token)
            .json(&json!({ "description": description }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    pub async fn list_todos(&self, token: &str, query: &str) -> Response {
        self.authed(Method::GET, &format!("/todos{query}"), token)
            .send()
            .await
            .unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// A login of `name` with [`PASSWORD`], which must succeed: its whole answer (token and
/// refresh token).
pub async fn logged_in(app: &TestApp, name: &str) -> Value {
    let (status, body) = status_json(app.login(name, PASSWORD).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The access token of a login's answer.
pub fn token(grant: &Value) -> &str {
    grant["token"].as_str().expect("a token")
}

/// Status and parsed JSON body of a response.
pub async fn status_json(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"));
    (status, body)
}

/// The `message` of an error response with the expected status.
pub async fn error_message(response: Response, expected: StatusCode) -> String {
    let (status, body) = status_json(response).await;
    assert_eq!(status, expected, "body: {body}");
    let object = body.as_object().expect("error body is an object");
    assert_eq!(object.len(), 1, "error body has only a message: {body}");
    body["message"]
        .as_str()
        .expect("message is text")
        .to_owned()
}

/// A live event stream, read event by event.
pub struct Stream {
    events:
        std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
}

impl Stream {
    pub async fn open(app: &TestApp, token: &str, last_id: Option<&str>) -> Self {
        let mut request = app
            .client
            .get(format!("{}/todos/events", app.base))
            .header("Authorization", format!("Bearer {token}"))
            .header("Accept", "text/event-stream")
            .timeout(Duration::from_secs(3600));
        if let Some(id) = last_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        Self {
            events: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// The next event as (id, name, data), within `within`.
    pub async fn next(&mut self, within: Duration) -> Option<(String, String, Value)> {
        tokio::time::timeout(within, async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let block: String = self.buffer.drain(..end + 2).collect();
                    let (mut id, mut name, mut data) =
                        (String::new(), String::new(), String::new());
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("id:") {
                            id = v.trim().to_owned();
                        } else if let Some(v) = line.strip_prefix("event:") {
                            name = v.trim().to_owned();
                        } else if let Some(v) = line.strip_prefix("data:") {
                            data.push_str(v.trim());
                        }
                    }
                    if name.is_empty() {
                        continue; // a heartbeat comment
                    }
                    return Some((id, name, serde_json::from_str(&data).unwrap()));
                }
                let chunk = self.events.next().await?.ok()?;
                self.buffer.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await
        .ok()
        .flatten()
    }
}

impl Stream {
    /// Whether the stream ends (the server closes it) within `within`, showing no event first:
    /// `Err` names the event it showed instead.
    pub async fn ends_within(&mut self, within: Duration) -> Result<bool, String> {
        match tokio::time::timeout(within, self.next(within * 2)).await {
            Ok(None) => Ok(true),
            Ok(Some((_, name, data))) => Err(format!("{name}: {data}")),
            Err(_) => Ok(false),
        }
    }
}
