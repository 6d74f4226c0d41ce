//! The command line: `serve`, `users`, `todos`, `tokens`, `resources`, `package`, `migrate`,
//! `openapi`.

mod confirm;
mod copy;
mod login;
mod package;
mod password_input;
mod resources;
mod todos;
mod tokens;
mod users;

use std::fmt;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

pub(crate) use crate::config::StoreKind;
use crate::config::{Runtime, ServiceArgs, Settings, Stage, StoreArgs, StoreSettings};
use crate::domain::Invalid;
use crate::entry::run_to_exit;
use crate::service;
use crate::store::{Store, StoreError};
use crate::telemetry::{LogFormat, LogWriter, init_logging};

#[derive(Debug, Parser)]
#[command(
    name = "checkoff",
    version,
    about = "A Todo REST API: log in, then list, add, change and check off your todos"
)]
pub struct Cli {
    #[command(flatten)]
    location: StoreArgs,
    /// Log lines as text or as one JSON object each.
    #[arg(
        long,
        env = "CHECKOFF_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API over HTTP.
    Serve(Box<ServeArgs>),
    /// Manage users.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Sign in through the service's identity provider and print an access token.
    Login(login::LoginArgs),
    /// Issue tokens.
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// Add, list and check off a person's todos (--user NAME or CHECKOFF_USER).
    Todos(todos::TodosArgs),
    /// Create or delete a stage's DynamoDB table and JWT secret parameter.
    #[command(subcommand)]
    Resources(resources::ResourcesCommand),
    /// Write the SAM template that deploys a stage to AWS Lambda and API Gateway.
    Package(package::PackageArgs),
    /// Copy users and todos from one store to another (resumable: items already there are kept).
    Migrate(copy::MigrateArgs),
    /// Bring in the users and todos tables of the original Chalice sample (from DynamoDB).
    ImportChalice(copy::ImportChaliceArgs),
    /// Print the OpenAPI document.
    Openapi,
    /// Write a consistent copy of the SQLite database while it is in use.
    Backup {
        /// The copy to write (must not exist yet).
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Put a copy made by `backup` back in place of the SQLite database (stop servers first).
    Restore {
        /// The copy to restore.
        #[arg(long)]
        from: std::path::PathBuf,
        /// Do not ask first (a terminal is asked; the replaced database is kept either way).
        #[arg(long)]
        yes: bool,
    },
}

/// Where to listen: a bare port is on this machine only; a host name is looked up (the first
/// address it has).
fn listen_addr(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let form = "write a port (8000), host:port (localhost:8000) or ip:port (0.0.0.0:8000)";
    match std::net::ToSocketAddrs::to_socket_addrs(text) {
        Ok(mut found) => found
            .next()
            .ok_or_else(|| format!("{text:?} names no address; {form}")),
        Err(e) => Err(format!("{text:?} is no address to listen on ({e}); {form}")),
    }
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on: a port (8000, on 127.0.0.1), host:port (localhost:8000) or
    /// ip:port (0.0.0.0:8000 for every interface).
    #[arg(long, env = "CHECKOFF_ADDR", default_value = "127.0.0.1:8000", value_parser = listen_addr)]
    addr: SocketAddr,
    /// Connections served at once; more wait until one closes [default: the open-file limit,
    /// raised to its maximum, less room for the store].
    #[arg(long, env = "CHECKOFF_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// How long a client may take to send a request's headers, and how long a keep-alive
    /// connection may sit idle.
    #[arg(long, env = "CHECKOFF_HEADER_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    header_timeout: Duration,
    /// Serve Prometheus metrics at http://ADDR/metrics (off unless given; keep it off the public
    /// address).
    #[arg(long, env = "CHECKOFF_METRICS_ADDR", value_parser = listen_addr)]
    metrics_addr: Option<SocketAddr>,
    #[command(flatten)]
    service: ServiceArgs,
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
    let serving = matches!(cli.command, Command::Serve(_));
    let _queued_lines = if serving {
        init_logging(cli.log_format, "info", LogWriter::Background)
    } else {
        // A command says what failed itself, on one line: a server's log of each failed
        // DynamoDB call would only say it again.
        let level = "warn,checkoff::store::dynamodb=error";
        init_logging(cli.log_format, level, LogWriter::Direct)
    };
    run_to_exit(dispatch(cli))
}

async fn dispatch(cli: Cli) -> CliResult {
    match &cli.command {
        Command::Serve(args) => serve(&cli, args).await,
        Command::Users(command) => users::run(&cli, command).await,
        Command::Tokens(command) => tokens::run(&cli, command).await,
        Command::Todos(args) => todos::run(&cli, args).await,
        Command::Login(args) => login::run(args).await,
        Command::Resources(command) => resources::run(&cli, command).await,
        Command::Package(args) => package::run(&cli, args),
        Command::Migrate(args) => copy::migrate(&cli, args).await,
        Command::ImportChalice(args) => copy::import_chalice(&cli, args).await,
        Command::Backup { out } => {
            let dir = cli.sqlite_dir("backup")?;
            crate::store::sqlite::backup(&dir, out)?;
            println!(
                "Wrote a copy of {} to {}.",
                cli.describe_store()?,
                out.display()
            );
            Ok(())
        }
        Command::Restore { from, yes } => {
            let dir = cli.sqlite_dir("restore")?;
            confirm::typed_back(
                &format!(
                    "Replace the database in {} with {}?",
                    dir.display(),
                    from.display()
                ),
                "yes",
                *yes,
            )?;
            let kept = crate::store::sqlite::restore(&dir, from)?;
            println!(
                "Restored {} from {}.",
                cli.describe_store()?,
                from.display()
            );
            if let Some(kept) = kept {
                println!("The database it replaced is kept as {}.", kept.display());
            }
            Ok(())
        }
        Command::Openapi => {
            let doc =
                serde_json::to_string_pretty(&crate::api::openapi()).map_err(|e| e.to_string())?;
            println!("{doc}");
            Ok(())
        }
    }
}

impl Cli {
    /// The stage of `--stage`, if any, from the config file.
    fn stage(&self) -> Result<Option<(String, Stage)>, Failure> {
        Ok(self.location.stage()?)
    }

    /// Where the data is, with the stage's table when one is named.
    fn store_settings(&self) -> Result<StoreSettings, Failure> {
        Ok(self
            .location
            .resolve(self.stage()?.as_ref(), Runtime::Local)?)
    }

    /// Where the data is, in words: the SQLite file's folder (absolute) or the DynamoDB table.
    fn describe_store(&self) -> Result<String, Failure> {
        let settings = self.store_settings()?;
        Ok(match settings.kind {
            StoreKind::Sqlite => {
                let dir = std::path::absolute(&settings.data_dir).unwrap_or(settings.data_dir);
                format!("the SQLite store in {}", dir.display())
            }
            StoreKind::Dynamodb => format!("DynamoDB table {}", settings.table),
        })
    }

    /// The data dir of the SQLite store, for commands that work on its file; DynamoDB has its
    /// own ways.
    fn sqlite_dir(&self, command: &str) -> Result<std::path::PathBuf, Failure> {
        let settings = self.store_settings()?;
        match settings.kind {
            StoreKind::Sqlite => Ok(settings.data_dir),
            StoreKind::Dynamodb => Err(Failure(format!(
                "`{command}` is for the SQLite store. DynamoDB keeps its own: point-in-time \
                 recovery (on since `checkoff resources create`) restores the table {} to any \
                 second of the last 35 days, and `aws dynamodb create-backup --table-name {} \
                 --backup-name NAME` makes an on-demand backup",
                settings.table, settings.table
            ))),
        }
    }

    /// The store, which must exist already: on SQLite a command run from the wrong directory
    /// would otherwise make an empty database beside it and answer from that.
    async fn open_existing_store(&self) -> Result<Arc<dyn Store>, Failure> {
        self.require_existing()?;
        self.open_store().await
    }

    fn require_existing(&self) -> Result<(), Failure> {
        let settings = self.store_settings()?;
        if settings.kind == StoreKind::Sqlite
            && !settings
                .data_dir
                .join(crate::store::sqlite::DB_FILE)
                .exists()
        {
            let dir = std::path::absolute(&settings.data_dir).unwrap_or(settings.data_dir);
            return Err(Failure(format!(
                "no checkoff database in {} (run from where `serve` keeps its data, or give \
                 --data-dir or CHECKOFF_DATA_DIR)",
                dir.display()
            )));
        }
        Ok(())
    }

    async fn open_store(&self) -> Result<Arc<dyn Store>, Failure> {
        Ok(service::open_store(&self.store_settings()?).await?)
    }

    async fn open(&self, kind: StoreKind) -> Result<Arc<dyn Store>, Failure> {
        let settings = StoreSettings {
            kind,
            ..self.store_settings()?
        };
        Ok(service::open_store(&settings).await?)
    }

    /// The service as `serve` would build it (settings from the environment and the stage),
    /// for commands that act through its services rather than on the store alone.
    async fn service(&self) -> Result<crate::api::AppState, Failure> {
        self.require_existing()?;
        let settings =
            Settings::resolve(&self.location, &ServiceArgs::from_env()?, Runtime::Local)?;
        Ok(service::build(&settings).await?)
    }
}

async fn serve(cli: &Cli, args: &ServeArgs) -> CliResult {
    let settings = Settings::resolve(&cli.location, &args.service, Runtime::Local)?;
    // Bound first: a taken address fails before anything is written to the data dir.
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| {
            format!(
                "cannot listen on {}: {e} (choose another address with --addr or CHECKOFF_ADDR)",
                args.addr
            )
        })?;
    let budget = crate::server::connection_budget();
    let limits = crate::server::Limits {
        max_connections: args.max_connections.unwrap_or(budget).min(budget),
        header_timeout: args.header_timeout,
        ..crate::server::Limits::default()
    };
    let metrics = match args.metrics_addr {
        Some(metrics_addr) => {
            let listener = tokio::net::TcpListener::bind(metrics_addr)
                .await
                .map_err(|e| format!("cannot listen on {metrics_addr} for metrics: {e}"))?;
            Some((listener, crate::telemetry::install()?))
        }
        None => None,
    };
    // Kept open while serving: `restore` refuses to replace the data under a running server.
    let _serving = match settings.store.kind {
        StoreKind::Sqlite => Some(crate::store::sqlite::hold_while_serving(
            &settings.store.data_dir,
        )?),
        StoreKind::Dynamodb => None,
    };
    let state = service::build(&settings).await?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // Printed, not logged: scripts and tests read the port from here when given port 0.
    println!(
        "checkoff listening on http://{addr} ({})",
        service::describe(&settings)
    );
    if let Some((metrics_listener, handle)) = metrics {
        let metrics_addr = metrics_listener.local_addr().map_err(|e| e.to_string())?;
        println!("metrics on http://{metrics_addr}/metrics");
        tokio::spawn(crate::telemetry::serve(
            metrics_listener,
            handle,
            crate::server::shutdown_signal(),
        ));
    }
    let _ = std::io::stdout().flush();
    crate::server::serve(listener, state, limits, crate::server::shutdown_signal())
        .await
        .map_err(|e| Failure(format!("server failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::listen_addr;

    #[test]
    fn a_listen_address_may_be_a_port_a_host_or_an_ip() {
        assert_eq!(listen_addr("8001").unwrap().to_string(), "127.0.0.1:8001");
        assert_eq!(listen_addr("0.0.0.0:80").unwrap().to_string(), "0.0.0.0:80");
        assert_eq!(listen_addr("[::1]:8001").unwrap().to_string(), "[::1]:8001");
        assert!(listen_addr("localhost:8001").unwrap().ip().is_loopback());
        for bad in ["", "nonsense", "localhost", "8001x", "70000"] {
            let error = listen_addr(bad).unwrap_err();
            assert!(error.contains("localhost:8000"), "{bad:?}: {error}");
        }
    }
}
