//! Tasks the *client* runs for its backends (2025-11-25: a backend may task-augment its
//! `sampling/createMessage` or `elicitation/create`, and the client answers with a
//! `CreateTaskResult`). Each client task id is noted with the backend it runs for, so a backend
//! asking `tasks/get`, `tasks/result` or `tasks/cancel` reaches only its own tasks, and the
//! client's `tasks/list` answer is narrowed to them: one backend learns nothing of the tasks
//! the client runs for another.
//!
//! Bounded: at [`MAX_CLIENT_TASKS`] the oldest is forgotten (its backend then gets "unknown").

use std::collections::VecDeque;
use std::sync::Mutex;

/// How many client tasks one session remembers.
pub const MAX_CLIENT_TASKS: usize = 256;

#[derive(Default)]
pub struct ClientTasks {
    /// (client task id, backend), oldest first.
    owners: Mutex<VecDeque<(String, String)>>,
}

impl ClientTasks {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(String, String)>> {
        self.owners.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes that the client runs `task_id` for `backend`.
    pub fn note(&self, backend: &str, task_id: &str) {
        let mut owners = self.lock();
        owners.retain(|(id, _)| id != task_id);
        if owners.len() == MAX_CLIENT_TASKS {
            owners.pop_front();
        }
        owners.push_back((task_id.to_string(), backend.to_string()));
    }

    /// Whether the client runs `task_id` for `backend`.
    pub fn runs_for(&self, backend: &str, task_id: &str) -> bool {
        self.lock()
            .iter()
            .any(|(id, owner)| id == task_id && owner == backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_belongs_to_the_backend_it_runs_for_and_the_oldest_goes_first() {
        let tasks = ClientTasks::default();
        tasks.note("a", "t1");
        assert!(tasks.runs_for("a", "t1"));
        assert!(!tasks.runs_for("b", "t1"), "another backend's");
        assert!(!tasks.runs_for("a", "t2"));
        for i in 0..MAX_CLIENT_TASKS {
            tasks.note("b", &format!("n{i}"));
        }
        assert!(!tasks.runs_for("a", "t1"), "forgotten at the cap");
        assert!(tasks.runs_for("b", "n0"));
    }
}
