//! Todos on SQLite. The usage counts on the `users` row follow every write by trigger
//! (`schema.rs`).

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{Connection, Statement, params, params_from_iter};
use uuid::Uuid;

use super::error::from_sqlite;
use super::guard::{keep, recall};
use super::rows::{list_column, read_todo, todo_columns};
use super::search_index::{any_pending, index_pending};
use super::{SqliteStore, query_all, sql_int};
use crate::domain::{
    Due, DueFilter, Search, Sort, Timestamp, Todo, TodoPatch, TodoQuery, TodoState, Username,
};
use crate::store::{Page, PageRequest, Placement, Remembered, StoreError, StoreResult, TodoStore};

fn select_todo(conn: &Connection, owner: &str, uid: &str) -> StoreResult<Option<Todo>> {
    let sql = concat!(
        "SELECT ",
        todo_columns!(),
        " FROM todos WHERE owner = ?1 AND uid = ?2"
    );
    Ok(query_all(conn, sql, params![owner, uid], read_todo)?.pop())
}

fn insert_todo(conn: &Connection, row: &Todo) -> StoreResult<()> {
    let sql = concat!(
        "INSERT INTO todos (",
        todo_columns!(),
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
         ?18, ?19, ?20)"
    );
    let (due_day, local, zone, utc) = due_columns(row.due.as_ref());
    let list = list_column(&row.username, row.list);
    list_exists(conn, row.username.as_str(), list.as_deref())?;
    conn.prepare_cached(sql)
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
                row.title.as_ref().map(|t| t.as_str()),
                row.notes.as_ref().map(|n| n.as_str()),
                row.priority.rank(),
                due_day,
                local,
                zone,
                utc,
                row.position.as_str(),
                row.completed_at.map(|t| t.to_string()),
                list,
                row.created_by.as_ref().map(Username::as_str),
                row.updated_by.as_ref().map(Username::as_str),
            ])
        })
        .map_err(from_sqlite)?;
    Ok(())
}

/// The four columns a due is kept in (`due_day`, `due_at`, `due_tz`, `due_utc`), NULL where it
/// has no value.
fn due_columns(
    due: Option<&Due>,
) -> (Option<String>, Option<String>, Option<&str>, Option<String>) {
    match due.and_then(|d| d.at_text()) {
        Some((local, zone, utc)) => (None, Some(local), Some(zone), Some(utc)),
        None => (due.and_then(|d| d.day_text()), None, None, None),
    }
}

/// The SELECT of one page of `owner`'s todos that `query` admits, after `after` (a position of
/// [`TodoQuery::position_of`]), one past `limit`, and its parameters.
fn list_sql(
    owner: &str,
    query: &TodoQuery,
    after: Option<&str>,
    limit: u32,
) -> StoreResult<(String, Vec<Value>)> {
    let mut sql = String::from(concat!(
        "SELECT ",
        todo_columns!(),
        " FROM todos WHERE owner = ?"
    ));
    let mut values = vec![Value::Text(owner.to_owned())];
    if let Some(state) = query.state {
        sql.push_str(" AND state = ?");
        values.push(Value::Text(state.as_str().into()));
    }
    if query.open {
        sql.push_str(" AND state <> 'completed'");
    }
    if let Some(list) = query.list {
        let owner = Username::parse(owner).map_err(|e| StoreError::Internal(e.to_string()))?;
        match list_column(&owner, list) {
            Some(id) => {
                sql.push_str(" AND list = ?");
                values.push(Value::Text(id));
            }
            None => sql.push_str(" AND list IS NULL"),
        }
    }
    due_sql(&query.due, &mut sql, &mut values);
    if let Some(search) = &query.search {
        sql.push_str(
            " AND uid IN (SELECT i.uid FROM todo_words JOIN todo_search_ids i \
             ON i.id = todo_words.rowid WHERE todo_words MATCH ? AND i.owner = ?)",
        );
        values.push(Value::Text(words_query(owner, search)));
        values.push(Value::Text(owner.to_owned()));
    }
    // The sort key as SQL, and a position's key as a value it compares with.
    let key = match query.sort {
        Sort::Created => None,
        Sort::Position => Some("position"),
        Sort::Due => Some("coalesce(due_day, due_utc, '~')"),
        Sort::Priority => Some("(3 - priority)"),
    };
    if let Some(after) = after {
        let bad = || StoreError::Internal(format!("bad position {after:?}"));
        let (after_key, after_uid) = query.split_position(after).ok_or_else(bad)?;
        match key {
            None => sql.push_str(" AND uid > ?"),
            Some(key) => {
                sql.push_str(&format!(" AND ({key}, uid) > (?, ?)"));
                values.push(match query.sort {
                    Sort::Priority => Value::Integer(after_key.parse().map_err(|_| bad())?),
                    _ => Value::Text(after_key.to_owned()),
                });
            }
        }
        values.push(Value::Text(after_uid.to_owned()));
    }
    match key {
        None => sql.push_str(" ORDER BY uid LIMIT ?"),
        Some(key) => sql.push_str(&format!(" ORDER BY {key}, uid LIMIT ?")),
    }
    values.push(Value::Integer(i64::from(limit) + 1));
    Ok((sql, values))
}

/// Applies `patch` to one row, at `expected` if given. The writer thread runs one job at a
/// time, so nothing can change the row between this read and the UPDATE: no lost updates.
fn update_row(
    conn: &Connection,
    name: &str,
    uid: &str,
    patch: &TodoPatch,
    expected: Option<u64>,
    now: Timestamp,
) -> StoreResult<Todo> {
    let current = check_version(conn, name, uid, expected)?;
    let updated = current.clone().patched(patch, now);
    if patch.list.is_some() {
        list_exists(
            conn,
            name,
            list_column(&updated.username, updated.list).as_deref(),
        )?;
    }
    let Update {
        sql,
        values,
        fields,
    } = update_sql(name, uid, &current, &updated);
    let run = |stmt: &mut Statement<'_>| stmt.execute(params_from_iter(values));
    // Each set of fields is a statement of its own. Those of one or two fields (a field, a
    // state with its completion time: most PATCHes) are kept, at most 1 + 10 + 45 of them
    // (room for them is made beside the others); any larger set is parsed each time, so that
    // varied PATCHes cannot push the store's other statements out of the cache.
    let done = if fields <= 2 {
        conn.prepare_cached(&sql)
            .and_then(|mut stmt| run(&mut stmt))
    } else {
        conn.prepare(&sql).and_then(|mut stmt| run(&mut stmt))
    };
    done.map_err(from_sqlite)?;
    Ok(updated)
}

/// An UPDATE of one todo, its values, and how many of the todo's fields it writes (a due date
/// is one field in four columns).
struct Update {
    sql: String,
    values: Vec<Value>,
    fields: usize,
}

impl Update {
    /// Writes one field: `columns`, each with its value.
    fn set<const N: usize>(&mut self, columns: [(&str, Value); N]) {
        self.fields += 1;
        for (column, value) in columns {
            self.values.push(value);
            for part in [", ", column, " = ?"] {
                self.sql.push_str(part);
            }
            self.sql
                .push_str(itoa::Buffer::new().format(self.values.len()));
        }
    }
}

/// The UPDATE that turns `before` into `after`: the stamp of every write (time, version,
/// writer) and the columns whose value changed, no others. SQLite rewrites every index on a
/// column the statement names and fires every trigger on it, changed or not: naming them all
/// had checking off a todo rewrite five indexes, the owner's usage and the search words.
fn update_sql(name: &str, uid: &str, before: &Todo, after: &Todo) -> Update {
    let mut update = Update {
        sql: String::from("UPDATE todos SET updated_at = ?3, version = ?4, updated_by = ?5"),
        values: vec![
            name.to_owned().into(),
            uid.to_owned().into(),
            after.updated_at.to_string().into(),
            sql_int(after.version).into(),
            after
                .updated_by
                .as_ref()
                .map(|u| u.as_str().to_owned())
                .into(),
        ],
        fields: 0,
    };
    if before.description != after.description {
        update.set([("description", after.description.as_str().to_owned().into())]);
    }
    if before.state != after.state {
        update.set([("state", after.state.as_str().to_owned().into())]);
    }
    if before.metadata != after.metadata {
        update.set([("metadata", after.metadata.as_json().to_owned().into())]);
    }
    if before.title != after.title {
        let title = after.title.as_ref().map(|t| t.as_str().to_owned());
        update.set([("title", title.into())]);
    }
    if before.notes != after.notes {
        let notes = after.notes.as_ref().map(|n| n.as_str().to_owned());
        update.set([("notes", notes.into())]);
    }
    if before.priority != after.priority {
        update.set([("priority", i64::from(after.priority.rank()).into())]);
    }
    if before.due != after.due {
        let (due_day, local, zone, utc) = due_columns(after.due.as_ref());
        update.set([
            ("due_day", due_day.into()),
            ("due_at", local.into()),
            ("due_tz", zone.map(str::to_owned).into()),
            ("due_utc", utc.into()),
        ]);
    }
    if before.position != after.position {
        update.set([("position", after.position.as_str().to_owned().into())]);
    }
    if before.completed_at != after.completed_at {
        let completed = after.completed_at.map(|t| t.to_string());
        update.set([("completed_at", completed.into())]);
    }
    if before.list != after.list {
        update.set([("list", list_column(&after.username, after.list).into())]);
    }
    update.sql.push_str(" WHERE owner = ?1 AND uid = ?2");
    update
}

/// `NoList` unless `list` (as stored: `None` for the Inbox) is one of `owner`'s.
fn list_exists(conn: &Connection, owner: &str, list: Option<&str>) -> StoreResult<()> {
    let Some(list) = list else { return Ok(()) };
    let found = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM lists WHERE owner = ?1 AND id = ?2)")
        .and_then(|mut stmt| stmt.query_row(params![owner, list], |row| row.get::<_, bool>(0)))
        .map_err(from_sqlite)?;
    if found {
        Ok(())
    } else {
        Err(StoreError::NoList)
    }
}

/// The condition `due` puts on a list, with its parameters.
fn due_sql(due: &DueFilter, sql: &mut String, values: &mut Vec<Value>) {
    match due {
        DueFilter::Any => {}
        DueFilter::Without => sql.push_str(" AND due_day IS NULL AND due_utc IS NULL"),
        DueFilter::Within(range) => {
            sql.push_str(" AND ((due_day >= ? AND due_day < ?) OR (due_utc >= ? AND due_utc < ?))");
            for bound in [
                &range.days.0,
                &range.days.1,
                &range.instants.0,
                &range.instants.1,
            ] {
                values.push(Value::Text(bound.clone()));
            }
        }
    }
}

/// The FTS5 query for `search` among `owner`'s todos: the owner's name, and each word the
/// beginning of a word of the title, the description or the notes. The words are letters and
/// digits only ([`Search::terms`]), so quoting them is enough; a name has no `"` either.
fn words_query(owner: &str, search: &Search) -> String {
    let mut query = format!("owner : \"{owner}\"");
    for term in search.terms() {
        query.push_str(&format!(" AND {{title description notes}} : \"{term}\"*"));
    }
    query
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

#[async_trait]
impl TodoStore for SqliteStore {
    async fn create_todo(&self, todo: &Todo) -> StoreResult<()> {
        let row = todo.clone();
        self.writer
            .write(&todo.username, move |conn| insert_todo(conn, &row))
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

    async fn get_todo(&self, owner: &Username, uid: Uuid) -> StoreResult<Option<Todo>> {
        let owner = owner.to_string();
        self.readers
            .read(move |conn| select_todo(conn, &owner, &uid.to_string()))
    }

    async fn list_todos(
        &self,
        owner: &Username,
        query: &TodoQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Todo>> {
        let (owner, query) = (owner.to_string(), query.clone());
        let PageRequest { limit, after } = page.clone();
        // Every write made before the search is found: what waits for the index goes in first.
        if query.search.is_some() && self.readers.read(any_pending)? {
            self.writer.write_unowned(index_pending).await?;
        }
        self.readers.read(move |conn| {
            let (sql, values) = list_sql(&owner, &query, after.as_deref(), limit)?;
            let todos = query_all(conn, &sql, params_from_iter(values), read_todo)?;
            Ok(Page::from_overfetch(todos, limit, |t| query.position_of(t)))
        })
    }

    async fn complete_all(&self, owner: &Username, now: Timestamp) -> StoreResult<u64> {
        let name = owner.to_string();
        self.writer
            .write(owner, move |conn| {
                let changed = conn
                    .prepare_cached(
                        "UPDATE todos SET state = 'completed', updated_at = ?2, \
                         completed_at = ?2, version = version + 1, updated_by = NULL \
                         WHERE owner = ?1 AND state <> 'completed'",
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
        due: &DueFilter,
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
        let due = due.clone();
        self.readers.read(move |conn| {
            let fetch = i64::from(limit) + 1;
            let mut todos = Vec::new();
            // One ordered range per state from the index, merged: no sort of the whole table.
            // Due bounds filter that range (an administrator's view: its cost is the state's).
            for state in &states {
                let mut sql = String::from(concat!(
                    "SELECT ",
                    todo_columns!(),
                    " FROM todos WHERE state = ? AND (created_at, uid) > (?, ?)"
                ));
                let mut values = vec![
                    Value::Text((*state).to_owned()),
                    Value::Text(after_created.clone()),
                    Value::Text(after_uid.clone()),
                ];
                due_sql(&due, &mut sql, &mut values);
                sql.push_str(" ORDER BY created_at, uid LIMIT ?");
                values.push(Value::Integer(fetch));
                todos.extend(query_all(conn, &sql, params_from_iter(values), read_todo)?);
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
                update_row(conn, &name, &uid, &patch, expected_version, now)
            })
            .await
    }

    async fn todos_beside(
        &self,
        owner: &Username,
        todo: &Todo,
        before: bool,
        count: u32,
    ) -> StoreResult<Vec<Todo>> {
        let sql = match before {
            true => concat!(
                "SELECT ",
                todo_columns!(),
                " FROM todos WHERE owner = ?1 AND (position, uid) < (?2, ?3) \
                 ORDER BY position DESC, uid DESC LIMIT ?4"
            ),
            false => concat!(
                "SELECT ",
                todo_columns!(),
                " FROM todos WHERE owner = ?1 AND (position, uid) > (?2, ?3) \
                 ORDER BY position, uid LIMIT ?4"
            ),
        };
        let (owner, position, uid) = (
            owner.to_string(),
            todo.position.as_str().to_owned(),
            todo.uid.to_string(),
        );
        self.readers
            .read(move |conn| query_all(conn, sql, params![owner, position, uid, count], read_todo))
    }

    async fn reposition_todos(
        &self,
        owner: &Username,
        places: &[Placement],
        now: Timestamp,
    ) -> StoreResult<()> {
        let (name, places) = (owner.to_string(), places.to_vec());
        self.writer
            .write(owner, move |conn| {
                for place in &places {
                    let patch = TodoPatch::to_position(place.position.clone());
                    let uid = place.uid.to_string();
                    match update_row(conn, &name, &uid, &patch, Some(place.version), now) {
                        Err(StoreError::NotFound | StoreError::VersionMismatch { .. }) => {
                            return Err(StoreError::Changed);
                        }
                        other => other?,
                    };
                }
                Ok(())
            })
            .await
    }

    async fn delete_todo(
        &self,
        owner: &Username,
        uid: Uuid,
        expected_version: Option<u64>,
    ) -> StoreResult<Option<Todo>> {
        let (name, uid) = (owner.to_string(), uid.to_string());
        self.writer
            .write(owner, move |conn| {
                let deleted = check_version(conn, &name, &uid, expected_version)?;
                conn.prepare_cached("DELETE FROM todos WHERE owner = ?1 AND uid = ?2")
                    .and_then(|mut stmt| stmt.execute([&name, &uid]))
                    .map_err(from_sqlite)?;
                Ok(Some(deleted))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Change, Description, Due, Metadata, TodoState};

    #[test]
    fn an_update_names_the_stamps_and_only_the_columns_it_changes() {
        let before = Todo::new(
            Username::parse("alice").unwrap(),
            Description::parse("buy milk").unwrap(),
            Metadata::default(),
        );
        let done = TodoPatch::new(None, Some(TodoState::Completed), None).unwrap();
        let after = before.clone().patched(&done, Timestamp::now());
        let Update {
            sql,
            values,
            fields,
        } = update_sql("alice", "u", &before, &after);
        assert_eq!(fields, 2);
        assert_eq!(
            sql,
            "UPDATE todos SET updated_at = ?3, version = ?4, updated_by = ?5, state = ?6, \
             completed_at = ?7 WHERE owner = ?1 AND uid = ?2"
        );
        assert_eq!(values.len(), 7);
        assert_eq!(values[5], Value::Text("completed".into()));

        let renamed = TodoPatch::new(
            Some(Description::parse("buy oat milk").unwrap()),
            None,
            None,
        )
        .unwrap();
        let after = before.clone().patched(&renamed, Timestamp::now());
        let Update { sql, fields, .. } = update_sql("alice", "u", &before, &after);
        assert_eq!(fields, 1);
        assert!(sql.contains(", description = ?6 WHERE"), "{sql}");

        // A due date is one field in four columns.
        let due = Due::parse(&serde_json::json!("2026-12-24")).unwrap();
        let dated = TodoPatch {
            due: Change::Set(due),
            ..TodoPatch::default()
        };
        let after = before.clone().patched(&dated, Timestamp::now());
        let Update { sql, fields, .. } = update_sql("alice", "u", &before, &after);
        assert_eq!(fields, 1);
        assert!(
            sql.ends_with(
                ", due_day = ?6, due_at = ?7, due_tz = ?8, due_utc = ?9 WHERE owner = ?1 AND uid = ?2"
            ),
            "{sql}"
        );
    }
}
