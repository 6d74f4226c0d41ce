//! The service layer's one error type: what a request may be refused for, in the domain's
//! words. `api::error` maps it to HTTP, the command line to a message.

use std::time::Duration;

use crate::domain::Invalid;
use crate::store::StoreError;

pub type ServiceResult<T> = Result<T, ServiceError>;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Input the domain refuses; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// No such thing of the caller's (the same answer whether it exists for someone else).
    #[error("{0}")]
    NotFound(&'static str),
    /// A conditional write found another version.
    #[error("the item has changed")]
    Changed,
    /// The caller's account went while the request was under way.
    #[error("the account is gone")]
    AccountGone,
    /// An account would hold more than its quota allows; the message names the limit.
    #[error("{0}")]
    OverQuota(String),
    /// A bound on what one caller may do at once or per second, named in the message.
    #[error("{message}")]
    Limited {
        message: String,
        retry_after: Duration,
    },
    /// A wrong username or password (the same for both).
    #[error("invalid username or password")]
    InvalidCredentials,
    /// Unknown, expired, already used or of an ended session.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// Too many logins tried for the name or the address (counted before the password is checked).
    #[error("too many login attempts")]
    TooManyAttempts { retry_after: Duration },
    /// Not the caller's to do (the same answer whether the thing exists or not).
    #[error("forbidden")]
    Forbidden,
    /// Refused for a reason the caller should read.
    #[error("{0}")]
    Refused(&'static str),
    /// Not possible in the state the thing is in; the message says why.
    #[error("{0}")]
    Conflict(&'static str),
    /// The name or thing is taken.
    #[error("{0}")]
    Taken(&'static str),
    /// An idempotency key that was used for another request.
    #[error("the key was used for another request")]
    KeyReused,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug or a broken part (signing a token, hashing a password); logged, not sent.
    #[error("{0}")]
    Internal(String),
}

impl From<Invalid> for ServiceError {
    fn from(invalid: Invalid) -> Self {
        Self::Invalid(invalid.0)
    }
}
