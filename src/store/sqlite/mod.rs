//! The embedded store: one SQLite file in the data dir, WAL, `synchronous=FULL`.

mod backup;
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
use self::rows::{read_session, read_todo, read_user, session_columns, todo_columns, user_columns};
use self::writer::Writer;
use super::{ChangeClock, Failures, Page, PageRequest, Remembered, Store, StoreError, StoreResult};
use crate::domain::{Revocations, Session, Timestamp, Todo, TodoPatch, TodoState, User, Username};

pub use self::backup::{backup, hold_while_serving, restore};

pub const DB_FILE: &str = "checkoff.db";

pub struct SqliteStore {
    writer: Writer,
    readers: Readers,
    clock: Arc<ChangeClock>,
    /// A connection kept to ask SQLite, on demand, whether another process has committed
    /// (`data_version` moves only for other connections' commits), with the last answer.
    watcher: std::sync::Mutex<(Connection, Option<i64>)>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database in `data_dir` and brings its schema up to date.
    pub fn open(data_dir: &Path) -> StoreResult<Self> {
        crate::files::create_private_dir(data_dir).map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot create data dir {}: {e}",
                data_dir.display()
            ))
        })?;
        let path: PathBuf = data_dir.join(DB_FILE);
        crate::files::prepare_private_database(&path).map_err(|e| {
            StoreError::Unavailable(format!("cannot create {}: {e}", path.display()))
        })?;
        let mut conn = open_connection(&path, false).map_err(from_sqlite)?;
        schema::migrate(&mut conn).map_err(StoreError::Internal)?;
        let clock = Arc::new(ChangeClock::default());
        let writer = Writer::start(conn, Arc::clone(&clock))
            .map_err(|e| StoreError::Internal(format!("cannot start the writer: {e}")))?;
        let watcher = open_connection(&path, true).map_err(from_sqlite)?;
        Ok(Self {
            watcher: std::sync::Mutex::new((watcher, None)),
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

/// Runs an UPDATE of one user's row; `NotFound` when there is no such user.
fn update_user(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> StoreResult<()> {
    let changed = conn
        .prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute(params))
        .map_err(from_sqlite)?;
    if changed == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

fn insert_todo(conn: &Connection, row: &Todo) -> StoreResult<()> {
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
}

/// The unexpired record under `owner` and `key`, if any.
fn recall(conn: &Connection, owner: &Username, key: &str) -> StoreResult<Option<Remembered>> {
    let now = sql_int(Timestamp::now().unix_seconds());
    let mut stmt = conn
        .prepare_cached(
            "SELECT fingerprint, status, body, expires FROM idempotency \
             WHERE owner = ?1 AND key = ?2 AND expires >= ?3",
        )
        .map_err(from_sqlite)?;
    let mut rows = stmt
        .query(params![owner.as_str(), key, now])
        .map_err(from_sqlite)?;
    let Some(row) = rows.next().map_err(from_sqlite)? else {
        return Ok(None);
    };
    let status: i64 = row.get(1).map_err(from_sqlite)?;
    let expires: i64 = row.get(3).map_err(from_sqlite)?;
    Ok(Some(Remembered {
        owner: owner.clone(),
        key: key.to_owned(),
        fingerprint: row.get(0).map_err(from_sqlite)?,
        status: u16::try_from(status).unwrap_or(500),
        body: row.get(2).map_err(from_sqlite)?,
        expires: expires.unsigned_abs(),
    }))
}

/// Keeps `answer`, replacing an expired record of its key; expired records go on the way.
fn keep(conn: &Connection, answer: &Remembered) -> StoreResult<()> {
    let now = sql_int(Timestamp::now().unix_seconds());
    conn.prepare_cached("DELETE FROM idempotency WHERE expires < ?1")
        .and_then(|mut stmt| stmt.execute([now]))
        .map_err(from_sqlite)?;
    conn.prepare_cached(
        "INSERT INTO idempotency (owner, key, fingerprint, status, body, expires) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            answer.owner.as_str(),
            answer.key,
            answer.fingerprint,
            answer.status,
            answer.body,
            sql_int(answer.expires),
        ])
    })
    .map_err(from_sqlite)?;
    Ok(())
}

fn select_failures(conn: &Connection, key: &str) -> StoreResult<Option<Failures>> {
    let mut stmt = conn
        .prepare_cached("SELECT count, last, locked_until FROM login_failures WHERE key = ?1")
        .map_err(from_sqlite)?;
    let mut rows = stmt.query([key]).map_err(from_sqlite)?;
    let Some(row) = rows.next().map_err(from_sqlite)? else {
        return Ok(None);
    };
    let number = |i: usize| -> StoreResult<u64> {
        row.get::<_, i64>(i)
            .map(i64::unsigned_abs)
            .map_err(from_sqlite)
    };
    Ok(Some(Failures {
        count: u32::try_from(number(0)?).unwrap_or(u32::MAX),
        last: number(1)?,
        locked_until: number(2)?,
    }))
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

    fn catch_up(&self) {
        let mut watcher = self.watcher.lock().unwrap_or_else(|p| p.into_inner());
        // Asked before every kept profile is served: prepared once, not parsed each time.
        let now = watcher
            .0
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut stmt| stmt.query_row([], |row| row.get::<_, i64>(0)))
            .ok();
        // Unreadable counts as changed: a stale answer is worse than a cache miss. This
        // connection also sees this process's own commits, so it only ends kept answers; the
        // writer, which sees other processes' commits alone, tells the live streams.
        if now.is_none() || (watcher.1.is_some() && now != watcher.1) {
            self.clock.maybe_external_change();
        }
        watcher.1 = now;
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
            let Some(mut user) = query_all(conn, sql, [&name], read_user)?.pop() else {
                return Ok(None);
            };
            let now = sql_int(Timestamp::now().unix_seconds());
            let mut stmt = conn
                .prepare_cached(
                    "SELECT session, until FROM revocations WHERE owner = ?1 AND until >= ?2",
                )
                .map_err(from_sqlite)?;
            let entries = stmt
                .query_map(params![name, now], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                })
                .map_err(from_sqlite)?
                .map(|entry| {
                    let (id, until) = entry.map_err(from_sqlite)?;
                    let id = Uuid::parse_str(&id)
                        .map_err(|e| StoreError::Internal(format!("stored revocation: {e}")))?;
                    Ok((id, until.unsigned_abs()))
                })
                .collect::<StoreResult<Vec<_>>>()?;
            user.revoked = Revocations::new(entries)
                .with_generation(user.revoked.generation(), user.revoked.kept());
            Ok(Some(user))
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
                update_user(
                    conn,
                    "UPDATE users SET password_hash = ?2 WHERE username = ?1",
                    params![name, hash],
                )
            })
            .await
    }

    async fn new_login_generation(
        &self,
        owner: &Username,
        password_hash: Option<&str>,
        keep: Option<Uuid>,
    ) -> StoreResult<()> {
        let (name, hash) = (owner.to_string(), password_hash.map(str::to_owned));
        let keep = keep.map(|id| id.to_string());
        self.writer
            .write(owner, move |conn| {
                update_user(
                    conn,
                    "UPDATE users SET login_generation = login_generation + 1, \
                     kept_session = ?3, password_hash = coalesce(?2, password_hash) \
                     WHERE username = ?1",
                    params![name, hash, keep],
                )?;
                // What a new generation ended needs no row of its own: the sessions go with it.
                conn.prepare_cached(
                    "DELETE FROM sessions WHERE owner = ?1 AND kind = 'login' \
                     AND (?2 IS NULL OR id != ?2)",
                )
                .and_then(|mut stmt| stmt.execute(params![name, keep]))
                .map_err(from_sqlite)?;
                Ok(())
            })
            .await
    }

    async fn set_admin(&self, username: &Username, admin: bool) -> StoreResult<()> {
        let name = username.to_string();
        self.writer
            .write(username, move |conn| {
                update_user(
                    conn,
                    "UPDATE users SET admin = ?2 WHERE username = ?1",
                    params![name, admin],
                )
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
                // Todos, sessions and revocations go by ON DELETE CASCADE, in this transaction.
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

    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        let row = session.clone();
        let routes = match &session.routes {
            Some(routes) => Some(
                serde_json::to_string(routes).map_err(|e| StoreError::Internal(e.to_string()))?,
            ),
            None => None,
        };
        self.writer
            .write(&session.owner, move |conn| {
                conn.prepare_cached(
                    "INSERT INTO sessions (owner, id, kind, refresh_hash, routes, created_at, \
                     expires_at, generation, previous_hash) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        row.owner.as_str(),
                        row.id.to_string(),
                        row.kind.as_str(),
                        row.refresh_hash,
                        routes,
                        row.created_at.to_string(),
                        row.expires_at.to_string(),
                        sql_int(row.generation),
                        row.previous_hash,
                    ])
                })
                .map_err(from_sqlite)?;
                Ok(())
            })
            .await
    }

    async fn get_session(&self, owner: &Username, id: Uuid) -> StoreResult<Option<Session>> {
        let (owner, id) = (owner.to_string(), id.to_string());
        self.readers.read(move |conn| {
            let sql = concat!(
                "SELECT ",
                session_columns!(),
                " FROM sessions WHERE id = ?1 AND owner = ?2"
            );
            Ok(query_all(conn, sql, [id, owner], read_session)?.pop())
        })
    }

    async fn find_session(&self, id: Uuid) -> StoreResult<Option<Session>> {
        let id = id.to_string();
        self.readers.read(move |conn| {
            let sql = concat!(
                "SELECT ",
                session_columns!(),
                " FROM sessions WHERE id = ?1"
            );
            Ok(query_all(conn, sql, [id], read_session)?.pop())
        })
    }

    async fn list_sessions(&self, owner: &Username) -> StoreResult<Vec<Session>> {
        let owner = owner.to_string();
        self.readers.read(move |conn| {
            let sql = concat!(
                "SELECT ",
                session_columns!(),
                " FROM sessions WHERE owner = ?1 ORDER BY created_at, id"
            );
            query_all(conn, sql, [owner], read_session)
        })
    }

    async fn rotate_session(
        &self,
        owner: &Username,
        id: Uuid,
        from: &str,
        to: &str,
    ) -> StoreResult<()> {
        let (name, id, from, to) = (
            owner.to_string(),
            id.to_string(),
            from.to_owned(),
            to.to_owned(),
        );
        self.writer
            .write(owner, move |conn| {
                let changed = conn
                    .prepare_cached(
                        "UPDATE sessions SET refresh_hash = ?4, previous_hash = ?3 \
                         WHERE id = ?1 AND owner = ?2 AND refresh_hash = ?3",
                    )
                    .and_then(|mut stmt| stmt.execute(params![id, name, from, to]))
                    .map_err(from_sqlite)?;
                if changed == 1 {
                    return Ok(());
                }
                let exists: i64 = conn
                    .prepare_cached("SELECT count(*) FROM sessions WHERE id = ?1 AND owner = ?2")
                    .and_then(|mut stmt| stmt.query_row([&id, &name], |row| row.get(0)))
                    .map_err(from_sqlite)?;
                Err(if exists == 0 {
                    StoreError::NotFound
                } else {
                    StoreError::Changed
                })
            })
            .await
    }

    async fn end_sessions(&self, owner: &Username, ended: &[(Uuid, u64)]) -> StoreResult<()> {
        let name = owner.to_string();
        let ended: Vec<(String, i64)> = ended
            .iter()
            .map(|(id, until)| (id.to_string(), sql_int(*until)))
            .collect();
        let now = sql_int(Timestamp::now().unix_seconds());
        self.writer
            .write(owner, move |conn| {
                let known: i64 = conn
                    .prepare_cached("SELECT count(*) FROM users WHERE username = ?1")
                    .and_then(|mut stmt| stmt.query_row([&name], |row| row.get(0)))
                    .map_err(from_sqlite)?;
                if known == 0 {
                    return Err(StoreError::NotFound);
                }
                conn.prepare_cached("DELETE FROM revocations WHERE owner = ?1 AND until < ?2")
                    .and_then(|mut stmt| stmt.execute(params![name, now]))
                    .map_err(from_sqlite)?;
                for (id, until) in &ended {
                    // A session whose tokens have all expired needs no record, only removal.
                    if *until >= now {
                        conn.prepare_cached(
                        "INSERT INTO revocations (owner, session, until) VALUES (?1, ?2, ?3) \
                         ON CONFLICT (owner, session) DO UPDATE SET until = max(until, excluded.until)",
                    )
                    .and_then(|mut stmt| stmt.execute(params![name, id, until]))
                    .map_err(from_sqlite)?;
                    }
                    conn.prepare_cached("DELETE FROM sessions WHERE id = ?1 AND owner = ?2")
                        .and_then(|mut stmt| stmt.execute([id, &name]))
                        .map_err(from_sqlite)?;
                }
                Ok(())
            })
            .await
    }

    async fn get_failures(&self, key: &str) -> StoreResult<Option<Failures>> {
        let key = key.to_owned();
        self.readers.read(move |conn| select_failures(conn, &key))
    }

    async fn put_failures(
        &self,
        key: &str,
        expected: Option<&Failures>,
        new: &Failures,
        forget_at: u64,
    ) -> StoreResult<()> {
        let (key, expected, new) = (key.to_owned(), expected.copied(), *new);
        let now = sql_int(Timestamp::now().unix_seconds());
        self.writer
            .write_unowned(move |conn| {
                // The writer runs one job at a time: nothing changes between read and write.
                if select_failures(conn, &key)? != expected {
                    return Err(StoreError::Changed);
                }
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO login_failures \
                     (key, count, last, locked_until, forget_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        key,
                        new.count,
                        sql_int(new.last),
                        sql_int(new.locked_until),
                        sql_int(forget_at),
                    ])
                })
                .map_err(from_sqlite)?;
                // Old records go as new ones come: the table holds only what still counts.
                conn.prepare_cached("DELETE FROM login_failures WHERE forget_at < ?1")
                    .and_then(|mut stmt| stmt.execute([now]))
                    .map_err(from_sqlite)?;
                Ok(())
            })
            .await
    }

    async fn clear_failures(&self, key: &str) -> StoreResult<()> {
        let key = key.to_owned();
        self.writer
            .write_unowned(move |conn| {
                conn.prepare_cached("DELETE FROM login_failures WHERE key = ?1")
                    .and_then(|mut stmt| stmt.execute([key]))
                    .map_err(from_sqlite)?;
                Ok(())
            })
            .await
    }

    async fn recall(&self, owner: &Username, key: &str) -> StoreResult<Option<Remembered>> {
        let (owner, key) = (owner.clone(), key.to_owned());
        self.readers.read(move |conn| recall(conn, &owner, &key))
    }

    async fn remember(&self, answer: &Remembered) -> StoreResult<Option<Remembered>> {
        let answer = answer.clone();
        self.writer
            .write(&answer.owner.clone(), move |conn| {
                if let Some(earlier) = recall(conn, &answer.owner, &answer.key)? {
                    return Ok(Some(earlier));
                }
                keep(conn, &answer)?;
                Ok(None)
            })
            .await
    }

    async fn create_todo_remembered(
        &self,
        todo: &Todo,
        answer: &Remembered,
    ) -> StoreResult<Option<Remembered>> {
        let (row, answer) = (todo.clone(), answer.clone());
        self.writer
            .write(&todo.username, move |conn| {
                if let Some(earlier) = recall(conn, &answer.owner, &answer.key)? {
                    return Ok(Some(earlier));
                }
                insert_todo(conn, &row)?;
                keep(conn, &answer)?;
                Ok(None)
            })
            .await
    }

    async fn create_todo(&self, todo: &Todo) -> StoreResult<()> {
        let row = todo.clone();
        self.writer
            .write(&todo.username, move |conn| insert_todo(conn, &row))
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

    async fn complete_all(&self, owner: &Username, now: Timestamp) -> StoreResult<u64> {
        let name = owner.to_string();
        self.writer
            .write(owner, move |conn| {
                let changed = conn
                    .prepare_cached(
                        "UPDATE todos SET state = 'completed', updated_at = ?2, \
                         version = version + 1 WHERE owner = ?1 AND state <> 'completed'",
                    )
                    .and_then(|mut stmt| stmt.execute(params![name, now.to_string()]))
                    .map_err(from_sqlite)?;
                Ok(changed as u64)
            })
            .await
    }

    async fn delete_in_state(&self, owner: &Username, state: TodoState) -> StoreResult<u64> {
        let name = owner.to_string();
        self.writer
            .write(owner, move |conn| {
                let deleted = conn
                    .prepare_cached("DELETE FROM todos WHERE owner = ?1 AND state = ?2")
                    .and_then(|mut stmt| stmt.execute(params![name, state.as_str()]))
                    .map_err(from_sqlite)?;
                Ok(deleted as u64)
            })
            .await
    }

    async fn list_todos_in_states(
        &self,
        states: &[TodoState],
        page: &PageRequest,
    ) -> StoreResult<Page<Todo>> {
        let states: Vec<&'static str> = states.iter().map(|s| s.as_str()).collect();
        let PageRequest { limit, after } = page.clone();
        // The position is `<created_at>#<uid>`, the order of the todos_by_state index.
        let (after_created, after_uid) = match &after {
            Some(position) => position
                .split_once('#')
                .map(|(c, u)| (c.to_owned(), u.to_owned()))
                .ok_or_else(|| StoreError::Internal(format!("bad position {position:?}")))?,
            None => (String::new(), String::new()),
        };
        self.readers.read(move |conn| {
            let fetch = i64::from(limit) + 1;
            let mut todos = Vec::new();
            // One ordered range per state from the index, merged: no sort of the whole table.
            for state in &states {
                let sql = concat!(
                    "SELECT ",
                    todo_columns!(),
                    " FROM todos WHERE state = ?1 AND (created_at, uid) > (?2, ?3) \
                     ORDER BY created_at, uid LIMIT ?4"
                );
                todos.extend(query_all(
                    conn,
                    sql,
                    params![state, after_created, after_uid, fetch],
                    read_todo,
                )?);
            }
            todos.sort_by_key(|t| (t.created_at, t.uid));
            todos.truncate(limit as usize + 1);
            Ok(Page::from_overfetch(todos, limit, |t| {
                format!("{}#{}", t.created_at, t.uid)
            }))
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
