//! /lists: the caller's lists of todos, their Inbox first.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiResult;
use super::extract::{ApiJson, IfMatch, ListPath, Principal, etag};
use super::json::Json;
use crate::api::AppState;
use crate::domain::{ListId, ListName, Role, Timestamp, TodoList};
use crate::services::Counted;

/// A list as the caller sees it.
#[derive(Serialize, ToSchema)]
pub struct ListView {
    #[schema(value_type = String, format = Uuid)]
    id: ListId,
    #[schema(value_type = String)]
    name: ListName,
    /// Whose list it is.
    owner: String,
    /// What the caller may do with it.
    role: Role,
    /// Whether it is the owner's Inbox (which holds every todo not put elsewhere, and cannot
    /// be renamed or deleted).
    inbox: bool,
    /// Its todos not completed.
    open: u64,
    /// Its completed todos.
    completed: u64,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    updated_at: Timestamp,
    /// Goes up with every change; the `ETag`.
    version: u64,
}

impl From<Counted> for ListView {
    fn from(Counted { list, counts }: Counted) -> Self {
        Self {
            id: list.id,
            inbox: list.is_inbox(),
            owner: list.owner.to_string(),
            role: Role::Owner,
            name: list.name,
            open: counts.open,
            completed: counts.completed,
            created_at: list.created_at,
            updated_at: list.updated_at,
            version: list.version,
        }
    }
}

/// A list's name, to make or rename it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListFields {
    #[schema(value_type = String)]
    name: ListName,
}

fn list_headers(list: &TodoList, created: bool) -> HeaderMap {
    let mut headers = HeaderMap::from_iter([(header::ETAG, etag(list.version))]);
    let location = HeaderValue::from_str(&format!("/lists/{}", list.id));
    if let (true, Ok(location)) = (created, location) {
        headers.insert(header::LOCATION, location);
    }
    headers
}

/// Your lists
#[utoipa::path(get, path = "/lists", tag = "lists", security(("token" = [])),
    responses(
        (status = 200, body = [ListView], description = "Your Inbox first, then the lists you made, oldest first, each with how many todos it holds"),
        (status = 401, description = "Unauthorized"),
    ))]
pub async fn list_lists(
    State(app): State<AppState>,
    Principal(caller): Principal,
) -> ApiResult<Json<Vec<ListView>>> {
    let lists = app.todos.lists(&caller).await?;
    Ok(Json(lists.into_iter().map(ListView::from).collect()))
}

/// Make a list
#[utoipa::path(post, path = "/lists", tag = "lists", request_body = ListFields,
    security(("token" = [])),
    responses(
        (status = 201, body = ListView, description = "Made; `Location` names it", headers(("Location"), ("ETag"))),
        (status = 400, description = "A name that is empty, too long or not one line"),
        (status = 401, description = "Unauthorized"),
        (status = 403, description = "The account has as many lists as it may (100 besides the Inbox)"),
        (status = 429, description = "The account writes faster than its limit; see Retry-After"),
    ))]
pub async fn create_list(
    State(app): State<AppState>,
    Principal(caller): Principal,
    ApiJson(fields): ApiJson<ListFields>,
) -> ApiResult<impl IntoResponse> {
    let list = app.todos.create_list(&caller, fields.name).await?;
    let headers = list_headers(&list, true);
    let counted = Counted {
        list,
        counts: Default::default(),
    };
    Ok((StatusCode::CREATED, headers, Json(ListView::from(counted))))
}

/// One of your lists
#[utoipa::path(get, path = "/lists/{id}", tag = "lists", security(("token" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, body = ListView, description = "The list, with its `ETag`", headers(("ETag"))),
        (status = 401, description = "Unauthorized"),
        (status = 404, description = "No such list of yours"),
    ))]
pub async fn get_list(
    State(app): State<AppState>,
    Principal(caller): Principal,
    ListPath(id): ListPath,
) -> ApiResult<impl IntoResponse> {
    let counted = app.todos.counted_list(&caller, id).await?;
    Ok((
        list_headers(&counted.list, false),
        Json(ListView::from(counted)),
    ))
}

/// Rename a list
#[utoipa::path(patch, path = "/lists/{id}", tag = "lists", request_body = ListFields,
    security(("token" = [])),
    params(("id" = String, Path, format = Uuid), IfMatch),
    responses(
        (status = 200, body = ListView, description = "The renamed list", headers(("ETag"))),
        (status = 400, description = "A bad name, or an If-Match that is empty or malformed"),
        (status = 401, description = "Unauthorized"),
        (status = 404, description = "No such list of yours"),
        (status = 409, description = "The Inbox keeps its name"),
        (status = 412, description = "If-Match does not match"),
        (status = 429, description = "The account writes faster than its limit; see Retry-After"),
    ))]
pub async fn rename_list(
    State(app): State<AppState>,
    Principal(caller): Principal,
    ListPath(id): ListPath,
    if_match: IfMatch,
    ApiJson(fields): ApiJson<ListFields>,
) -> ApiResult<impl IntoResponse> {
    let list = app
        .todos
        .rename_list(&caller, id, &fields.name, if_match.0.as_deref())
        .await?;
    let counted = app.todos.with_counts(list).await?;
    Ok((
        list_headers(&counted.list, false),
        Json(ListView::from(counted)),
    ))
}

/// Delete a list and its todos
#[utoipa::path(delete, path = "/lists/{id}", tag = "lists", security(("token" = [])),
    params(("id" = String, Path, format = Uuid), IfMatch),
    responses(
        (status = 204, description = "Deleted, with every todo in it"),
        (status = 400, description = "An If-Match that is empty or malformed"),
        (status = 401, description = "Unauthorized"),
        (status = 404, description = "No such list of yours"),
        (status = 409, description = "The Inbox cannot be deleted"),
        (status = 412, description = "If-Match does not match"),
        (status = 429, description = "The account writes faster than its limit; see Retry-After"),
    ))]
pub async fn delete_list(
    State(app): State<AppState>,
    Principal(caller): Principal,
    ListPath(id): ListPath,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    app.todos
        .delete_list(&caller, id, if_match.0.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
