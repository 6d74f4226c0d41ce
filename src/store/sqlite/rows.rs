//! Rows as the engine returns them, and their checked conversion into domain values. A row that
//! breaks a domain rule is reported, never served.

use rusqlite::Row;
use uuid::Uuid;

use crate::domain::{Description, Email, Metadata, Timestamp, Todo, User, Username};
use crate::store::{StoreError, StoreResult};

pub(super) const TODO_COLUMNS: &str =
    "owner, uid, description, state, metadata, created_at, updated_at, version";
pub(super) const USER_COLUMNS: &str = "username, password_hash, email, admin, created_at";

pub(super) struct RawTodo {
    owner: String,
    uid: String,
    description: String,
    state: String,
    metadata: String,
    created_at: String,
    updated_at: String,
    version: i64,
}

impl RawTodo {
    pub(super) fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            owner: row.get(0)?,
            uid: row.get(1)?,
            description: row.get(2)?,
            state: row.get(3)?,
            metadata: row.get(4)?,
            created_at: row.get(5)?,
            updated_at: row.get(6)?,
            version: row.get(7)?,
        })
    }
}

pub(super) struct RawUser {
    username: String,
    password_hash: String,
    email: Option<String>,
    admin: bool,
    created_at: String,
}

impl RawUser {
    pub(super) fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            username: row.get(0)?,
            password_hash: row.get(1)?,
            email: row.get(2)?,
            admin: row.get(3)?,
            created_at: row.get(4)?,
        })
    }
}

fn corrupt(what: &str, key: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("stored {what} {key:?} is invalid: {why}"))
}

pub(super) fn todo_from_row(raw: RawTodo) -> StoreResult<Todo> {
    let bad = |why: &dyn std::fmt::Display| corrupt("todo", &raw.uid, why);
    Ok(Todo {
        uid: Uuid::parse_str(&raw.uid).map_err(|e| bad(&e))?,
        username: Username::parse(&raw.owner).map_err(|e| bad(&e))?,
        description: Description::parse(&raw.description).map_err(|e| bad(&e))?,
        state: raw.state.parse().map_err(|e| bad(&e))?,
        metadata: Metadata::from_json(&raw.metadata).map_err(|e| bad(&e))?,
        created_at: Timestamp::parse(&raw.created_at).map_err(|e| bad(&e))?,
        updated_at: Timestamp::parse(&raw.updated_at).map_err(|e| bad(&e))?,
        version: u64::try_from(raw.version).map_err(|e| bad(&e))?,
    })
}

pub(super) fn user_from_row(raw: RawUser) -> StoreResult<User> {
    let bad = |why: &dyn std::fmt::Display| corrupt("user", &raw.username, why);
    Ok(User {
        username: Username::parse(&raw.username).map_err(|e| bad(&e))?,
        email: raw
            .email
            .as_deref()
            .map(Email::parse)
            .transpose()
            .map_err(|e| bad(&e))?,
        created_at: Timestamp::parse(&raw.created_at).map_err(|e| bad(&e))?,
        admin: raw.admin,
        password_hash: raw.password_hash,
    })
}
