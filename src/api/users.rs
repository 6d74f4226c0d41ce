//! /users: sign-up, profiles, passwords, deletion and a person's export of their own data.

use super::json::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiQuery, ClientAddr, OptionalJson, Principal, clearable, present};
use super::json::to_text;
use super::kept::Listed;
use super::lists::ListView;
use super::paging::Paging;
use crate::api::AppState;
use crate::domain::{
    Change, Email, LoginPassword, Password, Timestamp, Todo, TodoList, TodoQuery, User, Username,
    Zone,
};
use crate::store::{Page, PageRequest};

/// A user as anyone allowed to see them sees them: never a hash, never a session.
#[derive(Serialize, ToSchema)]
pub struct Profile {
    username: String,
    /// Left out when the account has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    email: Option<String>,
    admin: bool,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    /// The person's IANA time zone, for views asked without `tz`; left out when none is set
    /// (then UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "Europe/Berlin")]
    tz: Option<String>,
}

impl super::json::Items for Profile {
    fn array_bytes(items: &[Self]) -> ApiResult<Vec<u8>> {
        super::json::to_bytes(items)
    }
}

impl From<&User> for Profile {
    fn from(user: &User) -> Self {
        Self {
            username: user.username.to_string(),
            email: user.email.as_ref().map(|e| e.as_str().to_owned()),
            admin: user.admin,
            created_at: user.created_at,
            tz: user.zone.as_ref().map(|z| z.name().to_owned()),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUp {
    #[schema(schema_with = Username::account_schema)]
    username: String,
    #[schema(schema_with = Password::schema)]
    password: String,
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = Email::schema)]
    email: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// Required unless an administrator changes someone else's password.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = LoginPassword::schema)]
    current_password: Option<LoginPassword>,
    /// The password policy of sign-up applies.
    #[schema(schema_with = Password::schema)]
    new_password: String,
}

/// What deleting an account asks of its owner.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountDeletion {
    /// Required when you delete your own account (as for a password change); an
    /// administrator deleting someone else's leaves it out.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = LoginPassword::schema)]
    current_password: Option<LoginPassword>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsersQuery {
    /// Items per page, 1–1000 (default 100).
    #[param(required = false, value_type = u32, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// From the `Link: rel="next"` header of the previous page.
    #[param(required = false, value_type = String)]
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Export {
    profile: Profile,
    /// The user's lists, the Inbox first.
    lists: Vec<ListView>,
    /// Every todo of the user, oldest first.
    todos: Vec<Todo>,
}

const NOT_FOUND: ApiError = ApiError::NotFound("User not found");

/// The `{username}` of the path, as a name (one that cannot be a name names no user).
pub struct UserPath(pub Username);

/// [`UserPath`] in the document.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Only its description is used: `UserPath` reads the path.
pub struct UserPathParam {
    #[param(schema_with = Username::schema)]
    username: String,
}

impl<S: Send + Sync> FromRequestParts<S> for UserPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| NOT_FOUND)?;
        Username::parse(&raw).map(UserPath).map_err(|_| NOT_FOUND)
    }
}

/// Sign up
#[utoipa::path(post, path = "/users", tag = "users", request_body = SignUp,
    responses(
        (status = 201, body = Profile, description = "Created; `Location` names the profile. Log in next."),
        (status = 400, description = "Invalid username, password (the message says which rule) or email"),
        (status = 403, description = "Sign-up is closed"),
        (status = 409, description = "The username is taken"),
    ))]
pub async fn sign_up(
    State(app): State<AppState>,
    ApiJson(request): ApiJson<SignUp>,
) -> ApiResult<impl IntoResponse> {
    if !app.signup {
        return Err(ApiError::Refused(
            "Sign-up is closed; ask an administrator for an account",
        ));
    }
    let username = Username::parse_account(&request.username)?;
    let password = Password::parse(request.password)?;
    let email = request.email.as_deref().map(Email::parse).transpose()?;
    let user = app.accounts.sign_up(username, &password, email).await?;
    let mut headers = HeaderMap::new();
    let location = HeaderValue::from_str(&format!("/users/{}", user.username))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    headers.insert(header::LOCATION, location);
    Ok((StatusCode::CREATED, headers, Json(Profile::from(&user))))
}

/// List users (administrators)
#[utoipa::path(get, path = "/users", tag = "users", params(UsersQuery), security(("token" = [])),
    responses(
        (status = 200, body = [Profile], description = "By name; a `Link: <…>; rel=\"next\"` header when more follow"),
        (status = 400, description = "Bad limit or cursor"),
        (status = 401, description = "Unauthorized"),
        (status = 403, description = "Not an administrator"),
    ))]
pub async fn list_users(
    State(app): State<AppState>,
    Principal(caller): Principal,
    ApiQuery(query): ApiQuery<UsersQuery>,
) -> ApiResult<Listed> {
    let (limit, cursor) = (query.limit.as_deref(), query.cursor.as_deref());
    let paging = Paging::new(
        &app.cursors,
        "/users",
        String::new(),
        "users".into(),
        limit,
        cursor,
    )?;
    let page = app.accounts.page(&caller, &paging.request).await?;
    let profiles: Vec<Profile> = page.items.iter().map(Profile::from).collect();
    paging.listed(&app.cursors, &profiles, page.next)
}

/// Get a profile
#[utoipa::path(get, path = "/users/{username}", tag = "users", security(("token" = [])),
    params(UserPathParam),
    responses(
        (status = 200, body = Profile),
        (status = 401, description = "Unauthorized"),
        (status = 403, description = "Neither the user nor an administrator"),
        (status = 404, description = "No such user"),
    ))]
pub async fn get_user(
    State(app): State<AppState>,
    Principal(caller): Principal,
    UserPath(name): UserPath,
) -> ApiResult<Json<Profile>> {
    Ok(Json(Profile::from(
        &app.accounts.profile(&caller, &name).await?,
    )))
}

/// What the person may change of their profile here.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileChanges {
    /// An IANA time zone, for views and date bounds asked without `tz`; `null` removes it (then
    /// UTC).
    #[serde(default, deserialize_with = "clearable")]
    #[schema(value_type = Option<String>, example = "Europe/Berlin")]
    tz: Change<Zone>,
}

/// Change a profile
#[utoipa::path(patch, path = "/users/{username}", tag = "users", security(("token" = [])),
    params(UserPathParam), request_body = ProfileChanges,
    responses(
        (status = 200, body = Profile, description = "The profile as changed"),
        (status = 400, description = "An unknown time zone or field, or a malformed body"),
        (status = 401, description = "Unauthorized"),
        (status = 403, description = "Neither the user nor an administrator"),
        (status = 404, description = "No such user"),
    ))]
pub async fn update_user(
    State(app): State<AppState>,
    Principal(caller): Principal,
    UserPath(name): UserPath,
    ApiJson(changes): ApiJson<ProfileChanges>,
) -> ApiResult<Json<Profile>> {
    let user = match changes.tz {
        Change::Keep => app.accounts.profile(&caller, &name).await?,
        Change::Set(zone) => app.accounts.set_zone(&caller, &name, Some(&zone)).await?,
        Change::Clear => app.accounts.set_zone(&caller, &name, None).await?,
    };
    Ok(Json(Profile::from(&user)))
}

/// Delete an account
#[utoipa::path(delete, path = "/users/{username}", tag = "users", security(("token" = [])),
    params(UserPathParam), request_body = Option<AccountDeletion>,
    responses(
        (status = 204, description = "Deleted with all their todos and sessions; their tokens and live streams stop working"),
        (status = 400, description = "A malformed body"),
        (status = 401, description = "Unauthorized"),
        (status = 403, description = "Neither the user nor an administrator; or your own account without its right `current_password` (an account without a password: without a login of the last 10 minutes)"),
        (status = 404, description = "No such user"),
        (status = 429, description = "Too many wrong current passwords; see Retry-After"),
    ))]
pub async fn delete_user(
    State(app): State<AppState>,
    Principal(caller): Principal,
    ClientAddr(addr): ClientAddr,
    UserPath(name): UserPath,
    OptionalJson(request): OptionalJson<AccountDeletion>,
) -> ApiResult<StatusCode> {
    let current = request.and_then(|r| r.current_password);
    app.accounts
        .delete(&caller, &name, current.as_ref(), addr)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change a password
#[utoipa::path(put, path = "/users/{username}/password", tag = "users", security(("token" = [])),
    params(UserPathParam), request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; the user's other login sessions are over"),
        (status = 400, description = "The new password breaks the policy (the message says which rule), or the current one is missing"),
        (status = 401, description = "Unauthorized"),
        (status = 403, description = "Neither the user nor an administrator, or the current password is wrong"),
        (status = 404, description = "No such user"),
        (status = 429, description = "Too many wrong current passwords; see Retry-After"),
    ))]
pub async fn change_password(
    State(app): State<AppState>,
    Principal(caller): Principal,
    ClientAddr(addr): ClientAddr,
    UserPath(name): UserPath,
    ApiJson(change): ApiJson<PasswordChange>,
) -> ApiResult<StatusCode> {
    let new = Password::parse(change.new_password)?;
    let session = super::sessions::session_of(&caller);
    let current = change.current_password.as_ref();
    app.accounts
        .change_password(&caller, &name, &new, current, session, addr)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Export your data
#[utoipa::path(get, path = "/users/{username}/export", tag = "users", security(("token" = [])),
    params(UserPathParam),
    responses(
        (status = 200, body = Export, description = "The profile and every todo, as one JSON document, sent as it is read (page by page: an export takes no more memory however many todos there are)"),
        (status = 401, description = "Unauthorized"),
        (status = 403, description = "Neither the user nor an administrator"),
        (status = 404, description = "No such user"),
    ))]
pub async fn export(
    State(app): State<AppState>,
    Principal(caller): Principal,
    UserPath(name): UserPath,
) -> ApiResult<impl IntoResponse> {
    let user = app.accounts.profile(&caller, &name).await?;
    let inbox = TodoList::inbox(user.username.clone(), user.created_at);
    let lists: Vec<ListView> = app
        .todos
        .lists_owned(inbox)
        .await?
        .into_iter()
        .map(ListView::from)
        .collect();
    // The first page is read before the answer starts: a store that is down is still a 503.
    let first = app
        .todos
        .page(&name, &TodoQuery::all(), &PageRequest::first(EXPORT_PAGE))
        .await?;
    // An outside identity's name has a `:` (`oidc:nora`), which no file system takes.
    let file_name: String = user
        .username
        .as_str()
        .chars()
        .map(|c| if c == ':' { '_' } else { c })
        .collect();
    let disposition = HeaderValue::from_str(&format!(
        "attachment; filename=\"checkoff-{file_name}.json\""
    ))
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let body = ExportPages::body(app, &user, &lists, first)?;
    Ok((
        [
            (header::CONTENT_DISPOSITION, disposition),
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
        ],
        body,
    ))
}

/// Todos read per page of an export.
const EXPORT_PAGE: u32 = 500;

/// An export as it is sent: the opening, then each page of todos as it is read, then the close.
struct ExportPages {
    app: AppState,
    owner: Username,
    /// The page read and not yet sent; `None` once the last was sent.
    page: Option<Page<Todo>>,
    opening: Option<String>,
    written: u64,
}

impl ExportPages {
    /// The export of `user` as a body sent as it is read, from its `first` page of todos on.
    fn body(
        app: AppState,
        user: &User,
        lists: &[ListView],
        first: Page<Todo>,
    ) -> ApiResult<axum::body::Body> {
        let profile = to_text(&Profile::from(user))?;
        let lists = to_text(lists)?;
        let pages = Self {
            app,
            owner: user.username.clone(),
            page: Some(first),
            opening: Some(format!(
                "{{\"profile\":{profile},\"lists\":{lists},\"todos\":["
            )),
            written: 0,
        };
        // Fused: a body may be polled again after its end (the gzip layer does), which a bare
        // unfold answers with a panic.
        Ok(axum::body::Body::from_stream(
            futures_util::StreamExt::fuse(futures_util::stream::unfold(pages, Self::next)),
        ))
    }

    async fn next(mut self) -> Option<(Result<axum::body::Bytes, std::io::Error>, Self)> {
        let page = self.page.take()?;
        let mut chunk = self.opening.take().unwrap_or_default();
        for todo in &page.items {
            if self.written > 0 {
                chunk.push(',');
            }
            match serde_json::to_string(todo) {
                Ok(json) => chunk.push_str(&json),
                Err(e) => return Some((Err(std::io::Error::other(e)), self)),
            }
            self.written += 1;
        }
        match page.next {
            None => chunk.push_str("]}\n"),
            Some(after) => {
                let request = PageRequest {
                    limit: EXPORT_PAGE,
                    after: Some(after),
                };
                match self
                    .app
                    .todos
                    .page(&self.owner, &TodoQuery::all(), &request)
                    .await
                {
                    Ok(next) => self.page = Some(next),
                    // Cut short: the client sees a document that does not parse, never a
                    // partial one that does.
                    Err(error) => {
                        tracing::warn!(user = %self.owner, %error, "export cut short");
                        return Some((Err(std::io::Error::other(error.to_string())), self));
                    }
                }
            }
        }
        Some((Ok(axum::body::Bytes::from(chunk)), self))
    }
}
