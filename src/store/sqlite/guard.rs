//! Login failure records and idempotency records on SQLite.

use async_trait::async_trait;
use rusqlite::{Connection, params};

use super::error::from_sqlite;
use super::{SqliteStore, sql_int};
use crate::domain::{Timestamp, Username};
use crate::store::{Failures, GuardStore, Remembered, StoreError, StoreResult};

/// The unexpired record under `owner` and `key`, if any.
pub(super) fn recall(
    conn: &Connection,
    owner: &Username,
    key: &str,
) -> StoreResult<Option<Remembered>> {
    let now = sql_int(Timestamp::now().unix_seconds());
    let mut stmt = conn
        .prepare_cached(
            "SELECT fingerprint, answer, expires FROM idempotency \
             WHERE owner = ?1 AND key = ?2 AND expires >= ?3",
        )
        .map_err(from_sqlite)?;
    let mut rows = stmt
        .query(params![owner.as_str(), key, now])
        .map_err(from_sqlite)?;
    let Some(row) = rows.next().map_err(from_sqlite)? else {
        return Ok(None);
    };
    let expires: i64 = row.get(2).map_err(from_sqlite)?;
    Ok(Some(Remembered {
        owner: owner.clone(),
        key: key.to_owned(),
        fingerprint: row.get(0).map_err(from_sqlite)?,
        answer: row.get(1).map_err(from_sqlite)?,
        expires: expires.unsigned_abs(),
    }))
}

/// Keeps `answer`, replacing an expired record of its key; expired records go on the way.
pub(super) fn keep(conn: &Connection, answer: &Remembered) -> StoreResult<()> {
    let now = sql_int(Timestamp::now().unix_seconds());
    conn.prepare_cached("DELETE FROM idempotency WHERE expires < ?1")
        .and_then(|mut stmt| stmt.execute([now]))
        .map_err(from_sqlite)?;
    conn.prepare_cached(
        "INSERT INTO idempotency (owner, key, fingerprint, answer, expires) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            answer.owner.as_str(),
            answer.key,
            answer.fingerprint,
            answer.answer,
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

#[async_trait]
impl GuardStore for SqliteStore {
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
                    .and_then(|mut stmt| stmt.execute([&key]))
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
}
