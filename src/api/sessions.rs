//! Logging in and out: /login, /refresh, /logout and /sessions, over [`crate::services::Sessions`].

use super::json::Json;
use axum::extract::{Path, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ClientAddr, Principal, present};
use crate::api::AppState;
use crate::auth::Decision;
use crate::domain::{LoginPassword, Session, SessionKind, Timestamp, Username};
use crate::services::Grant;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Any other text is a wrong username (401), like an unknown one.
    #[schema(schema_with = Username::account_schema)]
    username: String,
    #[schema(schema_with = LoginPassword::schema)]
    password: LoginPassword,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The `refresh_token` of the last login or refresh. (The web app, in cookie mode, leaves
    /// it out and sends the cookie instead.)
    #[serde(default, deserialize_with = "present")]
    #[schema(required = true, nullable = false)]
    refresh_token: Option<String>,
}

/// Asks for the browser's way of holding the refresh token: in an `HttpOnly` cookie that page
/// scripts cannot read, sent only to `/refresh`, instead of in the body.
const SESSION_MODE: &str = "x-checkoff-session";
const REFRESH_COOKIE: &str = "checkoff_refresh";

fn cookie_mode(headers: &HeaderMap) -> bool {
    headers
        .get(SESSION_MODE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cookie"))
}

/// The refresh cookie the browser sent, if any.
fn refresh_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == REFRESH_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// The refresh cookie holding `token` for `max_age` seconds (0 deletes it).
fn set_refresh_cookie(token: &str, max_age: u64) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(&format!(
        "{REFRESH_COOKIE}={token}; HttpOnly; Secure; SameSite=Strict; Path=/refresh; Max-Age={max_age}"
    ))
    .map_err(|e| ApiError::Internal(e.to_string()))
}

/// `response`, telling a browser to drop its refresh cookie (harmless for other clients).
fn without_cookie(mut response: Response) -> ApiResult<Response> {
    response
        .headers_mut()
        .insert(SET_COOKIE, set_refresh_cookie("", 0)?);
    Ok(response)
}

/// The refresh token of a request: in the body, else (in cookie mode) the browser's cookie.
fn refresh_token_of(sent: Option<String>, headers: &HeaderMap) -> ApiResult<String> {
    match (sent, cookie_mode(headers)) {
        (Some(token), _) => Ok(token),
        (None, true) => refresh_cookie(headers).ok_or(ApiError::InvalidRefreshToken),
        (None, false) => Err(ApiError::BadRequest(
            "refresh_token is required (or X-Checkoff-Session: cookie with the cookie)".into(),
        )),
    }
}

/// The answer to a login or refresh: the refresh token in the body, or in cookie mode in the
/// cookie only.
fn granted(grant: Grant, cookie: bool) -> ApiResult<Response> {
    if !cookie {
        return Ok(Json(TokenResponse::from(grant)).into_response());
    }
    let set = set_refresh_cookie(&grant.refresh_token, grant.refresh_expires_in)?;
    let mut body = TokenResponse::from(grant);
    body.refresh_token = None;
    body.refresh_expires_in = None;
    Ok(([(SET_COOKIE, set)], Json(body)).into_response())
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// Send it back as `Authorization: Bearer <token>` (or the bare token).
    token: String,
    token_type: &'static str,
    /// Seconds until the token expires.
    expires_in: u64,
    /// Trade it at POST /refresh for a new token (and a new refresh token) before the session
    /// ends; each one works once. Absent in cookie mode (`X-Checkoff-Session: cookie`).
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    /// Seconds until the session can no longer be renewed.
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_expires_in: Option<u64>,
}

impl From<Grant> for TokenResponse {
    fn from(grant: Grant) -> Self {
        Self {
            token: grant.access.token,
            token_type: "Bearer",
            expires_in: grant.access.expires_in,
            refresh_token: Some(grant.refresh_token),
            refresh_expires_in: Some(grant.refresh_expires_in),
        }
    }
}

/// Log in
///
/// With `X-Checkoff-Session: cookie` (what the web app sends) the refresh token comes as an
/// `HttpOnly; Secure; SameSite=Strict` cookie for `/refresh` only, not in the body.
#[utoipa::path(post, path = "/login", tag = "auth", request_body = LoginRequest,
    params(("X-Checkoff-Session" = Option<String>, Header, description = "`cookie`: the refresh token in a cookie")),
    responses(
        (status = 200, body = TokenResponse, description = "A short-lived token and a refresh token"),
        (status = 400, description = "Malformed request"),
        (status = 401, description = "Invalid username or password"),
        (status = 429, description = "Too many failures; see Retry-After"),
    ))]
pub async fn login(
    State(app): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    ApiJson(request): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let grant = app
        .sessions
        .login(&request.username, &request.password, addr)
        .await?;
    granted(grant, cookie_mode(&headers))
}

/// Renew a session
///
/// In cookie mode (`X-Checkoff-Session: cookie`) the refresh token is read from the cookie the
/// login set, and the new one replaces it.
#[utoipa::path(post, path = "/refresh", tag = "auth", request_body = RefreshRequest,
    params(("X-Checkoff-Session" = Option<String>, Header, description = "`cookie`: the refresh token in a cookie")),
    responses(
        (status = 200, body = TokenResponse, description = "A new token and a new refresh token; the one sent is used up"),
        (status = 400, description = "Malformed request"),
        (status = 401, description = "Unknown, expired or already used refresh token (a reused one ends its session)"),
    ))]
pub async fn refresh(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<RefreshRequest>,
) -> ApiResult<Response> {
    let cookie = cookie_mode(&headers);
    let token = refresh_token_of(request.refresh_token, &headers)?;
    match app.sessions.refresh(&token).await {
        Ok(grant) => granted(grant, cookie),
        // A cookie that no longer works is cleared, so the browser stops sending it.
        Err(e) if cookie => without_cookie(ApiError::from(e).into_response()),
        Err(e) => Err(e.into()),
    }
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
        (status = 400, description = "The token is not one of checkoff's sessions (an outside authorizer's caller)"),
        (status = 401, description = "Unauthorized"),
    ))]
pub async fn logout(
    State(app): State<AppState>,
    Principal(caller): Principal,
) -> ApiResult<Response> {
    let sid = session_of(&caller).ok_or(ApiError::BadRequest(
        "this token belongs to no session of checkoff's".into(),
    ))?;
    // Ending a session that is already gone is fine.
    app.sessions.end_own(&caller.owner, sid).await?;
    // A browser's refresh cookie goes too.
    without_cookie(StatusCode::NO_CONTENT.into_response())
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
    app.sessions.end_logins(&caller.owner, None, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A session or API token as its owner sees it: never a hash or a secret.
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    id: uuid::Uuid,
    /// `login` (a login: renewed with its refresh token) or `api` (`checkoff tokens issue`).
    #[schema(value_type = String, example = "login")]
    kind: SessionKind,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    /// A login can be renewed until then; an API token works until then.
    #[schema(value_type = String, format = DateTime)]
    expires_at: Timestamp,
    /// The route patterns an API token is limited to (absent: every route).
    #[serde(skip_serializing_if = "Option::is_none")]
    routes: Option<Vec<String>>,
    /// Whether the token of this request belongs to it.
    current: bool,
}

impl SessionView {
    fn of(session: Session, current: Option<uuid::Uuid>) -> Self {
        Self {
            current: current == Some(session.id),
            id: session.id,
            kind: session.kind,
            created_at: session.created_at,
            expires_at: session.expires_at,
            routes: session.routes,
        }
    }
}

/// Your sessions and API tokens
///
/// Those that still work, newest first (at most 100; logging out everywhere ends the rest).
#[utoipa::path(get, path = "/sessions", tag = "auth", security(("token" = [])),
    responses(
        (status = 200, body = [SessionView], description = "The caller's login sessions and API tokens"),
        (status = 401, description = "Unauthorized"),
    ))]
pub async fn list_sessions(
    State(app): State<AppState>,
    Principal(caller): Principal,
) -> ApiResult<Json<Vec<SessionView>>> {
    let current = session_of(&caller);
    let sessions = app.sessions.live(&caller.owner).await?;
    Ok(Json(
        sessions
            .into_iter()
            .map(|s| SessionView::of(s, current))
            .collect(),
    ))
}

/// End a session or revoke an API token
#[utoipa::path(delete, path = "/sessions/{id}", tag = "auth", security(("token" = [])),
    params(("id" = uuid::Uuid, Path, description = "A session's or API token's `id` from GET /sessions")),
    responses(
        (status = 204, description = "Its tokens (and refresh token) stop working at once, on every instance"),
        (status = 400, description = "Not an id"),
        (status = 401, description = "Unauthorized"),
        (status = 404, description = "None of the caller's sessions or tokens has this id"),
    ))]
pub async fn end_session(
    State(app): State<AppState>,
    Principal(caller): Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = uuid::Uuid::try_parse(&id)
        .map_err(|_| ApiError::BadRequest(format!("{id:?} is not a session id")))?;
    if app.sessions.end_own(&caller.owner, id).await?.is_none() {
        return Err(ApiError::NotFound("No such session"));
    }
    let response = StatusCode::NO_CONTENT.into_response();
    if session_of(&caller) == Some(id) {
        // This very session: a browser's refresh cookie goes too, as on logout.
        return without_cookie(response);
    }
    Ok(response)
}
