//! The supervision tree and its public handle.
//!
//! ```text
//! GatewaySupervisor                 (root; restarts each child with its own backoff)
//! ├── BackendSupervisor             (diffs reloads; restarts failed BackendActors with backoff)
//! │   └── BackendActor × N          (thread-local, on one backend I/O thread)
//! ├── SessionActor                  (client sessions; the store outlives it)
//! ├── RateLimitActor                (limits config on reload, reaping; the limiter outlives it)
//! ├── SecurityActor                 (security events: batched writes, payload scanner, live
//! │                                  feed; the queues outlive it)
//! └── AuditActor                    (audit trail: batched writes, hash chain, live feed; the
//!                                    queue outlives it)
//! ```
//! [`GatewayHandle`] is what the root crate and the web crate hold: reloads and shutdown are
//! messages to the root supervisor; statuses and tool lists are snapshot reads that never wait
//! on an actor, so a backend being restarted can never make a caller hang. Its
//! [`SessionHandle`] follows the SessionActor across restarts and answers `Unavailable` while
//! it is down.

mod backends;
pub(crate) mod backoff;
mod gateway;

use std::sync::Arc;

use ractor::Actor;
use serde::Serialize;
use tokio::sync::watch;

use crate::backend::{
    BackendCapabilities, BackendStatus, CredentialStatsSnapshot, StatusBoard, ToolList,
};
use crate::ratelimit::{REAP_INTERVAL, RateLimitSettings, RateLimiter};
use crate::session::{ClientSession, SessionHandle, SessionLimits};
use crate::spec::BackendSpec;
use crate::upstream::{Upstream, UpstreamSession};
use gateway::{GatewayArgs, GatewayMsg, GatewaySupervisor};

/// Client sessions that ended (DELETE, eviction, idle expiry): whoever holds this closes their
/// backend sessions (`Upstream::close`). It survives restarts of the SessionActor.
pub type EndedSessions = tokio::sync::mpsc::UnboundedReceiver<Arc<ClientSession<UpstreamSession>>>;

/// How long `shutdown` waits for the whole tree before giving up.
const SHUTDOWN_BOUND: std::time::Duration = std::time::Duration::from_secs(90);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SupervisorError {
    #[error("could not start the supervisor: {0}")]
    Spawn(String),
    #[error("the supervisor is not running")]
    NotRunning,
    #[error(
        "the backend supervisor is restarting; the new backend list is applied when it is back"
    )]
    Restarting,
}

/// What a reload did, by backend name (each list sorted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReloadOutcome {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub restarted: Vec<String>,
    pub unchanged: Vec<String>,
}

/// The batched writers the tree runs (each `None`: not run). Their handles own the queues, so
/// callers keep them to record; the tree restarts their actors and stops them after everything
/// else, the audit trail last.
#[derive(Clone, Default)]
pub struct Writers {
    pub audit: Option<crate::audit::AuditHandle>,
    pub security: Option<crate::security::SecurityEvents>,
}

impl Writers {
    fn into_handles(self) -> Vec<Arc<dyn crate::batch::WriterHandle>> {
        let mut handles: Vec<Arc<dyn crate::batch::WriterHandle>> = Vec::new();
        if let Some(audit) = self.audit {
            handles.push(Arc::new(audit));
        }
        if let Some(security) = self.security {
            handles.push(Arc::new(security));
        }
        handles
    }
}

/// A cheap, cloneable handle on the running supervision tree.
#[derive(Clone)]
pub struct GatewayHandle {
    gateway: ractor::ActorRef<GatewayMsg>,
    board: Arc<StatusBoard>,
    sessions: SessionHandle<UpstreamSession>,
    rate_limiter: Arc<RateLimiter>,
}

impl GatewayHandle {
    /// Starts the tree with default session limits, dropping ended sessions (their backend
    /// sessions are released when dropped). For tests about backends; the daemon uses
    /// [`GatewayHandle::start_with_sessions`].
    pub async fn start(
        backends: Vec<BackendSpec>,
        log: slog::Logger,
    ) -> Result<(GatewayHandle, tokio::task::JoinHandle<()>), SupervisorError> {
        let (gateway, _ended, join) =
            Self::start_with_sessions(backends, SessionLimits::default(), log).await?;
        Ok((gateway, join))
    }

    /// Starts the tree. Returns once every supervisor, the session actor and every backend
    /// actor exist; backends connect in the background (watch [`GatewayHandle::subscribe`]).
    /// Ended client sessions arrive on the returned receiver. The join handle ends when the
    /// root supervisor has stopped.
    pub async fn start_with_sessions(
        backends: Vec<BackendSpec>,
        session_limits: SessionLimits,
        log: slog::Logger,
    ) -> Result<(GatewayHandle, EndedSessions, tokio::task::JoinHandle<()>), SupervisorError> {
        Self::start_with_limits(
            backends,
            session_limits,
            RateLimitSettings::default(),
            REAP_INTERVAL,
            Writers::default(),
            None,
            log,
        )
        .await
    }

    /// [`GatewayHandle::start_with_sessions`] plus the batched writers' actors over their
    /// handles' queues. Shutdown stops them last, after they wrote everything queued.
    pub async fn start_with_writers(
        backends: Vec<BackendSpec>,
        session_limits: SessionLimits,
        writers: Writers,
        log: slog::Logger,
    ) -> Result<(GatewayHandle, EndedSessions, tokio::task::JoinHandle<()>), SupervisorError> {
        Self::start_with_limits(
            backends,
            session_limits,
            RateLimitSettings::default(),
            REAP_INTERVAL,
            writers,
            None,
            log,
        )
        .await
    }

    /// [`GatewayHandle::start_with_sessions`] with the rate limits in force from the start, how
    /// often the `RateLimitActor` reaps idle keys, the batched writers' actors, and where OAuth
    /// backends keep their rotated refresh tokens (`None`: in memory only).
    pub async fn start_with_limits(
        backends: Vec<BackendSpec>,
        session_limits: SessionLimits,
        rate_limits: RateLimitSettings,
        reap_every: std::time::Duration,
        writers: Writers,
        persisted_tokens: Option<Arc<crate::backend::PersistedTokens>>,
        log: slog::Logger,
    ) -> Result<(GatewayHandle, EndedSessions, tokio::task::JoinHandle<()>), SupervisorError> {
        let rate_limiter = Arc::new(RateLimiter::new(rate_limits));
        let board = Arc::new(StatusBoard::default());
        let sessions = SessionHandle::new();
        let (ended, ended_rx) = tokio::sync::mpsc::unbounded_channel();
        let args = GatewayArgs {
            specs: backends,
            board: board.clone(),
            sessions: sessions.clone(),
            session_limits,
            ended,
            rate_limiter: rate_limiter.clone(),
            reap_every,
            writers: writers.into_handles(),
            persisted_tokens,
            log,
        };
        let (gateway, join) = Actor::spawn(None, GatewaySupervisor, args)
            .await
            .map_err(|e| SupervisorError::Spawn(e.to_string()))?;
        let handle = GatewayHandle {
            gateway,
            board,
            sessions,
            rate_limiter,
        };
        Ok((handle, ended_rx, join))
    }

    /// The rate limiter request handlers check directly (never waiting on an actor).
    pub fn rate_limiter(&self) -> &Arc<RateLimiter> {
        &self.rate_limiter
    }

    /// Reload: hands new limits to the `RateLimitActor`; returns once they are in force.
    /// `Restarting` while the actor is being restarted (the old limits stay in force).
    pub async fn apply_rate_limits(
        &self,
        settings: RateLimitSettings,
    ) -> Result<(), SupervisorError> {
        match self
            .gateway
            .call(|reply| GatewayMsg::ApplyRateLimits(settings, reply), None)
            .await
        {
            Ok(ractor::rpc::CallResult::Success(result)) => result,
            _ => Err(SupervisorError::NotRunning),
        }
    }

    /// Asks the `RateLimitActor` for a reaping pass now; how many idle keys it removed, `None`
    /// while it is not running.
    pub async fn reap_rate_limits(&self) -> Option<usize> {
        match self.gateway.call(GatewayMsg::ReapRateLimits, None).await {
            Ok(ractor::rpc::CallResult::Success(removed)) => removed,
            _ => None,
        }
    }

    /// Makes the RateLimitActor panic inside `handle`; false if it is not running.
    #[cfg(feature = "fault-injection")]
    pub async fn inject_rate_limit_panic(&self) -> bool {
        matches!(
            self.gateway
                .call(GatewayMsg::InjectRateLimitPanic, None)
                .await,
            Ok(ractor::rpc::CallResult::Success(true))
        )
    }

    /// The client sessions, served by the supervised SessionActor: valid across its restarts.
    pub fn sessions(&self) -> &SessionHandle<UpstreamSession> {
        &self.sessions
    }

    /// Reconciles the running backends with `desired` (disabled specs count as removed) and
    /// returns once removed or replaced actors have stopped.
    pub async fn apply_backends(
        &self,
        desired: Vec<BackendSpec>,
    ) -> Result<ReloadOutcome, SupervisorError> {
        match self
            .gateway
            .call(|reply| GatewayMsg::ApplyBackends(desired, reply), None)
            .await
        {
            Ok(ractor::rpc::CallResult::Success(result)) => result,
            _ => Err(SupervisorError::NotRunning),
        }
    }

    /// Every backend's status, sorted by name. A snapshot read: never waits.
    pub fn statuses(&self) -> Vec<BackendStatus> {
        self.board.statuses()
    }

    /// A counter that changes whenever any status changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.board.subscribe()
    }

    /// The cached tool list of `backend`, exactly as the backend sent each tool.
    pub fn tools(&self, backend: &str) -> Option<ToolList> {
        self.board.tools(backend)
    }

    /// The cached capabilities of `backend` (tools, resources, templates, prompts, each item
    /// raw). A snapshot read: never waits. The last known lists stay while the backend is
    /// degraded or offline; callers decide by its status whether to use them.
    pub fn capabilities(&self, backend: &str) -> Option<Arc<BackendCapabilities>> {
        self.board.capabilities(backend)
    }

    /// A counter bumped only when some backend's capabilities (or its forwarding handle)
    /// change, appear or go away — not on health checks. Rebuild routing tables on it.
    pub fn subscribe_capabilities(&self) -> watch::Receiver<u64> {
        self.board.subscribe_capabilities()
    }

    /// The forwarding handle for `backend`'s current actor, `None` for unknown or disabled
    /// backends. A snapshot read: cheap enough to call per request.
    pub fn upstream(&self, backend: &str) -> Option<Upstream> {
        self.board.upstream(backend)
    }

    /// Token refresh outcomes of every running OAuth backend, by name, for metrics. Counters
    /// belong to the backend's current incarnation (a restart starts them at zero again).
    pub fn credential_stats(&self) -> Vec<(String, CredentialStatsSnapshot)> {
        self.statuses()
            .into_iter()
            .filter_map(|status| {
                let upstream = self.board.upstream(&status.name)?;
                upstream.credential().token_status()?;
                Some((status.name, upstream.credential().stats()))
            })
            .collect()
    }

    /// Stops every actor (stdio children are killed and reaped) and returns when done.
    pub async fn shutdown(&self) {
        let _ = self
            .gateway
            .stop_and_wait(Some("shutdown".into()), Some(SHUTDOWN_BOUND))
            .await;
    }

    /// Asks `backend` for a health check now (or, if offline, a reconnect attempt now).
    /// False if no such running actor. The result shows up in [`GatewayHandle::statuses`].
    pub async fn check_now(&self, backend: &str) -> bool {
        let name = backend.to_owned();
        matches!(
            self.gateway
                .call(|reply| GatewayMsg::CheckNow(name, reply), None)
                .await,
            Ok(ractor::rpc::CallResult::Success(true))
        )
    }

    /// Makes the SessionActor panic inside `handle`; false if it is not running.
    #[cfg(feature = "fault-injection")]
    pub fn inject_session_panic(&self) -> bool {
        self.sessions.inject_panic()
    }

    /// Makes `backend`'s actor panic inside `handle`; false if no such running actor.
    #[cfg(feature = "fault-injection")]
    pub async fn inject_panic(&self, backend: &str) -> bool {
        let name = backend.to_owned();
        matches!(
            self.gateway
                .call(|reply| GatewayMsg::InjectPanic(name, reply), None)
                .await,
            Ok(ractor::rpc::CallResult::Success(true))
        )
    }
}
