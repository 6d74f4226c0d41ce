//! Lists on SQLite: the `lists` table; a todo's list is its `list` column (NULL: the Inbox).

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::error::from_sqlite;
use super::rows::{list_columns, member_columns, read_list, read_membership};
use super::{SqliteStore, query_all, sql_int};
use crate::domain::{ListCounts, ListId, ListName, Membership, Timestamp, TodoList, Username};
use crate::store::{ListStore, StoreError, StoreResult};

fn select_list(conn: &Connection, owner: &str, id: &str) -> StoreResult<Option<TodoList>> {
    let sql = concat!(
        "SELECT ",
        list_columns!(),
        " FROM lists WHERE owner = ?1 AND id = ?2"
    );
    Ok(query_all(conn, sql, params![owner, id], read_list)?.pop())
}

/// The list at the version expected, or why not.
fn check_version(
    conn: &Connection,
    owner: &str,
    id: &str,
    expected: Option<u64>,
) -> StoreResult<TodoList> {
    let list = select_list(conn, owner, id)?.ok_or(StoreError::NotFound)?;
    match expected {
        Some(version) if version != list.version => Err(StoreError::VersionMismatch {
            current: list.version,
        }),
        _ => Ok(list),
    }
}

#[async_trait]
impl ListStore for SqliteStore {
    async fn create_list(&self, list: &TodoList) -> StoreResult<()> {
        let row = list.clone();
        self.writer
            .write_unowned(move |conn| {
                let sql = concat!(
                    "INSERT INTO lists (",
                    list_columns!(),
                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                );
                conn.prepare_cached(sql)
                    .and_then(|mut stmt| {
                        stmt.execute(params![
                            row.owner.as_str(),
                            row.id.to_string(),
                            row.name.as_str(),
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

    async fn lists_of(&self, owner: &Username) -> StoreResult<Vec<TodoList>> {
        let owner = owner.to_string();
        self.readers.read(move |conn| {
            let sql = concat!(
                "SELECT ",
                list_columns!(),
                " FROM lists WHERE owner = ?1 ORDER BY created_at, id"
            );
            query_all(conn, sql, params![owner], read_list)
        })
    }

    async fn get_list(&self, owner: &Username, id: ListId) -> StoreResult<Option<TodoList>> {
        let owner = owner.to_string();
        self.readers
            .read(move |conn| select_list(conn, &owner, &id.to_string()))
    }

    async fn rename_list(
        &self,
        owner: &Username,
        id: ListId,
        name: &ListName,
        expected_version: Option<u64>,
        now: Timestamp,
    ) -> StoreResult<TodoList> {
        let (owner, id, name) = (owner.to_string(), id.to_string(), name.clone());
        self.writer
            .write_unowned(move |conn| {
                let mut list = check_version(conn, &owner, &id, expected_version)?;
                list.name = name.clone();
                list.updated_at = now;
                list.version += 1;
                conn.prepare_cached(
                    "UPDATE lists SET name = ?3, updated_at = ?4, version = ?5 \
                     WHERE owner = ?1 AND id = ?2",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        owner,
                        id,
                        list.name.as_str(),
                        now.to_string(),
                        sql_int(list.version)
                    ])
                })
                .map_err(from_sqlite)?;
                Ok(list)
            })
            .await
    }

    async fn delete_list(
        &self,
        owner: &Username,
        id: ListId,
        expected_version: Option<u64>,
    ) -> StoreResult<u64> {
        let (name, id) = (owner.to_string(), id.to_string());
        // Its todos and itself in one transaction: no todo can be put in it meanwhile.
        self.writer
            .write(owner, move |conn| {
                check_version(conn, &name, &id, expected_version)?;
                let todos = conn
                    .prepare_cached("DELETE FROM todos WHERE owner = ?1 AND list = ?2")
                    .and_then(|mut stmt| stmt.execute(params![name, id]))
                    .map_err(from_sqlite)?;
                conn.prepare_cached("DELETE FROM lists WHERE owner = ?1 AND id = ?2")
                    .and_then(|mut stmt| stmt.execute(params![name, id]))
                    .map_err(from_sqlite)?;
                Ok(todos as u64)
            })
            .await
    }

    async fn count_by_list(&self, owner: &Username) -> StoreResult<Vec<(ListId, ListCounts)>> {
        let owner = owner.clone();
        self.readers.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT list, state = 'completed', count(*) FROM todos WHERE owner = ?1 \
                     GROUP BY list, state = 'completed' ORDER BY list",
                )
                .map_err(from_sqlite)?;
            let mut rows = stmt.query(params![owner.as_str()]).map_err(from_sqlite)?;
            let mut counts: Vec<(ListId, ListCounts)> = Vec::new();
            while let Some(row) = rows.next().map_err(from_sqlite)? {
                let list: Option<String> = row.get(0).map_err(from_sqlite)?;
                let list = match list {
                    None => ListId::inbox_of(&owner),
                    Some(id) => ListId::parse(&id)
                        .map_err(|e| StoreError::Internal(format!("stored list id: {e}")))?,
                };
                let (completed, count): (bool, i64) = (
                    row.get(1).map_err(from_sqlite)?,
                    row.get(2).map_err(from_sqlite)?,
                );
                let count = u64::try_from(count).unwrap_or(0);
                if counts.last().is_none_or(|(l, _)| *l != list) {
                    counts.push((list, ListCounts::default()));
                }
                if let Some((_, c)) = counts.last_mut() {
                    match completed {
                        true => c.completed += count,
                        false => c.open += count,
                    }
                }
            }
            Ok(counts)
        })
    }

    async fn put_member(&self, membership: &Membership) -> StoreResult<bool> {
        let m = membership.clone();
        self.writer
            .write_unowned(move |conn| {
                let (owner, list) = (m.owner.as_str(), m.list.to_string());
                if select_list(conn, owner, &list)?.is_none() {
                    return Err(StoreError::NoList);
                }
                // The member's account, the very one the grant is for.
                let made: Option<String> = conn
                    .prepare_cached("SELECT created_at FROM users WHERE username = ?1")
                    .and_then(|mut stmt| {
                        stmt.query_row(params![m.member.as_str()], |row| row.get(0))
                            .optional()
                    })
                    .map_err(from_sqlite)?;
                if made != Some(m.since.to_string()) {
                    return Err(StoreError::NotFound);
                }
                let new = conn
                    .prepare_cached(concat!(
                        "INSERT INTO members (",
                        member_columns!(),
                        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                         ON CONFLICT (owner, list, member) DO NOTHING"
                    ))
                    .and_then(|mut stmt| {
                        stmt.execute(params![
                            owner,
                            list,
                            m.member.as_str(),
                            m.role.as_str(),
                            m.since.to_string(),
                            m.added_at.to_string(),
                        ])
                    })
                    .map_err(from_sqlite)?
                    == 1;
                if !new {
                    conn.prepare_cached(
                        "UPDATE members SET role = ?4 WHERE owner = ?1 AND list = ?2 AND member = ?3",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![owner, list, m.member.as_str(), m.role.as_str()])
                    })
                    .map_err(from_sqlite)?;
                }
                Ok(new)
            })
            .await
    }

    async fn members_of(&self, owner: &Username, list: ListId) -> StoreResult<Vec<Membership>> {
        let (owner, list) = (owner.to_string(), list.to_string());
        self.readers.read(move |conn| {
            let sql = concat!(
                "SELECT ",
                member_columns!(),
                " FROM members WHERE owner = ?1 AND list = ?2 ORDER BY member"
            );
            query_all(conn, sql, params![owner, list], read_membership)
        })
    }

    async fn remove_member(
        &self,
        owner: &Username,
        list: ListId,
        member: &Username,
    ) -> StoreResult<()> {
        let (owner, list, member) = (owner.to_string(), list.to_string(), member.to_string());
        self.writer
            .write_unowned(move |conn| {
                let removed = conn
                    .prepare_cached(
                        "DELETE FROM members WHERE owner = ?1 AND list = ?2 AND member = ?3",
                    )
                    .and_then(|mut stmt| stmt.execute(params![owner, list, member]))
                    .map_err(from_sqlite)?;
                match removed {
                    0 => Err(StoreError::NotFound),
                    _ => Ok(()),
                }
            })
            .await
    }

    async fn grants_of(&self, member: &Username) -> StoreResult<Vec<Membership>> {
        let member = member.to_string();
        self.readers.read(move |conn| {
            let sql = concat!(
                "SELECT ",
                member_columns!(),
                " FROM members WHERE member = ?1 ORDER BY added_at, list"
            );
            query_all(conn, sql, params![member], read_membership)
        })
    }

    async fn grant(&self, member: &Username, list: ListId) -> StoreResult<Option<Membership>> {
        let (member, list) = (member.to_string(), list.to_string());
        self.readers.read(move |conn| {
            let sql = concat!(
                "SELECT ",
                member_columns!(),
                " FROM members WHERE member = ?1 AND list = ?2"
            );
            Ok(query_all(conn, sql, params![member, list], read_membership)?.pop())
        })
    }
}
