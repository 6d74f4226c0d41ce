//! Rows into domain values, read in place (no copy of a column before it is checked). A row that
//! breaks a domain rule is reported, never served.

use std::fmt::Display;

use rusqlite::Row;
use rusqlite::types::ValueRef;
use uuid::Uuid;

use super::error::from_sqlite;
use crate::domain::{
    Description, Due, Email, ListId, ListName, Membership, Metadata, Notes, Position, Priority,
    Revocations, Role, Session, Timestamp, Title, Todo, TodoList, Usage, User, Username, Zone,
};
use crate::store::{StoreError, StoreResult};

/// The columns `read_todo` expects, in its order, for building SQL text at compile time.
macro_rules! todo_columns {
    () => {
        "owner, uid, description, state, metadata, created_at, updated_at, version, title, notes, \
         priority, due_day, due_at, due_tz, due_utc, position, completed_at, list, created_by, \
         updated_by"
    };
}

/// The columns `read_user` expects, in its order.
macro_rules! user_columns {
    () => {
        "username, password_hash, email, admin, created_at, login_generation, kept_session, \
         todo_count, todo_bytes, tz"
    };
}

/// The columns `read_session` expects, in its order.
macro_rules! session_columns {
    () => {
        "owner, id, kind, refresh_hash, routes, created_at, expires_at, generation, previous_hash"
    };
}

pub(super) use {session_columns, todo_columns, user_columns};

/// Reads the columns of one row, naming the row in every complaint.
struct Columns<'r, 's> {
    row: &'r Row<'s>,
    what: &'static str,
}

impl Columns<'_, '_> {
    fn corrupt(&self, why: impl Display) -> StoreError {
        let key = self
            .row
            .get_ref(1)
            .ok()
            .and_then(|v| v.as_str().ok())
            .unwrap_or("?");
        StoreError::Internal(format!("stored {} {key:?} is invalid: {why}", self.what))
    }

    fn text(&self, index: usize) -> StoreResult<&str> {
        match self.row.get_ref(index).map_err(from_sqlite)? {
            ValueRef::Text(bytes) => std::str::from_utf8(bytes).map_err(|e| self.corrupt(e)),
            _ => Err(self.corrupt(format!("column {index} is not text"))),
        }
    }

    /// A count the store keeps, never below zero.
    fn count(&self, index: usize) -> StoreResult<u64> {
        let value: i64 = self.row.get(index).map_err(from_sqlite)?;
        u64::try_from(value).map_err(|e| self.corrupt(e))
    }

    fn parsed<T, E: Display>(
        &self,
        index: usize,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> StoreResult<T> {
        parse(self.text(index)?).map_err(|e| self.corrupt(e))
    }

    /// A column that may be NULL.
    fn optional(&self, index: usize) -> StoreResult<Option<&str>> {
        match self.row.get_ref(index).map_err(from_sqlite)? {
            ValueRef::Null => Ok(None),
            _ => self.text(index).map(Some),
        }
    }

    fn parsed_optional<T, E: Display>(
        &self,
        index: usize,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> StoreResult<Option<T>> {
        self.optional(index)?
            .map(|text| parse(text).map_err(|e| self.corrupt(e)))
            .transpose()
    }
}

pub(super) fn read_todo(row: &Row<'_>) -> StoreResult<Todo> {
    let c = Columns { row, what: "todo" };
    let version: i64 = row.get(7).map_err(from_sqlite)?;
    let username = c.parsed(0, Username::parse)?;
    Ok(Todo {
        uid: c.parsed(1, Uuid::parse_str)?,
        description: c.parsed(2, Description::from_stored)?,
        state: c.parsed(3, str::parse)?,
        metadata: c.parsed(4, Metadata::from_json)?,
        created_at: c.parsed(5, Timestamp::parse)?,
        updated_at: c.parsed(6, Timestamp::parse)?,
        version: u64::try_from(version).map_err(|e| c.corrupt(e))?,
        title: c.parsed_optional(8, Title::from_stored)?,
        notes: c.parsed_optional(9, Notes::from_stored)?,
        priority: Priority::from_rank(row.get(10).map_err(from_sqlite)?)
            .map_err(|e| c.corrupt(e))?,
        due: read_due(&c)?,
        position: c.parsed(15, Position::from_stored)?,
        completed_at: c.parsed_optional(16, Timestamp::parse)?,
        list: c
            .parsed_optional(17, ListId::parse)?
            .unwrap_or_else(|| ListId::inbox_of(&username)),
        created_by: c.parsed_optional(18, Username::parse)?,
        updated_by: c.parsed_optional(19, Username::parse)?,
        username,
    })
}

fn read_due(c: &Columns<'_, '_>) -> StoreResult<Option<Due>> {
    let at = match (c.optional(12)?, c.optional(13)?, c.optional(14)?) {
        (None, None, None) => None,
        (Some(local), Some(zone), Some(utc)) => Some((local, zone, utc)),
        _ => return Err(c.corrupt("due is missing its time, zone or instant")),
    };
    Due::from_stored(c.optional(11)?, at).map_err(|e| c.corrupt(e))
}

pub(super) fn read_user(row: &Row<'_>) -> StoreResult<User> {
    let c = Columns { row, what: "user" };
    let email = match row.get_ref(2).map_err(from_sqlite)? {
        ValueRef::Null => None,
        _ => Some(c.parsed(2, Email::parse)?),
    };
    let generation: i64 = row.get(5).map_err(from_sqlite)?;
    let kept = match row.get_ref(6).map_err(from_sqlite)? {
        ValueRef::Null => None,
        _ => Some(c.parsed(6, Uuid::parse_str)?),
    };
    Ok(User {
        username: c.parsed(0, Username::parse)?,
        password_hash: c.text(1)?.to_owned(),
        email,
        admin: row.get(3).map_err(from_sqlite)?,
        created_at: c.parsed(4, Timestamp::parse)?,
        // Ended sessions are read by the caller from their own table.
        revoked: Revocations::default()
            .with_generation(u64::try_from(generation).map_err(|e| c.corrupt(e))?, kept),
        usage: Usage {
            todos: c.count(7)?,
            bytes: c.count(8)?,
        },
        zone: match row.get_ref(9).map_err(from_sqlite)? {
            ValueRef::Null => None,
            _ => Some(c.parsed(9, Zone::parse)?),
        },
    })
}

pub(super) fn read_session(row: &Row<'_>) -> StoreResult<Session> {
    let c = Columns {
        row,
        what: "session",
    };
    let optional = |index: usize| -> StoreResult<Option<&str>> {
        match row.get_ref(index).map_err(from_sqlite)? {
            ValueRef::Null => Ok(None),
            _ => c.text(index).map(Some),
        }
    };
    let routes = match optional(4)? {
        None => None,
        Some(json) => Some(serde_json::from_str(json).map_err(|e| c.corrupt(e))?),
    };
    Ok(Session {
        owner: c.parsed(0, Username::parse)?,
        id: c.parsed(1, Uuid::parse_str)?,
        kind: c.parsed(2, str::parse)?,
        refresh_hash: optional(3)?.map(str::to_owned),
        routes,
        created_at: c.parsed(5, Timestamp::parse)?,
        expires_at: c.parsed(6, Timestamp::parse)?,
        generation: u64::try_from(row.get::<_, i64>(7).map_err(from_sqlite)?)
            .map_err(|e| c.corrupt(e))?,
        previous_hash: optional(8)?.map(str::to_owned),
    })
}

/// The columns `read_list` expects, in its order.
macro_rules! list_columns {
    () => {
        "owner, id, name, created_at, updated_at, version"
    };
}

pub(super) use list_columns;

pub(super) fn read_list(row: &Row<'_>) -> StoreResult<TodoList> {
    let c = Columns { row, what: "list" };
    Ok(TodoList {
        owner: c.parsed(0, Username::parse)?,
        id: c.parsed(1, ListId::parse)?,
        name: c.parsed(2, ListName::from_stored)?,
        created_at: c.parsed(3, Timestamp::parse)?,
        updated_at: c.parsed(4, Timestamp::parse)?,
        version: c.count(5)?,
    })
}

/// The columns `read_membership` expects, in its order.
macro_rules! member_columns {
    () => {
        "owner, list, member, role, since, added_at"
    };
}

pub(super) use member_columns;

pub(super) fn read_membership(row: &Row<'_>) -> StoreResult<Membership> {
    let c = Columns {
        row,
        what: "membership",
    };
    Ok(Membership {
        owner: c.parsed(0, Username::parse)?,
        list: c.parsed(1, ListId::parse)?,
        member: c.parsed(2, Username::parse)?,
        role: c.parsed(3, Role::of_member)?,
        since: c.parsed(4, Timestamp::parse)?,
        added_at: c.parsed(5, Timestamp::parse)?,
    })
}

/// How a todo's list is stored: NULL for its owner's Inbox.
pub(super) fn list_column(owner: &Username, list: ListId) -> Option<String> {
    (list != ListId::inbox_of(owner)).then(|| list.to_string())
}
