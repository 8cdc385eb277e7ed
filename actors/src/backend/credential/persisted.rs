//! Rotated refresh tokens survive restarts: when a backend's token endpoint answers the
//! refresh-token grant with a new `refresh_token`, the token loop stores it sealed in
//! `backend_token_state` (keyed by backend name) and a later loop — after an actor restart, a
//! reload or a gateway restart — starts from it instead of the configured token, which the
//! authorization server may have invalidated by then.
//!
//! The stored token is used only while the configured one is still the token it grew from: the
//! row keeps a fingerprint (a SHA-256 of the configured token), so an operator who configures a
//! new refresh token starts over from that one. A database backend renamed or deleted through
//! the admin API takes its row along (`storage::backends`).

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::secrets::SecretBox;
use crate::spec::SecretString;
use crate::storage::Database;
use crate::storage::backend_token_state::{self as store, StoredTokenState};

/// Where the token loops keep their latest refresh tokens. Cheap to share (`Arc`).
pub struct PersistedTokens {
    db: Database,
    secrets: Arc<SecretBox>,
}

impl std::fmt::Debug for PersistedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PersistedTokens")
    }
}

impl PersistedTokens {
    pub fn new(db: Database, secrets: Arc<SecretBox>) -> Arc<PersistedTokens> {
        Arc::new(PersistedTokens { db, secrets })
    }

    /// The latest refresh token stored for `backend`, if it grew from `configured`. Errors are
    /// sentences without secrets.
    pub async fn latest(
        &self,
        backend: &str,
        configured: &SecretString,
    ) -> Result<Option<SecretString>, String> {
        let name = backend.to_string();
        let Some(state) = self
            .db
            .run(move |c| store::find(c, &name))
            .await
            .map_err(|e| format!("cannot read the stored refresh token: {e}"))?
        else {
            return Ok(None);
        };
        if state.configured_fingerprint != fingerprint(configured) {
            return Ok(None);
        }
        self.secrets
            .open(&state.refresh_token)
            .map(Some)
            .map_err(|e| format!("the stored refresh token cannot be used: {e}"))
    }

    /// Stores `latest` as `backend`'s refresh token, grown from `configured`.
    pub async fn save(
        &self,
        backend: &str,
        configured: &SecretString,
        latest: &SecretString,
    ) -> Result<(), String> {
        let name = backend.to_string();
        let state = StoredTokenState {
            configured_fingerprint: fingerprint(configured),
            refresh_token: self.secrets.seal(latest.expose()),
        };
        self.db
            .run(move |c| store::save(c, &name, &state))
            .await
            .map_err(|e| format!("cannot store the rotated refresh token: {e}"))
    }
}

/// Which configured token a stored one grew from. Refresh tokens are high-entropy values, so a
/// plain (domain-separated) SHA-256 reveals nothing usable, like the gateway's own token hashes.
/// The backend name is not part of it, so a renamed backend's row stays valid.
pub fn fingerprint(configured: &SecretString) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"authmcp-gateway/backend-refresh-token/v1\0");
    hasher.update(configured.expose().as_bytes());
    crate::auth::opaque::hex(&hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_follows_the_token_and_does_not_show_it() {
        let token = SecretString::new("rt-original");
        let a = fingerprint(&token);
        assert_eq!(a.len(), 64);
        assert_eq!(a, fingerprint(&token));
        assert_ne!(a, fingerprint(&SecretString::new("rt-other")));
        assert!(!a.contains("rt-original"));
    }
}
