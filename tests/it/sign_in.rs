//! Signing in through an identity provider: what `GET /auth/config` tells clients, the page's
//! policy letting the web app reach the provider's token endpoint, and `checkoff login --oidc`
//! following the authorization-code flow with PKCE against the test provider.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use checkoff::config::OidcSettings;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::cli::{Running, bare_command, free_port};
use crate::helpers::{TestApp, status_json};
use crate::oidc_provider::{Provider, ProviderConfig};

const CLIENT: &str = "checkoff-cli";

async fn provider(redirects: &[String]) -> Provider {
    Provider::start(ProviderConfig {
        client_id: CLIENT.into(),
        redirect_uris: redirects.to_vec(),
        access_ttl: Duration::from_secs(300),
        port: 0,
    })
    .await
}

async fn app_for(provider: &Provider) -> TestApp {
    TestApp::spawn_oidc(OidcSettings {
        issuer: provider.issuer.clone(),
        audience: CLIENT.into(),
        claim: "sub".into(),
        jwks_url: None,
        refetch_interval: Duration::ZERO,
    })
    .await
}

async fn config(app: &TestApp) -> Value {
    let response = app
        .client
        .get(format!("{}/auth/config", app.base))
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn page_policy(app: &TestApp) -> String {
    let page = app
        .client
        .get(format!("{}/", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_service_without_a_provider_offers_passwords_only_and_calls_nowhere_else() {
    let app = TestApp::spawn().await;
    let config = config(&app).await;
    assert_eq!(config["password"], true);
    assert_eq!(config["provider"], Value::Null);
    assert!(page_policy(&app).await.contains("connect-src 'self';"));
}

#[tokio::test]
async fn an_issuers_sign_in_endpoints_are_offered_from_its_discovery_document() {
    let provider = provider(&[]).await;
    let app = app_for(&provider).await;
    let config = config(&app).await;
    let issuer = &provider.issuer;
    assert_eq!(config["password"], true, "both kinds of login at once");
    assert_eq!(
        config["provider"],
        json!({
            "name": "127.0.0.1",
            "issuer": issuer,
            "client_id": CLIENT,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "end_session_endpoint": format!("{issuer}/logout"),
            "revocation_endpoint": format!("{issuer}/revoke"),
            "logout_redirect_param": "post_logout_redirect_uri",
            "scope": "openid email profile",
        })
    );
    let policy = page_policy(&app).await;
    assert!(
        policy.contains(&format!("connect-src 'self' {issuer};")),
        "{policy}"
    );
}

/// `checkoff login --oidc` for `app`, its standard error read line by line.
fn start_login(app: &TestApp, port: u16) -> (Running, mpsc::Receiver<String>) {
    let mut command = bare_command();
    command
        .args(["login", "--oidc", "--url", &app.base, "--wait", "30s"])
        .args(["--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start checkoff login");
    let stderr = child.stderr.take().unwrap();
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    (Running(child), received)
}

/// The address the CLI asks the person to open.
fn authorize_url(lines: &mpsc::Receiver<String>) -> reqwest::Url {
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("the CLI to print where to sign in");
        if let Some(url) = line.trim().strip_prefix("http") {
            return reqwest::Url::parse(&format!("http{url}")).unwrap();
        }
    }
}

/// What the person does in the browser: the provider's page, their name, Sign in; then the
/// browser follows the provider back to where it sends it.
async fn sign_in_at(authorize: &reqwest::Url, username: &str) -> reqwest::Response {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = browser.get(authorize.clone()).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("id=\"username\""));
    let mut fields: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    fields.push(("username".into(), username.into()));
    let mut form = reqwest::Url::parse("http://form.invalid/").unwrap();
    form.query_pairs_mut().extend_pairs(&fields);
    let back = browser
        .post(format!(
            "{}://{}{}",
            authorize.scheme(),
            authorize.authority(),
            authorize.path()
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.query().unwrap().to_owned())
        .send()
        .await
        .unwrap();
    assert!(back.status().is_redirection(), "{}", back.status());
    let location = back.headers()["location"].to_str().unwrap().to_owned();
    browser.get(location).send().await.unwrap()
}

async fn finished(running: Running) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let mut running = running;
        let stdout = running.0.stdout.take();
        let status = running.0.wait().unwrap();
        let mut out = Vec::new();
        if let Some(mut stdout) = stdout {
            std::io::Read::read_to_end(&mut stdout, &mut out).unwrap();
        }
        std::process::Output {
            status,
            stdout: out,
            stderr: Vec::new(),
        }
    })
    .await
    .unwrap()
}

// The CLI calls the service this test serves, while the test waits on the CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_signs_in_through_the_provider_and_prints_a_token_the_service_takes() {
    let port = free_port();
    let redirect = format!("http://localhost:{port}/callback");
    let provider = provider(std::slice::from_ref(&redirect)).await;
    let app = app_for(&provider).await;
    let (login, lines) = start_login(&app, port);
    let authorize = authorize_url(&lines);
    let query: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], CLIENT);
    assert_eq!(query["redirect_uri"], redirect);
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["response_type"], "code");

    let landed = sign_in_at(&authorize, "rosa").await;
    assert_eq!(landed.status(), StatusCode::OK);
    assert!(landed.text().await.unwrap().contains("Signed in"));
    let output = finished(login).await;
    assert!(output.status.success(), "the CLI failed");
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert_eq!(
        token.matches('.').count(),
        2,
        "one JWT on stdout: {token:?}"
    );

    let (status, me) = status_json(
        app.authed(Method::GET, "/whoami", &token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["owner"], "oidc:rosa");
    assert_eq!(me["context"]["token_use"], "access");
    // Their export is a file any system can keep: no `:` in its name.
    let export = app
        .authed(Method::GET, "/users/oidc:rosa/export", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), StatusCode::OK);
    assert_eq!(
        export.headers()["content-disposition"],
        "attachment; filename=\"checkoff-oidc_rosa.json\""
    );
}

// The CLI calls the service this test serves, while the test waits on the CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_takes_no_code_that_comes_back_without_its_state() {
    let port = free_port();
    let redirect = format!("http://localhost:{port}/callback");
    let provider = provider(std::slice::from_ref(&redirect)).await;
    let app = app_for(&provider).await;
    let (login, lines) = start_login(&app, port);
    let _ = authorize_url(&lines);
    // Someone else's code, sent to the CLI's listener by a page the person happened to open.
    let forged = reqwest::get(format!(
        "http://127.0.0.1:{port}/callback?code=stolen&state=forged"
    ))
    .await
    .unwrap();
    assert_eq!(forged.status(), StatusCode::OK);
    let output = finished(login).await;
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "no token may be printed");
    // Every line, up to the end of its standard error: the CLI having exited does not mean
    // the thread reading it has passed its last line on.
    let said: Vec<String> =
        std::iter::from_fn(|| lines.recv_timeout(Duration::from_secs(10)).ok()).collect();
    assert!(
        said.iter()
            .any(|l| l.contains("without this login's state")),
        "{said:?}"
    );
}

/// What `checkoff login --oidc --url URL` said on standard error, having failed.
async fn refused_login(url: &str) -> String {
    let url = url.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        bare_command()
            .args(["login", "--oidc", "--url", &url])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "no token may be printed");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

// The CLI calls the service this test serves, while the test waits on the CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_says_so_when_the_service_has_no_provider() {
    let app = TestApp::spawn().await;
    let said = refused_login(&app.base).await;
    assert!(
        said.contains("signs nobody in through an identity provider"),
        "{said}"
    );
    // An address without its scheme, as people type it.
    let said = refused_login(app.base.trim_start_matches("http://")).await;
    assert!(said.contains("write it whole, e.g. http://"), "{said}");
}
