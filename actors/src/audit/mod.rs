//! The audit trail: one record per MCP request and per auth event, written by the AuditActor.
//!
//! ```text
//! request path ──try_send──▶ bounded queue ──▶ AuditActor (under GatewaySupervisor)
//!                (never waits; full → dropped,      batches by size or interval, one
//!                 counted, WARN at most every 10 s)  transaction each; hash chain; live feed;
//!                                                    retention; JSON lines file
//! ```
//! The AuditActor is the generic batched writer (`crate::batch`) over `AuditWriter`.
//! The queue outlives the actor: a restarted AuditActor picks it up where the old one stopped
//! and reads the chain head back from the database, so the chain continues across restarts of
//! the actor and of the process. Overflow policy: drop the newest record (the one that does not
//! fit), count it in [`AuditStats::dropped`] and log a warning — never silently.

mod actor;
pub mod chain;
mod file;
mod query;
pub mod redact;
pub mod verify;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::future::BoxFuture;
use ractor::{ActorCell, ActorRef};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::batch::{self, BatchMsg, Counters, Queue, WriterHandle};
use actor::AuditWriter;
pub use query::{BackendStats, SERIES_POINTS, SeriesPoint, WindowStats};

/// The AuditActor's messages (the batched writers' own).
pub type AuditMsg = BatchMsg;

use crate::storage::Database;
use crate::storage::audit_records::AuditRow;

/// Rows the live feed holds for a slow subscriber before it skips ahead.
const FEED_CAPACITY: usize = 1024;
/// At most one overflow warning per this interval (the count keeps going up meanwhile).
const DROP_WARN_INTERVAL: Duration = Duration::from_secs(10);

/// What kind of thing a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditKind {
    Mcp,
    Auth,
}

impl AuditKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Mcp => "mcp",
            AuditKind::Auth => "auth",
        }
    }
}

/// One thing that happened, as the request path reports it; the actor numbers it, redacts its
/// payloads and chains it.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub at_ms: i64,
    pub kind: AuditKind,
    /// Auth events: `login_ok`, `login_failed`, `token_issued`, … (see the README).
    pub event: Option<String>,
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub client_id: Option<String>,
    /// Shared with the session (an `Arc`, not a copy per record).
    pub session_id: Option<Arc<str>>,
    pub method: Option<String>,
    /// Shared with the routing table.
    pub backend: Option<Arc<str>>,
    /// The tool, prompt or resource the request named.
    pub item: Option<String>,
    /// `ok`, `error` (a JSON-RPC error answer) or `failed`/`denied` for auth events.
    pub outcome: String,
    pub error_code: Option<i64>,
    pub latency_us: Option<i64>,
    pub request_bytes: Option<i64>,
    pub response_bytes: Option<i64>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: Option<String>,
    /// Only filled when `audit.capture_payloads` is on; redacted by the actor.
    pub request_payload: Option<String>,
    pub response_payload: Option<String>,
}

impl AuditEvent {
    /// An event of `kind` happening now, with `outcome` and nothing else filled in.
    pub fn now(kind: AuditKind, outcome: &str) -> AuditEvent {
        AuditEvent {
            at_ms: now_ms(),
            kind,
            event: None,
            user_id: None,
            username: None,
            client_id: None,
            session_id: None,
            method: None,
            backend: None,
            item: None,
            outcome: outcome.to_string(),
            error_code: None,
            latency_us: None,
            request_bytes: None,
            response_bytes: None,
            ip: None,
            user_agent: None,
            details: None,
            request_payload: None,
            response_payload: None,
        }
    }

    /// An auth event (`event` names it) with its outcome.
    pub fn auth(event: &str, outcome: &str) -> AuditEvent {
        AuditEvent {
            event: Some(event.to_string()),
            ..AuditEvent::now(AuditKind::Auth, outcome)
        }
    }
}

/// How the trail is written; restart-only (built once at boot).
#[derive(Debug, Clone)]
pub struct AuditSettings {
    pub enabled: bool,
    /// Records waiting to be written before new ones are dropped.
    pub queue_capacity: usize,
    /// Records per transaction; a full batch is written at once, a partial one on the interval.
    pub batch_size: usize,
    pub flush_interval: Duration,
    pub capture_payloads: bool,
    pub redact_patterns: Vec<String>,
    /// Rows older than this are pruned (`None`: kept forever).
    pub retention: Option<Duration>,
    /// At most this many rows are kept (`None`: no limit).
    pub max_rows: Option<u64>,
    /// `Some(dir)`: each written record is also appended to `dir/audit.jsonl`.
    pub file_dir: Option<std::path::PathBuf>,
    /// The JSON lines file rotates at this size.
    pub file_max_bytes: u64,
    /// Rotated JSON lines files kept.
    pub file_max_files: u32,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            enabled: true,
            queue_capacity: 10_000,
            batch_size: 500,
            flush_interval: Duration::from_millis(200),
            capture_payloads: false,
            redact_patterns: redact::DEFAULT_PATTERNS
                .iter()
                .map(|p| p.to_string())
                .collect(),
            retention: Some(Duration::from_secs(90 * 86_400)),
            max_rows: Some(1_000_000),
            file_dir: None,
            file_max_bytes: 10 * 1024 * 1024,
            file_max_files: 5,
        }
    }
}

/// Plain numbers for monitoring (the metrics part reads them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuditStats {
    /// Records waiting in the queue now.
    pub queued: u64,
    /// Records accepted into the queue since start.
    pub accepted: u64,
    /// Records committed to the database since start.
    pub written: u64,
    /// Records refused because the queue was full (or the trail was shut down).
    pub dropped: u64,
    /// Transactions committed.
    pub batches: u64,
    /// Rows removed by retention.
    pub pruned: u64,
    /// The last write or prune error, if the last attempt failed.
    pub last_error: Option<String>,
}

struct Shared {
    settings: AuditSettings,
    queue: Queue<AuditEvent>,
    feed: broadcast::Sender<Arc<AuditRow>>,
    started: Instant,
    /// Milliseconds since `started` of the last overflow warning (+1; 0 = never).
    last_drop_warning: AtomicU64,
    log: slog::Logger,
}

/// The request path's side of the trail: cheap to clone, never waits.
#[derive(Clone)]
pub struct AuditHandle {
    shared: Arc<Shared>,
    db: Database,
}

impl AuditHandle {
    pub fn new(db: Database, settings: AuditSettings, log: slog::Logger) -> AuditHandle {
        let (feed, _) = broadcast::channel(FEED_CAPACITY);
        AuditHandle {
            shared: Arc::new(Shared {
                queue: Queue::new(settings.queue_capacity, settings.batch_size),
                settings,
                feed,
                started: Instant::now(),
                last_drop_warning: AtomicU64::new(0),
                log,
            }),
            db,
        }
    }

    pub fn settings(&self) -> &AuditSettings {
        &self.shared.settings
    }

    /// Whether requests should bother building records.
    pub fn enabled(&self) -> bool {
        self.shared.settings.enabled
    }

    /// Whether to fill [`AuditEvent::request_payload`] / `response_payload`.
    pub fn captures_payloads(&self) -> bool {
        self.shared.settings.capture_payloads
    }

    /// Queues `event` without waiting. A full queue drops it (counted, warned about).
    pub fn record(&self, event: AuditEvent) {
        if !self.shared.settings.enabled {
            return;
        }
        if let Err(dropped) = self.shared.queue.push(event) {
            self.warn_dropped(dropped);
        }
    }

    fn warn_dropped(&self, dropped: u64) {
        let shared = &self.shared;
        let now = shared.started.elapsed().as_millis() as u64 + 1;
        let last = shared.last_drop_warning.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= DROP_WARN_INTERVAL.as_millis() as u64;
        if due
            && shared
                .last_drop_warning
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            slog::warn!(shared.log, "Audit queue full: records are being dropped; raise audit.queue_capacity or check the database.";
                "dropped_total" => dropped, "queue_capacity" => shared.settings.queue_capacity);
        }
    }

    /// The numbers for monitoring. Reads atomics only.
    pub fn stats(&self) -> AuditStats {
        let queue = &self.shared.queue;
        let c = &queue.counters;
        AuditStats {
            queued: queue.depth(),
            accepted: Counters::get(&c.accepted),
            written: Counters::get(&c.written),
            dropped: Counters::get(&c.dropped),
            batches: Counters::get(&c.batches),
            pruned: Counters::get(&c.pruned),
            last_error: c.last_error(),
        }
    }

    /// Every row as it is committed (the console's live feed). A subscriber that falls more
    /// than a thousand rows behind skips ahead (`RecvError::Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<AuditRow>> {
        self.shared.feed.subscribe()
    }

    /// Writes everything queued so far and returns when it is committed (or the actor is
    /// down). For shutdown and tests; the request path never calls it.
    pub async fn flush(&self) {
        self.shared.queue.flush().await;
    }

    /// Runs retention now; returns the rows pruned.
    pub async fn prune_now(&self) -> u64 {
        self.shared.queue.prune_now().await
    }

    /// The running actor, `None` while it is being restarted or when the trail is off.
    pub fn actor(&self) -> Option<Arc<ActorRef<AuditMsg>>> {
        self.shared.queue.actor()
    }

    /// Spawns an AuditActor over this handle's queue (linked to `supervisor` when given).
    pub async fn spawn_actor(
        &self,
        supervisor: Option<ActorCell>,
    ) -> Result<ActorRef<AuditMsg>, ractor::SpawnErr> {
        batch::spawn::<AuditWriter>(self.clone(), &self.shared.queue, supervisor).await
    }
}

impl WriterHandle for AuditHandle {
    fn name(&self) -> &'static str {
        "audit"
    }

    fn spawn(
        &self,
        supervisor: ActorCell,
    ) -> BoxFuture<'static, Result<ActorRef<BatchMsg>, ractor::SpawnErr>> {
        let handle = self.clone();
        Box::pin(async move { handle.spawn_actor(Some(supervisor)).await })
    }

    /// Marks the actor as down; records keep queueing meanwhile.
    fn withdraw(&self) {
        self.shared.queue.withdraw();
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
