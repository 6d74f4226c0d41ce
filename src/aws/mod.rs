//! AWS clients from the standard AWS environment (region, credentials, `AWS_ENDPOINT_URL` and
//! the per-service `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL_SSM`), loaded once per process.

pub mod ssm;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use tokio::sync::OnceCell;

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
            aws_config::defaults(BehaviorVersion::latest())
                .timeout_config(timeouts())
                .retry_config(retries())
                .load()
                .await
        })
        .await
}
