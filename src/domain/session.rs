//! Sessions: what a login (or an API token) opens, so that it can be ended before it expires.

use std::fmt;

use uuid::Uuid;

use super::{Invalid, Timestamp, Username};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// From `POST /login`: short access tokens, renewed with a rotating refresh token.
    Login,
    /// From `checkoff tokens issue`: one long-lived, possibly route-scoped, access token.
    Api,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Api => "api",
        }
    }
}

impl std::str::FromStr for SessionKind {
    type Err = Invalid;
    fn from_str(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "login" => Ok(Self::Login),
            "api" => Ok(Self::Api),
            other => Err(Invalid(format!("{other:?} is not a session kind"))),
        }
    }
}

impl fmt::Display for SessionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub owner: Username,
    pub id: Uuid,
    pub kind: SessionKind,
    /// Hex SHA-256 of the refresh secret that may be presented next (login sessions only). The
    /// secret itself is never stored.
    pub refresh_hash: Option<String>,
    /// The route patterns an API token is limited to; `None` is every route.
    pub routes: Option<Vec<String>>,
    pub created_at: Timestamp,
    /// After this the session cannot be renewed (login) or its token used (API).
    pub expires_at: Timestamp,
}

/// Sessions that were ended while access tokens issued for them may still be unexpired, each
/// with the time its last token expires. Kept on the profile, which the authorizer reads (and
/// caches) anyway: checking a token against it costs no store request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revocations(Vec<(Uuid, u64)>);

impl Revocations {
    /// From `(session id, until)` pairs, `until` in Unix seconds.
    pub fn new(entries: impl IntoIterator<Item = (Uuid, u64)>) -> Self {
        Self(entries.into_iter().collect())
    }

    /// Whether a token of session `id` is refused at `now` (Unix seconds).
    pub fn revokes(&self, id: &Uuid, now: u64) -> bool {
        self.0.iter().any(|(i, until)| i == id && *until >= now)
    }

    pub fn entries(&self) -> &[(Uuid, u64)] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revocation_holds_until_its_last_token_expires() {
        let id = Uuid::new_v4();
        let revoked = Revocations::new([(id, 100)]);
        assert!(revoked.revokes(&id, 99));
        assert!(revoked.revokes(&id, 100));
        assert!(!revoked.revokes(&id, 101));
        assert!(!revoked.revokes(&Uuid::new_v4(), 50));
    }

    #[test]
    fn kinds_read_as_they_print() {
        for kind in [SessionKind::Login, SessionKind::Api] {
            assert_eq!(kind.as_str().parse::<SessionKind>().unwrap(), kind);
        }
        assert!("web".parse::<SessionKind>().is_err());
    }
}
