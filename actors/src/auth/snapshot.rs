//! A snapshot that request handlers read without waiting, reloaded from the database when a
//! revision counter (bumped by triggers, see migrations/README.md) moves.
//!
//! Reloads are serialised: a change made in this process calls [`Polled::refresh`] right after its
//! write commits, and the lock guarantees that no slower, older reload (the refresher's tick that
//! read the database just before the write) can store its stale copy after the fresh one.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use arc_swap::{ArcSwap, Guard};

use crate::storage::{Database, DbConn, StorageError};

pub struct Polled<T> {
    current: ArcSwap<T>,
    revision: AtomicI64,
    reload: tokio::sync::Mutex<()>,
}

impl<T: Send + Sync + 'static> Polled<T> {
    /// Starts with `initial` and an impossible revision, so the first refresh always loads.
    pub fn new(initial: T) -> Self {
        Polled {
            current: ArcSwap::from_pointee(initial),
            revision: AtomicI64::new(i64::MIN),
            reload: tokio::sync::Mutex::new(()),
        }
    }

    /// The current snapshot (lock-free).
    pub fn load(&self) -> Guard<Arc<T>> {
        self.current.load()
    }

    /// Reloads with `load` when `revision` differs from the last load's, or always with `force`;
    /// `true` when a new snapshot was stored.
    pub async fn refresh(
        &self,
        db: &Database,
        revision: fn(&mut DbConn) -> Result<i64, StorageError>,
        load: impl FnOnce(&mut DbConn) -> Result<T, StorageError> + Send + 'static,
        force: bool,
    ) -> Result<bool, StorageError> {
        let _serial = self.reload.lock().await;
        let current = db.run(revision).await?;
        if !force && current == self.revision.load(Ordering::Acquire) {
            return Ok(false);
        }
        let fresh = db.run(load).await?;
        self.current.store(Arc::new(fresh));
        self.revision.store(current, Ordering::Release);
        Ok(true)
    }
}
