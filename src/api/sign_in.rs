//! GET /auth/config: what a client needs to know before anyone signs in, so that it offers only
//! what the service takes (a sign-up form only while sign-up is open).

use super::json::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::AppState;

#[derive(Serialize, ToSchema)]
pub struct SignInConfig {
    /// Whether anyone may make an account with `POST /users`.
    signup: bool,
}

/// How to sign in here
#[utoipa::path(get, path = "/auth/config", tag = "auth",
    responses((status = 200, body = SignInConfig, description = "What this service takes: whether sign-up is open")))]
pub async fn sign_in_config(State(app): State<AppState>) -> Json<SignInConfig> {
    Json(SignInConfig { signup: app.signup })
}
