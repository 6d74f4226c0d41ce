//! JSON answers. Each ends with a newline, as text for a terminal should (curl's output then does
//! not run into the shell's prompt): one byte more in the buffer the body is written into anyway.

use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::{ApiError, ApiResult};

/// `value` as a JSON answer's body.
pub fn to_bytes<T: Serialize + ?Sized>(value: &T) -> ApiResult<Vec<u8>> {
    let mut body = Vec::with_capacity(128);
    serde_json::to_writer(&mut body, value)
        .map_err(|e| ApiError::Internal(format!("cannot serialise an answer: {e}")))?;
    body.push(b'\n');
    Ok(body)
}

/// `value` as a JSON answer's body, as text (to be kept, e.g. as an idempotent answer).
pub fn to_text<T: Serialize + ?Sized>(value: &T) -> ApiResult<String> {
    let mut text = serde_json::to_string(value)
        .map_err(|e| ApiError::Internal(format!("cannot serialise an answer: {e}")))?;
    text.push('\n');
    Ok(text)
}

/// A JSON answer (axum's `Json`, with the newline).
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match to_bytes(&self.0) {
            Ok(body) => (
                [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                body,
            )
                .into_response(),
            Err(e) => e.into_response(),
        }
    }
}
