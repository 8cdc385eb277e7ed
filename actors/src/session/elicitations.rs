//! URL-mode elicitations (MCP 2025-11-25) the gateway relayed to a client, bound to the *user*:
//! which client session was sent each one, so the backend's `notifications/elicitation/complete`
//! reaches that client. A backend session is not always its initiator's (a task's follow-up
//! runs on the backend session of the session that created the task), so "the session owning
//! the backend session" would be the wrong client; and since entries live under the user, a
//! completion is only ever matched for the user whose backend session sent it.
//!
//! Bounded: [`MAX_URL_ELICITATIONS_PER_USER`] per user (the oldest goes first) and each
//! remembered at most [`URL_ELICITATION_KEEP`] (an interaction in a browser takes minutes,
//! not hours); a completion is delivered once and forgotten.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::store::SessionScope;

/// How many pending URL elicitations one user may have remembered.
pub const MAX_URL_ELICITATIONS_PER_USER: usize = 64;
/// How long a URL elicitation waits for its completion before it is forgotten.
pub const URL_ELICITATION_KEEP: Duration = Duration::from_secs(30 * 60);

/// The client session a URL elicitation was sent to, and its endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Initiator {
    pub session_id: Arc<str>,
    pub scope: SessionScope,
}

/// One user's: (backend, elicitation id) → who was asked, since when, in which order.
#[derive(Default)]
struct UserElicitations {
    pending: HashMap<(String, String), (Initiator, Instant, u64)>,
    next_seq: u64,
}

#[derive(Default)]
pub struct UrlElicitations {
    users: Mutex<HashMap<i64, UserElicitations>>,
}

impl UrlElicitations {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, UserElicitations>> {
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes that `backend`'s URL elicitation `elicitation_id` was sent to `initiator`, a
    /// session of `user`. The backend scopes its ids to itself, hence the backend in the key.
    pub fn note(&self, user: i64, backend: &str, elicitation_id: &str, initiator: Initiator) {
        let now = Instant::now();
        let mut users = self.lock();
        let user = users.entry(user).or_default();
        let pending = &mut user.pending;
        pending.retain(|_, (_, since, _)| now.duration_since(*since) < URL_ELICITATION_KEEP);
        if pending.len() >= MAX_URL_ELICITATIONS_PER_USER {
            let oldest = pending
                .iter()
                .min_by_key(|(_, (_, _, seq))| *seq)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                pending.remove(&oldest);
            }
        }
        let seq = user.next_seq;
        user.next_seq += 1;
        user.pending.insert(
            (backend.to_string(), elicitation_id.to_string()),
            (initiator, now, seq),
        );
    }

    /// The completion of `user`'s elicitation `elicitation_id` from `backend`: who to tell
    /// (forgotten now: a completion is final). `None` for an id never relayed to this user.
    pub fn complete(&self, user: i64, backend: &str, elicitation_id: &str) -> Option<Initiator> {
        let mut users = self.lock();
        let pending = &mut users.get_mut(&user)?.pending;
        let key = (backend.to_string(), elicitation_id.to_string());
        let found = pending
            .remove(&key)
            .filter(|(_, since, _)| since.elapsed() < URL_ELICITATION_KEEP);
        if pending.is_empty() {
            users.remove(&user);
        }
        found.map(|(initiator, _, _)| initiator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn initiator(id: &str) -> Initiator {
        Initiator {
            session_id: Arc::from(id),
            scope: SessionScope::Aggregate,
        }
    }

    #[test]
    fn a_completion_finds_its_initiator_once_and_for_its_user_only() {
        let pending = UrlElicitations::default();
        pending.note(1, "fx", "e-1", initiator("s-a"));
        assert_eq!(pending.complete(2, "fx", "e-1"), None, "another user's");
        assert_eq!(
            pending.complete(1, "other", "e-1"),
            None,
            "another backend's"
        );
        assert_eq!(pending.complete(1, "fx", "e-1"), Some(initiator("s-a")));
        assert_eq!(pending.complete(1, "fx", "e-1"), None, "delivered once");
    }

    #[test]
    fn a_full_book_forgets_the_oldest_first() {
        let pending = UrlElicitations::default();
        for i in 0..=MAX_URL_ELICITATIONS_PER_USER {
            pending.note(1, "fx", &format!("e-{i}"), initiator("s"));
        }
        assert_eq!(pending.complete(1, "fx", "e-0"), None);
        let last = format!("e-{MAX_URL_ELICITATIONS_PER_USER}");
        assert!(pending.complete(1, "fx", &last).is_some());
    }
}
