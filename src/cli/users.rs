//! `checkoff users …`: the original sample's users helper, on the configured store.

use clap::Subcommand;

use super::password_input::{Confirm, read_password};
use super::{Cli, CliResult, Failure};
use crate::auth::{PasswordAlgorithm, Passwords, Verdict};
use crate::domain::{Email, LoginPassword, Password, User, Username};
use crate::services::{ServiceError, create_account};
use crate::store::{PageRequest, StoreError};

#[derive(Debug, Subcommand)]
pub(super) enum UsersCommand {
    /// Add a user (asks for the password twice, or reads it from --password-stdin).
    Create {
        name: String,
        /// May manage other users and see everyone's todos.
        #[arg(long)]
        admin: bool,
        #[arg(long)]
        email: Option<String>,
        /// Read the password from standard input instead of the terminal.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Check a password: prints "Password verified." and exits 0, or exits 1.
    TestPassword {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Show a user's stored fields (never a secret).
    Get { name: String },
    /// List every user.
    List,
    /// Delete a user and all their todos and sessions (on a terminal, after you type the name).
    Delete {
        name: String,
        /// Do not ask first.
        #[arg(long)]
        yes: bool,
    },
    /// Make NAME an administrator (GET /users, GET /admin/todos, other users' accounts).
    Promote { name: String },
    /// Make NAME an ordinary user again.
    Demote { name: String },
    /// Clear NAME's failed logins, lifting a lock (failures from an address still count).
    Unlock { name: String },
}

pub(super) async fn run(cli: &Cli, command: &UsersCommand) -> CliResult {
    // Only a new user may make the database; every other command needs the one in use.
    let store = match command {
        UsersCommand::Create { .. } => cli.open_store().await?,
        _ => cli.open_existing_store().await?,
    };
    match command {
        UsersCommand::Create {
            name,
            admin,
            email,
            password_stdin,
        } => {
            let username = Username::parse_account(name)?;
            let email = email.as_deref().map(Email::parse).transpose()?;
            // Before the password is asked for: typing it twice for a taken name is a waste.
            if store.get_user(&username).await?.is_some() {
                return Err(Failure(format!("user {name} already exists")));
            }
            let password = Password::parse(read_password(*password_stdin, Confirm::Twice)?)?;
            let passwords = Passwords::new();
            create_account(&*store, &passwords, username, &password, email, *admin)
                .await
                .map_err(|e| match e {
                    ServiceError::Taken(_) => Failure(format!("user {name} already exists")),
                    other => Failure(other.to_string()),
                })?;
            println!(
                "Created user {name}{} in {}.",
                if *admin { " (admin)" } else { "" },
                cli.describe_store()?
            );
        }
        UsersCommand::TestPassword {
            name,
            password_stdin,
        } => {
            let username = Username::parse(name)?;
            let user = store
                .get_user(&username)
                .await?
                .ok_or_else(|| no_such_user(name))?;
            let password = LoginPassword::parse(read_password(*password_stdin, Confirm::Once)?)?;
            match Passwords::new()
                .verify(Some(user.password_hash), &password)
                .await
            {
                Verdict::Valid { .. } => println!("Password verified."),
                Verdict::Invalid => return Err("Password verification failed.".into()),
            }
        }
        UsersCommand::Get { name } => {
            let username = Username::parse(name)?;
            let user = store
                .get_user(&username)
                .await?
                .ok_or_else(|| no_such_user(name))?;
            print!("{}", describe(&user));
        }
        UsersCommand::List => {
            let mut page = PageRequest::first(500);
            let mut count = 0;
            loop {
                let listed = store.list_users(&page).await?;
                count += listed.items.len();
                for user in &listed.items {
                    println!(
                        "{}{}",
                        user.username,
                        if user.admin { " (admin)" } else { "" }
                    );
                }
                match listed.next {
                    Some(after) => page.after = Some(after),
                    None => break,
                }
            }
            // On standard error, so the list itself stays one name a line for scripts; naming
            // the store shows a mistaken data dir (a relative ./data) at once.
            if count == 0 {
                eprintln!("No users in {}.", cli.describe_store()?);
            }
        }
        UsersCommand::Delete { name, yes } => {
            let username = Username::parse(name)?;
            // Without a profile there is no one to ask about (what is left of one goes quietly).
            if let Some(user) = store.get_user(&username).await? {
                super::confirm::typed_back(
                    &format!(
                        "Delete user {name} and all {} of their todo(s)? This cannot be undone.",
                        user.usage.todos
                    ),
                    name,
                    *yes,
                )?;
            }
            let todos = store.delete_user(&username).await.map_err(|e| match e {
                StoreError::NotFound => no_such_user(name),
                other => other.into(),
            })?;
            println!("Deleted user {name} and {todos} todo(s).");
        }
        UsersCommand::Unlock { name } => {
            let username = Username::parse(name)?;
            let key = crate::auth::user_key(username.as_str());
            let Some(failures) = store.get_failures(&key).await? else {
                println!("{name} had no failed logins; nothing changed.");
                return Ok(());
            };
            store.clear_failures(&key).await?;
            let now = crate::domain::Timestamp::now().unix_seconds() * 1000;
            if failures.locked_until > now {
                println!("{name} can log in again.");
            } else {
                println!(
                    "{name} was not locked; its {} failed login(s) are forgotten.",
                    failures.count
                );
            }
        }
        UsersCommand::Promote { name } | UsersCommand::Demote { name } => {
            let admin = matches!(command, UsersCommand::Promote { .. });
            let username = Username::parse(name)?;
            let user = store
                .get_user(&username)
                .await?
                .ok_or_else(|| no_such_user(name))?;
            if user.admin == admin {
                let already = if admin {
                    "already an administrator"
                } else {
                    "not an administrator"
                };
                println!("{name} is {already}; nothing changed.");
                return Ok(());
            }
            store
                .set_admin(&username, admin)
                .await
                .map_err(|e| match e {
                    StoreError::NotFound => no_such_user(name),
                    other => other.into(),
                })?;
            println!(
                "{name} is {}.",
                if admin {
                    "an administrator now"
                } else {
                    "no longer an administrator"
                }
            );
        }
    }
    Ok(())
}

fn no_such_user(name: &str) -> Failure {
    Failure(format!("no such user: {name}"))
}

/// The stored fields, as the original helper's `--get-user` showed them, minus salt and digest.
fn describe(user: &User) -> String {
    let (algorithm, params) = match PasswordAlgorithm::of(&user.password_hash) {
        Ok(summary) => (summary.algorithm, summary.params),
        Err(e) => ("unreadable".to_owned(), e.0),
    };
    format!(
        "Entry for user: {name}\n  username   : {name}\n  admin      : {admin}\n  email      : {email}\n  \
         created_at : {created}\n  hash       : {algorithm}\n  params     : {params}\n",
        name = user.username,
        admin = user.admin,
        email = user.email.as_ref().map_or("-", |e| e.as_str()),
        created = user.created_at,
    )
}
