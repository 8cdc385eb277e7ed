//! The revoked token families (`sid`s) that `authenticate` checks on every request.
//!
//! Revoking is a database write (`storage::tokens`): logout, refresh-token reuse, a disabled or
//! deleted user, a password change, an admin's revoke. The request path never queries: it reads
//! this snapshot, which is reloaded when `revisions('revocations')` moves — at once after a
//! revocation made in this process, within one refresher tick after one made elsewhere (the CLI,
//! another instance on the same PostgreSQL).
//!
//! Only families revoked within the longest access-token lifetime are kept: an access token
//! issued before an older revocation has expired by now, and no token is issued under a revoked
//! family.

use std::collections::HashSet;
use std::time::Duration;

use super::snapshot::Polled;
use crate::storage::{Database, StorageError, now_ms, tokens};

pub struct Revocations {
    revoked: Polled<HashSet<String>>,
    /// The access-token lifetime plus verification leeway.
    window: Duration,
}

impl Revocations {
    pub fn new(access_ttl: Duration) -> Self {
        Revocations {
            revoked: Polled::new(HashSet::new()),
            window: access_ttl + Duration::from_secs(60),
        }
    }

    /// Lock-free: one hash lookup.
    pub fn is_revoked(&self, sid: &str) -> bool {
        self.revoked.load().contains(sid)
    }

    /// How many families the snapshot holds (metrics, tests).
    pub fn len(&self) -> usize {
        self.revoked.load().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reloads when the revision moved, or always with `force` (which also drops entries that
    /// aged out of the window).
    pub async fn refresh(&self, db: &Database, force: bool) -> Result<bool, StorageError> {
        let since = now_ms() - i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX);
        self.revoked
            .refresh(
                db,
                tokens::revocations_revision,
                move |c| Ok(tokens::revoked_families(c, since)?.into_iter().collect()),
                force,
            )
            .await
    }
}
