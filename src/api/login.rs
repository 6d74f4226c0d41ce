//! POST /login: a username and password for a token.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ClientAddr};
use crate::api::AppState;
use crate::auth::Verdict;
use crate::domain::{LoginPassword, User, Username};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    username: String,
    #[schema(value_type = String, format = Password)]
    password: LoginPassword,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// Send it back as `Authorization: Bearer <token>` (or the bare token).
    token: String,
    token_type: &'static str,
    /// Seconds until the token expires.
    expires_in: u64,
}

/// Log in
#[utoipa::path(post, path = "/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, description = "Malformed request"),
        (status = 401, description = "Invalid username or password"),
        (status = 429, description = "Too many failures; see Retry-After"),
    ))]
pub async fn login(
    State(app): State<AppState>,
    ClientAddr(addr): ClientAddr,
    ApiJson(request): ApiJson<LoginRequest>,
) -> ApiResult<Json<TokenResponse>> {
    // A name that cannot exist is throttled under one shared key, so junk names cannot grow
    // the throttle's memory.
    let username = Username::parse(&request.username).ok();
    let throttle_key = username
        .as_ref()
        .map_or("<invalid username>", Username::as_str);
    app.throttle
        .check(throttle_key, addr)
        .map_err(|retry_after| ApiError::TooManyRequests { retry_after })?;

    let user = match &username {
        Some(name) => app.store.get_user(name).await?,
        None => None,
    };
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let (user, rehash) = match (user, app.passwords.verify(stored, &request.password).await) {
        (Some(user), Verdict::Valid { rehash }) => (user, rehash),
        _ => {
            app.throttle.record_failure(throttle_key, addr);
            return Err(ApiError::InvalidCredentials);
        }
    };
    app.throttle.record_success(throttle_key);
    if rehash {
        upgrade_hash(&app, &user, &request.password).await;
    }
    let issued = app
        .tokens
        .issue(user.username.as_str(), &user.created_at, None, None)
        .map_err(ApiError::Internal)?;
    Ok(Json(TokenResponse {
        token: issued.token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
    }))
}

/// Replaces an outdated hash (the original sample's PBKDF2) now that we know the password.
/// Failing here must not fail the login: the old hash still works next time.
async fn upgrade_hash(app: &AppState, user: &User, password: &LoginPassword) {
    let upgraded = match app.passwords.rehash(password).await {
        Ok(hash) => app
            .store
            .set_password_hash(&user.username, &hash)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    match upgraded {
        Ok(()) => tracing::info!(user = %user.username, "password hash upgraded to Argon2id"),
        Err(error) => {
            tracing::warn!(user = %user.username, %error, "could not upgrade password hash")
        }
    }
}
