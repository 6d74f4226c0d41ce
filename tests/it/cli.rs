//! The `checkoff` binary from the outside: what each command prints, its exit code, the files it
//! leaves in the data dir, and `serve` answering over HTTP.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Client, Method, Response, StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::PASSWORD;

/// Longest a one-shot command may run (hashing a password included).
const COMMAND_LIMIT: Duration = Duration::from_secs(60);
/// Longest `serve` may take to print its listening line.
const STARTUP_LIMIT: Duration = Duration::from_secs(20);

const BINARY: &str = env!("CARGO_BIN_EXE_checkoff");

/// Settings a developer's shell might carry that would change what the binary does.
const AMBIENT_SETTINGS: &[&str] = &[
    "CHECKOFF_STORE",
    "CHECKOFF_DATA_DIR",
    "CHECKOFF_TABLE",
    "CHECKOFF_ADDR",
    "CHECKOFF_TOKEN_TTL",
    "CHECKOFF_SESSION_TTL",
    "CHECKOFF_SIGNUP",
    "CHECKOFF_USER_CACHE_TTL",
    "CHECKOFF_REQUEST_TIMEOUT",
    "CHECKOFF_JWT_SECRET",
    "CHECKOFF_JWT_SECRET_PARAM",
    "CHECKOFF_STAGE",
    "CHECKOFF_CONFIG",
    "CHECKOFF_AUTHORIZER",
    "CHECKOFF_IDENTITY_CLAIM",
    "CHECKOFF_OIDC_ISSUER",
    "CHECKOFF_OIDC_AUDIENCE",
    "CHECKOFF_OIDC_CLAIM",
    "CHECKOFF_OIDC_JWKS_URL",
    "CHECKOFF_CORS_ORIGINS",
    "CHECKOFF_USER",
    "AWS_LAMBDA_RUNTIME_API",
];

// ---------------------------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------------------------

/// `checkoff` with a clean environment and quiet logs, data dir not yet chosen.
pub(crate) fn bare_command() -> Command {
    bare_command_of(BINARY)
}

/// [`bare_command`] of another build of checkoff.
pub(crate) fn bare_command_of(binary: &str) -> Command {
    let mut command = Command::new(binary);
    for name in AMBIENT_SETTINGS {
        command.env_remove(name);
    }
    command.env("RUST_LOG", "warn");
    // Away from the repository, whose checkoff.toml would otherwise be read.
    command.current_dir(std::env::temp_dir());
    command
}

/// `checkoff --data-dir DIR ARGS…`.
pub(crate) fn checkoff(data_dir: &Path, args: &[&str]) -> Command {
    let mut command = bare_command();
    command.arg("--data-dir").arg(data_dir).args(args);
    command
}

/// A child process that is killed and reaped however the test ends.
pub(crate) struct Running(pub(crate) Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What a finished command showed the person who ran it.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Outcome {
    #[track_caller]
    pub(crate) fn assert_code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(expected),
            "exit code of a command that showed {self:#?}"
        );
        self
    }

    #[track_caller]
    pub(crate) fn assert_stdout_contains(&self, text: &str) -> &Self {
        assert!(
            self.stdout.contains(text),
            "stdout should contain {text:?}: {self:#?}"
        );
        self
    }

    #[track_caller]
    pub(crate) fn assert_stderr_contains(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "stderr should contain {text:?}: {self:#?}"
        );
        self
    }
}

/// Reads a pipe to its end on another thread.
fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Runs `command` to its end, feeding it `stdin` (or no input at all when `None`), and gives up
/// after [`COMMAND_LIMIT`].
pub(crate) fn run(mut command: Command, stdin: Option<&str>) -> Outcome {
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = Running(command.spawn().expect("start checkoff"));
    if let Some(text) = stdin {
        let mut pipe = child.0.stdin.take().expect("stdin is piped");
        // A command that fails before reading its input closes the pipe: that is not our error.
        let _ = pipe.write_all(text.as_bytes());
        drop(pipe);
    }
    let stdout = drain(child.0.stdout.take().expect("stdout is piped"));
    let stderr = drain(child.0.stderr.take().expect("stderr is piped"));
    let deadline = Instant::now() + COMMAND_LIMIT;
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("poll checkoff") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "checkoff {:?} ran longer than {COMMAND_LIMIT:?}",
            command.get_args()
        );
        thread::sleep(Duration::from_millis(10));
    };
    Outcome {
        code: status.code(),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// `checkoff users create NAME [--admin] --password-stdin`, which must succeed.
pub(crate) fn create_user(data_dir: &Path, name: &str, admin: bool) {
    let mut args = vec!["users", "create", name, "--password-stdin"];
    if admin {
        args.push("--admin");
    }
    run(checkoff(data_dir, &args), Some(&format!("{PASSWORD}\n"))).assert_code(0);
}

/// The value of `key` in the `  key : value` lines of `users get`.
fn field<'a>(described: &'a str, key: &str) -> Option<&'a str> {
    described.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        (name.trim() == key).then(|| value.trim())
    })
}

// ---------------------------------------------------------------------------------------------
// A running `checkoff serve`
// ---------------------------------------------------------------------------------------------

/// `checkoff serve` on a random local port; killed when dropped.
pub(crate) struct Server {
    base: String,
    client: Client,
    stderr: Arc<Mutex<String>>,
    child: Running,
}

impl Server {
    fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[])
    }

    /// Starts the server with extra environment and waits (bounded) for its listening line.
    pub(crate) fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_reading_logs(data_dir, env, None)
    }

    /// Starts the server with nobody reading its standard error until `gate` is let go (sent
    /// on or dropped): its log pipe fills after a few hundred lines.
    fn start_with_stalled_logs(data_dir: &Path, gate: mpsc::Receiver<()>) -> Self {
        Self::start_reading_logs(data_dir, &[("RUST_LOG", "info")], Some(gate))
    }

    fn start_reading_logs(
        data_dir: &Path,
        env: &[(&str, &str)],
        gate: Option<mpsc::Receiver<()>>,
    ) -> Self {
        let mut command = checkoff(data_dir, &["serve", "--addr", "127.0.0.1:0"]);
        command
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = Running(command.spawn().expect("start checkoff serve"));

        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.0.stderr.take().expect("stderr is piped");
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
            if let Some(gate) = gate {
                let _ = gate.recv();
            }
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut text = sink.lock().unwrap_or_else(|e| e.into_inner());
                text.push_str(&line);
                text.push('\n');
            }
        });
        let (lines, listened) = mpsc::channel();
        let pipe = child.0.stdout.take().expect("stdout is piped");
        thread::spawn(move || {
            // Keeps reading after the first line so the server never blocks on a full pipe.
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });

        let mut server = Self {
            base: String::new(),
            client: Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("HTTP client"),
            stderr,
            child,
        };
        let deadline = Instant::now() + STARTUP_LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match listened.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("checkoff listening on ") {
                        let base = rest.split_whitespace().next().unwrap_or_default();
                        assert!(
                            base.starts_with("http://127.0.0.1:"),
                            "listening line {line:?}"
                        );
                        server.base = base.to_owned();
                        return server;
                    }
                }
                Err(e) => panic!(
                    "no listening line from checkoff serve ({e}); exit status {:?}; stderr:\n{}",
                    server.child.0.try_wait(),
                    server.stderr_text()
                ),
            }
        }
    }

    /// Sends the server SIGTERM, as a service manager stops it.
    fn terminate(&self) {
        // SAFETY: kill only sends a signal to the child we started.
        unsafe { libc::kill(self.child.0.id() as i32, libc::SIGTERM) };
    }

    /// How the server exited, which it must within 15 s.
    fn exit_status(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(exit) = self.child.0.try_wait().unwrap() {
                return exit;
            }
            assert!(Instant::now() < deadline, "still running after SIGTERM");
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    pub(crate) fn stderr_text(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// What the server logged once its lines have stopped coming (a writer thread writes them
    /// a moment after their requests are answered): quiet for 200 ms, or 5 s at most.
    pub(crate) fn settled_logs(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut seen = self.stderr_text();
        loop {
            thread::sleep(Duration::from_millis(200));
            let now = self.stderr_text();
            if now.len() == seen.len() || Instant::now() > deadline {
                return now;
            }
            seen = now;
        }
    }

    pub(crate) fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    pub(crate) fn authed(
        &self,
        method: Method,
        path: &str,
        token: &str,
    ) -> reqwest::RequestBuilder {
        self.request(method, path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
    }

    /// POST /login, which must succeed: the whole answer.
    pub(crate) async fn login(&self, name: &str, password: &str) -> Value {
        let response = self
            .request(Method::POST, "/login")
            .json(&json!({ "username": name, "password": password }))
            .send()
            .await
            .expect("POST /login");
        let (status, body) = status_json(response).await;
        assert_eq!(status, StatusCode::OK, "login answered {body}");
        body
    }

    pub(crate) async fn token(&self, name: &str) -> String {
        let body = self.login(name, PASSWORD).await;
        body["token"]
            .as_str()
            .expect("token in the login answer")
            .to_owned()
    }

    pub(crate) async fn create_todo(&self, token: &str, description: &str) -> Response {
        self.authed(Method::POST, "/todos", token)
            .json(&json!({ "description": description }))
            .send()
            .await
            .expect("POST /todos")
    }

    async fn list_todos(&self, token: &str) -> Response {
        self.authed(Method::GET, "/todos", token)
            .send()
            .await
            .expect("GET /todos")
    }
}

pub(crate) async fn status_json(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("response body");
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: not JSON: {text:?}"));
    (status, body)
}

fn descriptions(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a JSON array of todos")
        .iter()
        .map(|todo| todo["description"].as_str().expect("description"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// users create
// ---------------------------------------------------------------------------------------------

#[test]
fn creating_a_user_confirms_it_and_makes_the_database() {
    let dir = tempfile::tempdir().unwrap();

    let outcome = run(
        checkoff(
            dir.path(),
            &["users", "create", "alice", "--password-stdin"],
        ),
        Some(PASSWORD),
    );

    outcome.assert_code(0);
    assert_eq!(
        outcome.stdout,
        format!(
            "Created user alice in the SQLite store in {}.\n",
            dir.path().display()
        )
    );
    assert!(
        dir.path().join("checkoff.db").is_file(),
        "checkoff.db in the data dir"
    );
}

#[test]
fn creating_a_user_reads_the_data_dir_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = bare_command();
    command.env("CHECKOFF_DATA_DIR", dir.path()).args([
        "users",
        "create",
        "alice",
        "--password-stdin",
    ]);

    let outcome = run(command, Some(PASSWORD));

    outcome.assert_code(0);
    assert!(
        dir.path().join("checkoff.db").is_file(),
        "checkoff.db in $CHECKOFF_DATA_DIR"
    );
}

#[test]
fn creating_an_admin_says_so() {
    let dir = tempfile::tempdir().unwrap();

    let outcome = run(
        checkoff(
            dir.path(),
            &["users", "create", "root", "--admin", "--password-stdin"],
        ),
        Some(&format!("{PASSWORD}\n")),
    );

    outcome.assert_code(0);
    assert!(
        outcome.stdout.starts_with("Created user root (admin) in "),
        "{outcome:#?}"
    );
}

#[test]
fn reading_commands_never_make_a_database_where_there_is_none() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["users", "list"][..],
        &["users", "get", "alice"],
        &["tokens", "list", "alice"],
        &["users", "delete", "alice"],
    ] {
        run(checkoff(dir.path(), args), None)
            .assert_code(1)
            .assert_stderr_contains("no checkoff database in");
    }
    assert!(!dir.path().join("checkoff.db").exists());
}

#[test]
fn creating_the_same_user_twice_fails_the_second_time() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);

    let outcome = run(
        checkoff(
            dir.path(),
            &["users", "create", "alice", "--password-stdin"],
        ),
        Some(PASSWORD),
    );

    outcome
        .assert_code(1)
        .assert_stderr_contains("already exists");
    assert!(outcome.stdout.is_empty(), "nothing on stdout: {outcome:#?}");
}

#[test]
fn a_weak_password_is_refused_with_the_policy_it_breaks() {
    let dir = tempfile::tempdir().unwrap();

    let outcome = run(
        checkoff(
            dir.path(),
            &["users", "create", "alice", "--password-stdin"],
        ),
        Some("short\n"),
    );

    outcome
        .assert_code(1)
        .assert_stderr_contains("at least 10 characters")
        .assert_stderr_contains("upper-case")
        .assert_stderr_contains("digit");
    run(checkoff(dir.path(), &["users", "get", "alice"]), None).assert_code(1);
}

#[test]
fn an_invalid_username_is_refused() {
    let dir = tempfile::tempdir().unwrap();

    // After `--` so that clap takes it as the name, not as flags.
    let dashed = run(
        checkoff(
            dir.path(),
            &["users", "create", "--password-stdin", "--", "-bad"],
        ),
        Some(PASSWORD),
    );
    let spaced = run(
        checkoff(
            dir.path(),
            &["users", "create", "bad name", "--password-stdin"],
        ),
        Some(PASSWORD),
    );

    dashed.assert_code(1).assert_stderr_contains("username");
    spaced.assert_code(1).assert_stderr_contains("username");
    let listed = run(checkoff(dir.path(), &["users", "list"]), None);
    listed.assert_code(0);
    assert_eq!(listed.stdout, "", "no user was created");
    // Said on standard error, with the store: a mistaken data dir shows at once.
    listed.assert_stderr_contains(&format!(
        "No users in the SQLite store in {}",
        dir.path().display()
    ));
}

#[test]
fn a_taken_address_is_refused_with_the_way_to_choose_another() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    run(checkoff(dir.path(), &["serve", "--addr", &addr]), None)
        .assert_code(1)
        .assert_stderr_contains(&format!("cannot listen on {addr}"))
        .assert_stderr_contains("--addr");
}

#[test]
fn without_a_terminal_or_password_stdin_the_password_cannot_be_asked_for() {
    let dir = tempfile::tempdir().unwrap();

    let outcome = run(checkoff(dir.path(), &["users", "create", "alice"]), None);

    outcome
        .assert_code(1)
        .assert_stderr_contains("--password-stdin");
    run(checkoff(dir.path(), &["users", "get", "alice"]), None).assert_code(1);
}

// ---------------------------------------------------------------------------------------------
// users test-password
// ---------------------------------------------------------------------------------------------

#[test]
fn the_right_password_is_verified() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);

    let outcome = run(
        checkoff(
            dir.path(),
            &["users", "test-password", "alice", "--password-stdin"],
        ),
        Some(&format!("{PASSWORD}\n")),
    );

    outcome.assert_code(0);
    assert_eq!(outcome.stdout, "Password verified.\n");
}

#[test]
fn a_wrong_password_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);

    let outcome = run(
        checkoff(
            dir.path(),
            &["users", "test-password", "alice", "--password-stdin"],
        ),
        Some("Wrong1Horse-battery\n"),
    );

    outcome.assert_code(1);
    assert!(
        !outcome.stderr.trim().is_empty(),
        "a message on stderr: {outcome:#?}"
    );
    assert!(
        !outcome.stdout.contains("verified."),
        "nothing verified: {outcome:#?}"
    );
}

#[test]
fn testing_the_password_of_an_unknown_user_fails() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);

    let outcome = run(
        checkoff(
            dir.path(),
            &["users", "test-password", "nobody", "--password-stdin"],
        ),
        Some(PASSWORD),
    );

    outcome
        .assert_code(1)
        .assert_stderr_contains("no such user");
}

#[test]
fn testing_a_password_without_a_terminal_or_password_stdin_fails() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);

    let outcome = run(
        checkoff(dir.path(), &["users", "test-password", "alice"]),
        None,
    );

    outcome
        .assert_code(1)
        .assert_stderr_contains("--password-stdin");
}

// ---------------------------------------------------------------------------------------------
// users get / list
// ---------------------------------------------------------------------------------------------

#[test]
fn getting_a_user_shows_the_hash_parameters_but_never_the_hash() {
    let dir = tempfile::tempdir().unwrap();
    let created = run(
        checkoff(
            dir.path(),
            &[
                "users",
                "create",
                "alice",
                "--email",
                "alice@example.com",
                "--password-stdin",
            ],
        ),
        Some(PASSWORD),
    );
    created.assert_code(0);

    let outcome = run(checkoff(dir.path(), &["users", "get", "alice"]), None);

    outcome.assert_code(0);
    let shown = &outcome.stdout;
    assert_eq!(field(shown, "username"), Some("alice"), "{shown}");
    assert_eq!(field(shown, "admin"), Some("false"), "{shown}");
    assert_eq!(field(shown, "email"), Some("alice@example.com"), "{shown}");
    assert_eq!(field(shown, "hash"), Some("argon2id"), "{shown}");
    assert_eq!(field(shown, "params"), Some("m=7168,t=5,p=2"), "{shown}");
    assert!(!shown.contains("$argon2id$"), "no PHC string: {shown}");
    assert!(!shown.contains("$v=19$"), "no PHC string: {shown}");
    assert!(!shown.contains(PASSWORD), "no password: {shown}");
}

#[test]
fn getting_an_admin_shows_admin_true() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "root", true);

    let outcome = run(checkoff(dir.path(), &["users", "get", "root"]), None);

    outcome.assert_code(0);
    assert_eq!(
        field(&outcome.stdout, "admin"),
        Some("true"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn getting_an_unknown_user_fails() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);

    let outcome = run(checkoff(dir.path(), &["users", "get", "nobody"]), None);

    outcome
        .assert_code(1)
        .assert_stderr_contains("no such user");
    assert!(outcome.stdout.is_empty(), "nothing on stdout: {outcome:#?}");
}

#[test]
fn listing_users_shows_each_on_its_own_line_with_admins_marked() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "bob", false);
    create_user(dir.path(), "alice", true);
    create_user(dir.path(), "carol", false);

    let outcome = run(checkoff(dir.path(), &["users", "list"]), None);

    outcome.assert_code(0);
    let mut lines: Vec<&str> = outcome.stdout.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        ["alice (admin)", "bob", "carol"],
        "{}",
        outcome.stdout
    );
}

// ---------------------------------------------------------------------------------------------
// users delete
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn deleting_a_user_removes_their_todos_and_their_tokens_stop_working() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);
    create_user(dir.path(), "bob", false);
    let server = Server::start(dir.path());
    let token = server.token("alice").await;
    for description in ["buy milk", "walk the dog"] {
        assert_eq!(
            server.create_todo(&token, description).await.status(),
            StatusCode::CREATED
        );
    }

    // Without a terminal to ask on, nothing goes without --yes.
    run(checkoff(dir.path(), &["users", "delete", "alice"]), None)
        .assert_code(1)
        .assert_stderr_contains("add --yes");
    assert_eq!(server.list_todos(&token).await.status(), StatusCode::OK);

    let outcome = run(
        checkoff(dir.path(), &["users", "delete", "alice", "--yes"]),
        None,
    );

    outcome.assert_code(0);
    assert!(outcome.stdout.contains("alice"), "{outcome:#?}");
    assert!(
        outcome
            .stdout
            .split(|c: char| !c.is_ascii_digit())
            .any(|n| n == "2"),
        "the two todos are counted: {outcome:#?}"
    );
    // The server's kept profile goes as soon as another process has written to the file.
    assert_eq!(
        server.list_todos(&token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let listed = run(checkoff(dir.path(), &["users", "list"]), None);
    assert_eq!(listed.stdout, "bob\n");
    run(
        checkoff(dir.path(), &["users", "delete", "alice", "--yes"]),
        None,
    )
    .assert_code(1)
    .assert_stderr_contains("no such user");
}

// ---------------------------------------------------------------------------------------------
// serve
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn with_a_profile_cache_another_processs_deletion_is_still_seen_at_once() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);
    let server = Server::start_with(dir.path(), &[("CHECKOFF_USER_CACHE_TTL", "1h")]);
    let token = server.token("alice").await;
    assert_eq!(server.list_todos(&token).await.status(), StatusCode::OK);

    run(
        checkoff(dir.path(), &["users", "delete", "alice", "--yes"]),
        None,
    )
    .assert_code(0);

    // SQLite is asked whether another process wrote before a kept profile is served.
    assert_eq!(
        server.list_todos(&token).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn serving_walks_through_a_todo_from_creation_to_deletion() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);
    let server = Server::start(dir.path());
    let token = server.token("alice").await;

    let (status, list) = status_json(server.list_todos(&token).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!([]));

    let created = server.create_todo(&token, "buy milk").await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let location = created
        .headers()
        .get(header::LOCATION)
        .expect("Location")
        .to_str()
        .unwrap()
        .to_owned();
    let (_, todo) = status_json(created).await;
    let uid = todo["uid"].as_str().expect("uid").to_owned();
    assert_eq!(location, format!("/todos/{uid}"));
    assert_eq!(todo["description"], "buy milk");
    assert_eq!(todo["state"], "unstarted");
    let item = format!("/todos/{uid}");

    let updated = server
        .authed(Method::PUT, &item, &token)
        .json(&json!({ "state": "completed" }))
        .send()
        .await
        .unwrap();
    let (status, todo) = status_json(updated).await;
    assert_eq!(status, StatusCode::OK, "{todo}");
    assert_eq!(todo["state"], "completed");

    let (status, todo) = status_json(
        server
            .authed(Method::GET, &item, &token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(todo["state"], "completed");
    assert_eq!(todo["description"], "buy milk");

    let deleted = server
        .authed(Method::DELETE, &item, &token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    let gone = server
        .authed(Method::GET, &item, &token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_data_dir_made_by_serve_and_its_database_files_are_for_their_owner_only() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("fresh");
    let server = Server::start(&dir);
    let health = server
        .request(Method::GET, "/healthz")
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    let mode = |name: &str| {
        let path = dir.join(name);
        let meta = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        format!("{:o}", meta.permissions().mode() & 0o777)
    };
    assert_eq!(mode(""), "700", "the data dir");
    for name in [
        "checkoff.db",
        "checkoff.db-wal",
        "checkoff.db-shm",
        "jwt.key",
    ] {
        assert_eq!(mode(name), "600", "{name}");
    }
    drop(server);
}

#[tokio::test]
async fn serving_keeps_a_private_key_and_reuses_it_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);
    let first = Server::start(dir.path());
    let token = first.token("alice").await;
    assert_eq!(
        first
            .create_todo(&token, "survive a restart")
            .await
            .status(),
        StatusCode::CREATED
    );

    let key_path = dir.path().join("jwt.key");
    let mode = std::fs::metadata(&key_path)
        .expect("jwt.key in the data dir")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "jwt.key mode {mode:o}");
    let key_text = std::fs::read_to_string(&key_path).unwrap();
    let key = STANDARD.decode(key_text.trim()).expect("jwt.key is base64");
    assert_eq!(key.len(), 32);

    drop(first);
    let second = Server::start(dir.path());
    let (status, list) = status_json(second.list_todos(&token).await).await;

    assert_eq!(status, StatusCode::OK, "the old token still works: {list}");
    assert_eq!(descriptions(&list), ["survive a restart"]);
    assert_eq!(
        std::fs::read_to_string(&key_path).unwrap(),
        key_text,
        "the key was not replaced"
    );
}

#[test]
fn serving_on_an_address_in_use_fails_naming_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();

    let outcome = run(checkoff(dir.path(), &["serve", "--addr", &addr]), None);

    outcome.assert_code(1).assert_stderr_contains(&addr);
}

#[tokio::test]
async fn the_token_ttl_setting_is_what_login_reports() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);
    let server = Server::start_with(dir.path(), &[("CHECKOFF_TOKEN_TTL", "2s")]);

    let answer = server.login("alice", PASSWORD).await;

    assert_eq!(answer["expires_in"], 2, "{answer}");
    assert!(answer["token"].is_string(), "{answer}");
}

// ---------------------------------------------------------------------------------------------
// tokens issue
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_issued_token_limited_to_some_routes_is_refused_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);
    let server = Server::start(dir.path());

    let issued = run(
        checkoff(
            dir.path(),
            &[
                "tokens",
                "issue",
                "alice",
                "--routes",
                "GET /todos*",
                "--ttl",
                "10m",
            ],
        ),
        None,
    );
    issued.assert_code(0);
    let token = issued.stdout.trim();
    assert!(
        !token.is_empty() && !token.contains(char::is_whitespace),
        "one token: {issued:#?}"
    );

    let listed = server.list_todos(token).await;
    let posted = server.create_todo(token, "not allowed").await;

    assert_eq!(listed.status(), StatusCode::OK);
    assert_eq!(posted.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        posted.text().await.unwrap(),
        "{\"message\":\"User is not authorized to access this resource\"}\n"
    );
}

#[tokio::test]
async fn issued_tokens_are_listed_and_a_revoked_one_stops_at_once() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);
    let server = Server::start(dir.path());
    let issue = |ttl: &str| {
        let issued = run(
            checkoff(dir.path(), &["tokens", "issue", "alice", "--ttl", ttl]),
            None,
        );
        issued.assert_code(0);
        let id = issued
            .stderr
            .split_whitespace()
            .nth(2)
            .expect("the id on standard error")
            .to_owned();
        (issued.stdout.trim().to_owned(), id)
    };
    let (kept, kept_id) = issue("1h");
    let (revoked, revoked_id) = issue("30d");
    let session = server.token("alice").await;

    let listed = run(checkoff(dir.path(), &["tokens", "list", "alice"]), None);
    listed.assert_code(0);
    for id in [&kept_id, &revoked_id] {
        assert!(listed.stdout.contains(id.as_str()), "{listed:#?}");
    }
    assert_eq!(
        listed
            .stdout
            .lines()
            .filter(|l| l.contains(" api "))
            .count(),
        2,
        "{listed:#?}"
    );
    assert_eq!(
        listed
            .stdout
            .lines()
            .filter(|l| l.contains("login"))
            .count(),
        1,
        "{listed:#?}"
    );

    run(
        checkoff(dir.path(), &["tokens", "revoke", &revoked_id]),
        None,
    )
    .assert_code(0)
    .assert_stdout_contains("Revoked token");
    assert_eq!(
        server.list_todos(&revoked).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(server.list_todos(&kept).await.status(), StatusCode::OK);
    assert_eq!(server.list_todos(&session).await.status(), StatusCode::OK);
    let listed = run(checkoff(dir.path(), &["tokens", "list", "alice"]), None);
    assert!(!listed.stdout.contains(revoked_id.as_str()), "{listed:#?}");

    run(
        checkoff(dir.path(), &["tokens", "revoke", &revoked_id]),
        None,
    )
    .assert_code(1)
    .assert_stderr_contains("no token or session");
    run(
        checkoff(dir.path(), &["tokens", "revoke", "not-an-id"]),
        None,
    )
    .assert_code(1)
    .assert_stderr_contains("is not a token id");
}

#[tokio::test]
async fn promoting_and_demoting_changes_what_a_user_may_see() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);
    let server = Server::start(dir.path());
    let token = server.token("alice").await;
    let admin_view = || server.authed(Method::GET, "/admin/todos", &token).send();
    assert_eq!(admin_view().await.unwrap().status(), StatusCode::FORBIDDEN);

    run(checkoff(dir.path(), &["users", "promote", "alice"]), None)
        .assert_code(0)
        .assert_stdout_contains("alice is an administrator now");
    assert_eq!(admin_view().await.unwrap().status(), StatusCode::OK);
    run(checkoff(dir.path(), &["users", "promote", "alice"]), None)
        .assert_code(0)
        .assert_stdout_contains("alice is already an administrator; nothing changed");

    run(checkoff(dir.path(), &["users", "demote", "alice"]), None)
        .assert_code(0)
        .assert_stdout_contains("no longer an administrator");
    assert_eq!(admin_view().await.unwrap().status(), StatusCode::FORBIDDEN);

    run(checkoff(dir.path(), &["users", "promote", "nobody"]), None)
        .assert_code(1)
        .assert_stderr_contains("no such user");
}

#[test]
fn issuing_a_token_for_an_unknown_user_fails() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);

    let outcome = run(checkoff(dir.path(), &["tokens", "issue", "nobody"]), None);

    outcome
        .assert_code(1)
        .assert_stderr_contains("no such user");
    assert!(outcome.stdout.is_empty(), "no token: {outcome:#?}");
}

#[test]
fn issuing_a_token_with_a_nonsense_ttl_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);

    let outcome = run(
        checkoff(
            dir.path(),
            &["tokens", "issue", "alice", "--ttl", "nonsense"],
        ),
        None,
    );

    outcome.assert_code(2).assert_stderr_contains("--ttl");
    assert!(outcome.stdout.is_empty(), "no token: {outcome:#?}");
}

#[test]
fn a_route_pattern_no_route_can_match_is_a_usage_error_showing_the_form() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);
    for bad in ["FETCH /x", "get /todos", "/todos GET"] {
        let outcome = run(
            checkoff(dir.path(), &["tokens", "issue", "alice", "--routes", bad]),
            None,
        );
        outcome.assert_code(2).assert_stderr_contains("GET /todos*");
        assert!(
            outcome.stdout.is_empty(),
            "no token for {bad:?}: {outcome:#?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// openapi
// ---------------------------------------------------------------------------------------------

#[test]
fn the_openapi_command_prints_the_document() {
    let dir = tempfile::tempdir().unwrap();

    let outcome = run(checkoff(dir.path(), &["openapi"]), None);

    outcome.assert_code(0);
    let doc: Value = serde_json::from_str(&outcome.stdout).expect("JSON on stdout");
    assert!(doc["openapi"].is_string(), "an openapi version");
    assert!(doc["paths"]["/todos"].is_object(), "a /todos path");
}

/// Runs `checkoff --data-dir DIR ARGS…` on a pseudo-terminal (util-linux `script`), typing
/// `lines` one by one as a person would, and returns what the terminal showed.
fn on_terminal(data_dir: &Path, args: &str, lines: &[&str]) -> Outcome {
    let mut typed = String::new();
    for line in lines {
        // A pause per line: the prompt must be up before the answer arrives.
        typed.push_str(&format!("sleep 0.5; printf '%s\\n' '{line}'; "));
    }
    let command_line = format!("{BINARY} --data-dir '{}' {args}", data_dir.display());
    let mut shell = Command::new("sh");
    for name in AMBIENT_SETTINGS {
        shell.env_remove(name);
    }
    shell
        .arg("-c")
        .arg(format!("({typed} sleep 1) | script -qec \"$0\" /dev/null"))
        .arg(command_line)
        .env("RUST_LOG", "warn");
    run(shell, None)
}

#[test]
fn on_a_terminal_create_asks_twice_without_echo() {
    let dir = tempfile::tempdir().expect("temp dir");

    let created = on_terminal(dir.path(), "users create alice", &[PASSWORD, PASSWORD]);

    created.assert_code(0);
    assert!(created.stdout.contains("Password: "), "{created:#?}");
    assert!(created.stdout.contains("Repeat password: "), "{created:#?}");
    assert!(
        created.stdout.contains("Created user alice in "),
        "{created:#?}"
    );
    assert!(
        !created.stdout.contains(PASSWORD),
        "the password was echoed: {created:#?}"
    );
    let verified = run(
        checkoff(
            dir.path(),
            &["users", "test-password", "alice", "--password-stdin"],
        ),
        Some(&format!("{PASSWORD}\n")),
    );
    verified.assert_code(0);
}

#[test]
fn on_a_terminal_two_different_passwords_create_nobody() {
    let dir = tempfile::tempdir().expect("temp dir");

    let refused = on_terminal(
        dir.path(),
        "users create alice",
        &[PASSWORD, "Other1Password"],
    );

    assert!(
        refused.stdout.contains("the two passwords differ"),
        "{refused:#?}"
    );
    assert_ne!(refused.code, Some(0));
    let listed = run(checkoff(dir.path(), &["users", "list"]), None);
    assert!(listed.stdout.trim().is_empty(), "{listed:#?}");
}

// ---------------------------------------------------------------------------------------------
// backup and restore
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_backup_taken_while_serving_restores_everything_acknowledged_before_it() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);
    let server = Server::start(dir.path());
    let token = server.token("alice").await;
    for i in 0..20 {
        let response = server.create_todo(&token, &format!("before {i}")).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    // Writes go on while the copy is taken.
    let writing = {
        let (base, token) = (server.base.clone(), token.clone());
        tokio::spawn(async move {
            let client = Client::new();
            for i in 0..50 {
                client
                    .post(format!("{base}/todos"))
                    .bearer_auth(&token)
                    .json(&json!({ "description": format!("during {i}") }))
                    .send()
                    .await
                    .unwrap();
            }
        })
    };
    let copy = dir.path().join("copy.db");
    let outcome = run(
        checkoff(
            dir.path(),
            &["backup", "--out", &copy.display().to_string()],
        ),
        None,
    );
    outcome
        .assert_code(0)
        .assert_stdout_contains("Wrote a copy");
    writing.await.unwrap();
    let mode = std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the copy holds password hashes");
    // Not under a running server.
    run(
        checkoff(
            dir.path(),
            &["restore", "--from", &copy.display().to_string(), "--yes"],
        ),
        None,
    )
    .assert_code(1)
    .assert_stderr_contains("a checkoff server is using");
    // Never over an existing file.
    run(
        checkoff(
            dir.path(),
            &["backup", "--out", &copy.display().to_string()],
        ),
        None,
    )
    .assert_code(1)
    .assert_stderr_contains("exists already");

    let elsewhere = tempfile::tempdir().unwrap();
    run(
        checkoff(
            elsewhere.path(),
            &["restore", "--from", &copy.display().to_string(), "--yes"],
        ),
        None,
    )
    .assert_code(0)
    .assert_stdout_contains("Restored");
    let restored = Server::start(elsewhere.path());
    // The JWT key is not in the copy: log in again, with the password that was backed up.
    let token = restored.token("alice").await;
    let (status, list) = status_json(restored.list_todos(&token).await).await;
    assert_eq!(status, StatusCode::OK);
    let descriptions = descriptions(&list);
    for i in 0..20 {
        assert!(
            descriptions.contains(&format!("before {i}").as_str()),
            "{i}"
        );
    }
    // A consistent cut: the writes during the copy are a prefix of what was written.
    let during = descriptions
        .iter()
        .filter(|d| d.starts_with("during"))
        .count();
    for i in 0..during {
        assert!(
            descriptions.contains(&format!("during {i}").as_str()),
            "{i} of {during}"
        );
    }

    // Not a checkoff database: refused, and nothing replaced.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database").unwrap();
    run(
        checkoff(
            elsewhere.path(),
            &["restore", "--from", &junk.display().to_string(), "--yes"],
        ),
        None,
    )
    .assert_code(1)
    .assert_stderr_contains("not an SQLite database");
    let token = restored.token("alice").await;
    assert_eq!(restored.list_todos(&token).await.status(), StatusCode::OK);
}

#[test]
fn restore_asks_on_a_terminal_and_keeps_what_it_replaces() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);
    let copy = tempfile::tempdir().unwrap().keep().join("copy.db");
    let copy = copy.display().to_string();
    run(checkoff(dir.path(), &["backup", "--out", &copy]), None).assert_code(0);
    create_user(dir.path(), "bob", false);

    let declined = on_terminal(dir.path(), &format!("restore --from '{copy}'"), &["no"]);
    assert_ne!(declined.code, Some(0), "{declined:#?}");
    assert!(
        declined.stdout.contains("Type yes to confirm"),
        "{declined:#?}"
    );
    run(checkoff(dir.path(), &["users", "get", "bob"]), None).assert_code(0);

    let restored = on_terminal(dir.path(), &format!("restore --from '{copy}'"), &["yes"]);
    restored.assert_code(0);
    assert!(restored.stdout.contains("kept as"), "{restored:#?}");
    run(checkoff(dir.path(), &["users", "get", "bob"]), None).assert_code(1);
    // What was replaced, bob included, is a database restore takes back.
    let kept = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.to_string_lossy().contains(".before-restore-"))
        .expect("the replaced database is kept");
    let kept = kept.display().to_string();
    run(
        checkoff(dir.path(), &["restore", "--from", &kept, "--yes"]),
        None,
    )
    .assert_code(0);
    run(checkoff(dir.path(), &["users", "get", "bob"]), None).assert_code(0);
}

// ---------------------------------------------------------------------------------------------
// logs
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn each_request_is_logged_with_its_id_and_no_secret_ever_is() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path(),
        &[("RUST_LOG", "debug"), ("CHECKOFF_LOG_FORMAT", "json")],
    );
    let password = "Secret1Password";
    let response = server
        .request(Method::POST, "/users")
        .json(&json!({ "username": "alice", "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let login = server.login("alice", password).await;
    let (token, refresh) = (
        login["token"].as_str().unwrap().to_owned(),
        login["refresh_token"].as_str().unwrap().to_owned(),
    );
    let browser = server
        .request(Method::POST, "/login")
        .header("X-Checkoff-Session", "cookie")
        .json(&json!({ "username": "alice", "password": password }))
        .send()
        .await
        .unwrap();
    let cookie = browser.headers()["set-cookie"].to_str().unwrap().to_owned();
    let cookie_value = cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    server
        .request(Method::POST, "/refresh")
        .header("X-Checkoff-Session", "cookie")
        .header("Cookie", format!("checkoff_refresh={cookie_value}"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let renewed = server
        .request(Method::POST, "/refresh")
        .json(&json!({ "refresh_token": refresh }))
        .send()
        .await
        .unwrap();
    let renewed: Value = renewed.json().await.unwrap();
    let traced = server
        .authed(Method::GET, "/todos", &token)
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(traced.headers()["x-request-id"], "trace-me-42");
    let fresh = server
        .authed(Method::GET, "/whoami", &token)
        .send()
        .await
        .unwrap();
    assert!(
        !fresh.headers()["x-request-id"].is_empty(),
        "an id is made when none is sent"
    );
    server.create_todo(&token, "a todo").await;
    server
        .authed(Method::POST, "/logout", &token)
        .send()
        .await
        .unwrap();

    let logs = server.settled_logs();
    let secrets = [
        password.to_owned(),
        token.clone(),
        refresh,
        cookie_value,
        renewed["token"].as_str().unwrap().to_owned(),
        renewed["refresh_token"].as_str().unwrap().to_owned(),
    ];
    for secret in &secrets {
        // Even a fragment: tokens are long, and a signature alone is a secret.
        let fragment = &secret[secret.len().saturating_sub(16)..];
        assert!(!logs.contains(fragment), "a secret is in the logs:\n{logs}");
    }
    // One JSON line per request at the default level's "request" event, with its id.
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let traced_line = lines
        .iter()
        .find(|l| l["message"] == "request" && l["request_id"] == "trace-me-42")
        .unwrap_or_else(|| panic!("no request line for trace-me-42:\n{logs}"));
    assert_eq!(traced_line["status"], 200);
    assert_eq!(traced_line["route"], "/todos");
    // The time as a number, to the microsecond: no float noise in every line.
    let ms = traced_line["ms"].as_f64().expect("ms is a number");
    assert_eq!(ms, (ms * 1000.0).round() / 1000.0, "{traced_line}");
    assert!(
        traced_line["ms"]
            .to_string()
            .split('.')
            .nth(1)
            .is_none_or(|d| d.len() <= 3),
        "{traced_line}"
    );
    assert!(lines.iter().filter(|l| l["message"] == "request").count() >= 9);
}

/// The text request line: the server writes it without `tracing` where it can (see
/// `telemetry/request_line.rs`), and must write what the text format would, an escaped id
/// included. A span filter in `RUST_LOG` (`none[x]`, matching nothing) sends the line through
/// `tracing` instead: both servers' lines must read the same but for their times.
#[tokio::test]
async fn a_request_line_in_text_reads_as_the_text_format_writes_it() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);
    let mut seen = Vec::new();
    for filter in ["info", "info,none[x]=info"] {
        let server = Server::start_with(dir.path(), &[("RUST_LOG", filter)]);
        let token = server.token("alice").await;
        for id in ["trace-me-7", r#"say "hi" \ now"#] {
            let answer = server
                .authed(Method::GET, "/todos", &token)
                .header("x-request-id", id)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), StatusCode::OK);
        }
        seen.push(request_lines(&server.settled_logs()));
    }
    assert_eq!(seen[0], seen[1], "the direct line and tracing's differ");
}

/// The request lines of the two ids `a_request_line_in_text…` sends, without their times and
/// durations (checked for their form here).
fn request_lines(logs: &str) -> Vec<String> {
    [
        r#"  INFO checkoff::api::observe: request request_id="trace-me-7" method=GET route="/todos" status=200 ms="#,
        r#"  INFO checkoff::api::observe: request request_id="say \"hi\" \\ now" method=GET route="/todos" status=200 ms="#,
    ]
    .iter()
    .map(|expected| {
        let line = logs
            .lines()
            .find(|l| l.contains(expected))
            .unwrap_or_else(|| panic!("no line with {expected}:\n{logs}"));
        // The time first, to the microsecond; the duration in thousandths.
        let (time, rest) = line.split_once(' ').unwrap();
        assert!(humantime::parse_rfc3339(time).is_ok(), "{line}");
        let (rest, ms) = rest.rsplit_once("ms=").unwrap();
        let (whole, fraction) = ms.split_once('.').expect(line);
        assert!(
            whole.parse::<u64>().is_ok() && (1..=3).contains(&fraction.len()),
            "{line}"
        );
        rest.to_owned()
    })
    .collect()
}

/// A log reader that falls behind (here: nobody reads the pipe, which holds 64 KiB) never holds
/// a request up: the server's lines wait in a queue of their own (and past it are dropped and
/// counted). Written by the request's worker, the line after the pipe filled blocked every
/// request behind it.
#[tokio::test]
async fn a_log_nobody_reads_never_holds_a_request_up() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);
    let (gate, stalled) = mpsc::channel();
    let server = Server::start_with_stalled_logs(dir.path(), stalled);
    let token = server.token("alice").await;
    let client = Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for n in 0..2_000 {
        let answer = client
            .get(format!("{}/todos", server.base()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("request {n} held up: {e}"));
        assert_eq!(answer.status(), StatusCode::OK);
    }
    drop(gate);
}

// ---------------------------------------------------------------------------------------------
// connection limits
// ---------------------------------------------------------------------------------------------

/// A raw connection to `server`.
fn connect(server: &Server) -> std::net::TcpStream {
    let addr = server.base.trim_start_matches("http://");
    let stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Whether the server closed `stream` (reading gives end of file, or a reset).
fn closed_by_server(stream: &mut std::net::TcpStream) -> bool {
    let mut buffer = [0u8; 512];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return true,
            // A 408 or similar before closing is fine.
            Ok(_) => continue,
        }
    }
}

#[tokio::test]
async fn a_slow_loris_client_and_an_idle_connection_are_dropped_while_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &[("CHECKOFF_HEADER_TIMEOUT", "1s")]);

    let mut slow = connect(&server);
    let mut idle = connect(&server);
    let started = Instant::now();
    let dripping = thread::spawn(move || {
        // One byte every 200 ms: the headers would take minutes.
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
            .iter()
            .cycle()
            .take(50)
        {
            if slow.write_all(&[*byte]).is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(200));
        }
        closed_by_server(&mut slow)
    });
    // Meanwhile everyone else is served.
    let response = server
        .request(Method::GET, "/healthz")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let idle_closed = tokio::task::spawn_blocking(move || closed_by_server(&mut idle))
        .await
        .unwrap();
    assert!(idle_closed);
    assert!(dripping.join().unwrap(), "the slow client was kept");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "dropped only after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn past_the_connection_cap_newcomers_wait_and_are_served_when_a_slot_frees() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path(),
        &[
            ("CHECKOFF_MAX_CONNECTIONS", "4"),
            ("CHECKOFF_HEADER_TIMEOUT", "2s"),
        ],
    );
    // Four idle connections take every slot...
    let hogs: Vec<_> = (0..4).map(|_| connect(&server)).collect();
    thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    // ...so a fifth client waits until the idle ones are dropped, then is served.
    let response = server
        .request(Method::GET, "/healthz")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1000) && waited < Duration::from_secs(8),
        "served after {waited:?}"
    );
    drop(hogs);
}

#[test]
fn sigterm_lets_a_request_in_flight_finish_then_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);
    let mut server = Server::start(dir.path());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let token = runtime.block_on(server.token("alice"));
    // A create waits for its fsync: in flight when the signal comes.
    let base = server.base.clone();
    let in_flight = thread::spawn(move || {
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            Client::new()
                .post(format!("{base}/todos"))
                .bearer_auth(token)
                .json(&json!({ "description": "written during shutdown" }))
                .send()
                .await
                .map(|r| r.status())
        })
    });
    thread::sleep(Duration::from_millis(20));
    server.terminate();
    let status = in_flight.join().unwrap();
    let exit = server.exit_status();
    assert!(exit.success(), "{exit:?}");
    // Either it was answered, or it never got in; never cut off half-way.
    match status {
        Ok(status) => assert_eq!(status, StatusCode::CREATED),
        Err(e) => assert!(e.is_connect() || e.is_request(), "{e}"),
    }
}

#[tokio::test]
async fn after_a_clean_stop_the_database_file_alone_holds_every_write() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);
    let mut server = Server::start(dir.path());
    let token = server.token("alice").await;
    for text in ["first", "second"] {
        let made = server
            .request(Method::POST, "/todos")
            .bearer_auth(&token)
            .json(&json!({ "description": text }))
            .send()
            .await
            .unwrap();
        assert_eq!(made.status(), StatusCode::CREATED);
    }
    server.terminate();
    let exit = server.exit_status();
    assert!(exit.success(), "{exit:?}");
    // Copied as someone would copy "the database", without the files beside it.
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.path().join("checkoff.db"),
        copy.path().join("checkoff.db"),
    )
    .unwrap();
    let listed = run(
        checkoff(copy.path(), &["todos", "--user", "alice", "list"]),
        None,
    );
    listed.assert_code(0);
    for text in ["first", "second"] {
        assert!(listed.stdout.contains(text), "{}", listed.stdout);
    }
}

// ---------------------------------------------------------------------------------------------
// CORS
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn allowed_origins_get_cors_headers_on_preflights_and_on_every_error() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);
    let origin = "https://app.example.com";
    let server = Server::start_with(dir.path(), &[("CHECKOFF_CORS_ORIGINS", origin)]);
    let allowed = |response: &Response| {
        response
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned())
    };

    // A preflight needs no token.
    let preflight = server
        .request(Method::OPTIONS, "/todos")
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(allowed(&preflight).as_deref(), Some(origin));
    let methods = preflight.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        methods.contains("POST") && methods.contains("DELETE"),
        "{methods}"
    );

    let token = server.token("alice").await;
    let scoped = run(
        checkoff(
            dir.path(),
            &["tokens", "issue", "alice", "--routes", "GET /whoami"],
        ),
        None,
    )
    .stdout
    .trim()
    .to_owned();
    let todo = format!("/todos/{}", uuid::Uuid::now_v7());
    let big = "x".repeat(70 * 1024);
    let answers = [
        (
            server.request(Method::GET, "/todos"),
            StatusCode::UNAUTHORIZED,
        ),
        (
            server.authed(Method::GET, "/todos", &scoped),
            StatusCode::FORBIDDEN,
        ),
        (
            server.authed(Method::GET, &todo, &token),
            StatusCode::NOT_FOUND,
        ),
        (
            server.authed(Method::POST, "/todos", &token).body(big),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (request, status) in answers {
        let response = request.header("Origin", origin).send().await.unwrap();
        assert_eq!(response.status(), status);
        assert_eq!(allowed(&response).as_deref(), Some(origin), "on {status}");
    }
    for _ in 0..5 {
        server
            .request(Method::POST, "/login")
            .json(&json!({ "username": "alice", "password": "Wrong1Password" }))
            .send()
            .await
            .unwrap();
    }
    let throttled = server
        .request(Method::POST, "/login")
        .header("Origin", origin)
        .json(&json!({ "username": "alice", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(allowed(&throttled).as_deref(), Some(origin));
    // Browsers may read the headers clients need.
    let exposed = throttled.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for header in ["retry-after", "etag", "link", "location"] {
        assert!(exposed.contains(header), "{header} in {exposed}");
    }

    // Another origin gets nothing to go on.
    let foreign = server
        .request(Method::GET, "/todos")
        .header("Origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed(&foreign), None);
}

// ---------------------------------------------------------------------------------------------
// metrics
// ---------------------------------------------------------------------------------------------

/// A port of 127.0.0.1 that nothing listens on (as of now).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server with metrics on an address of their own: the server and that address.
fn serve_with_metrics(data_dir: &Path) -> (Server, String) {
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let server = Server::start_with(data_dir, &[("CHECKOFF_METRICS_ADDR", &metrics_addr)]);
    (server, metrics_addr)
}

/// The text of `/metrics` at `metrics_addr`.
async fn scrape(metrics_addr: &str) -> String {
    Client::new()
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn metrics_are_served_on_their_own_address_only() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);
    let (server, metrics_addr) = serve_with_metrics(dir.path());
    let token = server.token("alice").await;
    server.list_todos(&token).await;
    server.list_todos(&token).await;
    server.create_todo(&token, "counted").await;
    server
        .request(Method::POST, "/login")
        .json(&json!({ "username": "alice", "password": "Wrong1Password" }))
        .send()
        .await
        .unwrap();

    // Not on the API's address.
    let public = server
        .request(Method::GET, "/metrics")
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    // A method the route does not answer: counted under the route it asked.
    let not_allowed = server
        .request(Method::PUT, "/healthz")
        .send()
        .await
        .unwrap();
    assert_eq!(not_allowed.status(), StatusCode::METHOD_NOT_ALLOWED);

    let text = scrape(&metrics_addr).await;
    for expected in [
        r#"checkoff_http_requests_total{method="GET",route="/todos",status="200"} 2"#,
        // No route matched: one series for all such paths, never one per path asked.
        r#"checkoff_http_requests_total{method="GET",route="-",status="404"} 1"#,
        r#"checkoff_http_requests_total{method="PUT",route="/healthz",status="405"} 1"#,
        r#"checkoff_http_requests_total{method="POST",route="/todos",status="201"} 1"#,
        "checkoff_http_request_duration_seconds_bucket{route=\"/todos\",le=\"0.005\"}",
        "checkoff_login_failures_total 1",
        r#"checkoff_list_cache_total{result="hit"} 1"#,
        "checkoff_store_duration_seconds_bucket{store=\"sqlite\",le=\"0.005\"}",
        // The log writer kept up (it drops and counts lines rather than stall a request).
        "checkoff_log_lines_dropped_total 0",
    ] {
        assert!(text.contains(expected), "{expected} in\n{text}");
    }
    // Every metric says what it counts.
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split_whitespace().nth(2).unwrap();
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "no HELP for {name} in\n{text}"
        );
    }
}

#[tokio::test]
async fn made_up_methods_and_paths_do_not_grow_the_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let (server, metrics_addr) = serve_with_metrics(dir.path());
    server
        .request(Method::GET, "/healthz")
        .send()
        .await
        .unwrap();
    let before = scrape(&metrics_addr).await;

    let sent = 600;
    for i in 0..sent {
        let method = Method::from_bytes(format!("MADEUP{i}").as_bytes()).unwrap();
        let path = if i % 2 == 0 {
            "/todos".to_owned()
        } else {
            format!("/nowhere{i}")
        };
        server.request(method, &path).send().await.unwrap();
    }

    let after = scrape(&metrics_addr).await;
    assert!(!after.contains("MADEUP"), "a made-up method in\n{after}");
    assert!(!after.contains("nowhere"), "a made-up path in\n{after}");
    let others: u64 = after
        .lines()
        .filter(|l| l.starts_with("checkoff_http_requests_total{method=\"other\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(
        others, sent,
        "every such request is counted, as `other`:\n{after}"
    );
    // A few new series (a route or two, their statuses and latency buckets), not one per request.
    assert!(
        after.len() < before.len() + 8 * 1024,
        "the metrics grew from {} to {} bytes",
        before.len(),
        after.len()
    );
}

#[tokio::test]
async fn an_administrator_can_lift_a_login_lock() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);
    let server = Server::start(dir.path());
    let attempt = |password: &'static str| {
        server
            .request(Method::POST, "/login")
            .json(&json!({ "username": "alice", "password": password }))
            .send()
    };
    for _ in 0..5 {
        attempt("Wrong1Password").await.unwrap();
    }
    assert_eq!(
        attempt(PASSWORD).await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    run(checkoff(dir.path(), &["users", "unlock", "alice"]), None)
        .assert_code(0)
        .assert_stdout_contains("alice can log in again");
    assert_eq!(attempt(PASSWORD).await.unwrap().status(), StatusCode::OK);
    // Nothing to lift: said so, not "can log in again".
    run(checkoff(dir.path(), &["users", "unlock", "alice"]), None)
        .assert_code(0)
        .assert_stdout_contains("alice had no failed logins; nothing changed");
    attempt("Wrong1Password").await.unwrap();
    run(checkoff(dir.path(), &["users", "unlock", "alice"]), None)
        .assert_code(0)
        .assert_stdout_contains("alice was not locked");
}

#[test]
fn on_a_terminal_a_taken_name_is_refused_before_any_password_is_asked() {
    let dir = tempfile::tempdir().expect("temp dir");
    create_user(dir.path(), "alice", false);
    let again = on_terminal(dir.path(), "users create alice", &[]);
    assert_ne!(again.code, Some(0), "{again:#?}");
    assert!(
        again.stdout.contains("user alice already exists")
            || again.stderr.contains("user alice already exists"),
        "{again:#?}"
    );
    assert!(!again.stdout.contains("Password: "), "{again:#?}");
}

#[test]
fn on_a_terminal_deleting_a_user_waits_for_the_name_typed_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    create_user(dir.path(), "alice", false);
    let refused = on_terminal(dir.path(), "users delete alice", &["yes"]);
    assert_ne!(refused.code, Some(0), "{refused:#?}");
    assert!(
        refused.stdout.contains("Type alice to confirm"),
        "{refused:#?}"
    );
    run(checkoff(dir.path(), &["users", "get", "alice"]), None).assert_code(0);
    let confirmed = on_terminal(dir.path(), "users delete alice", &["alice"]);
    confirmed.assert_code(0);
    assert!(
        confirmed.stdout.contains("Deleted user alice"),
        "{confirmed:#?}"
    );
    // A script says so with --yes (and without a terminal nothing is asked).
    create_user(dir.path(), "bob", false);
    on_terminal(dir.path(), "users delete bob --yes", &[]).assert_code(0);
}

#[test]
fn an_aws_endpoint_that_does_not_answer_is_one_line_saying_what_to_check() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on, and no region or credentials at all: a laptop's first try.
    let port = free_port();
    let mut command = checkoff(dir.path(), &["--store", "dynamodb", "users", "list"]);
    for name in [
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_PROFILE",
        "AWS_EC2_METADATA_DISABLED",
        "AWS_ENDPOINT_URL_DYNAMODB",
        // And the logs as they come: the per-call lines a server writes are left out.
        "RUST_LOG",
    ] {
        command.env_remove(name);
    }
    command.env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"));
    let outcome = run(command, None);
    assert_ne!(outcome.code, Some(0), "{outcome:#?}");
    let lines: Vec<&str> = outcome.stderr.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {outcome:#?}");
    assert!(lines[0].contains("AWS_ENDPOINT_URL"), "{outcome:#?}");
    assert!(lines[0].len() < 600, "{outcome:#?}");
    assert!(
        !outcome.stderr.contains("IMDS") && !outcome.stderr.contains("DispatchFailure"),
        "{outcome:#?}"
    );
}

#[test]
fn a_person_adds_lists_and_checks_off_todos_at_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    create_user(dir.path(), "alice", false);
    let todos = |args: &[&str]| {
        let mut command = checkoff(dir.path(), &["todos"]);
        command.args(args).env("CHECKOFF_USER", "alice");
        run(command, None)
    };
    let added = todos(&[
        "add",
        "Buy milk",
        "--due",
        "tomorrow",
        "--tz",
        "Europe/Berlin",
        "--priority",
        "high",
    ]);
    added.assert_code(0).assert_stdout_contains("high");
    assert!(added.stdout.starts_with("[ ] "), "{added:?}");
    let uid = added.stdout.split_whitespace().last().unwrap().to_owned();
    todos(&[
        "add",
        "Call mum",
        "--due",
        "2026-12-24 18:00",
        "--tz",
        "Europe/Berlin",
    ])
    .assert_code(0)
    .assert_stdout_contains("2026-12-24 18:00 Europe/Berlin");
    todos(&["add", "Someday", "--title", "Learn the cello"]).assert_code(0);

    let upcoming = todos(&["list", "--view", "upcoming", "--tz", "Europe/Berlin"]);
    upcoming.assert_code(0).assert_stdout_contains("Buy milk");
    assert!(!upcoming.stdout.contains("Learn the cello"), "{upcoming:?}");
    todos(&["list", "--view", "no-date"])
        .assert_code(0)
        .assert_stdout_contains("Learn the cello");
    todos(&["list", "-q", "CELLO"])
        .assert_code(0)
        .assert_stdout_contains("Learn the cello");
    let today = todos(&["list", "--view", "today", "--tz", "Europe/Berlin"]);
    today.assert_code(0).assert_stderr_contains("No todos.");

    todos(&["done", &uid])
        .assert_code(0)
        .assert_stdout_contains("[x] ");
    todos(&["list", "--state", "completed"])
        .assert_code(0)
        .assert_stdout_contains("Buy milk");

    // Mistakes say what to write instead.
    todos(&["add", "x", "--due", "soon"])
        .assert_code(1)
        .assert_stderr_contains("next-week");
    todos(&["add", "x", "--tz", "Mars/Olympus"])
        .assert_code(1)
        .assert_stderr_contains("Mars/Olympus");
    let nobody = checkoff(dir.path(), &["todos", "--user", "bob", "list"]);
    run(nobody, None)
        .assert_code(1)
        .assert_stderr_contains("no user bob");
}
