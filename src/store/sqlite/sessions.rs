//! Sessions on SQLite, and their ending: revocations in their own table, the login generation
//! on the `users` row.

use async_trait::async_trait;
use rusqlite::params;
use uuid::Uuid;

use super::error::from_sqlite;
use super::rows::{read_session, session_columns};
use super::users::update_user;
use super::{SqliteStore, query_all, sql_int};
use crate::domain::{Session, Timestamp, Username};
use crate::store::{EXPIRED_SESSIONS_FORGOTTEN, SessionStore, StoreError, StoreResult};

#[async_trait]
impl SessionStore for SqliteStore {
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

    async fn forget_expired_sessions(
        &self,
        owner: &Username,
        before: Timestamp,
    ) -> StoreResult<()> {
        let (name, before) = (owner.to_string(), before.to_string());
        // Most logins find none: asked of a reader, so they cost the writer nothing.
        let any: bool = self.readers.read(|conn| {
            conn.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM sessions WHERE owner = ?1 AND expires_at < ?2)",
            )
            .and_then(|mut stmt| stmt.query_row(params![name, before], |row| row.get(0)))
            .map_err(from_sqlite)
        })?;
        if !any {
            return Ok(());
        }
        self.writer
            .write(owner, move |conn| {
                conn.prepare_cached(
                    // By key: `owner = ?1` out here too would scan all the owner's sessions.
                    "DELETE FROM sessions WHERE id IN \
                     (SELECT id FROM sessions WHERE owner = ?1 AND expires_at < ?2 LIMIT ?3)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![name, before, EXPIRED_SESSIONS_FORGOTTEN])
                })
                .map_err(from_sqlite)?;
                Ok(())
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
}
