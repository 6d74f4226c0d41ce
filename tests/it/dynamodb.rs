//! What only the DynamoDB store has: its table commands, copying between stores, the original
//! sample's tables, and riding out DynamoDB going away. (The contract and API suites run on
//! DynamoDB too, through `CHECKOFF_TEST_STORE=dynamodb`.)

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use checkoff::ServiceSettings;
use checkoff::domain::{
    Description, ListName, Metadata, Timestamp, Todo, TodoList, User, Username,
};
use checkoff::store::{
    DynamoStore, ListStore, PageRequest, SqliteStore, Store, TodoStore, UserStore,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::cli::{Outcome, Server, checkoff, run};
use crate::helpers::{
    PASSWORD, TestApp, dynamo_client, dynamodb_endpoint, fresh_dynamo_table, ssm_endpoint,
    status_json,
};

/// The AWS settings a child process gets: DynamoDB Local, a region, dummy credentials, and no EC2
/// metadata lookups, all set explicitly.
pub(crate) fn aws_env(endpoint: &str) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("AWS_ENDPOINT_URL", endpoint.to_owned()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ];
    // The SSM parameter of the JWT secret lives on the SSM emulator scripts/test starts.
    if let Ok(ssm) = std::env::var("AWS_ENDPOINT_URL_SSM") {
        env.push(("AWS_ENDPOINT_URL_SSM", ssm));
    }
    env
}

fn on_dynamo(data_dir: &Path, endpoint: &str, table: &str, args: &[&str]) -> Command {
    let mut command = checkoff(data_dir, &[&["--table", table], args].concat());
    command.envs(aws_env(endpoint));
    command
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

async fn all_todos(store: &dyn Store, owner: &str) -> Vec<Todo> {
    let owner = Username::parse(owner).unwrap();
    let mut page = PageRequest::first(1000);
    let mut todos = Vec::new();
    loop {
        let listed = store
            .list_todos(&owner, &checkoff::domain::TodoQuery::all(), &page)
            .await
            .unwrap();
        todos.extend(listed.items);
        match listed.next {
            Some(after) => page.after = Some(after),
            None => return todos,
        }
    }
}

#[tokio::test]
async fn resources_create_and_cleanup_are_idempotent_and_say_what_they_did() {
    let (Some(endpoint), Some(_)) = (dynamodb_endpoint(), ssm_endpoint()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let table = unique("resources");
    let stage = format!("s{}", &unique("")[1..9]);
    let staged = format!("{table}-{stage}");
    let param = format!("/checkoff/{stage}/jwt-secret");

    let created = run(
        on_dynamo(
            dir.path(),
            &endpoint,
            &table,
            &["resources", "create", "--stage", &stage],
        ),
        None,
    );
    created.assert_code(0);
    assert!(
        created
            .stdout
            .contains(&format!("Table {staged} is ready.")),
        "{created:?}"
    );
    assert!(
        created
            .stdout
            .contains(&format!("JWT secret created in SSM parameter {param}.")),
        "{created:?}"
    );
    let secret = ssm_secret(&param).await.expect("the parameter exists");
    let described = dynamo_client(&endpoint)
        .describe_table()
        .table_name(&staged)
        .send()
        .await
        .unwrap();
    let description = described.table().unwrap();
    assert_eq!(
        description.global_secondary_indexes()[0].index_name(),
        Some("GSI1")
    );
    assert_eq!(
        description.local_secondary_indexes()[0].index_name(),
        Some("LSI1")
    );
    assert_eq!(
        description
            .billing_mode_summary()
            .and_then(|b| b.billing_mode()),
        Some(&BillingMode::PayPerRequest)
    );

    let again = run(
        on_dynamo(
            dir.path(),
            &endpoint,
            &table,
            &["resources", "create", "--stage", &stage],
        ),
        None,
    );
    again.assert_code(0);
    assert!(
        again
            .stdout
            .contains(&format!("Table {staged} was already there")),
        "{again:?}"
    );
    assert!(
        again
            .stdout
            .contains(&format!("SSM parameter {param} was already there; kept")),
        "{again:?}"
    );
    assert_eq!(
        ssm_secret(&param).await.as_deref(),
        Some(secret.as_str()),
        "never replaced"
    );

    let removed = run(
        on_dynamo(
            dir.path(),
            &endpoint,
            &table,
            &["resources", "cleanup", "--stage", &stage],
        ),
        None,
    );
    removed.assert_code(0);
    assert!(
        removed.stdout.contains(&format!("Table {staged} deleted.")),
        "{removed:?}"
    );
    assert!(
        removed
            .stdout
            .contains(&format!("SSM parameter {param} deleted.")),
        "{removed:?}"
    );
    assert_eq!(ssm_secret(&param).await, None);
    let gone = run(
        on_dynamo(
            dir.path(),
            &endpoint,
            &table,
            &["resources", "cleanup", "--stage", &stage],
        ),
        None,
    );
    gone.assert_code(0);
    assert!(
        gone.stdout
            .contains(&format!("Table {staged} was not there")),
        "{gone:?}"
    );
    assert!(
        gone.stdout
            .contains(&format!("SSM parameter {param} was not there")),
        "{gone:?}"
    );

    run(
        on_dynamo(
            dir.path(),
            &endpoint,
            &table,
            &["resources", "create", "--stage", "no_good"],
        ),
        None,
    )
    .assert_code(1)
    .assert_stderr_contains("stage");
}

/// The value of an SSM SecureString parameter (decrypted), `None` when there is none; it must be
/// base64 of 32 bytes.
async fn ssm_secret(name: &str) -> Option<String> {
    let client = aws_sdk_ssm::Client::new(checkoff::aws::config().await);
    let answer = match client
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
    {
        Ok(answer) => answer,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_parameter_not_found()) =>
        {
            return None;
        }
        Err(e) => panic!("SSM did not answer: {e:?}"),
    };
    let parameter = answer.parameter().unwrap();
    assert_eq!(
        parameter.r#type(),
        Some(&aws_sdk_ssm::types::ParameterType::SecureString)
    );
    let value = parameter.value().unwrap().to_owned();
    assert_eq!(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &value)
            .unwrap()
            .len(),
        32
    );
    Some(value)
}

#[tokio::test]
async fn the_binary_serves_from_dynamodb() {
    let Some(endpoint) = dynamodb_endpoint() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let table = unique("serve");
    run(
        on_dynamo(
            dir.path(),
            &endpoint,
            &table,
            &["resources", "create", "--only", "table"],
        ),
        None,
    )
    .assert_code(0);
    let mut create = on_dynamo(
        dir.path(),
        &endpoint,
        &table,
        &[
            "--store",
            "dynamodb",
            "users",
            "create",
            "alice",
            "--password-stdin",
        ],
    );
    create.env("CHECKOFF_STORE", "dynamodb");
    run(create, Some(&format!("{PASSWORD}\n"))).assert_code(0);

    let env: Vec<(&str, String)> = [
        aws_env(&endpoint),
        vec![
            ("CHECKOFF_STORE", "dynamodb".into()),
            ("CHECKOFF_TABLE", table.clone()),
        ],
    ]
    .concat();
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start_with(dir.path(), &env_refs);
    let token = server.token("alice").await;
    assert_eq!(
        server
            .create_todo(&token, "stored in DynamoDB")
            .await
            .status(),
        StatusCode::CREATED
    );

    let store = DynamoStore::new(dynamo_client(&endpoint), &table);
    let todos = all_todos(&store, "alice").await;
    assert_eq!(todos.len(), 1);
    assert_eq!(todos[0].description.as_str(), "stored in DynamoDB");
    assert!(
        !dir.path().join("checkoff.db").exists(),
        "nothing went to SQLite"
    );
}

/// `checkoff migrate --from FROM --to TO` on `data_dir` and `table`, which must succeed and say
/// `expected`.
fn migrate(data_dir: &Path, endpoint: &str, table: &str, from: &str, to: &str, expected: &str) {
    let outcome = run(
        on_dynamo(
            data_dir,
            endpoint,
            table,
            &["migrate", "--from", from, "--to", to],
        ),
        None,
    );
    outcome.assert_code(0);
    assert!(outcome.stdout.contains(expected), "{outcome:?}");
}

async fn seed_sqlite(dir: &Path) -> Vec<Todo> {
    let store = SqliteStore::open(dir).unwrap();
    let mut todos = Vec::new();
    for name in ["alice", "bob"] {
        let user = User {
            username: Username::parse(name).unwrap(),
            password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ${name}"),
            email: None,
            admin: name == "bob",
            created_at: Timestamp::now(),
            revoked: Default::default(),
            usage: Default::default(),
            zone: None,
        };
        store.create_user(&user).await.unwrap();
        // One of Alice's todos is in a list of hers: the list must come first.
        let errands = TodoList::new(user.username.clone(), ListName::parse("Errands").unwrap());
        if name == "alice" {
            store.create_list(&errands).await.unwrap();
        }
        for i in 0..3 {
            let mut todo = Todo::new(
                user.username.clone(),
                Description::parse(&format!("{name} {i}")).unwrap(),
                Metadata::default(),
            );
            todo.metadata = Metadata::parse(json!({ "i": i })).unwrap();
            if name == "alice" && i == 2 {
                todo.list = errands.id;
            }
            store.create_todo(&todo).await.unwrap();
            todos.push(todo);
        }
    }
    todos
}

#[tokio::test]
async fn migrate_copies_both_ways_and_a_second_run_keeps_what_is_there() {
    let Some(endpoint) = dynamodb_endpoint() else {
        return;
    };
    let source = tempfile::tempdir().unwrap();
    let seeded = seed_sqlite(source.path()).await;
    let target = fresh_dynamo_table(&endpoint).await;
    let table = target.table().to_owned();

    migrate(
        source.path(),
        &endpoint,
        &table,
        "sqlite",
        "dynamodb",
        "Migrated 2 users (0 already there), 1 lists (0 already there), 6 todos (0 already there).",
    );
    let copied = [
        all_todos(&target, "alice").await,
        all_todos(&target, "bob").await,
    ]
    .concat();
    assert_eq!(copied, seeded);
    let alice = Username::parse("alice").unwrap();
    let lists = target.lists_of(&alice).await.unwrap();
    assert_eq!(lists.len(), 1);
    assert_eq!(lists[0].name.as_str(), "Errands");
    let bob = target
        .get_user(&Username::parse("bob").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(bob.admin);

    migrate(
        source.path(),
        &endpoint,
        &table,
        "sqlite",
        "dynamodb",
        "Migrated 0 users (2 already there), 0 lists (1 already there), 0 todos (6 already there).",
    );

    let back = tempfile::tempdir().unwrap();
    migrate(
        back.path(),
        &endpoint,
        &table,
        "dynamodb",
        "sqlite",
        "Migrated 2 users (0 already there), 1 lists (0 already there), 6 todos (0 already there).",
    );
    let local = SqliteStore::open(back.path()).unwrap();
    assert_eq!(
        [
            all_todos(&local, "alice").await,
            all_todos(&local, "bob").await
        ]
        .concat(),
        seeded
    );

    run(
        on_dynamo(
            back.path(),
            &endpoint,
            &table,
            &["migrate", "--from", "sqlite", "--to", "sqlite"],
        ),
        None,
    )
    .assert_code(1);
}

/// `checkoff import-chalice` from the two tables into the SQLite store in `data_dir`.
fn import_chalice(data_dir: &Path, endpoint: &str, users: &str, todos: &str) -> Outcome {
    let args = [
        "import-chalice",
        "--users-table",
        users,
        "--todos-table",
        todos,
    ];
    run(on_dynamo(data_dir, endpoint, "unused", &args), None)
}

async fn chalice_tables(endpoint: &str) -> (String, String) {
    let client = dynamo_client(endpoint);
    let (users, todos) = (unique("chalice-users"), unique("chalice-todos"));
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(&users)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("username"))
        .key_schema(key("username", KeyType::Hash))
        .send()
        .await
        .unwrap();
    client
        .create_table()
        .table_name(&todos)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("username"))
        .attribute_definitions(attribute("uid"))
        .key_schema(key("username", KeyType::Hash))
        .key_schema(key("uid", KeyType::Range))
        .send()
        .await
        .unwrap();

    let salt = [9u8; 32];
    let mut hashed = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"mypassword", &salt, 100_000, &mut hashed);
    let s = |text: &str| AttributeValue::S(text.into());
    let user = HashMap::from([
        ("username".to_owned(), s("myusername")),
        ("hash".to_owned(), s("sha256")),
        (
            "salt".to_owned(),
            AttributeValue::B(Blob::new(salt.to_vec())),
        ),
        ("rounds".to_owned(), AttributeValue::N("100000".into())),
        (
            "hashed".to_owned(),
            AttributeValue::B(Blob::new(hashed.to_vec())),
        ),
    ]);
    client
        .put_item()
        .table_name(&users)
        .set_item(Some(user))
        .send()
        .await
        .unwrap();
    let todo = |uid: &str, description: &str, state: &str, metadata: AttributeValue| {
        HashMap::from([
            ("username".to_owned(), s("myusername")),
            ("uid".to_owned(), s(uid)),
            ("description".to_owned(), s(description)),
            ("state".to_owned(), s(state)),
            ("metadata".to_owned(), metadata),
        ])
    };
    let tags = AttributeValue::M(HashMap::from([(
        "tags".to_owned(),
        AttributeValue::L(vec![s("home")]),
    )]));
    for item in [
        todo(
            "e25643f7-0b18-47d2-b124-4e6713ab527c",
            "My first Todo",
            "completed",
            tags,
        ),
        todo(
            "0b6a3b2e-7e43-4c83-9a52-36a8f1d4b1a0",
            "Second",
            "unstarted",
            AttributeValue::M(HashMap::new()),
        ),
        todo(
            "5f1d7c1e-2a57-4f0e-8a1b-0d6f7e3c9b21",
            "Broken",
            "finished",
            AttributeValue::Null(true),
        ),
    ] {
        client
            .put_item()
            .table_name(&todos)
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }
    (users, todos)
}

#[tokio::test]
async fn the_original_samples_tables_import_and_their_passwords_still_work() {
    let Some(endpoint) = dynamodb_endpoint() else {
        return;
    };
    let (users, todos) = chalice_tables(&endpoint).await;
    let dir = tempfile::tempdir().unwrap();

    let imported = import_chalice(dir.path(), &endpoint, &users, &todos);
    imported.assert_code(0);
    assert!(
        imported.stdout.contains(
            "Imported 1 users (0 already there), 2 todos (0 already there), 1 records refused."
        ),
        "{imported:?}"
    );
    imported.assert_stderr_contains("finished");

    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let app = TestApp::spawn_on(store, dir.path(), ServiceSettings::default()).await;
    let (status, login) = status_json(app.login("myusername", "mypassword").await).await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let token = login["token"].as_str().unwrap();
    let (_, listed) = status_json(app.list_todos(token, "?limit=10").await).await;
    let mut by_description: Vec<(Value, Value, Value)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["description"].clone(),
                t["state"].clone(),
                t["metadata"].clone(),
            )
        })
        .collect();
    by_description.sort_by_key(|t| t.0.to_string());
    assert_eq!(
        by_description,
        [
            (
                json!("My first Todo"),
                json!("completed"),
                json!({"tags": ["home"]})
            ),
            (json!("Second"), json!("unstarted"), json!({})),
        ]
    );
    let again = import_chalice(dir.path(), &endpoint, &users, &todos);
    again.assert_code(0);
    assert!(
        again
            .stdout
            .contains("Imported 0 users (1 already there), 0 todos (2 already there)"),
        "{again:?}"
    );
    app.stop().await;
}

/// DynamoDB Local of the test's own, on a fixed port and a data folder, so it can be stopped and
/// started again with its data.
struct OwnDynamo {
    port: u16,
    data: PathBuf,
    child: Option<Child>,
}

impl OwnDynamo {
    fn start(data: &Path) -> Option<Self> {
        let jar_dir = match std::env::var("CHECKOFF_DYNAMODB_LOCAL_DIR") {
            Ok(dir) => PathBuf::from(dir),
            Err(_) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("CI=true but CHECKOFF_DYNAMODB_LOCAL_DIR is unset")
            }
            Err(_) => return None,
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut own = Self {
            port,
            data: data.to_owned(),
            child: None,
        };
        own.launch(&jar_dir);
        Some(own)
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn launch(&mut self, jar_dir: &Path) {
        let child = Command::new("java")
            .arg(format!(
                "-Djava.library.path={}",
                jar_dir.join("DynamoDBLocal_lib").display()
            ))
            .arg("-jar")
            .arg(jar_dir.join("DynamoDBLocal.jar"))
            .args(["-sharedDb", "-disableTelemetry", "-dbPath"])
            .arg(&self.data)
            .args(["-port", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start DynamoDB Local");
        self.child = Some(child);
    }

    async fn wait_ready(&self) {
        let client = dynamo_client(&self.endpoint());
        let deadline = Instant::now() + Duration::from_secs(30);
        while client.list_tables().send().await.is_err() {
            assert!(Instant::now() < deadline, "DynamoDB Local did not start");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn restart(&mut self) {
        let jar_dir = PathBuf::from(std::env::var("CHECKOFF_DYNAMODB_LOCAL_DIR").unwrap());
        self.launch(&jar_dir);
    }
}

impl Drop for OwnDynamo {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_dynamodb_is_down_requests_get_503_and_service_recovers_by_itself() {
    let data = tempfile::tempdir().unwrap();
    let Some(mut dynamo) = OwnDynamo::start(data.path()) else {
        eprintln!("skipped: CHECKOFF_DYNAMODB_LOCAL_DIR unset; scripts/test sets it");
        return;
    };
    dynamo.wait_ready().await;
    let store: Arc<dyn Store> = Arc::new(fresh_dynamo_table(&dynamo.endpoint()).await);
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_on(store, dir.path(), ServiceSettings::default()).await;
    let token = app.user_token("alice").await;
    let todo = app.create_todo(&token, "survives").await;

    dynamo.stop();
    let started = Instant::now();
    let listed = app.list_todos(&token, "").await;
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "answered in {:?}",
        started.elapsed()
    );
    let (status, body) = status_json(listed).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(
        body,
        json!({"message": "Service temporarily unavailable; try again"})
    );
    let create = app
        .authed(Method::POST, "/todos", &token)
        .json(&json!({"description": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(create.status(), StatusCode::SERVICE_UNAVAILABLE);
    let health = app.request(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);

    dynamo.restart();
    dynamo.wait_ready().await;
    let (status, listed) = status_json(app.list_todos(&token, "").await).await;
    assert_eq!((status, listed), (StatusCode::OK, json!([todo])));
    assert_eq!(
        app.request(Method::GET, "/healthz")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    app.stop().await;
}

/// Every DynamoDB operation the store makes is timed for `checkoff_store_duration_seconds`.
#[test]
fn each_dynamodb_operation_is_timed_for_the_metrics() {
    let Some(endpoint) = dynamodb_endpoint() else {
        return;
    };
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = runtime.block_on(fresh_dynamo_table(&endpoint));
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let nobody = Username::parse("nobody").unwrap();
            assert!(store.get_user(&nobody).await.unwrap().is_none());
            assert!(store.get_user(&nobody).await.unwrap().is_none());
        })
    });
    let text = handle.render();
    assert!(
        text.contains(r#"checkoff_store_duration_seconds_count{store="dynamodb"} 2"#),
        "{text}"
    );
}
