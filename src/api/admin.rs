//! /admin: views across every user, for administrators only.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::ApiResult;
use super::extract::{ApiQuery, Principal};
use super::lists::Listed;
use super::paging::{Paging, state_of};
use crate::api::AppState;
use crate::domain::{Todo, TodoState};

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
}

/// Everyone's todos (administrators)
#[utoipa::path(get, path = "/admin/todos", tag = "admin", params(AdminTodosQuery), security(("token" = [])),
    responses(
        (status = 200, body = [Todo], description = "All users' todos, oldest first; a `Link: <…>; rel=\"next\"` header when more follow"),
        (status = 400, description = "Bad state, limit or cursor"),
        (status = 401, description = "Unauthorized"),
        (status = 403, description = "Not an administrator"),
    ))]
pub async fn all_todos(
    State(app): State<AppState>,
    Principal(caller): Principal,
    ApiQuery(query): ApiQuery<AdminTodosQuery>,
) -> ApiResult<Listed> {
    let state = state_of(query.state.as_deref())?;
    let (limit, cursor) = (query.limit.as_deref(), query.cursor.as_deref());
    let paging = Paging::in_state(
        &app.cursors,
        "/admin/todos",
        "admin todos",
        state,
        limit,
        cursor,
    )?;
    let page = app.todos.everyones(&caller, state, &paging.request).await?;
    paging.listed(&app.cursors, &page.items, page.next)
}
