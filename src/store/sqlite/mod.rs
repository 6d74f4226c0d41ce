//! The embedded store: one SQLite file in the data dir, WAL, `synchronous=FULL`.

mod error;
mod readers;
mod rows;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, Row, params};
use uuid::Uuid;

use self::error::from_sqlite;
use self::readers::Readers;
use self::rows::{read_todo, read_user, todo_columns, user_columns};
use self::writer::Writer;
use super::{ChangeClock, Page, PageRequest, Store, StoreError, StoreResult};
use crate::domain::{Timestamp, Todo, TodoPatch, TodoState, User, Username};

pub const DB_FILE: &str = "checkoff.db";

pub struct SqliteStore {
    writer: Writer,
    readers: Readers,
    clock: Arc<ChangeClock>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database in `data_dir` and brings its schema up to date.
    pub fn open(data_dir: &Path) -> StoreResult<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot create data dir {}: {e}",
                data_dir.display()
            ))
        })?;
        let path: PathBuf = data_dir.join(DB_FILE);
        let mut conn = open_connection(&path, false).map_err(from_sqlite)?;
        schema::migrate(&mut conn).map_err(StoreError::Internal)?;
        let clock = Arc::new(ChangeClock::default());
        let writer = Writer::start(conn, Arc::clone(&clock))
            .map_err(|e| StoreError::Internal(format!("cannot start the writer: {e}")))?;
        Ok(Self {
            writer,
            readers: Readers::new(path),
            clock,
        })
    }
}

pub(super) fn open_connection(path: &Path, read_only: bool) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: in WAL mode only this fsyncs at every commit, so a 2xx means the write is on disk.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // 1 MiB of page cache per connection (SQLite's default is 2 MiB): hot pages stay, the OS page
    // cache holds the rest, and a few connections do not add up to the service's memory budget.
    conn.pragma_update(None, "cache_size", -1024)?;
    // A stable plan per statement: otherwise SQLite re-prepares a cached statement whenever a new
    // LIMIT is bound (profiled: a fifth of a list request went to re-parsing its SQL).
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    if read_only {
        conn.pragma_update(None, "query_only", "ON")?;
    }
    Ok(conn)
}

/// Runs a cached statement and turns each row into a domain value with `read`.
fn query_all<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    read: fn(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(from_sqlite)?;
    let mut rows = stmt.query(params).map_err(from_sqlite)?;
    let mut values = Vec::new();
    while let Some(row) = rows.next().map_err(from_sqlite)? {
        values.push(read(row)?);
    }
    Ok(values)
}

fn select_todo(conn: &Connection, owner: &str, uid: &str) -> StoreResult<Option<Todo>> {
    let sql = concat!(
        "SELECT ",
        todo_columns!(),
        " FROM todos WHERE owner = ?1 AND uid = ?2"
    );
    Ok(query_all(conn, sql, params![owner, uid], read_todo)?.pop())
}

/// The current version of a todo, or why the caller may not change it.
fn check_version(
    conn: &Connection,
    owner: &str,
    uid: &str,
    expected: Option<u64>,
) -> StoreResult<Todo> {
    let current = select_todo(conn, owner, uid)?.ok_or(StoreError::NotFound)?;
    match expected {
        Some(version) if version != current.version => Err(StoreError::VersionMismatch {
            current: current.version,
        }),
        _ => Ok(current),
    }
}

/// SQLite integers are signed; versions never come near the limit.
fn sql_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.readers.read(|conn| {
            conn.query_row("SELECT 1", [], |_| Ok(()))
                .map_err(from_sqlite)
        })
    }

    fn changes(&self) -> Option<&ChangeClock> {
        Some(&self.clock)
    }

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let row = user.clone();
        self.writer
            .write(&user.username, move |conn| {
                conn.prepare_cached(
                    "INSERT INTO users (username, password_hash, email, admin, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        row.username.as_str(),
                        row.password_hash,
                        row.email.as_ref().map(|e| e.as_str()),
                        row.admin,
                        row.created_at.to_string(),
                    ])
                })
                .map_err(from_sqlite)?;
                Ok(())
            })
            .await
    }

    async fn get_user(&self, username: &Username) -> StoreResult<Option<User>> {
        let name = username.as_str().to_owned();
        self.readers.read(move |conn| {
            let sql = concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE username = ?1"
            );
            Ok(query_all(conn, sql, [name], read_user)?.pop())
        })
    }

    async fn list_users(&self, page: &PageRequest) -> StoreResult<Page<User>> {
        let PageRequest { limit, after } = page.clone();
        self.readers.read(move |conn| {
            let sql = concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE username > ?1 ORDER BY username LIMIT ?2"
            );
            let fetch = i64::from(limit) + 1;
            let users = query_all(
                conn,
                sql,
                params![after.unwrap_or_default(), fetch],
                read_user,
            )?;
            Ok(Page::from_overfetch(users, limit, |u| {
                u.username.to_string()
            }))
        })
    }

    async fn set_password_hash(&self, username: &Username, hash: &str) -> StoreResult<()> {
        let (name, hash) = (username.to_string(), hash.to_owned());
        self.writer
            .write(username, move |conn| {
                let changed = conn
                    .prepare_cached("UPDATE users SET password_hash = ?2 WHERE username = ?1")
                    .and_then(|mut stmt| stmt.execute(params![name, hash]))
                    .map_err(from_sqlite)?;
                if changed == 0 {
                    Err(StoreError::NotFound)
                } else {
                    Ok(())
                }
            })
            .await
    }

    async fn delete_user(&self, username: &Username) -> StoreResult<u64> {
        let name = username.to_string();
        self.writer
            .write(username, move |conn| {
                let todos: i64 = conn
                    .prepare_cached("SELECT count(*) FROM todos WHERE owner = ?1")
                    .and_then(|mut stmt| stmt.query_row([&name], |row| row.get(0)))
                    .map_err(from_sqlite)?;
                // The todos go by ON DELETE CASCADE, in the same transaction.
                let deleted = conn
                    .prepare_cached("DELETE FROM users WHERE username = ?1")
                    .and_then(|mut stmt| stmt.execute([&name]))
                    .map_err(from_sqlite)?;
                if deleted == 0 {
                    Err(StoreError::NotFound)
                } else {
                    Ok(todos.unsigned_abs())
                }
            })
            .await
    }

    async fn create_todo(&self, todo: &Todo) -> StoreResult<()> {
        let row = todo.clone();
        self.writer
            .write(&todo.username, move |conn| {
                conn.prepare_cached(
                    "INSERT INTO todos (owner, uid, description, state, metadata, created_at, \
                     updated_at, version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        row.username.as_str(),
                        row.uid.to_string(),
                        row.description.as_str(),
                        row.state.as_str(),
                        row.metadata.as_json(),
                        row.created_at.to_string(),
                        row.updated_at.to_string(),
                        sql_int(row.version),
                    ])
                })
                .map_err(from_sqlite)?;
                Ok(())
            })
            .await
    }

    async fn get_todo(&self, owner: &Username, uid: Uuid) -> StoreResult<Option<Todo>> {
        let owner = owner.to_string();
        self.readers
            .read(move |conn| select_todo(conn, &owner, &uid.to_string()))
    }

    async fn list_todos(
        &self,
        owner: &Username,
        state: Option<TodoState>,
        page: &PageRequest,
    ) -> StoreResult<Page<Todo>> {
        let owner = owner.to_string();
        let PageRequest { limit, after } = page.clone();
        self.readers.read(move |conn| {
            let after = after.unwrap_or_default();
            let fetch = i64::from(limit) + 1;
            let todos = match state {
                None => {
                    let sql = concat!(
                        "SELECT ",
                        todo_columns!(),
                        " FROM todos WHERE owner = ?1 AND uid > ?2 ORDER BY uid LIMIT ?3"
                    );
                    query_all(conn, sql, params![owner, after, fetch], read_todo)?
                }
                Some(state) => {
                    let sql = concat!(
                        "SELECT ",
                        todo_columns!(),
                        " FROM todos WHERE owner = ?1 AND state = ?2 AND uid > ?3 \
                         ORDER BY uid LIMIT ?4"
                    );
                    query_all(
                        conn,
                        sql,
                        params![owner, state.as_str(), after, fetch],
                        read_todo,
                    )?
                }
            };
            Ok(Page::from_overfetch(todos, limit, |t| t.uid.to_string()))
        })
    }

    async fn update_todo(
        &self,
        owner: &Username,
        uid: Uuid,
        patch: &TodoPatch,
        expected_version: Option<u64>,
        now: Timestamp,
    ) -> StoreResult<Todo> {
        let (name, uid, patch) = (owner.to_string(), uid.to_string(), patch.clone());
        self.writer
            .write(owner, move |conn| {
                // The writer thread runs one job at a time, so nothing can change the row
                // between this read and the UPDATE: no lost updates.
                let updated =
                    check_version(conn, &name, &uid, expected_version)?.patched(&patch, now);
                conn.prepare_cached(
                    "UPDATE todos SET description = ?3, state = ?4, metadata = ?5, \
                     updated_at = ?6, version = ?7 WHERE owner = ?1 AND uid = ?2",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        name,
                        uid,
                        updated.description.as_str(),
                        updated.state.as_str(),
                        updated.metadata.as_json(),
                        updated.updated_at.to_string(),
                        sql_int(updated.version),
                    ])
                })
                .map_err(from_sqlite)?;
                Ok(updated)
            })
            .await
    }

    async fn delete_todo(
        &self,
        owner: &Username,
        uid: Uuid,
        expected_version: Option<u64>,
    ) -> StoreResult<()> {
        let (name, uid) = (owner.to_string(), uid.to_string());
        self.writer
            .write(owner, move |conn| {
                check_version(conn, &name, &uid, expected_version)?;
                conn.prepare_cached("DELETE FROM todos WHERE owner = ?1 AND uid = ?2")
                    .and_then(|mut stmt| stmt.execute([&name, &uid]))
                    .map_err(from_sqlite)?;
                Ok(())
            })
            .await
    }
}
