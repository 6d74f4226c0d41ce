//! HS256 tokens of the built-in authorizer: `sub, iat, nbf, exp, jti, acct, sid`, optionally
//! `routes`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{JwtSecret, RouteGrants};
use crate::domain::Timestamp;

/// Clock skew tolerated on `exp` and `nbf`: a token is accepted until `exp` + this, so an ended
/// session's record must last as long.
pub const LEEWAY_SECONDS: u64 = 5;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    pub jti: String,
    /// When the account the token was issued to was made: a token dies with its account, and a
    /// new account under the same name does not take over the old one's tokens.
    pub acct: String,
    /// The session the token belongs to: ending it ends the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Route patterns this token is limited to; absent means every route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes: Option<Vec<String>>,
    /// The login generation of the session (login sessions only): a password change or a
    /// logout everywhere moves the account's on, and the token dies.
    #[serde(rename = "gen", default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// What the token check makes of the rest, worked out once: see [`super::jwt::TokenFacts`].
    #[serde(skip)]
    pub facts: std::sync::OnceLock<Option<super::jwt::TokenFacts>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IssuedToken {
    pub token: String,
    pub expires_in: u64,
}

pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    default_ttl: Duration,
    /// Tokens already verified, until they expire: a client sends the same token with every
    /// request, and checking it again cost a fifth of a small request's CPU.
    verified: Mutex<foldhash::HashMap<String, Arc<Claims>>>,
}

/// Verified tokens kept at most (about 1 KiB each): when full, the expired ones go, and if
/// that frees too little the cache starts over rather than grow.
const MAX_VERIFIED: usize = 4_096;

pub(super) fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl TokenService {
    pub fn new(secret: &JwtSecret, default_ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "nbf", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret.bytes()),
            decoding: DecodingKey::from_secret(secret.bytes()),
            validation,
            default_ttl,
            verified: Mutex::default(),
        }
    }

    /// How long a token lives when the caller does not say.
    pub fn default_ttl(&self) -> Duration {
        self.default_ttl
    }

    /// Signs a token for `subject`, whose account was made at `account`, of session `sid`,
    /// limited to `routes` when given, valid for `ttl` (or the configured default).
    pub fn issue(
        &self,
        subject: &str,
        account: &Timestamp,
        sid: Option<Uuid>,
        routes: Option<&RouteGrants>,
        ttl: Option<Duration>,
    ) -> Result<IssuedToken, String> {
        self.sign(subject, account, sid, routes, ttl, None)
    }

    /// An access token of login session `sid`, opened at login generation `generation`.
    pub fn issue_login(
        &self,
        subject: &str,
        account: &Timestamp,
        sid: Uuid,
        generation: u64,
    ) -> Result<IssuedToken, String> {
        self.sign(subject, account, Some(sid), None, None, Some(generation))
    }

    fn sign(
        &self,
        subject: &str,
        account: &Timestamp,
        sid: Option<Uuid>,
        routes: Option<&RouteGrants>,
        ttl: Option<Duration>,
        generation: Option<u64>,
    ) -> Result<IssuedToken, String> {
        let ttl = ttl.unwrap_or(self.default_ttl).as_secs().max(1);
        let now = now_seconds();
        let claims = Claims {
            sub: subject.to_owned(),
            iat: now,
            nbf: now,
            exp: now + ttl,
            jti: Uuid::new_v4().to_string(),
            acct: account.to_string(),
            sid: sid.map(|s| s.to_string()),
            routes: routes.map(RouteGrants::patterns),
            generation,
            facts: std::sync::OnceLock::new(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| format!("cannot sign a token: {e}"))?;
        Ok(IssuedToken {
            token,
            expires_in: ttl,
        })
    }

    /// The claims of a token this service signed that is valid now; `None` for anything else
    /// (another algorithm or `none`, a bad signature, expired, not yet valid, malformed).
    pub fn verify(&self, token: &str) -> Option<Arc<Claims>> {
        let still_valid = |claims: &Claims| claims.exp + LEEWAY_SECONDS > now_seconds();
        let known = self
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned();
        if let Some(claims) = known {
            if still_valid(&claims) {
                return Some(claims);
            }
            self.verified
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(token);
            return None;
        }
        let claims = Arc::new(
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
                .ok()?
                .claims,
        );
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if verified.len() >= MAX_VERIFIED {
            verified.retain(|_, claims| still_valid(claims));
            if verified.len() >= MAX_VERIFIED * 3 / 4 {
                verified.clear();
            }
            verified.shrink_to(MAX_VERIFIED);
        }
        verified.insert(token.to_owned(), Arc::clone(&claims));
        Some(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> Timestamp {
        Timestamp::parse("2026-11-25T10:00:00.000Z").unwrap()
    }

    fn service() -> TokenService {
        let secret = JwtSecret::from_base64(&"A".repeat(44)).unwrap();
        TokenService::new(&secret, Duration::from_secs(3600))
    }

    #[test]
    fn a_token_verifies_with_its_claims() {
        let tokens = service();
        let issued = tokens.issue("alice", &account(), None, None, None).unwrap();
        assert_eq!(issued.expires_in, 3600);
        let claims = tokens.verify(&issued.token).unwrap();
        assert_eq!(claims.sub, "alice");
        assert_eq!(claims.exp, claims.iat + 3600);
        assert!(claims.routes.is_none());
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let other = JwtSecret::from_base64(&"B".repeat(44)).unwrap();
        let foreign = TokenService::new(&other, Duration::from_secs(60));
        let token = foreign
            .issue("alice", &account(), None, None, None)
            .unwrap()
            .token;
        assert!(service().verify(&token).is_none());
    }

    #[test]
    fn a_verified_token_stops_verifying_once_it_expires() {
        let tokens = service();
        let issued = tokens
            .issue(
                "alice",
                &account(),
                None,
                None,
                Some(Duration::from_secs(1)),
            )
            .unwrap();
        assert!(tokens.verify(&issued.token).is_some());
        assert!(tokens.verify(&issued.token).is_some(), "from the cache");
        std::thread::sleep(Duration::from_secs(LEEWAY_SECONDS + 2));
        assert!(tokens.verify(&issued.token).is_none());
    }

    #[test]
    fn a_tampered_copy_of_a_verified_token_is_refused() {
        let tokens = service();
        let token = tokens
            .issue("alice", &account(), None, None, None)
            .unwrap()
            .token;
        assert!(tokens.verify(&token).is_some());
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(tokens.verify(&tampered).is_none());
    }

    #[test]
    fn scoped_tokens_carry_their_routes() {
        let tokens = service();
        let grants = RouteGrants::parse(&["GET /todos*"]).unwrap();
        let token = tokens
            .issue("bob", &account(), None, Some(&grants), None)
            .unwrap()
            .token;
        assert_eq!(
            tokens.verify(&token).unwrap().routes.clone().unwrap(),
            vec!["GET /todos*"]
        );
    }
}
