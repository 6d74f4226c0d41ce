//! The one API error type, and the one place that maps errors to HTTP.

use std::time::Duration;

use super::json::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::AuthError;
use crate::domain::Invalid;
use crate::services::ServiceError;
use crate::store::StoreError;

pub type ApiResult<T, E = ApiError> = Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("Unauthorized")]
    Unauthorized,
    /// The same answer as `Unauthorized`, saying in `WWW-Authenticate` that the token is bad.
    #[error("Unauthorized")]
    InvalidToken,
    #[error("Invalid username or password")]
    InvalidCredentials,
    #[error("Invalid or expired refresh token")]
    InvalidRefreshToken,
    #[error("User is not authorized to access this resource")]
    Forbidden,
    /// Refused for a reason the caller should read (sign-up closed).
    #[error("{0}")]
    Refused(&'static str),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("Method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("The item has changed since you read it (If-Match does not match its ETag)")]
    PreconditionFailed,
    #[error("{0}")]
    Unprocessable(&'static str),
    #[error("Request body is larger than 64 KiB")]
    PayloadTooLarge,
    #[error("Too many login attempts; try again later")]
    TooManyRequests { retry_after: Duration },
    /// An account would hold more than its quota allows; the message names the limit.
    #[error("{0}")]
    OverQuota(String),
    /// A bound on what one caller may hold or do (streams, writes), named in the message.
    #[error("{message}")]
    Limited {
        message: String,
        retry_after: Duration,
    },
    #[error("Request took too long; try again")]
    Timeout,
    /// The request's body stopped coming before the deadline.
    #[error("The request body was not sent in time")]
    BodyTimeout,
    #[error("{0}")]
    NotImplemented(&'static str),
    /// What was asked for is no longer kept; the message says what to do instead.
    #[error("{0}")]
    Gone(&'static str),
    /// A dependency (the store) is down; the detail is logged, not sent.
    #[error("Service temporarily unavailable; try again")]
    Unavailable(String),
    /// A write was sent to the store and its answer lost; the detail is logged, not sent.
    #[error(
        "The store did not confirm the change: it may have happened. Read what you changed \
         before trying again, or repeat the request with the same Idempotency-Key"
    )]
    OutcomeUnknown(String),
    /// A bug or broken data; the detail is logged, not sent.
    #[error("Internal server error")]
    Internal(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized
            | Self::InvalidToken
            | Self::InvalidCredentials
            | Self::InvalidRefreshToken => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::Refused(_) | Self::OverQuota(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::TooManyRequests { .. } | Self::Limited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Timeout | Self::Unavailable(_) | Self::OutcomeUnknown(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Self::Gone(_) => StatusCode::GONE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Unavailable(detail) => tracing::warn!(%detail, "dependency unavailable"),
            Self::OutcomeUnknown(detail) => {
                tracing::warn!(%detail, "a write's outcome is unknown")
            }
            Self::Internal(detail) => tracing::error!(%detail, "internal error"),
            _ => {}
        }
        let mut response =
            (self.status(), Json(json!({ "message": self.to_string() }))).into_response();
        let headers = response.headers_mut();
        match self {
            Self::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::InvalidToken => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="invalid_token""#),
                );
            }
            Self::TooManyRequests { retry_after } | Self::Limited { retry_after, .. } => {
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            }
            // The body was not read to its end (announced too large, or it stopped coming):
            // the connection cannot carry another request, and the client must not try.
            Self::PayloadTooLarge | Self::BodyTimeout => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Self::Timeout | Self::Unavailable(_) | Self::OutcomeUnknown(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> Self {
        Self::BadRequest(invalid.0)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let kind = match e {
            StoreError::Unavailable(_) => Some("unavailable"),
            StoreError::Unknown(_) => Some("unknown"),
            StoreError::Internal(_) => Some("internal"),
            _ => None,
        };
        if let Some(kind) = kind {
            metrics::counter!("checkoff_store_errors_total", "kind" => kind).increment(1);
        }
        match e {
            StoreError::NotFound => Self::NotFound("Not found"),
            StoreError::AlreadyExists => Self::Conflict("Already exists".into()),
            StoreError::VersionMismatch { .. } => Self::PreconditionFailed,
            StoreError::Changed => Self::Conflict("Changed meanwhile; try again".into()),
            StoreError::NoList => Self::NotFound("List not found"),
            StoreError::Unsupported(what) => Self::NotImplemented(what),
            StoreError::Unavailable(detail) => Self::Unavailable(detail),
            StoreError::Unknown(detail) => Self::OutcomeUnknown(detail),
            StoreError::Internal(detail) => Self::Internal(detail),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(message) => Self::BadRequest(message),
            ServiceError::NotFound(what) => Self::NotFound(what),
            ServiceError::Changed => Self::PreconditionFailed,
            // As if the token were invalid: it belongs to no account any more.
            ServiceError::AccountGone => Self::InvalidToken,
            ServiceError::OverQuota(message) => Self::OverQuota(message),
            ServiceError::Limited {
                message,
                retry_after,
            } => Self::Limited {
                message,
                retry_after,
            },
            ServiceError::KeyReused => Self::Unprocessable(
                "This Idempotency-Key was used for another request; use a new key",
            ),
            ServiceError::InvalidCredentials => Self::InvalidCredentials,
            ServiceError::InvalidRefreshToken => Self::InvalidRefreshToken,
            ServiceError::TooManyAttempts { retry_after } => Self::TooManyRequests { retry_after },
            ServiceError::Forbidden => Self::Forbidden,
            ServiceError::Refused(why) => Self::Refused(why),
            ServiceError::Taken(what) | ServiceError::Conflict(what) => Self::Conflict(what.into()),
            ServiceError::Store(e) => e.into(),
            ServiceError::Internal(detail) => Self::Internal(detail),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unauthorized => Self::Unauthorized,
            AuthError::InvalidToken => Self::InvalidToken,
            AuthError::Unavailable(detail) => Self::Unavailable(detail),
        }
    }
}
