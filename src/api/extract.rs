//! Extractors that turn a request into validated values, failing with our error shape.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_LENGTH, IF_MATCH};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::error::ApiError;
use crate::api::{AppState, MAX_BODY_BYTES};
use crate::auth::Decision;

/// A JSON body. Content-Type is not insisted on (`curl -d` works); the body must parse as `T`,
/// which for our request types also validates every field and refuses unknown ones.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        // A body announced too large is refused before any of it is waited for.
        let announced = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        if announced.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
            return Err(ApiError::PayloadTooLarge);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest("could not read the request body".into())
            }
        })?;
        // Every request body is an object; serde would otherwise also read a struct from an array.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::BadRequest(
                "request body must be a JSON object".into(),
            ));
        }
        serde_json::from_slice(&bytes)
            .map(ApiJson)
            .map_err(|e| ApiError::BadRequest(format!("invalid request body: {e}")))
    }
}

/// Query parameters; a malformed query string is a 400 in our shape.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Query::try_from_uri(&parts.uri)
            .map(|Query(value)| ApiQuery(value))
            .map_err(|e| ApiError::BadRequest(format!("invalid query string: {}", e.body_text())))
    }
}

/// The caller, as the authorizer decided, already checked against the route being called:
/// handlers that take it are the protected ones.
#[derive(Debug, Clone)]
pub struct Principal(pub Decision);

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let decision = app.authorizer.authorize(parts).await?;
        if !decision.routes.allows(&parts.method, parts.uri.path()) {
            return Err(ApiError::Forbidden);
        }
        Ok(Principal(decision))
    }
}

/// The client's address when the server knows it (not in in-process tests).
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        Ok(ClientAddr(addr))
    }
}

/// The `{uid}` of a todo route. Anything that is not a UUID names no todo: 404, like an absent one.
pub struct TodoUid(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for TodoUid {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let not_found = || ApiError::NotFound("Todo not found");
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| not_found())?;
        Uuid::parse_str(&raw).map(TodoUid).map_err(|_| not_found())
    }
}

/// `If-Match`: absent or `*` asks only that the item exists; a list of `"<version>"` tags that it
/// is at one of those versions (RFC 9110). A weak tag never matches under If-Match's strong
/// comparison, and neither does a tag of another shape: both stand for no version.
pub struct IfMatch(pub Option<Vec<u64>>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        let text = value.to_str().unwrap_or_default().trim();
        if text == "*" {
            return Ok(IfMatch(None));
        }
        let malformed = || {
            ApiError::BadRequest(
                "If-Match must be entity tags such as \"3\" (from ETag), separated by commas, or *"
                    .into(),
            )
        };
        let mut versions = Vec::new();
        for tag in text.split(',').map(str::trim) {
            let strong = tag.strip_prefix("W/").unwrap_or(tag);
            let inner = strong
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .filter(|t| !t.contains('"'))
                .ok_or_else(malformed)?;
            let version = match (strong.len() == tag.len(), inner.parse()) {
                (true, Ok(version)) => version,
                _ => u64::MAX,
            };
            versions.push(version);
        }
        Ok(IfMatch(Some(versions)))
    }
}

pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}
