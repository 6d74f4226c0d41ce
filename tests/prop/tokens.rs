//! Access tokens and refresh tokens: anything but an untouched token of ours is refused, by the
//! token check itself and by the authorizer behind the API.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use checkoff::auth::{AuthError, JwtAuthorizer, RouteGrants, TokenService};
use checkoff::domain::{Session, SessionKind, Timestamp, Username};
use checkoff::store::UserCache;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use proptest::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config;
use crate::service::{USER, service};

fn tokens() -> TokenService {
    TokenService::new(&service().secret, Duration::from_secs(3600))
}

/// A fresh token of [`USER`], as `/login` would give (with a session of no store record).
fn real_token() -> String {
    let s = service();
    tokens()
        .issue(USER, &s.account, None, None, None)
        .unwrap()
        .token
}

fn now() -> u64 {
    Timestamp::now().unix_seconds()
}

/// Three base64url segments, as a token is, or one of other shapes.
fn token_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,44}",
        "eyJ[A-Za-z0-9_-]{0,40}\\.eyJ[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{43}",
        "[A-Za-z0-9_.=+/-]{0,100}",
    ]
}

#[derive(Debug, Clone)]
enum Tamper {
    /// One bit of the decoded bytes of segment `segment` flipped.
    FlipBit {
        segment: usize,
        bit: prop::sample::Index,
    },
    /// One character replaced.
    Replace { at: prop::sample::Index, by: char },
    /// A segment added before or after.
    Extra { before: bool, segment: String },
    /// A segment dropped.
    Drop { segment: usize },
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        (0usize..3, any::<prop::sample::Index>())
            .prop_map(|(segment, bit)| Tamper::FlipBit { segment, bit }),
        (
            any::<prop::sample::Index>(),
            prop_oneof![4 => "[A-Za-z0-9_.-]", 1 => "."]
        )
            .prop_map(|(at, by)| Tamper::Replace {
                at,
                by: by.chars().next().unwrap()
            }),
        (any::<bool>(), "[A-Za-z0-9_-]{0,20}")
            .prop_map(|(before, segment)| Tamper::Extra { before, segment }),
        (0usize..3).prop_map(|segment| Tamper::Drop { segment }),
    ]
}

/// `token` tampered with, if that changes it.
fn apply(token: &str, tamper: &Tamper) -> Option<String> {
    let mut segments: Vec<String> = token.split('.').map(str::to_owned).collect();
    let changed = match tamper {
        Tamper::FlipBit { segment, bit } => {
            let mut bytes = URL_SAFE_NO_PAD.decode(&segments[*segment]).ok()?;
            if bytes.is_empty() {
                return None;
            }
            let bit = bit.index(bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
            segments[*segment] = URL_SAFE_NO_PAD.encode(bytes);
            segments.join(".")
        }
        Tamper::Replace { at, by } => {
            let i = at.index(token.len());
            let mut text = token.to_owned();
            text.replace_range(i..=i, &by.to_string());
            text
        }
        Tamper::Extra { before, segment } => {
            if *before {
                format!("{segment}.{token}")
            } else {
                format!("{token}.{segment}")
            }
        }
        Tamper::Drop { segment } => {
            segments.remove(*segment);
            segments.join(".")
        }
    };
    (changed != token).then_some(changed)
}

/// The claims `/login` puts in a token, for [`USER`], valid now.
fn claims() -> Value {
    let now = now();
    json!({
        "sub": USER, "iat": now, "nbf": now, "exp": now + 600,
        "jti": Uuid::new_v4().to_string(), "acct": service().account.to_string(),
    })
}

fn sign(header: &Header, claims: &Value) -> String {
    jsonwebtoken::encode(
        header,
        claims,
        &EncodingKey::from_secret(service().secret.bytes()),
    )
    .unwrap()
}

fn authorizer() -> JwtAuthorizer {
    let s = service();
    JwtAuthorizer::new(Arc::new(tokens()), Arc::clone(&s.store))
}

/// What the authorizer decides on `token`: `Some(owner)` when it lets it in. The decision made
/// at once, where the authorizer can make one (`decide_kept`: the profile kept, or a token that
/// fails on its own), must be the same decision.
fn decide(token: &str) -> Option<String> {
    let authorizer = authorizer();
    let decided = service().block_on(authorizer.decide(token));
    let outcome = |d: &Result<checkoff::auth::Decision, AuthError>| match d {
        Ok(decision) => Ok(decision.owner.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Some(at_once) = authorizer.decide_kept(token) {
        assert_eq!(outcome(&at_once), outcome(&decided), "{token:?}");
    }
    match decided {
        Ok(decision) => Some(decision.owner.to_string()),
        Err(AuthError::InvalidToken) => None,
        Err(other) => panic!("{token:?}: {other}"),
    }
}

#[test]
fn a_real_token_is_let_in() {
    assert_eq!(decide(&real_token()).as_deref(), Some(USER));
    assert_eq!(
        decide(&sign(&Header::new(Algorithm::HS256), &claims())).as_deref(),
        Some(USER)
    );
}

#[test]
fn a_real_token_is_let_in_at_once_once_its_profile_is_kept() {
    let kept = Arc::new(UserCache::new(
        Arc::clone(&service().store),
        Duration::from_secs(60),
    ));
    let authorizer = JwtAuthorizer::new(Arc::new(tokens()), kept);
    let token = real_token();
    // Nothing kept yet: the profile has to be read, which keeps it.
    assert!(authorizer.decide_kept(&token).is_none());
    let read = service().block_on(authorizer.decide(&token)).unwrap();
    let at_once = authorizer
        .decide_kept(&token)
        .expect("the profile is kept")
        .unwrap();
    assert_eq!(at_once.owner.as_str(), USER);
    assert_eq!(at_once.account, read.account);
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn text_that_is_not_our_token_is_refused(token in token_like()) {
        prop_assert!(tokens().verify(&token).is_none());
        prop_assert_eq!(decide(&token), None);
    }

    #[test]
    fn a_tampered_token_is_refused(tamper in tamper()) {
        let token = real_token();
        if let Some(tampered) = apply(&token, &tamper) {
            prop_assert!(tokens().verify(&tampered).is_none(), "{:?}: {}", tamper, tampered);
            prop_assert_eq!(decide(&tampered), None);
        }
    }

    #[test]
    fn a_token_of_another_algorithm_or_key_is_refused(
        alg in prop_oneof![
            Just(Algorithm::HS384), Just(Algorithm::HS512),
        ],
        raw_alg in prop_oneof![
            Just("none".to_owned()), Just("None".to_owned()), Just("hs256".to_owned()),
            Just("HS256 ".to_owned()), Just("RS256".to_owned()), Just("ES256".to_owned()),
            any::<String>().prop_filter("ours", |alg| alg != "HS256"),
        ],
        other_key in proptest::collection::vec(any::<u8>(), 1..64),
    ) {
        let claims = claims();
        // Another HMAC, with our key.
        let hs = sign(&Header::new(alg), &claims);
        prop_assert_eq!(decide(&hs), None, "{:?}", alg);
        // HS256, another key.
        let foreign = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&other_key)).unwrap();
        if other_key != service().secret.bytes() {
            prop_assert_eq!(decide(&foreign), None);
        }
        // Any `alg`, signed as HS256 with our key, or not at all.
        let header = URL_SAFE_NO_PAD.encode(json!({ "alg": raw_alg, "typ": "JWT" }).to_string());
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = {
            use hmac::{Hmac, Mac};
            let mut mac = Hmac::<Sha256>::new_from_slice(service().secret.bytes()).unwrap();
            mac.update(format!("{header}.{payload}").as_bytes());
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        };
        for signature in ["", signed.as_str()] {
            let token = format!("{header}.{payload}.{signature}");
            prop_assert_eq!(decide(&token), None, "alg {:?}", raw_alg);
        }
    }

    /// A token we signed lets in exactly whom its claims name: an existing account made when
    /// `acct` says, a session id that reads, route patterns that parse.
    #[test]
    fn a_signed_token_lets_in_only_whom_its_claims_name(
        sub in prop_oneof![3 => Just(USER.to_owned()), 1 => ".{0,12}", 1 => Just("ghost".to_owned())],
        acct in prop_oneof![3 => Just(None), 1 => ".{0,30}".prop_map(Some)],
        sid in prop_oneof![Just(None), Just(Some(Uuid::new_v4().to_string())), ".{0,40}".prop_map(Some)],
        routes in prop_oneof![Just(None), proptest::collection::vec("(GET|POST|\\*|[A-Z]{0,3}) ?[/a-z{}*]{0,12}", 0..3).prop_map(Some)],
    ) {
        let mut claims = claims();
        claims["sub"] = json!(sub);
        if let Some(acct) = &acct {
            claims["acct"] = json!(acct);
        }
        if let Some(sid) = &sid {
            claims["sid"] = json!(sid);
        }
        if let Some(routes) = &routes {
            claims["routes"] = json!(routes);
        }
        let expected = sub == USER
            && acct.as_ref().is_none_or(|a| *a == service().account.to_string())
            && sid.as_ref().is_none_or(|s| Uuid::parse_str(s).is_ok())
            && routes.as_ref().is_none_or(|r| RouteGrants::parse(r).is_ok());
        let token = sign(&Header::new(Algorithm::HS256), &claims);
        prop_assert_eq!(decide(&token), expected.then(|| USER.to_owned()), "{}", claims);
    }

    #[test]
    fn an_expired_or_future_token_is_refused(
        (nbf, exp) in prop_oneof![
            (0u64..1_000_000, 0u64..3).prop_map(|(ago, d)| (now() - 1000 - ago, now() - 10 - d)),
            (10u64..1_000_000).prop_map(|ahead| (now() + ahead, now() + ahead + 60)),
        ],
    ) {
        let mut claims = claims();
        claims["nbf"] = json!(nbf);
        claims["iat"] = json!(nbf);
        claims["exp"] = json!(exp);
        prop_assert_eq!(decide(&sign(&Header::new(Algorithm::HS256), &claims)), None);
    }
}

// ---- Refresh tokens, through `POST /refresh` ----

/// A refresh token as `/login` makes them: `<base64url name>.<session id>.<43-char secret>`.
fn refresh_token(owner: &str, id: Uuid, secret: &str) -> String {
    format!("{}.{}.{secret}", URL_SAFE_NO_PAD.encode(owner), id.simple())
}

/// A login session of `owner` opened straight in the store: its refresh token.
fn open_session(owner: &str) -> (Uuid, String) {
    let s = service();
    let secret = URL_SAFE_NO_PAD.encode(Uuid::new_v4().as_bytes().repeat(2));
    let now = Timestamp::now();
    let session = Session {
        owner: Username::parse(owner).unwrap(),
        id: Uuid::new_v4(),
        kind: SessionKind::Login,
        refresh_hash: Some(
            Sha256::digest(secret.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        ),
        routes: None,
        created_at: now,
        expires_at: now.plus(Duration::from_secs(3600)),
        generation: 0,
        previous_hash: None,
    };
    s.block_on(s.store.create_session(&session)).unwrap();
    (session.id, refresh_token(owner, session.id, &secret))
}

fn refresh(token: &str) -> StatusCode {
    let s = service();
    let answer = s.send(
        Request::post("/refresh")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({ "refresh_token": token }).to_string()))
            .unwrap(),
    );
    answer.check().unwrap();
    answer.status
}

#[test]
fn a_refresh_token_made_here_is_one_the_api_takes() {
    let (_, token) = open_session(USER);
    assert_eq!(refresh(&token), StatusCode::OK);
    assert_eq!(refresh(&token), StatusCode::UNAUTHORIZED, "used up");
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn text_that_is_not_a_refresh_token_is_refused(
        token in prop_oneof![
            token_like(),
            (".{0,20}", any::<u128>(), "[A-Za-z0-9_-]{43}")
                .prop_map(|(name, id, secret)| refresh_token(&name, Uuid::from_u128(id), &secret)),
            (any::<u128>(), "[A-Za-z0-9_-]{43}")
                .prop_map(|(id, secret)| refresh_token(USER, Uuid::from_u128(id), &secret)),
        ],
    ) {
        prop_assert_eq!(refresh(&token), StatusCode::UNAUTHORIZED, "{:?}", token);
    }

    #[test]
    fn a_tampered_refresh_token_is_refused(
        at in any::<prop::sample::Index>(),
        by in prop_oneof![4 => "[A-Za-z0-9_.-]", 1 => "[A-F ]", 1 => "."],
    ) {
        let (id, token) = open_session(USER);
        let i = at.index(token.len());
        let mut tampered = token.clone();
        tampered.replace_range(i..=i, &by);
        if tampered != token {
            // The same name, session and secret (a session id in capitals) is the same token.
            let (original, changed): (Vec<_>, Vec<_>) = (token.split('.').collect(), tampered.split('.').collect());
            let same = changed.len() == 3
                && changed[0] == original[0]
                && changed[2] == original[2]
                && Uuid::try_parse(changed[1]).ok() == Some(id);
            let status = refresh(&tampered);
            if same {
                prop_assert!(status == StatusCode::OK || status == StatusCode::UNAUTHORIZED);
            } else {
                prop_assert_eq!(status, StatusCode::UNAUTHORIZED, "{:?}", tampered);
            }
        }
    }
}
