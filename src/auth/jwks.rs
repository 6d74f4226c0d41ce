//! An OIDC issuer's signing keys (its JWKS), fetched on first use and kept by `kid`. A token
//! signed with a key not seen yet asks for a fresh copy at once (the issuer may just have
//! published it), but such refetches come at most once per refetch interval, so a stream of
//! made-up `kid`s cannot make checkoff hammer the issuer. When the keys cannot be fetched and
//! none fits, the answer is `Unavailable` (503), never a token let through.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use super::AuthError;
use crate::config::check_oidc_url;

/// How long one request to the issuer may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Past this age a key set is fetched again on its next use (an issuer that dropped a key
/// stops having it accepted), falling back to the old set if the issuer is down.
const MAX_AGE: Duration = Duration::from_secs(3600);
/// After a failed fetch the next may come sooner than the refetch interval: an outage ends,
/// and until then every request would be refused.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);
/// A discovery document or key set is a few KiB; anything far larger is not one.
const MAX_BODY: usize = 256 * 1024;

/// A public key of the issuer and the one algorithm it verifies.
pub struct VerifyingKey {
    pub key: DecodingKey,
    pub alg: Algorithm,
}

#[derive(Default)]
struct Keys {
    by_kid: HashMap<String, Arc<VerifyingKey>>,
    fetched: Option<Instant>,
}

impl Keys {
    fn fresh(&self, kid: &str) -> Option<Arc<VerifyingKey>> {
        let young = self.fetched.is_some_and(|at| at.elapsed() < MAX_AGE);
        young.then(|| self.by_kid.get(kid).cloned()).flatten()
    }
}

/// What the one fetcher at a time remembers.
#[derive(Default)]
struct FetchState {
    /// The key set's URL once discovery found it.
    jwks_url: Option<String>,
    last_attempt: Option<Instant>,
    last_failed: bool,
    /// The last fetch asked for by a `kid` the keys at hand did not have. Only these wait out
    /// the refetch interval: a first fetch, or one of an aged set, says nothing about whether
    /// the issuer has published a key since.
    last_miss: Option<Instant>,
}

impl FetchState {
    /// Whether a fetch now would come too soon after the last: after a failure, sooner than the
    /// short retry delay; after a miss, within the refetch interval.
    fn too_soon(&self, miss: bool, refetch_interval: Duration) -> bool {
        let within = |at: Option<Instant>, wait: Duration| at.is_some_and(|at| at.elapsed() < wait);
        if self.last_failed {
            within(self.last_attempt, refetch_interval.min(RETRY_AFTER_FAILURE))
        } else {
            miss && within(self.last_miss, refetch_interval)
        }
    }
}

pub struct Jwks {
    http: reqwest::Client,
    issuer: String,
    refetch_interval: Duration,
    keys: RwLock<Arc<Keys>>,
    /// Held while fetching, so concurrent requests wait for one fetch instead of each making one.
    fetch: tokio::sync::Mutex<FetchState>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

impl Jwks {
    /// The keys of `issuer`, from `jwks_url` when given, else found through discovery.
    pub fn new(
        issuer: &str,
        jwks_url: Option<&str>,
        refetch_interval: Duration,
    ) -> Result<Self, String> {
        Ok(Self {
            http: issuer_client()?,
            issuer: issuer.to_owned(),
            refetch_interval,
            keys: RwLock::new(Arc::default()),
            fetch: tokio::sync::Mutex::new(FetchState {
                jwks_url: jwks_url.map(str::to_owned),
                ..FetchState::default()
            }),
        })
    }

    fn current(&self) -> Arc<Keys> {
        Arc::clone(&self.keys.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The key `kid` names: `None` when the issuer has no such key (as of the last fetch),
    /// `Unavailable` when the keys cannot be fetched and the ones at hand do not have it.
    pub async fn key(&self, kid: &str) -> Result<Option<Arc<VerifyingKey>>, AuthError> {
        if let Some(key) = self.current().fresh(kid) {
            return Ok(Some(key));
        }
        let mut state = self.fetch.lock().await;
        // Whoever held the lock before may just have fetched what this request needs.
        if let Some(key) = self.current().fresh(kid) {
            return Ok(Some(key));
        }
        let current = self.current();
        let stale = current.by_kid.get(kid).cloned();
        // A set was fetched and this key is not in it: the issuer may have published it since,
        // or the token made it up.
        let miss = current.fetched.is_some() && stale.is_none();
        if state.too_soon(miss, self.refetch_interval) {
            return match stale {
                Some(key) => Ok(Some(key)),
                None if state.last_failed => Err(AuthError::Unavailable(
                    "the OIDC issuer's keys could not be fetched".into(),
                )),
                None => Ok(None),
            };
        }
        let now = Instant::now();
        state.last_attempt = Some(now);
        if miss {
            state.last_miss = Some(now);
        }
        match self.fetch_keys(&mut state).await {
            Ok(keys) => {
                state.last_failed = false;
                let key = keys.by_kid.get(kid).cloned();
                *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
                Ok(key)
            }
            Err(why) => {
                state.last_failed = true;
                tracing::warn!(issuer = %self.issuer, %why, "cannot fetch the OIDC issuer's keys");
                stale.map(Some).ok_or(AuthError::Unavailable(why))
            }
        }
    }

    async fn fetch_keys(&self, state: &mut FetchState) -> Result<Keys, String> {
        let url = match &state.jwks_url {
            Some(url) => url.clone(),
            None => self.discover().await?,
        };
        let set: JwkSet = self.get_json(&url).await?;
        // Kept only once it served: a guess made while discovery was down is not pinned.
        state.jwks_url = Some(url.clone());
        let by_kid: HashMap<_, _> = set.keys.iter().filter_map(verifying_key).collect();
        if by_kid.is_empty() {
            return Err(format!("{url} has no RS256 or ES256 key with a kid"));
        }
        tracing::info!(issuer = %self.issuer, keys = by_kid.len(), "fetched the OIDC issuer's keys");
        Ok(Keys {
            by_kid,
            fetched: Some(Instant::now()),
        })
    }

    /// The key set's URL: the discovery document's `jwks_uri`, or, for an issuer without one,
    /// the `jwks.json` Cognito user pools serve beside it.
    async fn discover(&self) -> Result<String, String> {
        let base = self.issuer.trim_end_matches('/');
        let discovery = format!("{base}/.well-known/openid-configuration");
        match self.get_json::<Discovery>(&discovery).await {
            Ok(doc) if doc.issuer != self.issuer => Err(format!(
                "{discovery} is of issuer {:?}, not {:?}",
                doc.issuer, self.issuer
            )),
            Ok(doc) => {
                check_oidc_url(&doc.jwks_uri, "the jwks_uri of the discovery document")?;
                Ok(doc.jwks_uri)
            }
            Err(why) => {
                tracing::debug!(%why, "no discovery document; trying jwks.json");
                Ok(format!("{base}/.well-known/jwks.json"))
            }
        }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        get_json(&self.http, url).await
    }
}

/// The HTTP client for an issuer's documents.
pub(super) fn issuer_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(FETCH_TIMEOUT)
        .timeout(FETCH_TIMEOUT)
        // A redirect could lead off https; issuers serve these documents where they say.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("checkoff/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot make the HTTP client for the OIDC issuer: {e}"))
}

/// One of an issuer's JSON documents, refused when it is not one (an error status, too large).
pub(super) async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, String> {
    let mut response = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("{url} answered {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("{url}: {e}"))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(format!("{url} sent more than {MAX_BODY} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| format!("{url}: {e}"))
}

/// A signing key of the set that checkoff can use, under its `kid`. Only RSA keys (for RS256)
/// and P-256 keys (for ES256): never a symmetric key, which would let whoever can read the
/// set sign tokens.
fn verifying_key(jwk: &Jwk) -> Option<(String, Arc<VerifyingKey>)> {
    let kid = jwk.common.key_id.clone().filter(|k| !k.is_empty())?;
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let alg = match (&jwk.algorithm, &jwk.common.key_algorithm) {
        (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
        (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
            if ec.curve == EllipticCurve::P256 =>
        {
            Algorithm::ES256
        }
        _ => return None,
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some((kid, Arc::new(VerifyingKey { key, alg })))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn jwk(value: serde_json::Value) -> Jwk {
        serde_json::from_value(value).unwrap()
    }

    // A P-256 point and an RSA modulus need not be real keys to be read as such.
    const X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    const N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

    fn ago(seconds: u64) -> Option<Instant> {
        Instant::now().checked_sub(Duration::from_secs(seconds))
    }

    #[test]
    fn only_a_miss_makes_the_next_miss_wait_the_refetch_interval() {
        let interval = Duration::from_secs(60);
        let first_fetch = FetchState {
            last_attempt: ago(1),
            ..FetchState::default()
        };
        assert!(!first_fetch.too_soon(true, interval));
        let after_a_miss = FetchState {
            last_attempt: ago(1),
            last_miss: ago(1),
            ..FetchState::default()
        };
        assert!(after_a_miss.too_soon(true, interval));
        assert!(!after_a_miss.too_soon(false, interval), "an aged set");
        let miss_long_ago = FetchState {
            last_attempt: ago(61),
            last_miss: ago(61),
            ..FetchState::default()
        };
        assert!(!miss_long_ago.too_soon(true, interval));
    }

    #[test]
    fn after_a_failed_fetch_the_next_comes_sooner_but_not_at_once() {
        let interval = Duration::from_secs(60);
        let failed = |seconds| FetchState {
            last_attempt: ago(seconds),
            last_miss: ago(seconds),
            last_failed: true,
            ..FetchState::default()
        };
        assert!(failed(1).too_soon(true, interval));
        assert!(failed(1).too_soon(false, interval));
        assert!(!failed(6).too_soon(true, interval));
    }

    #[test]
    fn rsa_and_p256_signing_keys_are_kept_with_their_algorithm() {
        let rsa = verifying_key(&jwk(json!({"kty": "RSA", "kid": "r", "n": N, "e": "AQAB"})));
        assert_eq!(
            rsa.map(|(kid, k)| (kid, k.alg)),
            Some(("r".into(), Algorithm::RS256))
        );
        let ec = verifying_key(&jwk(
            json!({"kty": "EC", "kid": "e", "crv": "P-256", "x": X, "y": Y, "use": "sig"}),
        ));
        assert_eq!(
            ec.map(|(kid, k)| (kid, k.alg)),
            Some(("e".into(), Algorithm::ES256))
        );
    }

    #[test]
    fn symmetric_encryption_unnamed_and_other_algorithms_keys_are_skipped() {
        for key in [
            json!({"kty": "oct", "kid": "s", "k": "c2VjcmV0"}),
            json!({"kty": "RSA", "kid": "r", "n": N, "e": "AQAB", "use": "enc"}),
            json!({"kty": "RSA", "n": N, "e": "AQAB"}),
            json!({"kty": "RSA", "kid": "r", "n": N, "e": "AQAB", "alg": "RS512"}),
            json!({"kty": "RSA", "kid": "r", "n": N, "e": "AQAB", "alg": "HS256"}),
            json!({"kty": "EC", "kid": "e", "crv": "P-384", "x": X, "y": Y}),
        ] {
            assert!(verifying_key(&jwk(key.clone())).is_none(), "{key}");
        }
    }
}
