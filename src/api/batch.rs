//! POST /batch: up to 100 creates, changes and deletes of todos in one request, for a client
//! sending the queue it kept while offline. Each operation is done in order, on its own, exactly
//! as its own request would be (limits, `If-Match`, idempotency key, sharing), and answered with
//! the status and body that request would have had: one failing stops none of the others.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, IfMatch, Principal};
use super::idempotency::IdempotencyKey;
use super::json::Json;
use super::todos::{self, NewTodo, TodoChanges};
use crate::api::AppState;

/// Operations one batch may hold.
pub const MAX_OPERATIONS: usize = 100;
/// The most an operation's answer may take when it is read back (an item is far smaller).
const MAX_ANSWER: usize = 256 * 1024;

/// Operations to do in order.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// 1–100 operations. Each is read on its own: one that does not read is answered 400
    /// and the others are done.
    #[schema(value_type = Vec<Operation>, min_items = 1, max_items = 100)]
    operations: Vec<Value>,
}

/// One operation: what `POST /todos`, `PATCH /todos/{uid}` or `DELETE /todos/{uid}` takes.
#[derive(Deserialize, ToSchema)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum Operation {
    /// As `POST /todos`; `key` is its `Idempotency-Key` (a retried batch makes it once).
    Create {
        todo: NewTodo,
        #[serde(default)]
        key: Option<String>,
    },
    /// As `PATCH /todos/{uid}`; `if_match` is its `If-Match` (e.g. `"\"3\""`).
    Update {
        #[schema(value_type = String, format = Uuid)]
        uid: Uuid,
        changes: TodoChanges,
        #[serde(default)]
        if_match: Option<String>,
    },
    /// As `DELETE /todos/{uid}`.
    Delete {
        #[schema(value_type = String, format = Uuid)]
        uid: Uuid,
        #[serde(default)]
        if_match: Option<String>,
    },
}

/// What each operation answered, in the order sent.
#[derive(Serialize, ToSchema)]
pub struct Answers {
    results: Vec<Answer>,
}

/// One operation's answer, as its own request would have had it.
#[derive(Serialize, ToSchema)]
pub struct Answer {
    /// E.g. 201, 200, 204, 404, 412.
    status: u16,
    /// The todo's `ETag` after it, when it left one.
    #[serde(skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
    /// The todo, or `{"message"}`; absent when there is none (a delete).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    body: Option<Value>,
    /// Whether it is the first answer to a create with the same `key`, sent again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    replayed: bool,
}

/// Send queued changes at once
#[utoipa::path(post, path = "/batch", tag = "todos", request_body = Batch,
    security(("token" = [])),
    responses(
        (status = 200, body = Answers, description = "Each operation's answer, in order (each may be a success or a failure of its own)"),
        (status = 400, description = "Not 1–100 operations"),
        (status = 401, description = "Unauthorized"),
        (status = 413, description = "Body over 64 KiB"),
    ))]
pub async fn batch(
    State(app): State<AppState>,
    Principal(caller): Principal,
    ApiJson(batch): ApiJson<Batch>,
) -> ApiResult<Json<Answers>> {
    let count = batch.operations.len();
    if count == 0 || count > MAX_OPERATIONS {
        return Err(ApiError::BadRequest(format!(
            "a batch holds 1 to {MAX_OPERATIONS} operations, got {count}"
        )));
    }
    let mut results = Vec::with_capacity(count);
    for operation in batch.operations {
        let operation = match serde_json::from_value::<Operation>(operation) {
            Ok(operation) => operation,
            Err(e) => {
                let bad = ApiError::BadRequest(format!("invalid operation: {e}"));
                results.push(answer(bad.into_response()).await?);
                continue;
            }
        };
        let answered = match operation {
            Operation::Create { todo, key } => match key.as_deref().map(IdempotencyKey::parse) {
                Some(Err(bad)) => Err(bad),
                key => {
                    let key = key.and_then(Result::ok).unwrap_or(IdempotencyKey(None));
                    todos::create(&app, &caller, key, todo).await
                }
            },
            Operation::Update {
                uid,
                changes,
                if_match,
            } => match if_match_of(if_match.as_deref()) {
                Ok(if_match) => todos::update(&app, &caller, uid, if_match, changes).await,
                Err(bad) => Err(bad),
            },
            Operation::Delete { uid, if_match } => match if_match_of(if_match.as_deref()) {
                Ok(if_match) => todos::delete(&app, &caller, uid, if_match)
                    .await
                    .map(IntoResponse::into_response),
                Err(bad) => Err(bad),
            },
        };
        results.push(answer(answered.unwrap_or_else(IntoResponse::into_response)).await?);
    }
    Ok(Json(Answers { results }))
}

fn if_match_of(raw: Option<&str>) -> ApiResult<IfMatch> {
    raw.map_or(Ok(IfMatch(None)), IfMatch::parse)
}

/// A response as an operation's answer.
async fn answer(response: Response) -> ApiResult<Answer> {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_ANSWER)
        .await
        .map_err(|e| ApiError::Internal(format!("an operation's answer: {e}")))?;
    let body = match bytes.is_empty() {
        true => None,
        false => Some(
            serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::Internal(format!("an operation's answer: {e}")))?,
        ),
    };
    Ok(Answer {
        status: parts.status.as_u16(),
        etag: parts
            .headers
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        replayed: parts.headers.contains_key("idempotent-replayed"),
        body,
    })
}
