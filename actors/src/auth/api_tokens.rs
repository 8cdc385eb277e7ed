//! API tokens for machine clients, as the request path sees them: a snapshot of every active
//! token's SHA-256 → (id, user, expiry), reloaded when `revisions('api_tokens')` moves, plus the
//! operator's `STATIC_BEARER_TOKENS` (hashed at configuration time, mapped to one named user).
//!
//! An API token authenticates as its user and carries exactly that user's permissions: the
//! directory's `enabled` and `role` are checked on every request, like for a login token.
//! Last use is recorded in memory and written by the refresher, never on the request path.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use super::opaque;
use super::snapshot::Polled;
use crate::storage::{Database, StorageError, api_tokens, now_ms};

/// One active token as the snapshot holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiTokenEntry {
    /// `None` for a static token from the configuration.
    pub id: Option<i64>,
    pub user_id: i64,
    pub expires_at_ms: Option<i64>,
}

pub struct ApiTokens {
    stored: Polled<HashMap<[u8; 32], ApiTokenEntry>>,
    /// SHA-256 of each static token; all map to `static_user`.
    static_hashes: Vec<[u8; 32]>,
    /// The id of the user static tokens act as, resolved from the directory by name on every
    /// directory reload (0: no such user yet, so static tokens open nothing).
    static_user: AtomicI64,
    /// Token id → last use (unix ms), waiting for the refresher to write it.
    pending_touches: Mutex<HashMap<i64, i64>>,
}

impl ApiTokens {
    pub fn new(static_hashes: Vec<[u8; 32]>) -> Self {
        ApiTokens {
            stored: Polled::new(HashMap::new()),
            static_hashes,
            static_user: AtomicI64::new(0),
            pending_touches: Mutex::new(HashMap::new()),
        }
    }

    /// The entry for a presented token, if it is an active API token or a static one.
    pub fn find(&self, token: &str) -> Option<ApiTokenEntry> {
        let digest = opaque::sha256(token);
        let user_id = self.static_user.load(Ordering::Acquire);
        if user_id != 0 && !self.static_hashes.is_empty() {
            // Every entry is compared (constant time each) so timing does not say which matched.
            let matched = self
                .static_hashes
                .iter()
                .fold(false, |found, h| found | opaque::digests_equal(h, &digest));
            if matched {
                return Some(ApiTokenEntry {
                    id: None,
                    user_id,
                    expires_at_ms: None,
                });
            }
        }
        // Keyed by the digest of a 256-bit secret: a lookup reveals nothing about stored tokens.
        let entry = *self.stored.load().get(&digest)?;
        if entry.expires_at_ms.is_some_and(|at| at <= now_ms()) {
            return None;
        }
        if let Some(id) = entry.id
            && let Ok(mut pending) = self.pending_touches.lock()
        {
            pending.insert(id, now_ms());
        }
        Some(entry)
    }

    /// Points static tokens at a user (`None`: the named user does not exist).
    pub fn set_static_user(&self, user_id: Option<i64>) {
        self.static_user
            .store(user_id.unwrap_or(0), Ordering::Release);
    }

    pub fn has_static_tokens(&self) -> bool {
        !self.static_hashes.is_empty()
    }

    pub async fn refresh(&self, db: &Database, force: bool) -> Result<bool, StorageError> {
        self.stored
            .refresh(
                db,
                api_tokens::revision,
                |c| {
                    let active = api_tokens::active(c, now_ms())?;
                    Ok(active
                        .into_iter()
                        .filter_map(|t| {
                            Some((
                                opaque::parse_hex_digest(&t.token_hash)?,
                                ApiTokenEntry {
                                    id: Some(t.id),
                                    user_id: t.user_id,
                                    expires_at_ms: t.expires_at_ms,
                                },
                            ))
                        })
                        .collect())
                },
                force,
            )
            .await
    }

    /// Writes the recorded last uses; called by the refresher.
    pub async fn flush_last_used(&self, db: &Database) -> Result<(), StorageError> {
        let pending: Vec<(i64, i64)> = match self.pending_touches.lock() {
            Ok(mut map) => map.drain().collect(),
            Err(_) => return Ok(()),
        };
        if pending.is_empty() {
            return Ok(());
        }
        db.run(move |c| {
            for (id, at) in pending {
                api_tokens::touch(c, id, at)?;
            }
            Ok(())
        })
        .await
    }
}
