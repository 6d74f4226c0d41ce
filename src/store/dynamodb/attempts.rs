//! Writes, tried by checkoff rather than by the SDK. An attempt whose answer was lost (a server
//! error, a timeout, a broken connection) may have been done; only the code that made the write
//! can tell whether a later attempt's failed condition is that earlier success ("the todo
//! exists" after a create that was done). So the SDK sends each write once, and [`attempt`]
//! sends it again, remembering whether an answer was lost, and logs one line per failed try.

use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::delete_item::builders::DeleteItemFluentBuilder;
use aws_sdk_dynamodb::operation::delete_item::{DeleteItemError, DeleteItemOutput};
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
use aws_sdk_dynamodb::operation::transact_write_items::builders::TransactWriteItemsFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsError, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};

use super::error::log_failure;

/// Tries of one write, as the SDK made them before (its standard mode's three).
const ATTEMPTS: u32 = 3;
/// The wait before the second try, doubled before the third (with jitter, as the SDK's).
const FIRST_WAIT: Duration = Duration::from_millis(50);

pub(super) type Sent<O, E> = Result<O, SdkError<E, HttpResponse>>;

/// A write request that can be sent once more (its builder, cloned for each try).
pub(super) trait Write: Clone + Send {
    type Output: Send;
    type Error: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static;
    /// The operation's name, for the log.
    const OPERATION: &'static str;
    /// Sends it once: the SDK's own retries are off for it.
    fn once(self) -> impl Future<Output = Sent<Self::Output, Self::Error>> + Send;
}

macro_rules! writes {
    ($($builder:ty => $name:literal, $output:ty, $error:ty;)*) => {$(
        impl Write for $builder {
            type Output = $output;
            type Error = $error;
            const OPERATION: &'static str = $name;
            fn once(self) -> impl Future<Output = Sent<$output, $error>> + Send {
                let once = aws_sdk_dynamodb::Config::builder().retry_config(RetryConfig::disabled());
                self.customize().config_override(once).send()
            }
        }
    )*};
}

writes! {
    PutItemFluentBuilder => "PutItem", PutItemOutput, PutItemError;
    UpdateItemFluentBuilder => "UpdateItem", UpdateItemOutput, UpdateItemError;
    DeleteItemFluentBuilder => "DeleteItem", DeleteItemOutput, DeleteItemError;
    TransactWriteItemsFluentBuilder => "TransactWriteItems", TransactWriteItemsOutput, TransactWriteItemsError;
}

/// How a write ended after its tries.
pub(super) struct Attempted<O, E> {
    /// The last try's result.
    pub result: Sent<O, E>,
    /// Some try's answer was lost: the write may have been done, whatever the result says.
    pub lost: bool,
}

/// What a failed try says about the write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Refused before it was done (throttled): worth trying again.
    NotDone,
    /// No answer, or a server error: it may have been done; worth trying again.
    Lost,
    /// An answer that another try would not change (a failed condition, a bad request).
    Final,
}

/// Error codes that DynamoDB gives a request it did not carry out for now.
pub(super) const THROTTLED: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "TransactionInProgressException",
];

/// Error codes of DynamoDB's own failures: the request may or may not have been carried out.
pub(super) const SERVER_ERRORS: &[&str] = &["InternalServerError", "ServiceUnavailable"];

fn failure<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> Failure {
    match e {
        SdkError::ServiceError(service) => match service.err().code() {
            Some(code) if THROTTLED.contains(&code) => Failure::NotDone,
            Some(code) if SERVER_ERRORS.contains(&code) => Failure::Lost,
            // A gateway's 502 or 504 has no DynamoDB code: the call may have got through.
            _ if service.raw().status().is_server_error() => Failure::Lost,
            _ => Failure::Final,
        },
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            Failure::Lost
        }
        _ => Failure::Final,
    }
}

/// Sends `write` until it is answered for good or [`ATTEMPTS`] tries are made.
pub(super) async fn attempt<W: Write>(write: W) -> Attempted<W::Output, W::Error> {
    tries(write, true).await
}

/// [`attempt`] for a write that must not be sent again once an answer was lost: one that adds
/// to a count (`ADD`) would add twice.
pub(super) async fn attempt_once_done<W: Write>(write: W) -> Attempted<W::Output, W::Error> {
    tries(write, false).await
}

async fn tries<W: Write>(write: W, again_after_lost: bool) -> Attempted<W::Output, W::Error> {
    let mut lost = false;
    let mut wait = FIRST_WAIT;
    let mut tried = 0;
    loop {
        tried += 1;
        let result = write.clone().once().await;
        let Err(e) = &result else {
            return Attempted { result, lost };
        };
        let failure = failure(e);
        lost |= failure == Failure::Lost;
        if failure == Failure::Final {
            return Attempted { result, lost };
        }
        log_failure(W::OPERATION, e, Some(tried));
        if tried == ATTEMPTS || (lost && !again_after_lost) {
            return Attempted { result, lost };
        }
        // Full jitter: writers that failed together do not come back together.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        tokio::time::sleep(wait.mul_f64(0.5 + f64::from(nanos % 1000) / 2000.0)).await;
        wait *= 2;
    }
}
