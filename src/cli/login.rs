//! `checkoff login --oidc`: a token for scripts, got the way a person signs in through the
//! service's identity provider (a Cognito user pool, any OIDC issuer): the authorization-code
//! flow with PKCE, the browser sent back to a one-request listener on localhost. The access
//! token goes to stdout, everything said to the person to stderr, so `TOKEN=$(checkoff login
//! --oidc --url …)` works.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::Query;
use axum::response::Html;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Args;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use super::{CliResult, Failure};
use crate::auth::SignInProvider;

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Sign in through the service's identity provider, in a browser.
    #[arg(long)]
    oidc: bool,
    /// The service's address, e.g. https://abc123.execute-api.eu-west-1.amazonaws.com/dev/
    #[arg(long, env = "CHECKOFF_URL")]
    url: String,
    /// The port on this machine the provider sends the browser back to:
    /// http://localhost:PORT/callback must be one of the client's callback URLs.
    #[arg(long, default_value_t = 8976)]
    port: u16,
    /// How long to wait for the sign-in in the browser.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    wait: Duration,
}

/// What `GET /auth/config` says, of what sign-in needs.
#[derive(Deserialize)]
struct AuthConfig {
    provider: Option<SignInProvider>,
}

#[derive(Deserialize)]
struct Tokens {
    access_token: String,
    expires_in: Option<u64>,
}

#[derive(Deserialize, Default)]
struct TokenError {
    error: Option<String>,
    error_description: Option<String>,
}

fn random_text(bytes: usize) -> Result<String, Failure> {
    let mut buffer = vec![0; bytes];
    getrandom::fill(&mut buffer).map_err(|e| format!("no randomness: {e}"))?;
    Ok(URL_SAFE_NO_PAD.encode(buffer))
}

/// `pairs` as an `application/x-www-form-urlencoded` body.
fn form(pairs: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://form.invalid/").expect("a valid URL");
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap_or_default().to_owned()
}

pub async fn run(args: &LoginArgs) -> CliResult {
    if !args.oidc {
        return Err(Failure(
            "`checkoff login` signs in through the service's identity provider: add --oidc. \
             (With a checkoff account, POST /login answers a token for a username and password.)"
                .into(),
        ));
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("checkoff/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())?;
    let base = format!("{}/", args.url.trim_end_matches('/'));
    if !reqwest::Url::parse(&base).is_ok_and(|url| matches!(url.scheme(), "http" | "https")) {
        return Err(Failure(format!(
            "--url {:?} is no address of a service: write it whole, e.g. http://127.0.0.1:8000/ \
             or https://abc123.execute-api.eu-west-1.amazonaws.com/dev/",
            args.url
        )));
    }
    let config_url = format!("{base}auth/config");
    let answer = http
        .get(&config_url)
        .send()
        .await
        .map_err(|e| format!("cannot reach {config_url}: {e}"))?;
    if !answer.status().is_success() {
        return Err(Failure(format!(
            "{config_url} answered {}: is {base} a checkoff service?",
            answer.status()
        )));
    }
    let config: AuthConfig = answer
        .json()
        .await
        .map_err(|e| format!("{config_url} is not checkoff's sign-in settings: {e}"))?;
    let provider = config.provider.ok_or_else(|| {
        format!(
            "{base} signs nobody in through an identity provider (its /auth/config names \
                 none; a server started with --oidc-issuer names one once it has read the \
                 issuer's discovery document: if it could not, its log says why)"
        )
    })?;

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .map_err(|e| {
            format!(
                "cannot listen on localhost:{}: {e} (choose another port with --port; \
                 http://localhost:PORT/callback must be a callback URL of the client)",
                args.port
            )
        })?;
    let redirect_uri = format!("http://localhost:{}/callback", args.port);
    let verifier = random_text(48)?;
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let state = random_text(16)?;
    let authorize = reqwest::Url::parse_with_params(
        &provider.authorization_endpoint,
        [
            ("response_type", "code"),
            ("client_id", provider.client_id.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("scope", provider.scope.as_str()),
            ("state", state.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .map_err(|e| format!("the provider's authorization endpoint is no URL: {e}"))?;
    eprintln!(
        "Open this address in a browser to sign in with {}:\n\n  {authorize}\n\nWaiting up to {} for the browser to come back to {redirect_uri} … \
         (if the provider says that address is not allowed, add it to the client's callback URLs, \
         or choose a listed port with --port)",
        provider.name,
        humantime::format_duration(args.wait)
    );

    let params = wait_for_callback(listener, args.wait).await?;
    if params.get("state") != Some(&state) {
        return Err(Failure(
            "the sign-in came back without this login's state; nothing was signed in (try again)"
                .into(),
        ));
    }
    if let Some(error) = params.get("error") {
        let why = params
            .get("error_description")
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        return Err(Failure(format!(
            "{} did not sign you in ({error}{why})",
            provider.name
        )));
    }
    let code = params
        .get("code")
        .ok_or("the sign-in came back without a code")?;
    let answer = http
        .post(&provider.token_endpoint)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &redirect_uri),
            ("client_id", &provider.client_id),
            ("code_verifier", &verifier),
        ]))
        .send()
        .await
        .map_err(|e| format!("cannot reach {}: {e}", provider.token_endpoint))?;
    if !answer.status().is_success() {
        let status = answer.status();
        let refused: TokenError = answer.json().await.unwrap_or_default();
        return Err(Failure(format!(
            "{} refused the code ({status}{}{})",
            provider.name,
            refused.error.map(|e| format!(", {e}")).unwrap_or_default(),
            refused
                .error_description
                .map(|d| format!(": {d}"))
                .unwrap_or_default(),
        )));
    }
    let tokens: Tokens = answer
        .json()
        .await
        .map_err(|e| format!("{} answered no tokens: {e}", provider.token_endpoint))?;
    println!("{}", tokens.access_token);
    let lifetime = tokens
        .expires_in
        .map(|s| {
            format!(
                " for {}",
                humantime::format_duration(Duration::from_secs(s))
            )
        })
        .unwrap_or_default();
    eprintln!(
        "Signed in. The access token above is valid{lifetime}: send it as `Authorization: Bearer <token>`."
    );
    Ok(())
}

/// The query of the one request the provider sends the browser back with.
async fn wait_for_callback(
    listener: tokio::net::TcpListener,
    wait: Duration,
) -> Result<HashMap<String, String>, Failure> {
    let (sender, receiver) = oneshot::channel();
    let sender = Arc::new(Mutex::new(Some(sender)));
    let app = Router::new().route(
        "/callback",
        get(move |Query(params): Query<HashMap<String, String>>| {
            let sender = Arc::clone(&sender);
            async move {
                let ok = !params.contains_key("error");
                if let Some(sender) = sender.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    let _ = sender.send(params);
                }
                Html(if ok {
                    "<!doctype html><title>checkoff</title><p>Signed in: the token is in your terminal. You can close this tab.</p>"
                } else {
                    "<!doctype html><title>checkoff</title><p>The sign-in did not succeed: your terminal says why.</p>"
                })
            }
        }),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let outcome = tokio::time::timeout(wait, receiver).await;
    let _ = stop.send(());
    // The browser's page is answered before the server stops; a stuck connection does not
    // hold the token back for long.
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    match outcome {
        Ok(Ok(params)) => Ok(params),
        _ => Err(Failure(format!(
            "no sign-in came back within {}",
            humantime::format_duration(wait)
        ))),
    }
}
