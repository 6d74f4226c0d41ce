//! `checkoff resources create|cleanup`: the DynamoDB table of a stage.

use clap::Subcommand;

use super::{Cli, CliResult, Failure};
use crate::store::dynamodb::{self, Outcome};

#[derive(Debug, Subcommand)]
pub(super) enum ResourcesCommand {
    /// Create the table (on demand, with its indexes) and wait until it is active.
    Create {
        /// Stage suffix: the table is named `<table>-<stage>`.
        #[arg(long)]
        stage: Option<String>,
    },
    /// Delete the table and wait until it is gone.
    Cleanup {
        #[arg(long)]
        stage: Option<String>,
    },
}

/// The table of a stage: `--table` alone, or `<table>-<stage>`.
fn table_name(cli: &Cli, stage: Option<&str>) -> Result<String, Failure> {
    match stage {
        None => Ok(cli.table.clone()),
        Some(stage)
            if !stage.is_empty()
                && stage.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') =>
        {
            Ok(format!("{}-{stage}", cli.table))
        }
        Some(stage) => Err(Failure(format!(
            "stage {stage:?} may contain only letters, digits and -"
        ))),
    }
}

pub(super) async fn run(cli: &Cli, command: &ResourcesCommand) -> CliResult {
    let client = dynamodb::client_from_env().await;
    let say = |line: &str| println!("{line}");
    match command {
        ResourcesCommand::Create { stage } => {
            let table = table_name(cli, stage.as_deref())?;
            match dynamodb::create_table(&client, &table, say).await? {
                Outcome::Done => println!("Table {table} is ready."),
                Outcome::AlreadyThere => {
                    println!("Table {table} was already there; nothing to do.")
                }
            }
        }
        ResourcesCommand::Cleanup { stage } => {
            let table = table_name(cli, stage.as_deref())?;
            match dynamodb::delete_table(&client, &table, say).await? {
                Outcome::Done => println!("Table {table} deleted."),
                Outcome::AlreadyThere => println!("Table {table} was not there; nothing to do."),
            }
        }
    }
    Ok(())
}
