//! `checkoff tokens issue`: a token for a user, optionally limited to some routes.

use std::time::Duration;

use clap::Subcommand;

use super::{Cli, CliResult, Failure, parse_ttl};
use crate::auth::{RouteGrants, TokenService};
use crate::domain::Username;

#[derive(Debug, Subcommand)]
pub(super) enum TokensCommand {
    /// Print a signed token for NAME.
    Issue {
        name: String,
        /// Limit the token to routes matching this pattern, e.g. 'GET /todos*' (repeatable).
        #[arg(long = "routes", value_name = "PATTERN")]
        routes: Vec<String>,
        /// How long the token stays valid (e.g. 1h, 30d).
        #[arg(long, default_value = "1h", value_parser = parse_ttl)]
        ttl: Duration,
    },
}

pub(super) async fn run(cli: &Cli, command: &TokensCommand) -> CliResult {
    let TokensCommand::Issue { name, routes, ttl } = command;
    let username = Username::parse(name)?;
    let grants = if routes.is_empty() {
        None
    } else {
        Some(RouteGrants::parse(routes)?)
    };
    let store = cli.open_store().await?;
    let Some(user) = store.get_user(&username).await? else {
        return Err(Failure(format!("no such user: {name}")));
    };
    let tokens = TokenService::new(&cli.jwt_secret().await?, *ttl);
    let issued = tokens.issue(
        username.as_str(),
        &user.created_at,
        grants.as_ref(),
        Some(*ttl),
    )?;
    println!("{}", issued.token);
    Ok(())
}
