//! Tools withheld from clients (`security.hold_changed_tools`): a changed definition awaiting
//! an administrator's approval. The routing table is built without them (`background.rs`);
//! this snapshot, published with it, only lets a call to one be refused with the reason
//! instead of "unknown tool". Read on the request path only after a name did not resolve.

use std::collections::{HashMap, HashSet};

use actors::mcp::ErrorCode;
use serde_json::value::RawValue;

use super::forward::{Answer, error};

#[derive(Debug, Default)]
pub struct Withheld {
    /// backend → the backend's own names of its withheld tools.
    by_backend: HashMap<String, HashSet<String>>,
    /// The name clients see (tool prefix applied) → backend.
    exposed: HashMap<String, String>,
}

impl Withheld {
    pub fn add(&mut self, backend: &str, prefix: &str, tool: &str) {
        self.by_backend
            .entry(backend.to_string())
            .or_default()
            .insert(tool.to_string());
        self.exposed
            .insert(format!("{prefix}{tool}"), backend.to_string());
    }

    pub fn is_empty(&self) -> bool {
        self.by_backend.is_empty()
    }

    /// Whether `backend` has any withheld tool (its own endpoint then answers lists itself).
    pub fn has_backend(&self, backend: &str) -> bool {
        self.by_backend.contains_key(backend)
    }

    /// The refusal of a call to a withheld tool named as clients of `/mcp` see it, if the caller
    /// may use it (`allowed(backend)`; others get "unknown tool", learning nothing of it).
    pub fn refuse_exposed(
        &self,
        id: &RawValue,
        name: &str,
        allowed: impl FnOnce(&str) -> bool,
    ) -> Option<Answer> {
        let backend = self.exposed.get(name)?;
        allowed(backend).then(|| refusal(id, name, backend))
    }

    /// The refusal of a call to `backend`'s withheld `tool` on `/mcp/<backend>`.
    pub fn refuse_on_backend(&self, id: &RawValue, backend: &str, tool: &str) -> Option<Answer> {
        self.by_backend
            .get(backend)?
            .contains(tool)
            .then(|| refusal(id, tool, backend))
    }
}

fn refusal(id: &RawValue, name: &str, backend: &str) -> Answer {
    error(
        Some(id),
        ErrorCode::InvalidParams,
        &format!(
            "Tool `{name}` is withheld: backend `{backend}` changed its definition, which awaits \
             an administrator's approval (security.hold_changed_tools)."
        ),
    )
}
