//! GET /sync: everything the caller can see, then what changed since a token. The token is the
//! store's change-log point and when it was given, sealed to the caller's account and hidden
//! (see `Cursors`).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiQuery, Principal};
use super::json::Json;
use crate::api::AppState;
use crate::auth::Decision;
use crate::domain::{ListId, ListName, Role, Timestamp, Todo};
use crate::services::{Seen, Synced};
use crate::store::SYNC_HISTORY_SECONDS;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SyncQuery {
    /// The `token` of your last sync; left out (or empty), everything is sent.
    since: Option<String>,
}

/// A list as a sync sends it (without counts: the todos are there to count).
#[derive(Serialize, ToSchema)]
pub struct SyncedList {
    #[schema(value_type = String, format = Uuid)]
    id: ListId,
    name: ListName,
    owner: String,
    /// What you may do with it.
    role: Role,
    /// Whether it is its owner's Inbox.
    inbox: bool,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    updated_at: Timestamp,
    version: u64,
}

impl From<Seen> for SyncedList {
    fn from(Seen { list, role }: Seen) -> Self {
        Self {
            id: list.id,
            inbox: list.is_inbox(),
            owner: list.owner.to_string(),
            role,
            name: list.name,
            created_at: list.created_at,
            updated_at: list.updated_at,
            version: list.version,
        }
    }
}

/// Lists and todos in full, the ids of those gone from your sight, and the token to send next.
#[derive(Serialize, ToSchema)]
pub struct SyncAnswer {
    /// Whether this is everything (no `since`): replace what you hold with it.
    full: bool,
    lists: Vec<SyncedList>,
    todos: Vec<Todo>,
    /// Lists deleted or no longer shared with you: drop them and their todos.
    #[schema(value_type = Vec<String>)]
    deleted_lists: Vec<ListId>,
    /// Todos deleted or moved where you cannot see them.
    deleted_todos: Vec<Uuid>,
    /// `GET /sync?since=<token>` next; works for your account only, for 14 days.
    token: String,
}

/// The token's scope: the account it was given to (not a later one of the same name).
fn scope(caller: &Decision) -> String {
    let account = caller.account.map(|at| at.to_string()).unwrap_or_default();
    format!("sync {} {account}", caller.owner)
}

/// Sync your lists and todos
#[utoipa::path(get, path = "/sync", tag = "lists", security(("token" = [])),
    params(SyncQuery),
    responses(
        (status = 200, body = SyncAnswer, description = "Without `since`, every list you can see and every todo in them; with it, what changed since (changes of other members, other devices and other instances included) — a change may be sent twice"),
        (status = 400, description = "A token that is not one of yours"),
        (status = 401, description = "Unauthorized"),
        (status = 410, description = "A token older than the history kept (14 days): sync again without `since`"),
    ))]
pub async fn sync(
    State(app): State<AppState>,
    Principal(caller): Principal,
    ApiQuery(query): ApiQuery<SyncQuery>,
) -> ApiResult<Json<SyncAnswer>> {
    let scope = scope(&caller);
    // Empty is left out, as a list's empty cursor is.
    let since = match query.since.as_deref().filter(|token| !token.is_empty()) {
        None => None,
        Some(token) => Some(point_of(
            &app.cursors.open(&scope, token).map_err(|_| not_yours())?,
        )?),
    };
    let synced = match since {
        None => app.todos.sync_all(&caller).await?,
        Some(since) => app.todos.sync_since(&caller, since).await?,
    };
    let token = app.cursors.seal(
        &scope,
        &format!("{}.{}", synced.point, Timestamp::now().unix_seconds()),
    );
    let Synced {
        lists,
        todos,
        deleted_lists,
        deleted_todos,
        ..
    } = synced;
    Ok(Json(SyncAnswer {
        full: since.is_none(),
        lists: lists.into_iter().map(SyncedList::from).collect(),
        todos: todos.into_values().collect(),
        deleted_lists,
        deleted_todos: deleted_todos.into_iter().collect(),
        token,
    }))
}

fn not_yours() -> ApiError {
    ApiError::BadRequest("since is not a sync token of yours".into())
}

/// The change-log point in a token, unless it is older than the history kept.
fn point_of(position: &str) -> ApiResult<u64> {
    let (point, given) = position.split_once('.').ok_or_else(not_yours)?;
    let (point, given): (u64, u64) = match (point.parse(), given.parse()) {
        (Ok(point), Ok(given)) => (point, given),
        _ => return Err(not_yours()),
    };
    if given + SYNC_HISTORY_SECONDS < Timestamp::now().unix_seconds() {
        return Err(ApiError::Gone(
            "This sync token is older than the 14 days of changes kept: sync again without since",
        ));
    }
    Ok(point)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_older_than_the_history_kept_is_gone() {
        let now = Timestamp::now().unix_seconds();
        assert_eq!(point_of(&format!("7.{now}")).unwrap(), 7);
        let old = now - SYNC_HISTORY_SECONDS - 60;
        assert!(matches!(
            point_of(&format!("7.{old}")),
            Err(ApiError::Gone(_))
        ));
        for bad in ["7", "x.1", "7.x", "-1.1"] {
            assert!(
                matches!(point_of(bad), Err(ApiError::BadRequest(_))),
                "{bad}"
            );
        }
    }
}
