//! Encryption at rest for the credentials the gateway uses towards its backends.
//!
//! Tokens entered through the admin API are sealed with ChaCha20-Poly1305 (an AEAD: a wrong key
//! or an altered row fails to open instead of yielding garbage) under one 256-bit key, and stored
//! as base64 ciphertext plus a random 96-bit nonce per value. The key is either given in the
//! environment (several instances sharing one PostgreSQL must share it) or kept in a key file
//! (`secrets.key_file`, by default `<data_dir>/secret-key`), generated with mode 0600 on first
//! use. It is never derived from the JWT secret (the original did that, so rotating the signing
//! secret silently destroyed every stored credential).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

use crate::spec::SecretString;

/// File name of the key inside the data directory when `secrets.key_file` is not set.
pub const KEY_FILE_NAME: &str = "secret-key";

/// Where `secrets rotate-key` keeps the previous key until the operator deletes it: the key
/// file's path with `.old` appended.
pub fn old_key_file(key_file: &Path) -> PathBuf {
    with_suffix(key_file, ".old")
}

/// The new key during a rotation, before it replaces the key file: its path with `.new`.
pub fn new_key_file(key_file: &Path) -> PathBuf {
    with_suffix(key_file, ".new")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
/// Bound into every ciphertext so a value sealed for another purpose (or format version) never
/// opens as a backend credential.
const ASSOCIATED_DATA: &[u8] = b"authmcp-gateway/backend-credential/v1";

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "the secrets key from {source_name} is not valid: {reason}; it must be 32 random bytes \
         written as base64 (e.g. the output of `openssl rand -base64 32`)"
    )]
    InvalidKey { source_name: String, reason: String },

    #[error("cannot {action} the secrets key file {path}: {cause}")]
    KeyFile {
        action: &'static str,
        path: PathBuf,
        cause: String,
    },

    /// AEAD authentication failed: the key differs from the one that sealed the value, or the
    /// stored value was altered.
    #[error(
        "a stored credential cannot be decrypted: it was encrypted with a different secrets key \
         (restore the original key file or configured key), or the database row was altered"
    )]
    WrongKey,

    #[error("a stored credential is malformed: {0}")]
    Malformed(String),
}

/// Where the key came from, for the boot log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Configured,
    File(PathBuf),
    Generated(PathBuf),
}

/// A sealed value as stored: both parts base64 (standard alphabet, padded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub ciphertext: String,
    pub nonce: String,
}

/// Seals and opens credentials. Cheap to share behind an `Arc`; `Debug` never shows the key.
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(***)")
    }
}

impl SecretBox {
    /// The configured key when given, else the one in `key_file`, generated on first use.
    pub fn load_or_create(
        configured: Option<&str>,
        key_file: &Path,
    ) -> Result<(SecretBox, KeySource), SecretsError> {
        if let Some(text) = configured {
            let key = parse_key(text, "the configured secrets key")?;
            return Ok((SecretBox::new(&key), KeySource::Configured));
        }
        let path = key_file.to_path_buf();
        match fs::read_to_string(&path) {
            Ok(text) => {
                let key = parse_key(&text, &path.display().to_string())?;
                Ok((SecretBox::new(&key), KeySource::File(path)))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; KEY_LEN] = rand::random();
                match write_new_private(&path, &STANDARD.encode(key)) {
                    Ok(()) => Ok((SecretBox::new(&key), KeySource::Generated(path))),
                    // Another process (the CLI, a second instance) created it first: use theirs.
                    Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                        SecretBox::load_or_create(None, key_file)
                    }
                    Err(err) => Err(SecretsError::KeyFile {
                        action: "create",
                        path,
                        cause: err.to_string(),
                    }),
                }
            }
            Err(err) => Err(SecretsError::KeyFile {
                action: "read",
                path,
                cause: err.to_string(),
            }),
        }
    }

    /// A box over a raw key (tests, and keys already parsed).
    pub fn new(key: &[u8; KEY_LEN]) -> SecretBox {
        SecretBox {
            cipher: ChaCha20Poly1305::new(&Key::from(*key)),
        }
    }

    /// Seals `plaintext` under a fresh random nonce.
    pub fn seal(&self, plaintext: &str) -> Sealed {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: ASSOCIATED_DATA,
        };
        // Encryption with a valid key and nonce size cannot fail for inputs below 256 GiB.
        let ciphertext = self
            .cipher
            .encrypt(&Nonce::from(nonce), payload)
            .unwrap_or_default();
        Sealed {
            ciphertext: STANDARD.encode(ciphertext),
            nonce: STANDARD.encode(nonce),
        }
    }

    /// Opens a value sealed by [`SecretBox::seal`] under the same key.
    pub fn open(&self, sealed: &Sealed) -> Result<SecretString, SecretsError> {
        let ciphertext = STANDARD
            .decode(sealed.ciphertext.trim())
            .map_err(|_| SecretsError::Malformed("the ciphertext is not base64".into()))?;
        let nonce = STANDARD
            .decode(sealed.nonce.trim())
            .map_err(|_| SecretsError::Malformed("the nonce is not base64".into()))?;
        let nonce = <[u8; NONCE_LEN]>::try_from(nonce.as_slice()).map_err(|_| {
            SecretsError::Malformed(format!(
                "the nonce has {} bytes instead of {NONCE_LEN}",
                nonce.len()
            ))
        })?;
        let payload = Payload {
            msg: &ciphertext,
            aad: ASSOCIATED_DATA,
        };
        let plaintext = self
            .cipher
            .decrypt(&Nonce::from(nonce), payload)
            .map_err(|_| SecretsError::WrongKey)?;
        String::from_utf8(plaintext)
            .map(SecretString::new)
            .map_err(|_| SecretsError::Malformed("the decrypted value is not UTF-8".into()))
    }
}

/// A key rotation in progress: the new key is already on disk (`<key file>.new`, 0600) before
/// any row is re-sealed, so a crash never leaves rows sealed under a key that exists nowhere.
pub struct KeyRotation {
    pub new_box: SecretBox,
    key_file: PathBuf,
}

impl KeyRotation {
    /// Generates the new key into `<key file>.new` (replacing a leftover one from an
    /// interrupted rotation that never re-sealed anything).
    pub fn begin(key_file: &Path) -> Result<KeyRotation, SecretsError> {
        let path = new_key_file(key_file);
        let key: [u8; KEY_LEN] = rand::random();
        let _ = fs::remove_file(&path);
        write_new_private(&path, &STANDARD.encode(key)).map_err(|e| SecretsError::KeyFile {
            action: "create",
            path: path.clone(),
            cause: e.to_string(),
        })?;
        Ok(KeyRotation {
            new_box: SecretBox::new(&key),
            key_file: key_file.to_path_buf(),
        })
    }

    /// After the database committed: `<key file>` → `<key file>.old`, `<key file>.new` →
    /// `<key file>` (each a rename, atomic on one filesystem), then the directory is synced.
    pub fn finish(self) -> Result<(), SecretsError> {
        let current = self.key_file.clone();
        let old = old_key_file(&current);
        let new = new_key_file(&current);
        let fail = |action: &'static str, path: &Path, e: std::io::Error| SecretsError::KeyFile {
            action,
            path: path.to_path_buf(),
            cause: e.to_string(),
        };
        fs::rename(&current, &old).map_err(|e| fail("keep the old", &current, e))?;
        fs::rename(&new, &current).map_err(|e| fail("install the new", &new, e))?;
        let dir = current.parent().unwrap_or(Path::new("."));
        if let Ok(dir) = fs::File::open(dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

/// Opens `sealed` under `old` and seals it again under `new` (the error never holds the value).
pub fn reseal(old: &SecretBox, new: &SecretBox, sealed: &Sealed) -> Result<Sealed, String> {
    let clear = old.open(sealed).map_err(|e| e.to_string())?;
    Ok(new.seal(clear.expose()))
}

/// Accepts standard or URL-safe base64 (padded or not) of exactly 32 bytes.
fn parse_key(text: &str, source_name: &str) -> Result<[u8; KEY_LEN], SecretsError> {
    let invalid = |reason: String| SecretsError::InvalidKey {
        source_name: source_name.to_string(),
        reason,
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(invalid("it is empty".into()));
    }
    let bytes = STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE.decode(text))
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
        .map_err(|_| invalid("it is not base64".into()))?;
    <[u8; KEY_LEN]>::try_from(bytes.as_slice()).map_err(|_| {
        invalid(format!(
            "it decodes to {} bytes, not {KEY_LEN}",
            bytes.len()
        ))
    })
}

/// Creates `path` (failing if it exists) readable by the owner only.
fn write_new_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    // The umask cannot widen 0600, but make the intent explicit for odd filesystems.
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_with_the_same_key_only() {
        let one = SecretBox::new(&[7; KEY_LEN]);
        let other = SecretBox::new(&[8; KEY_LEN]);
        let sealed = one.seal("s3cr3t-token");
        assert!(!sealed.ciphertext.contains("s3cr3t"));
        assert_eq!(one.open(&sealed).unwrap().expose(), "s3cr3t-token");
        let error = other.open(&sealed).unwrap_err();
        assert!(matches!(error, SecretsError::WrongKey));
        assert!(error.to_string().contains("different secrets key"));
    }

    #[test]
    fn every_seal_uses_a_new_nonce() {
        let b = SecretBox::new(&[1; KEY_LEN]);
        let (a, c) = (b.seal("same"), b.seal("same"));
        assert_ne!(a.nonce, c.nonce);
        assert_ne!(a.ciphertext, c.ciphertext);
    }

    #[test]
    fn malformed_rows_are_reported_not_panicked_on() {
        let b = SecretBox::new(&[1; KEY_LEN]);
        let mut sealed = b.seal("x");
        sealed.nonce = STANDARD.encode([0u8; 5]);
        assert!(matches!(b.open(&sealed), Err(SecretsError::Malformed(_))));
        sealed.ciphertext = "%%%".into();
        assert!(matches!(b.open(&sealed), Err(SecretsError::Malformed(_))));
    }

    #[test]
    fn key_file_is_generated_private_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        let (first, source) = SecretBox::load_or_create(None, &path).unwrap();
        assert_eq!(source, KeySource::Generated(path.clone()));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (second, source) = SecretBox::load_or_create(None, &path).unwrap();
        assert_eq!(source, KeySource::File(path));
        assert_eq!(second.open(&first.seal("t")).unwrap().expose(), "t");
    }

    #[test]
    fn bad_keys_get_an_actionable_error() {
        let dir = tempfile::tempdir().unwrap();
        let short = STANDARD.encode([1u8; 16]);
        let path = dir.path().join(KEY_FILE_NAME);
        let error = SecretBox::load_or_create(Some(&short), &path).unwrap_err();
        assert!(error.to_string().contains("16 bytes, not 32"), "{error}");
        let error = SecretBox::load_or_create(Some("not base64!"), &path).unwrap_err();
        assert!(
            error.to_string().contains("openssl rand -base64 32"),
            "{error}"
        );
        fs::write(&path, "").unwrap();
        let error = SecretBox::load_or_create(None, &path).unwrap_err();
        assert!(error.to_string().contains("empty"), "{error}");
    }

    #[test]
    fn configured_keys_accept_url_safe_base64() {
        let key = [0xfb_u8; KEY_LEN];
        let (b, source) = SecretBox::load_or_create(
            Some(&URL_SAFE_NO_PAD.encode(key)),
            Path::new("/nonexistent"),
        )
        .unwrap();
        assert_eq!(source, KeySource::Configured);
        assert_eq!(
            SecretBox::new(&key).open(&b.seal("v")).unwrap().expose(),
            "v"
        );
    }

    #[test]
    fn a_rotation_swaps_the_key_file_wherever_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backend.key");
        let (old, _) = SecretBox::load_or_create(None, &path).unwrap();
        let rotation = KeyRotation::begin(&path).unwrap();
        assert!(new_key_file(&path).ends_with("backend.key.new"));
        let sealed = rotation.new_box.seal("v");
        rotation.finish().unwrap();
        let (current, source) = SecretBox::load_or_create(None, &path).unwrap();
        assert_eq!(source, KeySource::File(path.clone()));
        assert_eq!(current.open(&sealed).unwrap().expose(), "v");
        let previous = fs::read_to_string(old_key_file(&path)).unwrap();
        let (previous, _) = SecretBox::load_or_create(Some(&previous), &path).unwrap();
        assert_eq!(previous.open(&old.seal("w")).unwrap().expose(), "w");
        assert!(!new_key_file(&path).exists());
    }
}
