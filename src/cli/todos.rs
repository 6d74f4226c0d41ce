//! `checkoff todos …`: a person's todos at a terminal, through the same services as the API
//! (the account's quota and write rate, the change feed), on the configured store.

use clap::Subcommand;

use super::{Cli, CliResult, Failure};
use crate::auth::{Decision, RouteGrants};
use crate::domain::{
    Description, Due, ListAsk, Metadata, Notes, Plan, Priority, Search, Sort, Title, Todo,
    TodoPatch, TodoState, User, Username, View, Zone,
};
use crate::services::{Created, Todos};
use crate::store::PageRequest;

#[derive(Debug, clap::Args)]
pub(super) struct TodosArgs {
    /// Whose todos (an existing account's name).
    #[arg(long, env = "CHECKOFF_USER")]
    user: String,
    /// The IANA time zone of `today`, `tomorrow`, the views and times without a zone
    /// [default: the profile's (`PATCH /users/NAME {"tz"}`), else $TZ when it names one, else
    /// UTC].
    #[arg(long, global = true)]
    tz: Option<String>,
    #[command(subcommand)]
    command: TodosCommand,
}

#[derive(Debug, Subcommand)]
enum TodosCommand {
    /// Add a todo; prints it.
    Add {
        /// What it says.
        text: String,
        /// When it is due: today, tomorrow, next-week, a date (2026-12-24) or a date and time
        /// ("2026-12-24 18:00", in --tz).
        #[arg(long)]
        due: Option<String>,
        /// none, low, medium or high.
        #[arg(long)]
        priority: Option<String>,
        /// A one-line summary shown instead of the text.
        #[arg(long)]
        title: Option<String>,
        /// Longer notes.
        #[arg(long)]
        notes: Option<String>,
    },
    /// List todos, one a line: state, due, priority, title or text, uid.
    List {
        /// today, overdue, upcoming or no-date (in --tz).
        #[arg(long)]
        view: Option<String>,
        /// unstarted, started or completed.
        #[arg(long)]
        state: Option<String>,
        /// created, position, due or priority [default: due with a view, else position].
        #[arg(long)]
        sort: Option<String>,
        /// Only todos with these words (the beginnings of words, any case, any accents).
        #[arg(long, short)]
        q: Option<String>,
    },
    /// Check a todo off (completed).
    Done {
        /// The todo's uid (as `list` prints it).
        uid: String,
    },
}

pub(super) async fn run(cli: &Cli, args: &TodosArgs) -> CliResult {
    let service = cli.service().await?;
    let username = Username::parse(&args.user)?;
    let Some(user) = service.store.get_user(&username).await? else {
        return Err(Failure(format!(
            "no user {} (see `checkoff users list`)",
            args.user
        )));
    };
    let zone = zone(args.tz.as_deref(), &user)?;
    let caller = person(&user);
    let todos = &service.todos;
    match &args.command {
        TodosCommand::Add {
            text,
            due,
            priority,
            title,
            notes,
        } => {
            let now = jiff::Timestamp::now();
            let plan = Plan {
                title: title.as_deref().map(Title::parse).transpose()?,
                notes: notes.as_deref().map(Notes::parse).transpose()?,
                priority: priority
                    .as_deref()
                    .map(str::parse)
                    .transpose()?
                    .unwrap_or_default(),
                due: due
                    .as_deref()
                    .map(|d| Due::from_words(d, &zone, now))
                    .transpose()?,
            };
            let todo = Todo::planned(
                username,
                Description::parse(text)?,
                Metadata::default(),
                plan,
            );
            match todos.create(&caller, todo, None).await.map_err(failed)? {
                Created::New(todo) => println!("{}", line(&todo)),
                Created::Before(_) => return Err("the todo was added before".into()),
            }
        }
        TodosCommand::List {
            view,
            state,
            sort,
            q,
        } => {
            let view: Option<View> = view.as_deref().map(str::parse).transpose()?;
            let default = if view.is_some() {
                Sort::Due
            } else {
                Sort::Position
            };
            let ask = ListAsk {
                state: state.as_deref().map(str::parse).transpose()?,
                view,
                search: q.as_deref().map(Search::parse).transpose()?,
                sort: sort
                    .as_deref()
                    .map(str::parse)
                    .transpose()?
                    .unwrap_or(default),
                ..ListAsk::default()
            };
            let query = ask.query(&zone, jiff::Timestamp::now())?;
            let listed = every_page(todos, &caller.owner, &query).await?;
            if listed.is_empty() {
                eprintln!("No todos.");
            }
            for todo in listed {
                println!("{}", line(&todo));
            }
        }
        TodosCommand::Done { uid } => {
            let uid = uuid::Uuid::try_parse(uid.trim())
                .map_err(|_| Failure(format!("{uid:?} is not a todo's uid (see `todos list`)")))?;
            let patch = TodoPatch {
                state: Some(TodoState::Completed),
                ..TodoPatch::default()
            };
            let done = todos
                .update(&caller, uid, &patch, None)
                .await
                .map_err(failed)?;
            println!("{}", line(&done));
        }
    }
    Ok(())
}

/// The person at the terminal, acting on their own todos as the API would let them.
fn person(user: &User) -> Decision {
    Decision {
        principal: user.username.shared(),
        owner: user.username.clone(),
        account: Some(user.created_at),
        usage: user.usage,
        authorizer: "cli",
        admin: false,
        routes: RouteGrants::all(),
        context: Default::default(),
    }
}

/// `--tz`, else the person's profile's, else `$TZ` when it is an IANA name (not a POSIX rule
/// like `EST5EDT`), else UTC.
fn zone(tz: Option<&str>, user: &User) -> Result<Zone, Failure> {
    if let Some(tz) = tz {
        return Ok(Zone::parse(tz)?);
    }
    if let Some(zone) = &user.zone {
        return Ok(zone.clone());
    }
    let system = std::env::var("TZ").ok();
    Ok(system
        .and_then(|tz| Zone::parse(tz.trim_start_matches(':')).ok())
        .unwrap_or_else(Zone::utc))
}

async fn every_page(
    todos: &Todos,
    owner: &Username,
    query: &crate::domain::TodoQuery,
) -> Result<Vec<Todo>, Failure> {
    let mut all = Vec::new();
    let mut page = PageRequest::first(1000);
    loop {
        let listed = todos.page(owner, query, &page).await.map_err(failed)?;
        all.extend(listed.items);
        match listed.next {
            Some(next) => page.after = Some(next),
            None => return Ok(all),
        }
    }
}

/// `[ ] 2026-12-24 18:00 Europe/Berlin  high    Buy milk  0193…`
fn line(todo: &Todo) -> String {
    let done = match todo.state {
        TodoState::Unstarted => "[ ]",
        TodoState::Started => "[~]",
        TodoState::Completed => "[x]",
    };
    let due = match &todo.due {
        None => String::new(),
        Some(Due::Day(day)) => day.to_string(),
        Some(Due::At { local, zone, .. }) => format!("{} {zone}", local.strftime("%Y-%m-%d %H:%M")),
    };
    let priority = match todo.priority {
        Priority::None => "",
        other => other.as_str(),
    };
    let text = todo
        .title
        .as_ref()
        .map_or(todo.description.as_str(), |t| t.as_str());
    format!("{done} {due:<16} {priority:<6} {text}  {}", todo.uid)
}

fn failed(e: crate::services::ServiceError) -> Failure {
    Failure(e.to_string())
}
