//! Logging in and out: /login, /refresh, /logout and /sessions, over [`crate::auth::Sessions`].

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ClientAddr, Principal};
use crate::api::AppState;
use crate::auth::{Decision, Grant};
use crate::domain::LoginPassword;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    username: String,
    #[schema(value_type = String, format = Password)]
    password: LoginPassword,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The `refresh_token` of the last login or refresh.
    refresh_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// Send it back as `Authorization: Bearer <token>` (or the bare token).
    token: String,
    token_type: &'static str,
    /// Seconds until the token expires.
    expires_in: u64,
    /// Trade it at POST /refresh for a new token (and a new refresh token) before the session
    /// ends; each one works once.
    refresh_token: String,
    /// Seconds until the session can no longer be renewed.
    refresh_expires_in: u64,
}

impl From<Grant> for TokenResponse {
    fn from(grant: Grant) -> Self {
        Self {
            token: grant.access.token,
            token_type: "Bearer",
            expires_in: grant.access.expires_in,
            refresh_token: grant.refresh_token,
            refresh_expires_in: grant.refresh_expires_in,
        }
    }
}

/// Log in
#[utoipa::path(post, path = "/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse, description = "A short-lived token and a refresh token"),
        (status = 400, description = "Malformed request"),
        (status = 401, description = "Invalid username or password"),
        (status = 429, description = "Too many failures; see Retry-After"),
    ))]
pub async fn login(
    State(app): State<AppState>,
    ClientAddr(addr): ClientAddr,
    ApiJson(request): ApiJson<LoginRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let grant = app
        .sessions
        .login(&request.username, &request.password, addr)
        .await?;
    Ok(Json(grant.into()))
}

/// Renew a session
#[utoipa::path(post, path = "/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenResponse, description = "A new token and a new refresh token; the one sent is used up"),
        (status = 400, description = "Malformed request"),
        (status = 401, description = "Unknown, expired or already used refresh token (a reused one ends its session)"),
    ))]
pub async fn refresh(
    State(app): State<AppState>,
    ApiJson(request): ApiJson<RefreshRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let grant = app.sessions.refresh(&request.refresh_token).await?;
    Ok(Json(grant.into()))
}

/// The session a built-in token belongs to.
pub(super) fn session_of(caller: &Decision) -> Option<uuid::Uuid> {
    caller
        .context
        .get("sid")
        .and_then(|v| v.as_str())
        .and_then(|s| uuid::Uuid::try_parse(s).ok())
}

/// Log out
#[utoipa::path(post, path = "/logout", tag = "auth", security(("token" = [])),
    responses(
        (status = 204, description = "This session is over: its tokens and refresh token stop working at once"),
        (status = 401, description = "Unauthorized"),
    ))]
pub async fn logout(
    State(app): State<AppState>,
    Principal(caller): Principal,
) -> ApiResult<StatusCode> {
    let sid = session_of(&caller).ok_or(ApiError::BadRequest(
        "this token belongs to no session of checkoff's".into(),
    ))?;
    app.sessions.end_one(&caller.owner, sid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Log out everywhere
#[utoipa::path(delete, path = "/sessions", tag = "auth", security(("token" = [])),
    responses(
        (status = 204, description = "Every login session of the caller is over, this one included (API tokens stay)"),
        (status = 401, description = "Unauthorized"),
    ))]
pub async fn end_sessions(
    State(app): State<AppState>,
    Principal(caller): Principal,
) -> ApiResult<StatusCode> {
    app.sessions.end_logins(&caller.owner, None).await?;
    Ok(StatusCode::NO_CONTENT)
}
