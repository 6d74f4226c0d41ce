//! `checkoff resources create|cleanup`: a stage's DynamoDB table and its JWT secret parameter.

use clap::{Subcommand, ValueEnum};

use super::{Cli, CliResult, Failure};
use crate::aws::ssm;
use crate::config::secret_param_of;
use crate::store::dynamodb::{self, Outcome};

#[derive(Debug, Subcommand)]
pub(super) enum ResourcesCommand {
    /// Create the table (on demand, with its indexes, point-in-time recovery on) and the SSM
    /// parameter holding a random JWT secret; what exists already is left as it is.
    Create {
        /// Only this one (a SAM deployment makes the table itself: `--only secret`).
        #[arg(long, value_enum)]
        only: Option<Resource>,
    },
    /// Delete the table and the parameter.
    Cleanup {
        #[arg(long, value_enum)]
        only: Option<Resource>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum Resource {
    Table,
    Secret,
}

/// The parameter of the stage (`/checkoff/<stage>/jwt-secret`), of `--jwt-secret-param`, or
/// `/checkoff/jwt-secret` without a stage.
fn parameter(cli: &Cli) -> Result<String, Failure> {
    if let Some(param) = &cli.location.jwt_secret_param {
        return Ok(param.clone());
    }
    Ok(match cli.stage()? {
        Some((name, stage)) => secret_param_of(&name, &stage),
        None => "/checkoff/jwt-secret".into(),
    })
}

pub(super) async fn run(cli: &Cli, command: &ResourcesCommand) -> CliResult {
    let table = cli.store_settings()?.table;
    let param = parameter(cli)?;
    let say = |line: &str| println!("{line}");
    let (only, creating) = match command {
        ResourcesCommand::Create { only } => (*only, true),
        ResourcesCommand::Cleanup { only } => (*only, false),
    };
    let wants = |r: Resource| only.is_none_or(|o| o == r);
    if wants(Resource::Table) {
        let client = dynamodb::client_from_env().await;
        if creating {
            match dynamodb::create_table(&client, &table, say).await? {
                Outcome::Done => println!("Table {table} is ready."),
                Outcome::AlreadyThere => {
                    println!("Table {table} was already there; nothing to do.")
                }
            }
        } else {
            match dynamodb::delete_table(&client, &table, say).await? {
                Outcome::Done => println!("Table {table} deleted."),
                Outcome::AlreadyThere => println!("Table {table} was not there; nothing to do."),
            }
        }
    }
    if wants(Resource::Secret) {
        if creating {
            let created = ssm::create_secret(&param).await.map_err(|e| {
                format!(
                    "{e}\nNo secret was made (a table asked for is ready). With DynamoDB Local \
                     there is no SSM: run `checkoff resources create --only table` and set \
                     CHECKOFF_JWT_SECRET, or point AWS_ENDPOINT_URL_SSM at an SSM emulator."
                )
            })?;
            match created {
                Outcome::Done => println!("JWT secret created in SSM parameter {param}."),
                Outcome::AlreadyThere => {
                    println!("SSM parameter {param} was already there; kept as it is.")
                }
            }
        } else {
            match ssm::delete_secret(&param).await? {
                Outcome::Done => println!("SSM parameter {param} deleted."),
                Outcome::AlreadyThere => {
                    println!("SSM parameter {param} was not there; nothing to do.")
                }
            }
        }
    }
    Ok(())
}
