//! OIDC / Cognito tokens with real cryptography: the test makes RSA and EC keys, serves their
//! JWKS and a discovery document from a local issuer, signs tokens, and sends them to a service
//! configured for that issuer.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use checkoff::config::OidcSettings;
use checkoff::domain::Username;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::helpers::{TestApp, status_json};
use crate::oidc_provider::{b64, now};
// Where the other tests (lambda.rs) have always found it.
pub use crate::oidc_provider::TestKey;

pub const AUDIENCE: &str = "checkoff-web-client";
/// Where the issuer lives on its server, like a Cognito user pool's id after the host.
const POOL: &str = "/eu-west-1_TestPool";

/// What the test issuer serves, changed by the test as it goes.
#[derive(Default)]
struct IssuerState {
    keys: Mutex<Vec<Value>>,
    down: AtomicBool,
    /// Like a Cognito user pool seen without discovery: only `/.well-known/jwks.json`.
    no_discovery: AtomicBool,
    key_fetches: AtomicUsize,
}

/// An OIDC issuer on 127.0.0.1, stopped when dropped.
pub struct Issuer {
    /// `iss` of its tokens, a path under the server like a Cognito user pool's.
    pub url: String,
    state: Arc<IssuerState>,
    server: JoinHandle<()>,
}

impl Issuer {
    pub async fn start(keys: &[&TestKey]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}{POOL}", listener.local_addr().unwrap());
        let state = Arc::new(IssuerState::default());
        *state.keys.lock().unwrap() = keys.iter().map(|k| k.jwk()).collect();
        let (shared, issuer) = (Arc::clone(&state), url.clone());
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (state, issuer) = (Arc::clone(&shared), issuer.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        issuer_call(request, Arc::clone(&state), issuer.clone())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { url, state, server }
    }

    /// The issuer now signs with these keys only.
    fn rotate(&self, keys: &[&TestKey]) {
        *self.state.keys.lock().unwrap() = keys.iter().map(|k| k.jwk()).collect();
    }

    fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    fn key_fetches(&self) -> usize {
        self.state.key_fetches.load(Ordering::SeqCst)
    }

    fn settings(&self, refetch_interval: Duration) -> OidcSettings {
        OidcSettings {
            issuer: self.url.clone(),
            audience: AUDIENCE.into(),
            claim: "sub".into(),
            jwks_url: None,
            refetch_interval,
        }
    }

    /// A service for this issuer that refetches keys whenever a token asks.
    async fn app(&self) -> TestApp {
        TestApp::spawn_oidc(self.settings(Duration::ZERO)).await
    }

    /// The claims of a Cognito ID token for `sub`, valid for an hour.
    pub fn claims(&self, sub: &str) -> Value {
        let now = now();
        json!({ "iss": self.url, "sub": sub, "aud": AUDIENCE, "token_use": "id",
                "cognito:username": format!("{sub}-name"), "email": format!("{sub}@example.com"),
                "iat": now, "exp": now + 3600 })
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn issuer_call(
    request: Request<Incoming>,
    state: Arc<IssuerState>,
    issuer: String,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let reply = |status: u16, body: Value| {
        Ok(Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap())
    };
    if state.down.load(Ordering::SeqCst) {
        return reply(503, json!({ "message": "down" }));
    }
    let discovery = !state.no_discovery.load(Ordering::SeqCst);
    match path.strip_prefix(POOL) {
        Some("/.well-known/openid-configuration") if discovery => reply(
            200,
            json!({ "issuer": issuer, "jwks_uri": format!("{issuer}/keys") }),
        ),
        Some("/keys") if discovery => {
            state.key_fetches.fetch_add(1, Ordering::SeqCst);
            reply(200, json!({ "keys": *state.keys.lock().unwrap() }))
        }
        Some("/.well-known/jwks.json") if !discovery => {
            state.key_fetches.fetch_add(1, Ordering::SeqCst);
            reply(200, json!({ "keys": *state.keys.lock().unwrap() }))
        }
        _ => reply(404, json!({ "message": "not found" })),
    }
}

async fn whoami(app: &TestApp, token: &str) -> (StatusCode, Value) {
    status_json(
        app.authed(Method::GET, "/whoami", token)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// The answer to a token that proves nothing: 401 with `invalid_token`.
async fn assert_refused(app: &TestApp, token: &str, why: &str) {
    let response = app
        .authed(Method::GET, "/whoami", token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#,
        "{why}"
    );
}

#[tokio::test]
async fn an_issuers_caller_deletes_their_account_with_a_recent_sign_in_only() {
    let key = TestKey::rsa("rsa-1");
    let issuer = Issuer::start(&[&key]).await;
    let app = issuer.app().await;
    let fresh = key.sign(&issuer.claims("nina"));
    let mut claims = issuer.claims("nina");
    claims["iat"] = json!(now() - 20 * 60);
    let stale = key.sign(&claims);
    app.create_todo(&fresh, "mine").await;
    let delete = |token: &str| app.authed(Method::DELETE, "/users/oidc:nina", token).send();
    // No password to show: a sign-in of the last minutes stands in for it.
    assert_eq!(
        delete(&stale).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        delete(&fresh).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let owner = Username::external("oidc", "nina");
    assert!(app.store.get_user(&owner).await.unwrap().is_none());
}

#[tokio::test]
async fn an_rs256_id_token_of_the_issuer_is_accepted_and_its_caller_owns_apart_from_an_account() {
    let key = TestKey::rsa("rsa-1");
    let issuer = Issuer::start(&[&key]).await;
    let app = issuer.app().await;
    let oidc = key.sign(&issuer.claims("alice"));

    let (status, me) = whoami(&app, &oidc).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["principal"], "alice");
    assert_eq!(me["authorizer"], "oidc");
    assert_eq!(me["owner"], "oidc:alice");
    assert_eq!(me["admin"], false);
    assert_eq!(me["routes"], json!(["*"]));
    assert_eq!(me["context"]["iss"], issuer.url);
    assert_eq!(me["context"]["token_use"], "id");
    let profile = app
        .store
        .get_user(&Username::external("oidc", "alice"))
        .await
        .unwrap();
    assert!(profile.is_some(), "a profile is made on first sight");

    // A password account of the same name works on its own data.
    let local = app.user_token("alice").await;
    let mine = app.create_todo(&oidc, "from the issuer").await;
    let theirs = app.create_todo(&local, "from the account").await;
    let (status, listed) = status_json(app.list_todos(&oidc, "").await).await;
    assert_eq!((status, listed), (StatusCode::OK, json!([mine])));
    let (_, listed) = status_json(app.list_todos(&local, "").await).await;
    assert_eq!(listed, json!([theirs]));
}

#[tokio::test]
async fn an_es256_token_is_accepted() {
    let key = TestKey::ec("ec-1");
    let issuer = Issuer::start(&[&key]).await;
    let app = issuer.app().await;
    let token = key.sign(&issuer.claims("bob"));

    let (status, me) = whoami(&app, &token).await;
    assert_eq!((status, &me["owner"]), (StatusCode::OK, &json!("oidc:bob")));
    let todo = app.create_todo(&token, "signed with P-256").await;
    let (_, listed) = status_json(app.list_todos(&token, "").await).await;
    assert_eq!(listed, json!([todo]));
}

#[tokio::test]
async fn checkoffs_own_tokens_still_work_beside_the_issuers() {
    let key = TestKey::rsa("rsa-1");
    let issuer = Issuer::start(&[&key]).await;
    let app = issuer.app().await;
    let token = app.user_token("carol").await;

    let (status, me) = whoami(&app, &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&me["authorizer"], &me["owner"]),
        (&json!("builtin"), &json!("carol"))
    );
}

#[tokio::test]
async fn the_served_document_offers_the_issuers_tokens_beside_checkoffs() {
    let key = TestKey::rsa("rsa-1");
    let issuer = Issuer::start(&[&key]).await;
    let app = TestApp::spawn_oidc(issuer.settings(Duration::ZERO)).await;
    let doc: serde_json::Value = app
        .request(Method::GET, "/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let scheme = &doc["components"]["securitySchemes"]["oidc"];
    assert_eq!(scheme["type"], "openIdConnect");
    assert!(
        scheme["openIdConnectUrl"]
            .as_str()
            .unwrap()
            .ends_with("/.well-known/openid-configuration")
    );
    assert_eq!(
        doc["paths"]["/todos"]["get"]["security"],
        serde_json::json!([{ "token": [] }, { "oidc": [] }])
    );
    assert!(doc["paths"]["/login"]["post"].get("security").is_none());
    // Without an issuer, only checkoff's own tokens.
    let plain = serde_json::to_value(checkoff::api::openapi()).unwrap();
    assert!(plain["components"]["securitySchemes"].get("oidc").is_none());
}

#[tokio::test]
async fn the_configured_claim_names_the_caller() {
    let key = TestKey::rsa("rsa-1");
    let issuer = Issuer::start(&[&key]).await;
    let app = TestApp::spawn_oidc(OidcSettings {
        claim: "cognito:username".into(),
        ..issuer.settings(Duration::ZERO)
    })
    .await;

    let (status, me) = whoami(&app, &key.sign(&issuer.claims("dave"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["principal"], "dave-name");
    assert_eq!(me["owner"], "oidc:dave-name");

    let mut claims = issuer.claims("dave");
    claims.as_object_mut().unwrap().remove("cognito:username");
    assert_refused(&app, &key.sign(&claims), "no such claim").await;
}

#[tokio::test]
async fn a_cognito_access_token_is_for_us_by_its_client_id() {
    let key = TestKey::rsa("rsa-1");
    let issuer = Issuer::start(&[&key]).await;
    let app = issuer.app().await;
    let access = |client_id: &str| {
        let mut claims = issuer.claims("erin");
        let claims_map = claims.as_object_mut().unwrap();
        claims_map.remove("aud");
        claims_map.insert("token_use".into(), json!("access"));
        claims_map.insert("client_id".into(), json!(client_id));
        claims_map.insert("scope".into(), json!("aws.cognito.signin.user.admin"));
        key.sign(&claims)
    };

    let (status, me) = whoami(&app, &access(AUDIENCE)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["context"]["client_id"], AUDIENCE);
    assert_eq!(me["context"]["scope"], "aws.cognito.signin.user.admin");
    assert_refused(&app, &access("another-client"), "another client's token").await;
}

#[tokio::test]
async fn tokens_of_another_issuer_audience_or_time_are_refused() {
    let key = TestKey::rsa("rsa-1");
    let issuer = Issuer::start(&[&key]).await;
    let app = issuer.app().await;
    let now = now();
    let with = |field: &str, value: Value| {
        let mut claims = issuer.claims("frank");
        claims[field] = value;
        key.sign(&claims)
    };
    let without = |field: &str| {
        let mut claims = issuer.claims("frank");
        claims.as_object_mut().unwrap().remove(field);
        key.sign(&claims)
    };
    assert_eq!(
        whoami(&app, &with("sub", json!("frank"))).await.0,
        StatusCode::OK
    );

    for (token, why) in [
        (
            with("iss", json!("https://evil.example.com")),
            "another issuer",
        ),
        (
            with("iss", json!(format!("{}/", issuer.url))),
            "an issuer not exactly ours",
        ),
        (without("iss"), "no issuer"),
        (with("aud", json!("another-client")), "another audience"),
        (with("aud", json!(["a", "b"])), "other audiences"),
        (without("aud"), "no audience nor client_id"),
        (with("exp", json!(now - 3600)), "expired"),
        (without("exp"), "no expiry"),
        (with("nbf", json!(now + 3600)), "not valid yet"),
        (
            with("token_use", json!("refresh")),
            "not an id or access token",
        ),
        (with("sub", json!("")), "no principal"),
    ] {
        assert_refused(&app, &token, why).await;
    }
}

#[tokio::test]
async fn a_token_of_a_new_key_is_accepted_once_the_issuer_rotated_to_it() {
    let (old, new) = (TestKey::rsa("rsa-1"), TestKey::ec("ec-2"));
    let issuer = Issuer::start(&[&old]).await;
    let app = issuer.app().await;
    assert_eq!(
        whoami(&app, &old.sign(&issuer.claims("gina"))).await.0,
        StatusCode::OK
    );
    assert_eq!(issuer.key_fetches(), 1);

    issuer.rotate(&[&new]);
    let (status, me) = whoami(&app, &new.sign(&issuer.claims("gina"))).await;
    assert_eq!(
        (status, &me["owner"]),
        (StatusCode::OK, &json!("oidc:gina"))
    );
    assert_eq!(issuer.key_fetches(), 2, "the unknown kid made one refetch");
    assert_eq!(
        whoami(&app, &new.sign(&issuer.claims("gina"))).await.0,
        StatusCode::OK
    );
    assert_eq!(issuer.key_fetches(), 2, "then the key is known");
}

#[tokio::test]
async fn a_key_the_issuer_publishes_after_the_first_fetch_is_accepted_at_once() {
    let (old, new) = (TestKey::rsa("rsa-1"), TestKey::ec("ec-2"));
    let issuer = Issuer::start(&[&old]).await;
    // As served: an interval far longer than the test.
    let app = TestApp::spawn_oidc(issuer.settings(OidcSettings::DEFAULT_REFETCH_INTERVAL)).await;
    assert_eq!(
        whoami(&app, &old.sign(&issuer.claims("hal"))).await.0,
        StatusCode::OK
    );
    assert_eq!(issuer.key_fetches(), 1);

    issuer.rotate(&[&old, &new]);
    let (status, me) = whoami(&app, &new.sign(&issuer.claims("hal"))).await;

    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(issuer.key_fetches(), 2, "the unknown kid made one refetch");
    assert_eq!(
        whoami(&app, &old.sign(&issuer.claims("hal"))).await.0,
        StatusCode::OK,
        "the old key still serves"
    );
}

#[tokio::test]
async fn unknown_kids_refetch_the_keys_at_most_once_per_interval() {
    const INTERVAL: Duration = Duration::from_secs(3);
    let (old, new) = (TestKey::rsa("rsa-1"), TestKey::rsa("rsa-2"));
    let issuer = Issuer::start(&[&old]).await;
    let app = TestApp::spawn_oidc(issuer.settings(INTERVAL)).await;
    assert_eq!(
        whoami(&app, &old.sign(&issuer.claims("hal"))).await.0,
        StatusCode::OK
    );
    assert_eq!(issuer.key_fetches(), 1);

    for n in 0..20 {
        let made_up = TestKey::ec(&format!("made-up-{n}"));
        assert_refused(&app, &made_up.sign(&issuer.claims("hal")), "made-up kid").await;
    }
    assert_eq!(
        issuer.key_fetches(),
        2,
        "the first unknown kid refetched, the others waited"
    );

    // Within the interval of that miss, even a real new key waits.
    issuer.rotate(&[&old, &new]);
    let fresh = new.sign(&issuer.claims("hal"));
    assert_refused(
        &app,
        &fresh,
        "a key published within the interval of a miss",
    )
    .await;
    assert_eq!(issuer.key_fetches(), 2);
    // Known keys are answered from what is at hand, whatever the interval.
    assert_eq!(
        whoami(&app, &old.sign(&issuer.claims("hal"))).await.0,
        StatusCode::OK
    );

    tokio::time::sleep(INTERVAL + Duration::from_millis(200)).await;
    assert_eq!(whoami(&app, &fresh).await.0, StatusCode::OK);
    assert_eq!(issuer.key_fetches(), 3);
}

#[tokio::test]
async fn while_the_keys_cannot_be_fetched_tokens_get_503_never_acceptance() {
    let (key, next) = (TestKey::rsa("rsa-1"), TestKey::rsa("rsa-2"));
    let issuer = Issuer::start(&[&key]).await;
    let app = issuer.app().await;
    let token = key.sign(&issuer.claims("ivy"));

    issuer.set_down(true);
    let response = app
        .authed(Method::GET, "/todos", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));

    issuer.set_down(false);
    assert_eq!(whoami(&app, &token).await.0, StatusCode::OK, "back up");

    issuer.set_down(true);
    issuer.rotate(&[&key, &next]);
    assert_eq!(
        whoami(&app, &token).await.0,
        StatusCode::OK,
        "a key at hand still serves"
    );
    let (status, _) = whoami(&app, &next.sign(&issuer.claims("ivy"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "a key not at hand");
}

#[tokio::test]
async fn an_issuer_nobody_answers_for_gets_503() {
    let key = TestKey::rsa("rsa-1");
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = TestApp::spawn_oidc(OidcSettings {
        issuer: url.clone(),
        audience: AUDIENCE.into(),
        claim: "sub".into(),
        jwks_url: None,
        refetch_interval: Duration::ZERO,
    })
    .await;
    let now = now();
    let token = key.sign(&json!({ "iss": url, "sub": "jo", "aud": AUDIENCE, "exp": now + 60 }));

    let (status, _) = whoami(&app, &token).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_cognito_pool_without_discovery_is_read_from_its_jwks_json() {
    let key = TestKey::ec("ec-1");
    let issuer = Issuer::start(&[&key]).await;
    issuer.state.no_discovery.store(true, Ordering::SeqCst);
    let app = issuer.app().await;

    let (status, me) = whoami(&app, &key.sign(&issuer.claims("kim"))).await;
    assert_eq!((status, &me["owner"]), (StatusCode::OK, &json!("oidc:kim")));
    assert_eq!(issuer.key_fetches(), 1);
}

#[tokio::test]
async fn algorithm_confusion_is_refused() {
    let (rsa, ec, other) = (
        TestKey::rsa("rsa-1"),
        TestKey::ec("ec-1"),
        TestKey::rsa("rsa-2"),
    );
    let issuer = Issuer::start(&[&rsa, &ec, &other]).await;
    let app = issuer.app().await;
    let claims = issuer.claims("mallory");
    assert_eq!(whoami(&app, &rsa.sign(&claims)).await.0, StatusCode::OK);

    // HS256 with what anyone can read of the public key as the secret.
    let jwk = rsa.jwk();
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    for secret in [jwk.to_string().into_bytes(), n] {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(rsa.kid.clone());
        let forged =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&secret)).unwrap();
        assert_refused(&app, &forged, "HS256 signed with the public key").await;
    }

    let unsigned = format!(
        "{}.{}.",
        b64(json!({ "alg": "none", "typ": "JWT", "kid": rsa.kid }).to_string()),
        b64(claims.to_string())
    );
    assert_refused(&app, &unsigned, "alg none").await;
    let stripped = rsa.sign(&claims);
    let stripped = &stripped[..stripped.rfind('.').unwrap() + 1];
    assert_refused(&app, stripped, "RS256 without its signature").await;

    // Each key verifies its own algorithm only, whatever the header claims.
    let mixed = ec.sign_with(&json!({ "alg": "RS256", "kid": ec.kid }), &claims);
    assert_refused(&app, &mixed, "an EC key named for RS256").await;
    let mixed = rsa.sign_with(&json!({ "alg": "ES256", "kid": rsa.kid }), &claims);
    assert_refused(&app, &mixed, "an RSA key named for ES256").await;
    let wrong = rsa.sign_with(&json!({ "alg": "RS256", "kid": other.kid }), &claims);
    assert_refused(&app, &wrong, "signed with another key than its kid").await;
    let mut tampered = issuer.claims("mallory");
    tampered["sub"] = json!("admin");
    let token = rsa.sign(&claims);
    let parts: Vec<&str> = token.split('.').collect();
    let swapped = format!("{}.{}.{}", parts[0], b64(tampered.to_string()), parts[2]);
    assert_refused(&app, &swapped, "claims changed after signing").await;
    assert_refused(&app, "not.a.token", "garbage").await;
}

#[tokio::test]
async fn a_list_is_shared_with_an_issuers_caller_by_their_name_here() {
    let key = TestKey::rsa("rsa-1");
    let issuer = Issuer::start(&[&key]).await;
    let app = issuer.app().await;
    let nora = key.sign(&issuer.claims("nora"));
    app.create_todo(&nora, "signed in once").await;
    let alice = app.user_token("alice").await;
    let made = app
        .authed(Method::POST, "/lists", &alice)
        .json(&json!({ "name": "Shared" }))
        .send()
        .await
        .unwrap();
    let list = made.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let member = format!("/lists/{list}/members/oidc:nora");
    let shared = app
        .authed(Method::PUT, &member, &alice)
        .json(&json!({ "role": "editor" }))
        .send()
        .await
        .unwrap();
    assert_eq!(shared.status(), StatusCode::CREATED);

    let added = app
        .authed(Method::POST, "/todos", &nora)
        .json(&json!({ "description": "from nora", "list": list }))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), StatusCode::CREATED);
    let added: Value = added.json().await.unwrap();
    assert_eq!(
        (&added["username"], &added["created_by"]),
        (&json!("alice"), &json!("oidc:nora"))
    );
    let synced: Value = app
        .authed(Method::GET, "/sync", &nora)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lists: Vec<(&str, &str)> = synced["lists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["name"].as_str().unwrap(), l["role"].as_str().unwrap()))
        .collect();
    assert_eq!(lists, [("Inbox", "owner"), ("Shared", "editor")]);

    let removed = app
        .authed(Method::DELETE, &member, &alice)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let read = app
        .authed(Method::GET, &format!("/todos?list={list}"), &nora)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::NOT_FOUND);
}
