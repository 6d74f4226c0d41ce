//! `checkoff serve` under attack, from the outside: killed in the middle of writes, raced by
//! conditional updates, and fed a table of hostile requests. Each test runs the real binary on a
//! fresh data dir and stops it however the test ends.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use futures_util::future::join_all;
use reqwest::{Client, Method, StatusCode, header};
use serde_json::{Value, json};
use tokio::sync::Barrier;

use crate::cli::{Server, create_user, status_json};

/// A client that gives up long before a test would look hung.
fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client")
}

/// The uid a `Location: /todos/{uid}` names.
fn location_uid(response: &reqwest::Response) -> Option<String> {
    let location = response.headers().get(header::LOCATION)?.to_str().ok()?;
    location.strip_prefix("/todos/").map(str::to_owned)
}

/// The target of a `Link: <target>; rel="next"` header.
fn next_link(response: &reqwest::Response) -> Option<String> {
    let link = response.headers().get(header::LINK)?.to_str().ok()?;
    let (target, rel) = link.split_once(';')?;
    (rel.trim() == r#"rel="next""#).then(|| {
        target
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_owned()
    })
}

/// Every todo of the token's owner, following the `Link` headers page by page.
async fn all_todos(server: &Server, token: &str) -> Vec<Value> {
    let mut todos = Vec::new();
    let mut target = "/todos?limit=1000".to_owned();
    for _ in 0..100 {
        let response = server
            .authed(Method::GET, &target, token)
            .send()
            .await
            .expect("GET /todos");
        let next = next_link(&response);
        let (status, page) = status_json(response).await;
        assert_eq!(status, StatusCode::OK, "{target}: {page}");
        todos.extend(page.as_array().expect("a JSON array").iter().cloned());
        match next {
            Some(link) => target = link,
            None => return todos,
        }
    }
    panic!("more than 100 pages of todos");
}

// ---------------------------------------------------------------------------------------------
// Crash safety
// ---------------------------------------------------------------------------------------------

const CRASH_WRITERS: usize = 24;
const CRASH_CREATES_EACH: usize = 25;
/// Acknowledged creates before the kill: well into the run and far from its end.
const KILL_AFTER: usize = 120;

/// What one writer saw: the creates acknowledged (uid, description), and any answer that was
/// neither a 201 nor the server going away.
#[derive(Default)]
struct Written {
    acknowledged: Vec<(String, String)>,
    wrong: Vec<String>,
}

async fn write_until_killed(
    client: Client,
    base: String,
    token: String,
    writer: usize,
    acknowledged: Arc<AtomicUsize>,
) -> Written {
    let mut written = Written::default();
    for n in 0..CRASH_CREATES_EACH {
        let description = format!("crash writer {writer} create {n}");
        let sent = client
            .post(format!("{base}/todos"))
            .bearer_auth(&token)
            .json(&json!({ "description": description }))
            .send()
            .await;
        // No answer: the server is gone, and this create's fate is unknown.
        let Ok(response) = sent else { break };
        match (response.status(), location_uid(&response)) {
            // The status line of a 201 is only sent once the write is durable.
            (StatusCode::CREATED, Some(uid)) => {
                written.acknowledged.push((uid, description));
                acknowledged.fetch_add(1, Ordering::SeqCst);
            }
            (status, _) => written.wrong.push(format!("{description}: {status}")),
        }
    }
    written
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_write_keeps_every_acknowledged_create_in_a_sound_database() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);
    let server = Server::start_with(dir.path(), &[]);
    let token = server.token("alice").await;
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let client = client();
    let writers: Vec<_> = (0..CRASH_WRITERS)
        .map(|writer| {
            tokio::spawn(write_until_killed(
                client.clone(),
                server.base().to_owned(),
                token.clone(),
                writer,
                Arc::clone(&acknowledged),
            ))
        })
        .collect();

    let deadline = Instant::now() + Duration::from_secs(30);
    while acknowledged.load(Ordering::SeqCst) < KILL_AFTER {
        assert!(
            Instant::now() < deadline,
            "only {} creates acknowledged in 30 s",
            acknowledged.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Dropping the server kills it with SIGKILL (`Child::kill`): no shutdown, no draining.
    drop(server);
    let mut acked = Vec::new();
    for writer in join_all(writers).await {
        let written = writer.expect("writer task");
        assert!(
            written.wrong.is_empty(),
            "answers before the kill: {:?}",
            written.wrong
        );
        acked.extend(written.acknowledged);
    }
    assert!(
        acked.len() < CRASH_WRITERS * CRASH_CREATES_EACH,
        "every create was acknowledged: the kill came after the run, not in it"
    );

    // The file as the kill left it (WAL included) is sound.
    let db = rusqlite::Connection::open(dir.path().join("checkoff.db")).expect("open checkoff.db");
    let verdict: String = db
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("integrity_check");
    assert_eq!(verdict, "ok");
    drop(db);

    // A new server on the same data dir has every acknowledged create, the token still works,
    // and nothing appeared that no writer sent.
    let server = Server::start_with(dir.path(), &[]);
    let listed = all_todos(&server, &token).await;
    let stored: HashMap<&str, &str> = listed
        .iter()
        .map(|todo| {
            (
                todo["uid"].as_str().expect("uid"),
                todo["description"].as_str().expect("description"),
            )
        })
        .collect();
    assert_eq!(stored.len(), listed.len(), "a uid listed twice");
    for (uid, description) in &acked {
        assert_eq!(
            stored.get(uid.as_str()),
            Some(&description.as_str()),
            "acknowledged create {uid} lost after the kill ({} of {} acknowledged are stored)",
            acked
                .iter()
                .filter(|(u, _)| stored.contains_key(u.as_str()))
                .count(),
            acked.len()
        );
    }
    // At most one create per writer was in flight when the kill came.
    assert!(
        stored.len() <= acked.len() + CRASH_WRITERS,
        "{} stored after {} acknowledged creates",
        stored.len(),
        acked.len()
    );
    assert!(stored.values().all(|d| d.starts_with("crash writer ")));
    let response = server.create_todo(&token, "after the crash").await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

// ---------------------------------------------------------------------------------------------
// Racing conditional updates
// ---------------------------------------------------------------------------------------------

const RACERS: usize = 8;
const LOCKSTEP_ROUNDS: usize = 4;
const FREE_WRITES_EACH: usize = 8;

/// One conditional write: its status, and for a 200 the version and description it made.
#[derive(Debug)]
struct Attempt {
    status: StatusCode,
    made: Option<(u64, String)>,
}

/// The item's ETag, from GET /todos/{uid}.
async fn etag_of(client: &Client, base: &str, token: &str, uid: &str) -> String {
    let response = client
        .get(format!("{base}/todos/{uid}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET /todos/{uid}");
    assert_eq!(response.status(), StatusCode::OK);
    response
        .headers()
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .expect("an ETag")
        .to_owned()
}

async fn write_if_match(
    client: &Client,
    base: &str,
    token: &str,
    uid: &str,
    (method, if_match): (Method, &str),
    description: String,
) -> Attempt {
    let response = client
        .request(method, format!("{base}/todos/{uid}"))
        .bearer_auth(token)
        .header(header::IF_MATCH, if_match)
        .json(&json!({ "description": description }))
        .send()
        .await
        .expect("conditional write");
    let status = response.status();
    let made = if status == StatusCode::OK {
        let body: Value = response.json().await.expect("the updated item");
        assert_eq!(body["description"], description.as_str());
        Some((body["version"].as_u64().expect("version"), description))
    } else {
        None
    };
    Attempt { status, made }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_conditional_updates_each_win_once_and_never_lose_a_write() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);
    let server = Server::start_with(dir.path(), &[]);
    let token = server.token("alice").await;
    let created = server.create_todo(&token, "raced").await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let uid = location_uid(&created).expect("Location");
    let (base, client) = (server.base().to_owned(), client());

    // In lockstep: every racer reads the same version, then all write at once.
    let barrier = Arc::new(Barrier::new(RACERS));
    let lockstep = (0..RACERS).map(|racer| {
        let (client, base, token, uid) = (client.clone(), base.clone(), token.clone(), uid.clone());
        let barrier = Arc::clone(&barrier);
        tokio::spawn(async move {
            let mut attempts = Vec::new();
            for round in 0..LOCKSTEP_ROUNDS {
                let etag = etag_of(&client, &base, &token, &uid).await;
                barrier.wait().await;
                let description = format!("round {round} racer {racer}");
                let write = (Method::PUT, etag.as_str());
                attempts
                    .push(write_if_match(&client, &base, &token, &uid, write, description).await);
                barrier.wait().await;
            }
            attempts
        })
    });
    let rounds = tokio::time::timeout(Duration::from_secs(30), join_all(lockstep))
        .await
        .expect("lockstep rounds within 30 s");
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut wins_per_round = [0; LOCKSTEP_ROUNDS];
    for racer in rounds {
        for (round, attempt) in racer.expect("racer task").into_iter().enumerate() {
            wins_per_round[round] += usize::from(attempt.status == StatusCode::OK);
            attempts.push(attempt);
        }
    }
    assert_eq!(wins_per_round, [1; LOCKSTEP_ROUNDS], "{attempts:?}");

    // Free for all: PUT and PATCH, with one tag or a list of them.
    let free = (0..RACERS).map(|racer| {
        let (client, base, token, uid) = (client.clone(), base.clone(), token.clone(), uid.clone());
        tokio::spawn(async move {
            let mut attempts = Vec::new();
            for n in 0..FREE_WRITES_EACH {
                let etag = etag_of(&client, &base, &token, &uid).await;
                let method = if n % 2 == 0 {
                    Method::PUT
                } else {
                    Method::PATCH
                };
                let if_match = if racer % 2 == 0 {
                    etag
                } else {
                    format!(r#""999999", {etag}"#)
                };
                let description = format!("free racer {racer} write {n}");
                let write = (method, if_match.as_str());
                attempts
                    .push(write_if_match(&client, &base, &token, &uid, write, description).await);
            }
            attempts
        })
    });
    let free = tokio::time::timeout(Duration::from_secs(30), join_all(free))
        .await
        .expect("free writes within 30 s");
    for racer in free {
        attempts.extend(racer.expect("racer task"));
    }

    let statuses: HashSet<StatusCode> = attempts.iter().map(|a| a.status).collect();
    assert!(
        statuses.is_subset(&HashSet::from([
            StatusCode::OK,
            StatusCode::PRECONDITION_FAILED
        ])),
        "answers other than 200 and 412: {statuses:?}"
    );
    // Each win made the next version: none was made twice, none was skipped.
    let mut wins: Vec<(u64, String)> = attempts.into_iter().filter_map(|a| a.made).collect();
    wins.sort();
    let versions: Vec<u64> = wins.iter().map(|(v, _)| *v).collect();
    let expected: Vec<u64> = (2..2 + wins.len() as u64).collect();
    assert_eq!(versions, expected);

    let response = server
        .authed(Method::GET, &format!("/todos/{uid}"), &token)
        .send()
        .await
        .unwrap();
    let etag = response.headers().get(header::ETAG).cloned();
    let (status, todo) = status_json(response).await;
    assert_eq!(status, StatusCode::OK);
    let last = wins.last().expect("at least one win");
    assert_eq!(todo["version"], 1 + wins.len() as u64);
    assert_eq!(
        todo["description"],
        last.1.as_str(),
        "the last win is what stays"
    );
    assert_eq!(
        etag.as_ref().and_then(|v| v.to_str().ok()),
        Some(format!("\"{}\"", last.0).as_str())
    );
}

// ---------------------------------------------------------------------------------------------
// Hostile requests
// ---------------------------------------------------------------------------------------------

/// The longest any hostile request may wait for its whole answer.
const ANSWER_LIMIT: Duration = Duration::from_secs(5);
/// Between the pieces of a request sent slowly.
const PAUSE: Duration = Duration::from_millis(300);

/// One row of the table: raw bytes sent in pieces (with [`PAUSE`] between them), and the status
/// the server must answer with.
struct Case {
    name: String,
    pieces: Vec<Vec<u8>>,
    expect: u16,
}

fn case(name: impl Into<String>, request: Vec<u8>, expect: u16) -> Case {
    Case {
        name: name.into(),
        pieces: vec![request],
        expect,
    }
}

/// A whole request: `Host`, `Connection: close`, `headers`, then `body` with its
/// `Content-Length` (none for an empty body).
fn raw(method: &str, target: &str, headers: &[String], body: &[u8]) -> Vec<u8> {
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for line in headers {
        request.push_str(line);
        request.push_str("\r\n");
    }
    if !body.is_empty() {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// `body` as chunks of at most `size` bytes, with the last chunk.
fn chunked(body: &[u8], size: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    for chunk in body.chunks(size) {
        bytes.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        bytes.extend_from_slice(chunk);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"0\r\n\r\n");
    bytes
}

/// Sends `case` on a new connection and returns the answer's status code, or why there was none
/// within [`ANSWER_LIMIT`]; the answer's text comes along for the failure message.
fn exchange(addr: &str, case: &Case) -> Result<(u16, String), String> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    for (i, piece) in case.pieces.iter().enumerate() {
        if i > 0 {
            thread::sleep(PAUSE);
        }
        // The server may answer, and close, before the whole request is sent.
        if stream.write_all(piece).is_err() {
            break;
        }
    }
    let mut answer = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        let left = ANSWER_LIMIT.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(format!(
                "no complete answer within {ANSWER_LIMIT:?}; so far {:?}",
                String::from_utf8_lossy(&answer)
            ));
        }
        stream.set_read_timeout(Some(left)).expect("read timeout");
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
            // A reset after the answer (the server dropped the unread rest of a request).
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !answer.is_empty() => {
                break;
            }
            Err(e) => {
                return Err(format!(
                    "{e} after {:?}; so far {:?}",
                    started.elapsed(),
                    String::from_utf8_lossy(&answer)
                ));
            }
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {text:?}"))?;
    Ok((status, text))
}

/// Whether an answer is in the API's error shape, `{"message": "…"}`, where it should be: any
/// error the service itself answers. (An error hyper answers while parsing the request, before
/// there is one to route, has no body.)
fn error_shape(status: u16, answer: &str) -> bool {
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    if status < 400 || body.is_empty() {
        return true;
    }
    serde_json::from_str::<Value>(body).is_ok_and(|v| v["message"].is_string())
}

/// What the rows are built from: a user with a token, one of their todos and a real cursor.
struct Fixture {
    token: String,
    uid: String,
    cursor: String,
    /// The signing key in the data dir, to make tokens that differ from a real one in one way.
    key: Vec<u8>,
}

impl Fixture {
    fn auth(&self) -> String {
        format!("Authorization: Bearer {}", self.token)
    }

    /// A request with the fixture's token and a JSON content type.
    fn json(&self, method: &str, target: &str, body: &[u8]) -> Vec<u8> {
        let headers = [self.auth(), "Content-Type: application/json".into()];
        raw(method, target, &headers, body)
    }

    fn get_with_token(&self, target: &str, token: &str) -> Vec<u8> {
        raw(
            "GET",
            target,
            &[format!("Authorization: Bearer {token}")],
            b"",
        )
    }

    /// The claims of the fixture's token.
    fn claims(&self) -> Value {
        let payload = self.token.split('.').nth(1).expect("a JWT");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
            .expect("JSON claims")
    }

    /// A token of `claims` signed with `key` (HS256).
    fn sign(claims: &Value, key: &[u8]) -> String {
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        jsonwebtoken::encode(
            &header,
            claims,
            &jsonwebtoken::EncodingKey::from_secret(key),
        )
        .expect("sign a token")
    }
}

/// An object nested `levels` deep: `{"a":{"a":…{}}}`.
fn nested_object(levels: usize) -> String {
    format!(
        "{}{{}}{}",
        r#"{"a":"#.repeat(levels - 1),
        "}".repeat(levels - 1)
    )
}

fn hostile_cases(f: &Fixture) -> Vec<Case> {
    let todo = format!("/todos/{}", f.uid);
    let post = |body: &[u8]| f.json("POST", "/todos", body);
    let put = |body: &[u8]| f.json("PUT", &todo, body);
    let get = |target: &str| f.json("GET", target, b"");
    let described = |text: &str| json!({ "description": text }).to_string().into_bytes();
    let with_metadata =
        |metadata: &str| format!(r#"{{"description":"x","metadata":{metadata}}}"#).into_bytes();
    let deep = with_metadata(&format!(
        r#"{{"a":{}{}}}"#,
        "[".repeat(30_000),
        "]".repeat(30_000)
    ));
    let wide: serde_json::Map<String, Value> =
        (0..2000).map(|i| (format!("k{i}"), json!(i))).collect();
    let wide = with_metadata(&Value::Object(wide).to_string());
    let auth_and = |header: &str| [f.auth(), header.to_owned()];
    let typed = |content_type: &str, body: &[u8]| {
        let header = format!("Content-Type: {content_type}");
        raw("POST", "/todos", &auth_and(&header), body)
    };
    let chunked_post = |chunks: &[u8]| {
        let mut request = raw(
            "POST",
            "/todos",
            &auth_and("Transfer-Encoding: chunked"),
            b"",
        );
        request.extend_from_slice(chunks);
        request
    };
    let huge_chunks = chunked(&described(&"a".repeat(70_000)), 1024);
    let framed = |headers: &[&str]| {
        let mut lines = vec![f.auth()];
        lines.extend(headers.iter().map(|h| (*h).to_owned()));
        raw("POST", "/todos", &lines, b"")
    };
    let login = |body: &[u8]| raw("POST", "/login", &[], body);
    let refresh = |body: &[u8]| raw("POST", "/refresh", &[], body);
    let put_if_match = |tag: &str| {
        let header = format!("If-Match: {tag}");
        raw("PUT", &todo, &auth_and(&header), &described("x"))
    };
    let idempotent = |key: &str| {
        let header = format!("Idempotency-Key: {key}");
        raw("POST", "/todos", &auth_and(&header), &described("x"))
    };
    let many_headers: Vec<String> = (0..101).map(|i| format!("X-H{i}: v")).collect();
    let big_header = format!("X-Big: {}", "a".repeat(17 * 1024));
    let tls_hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n".to_vec();
    let long_uid = format!("/todos/{}", "a".repeat(5000));
    let random_cursor = format!("/todos?cursor={}", URL_SAFE_NO_PAD.encode([7u8; 40]));
    let forged_cursor = format!(
        "/todos?cursor={}.{}",
        URL_SAFE_NO_PAD.encode("0000"),
        URL_SAFE_NO_PAD.encode([0u8; 16])
    );
    let mut tampered = f.cursor.clone().into_bytes();
    tampered[0] = if tampered[0] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ASCII");
    let tampered_cursor = format!("/todos?limit=1&cursor={tampered}");
    let other_filter = format!("/todos?limit=1&state=completed&cursor={}", f.cursor);

    let mut cases = vec![
        // Bodies that are not a todo.
        case("broken JSON", post(br#"{"description": "#), 400),
        case("a JSON array", post(br#"[{"description":"x"}]"#), 400),
        case(
            "description is a number",
            post(br#"{"description":5}"#),
            400,
        ),
        case("metadata is a string", post(&with_metadata(r#""m""#)), 400),
        case(
            "an unknown field",
            post(br#"{"description":"x","uid":"1"}"#),
            400,
        ),
        case("an unknown state", put(br#"{"state":"done"}"#), 400),
        case("an empty body", post(b""), 400),
        case(
            "invalid UTF-8",
            post(b"{\"description\":\"\xff\xfe\"}"),
            400,
        ),
        case(
            "a lone surrogate",
            post(br#"{"description":"\ud800"}"#),
            400,
        ),
        case("NUL in the description", post(&described("a\u{0}b")), 400),
        case(
            "ESC in the description",
            post(&described("\u{1b}[2Jgone")),
            400,
        ),
        case(
            "a raw control byte",
            post(b"{\"description\":\"a\x01b\"}"),
            400,
        ),
        case("NUL in a change", put(&described("x\u{0}")), 400),
        case("a blank description", post(&described(" \t ")), 400),
        case("1,001 characters", post(&described(&"é".repeat(1001))), 400),
        case(
            "metadata 9 deep",
            post(&with_metadata(&nested_object(9))),
            400,
        ),
        case("metadata 30,000 deep", post(&deep), 400),
        case("metadata over 16 KiB", post(&wide), 400),
        case(
            "a number out of range",
            post(&with_metadata(r#"{"n":1e999}"#)),
            400,
        ),
        case(
            "a body over 64 KiB",
            post(&described(&"a".repeat(70_000))),
            413,
        ),
        // Content types that are not JSON.
        case("XML", typed("application/xml", b"<todo/>"), 400),
        case(
            "a form",
            typed("application/x-www-form-urlencoded", b"description=x"),
            400,
        ),
        // Framing.
        case(
            "valid chunks",
            chunked_post(&chunked(&described("chunks"), 7)),
            201,
        ),
        case(
            "a chunk size not in hex",
            chunked_post(b"zz\r\n{}\r\n0\r\n\r\n"),
            400,
        ),
        case(
            "a chunk size past 64 bits",
            chunked_post(b"fffffffffffffffffffff\r\n"),
            400,
        ),
        case(
            "a chunk over its size",
            chunked_post(b"2\r\n{\"a\":1}\r\n0\r\n\r\n"),
            400,
        ),
        case("chunks over 64 KiB", chunked_post(&huge_chunks), 413),
        case(
            "two Content-Lengths",
            framed(&["Content-Length: 2", "Content-Length: 3"]),
            400,
        ),
        case(
            "a negative Content-Length",
            framed(&["Content-Length: -1"]),
            400,
        ),
        // Headers.
        case(
            "a header over 16 KiB",
            raw("GET", "/todos", &auth_and(&big_header), b""),
            431,
        ),
        case("101 headers", raw("GET", "/todos", &many_headers, b""), 431),
        case(
            "NUL in a header",
            raw("GET", "/todos", &auth_and("X-Nul: a\0b"), b""),
            400,
        ),
        case("TLS to a plain port", tls_hello, 400),
        case(
            "an unknown method",
            raw("BREW", "/todos", &[f.auth()], b""),
            405,
        ),
        case("a malformed If-Match", put_if_match("latest"), 400),
        case("a weak If-Match", put_if_match(r#"W/"1""#), 412),
        case(
            "an If-Match past 64 bits",
            put_if_match(r#""99999999999999999999999""#),
            412,
        ),
        case("an Idempotency-Key with a space", idempotent("a b"), 400),
        case(
            "an Idempotency-Key of 256",
            idempotent(&"k".repeat(256)),
            400,
        ),
        case(
            "CONNECT",
            raw("CONNECT", "127.0.0.1:22", &[f.auth()], b""),
            404,
        ),
        case("HTTP/0.9", b"GET /todos\r\n\r\n".to_vec(), 400),
        case(
            "a folded header",
            raw("GET", "/todos", &auth_and("X-A: a\r\n b"), b""),
            400,
        ),
        case(
            "an unknown transfer coding",
            framed(&["Transfer-Encoding: gzip"]),
            400,
        ),
        case(
            "Expect 100-continue over 64 KiB",
            framed(&["Expect: 100-continue", "Content-Length: 100000"]),
            413,
        ),
        // Signing in.
        case(
            "login: wrong types",
            login(br#"{"username":1,"password":[]}"#),
            400,
        ),
        case(
            "login: a NUL username",
            login(br#"{"username":"a\u0000","password":"p"}"#),
            401,
        ),
        case(
            "refresh: a garbage token",
            refresh(br#"{"refresh_token":"a.b."}"#),
            401,
        ),
        // Paths.
        case("a NUL uid", get("/todos/%00"), 404),
        case("a uid climbing out", get("/todos/..%2f..%2fusers"), 404),
        case("a uid of 5,000 characters", get(&long_uid), 404),
        case(
            "a uid that is not a UUID",
            f.json("DELETE", "/todos/12345", b""),
            404,
        ),
        case("a uid of invalid UTF-8", get("/todos/%ff%fe"), 404),
        case("a double slash", get("//todos"), 404),
        case("a NUL username", get("/users/%00"), 404),
        // Query strings.
        case("two limits", get("/todos?limit=1&limit=2"), 400),
        case("two states", get("/todos?state=open&state=done"), 400),
        case(
            "the same state twice",
            get("/todos?state=started&state=started"),
            400,
        ),
        case("a limit of 0", get("/todos?limit=0"), 400),
        case(
            "a limit past 64 bits",
            get("/todos?limit=99999999999999999999999"),
            400,
        ),
        case("a limit of invalid UTF-8", get("/todos?limit=%ff"), 400),
        case(
            "an unknown state filter",
            f.json("DELETE", "/todos?state=all", b""),
            400,
        ),
        // Cursors.
        // An empty optional parameter is as if absent: the first page.
        case("an empty cursor", get("/todos?limit=1&cursor="), 200),
        case("random base64 as a cursor", get(&random_cursor), 400),
        case("a forged cursor", get(&forged_cursor), 400),
        case(
            "a real cursor, one character changed",
            get(&tampered_cursor),
            400,
        ),
        case("a cursor used for another filter", get(&other_filter), 400),
    ];

    // Tokens.
    let mut flipped = f.token.clone().into_bytes();
    let last = flipped.len() - 2;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).expect("ASCII");
    let claims = f.claims();
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!(
        "{none_header}.{}.",
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut expired = claims.clone();
    expired["iat"] = json!(1_000_000_000);
    expired["nbf"] = json!(1_000_000_000);
    expired["exp"] = json!(1_000_000_600);
    let mut not_yet = claims.clone();
    not_yet["nbf"] = json!(claims["exp"].as_u64().expect("exp") - 60);
    let mut someone_else = claims.clone();
    someone_else["sub"] = json!("mallory");
    let tokens = [
        ("a flipped signature byte", flipped),
        ("alg none", unsigned),
        ("an expired token", Fixture::sign(&expired, &f.key)),
        ("a token not valid yet", Fixture::sign(&not_yet, &f.key)),
        (
            "a token of an unknown user",
            Fixture::sign(&someone_else, &f.key),
        ),
        (
            "a token signed with another key",
            Fixture::sign(&claims, &[7u8; 32]),
        ),
        ("garbage", "not-a-token".into()),
        ("three empty parts", "..".into()),
        ("a token of 12 KiB", "a".repeat(12 * 1024)),
    ];
    for (name, token) in tokens {
        cases.push(case(
            format!("token: {name}"),
            f.get_with_token("/todos", &token),
            401,
        ));
    }
    cases.push(case(
        "token: an empty Bearer",
        raw("GET", "/todos", &["Authorization: Bearer ".into()], b""),
        401,
    ));
    // Header lines here are text: this one is spliced in before the blank line.
    let mut not_utf8 = raw("GET", "/todos", &[], b"");
    not_utf8.truncate(not_utf8.len() - 2);
    not_utf8.extend_from_slice(b"Authorization: Bearer \xff\xfe\r\n\r\n");
    cases.push(case("token: not UTF-8", not_utf8, 401));

    // Slow clients: a body in pieces is read; one that stops coming is timed out as the
    // client's doing.
    let body = described("sent slowly");
    let head = raw(
        "POST",
        "/todos",
        &auth_and(&format!("Content-Length: {}", body.len())),
        b"",
    );
    let slow: Vec<Vec<u8>> = std::iter::once(head.clone())
        .chain(body.chunks(body.len().div_ceil(3)).map(<[u8]>::to_vec))
        .collect();
    cases.push(Case {
        name: "a body sent in pieces with pauses".into(),
        pieces: slow,
        expect: 201,
    });
    let stalled = [head, body[..5].to_vec()].concat();
    cases.push(case("a body that stops coming", stalled, 408));
    // A body announced too large is refused at once, not waited for.
    let unsent = raw("POST", "/todos", &auth_and("Content-Length: 1000000"), b"");
    cases.push(case("a body announced over 64 KiB, not sent", unsent, 413));
    cases
}

/// Anything a client can send is answered with a 4xx (or works) within a few seconds, and the
/// server goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_a_client_error_promptly_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);
    let server = Server::start_with(
        dir.path(),
        &[
            ("CHECKOFF_REQUEST_TIMEOUT", "2s"),
            ("CHECKOFF_HEADER_TIMEOUT", "2s"),
        ],
    );
    let token = server.token("alice").await;
    let fixture = fixture(&server, dir.path(), token).await;
    let cases = hostile_cases(&fixture);

    let addr = server.base().trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let outcomes = tokio::task::spawn_blocking(move || {
        cases
            .iter()
            .map(|case| (case.name.clone(), case.expect, exchange(&addr, case)))
            .collect::<Vec<_>>()
    })
    .await
    .expect("the table ran");
    let wrong: Vec<String> = outcomes
        .iter()
        .filter_map(|(name, expect, outcome)| match outcome {
            Ok((status, text)) if status == expect && error_shape(*status, text) => None,
            Ok((status, text)) => Some(format!(
                "{name}: answered {status}, expected {expect} (errors as {{\"message\"}}): {:?}",
                text.chars().take(300).collect::<String>()
            )),
            Err(why) => Some(format!("{name}: {why}")),
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} rows answered wrongly:\n{}",
        wrong.len(),
        outcomes.len(),
        wrong.join("\n")
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the table took {:?}",
        started.elapsed()
    );

    // Still serving, and nothing went wrong inside.
    let health = server
        .request(Method::GET, "/healthz")
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let created = server.create_todo(&fixture.token, "after the attack").await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let listed = all_todos(&server, &fixture.token).await;
    assert!(
        listed
            .iter()
            .any(|t| t["description"] == "after the attack")
    );
    let logs = server.settled_logs();
    assert!(
        !logs.contains("panicked") && !logs.contains("internal error"),
        "the server logged:\n{logs}"
    );
}

/// Three todos (so lists have pages), a control token made the way the table's forged ones are
/// (accepted, so their refusals are about what was changed), and the data dir's signing key.
async fn fixture(server: &Server, data_dir: &Path, token: String) -> Fixture {
    let mut uid = String::new();
    for n in 0..3 {
        let response = server.create_todo(&token, &format!("fixture {n}")).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        uid = location_uid(&response).expect("Location");
    }
    let page = server
        .authed(Method::GET, "/todos?limit=1", &token)
        .send()
        .await
        .unwrap();
    let link = next_link(&page).expect("a next page");
    let cursor = link.split("cursor=").nth(1).expect("a cursor").to_owned();
    let key_text = std::fs::read_to_string(data_dir.join("jwt.key")).expect("jwt.key");
    let key = STANDARD.decode(key_text.trim()).expect("base64 key");
    let fixture = Fixture {
        token,
        uid,
        cursor,
        key,
    };
    let control = Fixture::sign(&fixture.claims(), &fixture.key);
    let response = server
        .authed(Method::GET, "/todos", &control)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "a re-signed token is accepted"
    );
    fixture
}
