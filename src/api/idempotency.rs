//! `Idempotency-Key` on the requests that create or change many things: a client that is not
//! sure its request arrived sends it again with the same key and gets the first answer, and
//! nothing is done twice. The answer is kept for 24 hours, per caller.

use std::time::Duration;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::domain::{Timestamp, Username};
use crate::store::Remembered;

/// How long a key holds its answer.
pub const KEPT_FOR: Duration = Duration::from_secs(24 * 3600);
const HEADER: &str = "idempotency-key";
const MAX_LEN: usize = 255;

/// The request's `Idempotency-Key`, when it has one: 1–255 visible ASCII characters.
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(HEADER) else {
            return Ok(Self(None));
        };
        Self::parse(value.to_str().unwrap_or_default())
    }
}

impl IdempotencyKey {
    /// A key as sent (a header's, or a batch operation's `key`).
    pub fn parse(key: &str) -> Result<Self, ApiError> {
        if key.is_empty() || key.len() > MAX_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiError::BadRequest(format!(
                "Idempotency-Key must be 1 to {MAX_LEN} visible ASCII characters"
            )));
        }
        Ok(Self(Some(key.to_owned())))
    }
}

/// What [`IdempotencyKey::parse`] takes, for the OpenAPI document.
pub const KEY_PATTERN: &str = r"^[\x21-\x7e]{1,255}$";

impl utoipa::IntoParams for IdempotencyKey {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        vec![super::extract::header_parameter(
            "Idempotency-Key",
            "1–255 visible ASCII characters: a retry with the same key and body gets the first \
             answer (for 24 hours) and does nothing again; the same key with another request is \
             a 422",
            KEY_PATTERN,
            None,
        )]
    }
}

impl IdempotencyKey {
    /// What to keep for this request (`request` names it: method, path, body), answered with
    /// `body` (the status is the request's: one route answers a success one way).
    pub fn answer(&self, owner: &Username, request: &str, body: String) -> Option<Remembered> {
        let key = self.0.clone()?;
        Some(Remembered {
            owner: owner.clone(),
            key,
            fingerprint: fingerprint(request),
            answer: body,
            expires: Timestamp::now().plus(KEPT_FOR).unix_seconds(),
        })
    }
}

fn fingerprint(request: &str) -> String {
    Sha256::digest(request.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The first answer again, with the `status` it had, for a retry of the request it answered
/// (the service has checked that it is the same request).
pub fn replayed(status: StatusCode, earlier: &Remembered) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(earlier.answer.clone()),
    )
        .into_response();
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
