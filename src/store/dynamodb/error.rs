//! SDK errors in the store's terms. Conditional-check failures are decided at each call site,
//! where their meaning (taken, missing, stale) is known.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;

use super::items::Item;
use crate::store::{StoreError, StoreResult};

/// Error codes that mean "not now": retried by the SDK, then reported as unavailable.
const TRANSIENT: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
    "TransactionInProgressException",
];

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
            Some(code) if TRANSIENT.contains(&code) => StoreError::Unavailable(detail),
            Some("ResourceNotFoundException") => StoreError::Unavailable(format!(
                "the DynamoDB table does not exist (run `checkoff resources create`): {detail}"
            )),
            _ => StoreError::Internal(detail),
        },
        _ => StoreError::Internal(detail),
    }
}

/// The result of a conditional write: `failed` when its condition did not hold, the SDK error
/// mapped as usual otherwise.
pub(super) fn unless_condition_failed<O, E, R>(
    result: Result<O, SdkError<E, R>>,
    failed: StoreError,
) -> Result<O, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(output) => Ok(output),
        Err(e)
            if e.as_service_error().and_then(|s| s.code())
                == Some("ConditionalCheckFailedException") =>
        {
            Err(failed)
        }
        Err(e) => Err(from_sdk(e)),
    }
}

/// How a conditional write ended that asked for the item as it was should its condition fail
/// (`ReturnValuesOnConditionCheckFailure::AllOld`).
pub(super) enum Checked<O> {
    Written(O),
    /// The condition did not hold: the item as it was, `None` when there was none.
    Failed(Option<Item>),
}

/// The result of such a write: [`Checked::Failed`] when its condition did not hold, the SDK
/// error mapped as usual otherwise.
pub(super) fn checked<O, E, R>(result: Result<O, SdkError<E, R>>) -> StoreResult<Checked<O>>
where
    E: FailedCondition + ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(output) => Ok(Checked::Written(output)),
        Err(e) => match e.as_service_error().and_then(FailedCondition::failed_item) {
            Some(old) => Ok(Checked::Failed(old.cloned())),
            None => Err(from_sdk(e)),
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
