//! JSON answers. Each ends with a newline, as text for a terminal should (curl's output then does
//! not run into the shell's prompt): one byte more in the buffer the body is written into anyway.

use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::{ApiError, ApiResult};
use crate::domain::Todo;

/// `value` as a JSON answer's body.
pub fn to_bytes<T: Serialize + ?Sized>(value: &T) -> ApiResult<Vec<u8>> {
    let mut body = Vec::with_capacity(128);
    serde_json::to_writer(&mut body, value)
        .map_err(|e| ApiError::Internal(format!("cannot serialise an answer: {e}")))?;
    body.push(b'\n');
    Ok(body)
}

/// A todo as a JSON answer's body, written by its own writer (the same bytes as serde's,
/// several times faster: `domain/json.rs`).
pub fn todo_bytes(todo: &Todo) -> Vec<u8> {
    let mut body = Vec::with_capacity(todo.json_len() + 1);
    todo.write_json(&mut body);
    body.push(b'\n');
    body
}

/// What a page lists, written as the page's JSON array.
pub trait Items: Sized {
    fn array_bytes(items: &[Self]) -> ApiResult<Vec<u8>>;
}

impl Items for Todo {
    fn array_bytes(items: &[Self]) -> ApiResult<Vec<u8>> {
        let room = items.iter().map(Todo::json_len).sum::<usize>();
        let mut body = Vec::with_capacity(room + items.len() + 3);
        Todo::write_json_array(items, &mut body);
        body.push(b'\n');
        Ok(body)
    }
}

/// `value` as a JSON answer's body, as text (to be kept, e.g. as an idempotent answer).
pub fn to_text<T: Serialize + ?Sized>(value: &T) -> ApiResult<String> {
    let mut text = serde_json::to_string(value)
        .map_err(|e| ApiError::Internal(format!("cannot serialise an answer: {e}")))?;
    text.push('\n');
    Ok(text)
}

/// A todo as a JSON answer.
pub struct TodoJson(pub Todo);

impl IntoResponse for TodoJson {
    fn into_response(self) -> Response {
        json_answer(todo_bytes(&self.0))
    }
}

fn json_answer(body: Vec<u8>) -> Response {
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response()
}

/// A JSON answer (axum's `Json`, with the newline).
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match to_bytes(&self.0) {
            Ok(body) => json_answer(body),
            Err(e) => e.into_response(),
        }
    }
}
