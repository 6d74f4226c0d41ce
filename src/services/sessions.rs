//! Logging in and staying logged in: what the `/login`, `/refresh`, `/logout` and `/sessions`
//! handlers (and `checkoff tokens`) call. Every session ended here is told to the change feed,
//! so the owner's live streams check their tokens at once.
//!
//! A login opens a session and answers with a short access token (the session's id in `sid`)
//! and a refresh token `<name>.<session id>.<secret>` whose secret is stored only as a SHA-256
//! hash and replaced on every use. Presenting a secret that was already used ends the whole
//! session: one of two parties holding the same refresh token is a thief. Ending a session
//! records it on the owner's profile until its last access token expires; the authorizer, which
//! reads the profile anyway, refuses those tokens from then on.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::changes::ChangeFeed;
use super::error::{ServiceError, ServiceResult};
use crate::auth::{
    IssuedToken, LEEWAY_SECONDS, LoginThrottle, Passwords, RouteGrants, TokenService, Verdict,
};
use crate::domain::{LoginPassword, Session, SessionKind, Timestamp, User, Username};
use crate::store::{Store, StoreError};

/// How many sessions `GET /sessions` lists: the newest; older ones end with a logout everywhere.
pub const LISTED_SESSIONS: usize = 100;

/// What a login or a refresh gives.
#[derive(Debug, Clone)]
pub struct Grant {
    pub access: IssuedToken,
    pub refresh_token: String,
    /// Seconds until the session can no longer be renewed.
    pub refresh_expires_in: u64,
    pub session: Uuid,
}

pub struct Sessions {
    store: Arc<dyn Store>,
    passwords: Arc<Passwords>,
    throttle: Arc<LoginThrottle>,
    tokens: Arc<TokenService>,
    /// How long a session can be renewed after the login that opened it.
    session_ttl: Duration,
    feed: Arc<ChangeFeed>,
}

impl Sessions {
    pub fn new(
        store: Arc<dyn Store>,
        passwords: Arc<Passwords>,
        throttle: Arc<LoginThrottle>,
        tokens: Arc<TokenService>,
        session_ttl: Duration,
        feed: Arc<ChangeFeed>,
    ) -> Self {
        Self {
            store,
            passwords,
            throttle,
            tokens,
            session_ttl,
            feed,
        }
    }

    /// Checks a username and password (throttled per name and per client address) and opens a
    /// session.
    pub async fn login(
        &self,
        username: &str,
        password: &LoginPassword,
        address: Option<IpAddr>,
    ) -> ServiceResult<Grant> {
        let user = self.verify_password(username, password, address).await?;
        self.forget_expired(&user.username).await;
        self.open(&user).await
    }

    /// The account whose password this is. A name that cannot exist is throttled under one
    /// shared key, so junk names cannot grow the throttle's records.
    pub async fn verify_password(
        &self,
        username: &str,
        password: &LoginPassword,
        address: Option<IpAddr>,
    ) -> ServiceResult<User> {
        let username = Username::parse(username).ok();
        let throttle_key = username
            .as_ref()
            .map_or("<invalid username>", Username::as_str);
        // Counted before the hash is checked, so a burst is held to the same allowance.
        if let Some(retry_after) = self.throttle.attempt(throttle_key, address).await? {
            metrics::counter!("checkoff_logins_throttled_total").increment(1);
            return Err(ServiceError::TooManyAttempts { retry_after });
        }
        let user = match &username {
            Some(name) => self.store.get_user(name).await?,
            None => None,
        };
        // Unknown users cost a hash too: the answer's timing does not tell who exists.
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        let (user, rehash) = match (user, self.passwords.verify(stored, password).await) {
            (Some(user), Verdict::Valid { rehash }) => (user, rehash),
            _ => {
                metrics::counter!("checkoff_login_failures_total").increment(1);
                return Err(ServiceError::InvalidCredentials);
            }
        };
        if let Err(error) = self.throttle.succeeded(throttle_key, address).await {
            tracing::warn!(%error, "could not clear failed logins");
        }
        if rehash {
            self.upgrade_hash(&user, password).await;
        }
        Ok(user)
    }

    /// Replaces an outdated hash (the original sample's PBKDF2) now that the password is known.
    /// Failing here must not fail the login: the old hash still works next time.
    async fn upgrade_hash(&self, user: &User, password: &LoginPassword) {
        let upgraded = match self.passwords.rehash(password).await {
            Ok(hash) => self
                .store
                .set_password_hash(&user.username, &hash)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        match upgraded {
            Ok(()) => tracing::info!(user = %user.username, "password hash upgraded to Argon2id"),
            Err(error) => {
                tracing::warn!(user = %user.username, %error, "could not upgrade password hash")
            }
        }
    }

    async fn open(&self, user: &User) -> ServiceResult<Grant> {
        let secret = new_secret();
        let now = Timestamp::now();
        let session = Session {
            owner: user.username.clone(),
            id: Uuid::new_v4(),
            kind: SessionKind::Login,
            refresh_hash: Some(hash_of(&secret)),
            routes: None,
            created_at: now,
            expires_at: now.plus(self.session_ttl),
            // Of the profile read with the password just checked: if the password changed
            // meanwhile, the session is born ended.
            generation: user.revoked.generation(),
            previous_hash: None,
        };
        self.store.create_session(&session).await?;
        self.grant(user, &session, &secret, now)
    }

    /// The tokens of `session`; its refresh token's life counted from `now`, the moment the
    /// request was checked (not after the store's answer: a second may have passed).
    fn grant(
        &self,
        user: &User,
        session: &Session,
        secret: &str,
        now: Timestamp,
    ) -> ServiceResult<Grant> {
        let access = self
            .tokens
            .issue_login(
                user.username.as_str(),
                &user.created_at,
                session.id,
                session.generation,
            )
            .map_err(ServiceError::Internal)?;
        Ok(Grant {
            access,
            refresh_token: refresh_token(&user.username, session.id, secret),
            refresh_expires_in: session
                .expires_at
                .unix_seconds()
                .saturating_sub(now.unix_seconds()),
            session: session.id,
        })
    }

    /// A new access token and a new refresh token for a refresh token that is the session's
    /// current one. An old one ends the session.
    pub async fn refresh(&self, refresh: &str) -> ServiceResult<Grant> {
        let (owner, id, secret) =
            parse_refresh_token(refresh).ok_or(ServiceError::InvalidRefreshToken)?;
        let now = Timestamp::now();
        let session = self
            .store
            .get_session(&owner, id)
            .await?
            .filter(|s| s.kind == SessionKind::Login && s.expires_at > now)
            .ok_or(ServiceError::InvalidRefreshToken)?;
        let user = self
            .store
            .get_user(&owner)
            .await?
            .filter(|u| holds(u, &session))
            .ok_or(ServiceError::InvalidRefreshToken)?;
        let presented = hash_of(&secret);
        if session.refresh_hash.as_deref() != Some(presented.as_str()) {
            // Only a secret that was once good is a reuse (someone else holds its successor);
            // a made-up one proves nothing, and must not let whoever saw the session's id end it.
            if session.previous_hash.as_deref() == Some(presented.as_str()) {
                tracing::warn!(user = %owner, session = %id, "refresh token reused: session ended");
                self.end(&owner, &[session]).await?;
            }
            return Err(ServiceError::InvalidRefreshToken);
        }
        let next = new_secret();
        match self
            .store
            .rotate_session(&owner, id, &presented, &hash_of(&next))
            .await
        {
            Ok(()) => self.grant(&user, &session, &next, now),
            // Someone rotated it first with the same token: the same reuse, seen a moment later.
            Err(StoreError::Changed) => {
                tracing::warn!(user = %owner, session = %id, "refresh token reused: session ended");
                self.end(&owner, &[session]).await?;
                Err(ServiceError::InvalidRefreshToken)
            }
            Err(StoreError::NotFound) => Err(ServiceError::InvalidRefreshToken),
            Err(e) => Err(e.into()),
        }
    }

    /// The sessions and API tokens of `owner` that still work, newest first, at most
    /// [`LISTED_SESSIONS`]: sessions a new login generation or a revocation ended, and expired
    /// ones, are left out although their records may linger until tidied.
    pub async fn live(&self, owner: &Username) -> ServiceResult<Vec<Session>> {
        let Some(user) = self.store.get_user(owner).await? else {
            return Ok(Vec::new());
        };
        let now = Timestamp::now();
        let mut sessions: Vec<Session> = self
            .store
            .list_sessions(owner)
            .await?
            .into_iter()
            .filter(|s| s.expires_at > now && holds(&user, s))
            .filter(|s| !user.revoked.revokes(&s.id, now.unix_seconds()))
            .collect();
        sessions.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        sessions.truncate(LISTED_SESSIONS);
        Ok(sessions)
    }

    /// Ends `owner`'s session or API token `id` (logout; revoking from the account page);
    /// `None` when `owner` has no such session, so nobody learns whether someone else's id exists.
    pub async fn end_own(&self, owner: &Username, id: Uuid) -> ServiceResult<Option<Session>> {
        let Some(session) = self.store.get_session(owner, id).await? else {
            return Ok(None);
        };
        self.end(owner, std::slice::from_ref(&session)).await?;
        Ok(Some(session))
    }

    /// Ends every login session of `owner` but `keep` (all of them without it) at once, in the
    /// same write that replaces the password when `password_hash` is given. API tokens stay:
    /// they are revoked one by one.
    pub async fn end_logins(
        &self,
        owner: &Username,
        password_hash: Option<&str>,
        keep: Option<Uuid>,
    ) -> ServiceResult<()> {
        self.store
            .new_login_generation(owner, password_hash, keep)
            .await?;
        self.feed.sessions_ended(owner);
        Ok(())
    }

    /// Records the sessions as ended until their last access token runs out, and removes them.
    async fn end(&self, owner: &Username, sessions: &[Session]) -> ServiceResult<()> {
        if sessions.is_empty() {
            return Ok(());
        }
        let latest_token = Timestamp::now().plus(self.tokens.default_ttl());
        let ended: Vec<(Uuid, u64)> = sessions
            .iter()
            .map(|s| {
                let until = match s.kind {
                    // Access tokens of a login session live the default TTL from their issue.
                    SessionKind::Login => {
                        latest_token.min(s.expires_at.plus(self.tokens.default_ttl()))
                    }
                    SessionKind::Api => s.expires_at,
                };
                // As long as the token check accepts a token: past `exp` by its leeway.
                (s.id, until.unix_seconds() + LEEWAY_SECONDS)
            })
            .collect();
        match self.store.end_sessions(owner, &ended).await {
            Ok(()) | Err(StoreError::NotFound) => {
                self.feed.sessions_ended(owner);
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Drops records of sessions that can no longer be renewed or used, so they do not pile
    /// up: a bounded number per login, read through an index of their expiry (listing every
    /// session here made each login read and copy all of them, thousands for a script that
    /// logs in for every call).
    async fn forget_expired(&self, owner: &Username) {
        // Past its end by an access token's lifetime, nothing a session issued is accepted.
        let now = Timestamp::now().unix_seconds();
        let Ok(before) =
            Timestamp::from_unix_seconds(now.saturating_sub(self.tokens.default_ttl().as_secs()))
        else {
            return;
        };
        if let Err(error) = self.store.forget_expired_sessions(owner, before).await {
            tracing::warn!(user = %owner, %error, "could not drop expired sessions");
        }
    }

    /// An API token for `user` (`checkoff tokens issue`): a session of its own, so it can be
    /// listed and revoked.
    pub async fn issue_api_token(
        &self,
        user: &User,
        routes: Option<&RouteGrants>,
        ttl: Duration,
    ) -> ServiceResult<(Session, IssuedToken)> {
        let now = Timestamp::now();
        let session = Session {
            owner: user.username.clone(),
            id: Uuid::new_v4(),
            kind: SessionKind::Api,
            refresh_hash: None,
            routes: routes.map(RouteGrants::patterns),
            created_at: now,
            expires_at: now.plus(ttl),
            generation: 0,
            previous_hash: None,
        };
        self.store.create_session(&session).await?;
        let issued = self
            .tokens
            .issue(
                user.username.as_str(),
                &user.created_at,
                Some(session.id),
                routes,
                Some(ttl),
            )
            .map_err(ServiceError::Internal)?;
        Ok((session, issued))
    }

    /// Revokes the API token (or ends the session) with this id, whoever owns it.
    pub async fn revoke(&self, id: Uuid) -> ServiceResult<Option<Session>> {
        let Some(session) = self.store.find_session(id).await? else {
            return Ok(None);
        };
        self.end(&session.owner.clone(), std::slice::from_ref(&session))
            .await?;
        Ok(Some(session))
    }
}

/// Whether `session` still belongs to `user`'s account as it is now. A session outlives
/// nothing: not its account, not an account made later in its name, and a login not a password
/// change or a logout everywhere (a new login generation). API tokens are ended one by one.
fn holds(user: &User, session: &Session) -> bool {
    user.created_at <= session.created_at
        && (session.kind == SessionKind::Api
            || user.revoked.admits_login(&session.id, session.generation))
}

/// 32 random bytes, URL-safe base64.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    // The OS random source failing is not something a service can carry on from.
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hash_of(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn refresh_token(owner: &Username, id: Uuid, secret: &str) -> String {
    format!(
        "{}.{}.{secret}",
        URL_SAFE_NO_PAD.encode(owner.as_str()),
        id.simple()
    )
}

fn parse_refresh_token(token: &str) -> Option<(Username, Uuid, String)> {
    let mut parts = token.trim().split('.');
    let (owner, id, secret) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || secret.len() != 43 {
        return None;
    }
    let owner = String::from_utf8(URL_SAFE_NO_PAD.decode(owner).ok()?).ok()?;
    Some((
        Username::parse(&owner).ok()?,
        Uuid::try_parse(id).ok()?,
        secret.to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refresh_token_reads_back_what_it_was_made_of() {
        let owner = Username::parse("carol@example.com").unwrap();
        let id = Uuid::new_v4();
        let secret = new_secret();
        let token = refresh_token(&owner, id, &secret);
        assert_eq!(parse_refresh_token(&token), Some((owner, id, secret)));
    }

    #[test]
    fn malformed_refresh_tokens_are_refused() {
        let good = refresh_token(
            &Username::parse("a").unwrap(),
            Uuid::new_v4(),
            &new_secret(),
        );
        for bad in [
            "",
            "a.b.c",
            &format!("{good}.x"),
            &good[..good.len() - 1],
            &good.replacen('.', "!", 1),
        ] {
            assert!(parse_refresh_token(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn secrets_are_stored_as_hashes_that_differ_per_secret() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(hash_of(&a).len(), 64);
        assert_ne!(hash_of(&a), hash_of(&b));
        assert_eq!(hash_of(&a), hash_of(&a));
    }
}
