use std::fmt;

use super::Invalid;

/// Longest password we will hash: bounds the work a single request can ask of the hasher.
const MAX_BYTES: usize = 1024;

/// A new password that meets the policy: at least 10 characters with an upper-case letter, a
/// lower-case letter and a digit. `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 10;

    pub fn parse(raw: String) -> Result<Self, Invalid> {
        let mut missing = Vec::new();
        if raw.chars().count() < Self::MIN_CHARS {
            missing.push(format!("at least {} characters", Self::MIN_CHARS));
        }
        if !raw.chars().any(char::is_uppercase) {
            missing.push("an upper-case letter".to_owned());
        }
        if !raw.chars().any(char::is_lowercase) {
            missing.push("a lower-case letter".to_owned());
        }
        if !raw.chars().any(|c| c.is_ascii_digit()) {
            missing.push("a digit".to_owned());
        }
        if raw.len() > MAX_BYTES {
            return Err(Invalid::new(format!(
                "password must be at most {MAX_BYTES} bytes"
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
        if raw.len() > MAX_BYTES {
            return Err(Invalid::new(format!(
                "password must be at most {MAX_BYTES} bytes"
            )));
        }
        Ok(Self(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
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
        let long = format!("Aa1{}", "x".repeat(MAX_BYTES));
        assert!(Password::parse(long.clone()).is_err());
        assert!(LoginPassword::parse(long).is_err());
        assert!(LoginPassword::parse(String::new()).is_err());
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let password = Password::parse("Correct1Horse".into()).unwrap();
        assert!(!format!("{password:?}").contains("Horse"));
    }
}
