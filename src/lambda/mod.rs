//! The Lambda entry: when `AWS_LAMBDA_RUNTIME_API` is set, `checkoff` (the `bootstrap` of
//! `provided.al2023`) serves the same router to API Gateway and Function URL events, or, as the
//! function whose handler is `authorizer`, answers API Gateway's Lambda authorizer events.
//! Everything is built once per cold start, before the first event; a failure there is reported
//! through the Runtime API's init-error call.

mod authorizer;
mod http;

use std::process::ExitCode;

use clap::Parser;

use crate::config::{AUTHORIZER_HANDLER, Runtime, ServiceArgs, Settings, StoreArgs};

/// The environment variables the Lambda entry reads its settings from (besides `RUST_LOG`):
/// a deployment's template sets some of them.
pub fn environment_read() -> Vec<String> {
    use clap::CommandFactory;
    LambdaArgs::command()
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|name| name.to_string_lossy().into_owned())
        .collect()
}

/// Whether this process was started by AWS Lambda (or an emulator of its Runtime API).
pub fn is_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

/// The service's settings under Lambda: the environment only (the template sets it).
#[derive(Debug, Parser)]
#[command(name = "checkoff")]
struct LambdaArgs {
    #[command(flatten)]
    location: StoreArgs,
    #[command(flatten)]
    service: ServiceArgs,
}

pub fn run() -> ExitCode {
    let format = crate::telemetry::LogFormat::from_env();
    crate::telemetry::init_logging(format, "info", crate::telemetry::LogWriter::Direct);
    crate::entry::run_to_exit(serve())
}

async fn serve() -> Result<(), String> {
    match build().await {
        Ok(Entry::Api(state, trusts_gateway)) => http::run(state, trusts_gateway).await,
        Ok(Entry::Authorizer(check)) => authorizer::run(*check).await,
        Err(why) => {
            report_init_error(&why).await;
            Err(why)
        }
    }
}

/// What Lambda itself sets for every function; the runtime crate cannot start without them.
const LAMBDA_ENVIRONMENT: [&str; 3] = [
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

/// What this function serves, built from the environment.
async fn build() -> Result<Entry, String> {
    let missing: Vec<&str> = LAMBDA_ENVIRONMENT
        .into_iter()
        .filter(|name| std::env::var_os(name).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{} not set: AWS Lambda sets them (with AWS_LAMBDA_RUNTIME_API) for every function; \
             to run the function yourself, set them too",
            missing.join(", ")
        ));
    }
    let args = LambdaArgs::try_parse_from(["checkoff"]).map_err(|e| e.to_string())?;
    let settings = Settings::resolve(&args.location, &args.service, Runtime::Lambda)?;
    if std::env::var("_HANDLER").is_ok_and(|h| h == AUTHORIZER_HANDLER) {
        let check = crate::service::build_token_check(&settings).await?;
        Ok(Entry::Authorizer(Box::new(check)))
    } else {
        let trusts_gateway = settings.identity.kind.is_gateway();
        let state = crate::service::build(&settings).await?;
        Ok(Entry::Api(state, trusts_gateway))
    }
}

enum Entry {
    Api(crate::api::AppState, bool),
    Authorizer(Box<crate::auth::TokenCheck>),
}

/// Tells Lambda why this environment could not start, so the failure shows in the invoke's
/// answer and the logs with its reason rather than as a bare crash.
async fn report_init_error(why: &str) {
    use lambda_runtime_api_client::PooledClient;
    use lambda_runtime_api_client::body::Body;
    let body = serde_json::json!({
        "errorType": "Runtime.InitError",
        "errorMessage": format!("checkoff could not start: {why}"),
    });
    let request = lambda_http::http::Request::post("/2018-06-01/runtime/init/error")
        .header("lambda-runtime-function-error-type", "Runtime.InitError")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()));
    let sent = match request {
        Ok(request) => PooledClient::builder()
            .build()
            .call(request)
            .await
            .map(|_| ()),
        Err(e) => Err(e.into()),
    };
    if let Err(e) = sent {
        tracing::error!(error = %e, "could not report the init error to the Runtime API");
    }
}
