//! The HS256 signing secret: `jwt.key` in the data dir (base64 of 32 random bytes, mode 0600),
//! made once and reused, unless `CHECKOFF_JWT_SECRET` gives one.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

pub const KEY_FILE: &str = "jwt.key";
const KEY_BYTES: usize = 32;

#[derive(Clone)]
pub struct JwtSecret(Vec<u8>);

impl JwtSecret {
    /// A secret given as base64 text (the form of `jwt.key` and of `CHECKOFF_JWT_SECRET`).
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|e| format!("the JWT secret is not valid base64: {e}"))?;
        if bytes.len() < KEY_BYTES {
            return Err(format!("the JWT secret must be at least {KEY_BYTES} bytes"));
        }
        Ok(Self(bytes))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtSecret(***)")
    }
}

/// Reads `jwt.key` from `data_dir`, making it first if it is not there.
pub fn load_or_create_secret(data_dir: &Path) -> Result<JwtSecret, String> {
    let path = data_dir.join(KEY_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => {
            return JwtSecret::from_base64(&text).map_err(|e| format!("{}: {e}", path.display()));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    crate::files::create_private_dir(data_dir)
        .map_err(|e| format!("cannot create data dir {}: {e}", data_dir.display()))?;
    let mut bytes = [0u8; KEY_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness from the OS: {e}"))?;
    let text = STANDARD.encode(bytes);

    // Written aside and linked into place, so two processes starting together agree on one key
    // and nobody ever reads a half-written file.
    let temp = data_dir.join(format!(".{KEY_FILE}.{}", std::process::id()));
    let written = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::hard_link(&temp, &path)
    })();
    let _ = fs::remove_file(&temp);
    match written {
        Ok(()) => Ok(JwtSecret(bytes.to_vec())),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => load_or_create_secret(data_dir),
        Err(e) => Err(format!("cannot write {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_key_is_made_once_private_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_secret(dir.path()).unwrap();
        let mode = fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = load_or_create_secret(dir.path()).unwrap();
        assert_eq!(first.bytes(), again.bytes());
        assert_eq!(first.bytes().len(), KEY_BYTES);
    }

    #[test]
    fn short_or_garbled_secrets_are_refused() {
        assert!(JwtSecret::from_base64("c2hvcnQ=").is_err());
        assert!(JwtSecret::from_base64("not base64!").is_err());
    }
}
