//! GET /healthz, whether the store answers, and GET /openapi.json, the API's own description.

use super::json::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use crate::api::AppState;

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

/// This document
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of every route", content_type = "application/json")))]
pub async fn openapi_json(State(app): State<AppState>) -> impl IntoResponse {
    let document = app.document.get_or_init(|| {
        super::json::to_bytes(&super::openapi_with(app.oidc.as_ref()))
            .unwrap_or_default()
            .into()
    });
    ([(CONTENT_TYPE, "application/json")], document.clone())
}
