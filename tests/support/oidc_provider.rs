//! An OIDC provider on 127.0.0.1 for tests, shaped like Amazon Cognito's hosted UI: the
//! authorization-code flow with PKCE for one public client, refresh tokens, and logout. The web
//! app (in a browser), the CLI and the Rust tests sign in through it, so the flow runs end to end
//! without an AWS account. Shared through `#[path]` by the black-box tests and by
//! `examples/oidc_provider.rs`, which runs it as a process for the browser test.
//!
//! It signs in whoever types a username (there is no password) and keeps everything in memory.
//! Nothing expires by itself: codes are checked for age when they are presented.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
    RsaPublicKeyComponents,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Seconds since the epoch, as JWTs count time.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

/// A signing key of an issuer, with its `kid`.
pub struct TestKey {
    pub kid: String,
    signer: Signer,
}

impl TestKey {
    pub fn rsa(kid: &str) -> Self {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key");
        Self {
            kid: kid.into(),
            signer: Signer::Rsa(pair),
        }
    }

    // The provider signs with RSA only; the issuer tests use both.
    #[allow(dead_code)]
    pub fn ec(kid: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("EC key");
        Self {
            kid: kid.into(),
            signer: Signer::Ec(pair),
        }
    }

    fn alg(&self) -> &'static str {
        match self.signer {
            Signer::Rsa(_) => "RS256",
            Signer::Ec(_) => "ES256",
        }
    }

    /// The public key as an issuer's JWKS lists it.
    pub fn jwk(&self) -> Value {
        match &self.signer {
            Signer::Rsa(pair) => {
                let public = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                json!({ "kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
                        "n": b64(&public.n), "e": b64(&public.e) })
            }
            Signer::Ec(pair) => {
                // An uncompressed point: 0x04, then x and y of 32 bytes each.
                let point = pair.public_key().as_ref();
                json!({ "kty": "EC", "kid": self.kid, "use": "sig", "crv": "P-256",
                        "x": b64(&point[1..33]), "y": b64(&point[33..65]) })
            }
        }
    }

    /// A token of `claims` with the usual header: this key's algorithm and `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with(
            &json!({ "alg": self.alg(), "typ": "JWT", "kid": self.kid }),
            claims,
        )
    }

    /// A token with any header, signed with this key's own algorithm.
    pub fn sign_with(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let rng = SystemRandom::new();
        let signature = match &self.signer {
            Signer::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut signature)
                    .expect("RSA signature");
                signature
            }
            Signer::Ec(pair) => pair
                .sign(&rng, input.as_bytes())
                .expect("EC signature")
                .as_ref()
                .to_vec(),
        };
        format!("{input}.{}", b64(signature))
    }
}

/// The browser's session at the provider: what lets a second authorization skip the form.
pub const SESSION_COOKIE: &str = "op_session";
/// Long enough for a redirect and the exchange that follows; a leaked code is soon worthless.
const CODE_TTL: Duration = Duration::from_secs(60);
const KID: &str = "provider-1";

/// The one public client the provider knows, and where it runs.
pub struct ProviderConfig {
    pub client_id: String,
    pub redirect_uris: Vec<String>,
    pub access_ttl: Duration,
    /// 0 takes any free port.
    pub port: u16,
}

/// An OIDC provider on 127.0.0.1, stopped when dropped.
pub struct Provider {
    /// `iss` of its tokens and the base of its endpoints: `http://127.0.0.1:PORT`.
    pub issuer: String,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Provider {
    pub async fn start(config: ProviderConfig) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", config.port))
            .await
            .unwrap_or_else(|e| panic!("the provider cannot listen on port {}: {e}", config.port));
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            issuer: issuer.clone(),
            key: TestKey::rsa(KID),
            config,
            state: Mutex::default(),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize).post(sign_in))
            .route("/token", axum::routing::post(token).options(preflight))
            .route("/revoke", axum::routing::post(revoke).options(preflight))
            .route("/logout", get(logout))
            .route("/stats", get(stats))
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            issuer,
            shared,
            server,
        }
    }

    /// Refresh-token grants answered with new tokens.
    // The example serves these counters as /stats instead.
    #[allow(dead_code)]
    pub fn refreshes(&self) -> usize {
        self.shared.state().refreshes
    }

    /// Calls of the logout endpoint.
    #[allow(dead_code)]
    pub fn logouts(&self) -> usize {
        self.shared.state().logouts
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

struct Shared {
    issuer: String,
    config: ProviderConfig,
    key: TestKey,
    state: Mutex<Issued>,
}

/// Everything the provider has handed out.
#[derive(Default)]
struct Issued {
    /// Cookie value → who signed in.
    browsers: HashMap<String, SignIn>,
    codes: HashMap<String, Code>,
    /// Codes once presented, so that a second presentation says so.
    spent: HashSet<String>,
    /// Refresh token → what it renews; revoked tokens are removed.
    refresh_tokens: HashMap<String, Grant>,
    codes_issued: usize,
    refreshes: usize,
    logouts: usize,
    revocations: usize,
}

#[derive(Clone)]
struct SignIn {
    username: String,
    auth_time: u64,
}

struct Code {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    scope: String,
    nonce: Option<String>,
    who: SignIn,
    expires: Instant,
}

#[derive(Clone)]
struct Grant {
    client_id: String,
    scope: String,
    who: SignIn,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, Issued> {
        self.state.lock().unwrap()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// Exact match, or a loopback URI registered without a port, which native apps may use
    /// with any port (RFC 8252 §7.3): the CLI listens on a random one.
    fn is_registered(&self, uri: &str) -> bool {
        self.config
            .redirect_uris
            .iter()
            .any(|registered| registered == uri || loopback_match(registered, uri))
    }

    /// The request's parameters once they are fit for a code, or why not.
    fn check(&self, request: &AuthorizeRequest) -> Result<Authorization, Refusal> {
        let client_id = request.client_id.as_deref().unwrap_or_default();
        if client_id != self.config.client_id {
            return Err(Refusal::Page(format!(
                "The client_id “{client_id}” is not a client of this provider."
            )));
        }
        let redirect_uri = request.redirect_uri.as_deref().unwrap_or_default();
        if !self.is_registered(redirect_uri) {
            return Err(Refusal::Page(format!(
                "The redirect_uri “{redirect_uri}” is not registered for this client."
            )));
        }
        let refuse = |description| {
            Err(Refusal::Back {
                redirect_uri: redirect_uri.to_owned(),
                description,
                state: request.state.clone(),
            })
        };
        if request.response_type.as_deref() != Some("code") {
            return refuse("response_type must be code");
        }
        let Some(challenge) = request.code_challenge.as_deref().filter(|c| !c.is_empty()) else {
            return refuse("code_challenge is required (PKCE)");
        };
        if request.code_challenge_method.as_deref() != Some("S256") {
            return refuse("code_challenge_method must be S256");
        }
        Ok(Authorization {
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            state: request.state.clone(),
            challenge: challenge.to_owned(),
            scope: request.scope.clone().unwrap_or_else(|| "openid".into()),
            nonce: request.nonce.clone(),
        })
    }

    /// A code for `who`, sent back to the client.
    fn issue_code(&self, authorization: Authorization, who: SignIn) -> Response {
        let code = random_token();
        let location = redirect(
            &authorization.redirect_uri,
            &[
                ("code", Some(&code)),
                ("state", authorization.state.as_deref()),
            ],
        );
        let mut state = self.state();
        state.codes_issued += 1;
        state.codes.insert(
            code,
            Code {
                client_id: authorization.client_id,
                redirect_uri: authorization.redirect_uri,
                challenge: authorization.challenge,
                scope: authorization.scope,
                nonce: authorization.nonce,
                who,
                expires: Instant::now() + CODE_TTL,
            },
        );
        location
    }

    fn redeem_code(&self, request: TokenRequest) -> Result<Value, OauthError> {
        let Some(code) = request.code else {
            return Err(OauthError::request("code is required"));
        };
        // Spent on first presentation, whatever follows: an intercepted code that failed once
        // (a guessed verifier, say) cannot be tried again.
        let issued = {
            let mut state = self.state();
            let issued = state.codes.remove(&code);
            if issued.is_none() && state.spent.contains(&code) {
                return Err(OauthError::grant("the code was already used"));
            }
            state.spent.insert(code);
            issued
        };
        let issued = issued.ok_or_else(|| OauthError::grant("unknown code"))?;
        let (Some(redirect_uri), Some(client_id), Some(verifier)) = (
            request.redirect_uri,
            request.client_id,
            request.code_verifier,
        ) else {
            return Err(OauthError::request(
                "redirect_uri, client_id and code_verifier are required",
            ));
        };
        if Instant::now() > issued.expires {
            return Err(OauthError::grant("the code expired"));
        }
        if client_id != issued.client_id {
            return Err(OauthError::grant("the code was issued to another client"));
        }
        if redirect_uri != issued.redirect_uri {
            return Err(OauthError::grant(
                "redirect_uri is not the one of the authorization request",
            ));
        }
        if !is_verifier(&verifier) {
            return Err(OauthError::request(
                "code_verifier must be 43 to 128 unreserved characters",
            ));
        }
        if b64(Sha256::digest(verifier.as_bytes())) != issued.challenge {
            return Err(OauthError::grant(
                "code_verifier does not match the code_challenge",
            ));
        }
        let refresh_token = random_token();
        let grant = Grant {
            client_id,
            scope: issued.scope,
            who: issued.who,
        };
        let mut answer = self.tokens(&grant, issued.nonce.as_deref());
        answer["refresh_token"] = json!(refresh_token);
        self.state().refresh_tokens.insert(refresh_token, grant);
        Ok(answer)
    }

    /// New access and ID tokens; the refresh token stays the same, as Cognito's does.
    fn refresh(&self, request: TokenRequest) -> Result<Value, OauthError> {
        let (Some(token), Some(client_id)) = (request.refresh_token, request.client_id) else {
            return Err(OauthError::request(
                "refresh_token and client_id are required",
            ));
        };
        let grant = {
            let mut state = self.state();
            let grant = state
                .refresh_tokens
                .get(&token)
                .filter(|grant| grant.client_id == client_id)
                .cloned()
                .ok_or_else(|| OauthError::grant("unknown or revoked refresh token"))?;
            state.refreshes += 1;
            grant
        };
        Ok(self.tokens(&grant, None))
    }

    /// A token answer without the refresh token. The access token is shaped like Cognito's:
    /// the client in `client_id`, no `aud`.
    fn tokens(&self, grant: &Grant, nonce: Option<&str>) -> Value {
        let iat = now();
        let exp = iat + self.config.access_ttl.as_secs();
        let username = &grant.who.username;
        let access = json!({
            "iss": self.issuer, "sub": username, "client_id": grant.client_id,
            "token_use": "access", "scope": grant.scope, "username": username,
            "auth_time": grant.who.auth_time, "iat": iat, "exp": exp, "jti": random_token(),
        });
        let mut id = json!({
            "iss": self.issuer, "sub": username, "aud": grant.client_id, "token_use": "id",
            "email": format!("{username}@example.test"), "auth_time": grant.who.auth_time,
            "iat": iat, "exp": exp,
        });
        if let Some(nonce) = nonce {
            id["nonce"] = json!(nonce);
        }
        json!({
            "access_token": self.key.sign(&access),
            "id_token": self.key.sign(&id),
            "token_type": "Bearer",
            "expires_in": self.config.access_ttl.as_secs(),
            "scope": grant.scope,
        })
    }
}

/// A registered `http://127.0.0.1/path` (or `http://[::1]/path`) matches that URI with any
/// port.
fn loopback_match(registered: &str, uri: &str) -> bool {
    ["http://127.0.0.1", "http://[::1]"].iter().any(|host| {
        let (Some(path), Some(rest)) = (registered.strip_prefix(host), uri.strip_prefix(host))
        else {
            return false;
        };
        let Some(rest) = rest.strip_prefix(':') else {
            return false;
        };
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        path.starts_with('/')
            && rest[..digits].parse::<u16>().is_ok_and(|port| port != 0)
            && &rest[digits..] == path
    })
}

/// RFC 7636 §4.1: 43 to 128 of `[A-Za-z0-9-._~]`.
fn is_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

fn is_username(username: &str) -> bool {
    (1..=64).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// 256 random bits, URL-safe: codes, refresh tokens, sessions and token ids.
fn random_token() -> String {
    let mut bytes = [0; 32];
    getrandom::fill(&mut bytes).expect("randomness from the OS");
    b64(bytes)
}

/// A 302 to `uri` with `params` added to its query (absent ones left out).
fn redirect(uri: &str, params: &[(&str, Option<&str>)]) -> Response {
    let present: Vec<(&str, &str)> = params
        .iter()
        .filter_map(|(name, value)| value.map(|value| (*name, value)))
        .collect();
    let query = serde_urlencoded::to_string(present).expect("strings encode");
    let location = match (query.is_empty(), uri.contains('?')) {
        (true, _) => uri.to_owned(),
        (false, true) => format!("{uri}&{query}"),
        (false, false) => format!("{uri}?{query}"),
    };
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, "no-store".into()),
        ],
    )
        .into_response()
}

fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// A page of the provider; `body` is HTML already.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n</head>\n<body>\n<main>\n<h1>{title}</h1>\n{body}</main>\n\
         </body>\n</html>\n"
    );
    (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

fn error_page(message: &str) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Test provider — error",
        &format!("<p id=\"error\">{}</p>\n", escape(message)),
    )
}

/// The sign-in form, carrying the authorization request along in hidden inputs.
fn sign_in_page(request: &AuthorizeRequest, error: Option<&str>) -> Response {
    let hidden: String = request
        .authorization_params()
        .into_iter()
        .filter_map(|(name, value)| {
            value.map(|value| {
                format!(
                    "<input type=\"hidden\" name=\"{name}\" value=\"{}\">\n",
                    escape(value)
                )
            })
        })
        .collect();
    let (status, alert) = match error {
        Some(error) => (
            StatusCode::BAD_REQUEST,
            format!("<p id=\"error\" role=\"alert\">{}</p>\n", escape(error)),
        ),
        None => (StatusCode::OK, String::new()),
    };
    let username = escape(request.username.as_deref().unwrap_or_default().trim());
    let body = format!(
        "<p>A provider for tests: there is no password, any username signs in.</p>\n{alert}\
         <form method=\"post\" action=\"/authorize\">\n{hidden}\
         <label for=\"username\">Username</label>\n\
         <input id=\"username\" name=\"username\" autocomplete=\"username\" required \
         value=\"{username}\">\n\
         <button type=\"submit\">Sign in</button>\n</form>\n"
    );
    page(status, "Test provider — sign in", &body)
}

/// The id of the browser's provider session, if it sent one.
fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(SESSION_COOKIE)?.strip_prefix('='))
}

fn session_cookie(value: &str, max_age: Option<u32>) -> String {
    let expiry = max_age.map_or(String::new(), |age| format!("; Max-Age={age}"));
    format!("{SESSION_COOKIE}={value}; HttpOnly; SameSite=Lax; Path=/{expiry}")
}

/// The query of `GET /authorize`, or the form of `POST /authorize` (which adds `username`).
#[derive(Deserialize)]
struct AuthorizeRequest {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    scope: Option<String>,
    nonce: Option<String>,
    username: Option<String>,
}

impl AuthorizeRequest {
    fn authorization_params(&self) -> [(&'static str, Option<&str>); 8] {
        [
            ("response_type", self.response_type.as_deref()),
            ("client_id", self.client_id.as_deref()),
            ("redirect_uri", self.redirect_uri.as_deref()),
            ("state", self.state.as_deref()),
            ("code_challenge", self.code_challenge.as_deref()),
            (
                "code_challenge_method",
                self.code_challenge_method.as_deref(),
            ),
            ("scope", self.scope.as_deref()),
            ("nonce", self.nonce.as_deref()),
        ]
    }
}

/// Why an authorization request gets no code.
enum Refusal {
    /// The client or its redirect URI is unknown: the browser must not be sent anywhere, or
    /// anyone could write a link that hands codes and errors to a site of theirs.
    Page(String),
    /// Sent back to the client, which asked for something this provider does not do.
    Back {
        redirect_uri: String,
        description: &'static str,
        state: Option<String>,
    },
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::Page(message) => error_page(&message),
            Self::Back {
                redirect_uri,
                description,
                state,
            } => redirect(
                &redirect_uri,
                &[
                    ("error", Some("invalid_request")),
                    ("error_description", Some(description)),
                    ("state", state.as_deref()),
                ],
            ),
        }
    }
}

/// An authorization request fit for a code.
struct Authorization {
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    challenge: String,
    scope: String,
    nonce: Option<String>,
}

/// A single-page app may read these from its own origin, as it may Cognito's.
fn public_json(body: Value) -> Response {
    (
        [(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")],
        axum::Json(body),
    )
        .into_response()
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    public_json(json!({
        "issuer": shared.issuer,
        "jwks_uri": shared.url("/jwks"),
        "authorization_endpoint": shared.url("/authorize"),
        "token_endpoint": shared.url("/token"),
        "end_session_endpoint": shared.url("/logout"),
        "revocation_endpoint": shared.url("/revoke"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "email", "profile"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["none"],
    }))
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    public_json(json!({ "keys": [shared.key.jwk()] }))
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    let state = shared.state();
    public_json(json!({
        "refreshes": state.refreshes,
        "logouts": state.logouts,
        "revocations": state.revocations,
        "codes": state.codes_issued,
    }))
}

async fn authorize(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(request): Query<AuthorizeRequest>,
) -> Response {
    let authorization = match shared.check(&request) {
        Ok(authorization) => authorization,
        Err(refusal) => return refusal.into_response(),
    };
    let signed_in = session_id(&headers).and_then(|id| shared.state().browsers.get(id).cloned());
    match signed_in {
        Some(who) => shared.issue_code(authorization, who),
        None => sign_in_page(&request, None),
    }
}

async fn sign_in(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(request) = serde_urlencoded::from_bytes::<AuthorizeRequest>(&body) else {
        return error_page("The sign-in form could not be read.");
    };
    let authorization = match shared.check(&request) {
        Ok(authorization) => authorization,
        Err(refusal) => return refusal.into_response(),
    };
    let username = request.username.as_deref().unwrap_or_default().trim();
    if !is_username(username) {
        return sign_in_page(
            &request,
            Some("A username is 1 to 64 letters, digits, dots, dashes or underscores."),
        );
    }
    let who = SignIn {
        username: username.to_owned(),
        auth_time: now(),
    };
    let session = random_token();
    {
        let mut state = shared.state();
        // A new sign-in replaces the browser's previous session rather than piling up.
        if let Some(previous) = session_id(&headers) {
            state.browsers.remove(previous);
        }
        state.browsers.insert(session.clone(), who.clone());
    }
    let mut response = shared.issue_code(authorization, who);
    response.headers_mut().append(
        header::SET_COOKIE,
        session_cookie(&session, None).parse().unwrap(),
    );
    response
}

/// A token endpoint error: 400 with RFC 6749's `error` and a human `error_description`.
struct OauthError {
    error: &'static str,
    description: &'static str,
}

impl OauthError {
    fn request(description: &'static str) -> Self {
        Self {
            error: "invalid_request",
            description,
        }
    }

    fn grant(description: &'static str) -> Self {
        Self {
            error: "invalid_grant",
            description,
        }
    }
}

#[derive(Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    client_id: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
}

/// A single-page app calls the token endpoint from its own origin, as it does Cognito's.
const TOKEN_HEADERS: [(header::HeaderName, &str); 3] = [
    (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
    (header::CACHE_CONTROL, "no-store"),
    (header::PRAGMA, "no-cache"),
];

async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    let form = serde_urlencoded::from_bytes::<TokenRequest>(&body);
    let answer = match form {
        _ if !is_form => Err(OauthError::request(
            "the body must be application/x-www-form-urlencoded",
        )),
        Err(_) => Err(OauthError::request("the form could not be read")),
        Ok(request) => match request.grant_type.as_deref() {
            Some("authorization_code") => shared.redeem_code(request),
            Some("refresh_token") => shared.refresh(request),
            Some(_) => Err(OauthError {
                error: "unsupported_grant_type",
                description: "grant_type must be authorization_code or refresh_token",
            }),
            None => Err(OauthError::request("grant_type is required")),
        },
    };
    let (status, body) = match answer {
        Ok(tokens) => (StatusCode::OK, tokens),
        Err(refusal) => (
            StatusCode::BAD_REQUEST,
            json!({ "error": refusal.error, "error_description": refusal.description }),
        ),
    };
    (status, TOKEN_HEADERS, axum::Json(body)).into_response()
}

async fn preflight() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (header::ACCESS_CONTROL_ALLOW_METHODS, "POST"),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, "content-type"),
            (header::ACCESS_CONTROL_MAX_AGE, "600"),
        ],
    )
        .into_response()
}

/// RFC 7009's request: the token to revoke, and the public client it was issued to.
#[derive(Deserialize)]
struct RevokeRequest {
    token: Option<String>,
    client_id: Option<String>,
}

/// Revokes a refresh token of the client (Cognito's `/oauth2/revoke`, which its `/logout` does
/// not do). As RFC 7009 says, an unknown token is answered 200 too: nothing tells a caller
/// which tokens exist.
async fn revoke(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let Ok(RevokeRequest {
        token: Some(token),
        client_id: Some(client_id),
    }) = serde_urlencoded::from_bytes::<RevokeRequest>(&body)
    else {
        let refusal = json!({ "error": "invalid_request", "error_description": "token and client_id are required" });
        return (
            StatusCode::BAD_REQUEST,
            [(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")],
            axum::Json(refusal),
        )
            .into_response();
    };
    {
        let mut state = shared.state();
        let ours = state
            .refresh_tokens
            .get(&token)
            .is_some_and(|grant| grant.client_id == client_id);
        if ours {
            state.refresh_tokens.remove(&token);
            state.revocations += 1;
        }
    }
    ([(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")], StatusCode::OK).into_response()
}

/// OIDC RP-initiated logout's parameters, with Cognito's `logout_uri` beside the standard name.
#[derive(Deserialize)]
struct LogoutRequest {
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    logout_uri: Option<String>,
    state: Option<String>,
}

async fn logout(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(request): Query<LogoutRequest>,
) -> Response {
    {
        let mut state = shared.state();
        state.logouts += 1;
        if let Some(who) = session_id(&headers).and_then(|id| state.browsers.remove(id)) {
            state
                .refresh_tokens
                .retain(|_, grant| grant.who.username != who.username);
        }
    }
    // Only back to the client's own URIs: otherwise a logout link could send the browser anywhere.
    let client_is_ours = request
        .client_id
        .as_deref()
        .is_none_or(|id| id == shared.config.client_id);
    let target = request
        .post_logout_redirect_uri
        .or(request.logout_uri)
        .filter(|uri| client_is_ours && shared.is_registered(uri));
    let mut response = match target {
        Some(uri) => redirect(&uri, &[("state", request.state.as_deref())]),
        None => page(
            StatusCode::OK,
            "Test provider — signed out",
            "<p>You are signed out of the test provider.</p>\n",
        ),
    };
    response.headers_mut().append(
        header::SET_COOKIE,
        session_cookie("", Some(0)).parse().unwrap(),
    );
    response
}
