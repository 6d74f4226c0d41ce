//! Accounts: signing up, profiles, changing a password, deleting an account. Who may act on an
//! account is decided here, for the API and the command line alike.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::changes::ChangeFeed;
use super::error::{ServiceError, ServiceResult};
use super::sessions::Sessions;
use crate::auth::{Decision, Passwords};
use crate::domain::{Email, LoginPassword, Password, Timestamp, User, Username, Zone};
use crate::store::{Page, PageRequest, Store, StoreError};

const NO_SUCH_USER: ServiceError = ServiceError::NotFound("User not found");

/// How recent a login must be to stand in for the password, for an account that has none
/// (an outside identity provider's caller).
const FRESH_LOGIN: Duration = Duration::from_secs(10 * 60);

pub struct Accounts {
    store: Arc<dyn Store>,
    passwords: Arc<Passwords>,
    sessions: Arc<Sessions>,
    feed: Arc<ChangeFeed>,
}

/// Makes an account: the password hashed, the name checked free. The one way accounts are made,
/// by sign-up and by `checkoff users create`.
pub async fn create_account(
    store: &dyn Store,
    passwords: &Passwords,
    username: Username,
    password: &Password,
    email: Option<Email>,
    admin: bool,
) -> ServiceResult<User> {
    let hash = passwords
        .hash(password)
        .await
        .map_err(ServiceError::Internal)?;
    let user = User::new(username, hash, email, admin);
    store.create_user(&user).await.map_err(|e| match e {
        StoreError::AlreadyExists => ServiceError::Taken("Username is taken"),
        other => other.into(),
    })?;
    Ok(user)
}

impl Accounts {
    pub fn new(
        store: Arc<dyn Store>,
        passwords: Arc<Passwords>,
        sessions: Arc<Sessions>,
        feed: Arc<ChangeFeed>,
    ) -> Self {
        Self {
            store,
            passwords,
            sessions,
            feed,
        }
    }

    /// A new, ordinary account.
    pub async fn sign_up(
        &self,
        username: Username,
        password: &Password,
        email: Option<Email>,
    ) -> ServiceResult<User> {
        create_account(
            &*self.store,
            &self.passwords,
            username,
            password,
            email,
            false,
        )
        .await
    }

    /// `name`'s profile, for the caller if they may see it.
    pub async fn profile(&self, caller: &Decision, name: &Username) -> ServiceResult<User> {
        may_manage(caller, name)?;
        self.user(name).await
    }

    /// Sets (or clears) `name`'s time zone; the profile as it then is.
    pub async fn set_zone(
        &self,
        caller: &Decision,
        name: &Username,
        zone: Option<&Zone>,
    ) -> ServiceResult<User> {
        may_manage(caller, name)?;
        self.store
            .set_zone(name, zone)
            .await
            .map_err(no_such_user)?;
        self.user(name).await
    }

    /// The time zone of `name`'s views when a request names none: their profile's, else UTC.
    pub async fn zone_of(&self, name: &Username) -> ServiceResult<Zone> {
        let user = self.user(name).await?;
        Ok(user.zone.unwrap_or_else(Zone::utc))
    }

    /// Every account, by name: for administrators.
    pub async fn page(&self, caller: &Decision, page: &PageRequest) -> ServiceResult<Page<User>> {
        if !caller.admin {
            return Err(ServiceError::Forbidden);
        }
        Ok(self.store.list_users(page).await?)
    }

    /// Replaces `name`'s password. The owner proves the current one; an administrator changing
    /// someone else's does not. Whoever knew the old password is logged out in the same write
    /// as the new one (a failure leaves both as they were); the caller's own session goes on.
    pub async fn change_password(
        &self,
        caller: &Decision,
        name: &Username,
        new: &Password,
        current: Option<&LoginPassword>,
        session: Option<uuid::Uuid>,
        address: Option<IpAddr>,
    ) -> ServiceResult<()> {
        may_manage(caller, name)?;
        if !(caller.admin && caller.owner != *name) {
            let current = current.ok_or_else(|| {
                ServiceError::Invalid("current_password is required to change your password".into())
            })?;
            self.check_password(name, current, address).await?;
        }
        let hash = self
            .passwords
            .hash(new)
            .await
            .map_err(ServiceError::Internal)?;
        let keep = (caller.owner == *name).then_some(session).flatten();
        self.sessions
            .end_logins(name, Some(&hash), keep)
            .await
            .map_err(|e| match e {
                ServiceError::Store(StoreError::NotFound) => NO_SUCH_USER,
                other => other,
            })
    }

    /// Deletes `name`'s account with all its todos and sessions. The owner proves they are
    /// (a stolen token alone must not be enough to destroy an account); an administrator
    /// deleting someone else's does not.
    pub async fn delete(
        &self,
        caller: &Decision,
        name: &Username,
        current: Option<&LoginPassword>,
        address: Option<IpAddr>,
    ) -> ServiceResult<()> {
        may_manage(caller, name)?;
        if caller.owner == *name {
            self.confirm_owner(caller, name, current, address).await?;
        }
        self.store.delete_user(name).await.map_err(no_such_user)?;
        self.feed.sessions_ended(name);
        Ok(())
    }

    async fn user(&self, name: &Username) -> ServiceResult<User> {
        self.store.get_user(name).await?.ok_or(NO_SUCH_USER)
    }

    /// The caller proves they are `name`'s owner now, not only the holder of a token: their
    /// current password (throttled like a login), or, for an account without one, a login of
    /// the last few minutes (the identity provider's `auth_time`, else the token's `iat`).
    async fn confirm_owner(
        &self,
        caller: &Decision,
        name: &Username,
        current: Option<&LoginPassword>,
        address: Option<IpAddr>,
    ) -> ServiceResult<()> {
        let user = self.user(name).await?;
        if user.password_hash.is_empty() {
            let at =
                ["auth_time", "iat"]
                    .iter()
                    .find_map(|claim| match caller.context.get(*claim)? {
                        serde_json::Value::Number(n) => n.as_u64(),
                        serde_json::Value::String(s) => s.parse().ok(),
                        _ => None,
                    });
            let now = Timestamp::now().unix_seconds();
            return match at {
                Some(at) if now.saturating_sub(at) <= FRESH_LOGIN.as_secs() => Ok(()),
                _ => Err(ServiceError::Refused(
                    "Sign in again (within the last 10 minutes) to do this",
                )),
            };
        }
        // Refused rather than malformed: the request is well formed, the proof is missing.
        let current = current.ok_or(ServiceError::Refused(
            "Send your current_password to do this to your own account",
        ))?;
        self.check_password(name, current, address).await
    }

    /// `current` is `name`'s password, checked (and throttled) as a login's.
    async fn check_password(
        &self,
        name: &Username,
        current: &LoginPassword,
        address: Option<IpAddr>,
    ) -> ServiceResult<()> {
        match self
            .sessions
            .verify_password(name.as_str(), current, address)
            .await
        {
            Ok(_) => Ok(()),
            Err(ServiceError::InvalidCredentials) => {
                Err(ServiceError::Refused("The current password is not right"))
            }
            Err(e) => Err(e),
        }
    }
}

/// A write to an account that found none.
fn no_such_user(e: StoreError) -> ServiceError {
    match e {
        StoreError::NotFound => NO_SUCH_USER,
        other => other.into(),
    }
}

/// The caller may act on `name`'s account: it is theirs, or they are an administrator. Others
/// are refused alike whether the account exists or not.
pub fn may_manage(caller: &Decision, name: &Username) -> ServiceResult<()> {
    if caller.admin || caller.owner == *name {
        Ok(())
    } else {
        Err(ServiceError::Forbidden)
    }
}
