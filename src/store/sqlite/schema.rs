//! Embedded migrations, applied in order at start; `PRAGMA user_version` records how far a
//! database has come.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE users (
    username      TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT NOT NULL,
    email         TEXT,
    admin         INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE todos (
    owner       TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    uid         TEXT NOT NULL,
    description TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('unstarted', 'started', 'completed')),
    metadata    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    version     INTEGER NOT NULL,
    PRIMARY KEY (owner, uid)
) WITHOUT ROWID;

CREATE INDEX todos_by_owner_state ON todos (owner, state, uid);
CREATE INDEX todos_by_state ON todos (state, created_at, uid);
"#,
    r#"
CREATE TABLE sessions (
    id           TEXT PRIMARY KEY NOT NULL,
    owner        TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('login', 'api')),
    refresh_hash TEXT,
    routes       TEXT,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL
) WITHOUT ROWID;

CREATE INDEX sessions_by_owner ON sessions (owner, created_at);

CREATE TABLE revocations (
    owner   TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    session TEXT NOT NULL,
    until   INTEGER NOT NULL,
    PRIMARY KEY (owner, session)
) WITHOUT ROWID;
"#,
    r#"
CREATE TABLE login_failures (
    key          TEXT PRIMARY KEY NOT NULL,
    count        INTEGER NOT NULL,
    last         INTEGER NOT NULL,
    locked_until INTEGER NOT NULL,
    forget_at    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX login_failures_by_age ON login_failures (forget_at);
"#,
    r#"
CREATE TABLE idempotency (
    owner       TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status      INTEGER NOT NULL,
    body        TEXT NOT NULL,
    expires     INTEGER NOT NULL,
    PRIMARY KEY (owner, key)
) WITHOUT ROWID;

CREATE INDEX idempotency_by_age ON idempotency (expires);
"#,
    r#"
ALTER TABLE users ADD COLUMN login_generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN kept_session TEXT;
ALTER TABLE sessions ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN previous_hash TEXT;
"#,
    // What each account holds, kept exact by triggers in the transaction of every write (a
    // todo's bytes: its description and metadata as stored, as `Todo::stored_bytes` counts).
    r#"
ALTER TABLE users ADD COLUMN todo_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN todo_bytes INTEGER NOT NULL DEFAULT 0;
UPDATE users SET
    todo_count = (SELECT count(*) FROM todos WHERE owner = users.username),
    todo_bytes = (SELECT coalesce(sum(length(CAST(description AS BLOB))
                                      + length(CAST(metadata AS BLOB))), 0)
                  FROM todos WHERE owner = users.username);
CREATE TRIGGER todos_usage_insert AFTER INSERT ON todos BEGIN
    UPDATE users SET todo_count = todo_count + 1,
        todo_bytes = todo_bytes + length(CAST(NEW.description AS BLOB))
                                + length(CAST(NEW.metadata AS BLOB))
    WHERE username = NEW.owner;
END;
CREATE TRIGGER todos_usage_delete AFTER DELETE ON todos BEGIN
    UPDATE users SET todo_count = todo_count - 1,
        todo_bytes = todo_bytes - length(CAST(OLD.description AS BLOB))
                                - length(CAST(OLD.metadata AS BLOB))
    WHERE username = OLD.owner;
END;
CREATE TRIGGER todos_usage_update AFTER UPDATE OF description, metadata ON todos BEGIN
    UPDATE users SET
        todo_bytes = todo_bytes - length(CAST(OLD.description AS BLOB))
                                - length(CAST(OLD.metadata AS BLOB))
                                + length(CAST(NEW.description AS BLOB))
                                + length(CAST(NEW.metadata AS BLOB))
    WHERE username = NEW.owner;
END;
"#,
    // A kept answer is the API's to read: the store holds it as one opaque text.
    r#"
ALTER TABLE idempotency DROP COLUMN status;
ALTER TABLE idempotency RENAME COLUMN body TO answer;
"#,
    // Planning fields. A due is a day (`due_day`) or a local time, its zone and the UTC instant
    // it named when written (`due_at`, `due_tz`, `due_utc`); lists by due read one index range
    // of the key `coalesce(due_day, due_utc, '~')` (days sort before the times of their day,
    // no due last). A todo's place in its owner's order starts as its uid (creation order).
    // Completed todos of earlier versions were completed when last changed, as far as anyone
    // can tell. Titles and notes count against the account's bytes like the description.
    r#"
ALTER TABLE todos ADD COLUMN title TEXT;
ALTER TABLE todos ADD COLUMN notes TEXT;
ALTER TABLE todos ADD COLUMN priority INTEGER NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 3);
ALTER TABLE todos ADD COLUMN due_day TEXT;
ALTER TABLE todos ADD COLUMN due_at TEXT;
ALTER TABLE todos ADD COLUMN due_tz TEXT;
ALTER TABLE todos ADD COLUMN due_utc TEXT;
ALTER TABLE todos ADD COLUMN position TEXT NOT NULL DEFAULT '1';
ALTER TABLE todos ADD COLUMN completed_at TEXT;
UPDATE todos SET position = rtrim(lower(replace(uid, '-', '')), '0'),
    completed_at = CASE WHEN state = 'completed' THEN updated_at END;
CREATE INDEX todos_by_owner_due ON todos (owner, coalesce(due_day, due_utc, '~'), uid);
CREATE INDEX todos_by_owner_position ON todos (owner, position, uid);
DROP TRIGGER todos_usage_insert;
DROP TRIGGER todos_usage_delete;
DROP TRIGGER todos_usage_update;
CREATE TRIGGER todos_usage_insert AFTER INSERT ON todos BEGIN
    UPDATE users SET todo_count = todo_count + 1,
        todo_bytes = todo_bytes + length(CAST(NEW.description AS BLOB)) + length(CAST(NEW.metadata AS BLOB))
                                + coalesce(length(CAST(NEW.title AS BLOB)), 0)
                                + coalesce(length(CAST(NEW.notes AS BLOB)), 0)
    WHERE username = NEW.owner;
END;
CREATE TRIGGER todos_usage_delete AFTER DELETE ON todos BEGIN
    UPDATE users SET todo_count = todo_count - 1,
        todo_bytes = todo_bytes - (length(CAST(OLD.description AS BLOB)) + length(CAST(OLD.metadata AS BLOB))
                                + coalesce(length(CAST(OLD.title AS BLOB)), 0)
                                + coalesce(length(CAST(OLD.notes AS BLOB)), 0))
    WHERE username = OLD.owner;
END;
CREATE TRIGGER todos_usage_update AFTER UPDATE OF description, metadata, title, notes ON todos
BEGIN
    UPDATE users SET
        todo_bytes = todo_bytes - (length(CAST(OLD.description AS BLOB)) + length(CAST(OLD.metadata AS BLOB))
                                + coalesce(length(CAST(OLD.title AS BLOB)), 0)
                                + coalesce(length(CAST(OLD.notes AS BLOB)), 0)) + length(CAST(NEW.description AS BLOB)) + length(CAST(NEW.metadata AS BLOB))
                                + coalesce(length(CAST(NEW.title AS BLOB)), 0)
                                + coalesce(length(CAST(NEW.notes AS BLOB)), 0)
    WHERE username = NEW.owner;
END;
"#,
    // Search (`q=`): the words of each todo's owner, title, description and notes in an FTS5
    // index, folded as `domain::words` folds them (lower case, accents off). The index keeps
    // no copy of the texts (contentless: an entry is taken out with the words it was put in
    // with, which the triggers have as OLD) and works with any SQLite since FTS5 came (3.9), so
    // an older `sqlite3` shell can still write to the file. Its rows are numbered, and
    // `todo_search_ids` numbers the todos (which have no row numbers of their own). A search
    // reads the caller's entries of each word only: the owner is one of the indexed columns and
    // every query names it. Rows are rewritten only when one of the searched texts changed.
    r#"
CREATE TABLE todo_search_ids (
    id    INTEGER PRIMARY KEY,
    owner TEXT NOT NULL,
    uid   TEXT NOT NULL,
    UNIQUE (owner, uid)
);
CREATE VIRTUAL TABLE todo_words USING fts5(
    owner, title, description, notes,
    content = '', tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO todo_search_ids (owner, uid) SELECT owner, uid FROM todos;
INSERT INTO todo_words (rowid, owner, title, description, notes)
    SELECT i.id, t.owner, t.title, t.description, t.notes
    FROM todos t JOIN todo_search_ids i ON i.owner = t.owner AND i.uid = t.uid;
CREATE TRIGGER todos_words_insert AFTER INSERT ON todos BEGIN
    INSERT INTO todo_search_ids (owner, uid) VALUES (NEW.owner, NEW.uid);
    INSERT INTO todo_words (rowid, owner, title, description, notes)
        SELECT id, NEW.owner, NEW.title, NEW.description, NEW.notes
        FROM todo_search_ids WHERE owner = NEW.owner AND uid = NEW.uid;
END;
CREATE TRIGGER todos_words_update AFTER UPDATE OF title, description, notes ON todos
WHEN OLD.title IS NOT NEW.title OR OLD.description IS NOT NEW.description
    OR OLD.notes IS NOT NEW.notes
BEGIN
    INSERT INTO todo_words (todo_words, rowid, owner, title, description, notes)
        SELECT 'delete', id, OLD.owner, OLD.title, OLD.description, OLD.notes
        FROM todo_search_ids WHERE owner = OLD.owner AND uid = OLD.uid;
    INSERT INTO todo_words (rowid, owner, title, description, notes)
        SELECT id, NEW.owner, NEW.title, NEW.description, NEW.notes
        FROM todo_search_ids WHERE owner = NEW.owner AND uid = NEW.uid;
END;
CREATE TRIGGER todos_words_delete AFTER DELETE ON todos BEGIN
    INSERT INTO todo_words (todo_words, rowid, owner, title, description, notes)
        SELECT 'delete', id, OLD.owner, OLD.title, OLD.description, OLD.notes
        FROM todo_search_ids WHERE owner = OLD.owner AND uid = OLD.uid;
    DELETE FROM todo_search_ids WHERE owner = OLD.owner AND uid = OLD.uid;
END;
"#,
    // The person's time zone (an IANA name), for views asked without one.
    r#"
ALTER TABLE users ADD COLUMN tz TEXT;
"#,
    // The search index is brought up to date in batches rather than in each write: FTS5 writes
    // a segment of its own for every transaction that touches it, which made a create cost
    // ~40 % more (and numbering each new todo in `todo_search_ids`, with its unique index, cost
    // more still). A new todo is noted in `todo_words_pending` (one row, nothing else); one
    // whose texts change is taken out of the index with its old texts and noted too. The
    // writer indexes what is noted when it is idle or a second has passed, and before any
    // search is read (`search_index.rs`), so a search still finds every write made before it.
    r#"
CREATE TABLE todo_words_pending (
    owner TEXT NOT NULL,
    uid   TEXT NOT NULL,
    PRIMARY KEY (owner, uid)
) WITHOUT ROWID;
DROP TRIGGER todos_words_insert;
DROP TRIGGER todos_words_update;
DROP TRIGGER todos_words_delete;
CREATE TRIGGER todos_words_insert AFTER INSERT ON todos BEGIN
    INSERT INTO todo_words_pending (owner, uid) VALUES (NEW.owner, NEW.uid);
END;
CREATE TRIGGER todos_words_update AFTER UPDATE OF title, description, notes ON todos
WHEN (OLD.title IS NOT NEW.title OR OLD.description IS NOT NEW.description
    OR OLD.notes IS NOT NEW.notes)
    AND NOT EXISTS (SELECT 1 FROM todo_words_pending WHERE owner = OLD.owner AND uid = OLD.uid)
BEGIN
    INSERT INTO todo_words (todo_words, rowid, owner, title, description, notes)
        SELECT 'delete', id, OLD.owner, OLD.title, OLD.description, OLD.notes
        FROM todo_search_ids WHERE owner = OLD.owner AND uid = OLD.uid;
    INSERT INTO todo_words_pending (owner, uid) VALUES (OLD.owner, OLD.uid);
END;
CREATE TRIGGER todos_words_delete AFTER DELETE ON todos BEGIN
    INSERT INTO todo_words (todo_words, rowid, owner, title, description, notes)
        SELECT 'delete', id, OLD.owner, OLD.title, OLD.description, OLD.notes
        FROM todo_search_ids WHERE owner = OLD.owner AND uid = OLD.uid;
    DELETE FROM todo_search_ids WHERE owner = OLD.owner AND uid = OLD.uid;
    DELETE FROM todo_words_pending WHERE owner = OLD.owner AND uid = OLD.uid;
END;
"#,
    // A todo whose texts changed is already out of the search index (and noted again): deleting
    // it must not take it out a second time, which FTS5 reports as a corrupt index (and
    // migration 11's trigger did). The index is made again from the todos, in case a deletion
    // of that kind damaged it (the writer indexes what is noted in batches, as ever).
    //
    // Lists. The Inbox is not stored: `todos.list` is NULL for a todo in its owner's Inbox (so
    // every todo from before lists is in it). A list's todos go with it (`delete_list`); an
    // account's lists go with the account. A list's members go with the list and with their
    // own account (`since` is that account's `created_at`); who made or last changed a todo is
    // NULL for its owner.
    r#"
DROP TRIGGER todos_words_delete;
CREATE TRIGGER todos_words_delete AFTER DELETE ON todos BEGIN
    INSERT INTO todo_words (todo_words, rowid, owner, title, description, notes)
        SELECT 'delete', id, OLD.owner, OLD.title, OLD.description, OLD.notes
        FROM todo_search_ids WHERE owner = OLD.owner AND uid = OLD.uid
        AND NOT EXISTS (SELECT 1 FROM todo_words_pending WHERE owner = OLD.owner AND uid = OLD.uid);
    DELETE FROM todo_search_ids WHERE owner = OLD.owner AND uid = OLD.uid;
    DELETE FROM todo_words_pending WHERE owner = OLD.owner AND uid = OLD.uid;
END;
INSERT INTO todo_words (todo_words) VALUES ('delete-all');
INSERT OR IGNORE INTO todo_words_pending (owner, uid) SELECT owner, uid FROM todos;
CREATE TABLE lists (
    owner      TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    version    INTEGER NOT NULL,
    PRIMARY KEY (owner, id)
) WITHOUT ROWID;
ALTER TABLE todos ADD COLUMN list TEXT;
CREATE INDEX todos_by_list ON todos (owner, list, uid) WHERE list IS NOT NULL;
CREATE TABLE members (
    owner    TEXT NOT NULL,
    list     TEXT NOT NULL,
    member   TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    role     TEXT NOT NULL CHECK (role IN ('editor', 'viewer')),
    since    TEXT NOT NULL,
    added_at TEXT NOT NULL,
    PRIMARY KEY (owner, list, member),
    FOREIGN KEY (owner, list) REFERENCES lists (owner, id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX members_by_member ON members (member, list);
ALTER TABLE todos ADD COLUMN created_by TEXT;
ALTER TABLE todos ADD COLUMN updated_by TEXT;
"#,
    // The change log `GET /sync` reads: a row per write of a todo, a list or a membership, made
    // by triggers in the write's own transaction, so that a change and its entry cannot part
    // (whoever writes: the server, the CLI, another process on the file). `seq` is the rowid: it
    // only grows, since pruning always leaves the newest entry (no AUTOINCREMENT, whose
    // bookkeeping row cost every write another b-tree update), and the one writer commits in its
    // order, so a reader that saw `seq` n has seen every change up to n. `owner` is whose log it is: the
    // todo's or list's owner, or for a membership the member (the lists shared with them);
    // `list` is the todo's list after the change (NULL: its owner's Inbox) and `left` the list
    // it moved out of, so a member of either learns of it. Rows older than the history kept
    // are pruned by the writer, oldest first (`at` grows with `seq`: no index on it).
    r#"
CREATE TABLE change_log (
    seq   INTEGER PRIMARY KEY,
    owner TEXT NOT NULL,
    kind  TEXT NOT NULL CHECK (kind IN ('todo', 'list', 'grant')),
    id    TEXT NOT NULL,
    list  TEXT,
    left  TEXT,
    at    INTEGER NOT NULL
);
CREATE INDEX change_log_by_owner ON change_log (owner, seq);
CREATE TRIGGER todos_log_insert AFTER INSERT ON todos BEGIN
    INSERT INTO change_log (owner, kind, id, list, at)
        VALUES (NEW.owner, 'todo', NEW.uid, NEW.list, unixepoch());
END;
CREATE TRIGGER todos_log_update AFTER UPDATE ON todos BEGIN
    INSERT INTO change_log (owner, kind, id, list, left, at)
        VALUES (NEW.owner, 'todo', NEW.uid, NEW.list,
                CASE WHEN OLD.list IS NOT NEW.list THEN OLD.list END, unixepoch());
END;
CREATE TRIGGER todos_log_delete AFTER DELETE ON todos BEGIN
    INSERT INTO change_log (owner, kind, id, list, at)
        VALUES (OLD.owner, 'todo', OLD.uid, OLD.list, unixepoch());
END;
CREATE TRIGGER lists_log_insert AFTER INSERT ON lists BEGIN
    INSERT INTO change_log (owner, kind, id, list, at)
        VALUES (NEW.owner, 'list', NEW.id, NEW.id, unixepoch());
END;
CREATE TRIGGER lists_log_update AFTER UPDATE ON lists BEGIN
    INSERT INTO change_log (owner, kind, id, list, at)
        VALUES (NEW.owner, 'list', NEW.id, NEW.id, unixepoch());
END;
CREATE TRIGGER lists_log_delete AFTER DELETE ON lists BEGIN
    INSERT INTO change_log (owner, kind, id, list, at)
        VALUES (OLD.owner, 'list', OLD.id, OLD.id, unixepoch());
END;
CREATE TRIGGER members_log_insert AFTER INSERT ON members BEGIN
    INSERT INTO change_log (owner, kind, id, list, at)
        VALUES (NEW.member, 'grant', NEW.list, NEW.list, unixepoch());
END;
CREATE TRIGGER members_log_update AFTER UPDATE ON members BEGIN
    INSERT INTO change_log (owner, kind, id, list, at)
        VALUES (NEW.member, 'grant', NEW.list, NEW.list, unixepoch());
END;
CREATE TRIGGER members_log_delete AFTER DELETE ON members BEGIN
    INSERT INTO change_log (owner, kind, id, list, at)
        VALUES (OLD.member, 'grant', OLD.list, OLD.list, unixepoch());
END;
"#,
    // A login forgets its account's expired sessions: found by this index, only those are read,
    // however many sessions the account holds.
    r#"
CREATE INDEX sessions_by_owner_expiry ON sessions (owner, expires_at);
"#,
    // Two checks written as `x IN ('a', 'b', 'c')`: SQLite evaluates an IN of more than two
    // constants through a temporary b-tree of them, built afresh for every row written (a page
    // allocated and zeroed, three inserts, a lookup): a create and an update each paid for two
    // (the todo's state and its change-log entry's kind), 15 % of their instructions. Written
    // as comparisons they cost a few instructions. The same rule, so every row stored still
    // passes it and nothing on disk changes: the tables' text is edited in place, as SQLite
    // documents for changing a CHECK constraint ("Making Other Kinds Of Table Schema
    // Changes"), with no copy of any row; `migrate` then moves the schema version on.
    r#"
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(sql, 'CHECK (state IN (''unstarted'', ''started'', ''completed''))',
                  'CHECK (state = ''unstarted'' OR state = ''started'' OR state = ''completed'')')
WHERE type = 'table' AND name = 'todos';
UPDATE sqlite_schema
SET sql = replace(sql, 'CHECK (kind IN (''todo'', ''list'', ''grant''))',
                  'CHECK (kind = ''todo'' OR kind = ''list'' OR kind = ''grant'')')
WHERE type = 'table' AND name = 'change_log';
PRAGMA writable_schema = OFF;
"#,
];

/// Refuses a schema version this checkoff cannot work with.
pub(super) fn check_version(version: i64) -> Result<usize, String> {
    let applied = usize::try_from(version).map_err(|_| format!("bad schema version {version}"))?;
    if applied > MIGRATIONS.len() {
        return Err(format!(
            "the database is at schema version {applied}, newer than this checkoff knows ({}); \
             upgrade checkoff",
            MIGRATIONS.len()
        ));
    }
    Ok(applied)
}

pub(super) fn migrate(conn: &mut Connection) -> Result<(), String> {
    let applied: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| e.to_string())?;
    let applied = check_version(applied)?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.transaction().map_err(|e| e.to_string())?;
        tx.execute_batch(sql)
            .map_err(|e| format!("migration {}: {e}", index + 1))?;
        // Every connection reads the schema again: DDL moves this on by itself, a table's
        // text edited in place does not.
        let schema: i64 = tx
            .pragma_query_value(None, "schema_version", |row| row.get(0))
            .map_err(|e| e.to_string())?;
        tx.pragma_update(None, "schema_version", schema + 1)
            .map_err(|e| e.to_string())?;
        tx.pragma_update(None, "user_version", index as i64 + 1)
            .map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Timestamp, Username};

    /// A database made by an earlier checkoff keeps what it holds: here an idempotency record
    /// written before its answer became opaque text is still recalled after the upgrade.
    #[test]
    fn an_earlier_database_is_upgraded_with_what_it_holds() {
        let mut conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..6] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 6).unwrap();
        let expires = Timestamp::now().unix_seconds() + 600;
        conn.execute_batch(&format!(
            "INSERT INTO users (username, password_hash, created_at) VALUES ('alice', 'x', 'now');
             INSERT INTO idempotency (owner, key, fingerprint, status, body, expires)
             VALUES ('alice', 'k', 'f', 201, '{{\"uid\":1}}', {expires});"
        ))
        .unwrap();

        migrate(&mut conn).unwrap();

        let alice = Username::parse("alice").unwrap();
        let kept = super::super::guard::recall(&conn, &alice, "k")
            .unwrap()
            .unwrap();
        assert_eq!(
            (kept.fingerprint.as_str(), kept.answer.as_str()),
            ("f", "{\"uid\":1}")
        );
        assert_eq!(check_version(MIGRATIONS.len() as i64), Ok(MIGRATIONS.len()));
    }

    /// Writing a todo (and its change-log entry, by trigger) builds no temporary b-tree: a
    /// check written as an IN of three constants did, for every row; the checks still refuse
    /// what they refused, in a database made before and after the change alike.
    #[test]
    fn writes_check_states_and_kinds_without_a_temporary_table() {
        let mut earlier = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..MIGRATIONS.len() - 1] {
            earlier.execute_batch(sql).unwrap();
        }
        earlier
            .pragma_update(None, "user_version", MIGRATIONS.len() as i64 - 1)
            .unwrap();
        let mut fresh = Connection::open_in_memory().unwrap();
        for conn in [&mut earlier, &mut fresh] {
            migrate(conn).unwrap();
            let integrity: String = conn
                .query_row("PRAGMA integrity_check", [], |row| row.get(0))
                .unwrap();
            assert_eq!(integrity, "ok");
            conn.execute_batch(
                "INSERT INTO users (username, password_hash, created_at) VALUES ('al', 'x', 'now')",
            )
            .unwrap();
            let insert = |state: &str| {
                format!(
                    "INSERT INTO todos (owner, uid, description, state, metadata, created_at,
                                        updated_at, version)
                     VALUES ('al', 'u-{state}', 'milk', '{state}', '{{}}', 'now', 'now', 1)"
                )
            };
            let update = "UPDATE todos SET state = 'started', version = 2 \
                          WHERE owner = 'al' AND uid = 'u-unstarted'";
            for sql in [insert("unstarted"), update.to_owned()] {
                let plan: Vec<String> = conn
                    .prepare(&format!("EXPLAIN {sql}"))
                    .unwrap()
                    .query_map([], |row| row.get::<_, String>(1))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                assert!(
                    plan.iter().any(|op| op == "Program"),
                    "the triggers run: {plan:?}"
                );
                assert!(
                    !plan.iter().any(|op| op == "OpenEphemeral"),
                    "{sql}: {plan:?}"
                );
                conn.execute_batch(&sql).unwrap();
            }
            for state in ["unstarted", "started", "completed"] {
                let kept = conn.execute_batch(&insert(state));
                assert_eq!(kept.is_ok(), state != "unstarted", "{state}: {kept:?}");
            }
            let refused = conn.execute_batch(&insert("done")).unwrap_err();
            assert!(refused.to_string().contains("CHECK"), "{refused}");
            let refused = conn
                .execute_batch(
                    "INSERT INTO change_log (owner, kind, id, at) VALUES ('al', 'bogus', 'x', 1)",
                )
                .unwrap_err();
            assert!(refused.to_string().contains("CHECK"), "{refused}");
            let logged: Vec<String> = conn
                .prepare("SELECT DISTINCT kind FROM change_log")
                .unwrap()
                .query_map([], |row| row.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert_eq!(logged, ["todo"]);
        }
    }

    /// Todos of a database from before the planning fields keep what they had: they stand in
    /// creation order, completed ones were completed when last changed, the account's bytes
    /// stay as counted.
    #[test]
    fn todos_of_an_earlier_database_get_their_planning_fields() {
        let mut conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..7] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 7).unwrap();
        let uid = "0190a5b4-0000-7000-8000-0000000000a0";
        conn.execute_batch(&format!(
            "INSERT INTO users (username, password_hash, created_at) VALUES ('alice', 'x', 'now');
             INSERT INTO todos (owner, uid, description, state, metadata, created_at, updated_at,
                                version)
             VALUES ('alice', '{uid}', 'milk', 'completed', '{{}}', '2026-01-01T00:00:00.000Z',
                     '2026-01-02T00:00:00.000Z', 3);"
        ))
        .unwrap();

        migrate(&mut conn).unwrap();

        let todo = conn
            .query_row(
                concat!(
                    "SELECT ",
                    super::super::rows::todo_columns!(),
                    " FROM todos"
                ),
                [],
                |row| Ok(super::super::rows::read_todo(row)),
            )
            .unwrap()
            .unwrap();
        // The rule a new todo's position follows, worked out in SQL.
        let rule = crate::domain::Position::of_new(uuid::Uuid::parse_str(uid).unwrap());
        assert_eq!(todo.position, rule);
        assert!(!todo.position.as_str().ends_with('0'));
        assert_eq!(
            todo.completed_at.map(|t| t.to_string()).as_deref(),
            Some("2026-01-02T00:00:00.000Z")
        );
        assert_eq!((todo.title, todo.due), (None, None));
        let bytes: i64 = conn
            .query_row("SELECT todo_bytes FROM users", [], |row| row.get(0))
            .unwrap();
        assert_eq!(bytes, 6, "milk and {{}}");
    }

    /// The search index follows every write of the texts, for todos made before it too: what
    /// a todo no longer says is no longer found, and FTS5's own check finds the index whole.
    #[test]
    fn the_search_index_follows_the_texts_it_was_built_from() {
        let mut conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..8] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 8).unwrap();
        let insert = |uid: &str, text: &str| {
            format!(
                "INSERT INTO todos (owner, uid, description, state, metadata, created_at,
                                    updated_at, version, notes)
                 VALUES ('alice', '{uid}', '{text}', 'unstarted', '{{}}', 'now', 'now', 1,
                         'Épicerie');"
            )
        };
        conn.execute_batch(&format!(
            "INSERT INTO users (username, password_hash, created_at) VALUES ('alice', 'x', 'now');
             {}",
            insert("u1", "Buy oat milk")
        ))
        .unwrap();
        migrate(&mut conn).unwrap();
        conn.execute_batch(&insert("u2", "Café au lait")).unwrap();
        let index = |conn: &Connection| {
            assert!(super::super::search_index::any_pending(conn).unwrap());
            super::super::search_index::index_pending(conn).unwrap();
            assert!(!super::super::search_index::any_pending(conn).unwrap());
        };
        index(&conn);
        let found = |words: &str| -> Vec<String> {
            let mut stmt = conn
                .prepare(
                    "SELECT i.uid FROM todo_words JOIN todo_search_ids i \
                     ON i.id = todo_words.rowid WHERE todo_words MATCH ?1 ORDER BY i.uid",
                )
                .unwrap();
            stmt.query_map([words], |row| row.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        assert_eq!(found("milk"), ["u1"], "a todo made before the index");
        assert_eq!(found("cafe"), ["u2"], "accents are taken off");
        assert_eq!(found("epic*"), ["u1", "u2"]);
        conn.execute_batch(
            "UPDATE todos SET description = 'Buy tea', state = 'started' WHERE uid = 'u1';
             UPDATE todos SET state = 'completed' WHERE uid = 'u2';
             DELETE FROM todos WHERE uid = 'u2';",
        )
        .unwrap();
        assert!(found("milk").is_empty(), "taken out when the text changes");
        assert!(found("cafe").is_empty(), "and when the todo goes");
        // Changed, and made and gone, while waiting for the index.
        conn.execute_batch(&format!(
            "UPDATE todos SET description = 'Buy green tea' WHERE uid = 'u1';
             {}
             DELETE FROM todos WHERE uid = 'u3';",
            insert("u3", "Crème brûlée")
        ))
        .unwrap();
        index(&conn);
        assert_eq!(found("green"), ["u1"]);
        assert!(found("creme").is_empty());
        assert_eq!(found("tea"), ["u1"]);
        assert!(found("cafe").is_empty());
        conn.execute_batch("INSERT INTO todo_words (todo_words) VALUES ('integrity-check');")
            .unwrap();
        let ids: i64 = conn
            .query_row("SELECT count(*) FROM todo_search_ids", [], |row| row.get(0))
            .unwrap();
        assert_eq!(ids, 1);
    }
}
