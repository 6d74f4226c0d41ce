//! /todos: the caller's own todo items.

use super::json::{TodoJson, todo_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult};
use super::extract::{
    ApiJson, ApiQuery, Authorizing, IfMatch, Principal, TodoUid, clearable, etag, present,
};
use super::idempotency::{IdempotencyKey, replayed};
use super::json::to_text;
use super::kept::{IfNoneMatch, Kept, ListKey, Listed};
use super::paging::{Filter, LazyPaging, Paging, state_of};
use crate::api::AppState;
use crate::auth::Decision;
use crate::domain::{
    Change, Description, Due, DueBound, ListAsk, ListId, Metadata, Notes, Plan, Priority, Search,
    Sort, Title, Todo, TodoPatch, TodoQuery, TodoState, Username, View, Zone,
};
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
    /// The order: `created` (oldest first, the default), `position` (the person's own),
    /// `due` (soonest first, no date last) or `priority` (high first).
    #[param(required = false, inline, value_type = Sort)]
    sort: Option<String>,
    /// A view in the caller's time zone (`tz`): `today`, `overdue` (not completed, due before
    /// today or before now), `upcoming` (due after today) or `no-date`.
    #[param(required = false, inline, value_type = View)]
    view: Option<String>,
    /// The caller's IANA time zone for views and date bounds (default UTC).
    #[param(required = false, value_type = String, example = "Europe/Berlin")]
    tz: Option<String>,
    /// Only todos due before this date (its start in `tz`) or instant (RFC 3339 with offset).
    #[param(required = false, value_type = String, example = "2026-12-24")]
    due_before: Option<String>,
    /// Only todos due on or after this date (its start in `tz`) or instant.
    #[param(required = false, value_type = String, example = "2026-12-01")]
    due_after: Option<String>,
    /// Only todos with these words: each the beginning of a word of the title, description or
    /// notes, whatever the case and the accents (`q=cafe` finds "Café au lait").
    #[param(required = false, value_type = String, example = "milk", max_length = 200)]
    q: Option<String>,
    /// Only the todos of this list (yours or shared with you, from `GET /lists`); without
    /// it, the todos of every list you own.
    #[param(required = false, value_type = String, format = Uuid)]
    list: Option<String>,
}

impl ListQuery {
    /// The list asked for, at this moment in the caller's zone (`owner`'s profile's when `tz`
    /// is not given and the list needs one).
    async fn todo_query(
        &self,
        app: &AppState,
        owner: &Username,
        state: Option<TodoState>,
    ) -> ApiResult<TodoQuery> {
        let ask = ListAsk {
            state,
            view: self.view.as_deref().map(str::parse).transpose()?,
            due_before: due_bound("due_before", self.due_before.as_deref())?,
            due_after: due_bound("due_after", self.due_after.as_deref())?,
            search: self.q.as_deref().map(Search::parse).transpose()?,
            sort: self
                .sort
                .as_deref()
                .map(str::parse)
                .transpose()?
                .unwrap_or_default(),
            list: self.list.as_deref().map(ListId::parse).transpose()?,
        };
        let zone = zone_of(app, owner, self.tz.as_deref(), &ask).await?;
        Ok(ask.query(&zone, jiff::Timestamp::now())?)
    }

    /// The parameters the list's links keep.
    fn filter(&self, state: Option<TodoState>) -> Filter {
        Filter::default()
            .with("state", state.map(TodoState::as_str))
            .with("sort", self.sort.as_deref())
            .with("view", self.view.as_deref())
            .with("tz", self.tz.as_deref())
            .with("due_before", self.due_before.as_deref())
            .with("due_after", self.due_after.as_deref())
            .with("q", self.q.as_deref())
            .with("list", self.list.as_deref())
    }
}

/// `due_before` or `due_after` as given.
pub(super) fn due_bound(name: &str, raw: Option<&str>) -> ApiResult<Option<DueBound>> {
    Ok(raw.map(|r| DueBound::parse(name, r)).transpose()?)
}

/// The zone of `ask`'s days: `tz`, else (only when `ask` has days to work out) `owner`'s
/// profile's, else UTC.
pub(super) async fn zone_of(
    app: &AppState,
    owner: &Username,
    tz: Option<&str>,
    ask: &ListAsk,
) -> ApiResult<Zone> {
    match tz {
        Some(tz) => Ok(Zone::parse(tz)?),
        None if ask.needs_zone() => Ok(app.accounts.zone_of(owner).await?),
        None => Ok(Zone::utc()),
    }
}

/// A new todo: its description; every other field optional.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "description": "Order the goose for Christmas Eve",
    "title": "Goose",
    "notes": "From the farm on the hill.\nAsk for a big one.",
    "priority": "high",
    "due": {"at": "2026-12-24T18:00", "tz": "Europe/Berlin"}
}))]
pub struct NewTodo {
    /// What the todo says (what clients that know no titles show).
    description: Description,
    /// `{}` when left out or null (the original sample stored what it was given).
    #[serde(default)]
    metadata: Option<Metadata>,
    /// A one-line summary (the seeds' task API's `title`).
    #[serde(default)]
    title: Option<Title>,
    #[serde(default)]
    notes: Option<Notes>,
    /// `none` when left out.
    #[serde(default)]
    priority: Option<Priority>,
    #[serde(default)]
    due: Option<Due>,
    /// The list to put it in (yours, or shared with you as an editor; from `GET /lists`);
    /// your Inbox when left out.
    #[serde(default)]
    list: Option<ListId>,
}

impl NewTodo {
    /// What the create asks for, to tell a retry from another request under the same key (as
    /// earlier versions wrote it when only a description and metadata are sent, so a retry
    /// across an upgrade is still recognised).
    fn request(&self) -> String {
        let metadata = self.metadata.as_ref().map_or("{}", |m| m.as_json());
        let plain = self.title.is_none()
            && self.notes.is_none()
            && self.priority.is_none()
            && self.due.is_none()
            && self.list.is_none();
        match plain {
            true => format!("POST /todos {} {metadata}", self.description.as_str()),
            false => {
                let fields = serde_json::json!([
                    self.description.as_str(),
                    metadata,
                    self.title.as_ref().map(Title::as_str),
                    self.notes.as_ref().map(Notes::as_str),
                    self.priority,
                    self.due,
                    self.list,
                ]);
                format!("POST /todos {fields}")
            }
        }
    }

    fn into_todo(self, owner: Username) -> Todo {
        let plan = Plan {
            title: self.title,
            notes: self.notes,
            priority: self.priority.unwrap_or_default(),
            due: self.due,
        };
        let mut todo = Todo::planned(
            owner,
            self.description,
            self.metadata.unwrap_or_default(),
            plan,
        );
        if let Some(list) = self.list {
            todo.list = list;
        }
        todo
    }
}

/// The fields to change, at least one; those left out stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1, example = json!({"state": "started", "due": "2026-12-23", "notes": null}))]
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
    /// `null` removes it.
    #[serde(default, deserialize_with = "clearable")]
    #[schema(value_type = Option<Title>)]
    title: Change<Title>,
    /// `null` removes them.
    #[serde(default, deserialize_with = "clearable")]
    #[schema(value_type = Option<Notes>)]
    notes: Change<Notes>,
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    priority: Option<Priority>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "clearable")]
    #[schema(value_type = Option<Due>)]
    due: Change<Due>,
    /// Another list of the same owner's to put it in (one you may write to).
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    list: Option<ListId>,
}

impl TodoChanges {
    /// The change to make: at least one field.
    pub(super) fn into_patch(self) -> ApiResult<TodoPatch> {
        let patch = TodoPatch {
            description: self.description,
            state: self.state,
            metadata: self.metadata,
            title: self.title,
            notes: self.notes,
            due: self.due,
            priority: self.priority,
            position: None,
            list: self.list,
            by: None,
        };
        Ok(patch.checked()?)
    }
}

/// Where a todo goes in its owner's order: just before or just after another todo of theirs.
#[derive(Deserialize, ToSchema)]
#[serde(untagged, try_from = "MoveFields")]
pub enum MoveTo {
    Before(MoveBefore),
    After(MoveAfter),
}

/// A move as sent, before it is known to say exactly one place.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveFields {
    #[serde(default, deserialize_with = "present")]
    before: Option<uuid::Uuid>,
    #[serde(default, deserialize_with = "present")]
    after: Option<uuid::Uuid>,
}

impl TryFrom<MoveFields> for MoveTo {
    type Error = String;
    fn try_from(fields: MoveFields) -> Result<Self, String> {
        match (fields.before, fields.after) {
            (Some(before), None) => Ok(Self::Before(MoveBefore { before })),
            (None, Some(after)) => Ok(Self::After(MoveAfter { after })),
            _ => Err("say where the todo goes: {\"before\": uid} or {\"after\": uid}".into()),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveBefore {
    #[schema(value_type = String, format = Uuid)]
    before: uuid::Uuid,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveAfter {
    #[schema(value_type = String, format = Uuid)]
    after: uuid::Uuid,
}

/// A page of a list read for its owner, or one to read once the caller is known.
enum Listing {
    Own(Listed),
    Shared(ListId, TodoQuery, Paging),
}

const TODO_NOT_FOUND: &str = "Todo not found";

/// An item's `ETag`.
fn item_headers(todo: &Todo) -> HeaderMap {
    HeaderMap::from_iter([(header::ETAG, etag(todo.version))])
}

/// What a new item's headers are made of, also read back from an answer kept under an
/// idempotency key (which may have been kept by an earlier version).
#[derive(Deserialize)]
struct KeptItem {
    uid: uuid::Uuid,
    version: u64,
}

/// A new item's headers: its `ETag` and where it is.
fn created_headers(uid: uuid::Uuid, version: u64) -> HeaderMap {
    let mut headers = HeaderMap::from_iter([(header::ETAG, etag(version))]);
    if let Ok(location) = HeaderValue::from_str(&format!("/todos/{uid}")) {
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
        (status = 400, description = "Bad state, limit, cursor, sort, view, tz, due bound, q or list (the message says which)"),
        (status = 401, description = "Unauthorized"),
        (status = 404, description = "No such list of yours or shared with you"),
    ))]
pub async fn list_todos(
    State(app): State<AppState>,
    caller: Authorizing,
    request: IfNoneMatch,
    query: Result<ApiQuery<ListQuery>, ApiError>,
) -> ApiResult<Response> {
    let read = async |owner: &Username| -> ApiResult<Listing> {
        let ApiQuery(query) = query?;
        let state = state_of(query.state.as_deref())?;
        let todo_query = query.todo_query(&app, owner, state).await?;
        let (limit, cursor) = (query.limit.as_deref(), query.cursor.as_deref());
        let paging = LazyPaging::new(limit, cursor, || {
            let scope = ["todos", owner.as_str()];
            Paging::filtered(
                &app.cursors,
                "/todos",
                &scope,
                query.filter(state),
                limit,
                cursor,
            )
        })?;
        // A list not of the owner's own may be shared with them: read once the caller is
        // known, and never kept (a share may end at any moment).
        if let Some(list) = todo_query.list
            && app.todos.owns_list(owner, list).await.is_err()
        {
            return Ok(Listing::Shared(list, todo_query, paging.made()?));
        }
        // Overdue ends at this very second: such a page is never asked for twice. Nor are
        // most searches (typed as one goes): they would crowd the plain lists out.
        let kept = !todo_query.open && todo_query.search.is_none();
        let changes = app.todos.changes().filter(|_| kept);
        let list = async || -> ApiResult<Listed> {
            let page = app.todos.page(owner, &todo_query, &paging.request).await?;
            paging.listed(&app.cursors, &page.items, page.next)
        };
        let key = Kept::Page(ListKey::new(
            owner.clone(),
            todo_query.clone(),
            &paging.request,
        ));
        app.kept
            .get_or_read(changes, key, list)
            .await
            .map(Listing::Own)
    };
    let listed = caller
        .read_then(&app, read, async |caller, listing| match listing? {
            Listing::Own(listed) => Ok(listed),
            Listing::Shared(list, todo_query, paging) => {
                let access = app.todos.access(caller, list).await?;
                let page = app
                    .todos
                    .page(&access.owner, &todo_query, &paging.request)
                    .await?;
                paging.listed(&app.cursors, &page.items, page.next)
            }
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
        (status = 404, description = "No such list of yours"),
        (status = 429, description = "The account writes faster than its limit; see Retry-After"),
    ))]
pub async fn create_todo(
    State(app): State<AppState>,
    Principal(caller): Principal,
    key: IdempotencyKey,
    ApiJson(new): ApiJson<NewTodo>,
) -> ApiResult<Response> {
    create(&app, &caller, key, new).await
}

/// A create, as `POST /todos` or one operation of a batch answers it.
pub(super) async fn create(
    app: &AppState,
    caller: &Decision,
    key: IdempotencyKey,
    new: NewTodo,
) -> ApiResult<Response> {
    let request = new.request();
    let mut todo = new.into_todo(caller.owner.clone());
    app.todos.put_in_list(caller, &mut todo).await?;
    let body =
        String::from_utf8(todo_bytes(&todo)).map_err(|e| ApiError::Internal(e.to_string()))?;
    let answer = key.answer(&caller.owner, &request, body.clone());
    let (todo, mut response) = match app.todos.create(caller, todo, answer).await? {
        Created::New(todo) => {
            let json = [(header::CONTENT_TYPE, "application/json")];
            let kept = KeptItem {
                uid: todo.uid,
                version: todo.version,
            };
            (kept, (StatusCode::CREATED, json, body).into_response())
        }
        Created::Before(earlier) => {
            // The kept answer is the item as it was created: its headers are the item's too.
            let todo: KeptItem = serde_json::from_str(&earlier.answer)
                .map_err(|e| ApiError::Internal(format!("a kept answer: {e}")))?;
            (todo, replayed(StatusCode::CREATED, &earlier))
        }
    };
    response
        .headers_mut()
        .extend(created_headers(todo.uid, todo.version));
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
    // Answered only once the caller is known, like anything else about the request.
    let uid = uid.map(|TodoUid(uid)| uid);
    let read = async |owner: &Username| {
        let uid = *uid
            .as_ref()
            .map_err(|_| ApiError::NotFound(TODO_NOT_FOUND))?;
        let key = Kept::Item {
            owner: owner.clone(),
            uid,
        };
        let read = async || -> ApiResult<Listed> {
            let todo = app.todos.get(owner, uid).await?;
            Ok(Listed::item(&todo, etag(todo.version)))
        };
        app.kept.get_or_read(app.todos.changes(), key, read).await
    };
    // Not the caller's own: perhaps in a list shared with them (never kept).
    let shared = async |caller: &Decision, answer: ApiResult<Listed>| match (answer, &uid) {
        (Err(ApiError::NotFound(TODO_NOT_FOUND)), Ok(uid)) => {
            let (todo, _) = app.todos.shared_todo(caller, *uid).await?;
            Ok(Listed::item(&todo, etag(todo.version)))
        }
        (other, _) => other,
    };
    caller.read_then(&app, read, shared).await
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
        (status = 404, description = "No such todo of yours or in a list shared with you, or no such list to move it to"),
        (status = 409, description = "A move to a list of another owner's"),
        (status = 412, description = "If-Match does not match"),
        (status = 403, description = "The account holds as many todos or bytes as its quota allows (the message names the limit), or the todo is in a list you only view"),
        (status = 429, description = "The account writes faster than its limit; see Retry-After"),
    ))]
pub async fn update_todo(
    State(app): State<AppState>,
    Principal(caller): Principal,
    TodoUid(uid): TodoUid,
    if_match: IfMatch,
    ApiJson(changes): ApiJson<TodoChanges>,
) -> ApiResult<Response> {
    update(&app, &caller, uid, if_match, &changes.into_patch()?).await
}

/// A change, as `PATCH /todos/{uid}` or one operation of a batch answers it.
pub(super) async fn update(
    app: &AppState,
    caller: &Decision,
    uid: uuid::Uuid,
    if_match: IfMatch,
    patch: &TodoPatch,
) -> ApiResult<Response> {
    let todo = app
        .todos
        .update(caller, uid, patch, if_match.0.as_deref())
        .await?;
    Ok((item_headers(&todo), TodoJson(todo)).into_response())
}

/// Move a todo in its owner's order (yours, or as an editor of a list shared with you)
#[utoipa::path(post, path = "/todos/{uid}/move", tag = "todos", request_body = MoveTo,
    security(("token" = [])),
    params(("uid" = String, Path, format = Uuid),
           IfMatch),
    responses(
        (status = 200, body = Todo, description = "The moved item with its new `position` (see `sort=position`)", headers(("ETag"))),
        (status = 400, description = "Not exactly one of before and after, a todo moved next to itself, or an If-Match that is empty or malformed"),
        (status = 401, description = "Unauthorized"),
        (status = 403, description = "A viewer of the shared list the todo is in"),
        (status = 404, description = "No such todo of yours or of a list shared with you, to move or to move next to (the message says which; next to: one of the same owner)"),
        (status = 412, description = "If-Match does not match"),
        (status = 429, description = "The account writes faster than its limit; see Retry-After"),
    ))]
pub async fn move_todo(
    State(app): State<AppState>,
    Principal(caller): Principal,
    TodoUid(uid): TodoUid,
    if_match: IfMatch,
    ApiJson(to): ApiJson<MoveTo>,
) -> ApiResult<impl IntoResponse> {
    let (anchor, before) = match to {
        MoveTo::Before(to) => (to.before, true),
        MoveTo::After(to) => (to.after, false),
    };
    let todo = app
        .todos
        .move_todo(&caller, uid, anchor, before, if_match.0.as_deref())
        .await?;
    Ok((item_headers(&todo), TodoJson(todo)))
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
    delete(&app, &caller, uid, if_match).await
}

/// A delete, as `DELETE /todos/{uid}` or one operation of a batch answers it.
pub(super) async fn delete(
    app: &AppState,
    caller: &Decision,
    uid: uuid::Uuid,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    app.todos.delete(caller, uid, if_match.0.as_deref()).await?;
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
