//! AWS clients from the standard AWS environment (region, credentials, `AWS_ENDPOINT_URL` and
//! the per-service `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL_SSM`), loaded once per process.

pub mod ssm;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use tokio::sync::OnceCell;

/// What creating or deleting an AWS resource (a table, a parameter) came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The command changed something.
    Done,
    /// Nothing to do: the resource was already in the asked state.
    AlreadyThere,
}

/// Timeouts that keep a dead or slow endpoint from outlasting a request: a few attempts of at
/// most 3 s each, 10 s in all, well inside the service's request timeout.
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(10))
        .build()
}

/// The SDK's standard retries (with backoff, for throttling and transient faults).
pub fn retries() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(3)
}

/// The shared SDK configuration; the environment is read the first time only, so a cold start
/// pays for it once however many clients it makes.
pub async fn config() -> &'static SdkConfig {
    static CONFIG: OnceCell<SdkConfig> = OnceCell::const_new();
    CONFIG
        .get_or_init(|| async {
            let mut loader = aws_config::defaults(BehaviorVersion::latest())
                .timeout_config(timeouts())
                .retry_config(retries());
            // A local endpoint (DynamoDB Local, an emulator) needs no AWS account: without a
            // region or credentials in the environment, stand-ins are used rather than the
            // instance metadata service asked (seconds of warnings on a laptop).
            if endpoint_is_local() {
                if env_unset(&["AWS_REGION", "AWS_DEFAULT_REGION"]) {
                    loader = loader.region(aws_config::Region::new("us-east-1"));
                }
                if env_unset(&[
                    "AWS_ACCESS_KEY_ID",
                    "AWS_PROFILE",
                    "AWS_WEB_IDENTITY_TOKEN_FILE",
                ]) {
                    loader =
                        loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                            "local",
                            "local",
                            None,
                            None,
                            "checkoff-local",
                        ));
                }
            }
            loader.load().await
        })
        .await
}

fn env_unset(names: &[&str]) -> bool {
    names
        .iter()
        .all(|name| std::env::var(name).map_or(true, |v| v.is_empty()))
}

/// Whether the AWS endpoints set in the environment are all on this machine.
fn endpoint_is_local() -> bool {
    let set: Vec<String> = [
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_SSM",
    ]
    .iter()
    .filter_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    .collect();
    !set.is_empty()
        && set.iter().all(|url| {
            reqwest::Url::parse(url).is_ok_and(|url| {
                let host = url.host_str().unwrap_or_default();
                host == "localhost"
                    || host
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            })
        })
}

/// One line for a failed AWS call: the service's error code and message, or what kept the
/// request from an answer, and what to set when that is the environment's doing. Never the
/// SDK's rendering of the raw response.
pub fn explain<E, R>(error: &aws_sdk_dynamodb::error::SdkError<E, R>) -> String
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_dynamodb::error::SdkError;
    let text = match error {
        SdkError::ServiceError(service) => {
            let err = service.err();
            format!(
                "{}: {}",
                err.code().unwrap_or("error"),
                err.message().unwrap_or("no message")
            )
        }
        SdkError::TimeoutError(_) => "no answer in time".to_owned(),
        other => {
            // The innermost cause says what went wrong (refused, no region, no credentials).
            let mut cause: &dyn std::error::Error = other;
            while let Some(inner) = cause.source() {
                cause = inner;
            }
            cause.to_string()
        }
    };
    let lower = text.to_lowercase();
    let hint = if lower.contains("region") {
        " (set AWS_REGION)"
    } else if lower.contains("credential") {
        " (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)"
    } else if lower.contains("refused") || lower.contains("dns") || lower.contains("resolve") {
        " (is AWS_ENDPOINT_URL right, and the service running?)"
    } else {
        ""
    };
    let mut line: String = format!("{text}{hint}")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    line.truncate(400);
    line
}
