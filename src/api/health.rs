//! GET /healthz: whether the store answers.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use crate::AppState;

/// Health
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The store answers"), (status = 503, description = "The store does not answer")))]
pub async fn healthz(State(app): State<AppState>) -> ApiResult<Json<Value>> {
    app.store
        .ping()
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Json(json!({ "status": "ok" })))
}
