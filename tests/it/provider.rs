//! The test OIDC provider (tests/support/oidc_provider.rs) on its own: the authorization-code
//! flow with PKCE as a browser and a public client go through it, the refusals that keep codes
//! and refresh tokens to the client and browser they were issued to, and checkoff accepting the
//! tokens it issues.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use checkoff::config::OidcSettings;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE,
};
use reqwest::redirect::Policy;
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode, Url};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{TestApp, status_json};
use crate::oidc_provider::{Provider, ProviderConfig, SESSION_COOKIE, b64, now};

const CLIENT_ID: &str = "checkoff-web";
const WEB_CALLBACK: &str = "http://localhost:8080/callback";
/// Registered without a port, as a CLI's loopback redirect is.
const CLI_CALLBACK: &str = "http://127.0.0.1/callback";
/// A state with characters that HTML and URLs both have to escape.
const STATE: &str = "s<1>&\"2\" 3";
const FORM: &str = "application/x-www-form-urlencoded";

async fn provider() -> Provider {
    Provider::start(ProviderConfig {
        client_id: CLIENT_ID.into(),
        redirect_uris: vec![WEB_CALLBACK.into(), CLI_CALLBACK.into()],
        access_ttl: Duration::from_secs(300),
        port: 0,
    })
    .await
}

/// A PKCE pair as a client makes it: a random verifier and its S256 challenge.
struct Pkce {
    verifier: String,
    challenge: String,
}

impl Pkce {
    fn new() -> Self {
        let mut bytes = [0; 32];
        getrandom::fill(&mut bytes).unwrap();
        let verifier = b64(bytes);
        let challenge = b64(Sha256::digest(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

type Params<'a> = Vec<(&'a str, &'a str)>;

/// The client's authorization request.
fn request<'a>(redirect_uri: &'a str, pkce: &'a Pkce) -> Params<'a> {
    vec![
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("redirect_uri", redirect_uri),
        ("state", STATE),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
        ("scope", "openid email"),
    ]
}

fn with<'a>(mut params: Params<'a>, name: &'a str, value: &'a str) -> Params<'a> {
    params.retain(|(n, _)| *n != name);
    params.push((name, value));
    params
}

fn without<'a>(mut params: Params<'a>, name: &str) -> Params<'a> {
    params.retain(|(n, _)| *n != name);
    params
}

/// A browser without JavaScript: it keeps the provider's session cookie and follows no
/// redirect, so that each answer can be looked at.
struct Browser {
    http: Client,
    issuer: String,
    cookie: Option<String>,
}

impl Browser {
    fn new(provider: &Provider) -> Self {
        Self {
            http: Client::builder().redirect(Policy::none()).build().unwrap(),
            issuer: provider.issuer.clone(),
            cookie: None,
        }
    }

    fn with_cookie(&self, request: RequestBuilder) -> RequestBuilder {
        match &self.cookie {
            Some(cookie) => request.header(COOKIE, format!("{SESSION_COOKIE}={cookie}")),
            None => request,
        }
    }

    async fn get(&mut self, path: &str, params: &[(&str, &str)]) -> Response {
        let url = Url::parse_with_params(&format!("{}{path}", self.issuer), params).unwrap();
        let response = self.with_cookie(self.http.get(url)).send().await.unwrap();
        self.keep_cookie(&response);
        response
    }

    async fn authorize(&mut self, params: &[(&str, &str)]) -> Response {
        self.get("/authorize", params).await
    }

    /// The sign-in form sent with `username`.
    async fn sign_in(&mut self, params: &[(&str, &str)], username: &str) -> Response {
        let mut form = params.to_vec();
        form.push(("username", username));
        let request = self
            .http
            .post(format!("{}/authorize", self.issuer))
            .header(CONTENT_TYPE, FORM)
            .body(serde_urlencoded::to_string(form).unwrap());
        let response = self.with_cookie(request).send().await.unwrap();
        self.keep_cookie(&response);
        response
    }

    fn keep_cookie(&mut self, response: &Response) {
        for header in response.headers().get_all(SET_COOKIE) {
            let header = header.to_str().unwrap();
            if let Some(rest) = header.strip_prefix(&format!("{SESSION_COOKIE}=")) {
                let value = rest.split(';').next().unwrap();
                self.cookie = (!value.is_empty()).then(|| value.to_owned());
            }
        }
    }
}

/// Where a 302 sends the browser: the URI without its query, and the query's parameters.
fn redirected(response: &Response) -> (String, HashMap<String, String>) {
    assert_eq!(response.status(), StatusCode::FOUND, "{response:?}");
    let mut url = Url::parse(response.headers()[LOCATION].to_str().unwrap()).unwrap();
    let params = url.query_pairs().into_owned().collect();
    url.set_query(None);
    (url.to_string(), params)
}

/// A browser signed in as `username` and the code its sign-in sent to the web app.
async fn signed_in(provider: &Provider, username: &str, pkce: &Pkce) -> (Browser, String) {
    let mut browser = Browser::new(provider);
    let response = browser
        .sign_in(&request(WEB_CALLBACK, pkce), username)
        .await;
    let (_, params) = redirected(&response);
    (browser, params["code"].clone())
}

async fn token_call(provider: &Provider, form: &[(&str, &str)]) -> Response {
    token_call_at(provider, "/token", form).await
}

async fn token_call_at(provider: &Provider, path: &str, form: &[(&str, &str)]) -> Response {
    Client::new()
        .post(format!("{}{path}", provider.issuer))
        .header(CONTENT_TYPE, FORM)
        .body(serde_urlencoded::to_string(form).unwrap())
        .send()
        .await
        .unwrap()
}

async fn exchange(
    provider: &Provider,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> (StatusCode, Value) {
    let form = with(code_grant(code, verifier), "redirect_uri", redirect_uri);
    status_json(token_call(provider, &form).await).await
}

fn code_grant<'a>(code: &'a str, verifier: &'a str) -> Params<'a> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", WEB_CALLBACK),
        ("client_id", CLIENT_ID),
        ("code_verifier", verifier),
    ]
}

async fn refresh(provider: &Provider, refresh_token: &str) -> (StatusCode, Value) {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", CLIENT_ID),
    ];
    status_json(token_call(provider, &form).await).await
}

/// Tokens for `username` through the whole flow.
async fn tokens(provider: &Provider, username: &str) -> (Browser, Value) {
    let pkce = Pkce::new();
    let (browser, code) = signed_in(provider, username, &pkce).await;
    let (status, tokens) = exchange(provider, &code, WEB_CALLBACK, &pkce.verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    (browser, tokens)
}

fn assert_oauth_error(answer: &(StatusCode, Value), error: &str, why: &str) {
    assert_eq!(answer.0, StatusCode::BAD_REQUEST, "{why}: {}", answer.1);
    assert_eq!(answer.1["error"], error, "{why}: {}", answer.1);
    assert!(
        answer.1["error_description"].as_str().is_some(),
        "{why}: {}",
        answer.1
    );
}

/// The claims of a token that verifies against the provider's JWKS, for its issuer (and
/// audience, for an ID token).
async fn verified(provider: &Provider, jwt: &str, audience: Option<&str>) -> Value {
    let jwks: Value = reqwest::get(format!("{}/jwks", provider.issuer))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let [key] = jwks["keys"].as_array().unwrap().as_slice() else {
        panic!("one key: {jwks}");
    };
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.kid.as_deref(), Some("provider-1"));
    assert_eq!(key["kid"], "provider-1");
    let decoding =
        DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap())
            .unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[&provider.issuer]);
    match audience {
        Some(audience) => validation.set_audience(&[audience]),
        None => validation.validate_aud = false,
    }
    jsonwebtoken::decode::<Value>(jwt, &decoding, &validation)
        .unwrap()
        .claims
}

async fn stats(provider: &Provider) -> Value {
    reqwest::get(format!("{}/stats", provider.issuer))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_discovery_document_names_every_endpoint_and_what_they_support() {
    let provider = provider().await;
    let issuer = &provider.issuer;
    assert!(issuer.starts_with("http://127.0.0.1:"), "{issuer}");

    let response = reqwest::get(format!("{issuer}/.well-known/openid-configuration"))
        .await
        .unwrap();
    assert_eq!(response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    let document: Value = response.json().await.unwrap();

    assert_eq!(
        document,
        json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/jwks"),
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "end_session_endpoint": format!("{issuer}/logout"),
            "revocation_endpoint": format!("{issuer}/revoke"),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "email", "profile"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["none"],
        })
    );
}

#[tokio::test]
async fn a_user_signs_in_with_a_code_and_pkce_refreshes_and_comes_back_without_the_form() {
    let provider = provider().await;
    let mut browser = Browser::new(&provider);
    let pkce = Pkce::new();
    let params = request(WEB_CALLBACK, &pkce);

    let page = browser.authorize(&params).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    let html = page.text().await.unwrap();
    for part in [
        "<title>Test provider — sign in</title>",
        "no password",
        r#"<form method="post" action="/authorize">"#,
        r#"<label for="username">Username</label>"#,
        r#"<input id="username" name="username" autocomplete="username" required"#,
        r#"<button type="submit">Sign in</button>"#,
        r#"<input type="hidden" name="state" value="s&lt;1&gt;&amp;&quot;2&quot; 3">"#,
        &format!(r#"<input type="hidden" name="redirect_uri" value="{WEB_CALLBACK}">"#),
        &format!(
            r#"<input type="hidden" name="code_challenge" value="{}">"#,
            pkce.challenge
        ),
    ] {
        assert!(html.contains(part), "{part} missing from {html}");
    }
    assert!(!html.contains("s<1>"), "the state is escaped: {html}");

    let response = browser.sign_in(&params, "  alice ").await;
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    let (to, query) = redirected(&response);
    assert_eq!(to, WEB_CALLBACK);
    assert_eq!(query.len(), 2, "{query:?}");
    assert_eq!(query["state"], STATE);
    let cookie_parts: Vec<&str> = cookie.split("; ").collect();
    assert!(cookie_parts[0].starts_with("op_session=") && cookie_parts[0].len() > 40);
    assert_eq!(cookie_parts[1..], ["HttpOnly", "SameSite=Lax", "Path=/"]);

    let answer = token_call(
        &provider,
        &[
            ("grant_type", "authorization_code"),
            ("code", &query["code"]),
            ("redirect_uri", WEB_CALLBACK),
            ("client_id", CLIENT_ID),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert_eq!(answer.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert_eq!(answer.headers()[CACHE_CONTROL], "no-store");
    let (status, tokens) = status_json(answer).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let mut fields: Vec<&String> = tokens.as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "access_token",
            "expires_in",
            "id_token",
            "refresh_token",
            "scope",
            "token_type"
        ]
    );
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 300);
    assert_eq!(tokens["scope"], "openid email");

    let access = verified(&provider, tokens["access_token"].as_str().unwrap(), None).await;
    let iat = access["iat"].as_u64().unwrap();
    assert!(iat.abs_diff(now()) <= 5, "{access}");
    assert_eq!(access["exp"].as_u64().unwrap(), iat + 300);
    assert!(access["jti"].as_str().is_some_and(|jti| jti.len() >= 32));
    assert!(access.get("aud").is_none(), "Cognito's have none: {access}");
    for (claim, value) in [
        ("iss", json!(provider.issuer)),
        ("sub", json!("alice")),
        ("client_id", json!(CLIENT_ID)),
        ("token_use", json!("access")),
        ("scope", json!("openid email")),
        ("username", json!("alice")),
    ] {
        assert_eq!(access[claim], value, "{claim} of {access}");
    }
    let id = verified(
        &provider,
        tokens["id_token"].as_str().unwrap(),
        Some(CLIENT_ID),
    )
    .await;
    for (claim, value) in [
        ("iss", json!(provider.issuer)),
        ("sub", json!("alice")),
        ("aud", json!(CLIENT_ID)),
        ("token_use", json!("id")),
        ("email", json!("alice@example.test")),
    ] {
        assert_eq!(id[claim], value, "{claim} of {id}");
    }

    let (status, renewed) = refresh(&provider, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    assert!(renewed.get("refresh_token").is_none(), "kept: {renewed}");
    assert_ne!(renewed["access_token"], tokens["access_token"]);
    let access = verified(&provider, renewed["access_token"].as_str().unwrap(), None).await;
    assert_eq!(
        (&access["sub"], &access["token_use"]),
        (&json!("alice"), &json!("access"))
    );
    assert_eq!(provider.refreshes(), 1);

    // Signed in at the provider: the next authorization answers at once.
    let again = Pkce::new();
    let response = browser.authorize(&request(WEB_CALLBACK, &again)).await;
    let (to, query) = redirected(&response);
    assert_eq!(
        (to.as_str(), query["state"].as_str()),
        (WEB_CALLBACK, STATE)
    );
    let (status, tokens) = exchange(&provider, &query["code"], WEB_CALLBACK, &again.verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = verified(&provider, tokens["access_token"].as_str().unwrap(), None).await;
    assert_eq!(access["sub"], "alice");
    assert_eq!(
        stats(&provider).await,
        json!({ "refreshes": 1, "logouts": 0, "revocations": 0, "codes": 2 })
    );
}

#[tokio::test]
async fn checkoff_accepts_the_providers_tokens_as_its_oidc_user() {
    let provider = provider().await;
    let app = TestApp::spawn_oidc(OidcSettings {
        issuer: provider.issuer.clone(),
        audience: CLIENT_ID.into(),
        claim: "sub".into(),
        jwks_url: None,
        refetch_interval: Duration::ZERO,
    })
    .await;
    let (_, tokens) = tokens(&provider, "dora").await;

    for (token, usage) in [("access_token", "access"), ("id_token", "id")] {
        let response = app
            .authed(Method::GET, "/whoami", tokens[token].as_str().unwrap())
            .send()
            .await
            .unwrap();
        let (status, me) = status_json(response).await;
        assert_eq!(status, StatusCode::OK, "{token}: {me}");
        assert_eq!(me["owner"], "oidc:dora", "{token}");
        assert_eq!(me["authorizer"], "oidc", "{token}");
        assert_eq!(me["context"]["token_use"], usage, "{token}");
    }
}

#[tokio::test]
async fn a_wrong_verifier_is_refused_and_spends_the_code() {
    let provider = provider().await;
    let pkce = Pkce::new();
    let (_, code) = signed_in(&provider, "eve", &pkce).await;

    let answer = exchange(&provider, &code, WEB_CALLBACK, &Pkce::new().verifier).await;
    assert_oauth_error(&answer, "invalid_grant", "another verifier");
    assert_eq!(
        answer.1["error_description"],
        "code_verifier does not match the code_challenge"
    );
    let answer = exchange(&provider, &code, WEB_CALLBACK, &pkce.verifier).await;
    assert_oauth_error(&answer, "invalid_grant", "the right verifier, too late");
    assert_eq!(answer.1["error_description"], "the code was already used");
}

#[tokio::test]
async fn a_code_is_good_for_one_exchange_only() {
    let provider = provider().await;
    let pkce = Pkce::new();
    let (_, code) = signed_in(&provider, "fred", &pkce).await;

    let (status, tokens) = exchange(&provider, &code, WEB_CALLBACK, &pkce.verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let answer = exchange(&provider, &code, WEB_CALLBACK, &pkce.verifier).await;
    assert_oauth_error(&answer, "invalid_grant", "the same code again");
    assert_eq!(answer.1["error_description"], "the code was already used");
}

#[tokio::test]
async fn an_unknown_client_or_unregistered_redirect_uri_gets_an_error_page_never_a_redirect() {
    let provider = provider().await;
    let pkce = Pkce::new();
    // Signed in, so that only the checks stand between the request and a code.
    let (mut browser, _) = signed_in(&provider, "gail", &pkce).await;
    let good = request(WEB_CALLBACK, &pkce);
    let cases = [
        (
            with(good.clone(), "client_id", "someone-else"),
            "is not a client",
        ),
        (without(good.clone(), "client_id"), "is not a client"),
        (
            with(
                good.clone(),
                "redirect_uri",
                "https://evil.example/callback",
            ),
            "is not registered",
        ),
        (
            with(
                good.clone(),
                "redirect_uri",
                "http://localhost:8080/callback/x",
            ),
            "is not registered",
        ),
        (
            with(
                good.clone(),
                "redirect_uri",
                "http://localhost:9090/callback",
            ),
            "is not registered",
        ),
        (
            with(good.clone(), "redirect_uri", "http://127.0.0.1:5000/other"),
            "is not registered",
        ),
        (without(good.clone(), "redirect_uri"), "is not registered"),
        // Even when the rest of the request is wrong too.
        (
            without(
                with(good.clone(), "redirect_uri", "https://evil.example/"),
                "code_challenge",
            ),
            "is not registered",
        ),
    ];

    for (params, says) in cases {
        for response in [
            browser.authorize(&params).await,
            browser.sign_in(&params, "gail").await,
        ] {
            let why = format!("{params:?} ({})", response.url().path());
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{why}");
            assert!(response.headers().get(LOCATION).is_none(), "{why}");
            assert!(response.headers().get(SET_COOKIE).is_none(), "{why}");
            let html = response.text().await.unwrap();
            assert!(html.contains(says), "{why}: {html}");
        }
    }
    assert_eq!(stats(&provider).await["codes"], 1, "the sign-in's only");
}

#[tokio::test]
async fn a_request_without_pkce_or_for_another_response_type_goes_back_with_invalid_request() {
    let provider = provider().await;
    let pkce = Pkce::new();
    let (mut browser, _) = signed_in(&provider, "hank", &pkce).await;
    let good = request(WEB_CALLBACK, &pkce);

    for params in [
        without(good.clone(), "code_challenge"),
        with(good.clone(), "code_challenge", ""),
        without(good.clone(), "code_challenge_method"),
        with(good.clone(), "code_challenge_method", "plain"),
        without(good.clone(), "response_type"),
        with(good.clone(), "response_type", "token"),
    ] {
        for response in [
            browser.authorize(&params).await,
            browser.sign_in(&params, "hank").await,
        ] {
            let why = format!("{params:?} ({})", response.url().path());
            let (to, query) = redirected(&response);
            assert_eq!(to, WEB_CALLBACK, "{why}");
            assert_eq!(query["error"], "invalid_request", "{why}");
            assert_eq!(query["state"], STATE, "{why}");
            assert!(!query["error_description"].is_empty(), "{why}");
            assert!(!query.contains_key("code"), "{why}");
        }
    }
    assert_eq!(stats(&provider).await["codes"], 1, "the sign-in's only");
}

#[tokio::test]
async fn a_cli_may_use_any_port_of_its_loopback_callback() {
    let provider = provider().await;
    let pkce = Pkce::new();
    let callback = "http://127.0.0.1:49152/callback";
    let mut browser = Browser::new(&provider);

    let page = browser.authorize(&request(callback, &pkce)).await;
    assert_eq!(page.status(), StatusCode::OK);
    let response = browser.sign_in(&request(callback, &pkce), "ivan").await;
    let (to, query) = redirected(&response);
    assert_eq!(to, callback);
    let (status, tokens) = exchange(&provider, &query["code"], callback, &pkce.verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");

    for other in [
        "http://127.0.0.1:49152/callback2",
        "http://127.0.0.1:0/callback",
        "http://127.0.0.1:99999/callback",
        "http://127.0.0.1:/callback",
        "http://localhost:49152/callback",
    ] {
        let response = browser.authorize(&request(other, &pkce)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{other}");
        assert!(response.headers().get(LOCATION).is_none(), "{other}");
    }
}

#[tokio::test]
async fn the_token_endpoint_wants_the_redirect_uri_and_client_of_the_authorization() {
    let provider = provider().await;
    let pkce = Pkce::new();
    let (_, code) = signed_in(&provider, "jane", &pkce).await;
    let answer = exchange(&provider, &code, CLI_CALLBACK, &pkce.verifier).await;
    assert_oauth_error(&answer, "invalid_grant", "another redirect_uri");
    assert_eq!(
        answer.1["error_description"],
        "redirect_uri is not the one of the authorization request"
    );

    let (_, code) = signed_in(&provider, "jane", &pkce).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", WEB_CALLBACK),
        ("client_id", "another-client"),
        ("code_verifier", &pkce.verifier),
    ];
    let answer = status_json(token_call(&provider, &form).await).await;
    assert_oauth_error(&answer, "invalid_grant", "another client");
    assert_eq!(
        answer.1["error_description"],
        "the code was issued to another client"
    );
}

#[tokio::test]
async fn malformed_token_requests_get_their_oauth_error() {
    let provider = provider().await;
    let pkce = Pkce::new();
    let short = &pkce.verifier[..42];
    let bad_chars = format!("{}+/", &pkce.verifier[..41]);
    let long = "a".repeat(129);
    for verifier in [short, &bad_chars, &long] {
        // A fresh code each time: the first presentation spends it.
        let (_, code) = signed_in(&provider, "kate", &pkce).await;
        let answer = exchange(&provider, &code, WEB_CALLBACK, verifier).await;
        assert_oauth_error(&answer, "invalid_request", verifier);
        assert_eq!(
            answer.1["error_description"],
            "code_verifier must be 43 to 128 unreserved characters"
        );
    }

    let code = "made-up";
    for (form, error, why) in [
        (
            code_grant(code, &pkce.verifier),
            "invalid_grant",
            "an unknown code",
        ),
        (
            without(code_grant(code, &pkce.verifier), "code"),
            "invalid_request",
            "no code",
        ),
        (
            vec![("grant_type", "password"), ("username", "kate")],
            "unsupported_grant_type",
            "password",
        ),
        (
            vec![("grant_type", "client_credentials")],
            "unsupported_grant_type",
            "client credentials",
        ),
        (
            vec![("client_id", CLIENT_ID)],
            "invalid_request",
            "no grant",
        ),
        (
            vec![("grant_type", "refresh_token"), ("client_id", CLIENT_ID)],
            "invalid_request",
            "no refresh token",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", "made-up"),
                ("client_id", CLIENT_ID),
            ],
            "invalid_grant",
            "an unknown refresh token",
        ),
    ] {
        let response = token_call(&provider, &form).await;
        assert_eq!(
            response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN],
            "*",
            "{why}"
        );
        assert_eq!(response.headers()[CACHE_CONTROL], "no-store", "{why}");
        assert_oauth_error(&status_json(response).await, error, why);
    }

    let as_json = Client::new()
        .post(format!("{}/token", provider.issuer))
        .json(&json!({ "grant_type": "refresh_token", "refresh_token": "x" }))
        .send()
        .await
        .unwrap();
    assert_oauth_error(&status_json(as_json).await, "invalid_request", "JSON");
}

#[tokio::test]
async fn the_token_endpoint_answers_a_browsers_preflight() {
    let provider = provider().await;

    let response = Client::new()
        .request(Method::OPTIONS, format!("{}/token", provider.issuer))
        .header("origin", "http://localhost:8080")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert_eq!(response.headers()[ACCESS_CONTROL_ALLOW_METHODS], "POST");
    assert_eq!(
        response.headers()[ACCESS_CONTROL_ALLOW_HEADERS],
        "content-type"
    );
}

#[tokio::test]
async fn after_logout_the_users_refresh_tokens_are_refused_and_the_form_comes_back() {
    let provider = provider().await;
    let (mut browser, mine) = tokens(&provider, "lena").await;
    let (_, theirs) = tokens(&provider, "mike").await;
    let session = browser.cookie.clone().unwrap();

    let response = browser
        .get(
            "/logout",
            &[
                ("client_id", CLIENT_ID),
                ("post_logout_redirect_uri", WEB_CALLBACK),
            ],
        )
        .await;

    assert_eq!(response.headers()[LOCATION], WEB_CALLBACK);
    assert_eq!(
        response.headers()[SET_COOKIE],
        "op_session=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0"
    );
    assert_eq!(browser.cookie, None);
    assert_eq!(provider.logouts(), 1);
    let answer = refresh(&provider, mine["refresh_token"].as_str().unwrap()).await;
    assert_oauth_error(&answer, "invalid_grant", "a refresh token after logout");
    let (status, _) = refresh(&provider, theirs["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "another user's stays good");
    assert_eq!(provider.refreshes(), 1);
    // The old cookie, kept by someone, names no session any more.
    browser.cookie = Some(session);
    let page = browser
        .authorize(&request(WEB_CALLBACK, &Pkce::new()))
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("<form"));
}

async fn revoke(provider: &Provider, token: &str, client: &str) -> Response {
    token_call_at(
        provider,
        "/revoke",
        &[("token", token), ("client_id", client)],
    )
    .await
}

#[tokio::test]
async fn a_revoked_refresh_token_renews_nothing_and_revoking_tells_nothing() {
    let provider = provider().await;
    let (_, mine) = tokens(&provider, "nils").await;
    let (_, theirs) = tokens(&provider, "olga").await;
    let token = mine["refresh_token"].as_str().unwrap();
    // Another client cannot revoke it; an unknown token gets the same answer as a real one.
    assert_eq!(
        revoke(&provider, token, "someone-else").await.status(),
        StatusCode::OK
    );
    assert_eq!(refresh(&provider, token).await.0, StatusCode::OK);
    assert_eq!(
        revoke(&provider, "made-up", CLIENT_ID).await.status(),
        StatusCode::OK
    );
    let answer = revoke(&provider, token, CLIENT_ID).await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert_oauth_error(
        &refresh(&provider, token).await,
        "invalid_grant",
        "a revoked refresh token",
    );
    let (status, _) = refresh(&provider, theirs["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "another user's stays good");
    assert_eq!(stats(&provider).await["revocations"], 1);
}

#[tokio::test]
async fn logout_redirects_only_to_the_clients_registered_uris() {
    let provider = provider().await;
    let mut browser = Browser::new(&provider);
    let evil = "https://evil.example/";

    for (params, goes_to) in [
        (
            vec![("client_id", CLIENT_ID), ("logout_uri", WEB_CALLBACK)],
            Some(WEB_CALLBACK.to_owned()),
        ),
        (
            vec![
                ("post_logout_redirect_uri", "http://127.0.0.1:3000/callback"),
                ("state", "a b"),
            ],
            Some("http://127.0.0.1:3000/callback?state=a+b".to_owned()),
        ),
        (
            vec![("client_id", CLIENT_ID), ("post_logout_redirect_uri", evil)],
            None,
        ),
        (vec![("client_id", CLIENT_ID), ("logout_uri", evil)], None),
        (
            vec![("client_id", "another"), ("logout_uri", WEB_CALLBACK)],
            None,
        ),
        (vec![("client_id", CLIENT_ID)], None),
    ] {
        let response = browser.get("/logout", &params).await;
        let location = response
            .headers()
            .get(LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        assert_eq!(location, goes_to, "{params:?}");
        if goes_to.is_none() {
            assert_eq!(response.status(), StatusCode::OK, "{params:?}");
            let html = response.text().await.unwrap();
            assert!(
                html.contains("You are signed out of the test provider."),
                "{html}"
            );
        }
    }
    assert_eq!(provider.logouts(), 6);
}

#[tokio::test]
async fn an_invalid_username_shows_the_form_again_with_an_error_and_signs_nobody_in() {
    let provider = provider().await;
    let mut browser = Browser::new(&provider);
    let pkce = Pkce::new();
    let too_long = "a".repeat(65);

    for username in ["", "   ", "two words", "<b>x</b>", too_long.as_str(), "é"] {
        let response = browser
            .sign_in(&request(WEB_CALLBACK, &pkce), username)
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{username:?}");
        assert!(response.headers().get(LOCATION).is_none(), "{username:?}");
        assert!(response.headers().get(SET_COOKIE).is_none(), "{username:?}");
        let html = response.text().await.unwrap();
        assert!(html.contains(r#"<p id="error" role="alert">"#), "{html}");
        assert!(html.contains(r#"<input id="username""#), "{html}");
        assert!(!html.contains("<b>"), "escaped: {html}");
    }
    let longest = "a".repeat(64);
    let response = browser
        .sign_in(&request(WEB_CALLBACK, &pkce), &longest)
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(stats(&provider).await["codes"], 1);
}

/// The claims of a JWT, unverified: only to look at an ID token's nonce.
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn the_id_token_carries_the_requests_nonce() {
    let provider = provider().await;
    let pkce = Pkce::new();
    let mut browser = Browser::new(&provider);
    let params = with(request(WEB_CALLBACK, &pkce), "nonce", "n-0S6_WzA2Mj");
    let (_, query) = redirected(&browser.sign_in(&params, "nora").await);

    let (status, tokens) = exchange(&provider, &query["code"], WEB_CALLBACK, &pkce.verifier).await;

    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(
        claims(tokens["id_token"].as_str().unwrap())["nonce"],
        "n-0S6_WzA2Mj"
    );
    let (_, renewed) = refresh(&provider, tokens["refresh_token"].as_str().unwrap()).await;
    assert!(
        claims(renewed["id_token"].as_str().unwrap())
            .get("nonce")
            .is_none()
    );
}
