//! A Lambda Runtime API emulator: the `next`, `response`, `error` and `init/error` calls on a
//! random loopback port, for the black-box tests of the Lambda entry and for its benchmark.
//! (Shared by both through `#[path]`.) One function per emulator: a killed function's `next`
//! call stays pending here and would take the next event.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};

/// Longest the function may take to answer one event (a cold start included).
pub const ANSWER_LIMIT: Duration = Duration::from_secs(30);

/// What the function answered to one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Response(Value),
    Error(Value),
}

#[derive(Default)]
struct Record {
    answers: HashMap<String, Answer>,
    init_error: Option<Value>,
    /// When the function first asked for an event: the end of its init phase.
    first_poll: Option<Instant>,
}

/// The Runtime API's `next`, `response`, `error` and `init/error` calls on a random local port.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    events: mpsc::UnboundedSender<(String, Value)>,
    record: Arc<Mutex<Record>>,
    changed: Arc<Notify>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

type Queue = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Value)>>>;

async fn runtime_call(
    request: Request<Incoming>,
    queue: Queue,
    record: Arc<Mutex<Record>>,
    changed: Arc<Notify>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let parsed = || serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    let accepted = || {
        Response::builder()
            .status(202)
            .body(Full::default())
            .unwrap()
    };
    let rest = path.strip_prefix("/2018-06-01/runtime/").unwrap_or("");
    if method == hyper::Method::GET && rest == "invocation/next" {
        record
            .lock()
            .unwrap()
            .first_poll
            .get_or_insert_with(Instant::now);
        let Some((id, event)) = queue.lock().await.recv().await else {
            return Ok(Response::builder()
                .status(500)
                .body(Full::default())
                .unwrap());
        };
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            + 30_000;
        return Ok(Response::builder()
            .header("lambda-runtime-aws-request-id", id)
            .header("lambda-runtime-deadline-ms", deadline.to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:checkoff",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000",
            )
            .body(Full::new(Bytes::from(event.to_string())))
            .unwrap());
    }
    let mut record = record.lock().unwrap();
    if rest == "init/error" {
        record.init_error = Some(parsed());
    } else if let Some(id) = rest
        .strip_prefix("invocation/")
        .and_then(|r| r.strip_suffix("/response"))
    {
        record
            .answers
            .insert(id.to_owned(), Answer::Response(parsed()));
    } else if let Some(id) = rest
        .strip_prefix("invocation/")
        .and_then(|r| r.strip_suffix("/error"))
    {
        record
            .answers
            .insert(id.to_owned(), Answer::Error(parsed()));
    } else {
        return Ok(Response::builder()
            .status(404)
            .body(Full::default())
            .unwrap());
    }
    drop(record);
    changed.notify_waiters();
    Ok(accepted())
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (events, receiver) = mpsc::unbounded_channel();
        let queue: Queue = Arc::new(tokio::sync::Mutex::new(receiver));
        let record = Arc::new(Mutex::new(Record::default()));
        let changed = Arc::new(Notify::new());
        let (r, c) = (Arc::clone(&record), Arc::clone(&changed));
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (queue, record, changed) = (Arc::clone(&queue), Arc::clone(&r), Arc::clone(&c));
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        runtime_call(
                            request,
                            Arc::clone(&queue),
                            Arc::clone(&record),
                            Arc::clone(&changed),
                        )
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            events,
            record,
            changed,
            server,
        }
    }

    /// Hands the function one event and waits for what it answers.
    pub async fn invoke(&self, event: Value) -> Answer {
        let id = uuid::Uuid::new_v4().to_string();
        self.events.send((id.clone(), event)).unwrap();
        let deadline = Instant::now() + ANSWER_LIMIT;
        loop {
            let notified = self.changed.notified();
            if let Some(answer) = self.record.lock().unwrap().answers.remove(&id) {
                return answer;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no answer to an event within {ANSWER_LIMIT:?}"
            );
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), notified).await;
        }
    }

    /// When the function first asked for an event, if it has.
    pub fn first_poll(&self) -> Option<Instant> {
        self.record.lock().unwrap().first_poll
    }

    /// Waits for the init-error call.
    pub async fn init_error(&self) -> Value {
        let deadline = Instant::now() + ANSWER_LIMIT;
        loop {
            let notified = self.changed.notified();
            if let Some(error) = self.record.lock().unwrap().init_error.clone() {
                return error;
            }
            assert!(Instant::now() < deadline, "no init error reported");
            let _ = tokio::time::timeout(Duration::from_millis(200), notified).await;
        }
    }
}

/// The AWS settings of this process (DynamoDB Local's endpoint, region, dummy credentials) as a
/// function started under the emulator needs them, never reaching for the EC2 metadata service.
pub fn aws_environment() -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ]
    .into_iter()
    .map(|name| (name.to_owned(), std::env::var(name).unwrap_or_default()))
    .collect();
    env.push(("AWS_EC2_METADATA_DISABLED".into(), "true".into()));
    env
}
