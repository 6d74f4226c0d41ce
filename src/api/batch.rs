//! POST /batch: up to 100 creates, changes and deletes of todos in one request, for a client
//! sending the queue it kept while offline. Each operation is read and done in order, on its
//! own, exactly as its own request would be (limits, `If-Match`, idempotency key, sharing), and
//! answered with the status and body that request would have had: one failing, even one that
//! does not read, stops none of the others (a queue is not stuck behind one bad entry).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
use uuid::Uuid;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, IF_MATCH_PATTERN, IfMatch, Principal};
use super::idempotency::{IdempotencyKey, KEY_PATTERN};
use super::json::Json;
use super::todos::{self, NewTodo, TodoChanges};
use crate::api::AppState;
use crate::domain::TodoPatch;

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
        #[schema(schema_with = key_schema)]
        key: Option<String>,
    },
    /// As `PATCH /todos/{uid}`; `if_match` is its `If-Match` (e.g. `"\"3\""`).
    Update {
        #[schema(value_type = String, format = Uuid)]
        uid: Uuid,
        changes: TodoChanges,
        #[serde(default)]
        #[schema(schema_with = if_match_schema)]
        if_match: Option<String>,
    },
    /// As `DELETE /todos/{uid}`.
    Delete {
        #[schema(value_type = String, format = Uuid)]
        uid: Uuid,
        #[serde(default)]
        #[schema(schema_with = if_match_schema)]
        if_match: Option<String>,
    },
}

fn key_schema() -> Object {
    optional_text(KEY_PATTERN)
}

fn if_match_schema() -> Object {
    optional_text(IF_MATCH_PATTERN)
}

/// A string of `pattern`, or null: what an operation's header-like fields take.
fn optional_text(pattern: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .pattern(Some(pattern))
        .build()
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
        let answered = match Ready::read(operation) {
            Err(bad) => Err(bad),
            Ok(Ready::Create { todo, key }) => todos::create(&app, &caller, key, todo).await,
            Ok(Ready::Update {
                uid,
                patch,
                if_match,
            }) => todos::update(&app, &caller, uid, if_match, &patch).await,
            Ok(Ready::Delete { uid, if_match }) => todos::delete(&app, &caller, uid, if_match)
                .await
                .map(IntoResponse::into_response),
        };
        results.push(answer(answered.unwrap_or_else(IntoResponse::into_response)).await?);
    }
    Ok(Json(Answers { results }))
}

/// An operation read whole: its key and `If-Match` parsed too, so that doing it can only fail
/// the way its own request could once read.
enum Ready {
    Create {
        todo: NewTodo,
        key: IdempotencyKey,
    },
    Update {
        uid: Uuid,
        patch: TodoPatch,
        if_match: IfMatch,
    },
    Delete {
        uid: Uuid,
        if_match: IfMatch,
    },
}

impl Ready {
    fn read(operation: Value) -> ApiResult<Self> {
        // (An operation is read by its `op` tag, through serde's buffer: no field path is kept.)
        let operation = serde_json::from_value::<Operation>(operation)
            .map_err(|e| ApiError::BadRequest(format!("invalid operation: {e}")))?;
        // As a header's value would arrive: no blanks around it (a header loses them on the way).
        let if_match_of = |raw: Option<String>| match raw {
            None => Ok(IfMatch(None)),
            Some(raw) if raw.trim() != raw => {
                Err(ApiError::BadRequest("if_match has blanks around it".into()))
            }
            Some(raw) => IfMatch::parse(&raw),
        };
        Ok(match operation {
            Operation::Create { todo, key } => Ready::Create {
                todo,
                key: key.map_or(Ok(IdempotencyKey(None)), |k| IdempotencyKey::parse(&k))?,
            },
            Operation::Update {
                uid,
                changes,
                if_match,
            } => Ready::Update {
                uid,
                patch: changes.into_patch()?,
                if_match: if_match_of(if_match)?,
            },
            Operation::Delete { uid, if_match } => Ready::Delete {
                uid,
                if_match: if_match_of(if_match)?,
            },
        })
    }
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
