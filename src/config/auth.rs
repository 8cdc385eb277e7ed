//! The token settings of `[auth]`: signing algorithm and key files, refresh reuse grace,
//! registration, single session, static bearer tokens. Read into [`TokenSettings`] and merged
//! into `AuthConfig` by `validate::read_auth`.
//!
//! Key files are loaded here too, so `check-config` (and a reload) reports a wrong or unreadable
//! key before the gateway would fail to start with it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use actors::auth::keys::{KeyAlgorithm, SigningKeys};
use actors::auth::opaque;

use super::paths::absolutize;
use super::reader::TableReader;

pub(crate) struct TokenSettings {
    pub jwt_algorithm: KeyAlgorithm,
    pub jwt_private_key_file: Option<PathBuf>,
    pub jwt_previous_key_files: Vec<PathBuf>,
    pub refresh_reuse_grace: Duration,
    pub allow_registration: bool,
    pub enforce_single_session: bool,
    pub static_bearer_token_hashes: Vec<[u8; 32]>,
    pub static_bearer_tokens_user: Option<String>,
}

/// Shorter static tokens would be guessable; the original accepted anything.
const MIN_STATIC_TOKEN_CHARS: usize = 16;

pub(crate) fn read_token_settings(r: &mut TableReader<'_>, cwd: &Path) -> Option<TokenSettings> {
    let algorithm = r.take_string_with("jwt_algorithm", |text| {
        KeyAlgorithm::parse(text)
            .ok_or_else(|| format!("expected HS256, RS256 or ES256, got {:?}", text.trim()))
    });
    let private_key = if r.has("jwt_private_key_file") {
        r.take_string_with("jwt_private_key_file", |p| non_empty_path(p, cwd).map(Some))
    } else {
        Some(None)
    };
    let previous = r
        .take_string_list("jwt_previous_key_files")
        .and_then(|list| {
            list.iter()
                .map(|p| non_empty_path(p, cwd))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|m| r.error("jwt_previous_key_files", None, m))
                .ok()
        });
    let grace = r
        .take_uint("refresh_reuse_grace_s", 0, 3600)
        .map(Duration::from_secs);
    let allow_registration = r.take_bool("allow_registration");
    let single_session = r.take_bool("enforce_single_session");
    let static_tokens = r.take_string_list("static_bearer_tokens");
    let static_user = if r.has("static_bearer_tokens_user") {
        r.take_string_with("static_bearer_tokens_user", |u| {
            if u.trim().is_empty() {
                Err("must name a user".to_string())
            } else {
                Ok(Some(u.trim().to_string()))
            }
        })
    } else {
        Some(None)
    };

    let static_hashes = static_tokens.and_then(|tokens| {
        let mut ok = true;
        for (i, token) in tokens.iter().enumerate() {
            // Never echo the token itself in the message.
            let problem = if token.trim().chars().count() < MIN_STATIC_TOKEN_CHARS {
                Some(format!(
                    "must be at least {MIN_STATIC_TOKEN_CHARS} characters long"
                ))
            } else if token.trim().bytes().filter(|b| *b == b'.').count() == 2 {
                Some("must not look like a JWT (two dots)".to_string())
            } else {
                None
            };
            if let Some(problem) = problem {
                ok = false;
                r.error(&format!("static_bearer_tokens[{i}]"), None, problem);
            }
        }
        ok.then(|| {
            tokens
                .iter()
                .map(|t| opaque::sha256(t.trim()))
                .collect::<Vec<_>>()
        })
    });
    if let (Some(hashes), Some(None)) = (&static_hashes, &static_user)
        && !hashes.is_empty()
    {
        r.error(
            "static_bearer_tokens_user",
            None,
            "static bearer tokens need a user to act as (they carry that user's permissions, \
             never more); set auth.static_bearer_tokens_user",
        );
        return None;
    }

    let (algorithm, private_key, previous) = (algorithm?, private_key?, previous?);
    match (algorithm, &private_key) {
        (KeyAlgorithm::HS256, Some(_)) => {
            r.error(
                "jwt_private_key_file",
                None,
                "is only used with RS256 or ES256; set auth.jwt_algorithm or remove the key file",
            );
            return None;
        }
        (KeyAlgorithm::HS256, None) if !previous.is_empty() => {
            r.error(
                "jwt_previous_key_files",
                None,
                "previous keys need RS256 or ES256 as auth.jwt_algorithm",
            );
            return None;
        }
        (KeyAlgorithm::HS256, None) => {}
        (_, None) => {
            r.error(
                "jwt_private_key_file",
                None,
                format!(
                    "{} needs a PEM private key file (e.g. `openssl genpkey {}`)",
                    algorithm.as_str(),
                    match algorithm {
                        KeyAlgorithm::ES256 =>
                            "-algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out jwt.pem",
                        _ => "-algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out jwt.pem",
                    }
                ),
            );
            return None;
        }
        (_, Some(path)) => {
            if let Err(error) = SigningKeys::load(algorithm, b"", Some(path), &previous) {
                r.error("jwt_private_key_file", None, error.to_string());
                return None;
            }
        }
    }
    Some(TokenSettings {
        jwt_algorithm: algorithm,
        jwt_private_key_file: private_key,
        jwt_previous_key_files: previous,
        refresh_reuse_grace: grace?,
        allow_registration: allow_registration?,
        enforce_single_session: single_session?,
        static_bearer_token_hashes: static_hashes?,
        static_bearer_tokens_user: static_user?,
    })
}

fn non_empty_path(text: &str, cwd: &Path) -> Result<PathBuf, String> {
    if text.trim().is_empty() {
        Err("must not be empty".to_string())
    } else {
        Ok(absolutize(cwd, Path::new(text.trim())))
    }
}
