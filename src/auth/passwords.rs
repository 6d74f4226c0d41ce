//! Password hashing: Argon2id (PHC strings) for everything new; the original sample's
//! PBKDF2-HMAC-SHA256 records still verify and are flagged for rehashing.
//!
//! One Argon2id hash at a time per two cores, its two lanes computed in parallel on threads of
//! their own at a lower CPU priority: a login storm uses the CPU that requests leave idle, and
//! the working memory stays at one 7 MiB block per pair of cores whatever the load.

use std::cell::RefCell;
use std::sync::OnceLock;

use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use pbkdf2::Pbkdf2;
use pbkdf2::password_hash::{PasswordHash, PasswordVerifier};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use super::hash_pool::{self, HashPool};
use crate::domain::{Invalid, LoginPassword, Password};

/// OWASP's minimum for Argon2id with the least memory (7 MiB, 5 passes), in two lanes: the same
/// memory and work per guess as OWASP's one lane, but two cores share one login, which then
/// takes two thirds of the time without a second 7 MiB (measured: 9.6 ms against 14.8 ms).
const MEMORY_KIB: u32 = 7 * 1024;
const PASSES: u32 = 5;
const LANES: u32 = 2;

/// Stored hashes asking for more than this are refused rather than computed.
const MAX_MEMORY_KIB: u32 = 256 * 1024;
const MAX_PASSES: u32 = 64;

/// Bytes of the derived key in our PHC strings (Argon2's default).
const OUTPUT_BYTES: usize = 32;

fn current_params() -> Params {
    Params::new(MEMORY_KIB, PASSES, LANES, Some(OUTPUT_BYTES))
        .expect("constant parameters are valid")
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
        // Each hash keeps LANES cores busy; more hashes at once would only add memory.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let hashes = (cores / LANES as usize).max(1);
        Self {
            pool: HashPool::start(hashes, give_back_memory),
            permits: Semaphore::new(hashes),
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
        // Dropped after the permit: the next caller, holding its own, is expected by then.
        let _expected = self.pool.expect();
        let _permit = self.permits.acquire().await.map_err(|e| e.to_string())?;
        self.pool.run(work).await
    }
}

thread_local! {
    /// This hashing thread's working memory for today's parameters.
    static MEMORY: RefCell<Option<Mapped>> = const { RefCell::new(None) };
}

/// Argon2id with `params` into `out`. Today's parameters use this thread's own 7 MiB of working
/// memory, mapped at its first hash and reused through a burst of logins, so they neither churn
/// the allocator nor raise the peak; an older hash's parameters get memory of their own for the
/// one call.
fn derive(params: Params, password: &[u8], salt: &[u8], out: &mut [u8]) -> Result<(), String> {
    let blocks = params.block_count();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut run = |memory: &mut [Block]| {
        hash_pool::lanes()?
            .install(|| argon2.hash_password_into_with_memory(password, salt, out, memory))
            .map_err(|e| format!("cannot hash a password: {e}"))
    };
    if blocks != current_params().block_count() {
        return run(&mut vec![Block::default(); blocks]);
    }
    MEMORY.with_borrow_mut(|kept| {
        let memory = match kept {
            Some(memory) => memory,
            None => kept.insert(Mapped::new(blocks)?),
        };
        run(memory.blocks())
    })
}

/// Between bursts of logins a hashing thread holds no working memory: 7 MiB kept for the next
/// login of the day was a fifth of the server's resident memory. The next hash maps it again
/// (~1 ms of page faults against its ~10 ms).
fn give_back_memory() {
    MEMORY.with_borrow_mut(|kept| *kept = None);
}

/// Argon2's working memory, mapped straight from the OS: unmapped, it is back with the OS at
/// once, where an allocator would keep a large freed block a while for reuse.
struct Mapped {
    start: std::ptr::NonNull<Block>,
    blocks: usize,
}

impl Mapped {
    fn new(blocks: usize) -> Result<Self, String> {
        let bytes = blocks * size_of::<Block>();
        // SAFETY: a new private anonymous mapping, touching no memory of ours.
        let start = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        match std::ptr::NonNull::new(start.cast::<Block>()) {
            Some(start) if start.as_ptr().cast() != libc::MAP_FAILED => Ok(Self { start, blocks }),
            _ => Err(format!(
                "cannot map {bytes} bytes for hashing: {}",
                std::io::Error::last_os_error()
            )),
        }
    }

    fn blocks(&mut self) -> &mut [Block] {
        // SAFETY: the mapping is `blocks` blocks long, page-aligned (more than a block's 64
        // bytes), zero-filled by the OS (a valid `Block`: any bits are), and borrowed mutably
        // through `self` alone.
        unsafe { std::slice::from_raw_parts_mut(self.start.as_ptr(), self.blocks) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`, which nothing borrows any more.
        unsafe {
            libc::munmap(self.start.as_ptr().cast(), self.blocks * size_of::<Block>());
        }
    }
}

fn hash_now(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("no randomness from the OS: {e}"))?;
    let mut derived = [0u8; OUTPUT_BYTES];
    derive(current_params(), password.as_bytes(), &salt, &mut derived)?;
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

/// The parameters of an Argon2id v1.3 hash (ours, today's or older); `None` for anything else.
fn argon2id_params(hash: &PasswordHash<'_>) -> Option<Params> {
    if hash.algorithm.as_str() != "argon2id" || hash.version.is_some_and(|v| v != 0x13) {
        return None;
    }
    let cost = |name: &str| hash.params.get_decimal(name);
    let memory = cost("m").filter(|m| *m <= MAX_MEMORY_KIB)?;
    let passes = cost("t").filter(|t| *t <= MAX_PASSES)?;
    Params::new(memory, passes, cost("p")?, Some(hash.hash?.len())).ok()
}

/// Recomputes an Argon2id hash with its own parameters and compares in constant time.
fn verify_argon2id(hash: &PasswordHash<'_>, params: Params, password: &str) -> bool {
    let mut salt = [0u8; 64];
    let (Some(salt), Some(expected)) = (
        hash.salt.and_then(|s| s.decode_b64(&mut salt).ok()),
        hash.hash,
    ) else {
        return false;
    };
    let mut derived = vec![0u8; expected.len()];
    derive(params, password.as_bytes(), salt, &mut derived).is_ok()
        && bool::from(expected.as_bytes().ct_eq(&derived))
}

fn verify_now(stored: Option<&str>, password: &str) -> Verdict {
    // An empty hash is an account that signs in only through API Gateway: no password opens it.
    let Some(stored) = stored.filter(|s| !s.is_empty()) else {
        if let Ok(dummy) = PasswordHash::new(dummy_hash()) {
            let _ = verify_argon2id(&dummy, current_params(), password);
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
    let params = argon2id_params(&hash);
    let valid = match &params {
        Some(params) => verify_argon2id(&hash, params.clone(), password),
        // The original sample's records; anything else is declined by the verifier.
        None => Pbkdf2.verify_password(password.as_bytes(), &hash).is_ok(),
    };
    if valid {
        Verdict::Valid {
            rehash: params != Some(current_params()),
        }
    } else {
        Verdict::Invalid
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::legacy_pbkdf2_phc;

    fn login(text: &str) -> LoginPassword {
        LoginPassword::parse(text.into()).unwrap()
    }

    /// A PHC string with other Argon2id parameters, as an older release stored them.
    fn argon2id_phc(memory: u32, passes: u32, lanes: u32, password: &str) -> String {
        let salt = b"0123456789abcdef";
        let mut derived = [0u8; OUTPUT_BYTES];
        let params = Params::new(memory, passes, lanes, Some(OUTPUT_BYTES)).unwrap();
        derive(params, password.as_bytes(), salt, &mut derived).unwrap();
        format!(
            "$argon2id$v=19$m={memory},t={passes},p={lanes}${}${}",
            STANDARD_NO_PAD.encode(salt),
            STANDARD_NO_PAD.encode(derived)
        )
    }

    #[tokio::test]
    async fn a_new_hash_is_argon2id_and_verifies() {
        let passwords = Passwords::new();
        let hash = passwords
            .hash(&Password::parse("Correct1Horse".into()).unwrap())
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=7168,t=5,p=2$"), "{hash}");
        let good = passwords
            .verify(Some(hash.clone()), &login("Correct1Horse"))
            .await;
        assert_eq!(good, Verdict::Valid { rehash: false });
        let bad = passwords.verify(Some(hash), &login("Correct1Horsf")).await;
        assert_eq!(bad, Verdict::Invalid);
    }

    #[tokio::test]
    async fn hashes_with_older_argon2_parameters_verify_and_ask_for_a_rehash() {
        let passwords = Passwords::new();
        // One lane (the previous release) and OWASP's 19 MiB x 2.
        for (memory, passes, lanes) in [(7168, 5, 1), (19456, 2, 1)] {
            let phc = argon2id_phc(memory, passes, lanes, "Correct1Horse");
            let verdict = passwords
                .verify(Some(phc.clone()), &login("Correct1Horse"))
                .await;
            assert_eq!(verdict, Verdict::Valid { rehash: true }, "{phc}");
            let wrong = passwords.verify(Some(phc), &login("Correct1Horsf")).await;
            assert_eq!(wrong, Verdict::Invalid);
        }
    }

    #[test]
    fn our_hash_matches_the_reference_implementation() {
        // From the reference implementation (Debian's `argon2` tool):
        // echo -n Correct1Horse | argon2 0123456789abcdef -id -t 5 -k 7168 -p 2 -l 32 -e
        let reference = "$argon2id$v=19$m=7168,t=5,p=2$MDEyMzQ1Njc4OWFiY2RlZg$\
                         EmxWkKE+/27fkxsUeFkDwloIpkZ2g0U5VlsiHwR6yB8";
        assert_eq!(
            argon2id_phc(MEMORY_KIB, PASSES, LANES, "Correct1Horse"),
            reference
        );
        assert_eq!(
            verify_now(Some(reference), "Correct1Horse"),
            Verdict::Valid { rehash: false }
        );
    }

    #[test]
    fn memory_given_back_between_logins_is_mapped_again_for_the_next() {
        let reference = "$argon2id$v=19$m=7168,t=5,p=2$MDEyMzQ1Njc4OWFiY2RlZg$\
                         EmxWkKE+/27fkxsUeFkDwloIpkZ2g0U5VlsiHwR6yB8";
        for _ in 0..2 {
            assert_eq!(
                verify_now(Some(reference), "Correct1Horse"),
                Verdict::Valid { rehash: false }
            );
            assert!(MEMORY.with_borrow(Option::is_some));
            give_back_memory();
            assert!(MEMORY.with_borrow(Option::is_none));
        }
    }

    #[test]
    fn hashes_asking_for_absurd_memory_are_refused_unrun() {
        let phc = "$argon2id$v=19$m=4194304,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$\
                   EmxWkKE+/27fkxsUeFkDwloIpkZ2g0U5VlsiHwR6yB8";
        assert_eq!(verify_now(Some(phc), "Correct1Horse"), Verdict::Invalid);
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
}
