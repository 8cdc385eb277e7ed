//! Approving changed tool definitions. Each backend tool's definition is pinned when the
//! gateway first sees it; when the backend later serves another definition (hash as in
//! [`super::definition_hash`]), the new one waits for an administrator's approval, old and new
//! kept side by side in `tool_approvals`.
//!
//! With `security.hold_changed_tools` on, a tool whose current definition is not the approved
//! one is withheld from clients until approved: the routing table is rebuilt without it
//! (`web::mcp::background`, which reads [`ToolApprovals::is_withheld`] off the request path and
//! follows [`ToolApprovals::subscribe`]). Requests never query the database for this.
//!
//! The approved hashes are kept in memory (loaded at boot, [`ToolApprovals::load`]); the
//! table is written by [`ToolApprovals::review`] (after each routing rebuild) and
//! [`ToolApprovals::approve`] (admin API and console), one at a time. Another instance on the
//! same database writes it too: every change bumps `revisions('tool_approvals')`, and
//! [`ToolApprovals::refresh`] (polled like the other shared snapshots, and first thing in each
//! review, so a stale copy never marks an approved tool as changed again) reloads it when that
//! moved.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use crate::audit::now_ms;
use crate::storage::tool_approvals::{self as store, ToolApprovalRow};
use crate::storage::{Database, StorageError};

/// A tool definition as served now: its name, hash and the tool object (JSON text).
#[derive(Debug, Clone)]
pub struct ServedTool {
    pub name: String,
    pub hash: String,
    pub definition: String,
}

/// What the gateway knows of one tool: the approved hash and a pending one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Known {
    approved: String,
    pending: Option<String>,
}

/// A change awaiting approval, as the admin API and the console show it.
#[derive(Debug, Clone, Serialize)]
pub struct ToolChange {
    pub tool: String,
    pub approved_hash: String,
    /// The approved tool object (JSON).
    pub approved_definition: serde_json::Value,
    /// `None`: pinned when first seen.
    pub approved_by: Option<String>,
    pub approved_at_ms: i64,
    pub new_hash: String,
    pub new_definition: serde_json::Value,
    pub changed_at_ms: Option<i64>,
}

impl ToolChange {
    fn of(row: ToolApprovalRow) -> Option<ToolChange> {
        let parse = |text: &str| {
            serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.into()))
        };
        Some(ToolChange {
            new_hash: row.pending_hash?,
            new_definition: parse(row.pending_definition.as_deref().unwrap_or("null")),
            approved_definition: parse(&row.approved_definition),
            tool: row.tool,
            approved_hash: row.approved_hash,
            approved_by: row.approved_by,
            approved_at_ms: row.approved_at_ms,
            changed_at_ms: row.changed_at_ms,
        })
    }
}

/// Why an approval did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("tool `{tool}` of backend `{backend}` has no change awaiting approval")]
    NothingPending { backend: String, tool: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

pub struct ToolApprovals {
    db: Database,
    /// backend → tool → what is known; filled by `load`.
    known: Mutex<HashMap<String, HashMap<String, Known>>>,
    hold: AtomicBool,
    /// The `tool_approvals` revision `known` was read at.
    revision: AtomicI64,
    /// Bumped whenever what is withheld may have changed (approval, pin, hold switched).
    generation: watch::Sender<u64>,
    /// One review or approval at a time: two close together must not both see the old state.
    serial: tokio::sync::Mutex<()>,
}

impl ToolApprovals {
    pub fn new(db: Database) -> ToolApprovals {
        ToolApprovals {
            db,
            known: Mutex::new(HashMap::new()),
            hold: AtomicBool::new(false),
            revision: AtomicI64::new(i64::MIN),
            generation: watch::Sender::new(0),
            serial: tokio::sync::Mutex::new(()),
        }
    }

    /// Reads every pinned definition (boot).
    pub async fn load(&self) -> Result<(), StorageError> {
        let _one_at_a_time = self.serial.lock().await;
        self.reload().await?;
        self.bump();
        Ok(())
    }

    /// Reloads when the table changed since the last read (another instance approved, pinned
    /// or marked a change); answers whether it did.
    pub async fn refresh(&self) -> Result<bool, StorageError> {
        let _one_at_a_time = self.serial.lock().await;
        self.refresh_held().await
    }

    /// Polls the `tool_approvals` revision until `stop` turns true.
    pub async fn run_refresher(
        &self,
        every: Duration,
        log: slog::Logger,
        stop: watch::Receiver<bool>,
    ) {
        crate::storage::refresher::poll_revision("tool approvals", every, log, stop, || {
            self.refresh()
        })
        .await
    }

    /// [`ToolApprovals::refresh`] for a caller already holding `serial`.
    async fn refresh_held(&self) -> Result<bool, StorageError> {
        let current = self.db.run(store::revision).await?;
        if current == self.revision.load(Ordering::Acquire) {
            return Ok(false);
        }
        if self.reload().await? {
            self.bump();
        }
        Ok(true)
    }

    /// Replaces what is known with the table (the caller holds `serial`); answers whether
    /// anything differs, so an instance's own writes coming back cause no rebuild.
    async fn reload(&self) -> Result<bool, StorageError> {
        let (revision, rows) = self
            .db
            .run(|c| {
                // Revision first: a change landing between the reads is seen again next poll.
                Ok((store::revision(c)?, store::all(c)?))
            })
            .await?;
        let mut fresh: HashMap<String, HashMap<String, Known>> = HashMap::new();
        for row in rows {
            fresh.entry(row.backend).or_default().insert(
                row.tool,
                Known {
                    approved: row.approved_hash,
                    pending: row.pending_hash,
                },
            );
        }
        let changed = {
            let mut known = self.lock();
            let changed = *known != fresh;
            *known = fresh;
            changed
        };
        self.revision.store(revision, Ordering::Release);
        Ok(changed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashMap<String, Known>>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.generation.send_modify(|g| *g += 1);
    }

    /// `security.hold_changed_tools` (reloadable).
    pub fn set_hold(&self, hold: bool) {
        if self.hold.swap(hold, Ordering::Relaxed) != hold {
            self.bump();
        }
    }

    pub fn hold(&self) -> bool {
        self.hold.load(Ordering::Relaxed)
    }

    /// Changes whenever what is withheld may have changed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// Whether `backend`'s `tool`, served with `hash`, is kept from clients now: hold mode is
    /// on and the tool was pinned with another definition. A tool never seen is not.
    pub fn is_withheld(&self, backend: &str, tool: &str, hash: &str) -> bool {
        self.hold()
            && self
                .lock()
                .get(backend)
                .and_then(|tools| tools.get(tool))
                .is_some_and(|k| k.approved != hash)
    }

    /// Whether any of `backend`'s tools is pinned at all (a cheap pre-check before hashing).
    pub fn knows_backend(&self, backend: &str) -> bool {
        self.lock().contains_key(backend)
    }

    /// Compares what `backend` serves now with what is pinned: new tools are pinned, changed
    /// ones recorded as pending (replacing an older pending one), a tool back at its approved
    /// definition has its pending change dropped. Returns how many tools are now changed.
    pub async fn review(
        &self,
        backend: &str,
        served: Vec<ServedTool>,
    ) -> Result<usize, StorageError> {
        let _one_at_a_time = self.serial.lock().await;
        self.refresh_held().await?;
        let current = self.lock().get(backend).cloned().unwrap_or_default();
        let mut pins = Vec::new();
        let mut pending = Vec::new();
        let mut changed = 0;
        for tool in &served {
            match current.get(&tool.name) {
                None => pins.push(tool.clone()),
                Some(k) if k.approved == tool.hash => {
                    if k.pending.is_some() {
                        pending.push((tool.name.clone(), None));
                    }
                }
                Some(k) => {
                    changed += 1;
                    if k.pending.as_deref() != Some(tool.hash.as_str()) {
                        pending.push((
                            tool.name.clone(),
                            Some((tool.hash.clone(), tool.definition.clone())),
                        ));
                    }
                }
            }
        }
        if pins.is_empty() && pending.is_empty() {
            return Ok(changed);
        }
        let name = backend.to_string();
        let (to_pin, to_mark) = (pins.clone(), pending.clone());
        self.db
            .run(move |c| {
                crate::storage::in_transaction(c, |c| {
                    let at = now_ms();
                    for tool in &to_pin {
                        store::pin(
                            c,
                            &ToolApprovalRow {
                                backend: name.clone(),
                                tool: tool.name.clone(),
                                approved_hash: tool.hash.clone(),
                                approved_definition: tool.definition.clone(),
                                approved_by: None,
                                approved_at_ms: at,
                                pending_hash: None,
                                pending_definition: None,
                                changed_at_ms: None,
                            },
                        )?;
                    }
                    for (tool, change) in &to_mark {
                        let change = change.as_ref().map(|(h, d)| (h.as_str(), d.as_str()));
                        store::set_pending(c, &name, tool, change, at)?;
                    }
                    Ok(())
                })
            })
            .await?;
        let mut known = self.lock();
        let tools = known.entry(backend.to_string()).or_default();
        for tool in pins {
            tools.insert(
                tool.name,
                Known {
                    approved: tool.hash,
                    pending: None,
                },
            );
        }
        for (tool, change) in pending {
            if let Some(k) = tools.get_mut(&tool) {
                k.pending = change.map(|(hash, _)| hash);
            }
        }
        drop(known);
        self.bump();
        Ok(changed)
    }

    /// `backend`'s changes awaiting approval, by tool name.
    pub async fn changes(&self, backend: &str) -> Result<Vec<ToolChange>, StorageError> {
        let name = backend.to_string();
        let rows = self.db.run(move |c| store::pending(c, &name)).await?;
        Ok(rows.into_iter().filter_map(ToolChange::of).collect())
    }

    /// Approves the pending definition of `backend`'s `tool`: it becomes the pinned one and,
    /// in hold mode, the tool is served again.
    pub async fn approve(
        &self,
        backend: &str,
        tool: &str,
        by: &str,
    ) -> Result<ToolChange, ApprovalError> {
        let _one_at_a_time = self.serial.lock().await;
        let nothing = || ApprovalError::NothingPending {
            backend: backend.to_string(),
            tool: tool.to_string(),
        };
        let change = self
            .changes(backend)
            .await?
            .into_iter()
            .find(|c| c.tool == tool)
            .ok_or_else(nothing)?;
        let (name, tool_name, hash, by) = (
            backend.to_string(),
            tool.to_string(),
            change.new_hash.clone(),
            by.to_string(),
        );
        let approved = self
            .db
            .run(move |c| store::approve(c, &name, &tool_name, &hash, &by, now_ms()))
            .await?;
        if !approved {
            return Err(nothing());
        }
        if let Some(k) = self.lock().get_mut(backend).and_then(|t| t.get_mut(tool)) {
            k.approved = change.new_hash.clone();
            k.pending = None;
        }
        self.bump();
        Ok(change)
    }
}
