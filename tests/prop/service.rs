//! One service for every request property: built once, on its own runtime and data dir, and
//! called in-process through `tower::ServiceExt::oneshot` (no socket, no HTTP parser).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode, header};
use checkoff::Settings;
use checkoff::auth::{JwtSecret, Passwords, load_or_create_secret};
use checkoff::config::StoreKind;
use checkoff::domain::{Password, Timestamp, User, Username};
use checkoff::store::{SqliteStore, Store};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::runtime::Runtime;
use tower::ServiceExt;
use uuid::Uuid;

pub const USER: &str = "prop";
pub const PASSWORD: &str = "Correct1Horse";

pub struct Service {
    runtime: Runtime,
    router: Router,
    pub store: Arc<dyn Store>,
    pub secret: JwtSecret,
    /// When [`USER`]'s account was made (the `acct` claim of its tokens).
    pub account: Timestamp,
    /// An access token of [`USER`], from `POST /login`.
    pub token: String,
    _dir: TempDir,
}

/// The service, started on first use.
pub fn service() -> &'static Service {
    static SERVICE: OnceLock<Service> = OnceLock::new();
    SERVICE.get_or_init(Service::start)
}

/// A response, its body read unless it is a success of `GET` (a list, perhaps a stream).
pub struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// Whether this is what a client may be told: a success or a refusal, never a server
    /// failure, and every refusal in our error shape, `{"message": "..."}`.
    pub fn check(&self) -> Result<(), String> {
        let status = self.status;
        if !(status.is_success() || status.is_client_error()) {
            return Err(format!("answered {status}: {:?}", self.body));
        }
        if status.is_client_error() {
            let body: Value = serde_json::from_slice(&self.body)
                .map_err(|_| format!("{status} with a body that is not JSON: {:?}", self.body))?;
            let shaped = body.as_object().is_some_and(|o| o.len() == 1)
                && body["message"].as_str().is_some_and(|m| !m.is_empty());
            if !shaped {
                return Err(format!("{status} not in the error shape: {body}"));
            }
        }
        Ok(())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

impl Service {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = Settings::local(dir.path(), StoreKind::Sqlite, "unused");
        let (state, store, account) = runtime.block_on(async {
            let store: Arc<dyn Store> =
                Arc::new(SqliteStore::open(dir.path()).expect("open SQLite store"));
            let password = Password::parse(PASSWORD.into()).unwrap();
            let user = User::new(
                Username::parse(USER).unwrap(),
                Passwords::new().hash(&password).await.unwrap(),
                None,
                false,
            );
            store.create_user(&user).await.expect("create user");
            let state = checkoff::service::build_on(&settings, Arc::clone(&store))
                .await
                .expect("service builds");
            (state, store, user.created_at)
        });
        let secret = load_or_create_secret(dir.path()).expect("JWT key");
        let mut service = Self {
            runtime,
            router: checkoff::app(state),
            store,
            secret,
            account,
            token: String::new(),
            _dir: dir,
        };
        let login = service.send(
            Request::post("/login")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    json!({ "username": USER, "password": PASSWORD }).to_string(),
                ))
                .unwrap(),
        );
        assert_eq!(login.status, StatusCode::OK, "{:?}", login.body);
        service.token = login.json()["token"].as_str().expect("token").to_owned();
        service
    }

    /// Runs `future` on the service's runtime.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// One request through the router. A request that takes seconds is a hang: it fails.
    pub fn send(&self, request: Request<Body>) -> Answer {
        let read_body = request.method() != "GET";
        let router = self.router.clone();
        self.block_on(async move {
            let answer = async {
                let response = router.oneshot(request).await.expect("infallible");
                let (parts, body) = response.into_parts();
                let body = if read_body || !parts.status.is_success() {
                    axum::body::to_bytes(body, usize::MAX)
                        .await
                        .expect("a body that reads")
                } else {
                    Bytes::new()
                };
                Answer {
                    status: parts.status,
                    headers: parts.headers,
                    body,
                }
            };
            tokio::time::timeout(Duration::from_secs(20), answer)
                .await
                .expect("an answer within 20 s")
        })
    }

    /// A request as [`USER`].
    pub fn authed(&self, method: &str, uri: &str) -> axum::http::request::Builder {
        Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
    }

    /// A new todo of [`USER`]: its uid.
    pub fn create_todo(&self, description: &str) -> Uuid {
        let answer = self.send(
            self.authed("POST", "/todos")
                .body(Body::from(
                    json!({ "description": description }).to_string(),
                ))
                .unwrap(),
        );
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        answer.json()["uid"]
            .as_str()
            .and_then(|u| Uuid::parse_str(u).ok())
            .expect("a uid")
    }
}
