//! Tasks (MCP 2025-11-25, experimental) a client session created through the gateway: which
//! backend owns each task id. Kept per client session — and a session belongs to one user — so
//! `tasks/get`, `tasks/result`, `tasks/cancel` and `tasks/list` reach only the caller's own
//! tasks; an id the session never saw (another user's, or made up) is simply unknown.
//!
//! Bounded: at [`MAX_TASKS_PER_SESSION`] the oldest finished task is forgotten to make room,
//! and while every remembered task is still running no new one may be created.

use std::collections::HashMap;
use std::sync::Mutex;

/// How many tasks one session may have remembered at once.
pub const MAX_TASKS_PER_SESSION: usize = 256;

/// The statuses after which a task never changes again (2025-11-25 `TaskStatus`).
pub fn is_terminal(status: &str) -> bool {
    matches!(status, "completed" | "failed" | "cancelled")
}

#[derive(Default)]
pub struct TaskBook {
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    by_id: HashMap<String, TaskEntry>,
    next_seq: u64,
}

struct TaskEntry {
    backend: String,
    finished: bool,
    /// Creation order: the oldest finished task is forgotten first.
    seq: u64,
}

impl TaskBook {
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a new task can be remembered (there is room, or a finished task to forget).
    pub fn has_room(&self) -> bool {
        let entries = self.lock();
        entries.by_id.len() < MAX_TASKS_PER_SESSION || entries.by_id.values().any(|e| e.finished)
    }

    /// Remembers that `backend` owns `task_id`, forgetting the oldest finished task (or, when
    /// concurrent creations raced past [`has_room`](Self::has_room), the oldest task) at the cap.
    pub fn remember(&self, task_id: &str, backend: &str) {
        let mut entries = self.lock();
        if !entries.by_id.contains_key(task_id) && entries.by_id.len() >= MAX_TASKS_PER_SESSION {
            let victim = entries
                .by_id
                .iter()
                .min_by_key(|(_, e)| (!e.finished, e.seq))
                .map(|(id, _)| id.clone());
            if let Some(victim) = victim {
                entries.by_id.remove(&victim);
            }
        }
        let seq = entries.next_seq;
        entries.next_seq += 1;
        entries.by_id.insert(
            task_id.to_string(),
            TaskEntry {
                backend: backend.to_string(),
                finished: false,
                seq,
            },
        );
    }

    /// The backend owning `task_id`, if this session created it.
    pub fn owner(&self, task_id: &str) -> Option<String> {
        self.lock().by_id.get(task_id).map(|e| e.backend.clone())
    }

    /// Notes a status seen for `task_id`; a terminal one makes the task the first to forget.
    pub fn observe(&self, task_id: &str, status: &str) {
        if is_terminal(status)
            && let Some(entry) = self.lock().by_id.get_mut(task_id)
        {
            entry.finished = true;
        }
    }

    /// Whether `task_id` is remembered as owned by `backend`.
    pub fn owned_by(&self, task_id: &str, backend: &str) -> bool {
        self.lock()
            .by_id
            .get(task_id)
            .is_some_and(|e| e.backend == backend)
    }

    /// Every backend owning at least one remembered task.
    pub fn backends(&self) -> Vec<String> {
        let mut backends: Vec<String> = self
            .lock()
            .by_id
            .values()
            .map(|e| e.backend.clone())
            .collect();
        backends.sort();
        backends.dedup();
        backends
    }

    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_book_forgets_the_oldest_finished_task_first() {
        let book = TaskBook::default();
        for i in 0..MAX_TASKS_PER_SESSION {
            book.remember(&format!("t{i}"), "a");
        }
        assert!(!book.has_room(), "every task is still running");
        book.observe("t5", "working");
        assert!(!book.has_room());
        book.observe("t7", "completed");
        book.observe("t3", "cancelled");
        assert!(book.has_room());
        book.remember("new", "b");
        assert_eq!(book.len(), MAX_TASKS_PER_SESSION);
        assert_eq!(book.owner("t3"), None, "the oldest finished one goes");
        assert_eq!(book.owner("t7").as_deref(), Some("a"));
        assert!(book.owned_by("new", "b"));
        assert_eq!(book.backends(), vec!["a".to_string(), "b".to_string()]);
    }

    #[test]
    fn unknown_ids_have_no_owner() {
        let book = TaskBook::default();
        book.remember("t", "a");
        assert_eq!(book.owner("other"), None);
        assert!(!book.owned_by("t", "b"));
    }
}
