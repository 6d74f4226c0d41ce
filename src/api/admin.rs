//! /admin: views across every user, for administrators only.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::ApiResult;
use super::extract::{ApiQuery, Principal};
use super::kept::Listed;
use super::paging::{Filter, Paging, state_of};
use super::todos::{due_bound, zone_of};
use crate::api::AppState;
use crate::domain::{ListAsk, Todo, TodoState};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminTodosQuery {
    /// Only todos in this state (e.g. `unstarted` for the pending tasks); every state without.
    #[param(required = false, value_type = TodoState)]
    state: Option<String>,
    /// Items per page, 1–1000 (default 100).
    #[param(required = false, value_type = u32, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// From the `Link: rel="next"` header of the previous page.
    #[param(required = false, value_type = String)]
    cursor: Option<String>,
    /// The IANA time zone of the date bounds (default UTC).
    #[param(required = false, value_type = String, example = "Europe/Berlin")]
    tz: Option<String>,
    /// Only todos due before this date (its start in `tz`) or instant (RFC 3339 with offset).
    #[param(required = false, value_type = String, example = "2026-12-24")]
    due_before: Option<String>,
    /// Only todos due on or after this date (its start in `tz`) or instant.
    #[param(required = false, value_type = String, example = "2026-12-01")]
    due_after: Option<String>,
}

/// Everyone's todos (administrators)
#[utoipa::path(get, path = "/admin/todos", tag = "admin", params(AdminTodosQuery), security(("token" = [])),
    responses(
        (status = 200, body = [Todo], description = "All users' todos (those due within the bounds, when given), oldest first; a `Link: <…>; rel=\"next\"` header when more follow"),
        (status = 400, description = "Bad state, limit, cursor, tz or due bound"),
        (status = 401, description = "Unauthorized"),
        (status = 403, description = "Not an administrator"),
    ))]
pub async fn all_todos(
    State(app): State<AppState>,
    Principal(caller): Principal,
    ApiQuery(query): ApiQuery<AdminTodosQuery>,
) -> ApiResult<Listed> {
    let state = state_of(query.state.as_deref())?;
    let ask = ListAsk {
        due_before: due_bound("due_before", query.due_before.as_deref())?,
        due_after: due_bound("due_after", query.due_after.as_deref())?,
        ..ListAsk::default()
    };
    let zone = zone_of(&app, &caller.owner, query.tz.as_deref(), &ask).await?;
    let due = ask.query(&zone, jiff::Timestamp::now())?.due;
    let filter = Filter::default()
        .with("state", state.map(TodoState::as_str))
        .with("tz", query.tz.as_deref())
        .with("due_before", query.due_before.as_deref())
        .with("due_after", query.due_after.as_deref());
    let (limit, cursor) = (query.limit.as_deref(), query.cursor.as_deref());
    let paging = Paging::filtered(
        &app.cursors,
        "/admin/todos",
        &["admin todos"],
        filter,
        limit,
        cursor,
    )?;
    let page = app
        .todos
        .everyones(&caller, state, &due, &paging.request)
        .await?;
    paging.listed(&app.cursors, &page.items, page.next)
}
