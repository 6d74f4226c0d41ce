//! /lists: the caller's lists of todos, their Inbox first, and those shared with them; and
//! /lists/{id}/members: whom a list is shared with.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, IfMatch, ListPath, Principal, etag};
use super::idempotency::IdempotencyKey;
use super::json::Json;
use crate::api::AppState;
use crate::domain::{ListId, ListName, Role, Timestamp, TodoList, Username};
use crate::services::{Counted, Member};

/// A list as the caller sees it.
#[derive(Serialize, ToSchema)]
pub struct ListView {
    #[schema(value_type = String, format = Uuid)]
    id: ListId,
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
    fn from(Counted { list, counts, role }: Counted) -> Self {
        Self {
            id: list.id,
            inbox: list.is_inbox(),
            owner: list.owner.to_string(),
            role,
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
        (status = 200, body = [ListView], description = "Your Inbox first, then the lists you made, oldest first, then those shared with you, each with how many todos it holds and your role"),
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
    params(IdempotencyKey),
    responses(
        (status = 201, body = ListView, description = "Made; `Location` names it (`Idempotent-Replayed: true` when a request with the same key made it before)", headers(("Location"), ("ETag"))),
        (status = 422, description = "The Idempotency-Key was used for another request (another name)"),
        (status = 400, description = "A name that is empty, too long or not one line, or a malformed Idempotency-Key"),
        (status = 401, description = "Unauthorized"),
        (status = 403, description = "The account has as many lists as it may (100 besides the Inbox)"),
        (status = 429, description = "The account writes faster than its limit; see Retry-After"),
    ))]
pub async fn create_list(
    State(app): State<AppState>,
    Principal(caller): Principal,
    key: IdempotencyKey,
    ApiJson(fields): ApiJson<ListFields>,
) -> ApiResult<Response> {
    let (list, before) = app
        .todos
        .create_list(&caller, fields.name, key.0.as_deref())
        .await?;
    let mut headers = list_headers(&list, true);
    let counted = match before {
        // Made by an earlier try: as it is now, counts and all.
        true => {
            headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
            app.todos.with_counts(list).await?
        }
        false => Counted {
            list,
            counts: Default::default(),
            role: Role::Owner,
        },
    };
    Ok((StatusCode::CREATED, headers, Json(ListView::from(counted))).into_response())
}

/// One of your lists, or one shared with you
#[utoipa::path(get, path = "/lists/{id}", tag = "lists", security(("token" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, body = ListView, description = "The list, with its `ETag`", headers(("ETag"))),
        (status = 401, description = "Unauthorized"),
        (status = 404, description = "No such list of yours or shared with you"),
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
        (status = 403, description = "Shared with you: only its owner renames it"),
        (status = 404, description = "No such list of yours or shared with you"),
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
        (status = 403, description = "Shared with you: only its owner deletes it"),
        (status = 404, description = "No such list of yours or shared with you"),
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

/// Someone who can reach a list.
#[derive(Serialize, ToSchema)]
pub struct MemberView {
    #[schema(value_type = String)]
    username: Username,
    /// `owner`, `editor` (creates, changes and deletes its todos) or `viewer` (reads them).
    role: Role,
    /// Since when (the owner: since the list was made).
    #[schema(value_type = String, format = DateTime)]
    since: Timestamp,
}

impl From<Member> for MemberView {
    fn from(m: Member) -> Self {
        Self {
            username: m.username,
            role: m.role,
            since: m.since,
        }
    }
}

/// What a member may do.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Share {
    /// `editor` or `viewer`.
    #[schema(value_type = String, pattern = "^(editor|viewer)$")]
    role: MemberRole,
}

/// `editor` or `viewer`, as sent.
#[derive(Deserialize)]
#[serde(try_from = "String")]
struct MemberRole(Role);

impl TryFrom<String> for MemberRole {
    type Error = crate::domain::Invalid;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Role::of_member(&raw).map(Self)
    }
}

/// The `{username}` of a members route (one that cannot be a name is no member: 404).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Only its description is used: `MemberPath` reads the path.
pub struct MemberParams {
    #[param(format = Uuid)]
    id: String,
    #[param(schema_with = Username::schema)]
    username: String,
}

/// The list and the person of a members route.
pub struct MemberPath(ListId, Username);

impl<S: Send + Sync> FromRequestParts<S> for MemberPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path((id, name)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("List not found"))?;
        let id = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("List not found"))?;
        let name = Username::parse(&name).map_err(|_| ApiError::NotFound("User not found"))?;
        Ok(Self(ListId::from(id), name))
    }
}

/// Who can reach a list
#[utoipa::path(get, path = "/lists/{id}/members", tag = "lists", security(("token" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses(
        (status = 200, body = [MemberView], description = "Its owner first, then its members by name"),
        (status = 401, description = "Unauthorized"),
        (status = 404, description = "No such list of yours or shared with you"),
    ))]
pub async fn list_members(
    State(app): State<AppState>,
    Principal(caller): Principal,
    ListPath(id): ListPath,
) -> ApiResult<Json<Vec<MemberView>>> {
    let members = app.todos.members(&caller, id).await?;
    Ok(Json(members.into_iter().map(MemberView::from).collect()))
}

/// Share a list, or change what a member may do
#[utoipa::path(put, path = "/lists/{id}/members/{username}", tag = "lists", request_body = Share,
    security(("token" = [])),
    params(MemberParams),
    responses(
        (status = 201, description = "Shared with them"),
        (status = 200, description = "Their role changed (or was already this)"),
        (status = 400, description = "A role that is not editor or viewer"),
        (status = 401, description = "Unauthorized"),
        (status = 403, description = "Shared with you: only its owner shares it; or shared with as many people as a list may be (100), or they with as many lists as one may be (100)"),
        (status = 404, description = "No such list of yours, or no such user"),
        (status = 409, description = "The Inbox, or yourself"),
        (status = 429, description = "The account writes faster than its limit; see Retry-After"),
    ))]
pub async fn share_list(
    State(app): State<AppState>,
    Principal(caller): Principal,
    MemberPath(id, member): MemberPath,
    ApiJson(share): ApiJson<Share>,
) -> ApiResult<StatusCode> {
    match app.todos.share(&caller, id, &member, share.role.0).await? {
        true => Ok(StatusCode::CREATED),
        false => Ok(StatusCode::OK),
    }
}

/// Stop sharing a list with someone, or leave it
#[utoipa::path(delete, path = "/lists/{id}/members/{username}", tag = "lists",
    security(("token" = [])),
    params(MemberParams),
    responses(
        (status = 204, description = "They no longer reach the list or its todos, from the next request on"),
        (status = 401, description = "Unauthorized"),
        (status = 403, description = "Shared with you: you may only remove yourself"),
        (status = 404, description = "No such list of yours or shared with you, or no such member"),
        (status = 409, description = "The owner cannot leave their own list"),
        (status = 429, description = "The account writes faster than its limit; see Retry-After"),
    ))]
pub async fn unshare_list(
    State(app): State<AppState>,
    Principal(caller): Principal,
    MemberPath(id, member): MemberPath,
) -> ApiResult<StatusCode> {
    app.todos.unshare(&caller, id, &member).await?;
    Ok(StatusCode::NO_CONTENT)
}
