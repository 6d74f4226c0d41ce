//! GET /auth/config: what a client needs to know before anyone signs in, so that it offers only
//! what the service takes: a password form where `/login` takes passwords, a sign-up form only
//! while sign-up is open, and "Sign in with …" where an identity provider signs people in.

use axum::Extension;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::json::Json;
use crate::api::AppState;
use crate::auth::SignInProvider;

#[derive(Serialize, ToSchema)]
pub struct SignInConfig {
    /// Whether anyone may make an account with `POST /users`.
    signup: bool,
    /// Whether `POST /login` takes a username and password.
    password: bool,
    /// The identity provider people sign in through (authorization code with PKCE), if any.
    provider: Option<SignInProvider>,
}

/// How to sign in here
#[utoipa::path(get, path = "/auth/config", tag = "auth",
    responses((status = 200, body = SignInConfig, description = "What this service takes: passwords, sign-up, an identity provider")))]
pub async fn sign_in_config(
    State(app): State<AppState>,
    stage: Option<Extension<SignInProvider>>,
) -> Json<SignInConfig> {
    let provider = app.sign_in.provider(stage.map(|Extension(p)| p)).await;
    Json(SignInConfig {
        signup: app.signup && app.sign_in.password,
        password: app.sign_in.password,
        provider,
    })
}
