use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use pbkdf2::password_hash::PasswordHash;

use super::Invalid;

/// Longest password we will hash: bounds the work a single request can ask of the hasher.
const MAX_CHARS: usize = 1024;

/// A new password that meets the policy: 10–1,024 characters with an upper-case letter (A–Z), a
/// lower-case letter (a–z) and a digit. `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 10;
    /// [`Password::parse`] as a regular expression.
    pub const PATTERN: &str = r"^(?=[\s\S]*[A-Z])(?=[\s\S]*[a-z])(?=[\s\S]*[0-9])[\s\S]{10,1024}$";

    /// The schema of a new password in the OpenAPI document.
    pub fn schema() -> utoipa::openapi::Object {
        let mut schema = super::text_schema(
            "10–1,024 characters with an upper-case letter (A–Z), a lower-case letter (a–z) \
             and a digit.",
            Self::PATTERN,
            Some(MAX_CHARS),
        );
        schema.min_length = Some(Self::MIN_CHARS);
        schema.format = Some(password_format());
        schema
    }

    pub fn parse(raw: String) -> Result<Self, Invalid> {
        let mut missing = Vec::new();
        if raw.chars().count() < Self::MIN_CHARS {
            missing.push(format!("at least {} characters", Self::MIN_CHARS));
        }
        if !raw.chars().any(|c| c.is_ascii_uppercase()) {
            missing.push("an upper-case letter (A–Z)".to_owned());
        }
        if !raw.chars().any(|c| c.is_ascii_lowercase()) {
            missing.push("a lower-case letter (a–z)".to_owned());
        }
        if !raw.chars().any(|c| c.is_ascii_digit()) {
            missing.push("a digit".to_owned());
        }
        if raw.chars().count() > MAX_CHARS {
            return Err(Invalid::new(format!(
                "password must be at most {MAX_CHARS} characters"
            )));
        }
        if !missing.is_empty() {
            return Err(Invalid::new(format!(
                "password needs {}",
                missing.join(", ")
            )));
        }
        Ok(Self(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A password offered at login: any non-empty text up to the hashing bound, no policy (old
/// accounts predate it).
#[derive(Clone, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct LoginPassword(String);

impl LoginPassword {
    pub fn parse(raw: String) -> Result<Self, Invalid> {
        if raw.is_empty() {
            return Err(Invalid::new("password must not be empty"));
        }
        if raw.chars().count() > MAX_CHARS {
            return Err(Invalid::new(format!(
                "password must be at most {MAX_CHARS} characters"
            )));
        }
        Ok(Self(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl LoginPassword {
    /// The schema of a password offered at login in the OpenAPI document.
    pub fn schema() -> utoipa::openapi::Object {
        let mut schema = utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_CHARS))
            .build();
        schema.format = Some(password_format());
        schema
    }
}

fn password_format() -> utoipa::openapi::SchemaFormat {
    utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Password)
}

impl TryFrom<String> for LoginPassword {
    type Error = Invalid;
    fn try_from(raw: String) -> Result<Self, Invalid> {
        Self::parse(raw)
    }
}

impl From<Password> for LoginPassword {
    fn from(password: Password) -> Self {
        Self(password.0)
    }
}

impl fmt::Debug for LoginPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LoginPassword(***)")
    }
}

/// The PHC form of a record from the original sample's users table (hash name, salt, rounds and
/// derived key), which `auth::Passwords::verify` accepts.
pub fn legacy_pbkdf2_phc(
    hash_name: &str,
    salt: &[u8],
    rounds: u32,
    derived: &[u8],
) -> Result<String, Invalid> {
    let algorithm = match hash_name {
        "sha256" => "pbkdf2-sha256",
        "sha512" => "pbkdf2-sha512",
        other => return Err(Invalid(format!("unsupported PBKDF2 hash {other:?}"))),
    };
    let phc = format!(
        "${algorithm}$i={rounds},l={}${}${}",
        derived.len(),
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(derived)
    );
    PasswordHash::new(&phc).map_err(|e| Invalid(format!("unusable PBKDF2 record: {e}")))?;
    Ok(phc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_accepts_a_long_mixed_password() {
        assert!(Password::parse("Correct1Horse".into()).is_ok());
    }

    #[test]
    fn policy_names_everything_that_is_missing() {
        let err = Password::parse("short".into()).unwrap_err().0;
        assert!(err.contains("at least 10 characters"), "{err}");
        assert!(err.contains("upper-case"), "{err}");
        assert!(err.contains("digit"), "{err}");
        assert!(!err.contains("lower-case"), "{err}");
    }

    #[test]
    fn passwords_past_the_hashing_bound_are_refused() {
        let long = format!("Aa1{}", "x".repeat(MAX_CHARS));
        assert!(Password::parse(long.clone()).is_err());
        assert!(LoginPassword::parse(long).is_err());
        assert!(LoginPassword::parse(String::new()).is_err());
        // Characters are counted, not bytes: what the document's maxLength says.
        let wide = format!("Aa1{}", "é".repeat(MAX_CHARS - 3));
        assert!(Password::parse(wide.clone()).is_ok());
        assert!(LoginPassword::parse(wide).is_ok());
    }

    #[test]
    fn the_letters_the_policy_asks_for_are_ascii_as_the_document_says() {
        assert!(Password::parse("ÄÖÜäöü1234".into()).is_err());
        assert!(Password::parse("ÄÖÜäöü1234Aa".into()).is_ok());
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let password = Password::parse("Correct1Horse".into()).unwrap();
        assert!(!format!("{password:?}").contains("Horse"));
    }

    #[test]
    fn unknown_pbkdf2_hash_names_are_refused() {
        assert!(legacy_pbkdf2_phc("md5", b"saltsalt", 1, &[1; 32]).is_err());
    }
}
