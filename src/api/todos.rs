//! /todos: the caller's own todo items.

use super::json::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiQuery, Authorizing, IfMatch, Principal, TodoUid, etag, present};
use super::idempotency::{IdempotencyKey, replayed};
use super::json::to_text;
use super::lists::{Kept, ListKey, Listed};
use super::paging::{Paging, state_of};
use crate::api::AppState;
use crate::domain::{Description, Metadata, Todo, TodoPatch, TodoState, Username};
use crate::services::Created;

/// The list's query string. Every field is optional and none is null: the document says what a
/// client may send, not how serde reads it (raw text, so a bad value gets our own 400).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only todos in this state.
    #[param(required = false, value_type = TodoState)]
    state: Option<String>,
    /// Items per page, 1–1000 (default 100).
    #[param(required = false, value_type = u32, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// From the `Link: rel="next"` header of the previous page.
    #[param(required = false, value_type = String)]
    cursor: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTodo {
    description: Description,
    /// `{}` when left out or null (the original sample stored what it was given).
    #[serde(default)]
    metadata: Option<Metadata>,
}

impl NewTodo {
    /// What the create asks for, to tell a retry from another request under the same key.
    fn request(&self) -> String {
        format!(
            "POST /todos {} {}",
            self.description.as_str(),
            self.metadata.as_ref().map_or("{}", |m| m.as_json())
        )
    }

    fn into_todo(self, owner: Username) -> Todo {
        Todo::new(owner, self.description, self.metadata.unwrap_or_default())
    }
}

/// The fields to change, at least one; those left out stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct TodoChanges {
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    description: Option<Description>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    state: Option<TodoState>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    metadata: Option<Metadata>,
}

/// An item's `ETag`.
fn item_headers(todo: &Todo) -> HeaderMap {
    HeaderMap::from_iter([(header::ETAG, etag(todo.version))])
}

/// A new item's headers: its `ETag` and where it is.
fn created_headers(todo: &Todo) -> HeaderMap {
    let mut headers = item_headers(todo);
    if let Ok(location) = HeaderValue::from_str(&format!("/todos/{}", todo.uid)) {
        headers.insert(header::LOCATION, location);
    }
    headers
}

/// List your todos
#[utoipa::path(get, path = "/todos", tag = "todos", params(ListQuery), security(("token" = [])),
    responses(
        (status = 200, body = [Todo], description = "Oldest first, with the page's `ETag`; a `Link: <…>; rel=\"next\"` header when more follow",
            headers(("ETag"), ("Link"))),
        (status = 304, description = "The page is unchanged since the `If-None-Match` tag"),
        (status = 400, description = "Bad state, limit or cursor"),
        (status = 401, description = "Unauthorized"),
    ))]
pub async fn list_todos(
    State(app): State<AppState>,
    caller: Authorizing,
    request: HeaderMap,
    query: Result<ApiQuery<ListQuery>, ApiError>,
) -> ApiResult<Response> {
    let listed = caller
        .read(&app, async |owner| {
            let ApiQuery(query) = query?;
            let state = state_of(query.state.as_deref())?;
            let scope = format!("todos {owner}");
            let (limit, cursor) = (query.limit.as_deref(), query.cursor.as_deref());
            let paging = Paging::in_state(&app.cursors, "/todos", &scope, state, limit, cursor)?;
            let key = Kept::Page(ListKey::new(owner.clone(), state, &paging.request));
            let list = async || -> ApiResult<Listed> {
                let page = app.todos.page(owner, state, &paging.request).await?;
                paging.listed(&app.cursors, &page.items, page.next)
            };
            app.lists.get_or_read(app.todos.changes(), key, list).await
        })
        .await?;
    Ok(listed.answer(&request))
}

/// Create a todo
#[utoipa::path(post, path = "/todos", tag = "todos", request_body = NewTodo, security(("token" = [])),
    params(IdempotencyKey),
    responses(
        (status = 201, body = Todo, description = "Created; `Location` names the new item (`Idempotent-Replayed: true` on a retry's answer)",
            headers(("Location"), ("ETag"))),
        (status = 422, description = "The Idempotency-Key was used for another request"),
        (status = 400, description = "Invalid description or metadata, or a malformed Idempotency-Key"),
        (status = 401, description = "Unauthorized"),
        (status = 413, description = "Body over 64 KiB"),
        (status = 403, description = "The account holds as many todos or bytes as its quota allows (the message names the limit)"),
        (status = 429, description = "The account writes faster than its limit; see Retry-After"),
    ))]
pub async fn create_todo(
    State(app): State<AppState>,
    Principal(caller): Principal,
    key: IdempotencyKey,
    ApiJson(new): ApiJson<NewTodo>,
) -> ApiResult<Response> {
    let request = new.request();
    let todo = new.into_todo(caller.owner.clone());
    let body = to_text(&todo)?;
    let answer = key.answer(&caller.owner, &request, body.clone());
    let (todo, mut response) = match app.todos.create(&caller, todo, answer).await? {
        Created::New(todo) => {
            let json = [(header::CONTENT_TYPE, "application/json")];
            (todo, (StatusCode::CREATED, json, body).into_response())
        }
        Created::Before(earlier) => {
            // The kept answer is the item as it was created: its headers are the item's too.
            let todo: Todo = serde_json::from_str(&earlier.answer)
                .map_err(|e| ApiError::Internal(format!("a kept answer: {e}")))?;
            (todo, replayed(StatusCode::CREATED, &earlier))
        }
    };
    response.headers_mut().extend(created_headers(&todo));
    Ok(response)
}

/// Get one todo
#[utoipa::path(get, path = "/todos/{uid}", tag = "todos", security(("token" = [])),
    params(("uid" = String, Path, format = Uuid)),
    responses(
        (status = 200, body = Todo, description = "The item, with its `ETag`", headers(("ETag"))),
        (status = 401, description = "Unauthorized"),
        (status = 404, description = "No such todo of yours"),
    ))]
pub async fn get_todo(
    State(app): State<AppState>,
    caller: Authorizing,
    uid: Result<TodoUid, ApiError>,
) -> ApiResult<impl IntoResponse> {
    caller
        .read(&app, async |owner| {
            let TodoUid(uid) = uid?;
            let key = Kept::Item {
                owner: owner.clone(),
                uid,
            };
            let read = async || -> ApiResult<Listed> {
                let todo = app.todos.get(owner, uid).await?;
                Listed::item(&todo, etag(todo.version))
            };
            app.lists.get_or_read(app.todos.changes(), key, read).await
        })
        .await
}

/// Change a todo
#[utoipa::path(method(put, patch), path = "/todos/{uid}", tag = "todos", request_body = TodoChanges,
    security(("token" = [])),
    params(("uid" = String, Path, format = Uuid),
           IfMatch),
    responses(
        (status = 200, body = Todo, description = "The changed item", headers(("ETag"))),
        (status = 400, description = "No field to change, an invalid field or state, or an If-Match that is empty or malformed"),
        (status = 401, description = "Unauthorized"),
        (status = 404, description = "No such todo of yours"),
        (status = 412, description = "If-Match does not match"),
        (status = 403, description = "The account holds as many todos or bytes as its quota allows (the message names the limit)"),
        (status = 429, description = "The account writes faster than its limit; see Retry-After"),
    ))]
pub async fn update_todo(
    State(app): State<AppState>,
    Principal(caller): Principal,
    TodoUid(uid): TodoUid,
    if_match: IfMatch,
    ApiJson(changes): ApiJson<TodoChanges>,
) -> ApiResult<impl IntoResponse> {
    let patch = TodoPatch::new(changes.description, changes.state, changes.metadata)?;
    let todo = app
        .todos
        .update(&caller, uid, &patch, if_match.0.as_deref())
        .await?;
    Ok((item_headers(&todo), Json(todo)))
}

/// Delete a todo
#[utoipa::path(delete, path = "/todos/{uid}", tag = "todos", security(("token" = [])),
    params(("uid" = String, Path, format = Uuid),
           IfMatch),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "An If-Match that is empty or malformed"),
        (status = 401, description = "Unauthorized"),
        (status = 404, description = "No such todo of yours"),
        (status = 412, description = "If-Match does not match"),
        (status = 429, description = "The account writes faster than its limit; see Retry-After"),
    ))]
pub async fn delete_todo(
    State(app): State<AppState>,
    Principal(caller): Principal,
    TodoUid(uid): TodoUid,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    app.todos
        .delete(&caller, uid, if_match.0.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BulkDeleteQuery {
    /// Which todos go: only `completed` (the web app's "clear completed").
    #[param(required = true, inline, value_type = Clearable)]
    state: Option<String>,
}

/// The one state whose todos can be deleted at once.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // Only its schema is used: the handler reads the raw text.
enum Clearable {
    Completed,
}

#[derive(Serialize, ToSchema)]
pub struct Deleted {
    deleted: u64,
}

#[derive(Serialize, ToSchema)]
pub struct Changed {
    changed: u64,
}

/// Clear completed todos
#[utoipa::path(delete, path = "/todos", tag = "todos", security(("token" = [])),
    params(BulkDeleteQuery, IdempotencyKey),
    responses(
        (status = 422, description = "The Idempotency-Key was used for another request"),
        (status = 200, body = Deleted, description = "How many went"),
        (status = 400, description = "No state, or not `completed`, or a malformed Idempotency-Key"),
        (status = 401, description = "Unauthorized"),
        (status = 429, description = "The account writes faster than its limit; see Retry-After"),
    ))]
pub async fn delete_in_state(
    State(app): State<AppState>,
    Principal(caller): Principal,
    key: IdempotencyKey,
    ApiQuery(query): ApiQuery<BulkDeleteQuery>,
) -> ApiResult<Response> {
    // Deleting every todo takes more than one careless click: only the completed ones go here.
    let state = state_of(query.state.as_deref())?;
    if state != Some(TodoState::Completed) {
        return Err(ApiError::BadRequest(
            "say which todos to delete: ?state=completed".into(),
        ));
    }
    const REQUEST: &str = "DELETE /todos?state=completed";
    if let Some(replayed) = answered_before(&app, &caller.owner, &key, REQUEST).await? {
        return Ok(replayed);
    }
    let deleted = app.todos.clear_completed(&caller).await?;
    answer_once(&app, &caller.owner, &key, REQUEST, Deleted { deleted }).await
}

/// The first answer, when a bulk action's idempotency key was used before: the retry does
/// nothing (todos completed since must not go with it).
async fn answered_before(
    app: &AppState,
    owner: &Username,
    key: &IdempotencyKey,
    request: &str,
) -> ApiResult<Option<Response>> {
    let Some(now) = key.answer(owner, request, String::new()) else {
        return Ok(None);
    };
    Ok(app
        .todos
        .recall(&now)
        .await?
        .as_ref()
        .map(|earlier| replayed(StatusCode::OK, earlier)))
}

/// The answer to a bulk action, kept under its idempotency key if it has one. Two requests
/// with one key at the same moment may both act (the end state is the same), and get the
/// first answer.
async fn answer_once<T: Serialize>(
    app: &AppState,
    owner: &Username,
    key: &IdempotencyKey,
    request: &str,
    answer: T,
) -> ApiResult<Response> {
    let body = to_text(&answer)?;
    if let Some(now) = key.answer(owner, request, body.clone()) {
        match app.todos.remember(&now).await {
            Ok(Some(earlier)) => return Ok(replayed(StatusCode::OK, &earlier)),
            Ok(None) => {}
            // The action is done: it is answered as done. A retry with the key will act again
            // (on what is left), which is what the bulk actions allow anyway.
            Err(error) => tracing::warn!(%error, "a bulk action's answer could not be kept"),
        }
    }
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Mark all completed
#[utoipa::path(post, path = "/todos/complete-all", tag = "todos", security(("token" = [])),
    params(IdempotencyKey),
    responses(
        (status = 422, description = "The Idempotency-Key was used for another request"),
        (status = 200, body = Changed, description = "How many changed (those already completed stay as they are)"),
        (status = 400, description = "A malformed Idempotency-Key"),
        (status = 401, description = "Unauthorized"),
        (status = 429, description = "The account writes faster than its limit; see Retry-After"),
    ))]
pub async fn complete_all(
    State(app): State<AppState>,
    Principal(caller): Principal,
    key: IdempotencyKey,
) -> ApiResult<Response> {
    const REQUEST: &str = "POST /todos/complete-all";
    if let Some(replayed) = answered_before(&app, &caller.owner, &key, REQUEST).await? {
        return Ok(replayed);
    }
    let changed = app.todos.complete_all(&caller).await?;
    answer_once(&app, &caller.owner, &key, REQUEST, Changed { changed }).await
}
