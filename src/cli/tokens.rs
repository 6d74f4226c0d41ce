//! `checkoff tokens`: API tokens for a user, optionally limited to some routes; listing and
//! revoking them.

use std::time::Duration;

use clap::Subcommand;
use uuid::Uuid;

use super::{Cli, CliResult, Failure};
use crate::auth::RouteGrants;
use crate::config::parse_ttl;
use crate::domain::{SessionKind, Username};

#[derive(Debug, Subcommand)]
pub(super) enum TokensCommand {
    /// Print a signed token for NAME (its id goes to standard error).
    Issue {
        name: String,
        /// Limit the token to routes matching this pattern, e.g. 'GET /todos*' (repeatable).
        #[arg(long = "routes", value_name = "PATTERN", value_parser = route_pattern)]
        routes: Vec<String>,
        /// How long the token stays valid (e.g. 1h, 30d).
        #[arg(long, default_value = "1h", value_parser = parse_ttl)]
        ttl: Duration,
    },
    /// List NAME's API tokens and login sessions: id, kind, created, expires, routes.
    List { name: String },
    /// Revoke the API token (or end the login session) with this id: it stops working at once.
    Revoke { id: String },
}

/// A route pattern as `--routes` takes it, checked when the command line is read: a method of
/// the API (or `*`) and a path.
fn route_pattern(raw: &str) -> Result<String, String> {
    crate::auth::RoutePattern::parse(raw)
        .map(|_| raw.to_owned())
        .map_err(|e| e.0)
}

pub(super) async fn run(cli: &Cli, command: &TokensCommand) -> CliResult {
    let service = cli.service().await?;
    match command {
        TokensCommand::Issue { name, routes, ttl } => {
            let username = Username::parse(name)?;
            let grants = if routes.is_empty() {
                None
            } else {
                Some(RouteGrants::parse(routes)?)
            };
            let Some(user) = service.store.get_user(&username).await? else {
                return Err(no_such_user(name));
            };
            let (session, issued) = service
                .sessions
                .issue_api_token(&user, grants.as_ref(), *ttl)
                .await
                .map_err(|e| Failure(e.to_string()))?;
            eprintln!(
                "Token id {} (revoke with `checkoff tokens revoke {}`)",
                session.id, session.id
            );
            println!("{}", issued.token);
        }
        TokensCommand::List { name } => {
            let username = Username::parse(name)?;
            if service.store.get_user(&username).await?.is_none() {
                return Err(no_such_user(name));
            }
            let sessions = service.store.list_sessions(&username).await?;
            if sessions.is_empty() {
                eprintln!("No tokens or sessions for {name}.");
            }
            for session in sessions {
                let routes = match (&session.kind, &session.routes) {
                    (SessionKind::Api, Some(routes)) => routes.join(", "),
                    _ => "*".to_owned(),
                };
                println!(
                    "{}  {:<5}  created {}  expires {}  routes {routes}",
                    session.id, session.kind, session.created_at, session.expires_at
                );
            }
        }
        TokensCommand::Revoke { id } => {
            let id = Uuid::try_parse(id.trim()).map_err(|_| {
                Failure(format!(
                    "{id:?} is not a token id (see `checkoff tokens list NAME`)"
                ))
            })?;
            match service
                .sessions
                .revoke(id)
                .await
                .map_err(|e| Failure(e.to_string()))?
            {
                Some(session) => println!(
                    "Revoked {} {id} of {}.",
                    if session.kind == SessionKind::Api {
                        "token"
                    } else {
                        "session"
                    },
                    session.owner
                ),
                None => return Err(Failure(format!("no token or session with id {id}"))),
            }
        }
    }
    Ok(())
}

fn no_such_user(name: &str) -> Failure {
    Failure(format!("no such user: {name}"))
}
