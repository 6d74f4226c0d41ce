//! Copying data into a store: `migrate` between checkoff's stores, `import-chalice` from the
//! original sample's tables. Both keep what the target already has, so a run that stopped half
//! way is finished by running it again.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinSet;

use super::{Cli, CliResult, Failure, StoreKind};
use crate::domain::{Todo, TodoList, TodoQuery, User};
use crate::store::dynamodb::{self, chalice};
use crate::store::{PageRequest, Store, StoreError};

/// Writes in flight at once while copying.
const PARALLEL_WRITES: usize = 16;
const PAGE: u32 = 500;

#[derive(Debug, Args)]
pub(super) struct MigrateArgs {
    #[arg(long, value_enum)]
    from: StoreKind,
    #[arg(long, value_enum)]
    to: StoreKind,
}

#[derive(Debug, Args)]
pub(super) struct ImportChaliceArgs {
    /// The original users table (username, hash, salt, rounds, hashed).
    #[arg(long)]
    users_table: String,
    /// The original todos table (username, uid, description, state, metadata).
    #[arg(long)]
    todos_table: String,
}

/// Counts of one copy, shown as it goes and at the end.
#[derive(Default)]
struct Tally {
    users: u64,
    users_kept: u64,
    lists: u64,
    lists_kept: u64,
    todos: u64,
    todos_kept: u64,
    refused: u64,
}

impl Tally {
    fn line(&self) -> String {
        let mut line = format!("{} users ({} already there), ", self.users, self.users_kept);
        if self.lists + self.lists_kept > 0 {
            line.push_str(&format!(
                "{} lists ({} already there), ",
                self.lists, self.lists_kept
            ));
        }
        line.push_str(&format!(
            "{} todos ({} already there)",
            self.todos, self.todos_kept
        ));
        if self.refused > 0 {
            line.push_str(&format!(", {} records refused", self.refused));
        }
        line
    }
}

struct Copier {
    target: Arc<dyn Store>,
    tally: Tally,
    bar: ProgressBar,
    writes: JoinSet<Result<bool, StoreError>>,
}

impl Copier {
    fn new(target: Arc<dyn Store>) -> Self {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("a valid template"),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        Self {
            target,
            tally: Tally::default(),
            bar,
            writes: JoinSet::new(),
        }
    }

    async fn user(&mut self, user: &User) -> CliResult {
        self.drain().await?;
        match self.target.create_user(user).await {
            Ok(()) => self.tally.users += 1,
            Err(StoreError::AlreadyExists) => self.tally.users_kept += 1,
            Err(e) => return Err(Failure(format!("copying user {}: {e}", user.username))),
        }
        self.bar.set_message(self.tally.line());
        Ok(())
    }

    /// Copies a list, before any todo in it.
    async fn list(&mut self, list: &TodoList) -> CliResult {
        match self.target.create_list(list).await {
            Ok(()) => self.tally.lists += 1,
            Err(StoreError::AlreadyExists) => self.tally.lists_kept += 1,
            Err(e) => return Err(Failure(format!("copying list {}: {e}", list.id))),
        }
        self.bar.set_message(self.tally.line());
        Ok(())
    }

    /// Queues a todo; at most `PARALLEL_WRITES` are written at once.
    async fn todo(&mut self, todo: Todo) -> CliResult {
        while self.writes.len() >= PARALLEL_WRITES {
            self.settle_one().await?;
        }
        let target = Arc::clone(&self.target);
        self.writes.spawn(async move {
            match target.create_todo(&todo).await {
                Ok(()) => Ok(true),
                Err(StoreError::AlreadyExists) => Ok(false),
                Err(e) => Err(e),
            }
        });
        Ok(())
    }

    fn refuse(&mut self, why: &str) {
        self.tally.refused += 1;
        self.bar.suspend(|| eprintln!("skipped: {why}"));
    }

    async fn settle_one(&mut self) -> CliResult {
        match self.writes.join_next().await {
            Some(Ok(Ok(true))) => self.tally.todos += 1,
            Some(Ok(Ok(false))) => self.tally.todos_kept += 1,
            Some(Ok(Err(e))) => return Err(Failure(format!("copying a todo: {e}"))),
            Some(Err(e)) => return Err(Failure(format!("copying a todo: {e}"))),
            None => {}
        }
        self.bar.set_message(self.tally.line());
        Ok(())
    }

    async fn drain(&mut self) -> CliResult {
        while !self.writes.is_empty() {
            self.settle_one().await?;
        }
        Ok(())
    }

    async fn finish(mut self, verb: &str) -> CliResult {
        self.drain().await?;
        self.bar.finish_and_clear();
        println!("{verb} {}.", self.tally.line());
        Ok(())
    }
}

pub(super) async fn migrate(cli: &Cli, args: &MigrateArgs) -> CliResult {
    if args.from == args.to {
        return Err("--from and --to name the same store".into());
    }
    let source = cli.open(args.from).await?;
    let mut copier = Copier::new(cli.open(args.to).await?);
    let mut users = PageRequest::first(PAGE);
    loop {
        let listed = source.list_users(&users).await?;
        for user in &listed.items {
            copier.user(user).await?;
            for list in source.lists_of(&user.username).await? {
                copier.list(&list).await?;
            }
            let mut todos = PageRequest::first(PAGE);
            loop {
                let page = source
                    .list_todos(&user.username, &TodoQuery::all(), &todos)
                    .await?;
                for todo in page.items {
                    copier.todo(todo).await?;
                }
                match page.next {
                    Some(after) => todos.after = Some(after),
                    None => break,
                }
            }
        }
        match listed.next {
            Some(after) => users.after = Some(after),
            None => break,
        }
    }
    copier.finish("Migrated").await
}

pub(super) async fn import_chalice(cli: &Cli, args: &ImportChaliceArgs) -> CliResult {
    let client = dynamodb::client_from_env().await;
    let mut copier = Copier::new(cli.open_store().await?);
    let mut start = None;
    loop {
        let page = chalice::scan_users(&client, &args.users_table, start).await?;
        for record in page.records {
            match record {
                Ok(user) => copier.user(&user).await?,
                Err(why) => copier.refuse(&why),
            }
        }
        start = page.next;
        if start.is_none() {
            break;
        }
    }
    // Users first, all of them: a todo needs its owner in the target.
    copier.drain().await?;
    loop {
        let page = chalice::scan_todos(&client, &args.todos_table, start).await?;
        for record in page.records {
            match record {
                Ok(todo) => copier.todo(todo).await?,
                Err(why) => copier.refuse(&why),
            }
        }
        start = page.next;
        if start.is_none() {
            break;
        }
    }
    copier.finish("Imported").await
}
