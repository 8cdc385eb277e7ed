//! The published view of every backend: state, last error, capability cache, forwarding handle.
//!
//! Readers (`/health/ready`, the `/mcp` routing table) never message an actor: they load an
//! immutable snapshot from an `ArcSwap`, so a backend actor that is busy or being restarted can
//! never make a request hang. Writers are the backend actors (their own entry) and the backend
//! supervisor (creating, reincarnating and removing entries). Every entry carries the
//! *incarnation* of the actor allowed to write it, so a stopped actor's late update cannot
//! overwrite its successor's status.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::watch;

use super::capabilities::BackendCapabilities;
use crate::upstream::Upstream;

/// The health of one backend as the gateway sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendState {
    /// Spawned, no connection result yet.
    Starting,
    /// Initialised and answering health checks.
    Online,
    /// Connected, but the last health check failed.
    Degraded,
    /// Not connected; reconnecting with backoff.
    Offline,
}

impl std::fmt::Display for BackendState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackendState::Starting => "starting",
            BackendState::Online => "online",
            BackendState::Degraded => "degraded",
            BackendState::Offline => "offline",
        })
    }
}

/// A point-in-time copy of one backend's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackendStatus {
    pub name: String,
    pub transport: &'static str,
    pub state: BackendState,
    /// The most recent failure as a short sentence (no secrets, no URLs); cleared when healthy.
    pub last_error: Option<String>,
    /// When the last connection attempt or health check finished (unix milliseconds).
    pub last_check_ms: Option<i64>,
    pub tool_count: usize,
    /// The protocol revision negotiated with the backend.
    pub protocol_version: Option<String>,
    /// How many times the supervisor restarted this backend's actor after a failure.
    pub restarts: u32,
    /// When the current backend session was established (unix milliseconds).
    pub connected_since_ms: Option<i64>,
    /// The stdio child's process id while it runs.
    pub pid: Option<u32>,
}

impl BackendStatus {
    pub(crate) fn starting(name: &str, transport: &'static str, restarts: u32) -> Self {
        BackendStatus {
            name: name.to_owned(),
            transport,
            state: BackendState::Starting,
            last_error: None,
            last_check_ms: None,
            tool_count: 0,
            protocol_version: None,
            restarts,
            connected_since_ms: None,
            pid: None,
        }
    }
}

/// The cached `tools/list` result: each tool exactly as the backend sent it.
pub type ToolList = Arc<[Box<RawValue>]>;

#[derive(Clone)]
struct Entry {
    incarnation: u64,
    status: BackendStatus,
    /// The last capabilities fetched; kept while degraded or offline (readers decide by state).
    capabilities: Option<Arc<BackendCapabilities>>,
    /// The current incarnation's forwarding handle.
    upstream: Option<Upstream>,
}

/// What an actor may change in its own entry.
pub(crate) struct EntryMut<'a> {
    pub status: &'a mut BackendStatus,
    pub capabilities: &'a mut Option<Arc<BackendCapabilities>>,
}

/// The shared status snapshot plus change counters that waiters subscribe to.
pub struct StatusBoard {
    entries: ArcSwap<BTreeMap<String, Arc<Entry>>>,
    // Serialises writers so that read-modify-write of the map never loses an update.
    write_lock: Mutex<()>,
    changes: watch::Sender<u64>,
    /// Bumped only when some backend's capabilities change (not on every health check).
    capability_changes: watch::Sender<u64>,
}

impl Default for StatusBoard {
    fn default() -> Self {
        StatusBoard {
            entries: ArcSwap::from_pointee(BTreeMap::new()),
            write_lock: Mutex::new(()),
            changes: watch::Sender::new(0),
            capability_changes: watch::Sender::new(0),
        }
    }
}

/// Whether the forwarding handle changed (a new actor incarnation): readers holding handles
/// in a routing table refresh them on the capability counter.
fn upstreams_differ(a: Option<&Upstream>, b: Option<&Upstream>) -> bool {
    match (a, b) {
        (None, None) => false,
        (Some(a), Some(b)) => !a.same(b),
        _ => true,
    }
}

/// Whether two capability slots hold different snapshots.
fn capabilities_differ(
    a: Option<&Arc<BackendCapabilities>>,
    b: Option<&Arc<BackendCapabilities>>,
) -> bool {
    match (a, b) {
        (None, None) => false,
        (Some(a), Some(b)) => !Arc::ptr_eq(a, b),
        _ => true,
    }
}

impl StatusBoard {
    /// All statuses, sorted by name.
    pub fn statuses(&self) -> Vec<BackendStatus> {
        self.entries
            .load()
            .values()
            .map(|entry| entry.status.clone())
            .collect()
    }

    pub fn status(&self, name: &str) -> Option<BackendStatus> {
        self.entries.load().get(name).map(|e| e.status.clone())
    }

    /// The last tool list fetched from `name`, if any.
    pub fn tools(&self, name: &str) -> Option<ToolList> {
        self.capabilities(name).map(|c| c.tools.clone())
    }

    /// The last capabilities fetched from `name`, if any (kept while it is degraded/offline).
    pub fn capabilities(&self, name: &str) -> Option<Arc<BackendCapabilities>> {
        self.entries
            .load()
            .get(name)
            .and_then(|e| e.capabilities.clone())
    }

    /// The forwarding handle of `name`'s current actor incarnation.
    pub fn upstream(&self, name: &str) -> Option<Upstream> {
        self.entries
            .load()
            .get(name)
            .and_then(|e| e.upstream.clone())
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// A counter bumped only when some backend's capabilities change, appear or go away.
    pub fn subscribe_capabilities(&self) -> watch::Receiver<u64> {
        self.capability_changes.subscribe()
    }

    /// Hands the entry to a new actor incarnation, creating it if needed. A changed spec passes
    /// `fresh = true` and starts from a clean status; a restart keeps the capability cache.
    pub(crate) fn reincarnate(
        &self,
        status: BackendStatus,
        incarnation: u64,
        fresh: bool,
        upstream: Upstream,
    ) {
        self.write(|map| {
            let capabilities = if fresh {
                None
            } else {
                map.get(&status.name).and_then(|e| e.capabilities.clone())
            };
            let mut status = status;
            status.tool_count = capabilities.as_ref().map_or(0, |c| c.tools.len());
            map.insert(
                status.name.clone(),
                Arc::new(Entry {
                    incarnation,
                    status,
                    capabilities,
                    upstream: Some(upstream),
                }),
            );
            true
        });
    }

    pub(crate) fn remove(&self, name: &str) {
        self.write(|map| map.remove(name).is_some());
    }

    pub(crate) fn clear(&self) {
        self.write(|map| {
            let had = !map.is_empty();
            map.clear();
            had
        });
    }

    /// Applies `change` to `name`'s entry if `incarnation` still owns it. Returns whether it did.
    pub(crate) fn update(
        &self,
        name: &str,
        incarnation: u64,
        change: impl FnOnce(EntryMut<'_>),
    ) -> bool {
        self.write(|map| match map.get(name) {
            Some(entry) if entry.incarnation == incarnation => {
                let mut entry = Entry::clone(entry);
                change(EntryMut {
                    status: &mut entry.status,
                    capabilities: &mut entry.capabilities,
                });
                entry.status.tool_count = entry.capabilities.as_ref().map_or(0, |c| c.tools.len());
                map.insert(name.to_owned(), Arc::new(entry));
                true
            }
            _ => false,
        })
    }

    /// Changes the entry whatever incarnation owns it (the supervisor's view after a crash).
    pub(crate) fn update_any(&self, name: &str, change: impl FnOnce(&mut BackendStatus)) {
        self.write(|map| match map.get(name) {
            Some(entry) => {
                let mut entry = Entry::clone(entry);
                change(&mut entry.status);
                map.insert(name.to_owned(), Arc::new(entry));
                true
            }
            None => false,
        });
    }

    fn write(&self, change: impl FnOnce(&mut BTreeMap<String, Arc<Entry>>) -> bool) -> bool {
        let (changed, capabilities_changed) = {
            let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
            let before = self.entries.load_full();
            let mut map = BTreeMap::clone(&before);
            let changed = change(&mut map);
            let capabilities_changed = changed
                && (before.len() != map.len()
                    || map.iter().any(|(name, entry)| {
                        let old = before.get(name);
                        capabilities_differ(
                            old.and_then(|e| e.capabilities.as_ref()),
                            entry.capabilities.as_ref(),
                        ) || upstreams_differ(
                            old.and_then(|e| e.upstream.as_ref()),
                            entry.upstream.as_ref(),
                        )
                    }));
            if changed {
                self.entries.store(Arc::new(map));
            }
            (changed, capabilities_changed)
        };
        if changed {
            self.changes.send_modify(|n| *n = n.wrapping_add(1));
        }
        if capabilities_changed {
            self.capability_changes
                .send_modify(|n| *n = n.wrapping_add(1));
        }
        changed
    }
}

/// Unix time in milliseconds, for status timestamps.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
