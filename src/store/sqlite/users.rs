//! Profiles on SQLite: the `users` row, with the revocations kept beside it.

use async_trait::async_trait;
use rusqlite::{Connection, params};
use uuid::Uuid;

use super::error::from_sqlite;
use super::rows::{read_user, user_columns};
use super::{SqliteStore, query_all, sql_int};
use crate::domain::{Revocations, Timestamp, User, Username, Zone};
use crate::store::{Page, PageRequest, StoreError, StoreResult, UserStore};

/// Runs an UPDATE of one user's row; `NotFound` when there is no such user.
pub(super) fn update_user(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> StoreResult<()> {
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

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let row = user.clone();
        self.writer
            .write(&user.username, move |conn| {
                conn.prepare_cached(
                    "INSERT INTO users (username, password_hash, email, admin, created_at, tz) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        row.username.as_str(),
                        row.password_hash,
                        row.email.as_ref().map(|e| e.as_str()),
                        row.admin,
                        row.created_at.to_string(),
                        row.zone.as_ref().map(|z| z.name()),
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

    async fn set_zone(&self, username: &Username, zone: Option<&Zone>) -> StoreResult<()> {
        let (name, zone) = (username.to_string(), zone.map(|z| z.name().to_owned()));
        self.writer
            .write(username, move |conn| {
                update_user(
                    conn,
                    "UPDATE users SET tz = ?2 WHERE username = ?1",
                    params![name, zone],
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
}
