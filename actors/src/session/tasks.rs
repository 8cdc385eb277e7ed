//! Tasks (MCP 2025-11-25, experimental) created through the gateway, bound to the *user* who
//! created them, not to the client session: a client that reconnects (a new session) still
//! reaches its tasks, and another user's task id is simply unknown.
//!
//! Clients never see a backend's own task id. Each task gets a gateway id (random, so it cannot
//! be guessed and two backends handing out the same id cannot be confused); the registry maps it
//! back to the backend, the backend's id and the backend session the task was created on. A
//! backend binds its tasks to that session (or to its auth context), so follow-up calls must go
//! there: each entry holds that session's slot, which keeps the session closer from closing the
//! backend session while the task is remembered (`take_when_free` waits for the last holder).
//!
//! Bounded: [`MAX_TASKS_PER_USER`] per user (at the cap the oldest finished task is forgotten;
//! while every task is still running no new one may be created), finished tasks are forgotten
//! [`FINISHED_TASK_KEEP`] after they were seen finished, and every task at the latest when its
//! `ttl` (the backend's, from creation) or [`MAX_TASK_AGE`] has passed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::store::UpstreamSlot;

/// How many tasks one user may have remembered at once.
pub const MAX_TASKS_PER_USER: usize = 256;
/// How long a task is remembered after a terminal status was seen (for `tasks/result`).
pub const FINISHED_TASK_KEEP: Duration = Duration::from_secs(10 * 60);
/// The longest any task is remembered (and holds its backend session open), whatever its ttl.
pub const MAX_TASK_AGE: Duration = Duration::from_secs(60 * 60);

/// The statuses after which a task never changes again (2025-11-25 `TaskStatus`).
pub fn is_terminal(status: &str) -> bool {
    matches!(status, "completed" | "failed" | "cancelled")
}

/// Where a gateway task id leads.
pub struct TaskRoute<U> {
    pub gateway_id: String,
    pub backend: String,
    pub backend_task_id: String,
    /// The backend session the task was created on.
    pub slot: UpstreamSlot<U>,
}

impl<U> Clone for TaskRoute<U> {
    fn clone(&self) -> Self {
        TaskRoute {
            gateway_id: self.gateway_id.clone(),
            backend: self.backend.clone(),
            backend_task_id: self.backend_task_id.clone(),
            slot: self.slot.clone(),
        }
    }
}

/// Every user's tasks.
pub struct TaskRegistry<U> {
    users: Mutex<HashMap<i64, UserTasks<U>>>,
}

impl<U> Default for TaskRegistry<U> {
    fn default() -> Self {
        TaskRegistry {
            users: Mutex::new(HashMap::new()),
        }
    }
}

struct UserTasks<U> {
    by_id: HashMap<String, Entry<U>>,
    /// (backend session, backend task id) → gateway id: the way back for backend messages.
    by_backend: HashMap<(usize, String), String>,
    next_seq: u64,
}

impl<U> Default for UserTasks<U> {
    fn default() -> Self {
        UserTasks {
            by_id: HashMap::new(),
            by_backend: HashMap::new(),
            next_seq: 0,
        }
    }
}

struct Entry<U> {
    route: TaskRoute<U>,
    /// Forgotten at this instant (ttl or [`MAX_TASK_AGE`]; sooner once finished).
    expires: Instant,
    finished: bool,
    /// Creation order: the oldest finished task is forgotten first.
    seq: u64,
    /// The client session that last used the task (created it, or sent a task call about it):
    /// it hears the task's status first once the creating session has ended.
    last_session: Option<Arc<str>>,
}

/// A backend session's identity (its slot's address): tasks are keyed by it, not by backend
/// name, since one backend may give two sessions the same task id.
pub fn slot_key<U>(slot: &UpstreamSlot<U>) -> usize {
    Arc::as_ptr(slot) as usize
}

impl<U> TaskRegistry<U> {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, UserTasks<U>>> {
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `user` may create another task (there is room, or a finished one to forget).
    pub fn has_room(&self, user: i64) -> bool {
        let mut users = self.lock();
        let Some(tasks) = users.get_mut(&user) else {
            return true;
        };
        tasks.prune(Instant::now());
        tasks.by_id.len() < MAX_TASKS_PER_USER || tasks.by_id.values().any(|e| e.finished)
    }

    /// Records a task `backend` created on `slot` for `user`; returns its gateway id (the same
    /// one when the task is already known). `ttl`: the backend's, from now.
    pub fn register(
        &self,
        user: i64,
        backend: &str,
        slot: &UpstreamSlot<U>,
        backend_task_id: &str,
        ttl: Option<Duration>,
    ) -> String {
        let now = Instant::now();
        let mut users = self.lock();
        let tasks = users.entry(user).or_default();
        tasks.prune(now);
        let key = (slot_key(slot), backend_task_id.to_string());
        if let Some(known) = tasks.by_backend.get(&key) {
            return known.clone();
        }
        if tasks.by_id.len() >= MAX_TASKS_PER_USER {
            // Concurrent creations may race past `has_room`: then the oldest task goes.
            let victim = tasks
                .by_id
                .iter()
                .min_by_key(|(_, e)| (!e.finished, e.seq))
                .map(|(id, _)| id.clone());
            if let Some(victim) = victim {
                tasks.forget(&victim);
            }
        }
        let gateway_id = format!("gwt-{}", crate::auth::tokens::random_id());
        let seq = tasks.next_seq;
        tasks.next_seq += 1;
        let lifetime = ttl.map_or(MAX_TASK_AGE, |ttl| ttl.min(MAX_TASK_AGE));
        tasks.by_backend.insert(key, gateway_id.clone());
        tasks.by_id.insert(
            gateway_id.clone(),
            Entry {
                route: TaskRoute {
                    gateway_id: gateway_id.clone(),
                    backend: backend.to_string(),
                    backend_task_id: backend_task_id.to_string(),
                    slot: slot.clone(),
                },
                expires: now + lifetime,
                finished: false,
                seq,
                last_session: None,
            },
        );
        gateway_id
    }

    /// Where `user`'s task `gateway_id` leads; `None` for any id that is not theirs.
    pub fn route(&self, user: i64, gateway_id: &str) -> Option<TaskRoute<U>> {
        let mut users = self.lock();
        let tasks = users.get_mut(&user)?;
        tasks.prune(Instant::now());
        tasks.by_id.get(gateway_id).map(|e| e.route.clone())
    }

    /// The gateway id of the task `backend_task_id` created on `slot` for `user`.
    pub fn gateway_id(
        &self,
        user: i64,
        slot: &UpstreamSlot<U>,
        backend_task_id: &str,
    ) -> Option<String> {
        let users = self.lock();
        users
            .get(&user)?
            .by_backend
            .get(&(slot_key(slot), backend_task_id.to_string()))
            .cloned()
    }

    /// Notes that client session `session_id` of `user` used task `gateway_id`.
    pub fn touch(&self, user: i64, gateway_id: &str, session_id: &Arc<str>) {
        if let Some(entry) = self
            .lock()
            .get_mut(&user)
            .and_then(|t| t.by_id.get_mut(gateway_id))
        {
            entry.last_session = Some(session_id.clone());
        }
    }

    /// The client session of `user` that last used task `gateway_id`.
    pub fn last_session(&self, user: i64, gateway_id: &str) -> Option<Arc<str>> {
        self.lock()
            .get(&user)?
            .by_id
            .get(gateway_id)?
            .last_session
            .clone()
    }

    /// Notes a status seen for a task: a terminal one starts its [`FINISHED_TASK_KEEP`].
    pub fn observe(&self, user: i64, gateway_id: &str, status: &str) {
        if !is_terminal(status) {
            return;
        }
        let mut users = self.lock();
        if let Some(entry) = users
            .get_mut(&user)
            .and_then(|t| t.by_id.get_mut(gateway_id))
            && !entry.finished
        {
            entry.finished = true;
            entry.expires = entry.expires.min(Instant::now() + FINISHED_TASK_KEEP);
        }
    }

    /// Forgets one task (its backend session is gone, so it cannot be reached any more).
    pub fn forget(&self, user: i64, gateway_id: &str) {
        if let Some(tasks) = self.lock().get_mut(&user) {
            tasks.forget(gateway_id);
        }
    }

    /// Every task of `user` (for `tasks/list`), oldest first.
    pub fn of_user(&self, user: i64) -> Vec<TaskRoute<U>> {
        let mut users = self.lock();
        let Some(tasks) = users.get_mut(&user) else {
            return Vec::new();
        };
        tasks.prune(Instant::now());
        let mut entries: Vec<&Entry<U>> = tasks.by_id.values().collect();
        entries.sort_by_key(|e| e.seq);
        entries.into_iter().map(|e| e.route.clone()).collect()
    }

    /// Forgets every expired task of every user, releasing their backend sessions to the
    /// closer; run periodically so tasks of users who never come back are let go too.
    pub fn sweep(&self) {
        let now = Instant::now();
        let mut users = self.lock();
        for tasks in users.values_mut() {
            tasks.prune(now);
        }
        users.retain(|_, tasks| !tasks.by_id.is_empty());
    }

    /// How many tasks `user` has remembered.
    pub fn count(&self, user: i64) -> usize {
        self.lock().get(&user).map_or(0, |t| t.by_id.len())
    }
}

impl<U> UserTasks<U> {
    fn prune(&mut self, now: Instant) {
        let expired: Vec<String> = self
            .by_id
            .iter()
            .filter(|(_, e)| e.expires <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.forget(&id);
        }
    }

    fn forget(&mut self, gateway_id: &str) {
        if let Some(entry) = self.by_id.remove(gateway_id) {
            let key = (slot_key(&entry.route.slot), entry.route.backend_task_id);
            self.by_backend.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot() -> UpstreamSlot<u32> {
        Arc::new(tokio::sync::OnceCell::new_with(Some(1)))
    }

    #[test]
    fn a_full_book_forgets_the_oldest_finished_task_first() {
        let registry = TaskRegistry::default();
        let s = slot();
        let ids: Vec<String> = (0..MAX_TASKS_PER_USER)
            .map(|i| registry.register(7, "a", &s, &format!("t{i}"), None))
            .collect();
        assert!(!registry.has_room(7), "every task is still running");
        assert!(registry.has_room(8), "another user's tasks do not count");
        registry.observe(7, &ids[5], "working");
        assert!(!registry.has_room(7));
        registry.observe(7, &ids[7], "completed");
        registry.observe(7, &ids[3], "cancelled");
        assert!(registry.has_room(7));
        let new = registry.register(7, "b", &s, "new", None);
        assert_eq!(registry.count(7), MAX_TASKS_PER_USER);
        assert!(
            registry.route(7, &ids[3]).is_none(),
            "the oldest finished goes"
        );
        assert!(registry.route(7, &ids[7]).is_some());
        assert_eq!(registry.route(7, &new).unwrap().backend, "b");
    }

    #[test]
    fn ids_are_the_gateways_own_and_bound_to_their_user() {
        let registry = TaskRegistry::default();
        let (a, b) = (slot(), slot());
        let first = registry.register(1, "a", &a, "task-1", None);
        let second = registry.register(1, "b", &b, "task-1", None);
        assert_ne!(first, second, "two backends' equal ids stay apart");
        assert!(!first.contains("task-1"), "never the backend's id");
        assert_eq!(registry.register(1, "a", &a, "task-1", None), first);
        let route = registry.route(1, &second).unwrap();
        assert_eq!(
            (route.backend.as_str(), route.backend_task_id.as_str()),
            ("b", "task-1")
        );
        assert_eq!(registry.gateway_id(1, &b, "task-1"), Some(second.clone()));
        assert!(
            registry.route(2, &first).is_none(),
            "another user's task is unknown"
        );
        assert!(registry.gateway_id(2, &a, "task-1").is_none());
    }

    #[test]
    fn expired_tasks_are_forgotten_and_release_their_backend_session() {
        let registry = TaskRegistry::default();
        let s = slot();
        let id = registry.register(1, "a", &s, "t", Some(Duration::ZERO));
        assert_eq!(
            Arc::strong_count(&s),
            2,
            "the entry holds the backend session"
        );
        registry.sweep();
        assert!(registry.route(1, &id).is_none());
        assert_eq!(Arc::strong_count(&s), 1, "released for the closer");
        assert!(registry.gateway_id(1, &s, "t").is_none());
    }
}
