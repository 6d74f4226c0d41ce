//! The command line: `serve`, `users`, `tokens`, `openapi`.

mod copy;
mod password_input;
mod resources;
mod tokens;
mod users;

use std::fmt;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

use crate::auth::{JwtSecret, load_or_create_secret};
use crate::domain::Invalid;
use crate::store::{DynamoStore, SqliteStore, Store, StoreError, UserCache, dynamodb};
use crate::{AppState, ServiceSettings};

#[derive(Debug, Parser)]
#[command(
    name = "checkoff",
    version,
    about = "A Todo REST API: log in, then list, add, change and check off your todos"
)]
pub struct Cli {
    /// Where data lives.
    #[arg(long, env = "CHECKOFF_STORE", value_enum, default_value_t = StoreKind::Sqlite, global = true)]
    store: StoreKind,
    /// Directory of the SQLite database and the JWT key (created on first start).
    #[arg(
        long,
        env = "CHECKOFF_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    data_dir: PathBuf,
    /// DynamoDB table (with --store dynamodb); region, credentials and endpoint come from the
    /// standard AWS environment (AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL, ...).
    #[arg(
        long,
        env = "CHECKOFF_TABLE",
        default_value = "checkoff",
        global = true
    )]
    table: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StoreKind {
    /// An SQLite file in the data dir.
    Sqlite,
    /// A DynamoDB table (--table).
    Dynamodb,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API over HTTP.
    Serve(ServeArgs),
    /// Manage users.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Issue tokens.
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// Create or delete the DynamoDB table.
    #[command(subcommand)]
    Resources(resources::ResourcesCommand),
    /// Copy users and todos from one store to another (resumable: items already there are kept).
    Migrate(copy::MigrateArgs),
    /// Bring in the users and todos tables of the original Chalice sample (from DynamoDB).
    ImportChalice(copy::ImportChaliceArgs),
    /// Print the OpenAPI document.
    Openapi,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CHECKOFF_ADDR", default_value = "127.0.0.1:8000")]
    addr: SocketAddr,
    /// How long a token from /login stays valid (e.g. 15m, 1h, 7d).
    #[arg(long, env = "CHECKOFF_TOKEN_TTL", default_value = "1h", value_parser = parse_ttl)]
    token_ttl: Duration,
    /// How long the caller's profile, read by the authorizer, may be reused: saves a store read
    /// per API call; a user deleted by another process keeps access that long (default: 5s on
    /// DynamoDB, 1s on SQLite).
    #[arg(long, env = "CHECKOFF_USER_CACHE_TTL", value_parser = humantime::parse_duration)]
    user_cache_ttl: Option<Duration>,
    /// Memory for list pages kept as sent, in KiB (0 = off). Only on SQLite, where the service
    /// sees every change: its own at once, another process's within 50 ms.
    #[arg(long, env = "CHECKOFF_LIST_CACHE_KIB", default_value_t = 2048)]
    list_cache_kib: usize,
    /// Longest a request may take before it is answered 503.
    #[arg(long, env = "CHECKOFF_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_ttl)]
    request_timeout: Duration,
}

/// A duration such as `90s`, `15m`, `1h`, `30d`: at least a second, at most a year.
pub(crate) fn parse_ttl(raw: &str) -> Result<Duration, String> {
    let ttl = humantime::parse_duration(raw).map_err(|e| format!("{e} (try 30s, 15m, 1h, 7d)"))?;
    if ttl < Duration::from_secs(1) || ttl > Duration::from_secs(366 * 24 * 3600) {
        return Err("must be between 1s and 1 year".into());
    }
    Ok(ttl)
}

/// A command that could not do its job, with the words to tell the person who ran it.
#[derive(Debug)]
pub struct Failure(String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self(message)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Self(message.to_owned())
    }
}

impl From<Invalid> for Failure {
    fn from(invalid: Invalid) -> Self {
        Self(invalid.0)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self(e.to_string())
    }
}

type CliResult = Result<(), Failure>;

pub fn run(cli: Cli) -> ExitCode {
    let default_level = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("checkoff: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("checkoff: {failure}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> CliResult {
    match &cli.command {
        Command::Serve(args) => serve(&cli, args).await,
        Command::Users(command) => users::run(&cli, command).await,
        Command::Tokens(command) => tokens::run(&cli, command).await,
        Command::Resources(command) => resources::run(&cli, command).await,
        Command::Migrate(args) => copy::migrate(&cli, args).await,
        Command::ImportChalice(args) => copy::import_chalice(&cli, args).await,
        Command::Openapi => {
            let doc = crate::api::openapi()
                .to_pretty_json()
                .map_err(|e| e.to_string())?;
            println!("{doc}");
            Ok(())
        }
    }
}

impl Cli {
    async fn open_store(&self) -> Result<Arc<dyn Store>, Failure> {
        self.open(self.store).await
    }

    async fn open(&self, kind: StoreKind) -> Result<Arc<dyn Store>, Failure> {
        match kind {
            StoreKind::Sqlite => match SqliteStore::open(&self.data_dir) {
                Ok(store) => Ok(Arc::new(store)),
                Err(e) => Err(Failure(format!(
                    "cannot open the store in {}: {e}",
                    self.data_dir.display()
                ))),
            },
            StoreKind::Dynamodb => Ok(Arc::new(DynamoStore::new(
                dynamodb::client_from_env().await,
                &self.table,
            ))),
        }
    }

    /// `CHECKOFF_JWT_SECRET` (base64) when set, else `jwt.key` in the data dir.
    fn jwt_secret(&self) -> Result<JwtSecret, Failure> {
        match std::env::var("CHECKOFF_JWT_SECRET") {
            Ok(text) => JwtSecret::from_base64(&text)
                .map_err(|e| Failure(format!("CHECKOFF_JWT_SECRET: {e}"))),
            Err(_) => load_or_create_secret(&self.data_dir).map_err(Failure),
        }
    }
}

async fn serve(cli: &Cli, args: &ServeArgs) -> CliResult {
    // Bound first: a taken address fails before anything is written to the data dir.
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let mut store = cli.open_store().await?;
    let default_cache = match cli.store {
        StoreKind::Sqlite => Duration::from_secs(1),
        StoreKind::Dynamodb => Duration::from_secs(5),
    };
    let cache_ttl = args.user_cache_ttl.unwrap_or(default_cache);
    if !cache_ttl.is_zero() {
        store = Arc::new(UserCache::new(store, cache_ttl));
    }
    let secret = cli.jwt_secret()?;
    let settings = ServiceSettings {
        token_ttl: args.token_ttl,
        request_timeout: args.request_timeout,
        list_cache_bytes: args.list_cache_kib.saturating_mul(1024),
        ..ServiceSettings::default()
    };
    let state = AppState::new(store, &secret, &settings);
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // Printed, not logged: scripts and tests read the port from here when given port 0.
    let data = match cli.store {
        StoreKind::Sqlite => format!("data in {}", cli.data_dir.display()),
        StoreKind::Dynamodb => format!("DynamoDB table {}", cli.table),
    };
    println!("checkoff listening on http://{addr} ({data})");
    let _ = std::io::stdout().flush();
    crate::server::serve(listener, state, crate::server::shutdown_signal())
        .await
        .map_err(|e| Failure(format!("server failed: {e}")))
}
