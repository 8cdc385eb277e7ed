//! `tool_definition_changed`: a hash per backend tool definition, compared on every routing
//! rebuild with the last one seen (kept in `tool_definition_hashes`, so restarts remember).
//! A tool seen for the first time is remembered silently; a removed one is left alone.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::{SecurityEvent, SecurityEventType, SecurityEvents};
use crate::audit::now_ms;
use crate::auth::opaque::hex;
use crate::storage::StorageError;
use crate::storage::security_events as store;

/// Per backend, tool → hash, loaded from the database on first use.
#[derive(Default)]
pub(super) struct Known {
    backends: Mutex<HashMap<String, HashMap<String, String>>>,
    /// One comparison at a time: two rebuilds close together must not both see the old hash
    /// and report the same change twice.
    serial: tokio::sync::Mutex<()>,
}

/// SHA-256 (hex) over the parts of a tool definition a client relies on. Each part is the
/// compact JSON of the value (`null` when absent), length-prefixed so parts cannot run together.
pub fn definition_hash(tool: &serde_json::Value) -> String {
    let mut hasher = Sha256::new();
    for key in [
        "name",
        "description",
        "inputSchema",
        "outputSchema",
        "annotations",
    ] {
        let part = tool
            .get(key)
            .map(|v| v.to_string())
            .unwrap_or_else(|| "null".into());
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex(&hasher.finalize())
}

pub(super) async fn check(
    events: &SecurityEvents,
    backend: &str,
    tools: Vec<(String, String)>,
) -> Result<usize, StorageError> {
    let _one_at_a_time = events.shared.tools.serial.lock().await;
    let cached = events
        .shared
        .tools
        .backends
        .lock()
        .ok()
        .and_then(|b| b.get(backend).cloned());
    let known = match cached {
        Some(known) => known,
        None => {
            let name = backend.to_string();
            events.db.run(move |c| store::tool_hashes(c, &name)).await?
        }
    };
    let mut changed = 0;
    let mut to_store = Vec::new();
    for (tool, hash) in &tools {
        match known.get(tool) {
            Some(old) if old == hash => {}
            Some(old) => {
                changed += 1;
                events.record(
                    SecurityEvent::new(SecurityEventType::ToolDefinitionChanged)
                        .detail("backend", backend)
                        .detail("tool", tool.as_str())
                        .detail("old_hash", old.as_str())
                        .detail("new_hash", hash.as_str()),
                );
                to_store.push((tool.clone(), hash.clone()));
            }
            None => to_store.push((tool.clone(), hash.clone())),
        }
    }
    if !to_store.is_empty() {
        let name = backend.to_string();
        events
            .db
            .run(move |c| {
                let at = now_ms();
                for (tool, hash) in &to_store {
                    store::put_tool_hash(c, &name, tool, hash, at)?;
                }
                Ok(())
            })
            .await?;
    }
    let mut merged = known;
    merged.extend(tools);
    if let Ok(mut backends) = events.shared.tools.backends.lock() {
        backends.insert(backend.to_string(), merged);
    }
    Ok(changed)
}

pub(super) fn known(events: &SecurityEvents, backend: &str) -> Option<usize> {
    let backends = events.shared.tools.backends.lock().ok()?;
    backends.get(backend).map(|tools| tools.len())
}
