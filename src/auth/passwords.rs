//! Password hashing: Argon2id (PHC strings) for everything new; the original sample's
//! PBKDF2-HMAC-SHA256 records still verify and are flagged for rehashing. Hashing runs on threads
//! of its own at a lower CPU priority, one per core, so a login storm uses the CPU that requests
//! leave idle and cannot starve them of CPU or memory.

use std::cell::RefCell;
use std::sync::OnceLock;

use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use pbkdf2::Pbkdf2;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use super::hash_pool::HashPool;
use crate::domain::{Invalid, LoginPassword, Password};

/// One of OWASP's equally strong minimums for Argon2id (7 MiB, 5 passes, 1 lane). Of that list it
/// is the fastest here (14 ms against 21 ms for 19 MiB × 2, as the smaller block fits the caches)
/// and the lightest on memory per concurrent login.
const MEMORY_KIB: u32 = 7 * 1024;
const PASSES: u32 = 5;
const LANES: u32 = 1;

fn argon2() -> Argon2<'static> {
    let params =
        Params::new(MEMORY_KIB, PASSES, LANES, None).expect("constant parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The password is right; `rehash` when the stored hash is weaker than today's.
    Valid {
        rehash: bool,
    },
    Invalid,
}

/// The scheme of a stored hash and its cost parameters, with nothing secret in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordAlgorithm {
    pub algorithm: String,
    pub params: String,
}

impl PasswordAlgorithm {
    pub fn of(phc: &str) -> Result<Self, Invalid> {
        let hash = PasswordHash::new(phc).map_err(|e| Invalid(format!("unreadable hash: {e}")))?;
        Ok(Self {
            algorithm: hash.algorithm.to_string(),
            params: hash.params.to_string(),
        })
    }
}

pub struct Passwords {
    pool: HashPool,
    /// Bounds the work queued for the pool: other logins wait here, holding no thread.
    permits: Semaphore,
}

impl Default for Passwords {
    fn default() -> Self {
        Self::new()
    }
}

impl Passwords {
    pub fn new() -> Self {
        // One hashing thread per core, each holding its 7 MiB: they run below the request
        // threads' priority, so they only take CPU that requests leave idle.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            pool: HashPool::start(cores),
            permits: Semaphore::new(cores),
        }
    }

    /// An Argon2id PHC string for a new password.
    pub async fn hash(&self, password: &Password) -> Result<String, String> {
        let password = password.expose().to_owned();
        self.blocking(move || hash_now(&password)).await?
    }

    /// An Argon2id PHC string for a password that just verified against an outdated hash
    /// (which may predate the policy).
    pub async fn rehash(&self, password: &LoginPassword) -> Result<String, String> {
        let password = password.expose().to_owned();
        self.blocking(move || hash_now(&password)).await?
    }

    /// Checks `password` against `stored`; with no stored hash (an unknown user) it does the same
    /// work against a dummy hash, so the answer takes as long either way.
    pub async fn verify(&self, stored: Option<String>, password: &LoginPassword) -> Verdict {
        let password = password.expose().to_owned();
        self.blocking(move || verify_now(stored.as_deref(), &password))
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "password verification failed to run");
                Verdict::Invalid
            })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, String> {
        let _permit = self.permits.acquire().await.map_err(|e| e.to_string())?;
        self.pool.run(work).await
    }
}

/// Bytes of the derived key in our PHC strings (Argon2's default).
const OUTPUT_BYTES: usize = 32;

/// Argon2id with today's parameters into `out`, in this thread's own 7 MiB of working memory:
/// allocated once per hashing thread and reused, so logins neither churn the allocator nor
/// raise the peak memory above one block per thread.
fn derive(password: &[u8], salt: &[u8]) -> Result<[u8; OUTPUT_BYTES], String> {
    thread_local! {
        static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
    }
    MEMORY.with_borrow_mut(|blocks| {
        blocks.resize(MEMORY_KIB as usize, Block::default());
        let mut out = [0u8; OUTPUT_BYTES];
        argon2()
            .hash_password_into_with_memory(password, salt, &mut out, &mut blocks[..])
            .map_err(|e| format!("cannot hash a password: {e}"))?;
        Ok(out)
    })
}

fn hash_now(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("no randomness from the OS: {e}"))?;
    let derived = derive(password.as_bytes(), &salt)?;
    Ok(format!(
        "$argon2id$v=19$m={MEMORY_KIB},t={PASSES},p={LANES}${}${}",
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(derived)
    ))
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_now("not the password of anyone").unwrap_or_default())
}

/// Checks a hash made with today's parameters in the thread's reused memory; `None` for any other
/// hash, which the general verifiers handle.
fn verify_current(hash: &PasswordHash<'_>, password: &str) -> Option<bool> {
    if is_outdated(hash) {
        return None;
    }
    let mut salt = [0u8; 64];
    let salt = hash.salt?.decode_b64(&mut salt).ok()?;
    let expected = hash.hash?;
    let derived = derive(password.as_bytes(), salt).ok()?;
    Some(bool::from(expected.as_bytes().ct_eq(&derived)))
}

fn verify_now(stored: Option<&str>, password: &str) -> Verdict {
    let Some(stored) = stored else {
        if let Ok(dummy) = PasswordHash::new(dummy_hash()) {
            let _ = verify_current(&dummy, password);
        }
        return Verdict::Invalid;
    };
    let hash = match PasswordHash::new(stored) {
        Ok(hash) => hash,
        Err(e) => {
            tracing::error!(error = %e, "a stored password hash is unreadable");
            return Verdict::Invalid;
        }
    };
    if let Some(matches) = verify_current(&hash, password) {
        return if matches {
            Verdict::Valid { rehash: false }
        } else {
            Verdict::Invalid
        };
    }
    // Older hashes: each verifier recomputes with the parameters stored in the hash and compares
    // in constant time; one that does not know the hash's algorithm declines.
    match hash.verify_password(&[&Argon2::default(), &Pbkdf2], password) {
        Ok(()) => Verdict::Valid {
            rehash: is_outdated(&hash),
        },
        Err(_) => Verdict::Invalid,
    }
}

fn is_outdated(hash: &PasswordHash<'_>) -> bool {
    hash.algorithm != Algorithm::Argon2id.ident()
        || Params::try_from(hash).map_or(true, |p| {
            (p.m_cost(), p.t_cost(), p.p_cost()) != (MEMORY_KIB, PASSES, LANES)
        })
}

/// The PHC form of a record from the original sample's users table (hash name, salt, rounds and
/// derived key), which `Passwords::verify` accepts.
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
    use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};

    use super::*;

    fn login(text: &str) -> LoginPassword {
        LoginPassword::parse(text.into()).unwrap()
    }

    #[tokio::test]
    async fn a_new_hash_is_argon2id_and_verifies() {
        let passwords = Passwords::new();
        let hash = passwords
            .hash(&Password::parse("Correct1Horse".into()).unwrap())
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{hash}");
        let good = passwords
            .verify(Some(hash.clone()), &login("Correct1Horse"))
            .await;
        assert_eq!(good, Verdict::Valid { rehash: false });
        let bad = passwords.verify(Some(hash), &login("Correct1Horsf")).await;
        assert_eq!(bad, Verdict::Invalid);
    }

    #[tokio::test]
    async fn a_hash_with_older_argon2_parameters_verifies_and_asks_for_a_rehash() {
        let old = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(19456, 2, 1, None).unwrap(),
        );
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let phc = old
            .hash_password(b"Correct1Horse", &salt)
            .unwrap()
            .to_string();
        let verdict = Passwords::new()
            .verify(Some(phc), &login("Correct1Horse"))
            .await;
        assert_eq!(verdict, Verdict::Valid { rehash: true });
    }

    #[tokio::test]
    async fn our_hashes_are_standard_phc_strings() {
        let hash = Passwords::new()
            .hash(&Password::parse("Correct1Horse".into()).unwrap())
            .await
            .unwrap();
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"Correct1Horse", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"Correct1Horsf", &parsed)
                .is_err()
        );
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies() {
        assert_eq!(
            Passwords::new().verify(None, &login("anything")).await,
            Verdict::Invalid
        );
    }

    #[tokio::test]
    async fn original_pbkdf2_records_verify_and_ask_for_a_rehash() {
        let salt = b"0123456789abcdef0123456789abcdef";
        let mut derived = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"mypassword", salt, 1000, &mut derived);
        let phc = legacy_pbkdf2_phc("sha256", salt, 1000, &derived).unwrap();
        let passwords = Passwords::new();
        let verdict = passwords
            .verify(Some(phc.clone()), &login("mypassword"))
            .await;
        assert_eq!(verdict, Verdict::Valid { rehash: true });
        assert_eq!(
            passwords.verify(Some(phc), &login("notmypassword")).await,
            Verdict::Invalid
        );
    }

    #[test]
    fn the_algorithm_summary_shows_no_secret() {
        let phc = legacy_pbkdf2_phc("sha256", b"saltsaltsalt", 100_000, &[7; 32]).unwrap();
        let summary = PasswordAlgorithm::of(&phc).unwrap();
        assert_eq!(summary.algorithm, "pbkdf2-sha256");
        assert_eq!(summary.params, "i=100000,l=32");
    }

    #[test]
    fn unknown_pbkdf2_hash_names_are_refused() {
        assert!(legacy_pbkdf2_phc("md5", b"saltsalt", 1, &[1; 32]).is_err());
    }
}
