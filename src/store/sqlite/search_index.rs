//! Bringing the search index up to date: new and changed todos wait in `todo_words_pending`
//! (schema migration 11) and are indexed together, by the writer when it is idle or a second
//! has passed, and before any search is read.

use rusqlite::Connection;

use super::error::from_sqlite;
use crate::store::StoreResult;

/// Puts every waiting todo into the index with its texts as they are now.
pub(super) fn index_pending(conn: &Connection) -> StoreResult<()> {
    index_some(conn, -1)
}

/// Most todos the writer indexes in one transaction of its own: a second's backlog of creates
/// (thousands) in one held every write queued behind it for tens of milliseconds, and FTS5 kept
/// the whole batch's terms in memory until its COMMIT (megabytes at the server's peak).
pub(super) const INDEX_CHUNK: i64 = 500;

/// Puts the first `limit` waiting todos (all of them if negative) into the index.
pub(super) fn index_some(conn: &Connection, limit: i64) -> StoreResult<()> {
    // The same first rows in each step (by the key; nothing else writes in between). A todo
    // indexed before keeps its number (its old entry was taken out when noted).
    const STEPS: [&str; 3] = [
        "INSERT OR IGNORE INTO todo_search_ids (owner, uid) \
         SELECT owner, uid FROM todo_words_pending ORDER BY owner, uid LIMIT ?1",
        "INSERT INTO todo_words (rowid, owner, title, description, notes) \
         SELECT i.id, t.owner, t.title, t.description, t.notes \
         FROM (SELECT owner, uid FROM todo_words_pending ORDER BY owner, uid LIMIT ?1) p \
         JOIN todo_search_ids i ON i.owner = p.owner AND i.uid = p.uid \
         JOIN todos t ON t.owner = p.owner AND t.uid = p.uid",
        "DELETE FROM todo_words_pending WHERE (owner, uid) IN \
         (SELECT owner, uid FROM todo_words_pending ORDER BY owner, uid LIMIT ?1)",
    ];
    for step in STEPS {
        conn.prepare_cached(step)
            .and_then(|mut stmt| stmt.execute([limit]))
            .map_err(from_sqlite)?;
    }
    Ok(())
}

/// Whether any todo waits for the index.
pub(super) fn any_pending(conn: &Connection) -> StoreResult<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM todo_words_pending)")
        .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
        .map_err(from_sqlite)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::domain::{Description, Metadata, Todo, User, Username};
    use crate::store::sqlite::{DB_FILE, open_connection};
    use crate::store::{SqliteStore, TodoStore, UserStore};

    /// A store with the user alice, who writes `count` todos about oat milk at once.
    async fn alice_writes(dir: &std::path::Path, count: i64) -> SqliteStore {
        let store = SqliteStore::open(dir).unwrap();
        let alice = Username::parse("alice").unwrap();
        store
            .create_user(&User::new(alice.clone(), "$argon2id$x".into(), None, false))
            .await
            .unwrap();
        let creates = (0..count).map(|n| {
            let description = Description::parse(&format!("Buy oat milk, carton {n}")).unwrap();
            let todo = Todo::new(alice.clone(), description, Metadata::default());
            let store = &store;
            async move { store.create_todo(&todo).await.unwrap() }
        });
        futures_util::future::join_all(creates).await;
        store
    }

    /// How many todos the index finds for "oat", once nothing waits for it (seen from another
    /// connection, as another process would), within `within`.
    async fn found_once_indexed(dir: &std::path::Path, within: Duration) -> i64 {
        let elsewhere = open_connection(&dir.join(DB_FILE), true).unwrap();
        let deadline = Instant::now() + within;
        while any_pending(&elsewhere).unwrap() {
            assert!(Instant::now() < deadline, "still waiting after {within:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        elsewhere
            .query_row(
                "SELECT count(*) FROM todo_words WHERE todo_words MATCH 'oat'",
                [],
                |row| row.get(0),
            )
            .unwrap()
    }

    /// Nothing waits long for the index when nobody searches: the writer indexes a new todo
    /// by itself.
    #[tokio::test]
    async fn the_writer_indexes_new_texts_without_a_search() {
        let dir = tempfile::tempdir().unwrap();
        let _store = alice_writes(dir.path(), 1).await;
        assert_eq!(
            found_once_indexed(dir.path(), Duration::from_secs(5)).await,
            1
        );
    }

    /// A backlog larger than a chunk goes into the index a chunk at a time, between writes,
    /// with nothing left out or indexed twice.
    #[tokio::test]
    async fn a_backlog_is_indexed_whole_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let backlog = INDEX_CHUNK * 2 + 100;
        let _store = alice_writes(dir.path(), backlog).await;
        assert_eq!(
            found_once_indexed(dir.path(), Duration::from_secs(20)).await,
            backlog
        );
    }
}
