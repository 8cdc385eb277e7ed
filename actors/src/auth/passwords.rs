//! Password policy and bcrypt hashing off the async threads.
//!
//! bcrypt costs ≈ 230 ms per hash or verification at cost 12, so it never runs on an async
//! worker: each call takes a permit from a semaphore (bounding how many blocking threads login
//! storms can occupy) and runs in `spawn_blocking`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OnceCell, Semaphore};

/// bcrypt reads at most this many bytes; longer passwords would be silently truncated.
pub const BCRYPT_MAX_BYTES: usize = 72;

/// What a new password must satisfy. Seed env: `PASSWORD_MIN_LENGTH`, `PASSWORD_REQUIRE_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub require_uppercase: bool,
    pub require_lowercase: bool,
    pub require_digit: bool,
    pub require_special: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            min_length: 8,
            require_uppercase: true,
            require_lowercase: true,
            require_digit: true,
            require_special: true,
        }
    }
}

impl PasswordPolicy {
    /// Every rule the password breaks, as sentences starting with "must", so a caller can list
    /// them all at once instead of making the user guess one rule per attempt.
    pub fn check(&self, password: &str) -> Result<(), Vec<String>> {
        let mut unmet = Vec::new();
        let chars = password.chars().count();
        if password.is_empty() {
            unmet.push("must not be empty".to_string());
        } else if chars < self.min_length {
            unmet.push(format!(
                "must be at least {} characters long (it has {chars})",
                self.min_length
            ));
        }
        if password.len() > BCRYPT_MAX_BYTES {
            unmet.push(format!(
                "must be at most {BCRYPT_MAX_BYTES} bytes long (it has {}); bcrypt ignores the rest",
                password.len()
            ));
        }
        if self.require_uppercase && !password.chars().any(char::is_uppercase) {
            unmet.push("must contain an uppercase letter".to_string());
        }
        if self.require_lowercase && !password.chars().any(char::is_lowercase) {
            unmet.push("must contain a lowercase letter".to_string());
        }
        if self.require_digit && !password.chars().any(|c| c.is_ascii_digit()) {
            unmet.push("must contain a digit".to_string());
        }
        if self.require_special && !password.chars().any(|c| !c.is_alphanumeric()) {
            unmet.push(
                "must contain a special character (anything but a letter or digit)".to_string(),
            );
        }
        if unmet.is_empty() { Ok(()) } else { Err(unmet) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password is longer than {BCRYPT_MAX_BYTES} bytes")]
    TooLong,
    #[error("bcrypt failed: {0}")]
    Bcrypt(String),
    #[error("password hashing task failed: {0}")]
    Task(String),
}

impl From<bcrypt::BcryptError> for PasswordError {
    fn from(err: bcrypt::BcryptError) -> PasswordError {
        match err {
            bcrypt::BcryptError::Truncation(_) => PasswordError::TooLong,
            other => PasswordError::Bcrypt(other.to_string()),
        }
    }
}

/// Hashes and verifies passwords with bcrypt at a fixed cost, at most `max_concurrent` at once.
#[derive(Clone)]
pub struct PasswordHasher {
    cost: u32,
    permits: Arc<Semaphore>,
    /// A real hash of a random password at `cost`, verified against for unknown usernames.
    dummy_hash: Arc<OnceCell<String>>,
    in_flight: Arc<AtomicUsize>,
    peak_in_flight: Arc<AtomicUsize>,
}

impl PasswordHasher {
    /// `cost` must be within bcrypt's 4..=31 (errors surface on first use otherwise);
    /// `max_concurrent` below 1 is treated as 1.
    pub fn new(cost: u32, max_concurrent: usize) -> Self {
        PasswordHasher {
            cost,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            dummy_hash: Arc::new(OnceCell::new()),
            in_flight: Arc::new(AtomicUsize::new(0)),
            peak_in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn cost(&self) -> u32 {
        self.cost
    }

    pub async fn hash(&self, pw: &str) -> Result<String, PasswordError> {
        let (pw, cost) = (pw.to_string(), self.cost);
        self.bounded(move || hash_now(&pw, cost)).await
    }

    /// `Ok(false)` for a wrong password; `Err` only when `hash` is not a bcrypt hash.
    pub async fn verify(&self, pw: &str, hash: &str) -> Result<bool, PasswordError> {
        let (pw, hash) = (pw.to_string(), hash.to_string());
        self.bounded(move || verify_now(&pw, &hash)).await
    }

    /// Spends the same time as [`verify`](Self::verify) and returns nothing, for logins with an
    /// unknown username: answering faster would tell an attacker which usernames exist.
    pub async fn verify_dummy(&self, pw: &str) {
        let dummy = self
            .dummy_hash
            .get_or_try_init(|| async {
                let random: [u8; 16] = rand::random();
                self.hash(&base64_of(&random)).await
            })
            .await;
        if let Ok(dummy) = dummy {
            let _ = self.verify(pw, &dummy.clone()).await;
        }
    }

    /// On the calling thread, for CLI commands that have no runtime.
    pub fn hash_blocking(&self, pw: &str) -> Result<String, PasswordError> {
        hash_now(pw, self.cost)
    }

    /// Hashes or verifications running right now (a gauge for metrics).
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// The most that ever ran at once; never above `max_concurrent`.
    pub fn peak_in_flight(&self) -> usize {
        self.peak_in_flight.load(Ordering::SeqCst)
    }

    async fn bounded<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|err| PasswordError::Task(err.to_string()))?;
        let (in_flight, peak) = (
            Arc::clone(&self.in_flight),
            Arc::clone(&self.peak_in_flight),
        );
        // The permit moves into the blocking task: if the caller gives up (request cancelled),
        // the thread keeps its permit until bcrypt actually finishes, so the bound stays true.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            let result = work();
            in_flight.fetch_sub(1, Ordering::SeqCst);
            result
        })
        .await
        .map_err(|err| PasswordError::Task(err.to_string()))?
    }
}

/// bcrypt's own `non_truncating_hash` also refuses exactly 72 bytes (it counts the C string's
/// terminator); 72 bytes are all used, so the limit is checked here and plain `hash` is safe.
fn hash_now(pw: &str, cost: u32) -> Result<String, PasswordError> {
    if pw.len() > BCRYPT_MAX_BYTES {
        return Err(PasswordError::TooLong);
    }
    Ok(bcrypt::hash(pw, cost)?)
}

fn verify_now(pw: &str, hash: &str) -> Result<bool, PasswordError> {
    // Longer passwords can never have been stored (policy and hash refuse them); bcrypt::verify
    // would compare only their first 72 bytes.
    if pw.len() > BCRYPT_MAX_BYTES {
        return Ok(false);
    }
    Ok(bcrypt::verify(pw, hash)?)
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}
