//! The change log on SQLite: the `change_log` table, filled by triggers in each write's own
//! transaction (migration 13), read here in one snapshot.

use std::collections::HashSet;

use async_trait::async_trait;
use rusqlite::{Connection, params};
use uuid::Uuid;

use super::error::from_sqlite;
use super::rows::{read_todo, todo_columns};
use super::{SqliteStore, query_all};
use crate::domain::{ListId, Username};
use crate::store::{Changes, SYNC_HISTORY_SECONDS, StoreError, StoreResult, SyncStore};

/// Entries are kept a day past the history promised, so a token at its edge finds them all.
const PRUNE_AFTER_SECONDS: u64 = SYNC_HISTORY_SECONDS + 24 * 3600;

fn point(conn: &Connection) -> StoreResult<u64> {
    let seq: i64 = conn
        .prepare_cached("SELECT coalesce(max(seq), 0) FROM change_log")
        .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
        .map_err(from_sqlite)?;
    Ok(u64::try_from(seq).unwrap_or(0))
}

/// Forgets entries older than the history kept, but never the newest (the next `seq` is one
/// past it); the writer calls it now and then. Entries are read from the oldest up to the
/// first young enough: as many as go.
pub(super) fn prune(conn: &Connection) -> rusqlite::Result<usize> {
    let sql = "DELETE FROM change_log WHERE seq < coalesce(\
               (SELECT seq FROM change_log WHERE at >= unixepoch() - ?1 ORDER BY seq LIMIT 1), \
               (SELECT max(seq) FROM change_log))";
    conn.prepare_cached(sql)?
        .execute(params![PRUNE_AFTER_SECONDS as i64])
}

fn id_of(text: &str) -> StoreResult<Uuid> {
    text.parse()
        .map_err(|_| StoreError::Internal(format!("bad id {text:?} in the change log")))
}

fn changes(
    conn: &Connection,
    owner: &str,
    lists: Option<&str>,
    since: i64,
) -> StoreResult<Changes> {
    // Without `lists`, everything in the owner's log; with them, only what is or was in one.
    let sql = "SELECT DISTINCT kind, id FROM change_log WHERE owner = ?1 AND seq > ?2 \
               AND (?3 IS NULL OR (kind <> 'grant' AND (list IN (SELECT value FROM json_each(?3)) \
               OR left IN (SELECT value FROM json_each(?3)))))";
    let mut stmt = conn.prepare_cached(sql).map_err(from_sqlite)?;
    let mut rows = stmt
        .query(params![owner, since, lists])
        .map_err(from_sqlite)?;
    let mut changed: Vec<(String, String)> = Vec::new();
    while let Some(row) = rows.next().map_err(from_sqlite)? {
        changed.push((
            row.get(0).map_err(from_sqlite)?,
            row.get(1).map_err(from_sqlite)?,
        ));
    }
    let mut found = Changes::default();
    let mut todo_ids = Vec::new();
    for (kind, id) in changed {
        match kind.as_str() {
            "todo" => todo_ids.push(id),
            "list" => found.lists.push(ListId::from(id_of(&id)?)),
            _ => found.grants.push(ListId::from(id_of(&id)?)),
        }
    }
    if !todo_ids.is_empty() {
        let ids =
            serde_json::to_string(&todo_ids).map_err(|e| StoreError::Internal(e.to_string()))?;
        let sql = concat!(
            "SELECT ",
            todo_columns!(),
            " FROM todos WHERE owner = ?1 AND uid IN (SELECT value FROM json_each(?2))"
        );
        found.todos = query_all(conn, sql, params![owner, ids], read_todo)?;
        let there: HashSet<Uuid> = found.todos.iter().map(|t| t.uid).collect();
        for id in todo_ids {
            let uid = id_of(&id)?;
            if !there.contains(&uid) {
                found.gone.push(uid);
            }
        }
    }
    Ok(found)
}

#[async_trait]
impl SyncStore for SqliteStore {
    async fn sync_point(&self) -> StoreResult<u64> {
        self.readers.read(point)
    }

    async fn changes_since(
        &self,
        owner: &Username,
        lists: Option<&[ListId]>,
        since: u64,
    ) -> StoreResult<Changes> {
        let owner = owner.to_string();
        let lists = lists
            .map(|lists| {
                let ids: Vec<String> = lists.iter().map(ToString::to_string).collect();
                serde_json::to_string(&ids).map_err(|e| StoreError::Internal(e.to_string()))
            })
            .transpose()?;
        let since = i64::try_from(since).unwrap_or(i64::MAX);
        self.readers.read(move |conn| {
            // One snapshot: the todos read are those the log's entries point at.
            let tx = conn.unchecked_transaction().map_err(from_sqlite)?;
            let found = changes(&tx, &owner, lists.as_deref(), since)?;
            tx.finish().map_err(from_sqlite)?;
            Ok(found)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_forgets_old_entries_but_never_the_newest() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        let log = |age_days: i64| {
            conn.execute(
                "INSERT INTO change_log (owner, kind, id, at) \
                 VALUES ('alice', 'list', 'x', unixepoch() - ?1 * 86400)",
                params![age_days],
            )
            .unwrap()
        };
        for _ in 0..3 {
            log(40);
        }
        assert_eq!(point(&conn).unwrap(), 3);
        assert_eq!(prune(&conn).unwrap(), 2, "all old ones but the newest");
        assert_eq!(point(&conn).unwrap(), 3, "the point never goes back");
        log(0);
        assert_eq!(point(&conn).unwrap(), 4);
        assert_eq!(prune(&conn).unwrap(), 1, "the old one before a young one");
        assert_eq!(prune(&conn).unwrap(), 0);
        assert_eq!(point(&conn).unwrap(), 4);
    }
}
