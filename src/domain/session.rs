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

impl serde::Serialize for SessionKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
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
    /// The owner's login generation when the login read the password it checked (see
    /// [`Revocations::admits_login`]); 0 for API tokens, which a new generation leaves alone.
    pub generation: u64,
    /// The refresh hash the last renewal replaced: presented again, it is a stolen copy.
    pub previous_hash: Option<String>,
}

/// Sessions that were ended while access tokens issued for them may still be unexpired, each
/// with the time its last token expires; and the login generation. Kept on the profile, which the
/// authorizer reads (and caches) anyway: checking a token against it costs no store request.
///
/// Ending every login of an account at once (a password change, logging out everywhere) moves
/// the generation on in the same write of the profile that changes the password: a login
/// session of an earlier generation is over, however many there are, and a login that checked
/// the old password while the change was made opens a session of the old generation, which is
/// over too. Only the session the change was made from (`kept`) goes on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revocations {
    ended: Vec<(Uuid, u64)>,
    generation: u64,
    kept: Option<Uuid>,
}

impl Revocations {
    /// From `(session id, until)` pairs, `until` in Unix seconds.
    pub fn new(entries: impl IntoIterator<Item = (Uuid, u64)>) -> Self {
        Self {
            ended: entries.into_iter().collect(),
            ..Self::default()
        }
    }

    /// With the login generation and the session that outlived the last change of it.
    pub fn with_generation(mut self, generation: u64, kept: Option<Uuid>) -> Self {
        self.generation = generation;
        self.kept = kept;
        self
    }

    /// Whether a token of session `id` is refused at `now` (Unix seconds).
    pub fn revokes(&self, id: &Uuid, now: u64) -> bool {
        self.ended.iter().any(|(i, until)| i == id && *until >= now)
    }

    /// Whether login session `id`, opened at `generation`, still counts.
    pub fn admits_login(&self, id: &Uuid, generation: u64) -> bool {
        generation == self.generation || self.kept == Some(*id)
    }

    pub fn entries(&self) -> &[(Uuid, u64)] {
        &self.ended
    }

    /// The generation new logins are opened at.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn kept(&self) -> Option<Uuid> {
        self.kept
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
    fn a_new_generation_ends_every_earlier_login_but_the_kept_one() {
        let (old, kept, new) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let profile = Revocations::default().with_generation(3, Some(kept));
        assert!(!profile.admits_login(&old, 2));
        assert!(profile.admits_login(&kept, 2));
        assert!(profile.admits_login(&new, 3));
        assert!(
            !profile.admits_login(&old, 4),
            "a generation is never guessed ahead"
        );
    }

    #[test]
    fn kinds_read_as_they_print() {
        for kind in [SessionKind::Login, SessionKind::Api] {
            assert_eq!(kind.as_str().parse::<SessionKind>().unwrap(), kind);
        }
        assert!("web".parse::<SessionKind>().is_err());
    }
}
