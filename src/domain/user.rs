use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Invalid, Revocations, Timestamp, Zone};

/// A login name: 1–64 characters of letters, digits and `.`, `_`, `-`, `@`, `+`, starting with a
/// letter or digit. The set leaves out `#`, which the DynamoDB key layout uses as a separator.
/// `:` is allowed only in the names checkoff gives callers that API Gateway's authorizers vouch
/// for (`cognito:…`, `iam:…`, see [`Username::external`]): an account with a password can never
/// be named like one, so it can never take over such a caller's data.
///
/// Shared, not copied: every request's decision, kept answer and cache key names its owner.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct Username(Arc<str>);

impl Serialize for Username {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl Username {
    pub const MAX_LEN: usize = 64;
    /// [`Username::parse`] as a regular expression.
    pub const PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9._@+:-]{0,63}$";
    /// [`Username::parse_account`] as a regular expression.
    pub const ACCOUNT_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$";

    /// The schema of an account's name in the OpenAPI document.
    pub fn account_schema() -> utoipa::openapi::Object {
        super::text_schema(
            "1–64 letters, digits and `. _ - @ +`, starting with a letter or digit.",
            Self::ACCOUNT_PATTERN,
            Some(Self::MAX_LEN),
        )
    }

    /// The schema of a name in a path: an account's, or a caller's that an outside authorizer
    /// vouched for (`cognito:…`).
    pub fn schema() -> utoipa::openapi::Object {
        super::text_schema(
            "1–64 letters, digits and `. _ - @ + :`, starting with a letter or digit.",
            Self::PATTERN,
            Some(Self::MAX_LEN),
        )
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let allowed =
            |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+' | ':');
        match raw.chars().next() {
            None => Err(Invalid::new("username must not be empty")),
            Some(_) if raw.len() > Self::MAX_LEN => Err(Invalid::new(format!(
                "username must be at most {} characters",
                Self::MAX_LEN
            ))),
            Some(first) if !first.is_ascii_alphanumeric() => {
                Err(Invalid::new("username must start with a letter or a digit"))
            }
            Some(_) if !raw.chars().all(allowed) => Err(Invalid::new(
                "username may contain only letters, digits and . _ - @ +",
            )),
            Some(_) => Ok(Self(raw.into())),
        }
    }

    /// The name of a new account that signs in with a password: as [`Username::parse`], without
    /// the `:` of the names of outside callers.
    pub fn parse_account(raw: &str) -> Result<Self, Invalid> {
        if raw.contains(':') {
            return Err(Invalid::new(
                "username may contain only letters, digits and . _ - @ +",
            ));
        }
        Self::parse(raw)
    }

    /// The name under which a caller vouched for by an outside authorizer keeps its data: the
    /// authorizer's kind, `:`, and the principal, or a digest of it (40 hex digits) when the
    /// principal is too long or has characters a name cannot have, such as an ARN's `/`.
    ///
    /// A principal that is itself 40 hex digits is digested too: the readable form and the
    /// digest form never meet, so no caller can choose a claim that lands on another's data.
    pub fn external(kind: &str, principal: &str) -> Self {
        let readable = format!("{kind}:{principal}");
        match Self::parse(&readable) {
            Ok(name) if !is_digest(principal) => name,
            _ => {
                use sha2::{Digest, Sha256};
                let digest = Sha256::digest(principal.as_bytes());
                let hex: String = digest[..DIGEST_BYTES]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                Self(format!("{kind}:{hex}").into())
            }
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name, shared rather than copied.
    pub fn shared(&self) -> Arc<str> {
        Arc::clone(&self.0)
    }
}

impl TryFrom<String> for Username {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The bytes of an outside principal's digest in its owner name (40 hex digits).
const DIGEST_BYTES: usize = 20;

/// Whether `text` has the shape of the digest [`Username::external`] writes (any case: a
/// claim in capitals must not land beside the digest either, should names ever fold case).
fn is_digest(text: &str) -> bool {
    text.len() == DIGEST_BYTES * 2 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// An e-mail address, checked only for shape: delivery is the only real proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct Email(String);

impl Email {
    pub const MAX_CHARS: usize = 254;
    /// [`Email::parse`] as a regular expression.
    pub const PATTERN: &str = concat!(
        "^[^@",
        whitespace!(),
        control!(),
        "]+@[^@",
        whitespace!(),
        control!(),
        r"]*\.[^@",
        whitespace!(),
        control!(),
        "]*$"
    );

    /// One `@` after a non-empty name, a dot after it, no space or control character, at most
    /// 254 characters.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let shaped = matches!(raw.split_once('@'), Some((local, domain))
            if !local.is_empty() && domain.contains('.') && !domain.contains('@'));
        let odd = |c: char| c.is_whitespace() || c.is_control();
        if raw.chars().count() > Self::MAX_CHARS || !shaped || raw.chars().any(odd) {
            return Err(Invalid::new("email must look like name@example.com"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The schema of an address in the OpenAPI document.
    pub fn schema() -> utoipa::openapi::Object {
        super::text_schema(
            "An address such as name@example.com: one `@`, a dot after it, no spaces.",
            Self::PATTERN,
            Some(Self::MAX_CHARS),
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> String {
        email.0
    }
}

/// A stored account. `password_hash` is a PHC string (`$argon2id$…` or the original sample's
/// PBKDF2 record as `$pbkdf2-sha256$…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub username: Username,
    pub password_hash: String,
    pub email: Option<Email>,
    pub admin: bool,
    pub created_at: Timestamp,
    /// Sessions ended whose access tokens have not all expired yet.
    pub revoked: Revocations,
    /// What the account holds, kept by the store as todos come and go.
    pub usage: Usage,
    /// The person's time zone: what views and date bounds use when a request names none.
    pub zone: Option<Zone>,
}

/// What an account holds: the todos and their [`super::Todo::stored_bytes`]. The store keeps it
/// on the profile, which the authorizer reads anyway, so the per-account limits cost no
/// request of their own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub todos: u64,
    pub bytes: u64,
}

impl User {
    /// A new account made now.
    pub fn new(
        username: Username,
        password_hash: String,
        email: Option<Email>,
        admin: bool,
    ) -> Self {
        Self {
            username,
            password_hash,
            email,
            admin,
            created_at: Timestamp::now(),
            revoked: Revocations::default(),
            usage: Usage::default(),
            zone: None,
        }
    }

    /// The profile of a caller whom API Gateway's authorizer vouched for: it has no password,
    /// so it cannot log in with one.
    pub fn external(username: Username) -> Self {
        Self::new(username, String::new(), None, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_documented_alphabet() {
        for ok in [
            "alice",
            "a",
            "bob.smith",
            "x_y-z",
            "me@example.com",
            "a+b",
            "9lives",
        ] {
            assert!(Username::parse(ok).is_ok(), "{ok} should be accepted");
        }
        for bad in ["", "-alice", ".a", "al ice", "USER#x", "é", "a/b"] {
            assert!(Username::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Username::parse("cognito:carol").is_ok());
        assert!(Username::parse_account("cognito:carol").is_err());
        assert!(Username::parse_account("carol").is_ok());
        assert!(Username::parse(&"a".repeat(64)).is_ok());
        assert!(Username::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn outside_callers_are_named_by_kind_and_never_like_an_account() {
        assert_eq!(
            Username::external("cognito", "carol").as_str(),
            "cognito:carol"
        );
        let arn = Username::external("iam", "arn:aws:iam::123456789012:user/alice");
        assert!(
            arn.as_str().starts_with("iam:") && arn.as_str().len() == 44,
            "{arn}"
        );
        assert_eq!(
            arn,
            Username::external("iam", "arn:aws:iam::123456789012:user/alice")
        );
        assert_ne!(
            arn,
            Username::external("iam", "arn:aws:iam::123456789012:user/alicf")
        );
        assert!(Username::parse_account(Username::external("custom", "x").as_str()).is_err());
        // A claim shaped like a digest cannot take over the data of the principal it digests.
        let arn = "arn:aws:iam::123456789012:user/alice";
        let digested = Username::external("custom", arn);
        let hex = digested.as_str().strip_prefix("custom:").unwrap();
        assert_ne!(Username::external("custom", hex), digested);
        assert_ne!(Username::external("custom", &hex.to_uppercase()), digested);
        assert!(
            Username::external("custom", hex)
                .as_str()
                .starts_with("custom:")
        );
        let long = "a".repeat(64);
        assert!(Username::external("cognito", &long).as_str().len() <= Username::MAX_LEN);
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert_eq!(Email::parse("a@b.co").unwrap().as_str(), "a@b.co");
        for bad in [
            "", "a", "@b.co", "a@b", "a@@b.co", "a b@c.de", " a@b.co", "a@b.co\n",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
