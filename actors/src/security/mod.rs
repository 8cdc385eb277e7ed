//! Security events: who was refused, with what, from where — one row each in `security_events`.
//!
//! ```text
//! request path ──record()──▶ bounded queue ──▶ SecurityActor (under GatewaySupervisor):
//!               (try_send; full → dropped,      batched inserts (`crate::batch`), retention,
//!                counted, never waits)          live feed for the admin stream
//!              ──scan()────▶ scan queue ──────▶ its scanner task (detectors → record())
//! ```
//! The request path never waits on the database: `record` is a `try_send`. The queues, counters
//! and feed belong to [`SecurityEvents`], so events keep queueing while the actor restarts.
//! Brute force is detected here too, from the login failures the sign-in routes report
//! (`login_failed`), with in-memory counters per IP and per username over a sliding window.

mod actor;
mod brute_force;
pub mod detectors;
mod scanner;
mod throttle;
mod tool_approvals;
mod tool_hashes;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use ractor::{ActorCell, ActorRef};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc};

use crate::batch::{self, BatchMsg, Counters as BatchCounters, Queue, WriterHandle};

pub use scanner::{ScanJob, ScanSubject};
pub use tool_approvals::{ApprovalError, ServedTool, ToolApprovals, ToolChange};
pub use tool_hashes::definition_hash;

use crate::storage::Database;
use crate::storage::security_events::SecurityEventRow;

/// Events the live feed holds for a slow subscriber before it skips ahead.
const FEED_CAPACITY: usize = 256;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityEventType {
    /// A protected route called without a token.
    Unauthorized,
    /// A 403: a policy refusal, a missing role or scope.
    Forbidden,
    /// A request refused by a rate limit.
    RateLimited,
    /// A token that is unknown, expired, revoked or for another resource.
    InvalidToken,
    /// A used refresh token presented again (its family is revoked).
    TokenReuse,
    /// Repeated failed sign-ins from one IP or for one user within the window.
    BruteForce,
    /// A payload that looks like an attack (detectors; not wired yet).
    SuspiciousPayload,
    /// A backend tool's definition changed since it was last seen.
    ToolDefinitionChanged,
    /// An `/mcp` request from an Origin that is not allowed.
    OriginRejected,
    /// A SIGHUP whose configuration was refused.
    ConfigReloadFailed,
}

impl SecurityEventType {
    pub const ALL: [SecurityEventType; 10] = [
        SecurityEventType::Unauthorized,
        SecurityEventType::Forbidden,
        SecurityEventType::RateLimited,
        SecurityEventType::InvalidToken,
        SecurityEventType::TokenReuse,
        SecurityEventType::BruteForce,
        SecurityEventType::SuspiciousPayload,
        SecurityEventType::ToolDefinitionChanged,
        SecurityEventType::OriginRejected,
        SecurityEventType::ConfigReloadFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SecurityEventType::Unauthorized => "unauthorized",
            SecurityEventType::Forbidden => "forbidden",
            SecurityEventType::RateLimited => "rate_limited",
            SecurityEventType::InvalidToken => "invalid_token",
            SecurityEventType::TokenReuse => "token_reuse",
            SecurityEventType::BruteForce => "brute_force",
            SecurityEventType::SuspiciousPayload => "suspicious_payload",
            SecurityEventType::ToolDefinitionChanged => "tool_definition_changed",
            SecurityEventType::OriginRejected => "origin_rejected",
            SecurityEventType::ConfigReloadFailed => "config_reload_failed",
        }
    }

    pub fn parse(s: &str) -> Option<SecurityEventType> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// How serious one occurrence is on its own.
    pub fn severity(self) -> Severity {
        match self {
            SecurityEventType::Unauthorized | SecurityEventType::RateLimited => Severity::Low,
            SecurityEventType::Forbidden
            | SecurityEventType::InvalidToken
            | SecurityEventType::OriginRejected
            | SecurityEventType::ConfigReloadFailed => Severity::Medium,
            SecurityEventType::BruteForce
            | SecurityEventType::SuspiciousPayload
            | SecurityEventType::ToolDefinitionChanged => Severity::High,
            SecurityEventType::TokenReuse => Severity::Critical,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// One event as its source reports it. Never put a token, password or secret in `details`.
#[derive(Debug, Clone)]
pub struct SecurityEvent {
    pub at_ms: i64,
    pub event_type: SecurityEventType,
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub ip: Option<String>,
    pub endpoint: Option<String>,
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl SecurityEvent {
    pub fn new(event_type: SecurityEventType) -> SecurityEvent {
        SecurityEvent {
            at_ms: crate::audit::now_ms(),
            event_type,
            user_id: None,
            username: None,
            ip: None,
            endpoint: None,
            details: serde_json::Map::new(),
        }
    }

    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    pub fn ip(mut self, ip: Option<impl ToString>) -> Self {
        self.ip = ip.map(|ip| ip.to_string());
        self
    }

    pub fn user(mut self, user_id: Option<i64>, username: Option<impl Into<String>>) -> Self {
        self.user_id = user_id;
        self.username = username.map(Into::into);
        self
    }

    pub fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.details.insert(key.to_string(), value.into());
        self
    }
}

/// Restart-only settings (`[security]`).
#[derive(Debug, Clone)]
pub struct SecuritySettings {
    pub enabled: bool,
    pub queue_capacity: usize,
    pub batch_size: usize,
    pub flush_interval: Duration,
    /// Events older than this are pruned (`None`: kept forever).
    pub retention: Option<Duration>,
    /// At most this many rows are kept (`None`: no limit).
    pub max_rows: Option<u64>,
    /// Failed sign-ins from one IP, or for one username, within `brute_force_window` that
    /// raise a `brute_force` event (0: off).
    pub brute_force_threshold: u32,
    pub brute_force_window: Duration,
    /// At most one `unauthorized` event per (IP, endpoint) within this window; the next one
    /// counts those left out (zero: every one is recorded).
    pub unauthorized_window: Duration,
    /// Scan tool arguments and results for `suspicious_payload` (off the request path).
    pub scan_payloads: bool,
    /// Payload copies waiting for the scanner before new ones are dropped (counted).
    pub scan_queue_capacity: usize,
    /// At most this many bytes of a payload are scanned (a slice of its buffer; see `ScanJob::new`).
    pub scan_max_bytes: usize,
    /// A payload larger than this is itself suspicious (`oversized`).
    pub oversized_bytes: usize,
    /// Prompt-injection phrases (case-insensitive).
    pub injection_phrases: Vec<String>,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        SecuritySettings {
            enabled: true,
            queue_capacity: 10_000,
            batch_size: 200,
            flush_interval: Duration::from_millis(200),
            retention: Some(Duration::from_secs(90 * 86_400)),
            max_rows: Some(1_000_000),
            brute_force_threshold: 5,
            brute_force_window: Duration::from_secs(300),
            unauthorized_window: Duration::from_secs(60),
            scan_payloads: true,
            scan_queue_capacity: 1_000,
            scan_max_bytes: 256 * 1024,
            oversized_bytes: 4 * 1024 * 1024,
            injection_phrases: detectors::DEFAULT_INJECTION_PHRASES
                .iter()
                .map(|p| p.to_string())
                .collect(),
        }
    }
}

/// Plain numbers for monitoring.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SecurityStats {
    /// Events waiting in the queue now.
    pub queued: u64,
    /// Events accepted into the queue since start, by type (in [`SecurityEventType::ALL`] order).
    pub recorded_by_type: Vec<(&'static str, u64)>,
    /// `unauthorized` events left out by the per-(IP, endpoint) throttle.
    pub suppressed: u64,
    /// Events committed to the database.
    pub written: u64,
    /// Events refused because the queue was full.
    pub dropped: u64,
    /// Rows removed by retention.
    pub pruned: u64,
    /// Payloads the scanner looked at.
    pub scanned: u64,
    /// Payload copies dropped because the scanner's queue was full.
    pub scan_dropped: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    recorded: [AtomicU64; 10],
    suppressed: AtomicU64,
    scanned: AtomicU64,
    scan_dropped: AtomicU64,
}

pub(crate) struct Shared {
    settings: SecuritySettings,
    /// `settings.injection_phrases`, compiled for the scanner.
    phrases: detectors::Phrases,
    queue: Queue<SecurityEvent>,
    scan_tx: mpsc::Sender<ScanJob>,
    /// The scanner's end of `scan_tx`; the running SecurityActor's scanner task holds the lock.
    scan_rx: tokio::sync::Mutex<mpsc::Receiver<ScanJob>>,
    counters: Counters,
    feed: broadcast::Sender<Arc<SecurityEventRow>>,
    brute_force: brute_force::Tracker,
    unauthorized: throttle::Throttle,
    tools: tool_hashes::Known,
    approvals: ToolApprovals,
    log: slog::Logger,
}

/// The sink: cheap to clone; `record` never waits. Its queue, counters and live feed outlive
/// the SecurityActor that writes it (see [`SecurityEvents::spawn_actor`]).
#[derive(Clone)]
pub struct SecurityEvents {
    shared: Arc<Shared>,
    db: Database,
}

impl SecurityEvents {
    /// Builds the sink. Events queue from now on; a SecurityActor writes them once spawned
    /// (by GatewaySupervisor in the gateway, by hand in tests).
    pub fn new(db: Database, settings: SecuritySettings, log: slog::Logger) -> SecurityEvents {
        let (feed, _) = broadcast::channel(FEED_CAPACITY);
        let (scan_tx, scan_rx) = mpsc::channel(settings.scan_queue_capacity.max(1));
        SecurityEvents {
            shared: Arc::new(Shared {
                brute_force: brute_force::Tracker::new(
                    settings.brute_force_threshold,
                    settings.brute_force_window,
                ),
                unauthorized: throttle::Throttle::new(settings.unauthorized_window),
                queue: Queue::new(settings.queue_capacity, settings.batch_size),
                phrases: detectors::Phrases::new(&settings.injection_phrases),
                settings,
                scan_tx,
                scan_rx: tokio::sync::Mutex::new(scan_rx),
                counters: Counters::default(),
                feed,
                tools: tool_hashes::Known::default(),
                approvals: ToolApprovals::new(db.clone()),
                log,
            }),
            db,
        }
    }

    /// Spawns a SecurityActor (the batched writer and the payload scanner) over this sink's
    /// queues, linked to `supervisor` when given.
    pub async fn spawn_actor(
        &self,
        supervisor: Option<ActorCell>,
    ) -> Result<ActorRef<BatchMsg>, ractor::SpawnErr> {
        batch::spawn::<actor::SecurityWriter>(self.clone(), &self.shared.queue, supervisor).await
    }

    /// The running SecurityActor, `None` while it is being restarted.
    pub fn actor(&self) -> Option<Arc<ActorRef<BatchMsg>>> {
        self.shared.queue.actor()
    }

    pub fn settings(&self) -> &SecuritySettings {
        &self.shared.settings
    }

    /// Queues `event` without waiting; a full queue drops it (counted). `unauthorized` is
    /// throttled: at most one per (IP, endpoint) per `unauthorized_window`, the next one
    /// carrying how many were left out meanwhile (`details.suppressed`).
    pub fn record(&self, mut event: SecurityEvent) {
        let shared = &self.shared;
        if !shared.settings.enabled {
            return;
        }
        if event.event_type == SecurityEventType::Unauthorized {
            match shared
                .unauthorized
                .admit(event.ip.as_deref(), event.endpoint.as_deref())
            {
                None => {
                    shared.counters.suppressed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Some(0) => {}
                Some(suppressed) => {
                    event = event
                        .detail("suppressed", suppressed)
                        .detail("window_s", shared.settings.unauthorized_window.as_secs());
                }
            }
        }
        let index = SecurityEventType::ALL
            .iter()
            .position(|t| *t == event.event_type)
            .unwrap_or(0);
        match shared.queue.push(event) {
            Ok(()) => {
                shared.counters.recorded[index].fetch_add(1, Ordering::Relaxed);
            }
            Err(dropped) => {
                // Powers of two only: a flood does not turn into a flood of warnings.
                if dropped.is_power_of_two() {
                    slog::warn!(shared.log, "Security event queue full: events are being dropped.";
                        "dropped_total" => dropped, "queue_capacity" => shared.settings.queue_capacity);
                }
            }
        }
    }

    /// Whether payloads should be handed to [`SecurityEvents::scan`] at all.
    pub fn scans_payloads(&self) -> bool {
        self.shared.settings.enabled && self.shared.settings.scan_payloads
    }

    /// Hands `payload` (tool arguments or a result) to the scanner without waiting. A queue
    /// slot is reserved first: when the queue is full the payload is dropped (counted) before
    /// anything is built — `subject` is only called once the slot is held. The job shares
    /// `payload`'s buffer, capped at `scan_max_bytes` (see [`ScanJob::new`]). True when queued.
    pub fn scan(
        &self,
        payload: &bytes::Bytes,
        direction: detectors::Direction,
        subject: impl FnOnce() -> Arc<ScanSubject>,
    ) -> bool {
        if !self.scans_payloads() {
            return false;
        }
        let Ok(slot) = self.shared.scan_tx.try_reserve() else {
            self.shared
                .counters
                .scan_dropped
                .fetch_add(1, Ordering::Relaxed);
            return false;
        };
        slot.send(ScanJob::new(
            payload,
            self.shared.settings.scan_max_bytes,
            direction,
            subject(),
        ));
        true
    }

    /// A failed sign-in (wrong password, unknown user). Raises `brute_force` once a threshold
    /// is crossed for the IP or the username within the window. Never waits.
    pub fn login_failed(&self, ip: Option<std::net::IpAddr>, username: &str, endpoint: &str) {
        for (key, count) in self.shared.brute_force.failed(ip, username) {
            self.record(
                SecurityEvent::new(SecurityEventType::BruteForce)
                    .endpoint(endpoint)
                    .ip(ip)
                    .user(None, (!username.is_empty()).then(|| username.to_string()))
                    .detail("by", key)
                    .detail("failures", count)
                    .detail(
                        "window_s",
                        self.shared.settings.brute_force_window.as_secs(),
                    ),
            );
        }
    }

    /// Compares `backend`'s tool definition hashes (tool → hash) with the last known ones
    /// (remembered in the database), records `tool_definition_changed` for each that changed,
    /// and remembers the new ones. Called when the routing table is rebuilt, off the hot path.
    pub async fn check_tool_definitions(
        &self,
        backend: &str,
        tools: Vec<(String, String)>,
    ) -> Result<usize, crate::storage::StorageError> {
        tool_hashes::check(self, backend, tools).await
    }

    /// The approved tool definitions and the changes awaiting approval.
    pub fn tool_approvals(&self) -> &ToolApprovals {
        &self.shared.approvals
    }

    /// How many of `backend`'s tool definitions are known (compared at least once); `None`
    /// before its first comparison finished.
    pub fn known_tools(&self, backend: &str) -> Option<usize> {
        tool_hashes::known(self, backend)
    }

    pub fn stats(&self) -> SecurityStats {
        let c = &self.shared.counters;
        let queue = &self.shared.queue;
        SecurityStats {
            queued: queue.depth(),
            recorded_by_type: SecurityEventType::ALL
                .iter()
                .zip(c.recorded.iter())
                .map(|(t, n)| (t.as_str(), n.load(Ordering::Relaxed)))
                .collect(),
            suppressed: c.suppressed.load(Ordering::Relaxed),
            written: BatchCounters::get(&queue.counters.written),
            dropped: BatchCounters::get(&queue.counters.dropped),
            pruned: BatchCounters::get(&queue.counters.pruned),
            scanned: c.scanned.load(Ordering::Relaxed),
            scan_dropped: c.scan_dropped.load(Ordering::Relaxed),
        }
    }

    /// Every event as it is committed (the admin API's stream).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<SecurityEventRow>> {
        self.shared.feed.subscribe()
    }

    /// Waits until everything queued so far is committed (at once while the actor is down).
    /// For shutdown and tests.
    pub async fn flush(&self) {
        self.shared.queue.flush().await;
    }

    /// Events matching `filter`, newest first.
    pub async fn list(
        &self,
        filter: crate::storage::security_events::EventFilter,
    ) -> Result<Vec<SecurityEventRow>, crate::storage::StorageError> {
        self.db
            .run(move |c| crate::storage::security_events::list(c, &filter))
            .await
    }
}

impl WriterHandle for SecurityEvents {
    fn name(&self) -> &'static str {
        "security"
    }

    fn spawn(
        &self,
        supervisor: ActorCell,
    ) -> BoxFuture<'static, Result<ActorRef<BatchMsg>, ractor::SpawnErr>> {
        let events = self.clone();
        Box::pin(async move { events.spawn_actor(Some(supervisor)).await })
    }

    /// Marks the actor as down; events keep queueing meanwhile.
    fn withdraw(&self) {
        self.shared.queue.withdraw();
    }
}
