//! What the token status view and metrics see of an OAuth backend's credential.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// `valid` (a token, refreshed later), `expiring` (a token within its refresh window, the
/// refresh not finished), `refreshing` (an attempt under way), `failed` (the last attempt
/// failed; retried with backoff), `pending` (no attempt finished yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenState {
    #[default]
    Pending,
    Valid,
    Expiring,
    Refreshing,
    Failed,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct TokenStatus {
    pub state: TokenState,
    /// Unix milliseconds; `None` when the server gave no `expires_in`.
    pub expires_at_ms: Option<i64>,
    /// When the current token was obtained.
    pub last_refresh_ms: Option<i64>,
    /// Why the last attempt failed (never a secret: endpoint errors and transport failures).
    pub last_error: Option<String>,
    /// When the next scheduled attempt is due.
    pub next_attempt_ms: Option<i64>,
}

impl TokenStatus {
    /// `valid` past its scheduled refresh reads as `expiring`.
    pub(crate) fn observed_now(mut self) -> TokenStatus {
        if self.state == TokenState::Valid && self.next_attempt_ms.is_some_and(|at| now_ms() >= at)
        {
            self.state = TokenState::Expiring;
        }
        self
    }
}

/// Refresh outcomes, for the metrics collector.
#[derive(Debug, Default)]
pub struct CredentialStats {
    refresh_ok: AtomicU64,
    refresh_failed: AtomicU64,
    /// Requests the backend answered 401, after which a new token was fetched and the request
    /// sent again.
    rejected: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CredentialStatsSnapshot {
    pub refresh_ok: u64,
    pub refresh_failed: u64,
    pub rejected: u64,
}

impl CredentialStats {
    pub(crate) fn record(&self, ok: bool) {
        let counter = if ok {
            &self.refresh_ok
        } else {
            &self.refresh_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_rejection(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> CredentialStatsSnapshot {
        CredentialStatsSnapshot {
            refresh_ok: self.refresh_ok.load(Ordering::Relaxed),
            refresh_failed: self.refresh_failed.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
        }
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
