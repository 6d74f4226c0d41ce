//! SDK errors in the store's terms. Conditional-check failures are decided at each call site,
//! where their meaning (taken, missing, stale) is known.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;

use super::attempts::{Attempted, SERVER_ERRORS, THROTTLED};
use super::items::Item;
use crate::store::{StoreError, StoreResult};

pub(super) fn from_sdk<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let detail = crate::aws::explain(&e);
    match &e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable(detail)
        }
        SdkError::ServiceError(service) => match service.err().code() {
            // "Not now" (throttled, or a server error): retried, then reported as unavailable.
            Some(code) if THROTTLED.contains(&code) || SERVER_ERRORS.contains(&code) => {
                StoreError::Unavailable(detail)
            }
            Some("ResourceNotFoundException") => StoreError::Unavailable(format!(
                "the DynamoDB table does not exist (run `checkoff resources create`): {detail}"
            )),
            _ => StoreError::Internal(detail),
        },
        _ => StoreError::Internal(detail),
    }
}

/// Maps the error of a call the SDK made (and retried as it saw fit), logged on one line.
pub(super) fn failed<E, R>(operation: &'static str) -> impl FnOnce(SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    move |e| {
        log_failure(operation, &e, None);
        from_sdk(e)
    }
}

/// One line for a failed call: the operation, DynamoDB's code and message (or what kept the
/// answer from coming), and which try it was when checkoff made the tries. Never the raw
/// answer: the SDK's rendering of it is a kilobyte of headers.
pub(super) fn log_failure<E, R>(operation: &'static str, e: &SdkError<E, R>, attempt: Option<u32>)
where
    E: ProvideErrorMetadata,
{
    let (code, detail) = match e {
        SdkError::ServiceError(service) => (
            service.err().code().unwrap_or("none"),
            service.err().message().unwrap_or("no message"),
        ),
        SdkError::TimeoutError(_) => ("none", "no answer in time"),
        SdkError::DispatchFailure(_) => ("none", "the request could not be sent or answered"),
        SdkError::ResponseError(_) => ("none", "an answer that does not read"),
        _ => ("none", "the request could not be made"),
    };
    match attempt {
        Some(attempt) => {
            tracing::warn!(operation, code, detail, attempt, "DynamoDB call failed")
        }
        None => tracing::warn!(operation, code, detail, "DynamoDB call failed"),
    }
}

/// The error of a write whose tries are over: [`StoreError::Unknown`] when one of them may
/// have done it.
pub(super) fn from_write<E, R>(e: SdkError<E, R>, lost: bool) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if lost {
        StoreError::Unknown(crate::aws::explain(&e))
    } else {
        from_sdk(e)
    }
}

/// The result of a conditional write: `failed` when its condition did not hold (also after a
/// lost try: the caller's condition must be one that such a try cannot fail, e.g. that the
/// profile exists), the error of its tries otherwise.
pub(super) fn unless_condition_failed<O, E>(
    attempted: Attempted<O, E>,
    failed: StoreError,
) -> Result<O, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match attempted.result {
        Ok(output) => Ok(output),
        Err(e)
            if e.as_service_error().and_then(|s| s.code())
                == Some("ConditionalCheckFailedException") =>
        {
            Err(failed)
        }
        Err(e) => Err(from_write(e, attempted.lost)),
    }
}

/// How a conditional write ended that asked for the item as it was should its condition fail
/// (`ReturnValuesOnConditionCheckFailure::AllOld`).
pub(super) enum Checked<O> {
    Written(O),
    /// The condition did not hold: the item as it was, `None` when there was none; `lost` when
    /// an earlier try's answer was lost, so the item may be as this very write left it.
    Failed {
        old: Option<Item>,
        lost: bool,
    },
}

/// The result of such a write: [`Checked::Failed`] when its condition did not hold, the error
/// of its tries otherwise.
pub(super) fn checked<O, E>(attempted: Attempted<O, E>) -> StoreResult<Checked<O>>
where
    E: FailedCondition + ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match attempted.result {
        Ok(output) => Ok(Checked::Written(output)),
        Err(e) => match e.as_service_error().and_then(FailedCondition::failed_item) {
            Some(old) => Ok(Checked::Failed {
                old: old.cloned(),
                lost: attempted.lost,
            }),
            None => Err(from_write(e, attempted.lost)),
        },
    }
}

/// The errors of the writes that can return the item their condition found.
pub(super) trait FailedCondition {
    /// `Some` when the condition failed, with the item it found, if there was one.
    fn failed_item(&self) -> Option<Option<&Item>>;
}

macro_rules! failed_condition {
    ($($error:ty),*) => {$(
        impl FailedCondition for $error {
            fn failed_item(&self) -> Option<Option<&Item>> {
                match self {
                    Self::ConditionalCheckFailedException(failed) => Some(failed.item()),
                    _ => None,
                }
            }
        }
    )*};
}

failed_condition!(DeleteItemError, PutItemError, UpdateItemError);
