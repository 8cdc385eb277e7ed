//! `GatewaySupervisor`: the root of the actor tree.
//!
//! Children: `BackendSupervisor`, `SessionActor`, `RateLimitActor` and the batched writers
//! given (`AuditActor`, `SecurityActor`). Each is restarted with its own backoff when it fails
//! or stops unasked:
//! - it holds the desired backend list, so a restarted `BackendSupervisor` rebuilds every backend
//!   from that list; meanwhile the status board still answers every reader;
//! - it holds the session store, its limits and the `ended` channel, so a restarted
//!   `SessionActor` finds every session where it was; meanwhile the `SessionHandle` answers
//!   `create`/`end` with `Unavailable` and lookups keep working;
//! - the rate limiter (settings and buckets) lives outside the `RateLimitActor`, so requests
//!   keep being limited while it restarts; only reloads and reaping wait for it.
//! - a batched writer's queue lives in its handle (`AuditHandle`, `SecurityEvents`), so a
//!   restarted `AuditActor` or `SecurityActor` continues with what was queued meanwhile (the
//!   audit actor reads the chain head back from the database).
//!
//! A child stopping during shutdown is expected and not restarted.

use std::sync::Arc;
use std::time::Duration;

use ractor::{
    Actor, ActorId, ActorProcessingErr, ActorRef, MessagingErr, RpcReplyPort, SupervisionEvent,
};
use tokio::sync::mpsc;

use super::backends::{BackendSupervisor, BackendSupervisorArgs, BackendSupervisorMsg};
use super::backoff::Backoff;
use super::{ReloadOutcome, SupervisorError};
use crate::backend::PersistedTokens;
use crate::backend::StatusBoard;
use crate::batch::{BatchMsg, WriterHandle};
use crate::ratelimit::RateLimitSettings;
use crate::ratelimit::RateLimiter;
use crate::ratelimit::actor::{RateLimitActor, RateLimitArgs, RateLimitMsg};
use crate::session::{ClientSession, SessionHandle, SessionLimits, SessionMsg};
use crate::spec::BackendSpec;
use crate::upstream::UpstreamSession;

/// How long shutdown waits for the backend supervisor (it bounds each backend itself).
const BACKENDS_STOP_BOUND: Duration = Duration::from_secs(60);
/// How long shutdown waits for the session actor (it only touches memory).
const SESSIONS_STOP_BOUND: Duration = Duration::from_secs(5);
/// How long shutdown waits for each batched writer to write what is queued.
const WRITER_STOP_BOUND: Duration = Duration::from_secs(30);

pub(crate) type Sessions = SessionHandle<UpstreamSession>;
pub(crate) type EndedSender = mpsc::UnboundedSender<Arc<ClientSession<UpstreamSession>>>;

pub(crate) enum GatewayMsg {
    ApplyBackends(
        Vec<BackendSpec>,
        RpcReplyPort<Result<ReloadOutcome, SupervisorError>>,
    ),
    RestartBackends,
    RestartSessions,
    ApplyRateLimits(RateLimitSettings, RpcReplyPort<Result<(), SupervisorError>>),
    ReapRateLimits(RpcReplyPort<Option<usize>>),
    RestartRateLimits,
    /// Restart the batched writer at this index of `GatewayState::writers`.
    RestartWriter(usize),
    CheckNow(String, RpcReplyPort<bool>),
    #[cfg(feature = "fault-injection")]
    InjectPanic(String, RpcReplyPort<bool>),
    #[cfg(feature = "fault-injection")]
    InjectRateLimitPanic(RpcReplyPort<bool>),
}

pub(crate) struct GatewayArgs {
    pub specs: Vec<BackendSpec>,
    pub board: Arc<StatusBoard>,
    pub sessions: Sessions,
    pub session_limits: SessionLimits,
    pub ended: EndedSender,
    pub rate_limiter: Arc<RateLimiter>,
    pub reap_every: Duration,
    /// Started in this order, stopped in the reverse one (the audit trail first, so last).
    pub writers: Vec<Arc<dyn WriterHandle>>,
    pub persisted_tokens: Option<Arc<PersistedTokens>>,
    pub log: slog::Logger,
}

/// What the supervisor keeps to restart a batched writer (`AuditActor`, `SecurityActor`): the
/// handle that owns its queue.
struct WriterChild {
    handle: Arc<dyn WriterHandle>,
    actor: Option<ActorRef<BatchMsg>>,
    backoff: Backoff,
}

/// What the supervisor keeps to restart the `SessionActor` without losing anything.
struct SessionChild {
    handle: Sessions,
    limits: SessionLimits,
    ended: EndedSender,
    actor: Option<ActorRef<SessionMsg<UpstreamSession>>>,
    backoff: Backoff,
}

/// What the supervisor keeps to restart the `RateLimitActor`: the limiter it drives.
struct RateLimitChild {
    limiter: Arc<RateLimiter>,
    reap_every: Duration,
    actor: Option<ActorRef<RateLimitMsg>>,
    backoff: Backoff,
}

pub(crate) struct GatewayState {
    backends: Option<ActorRef<BackendSupervisorMsg>>,
    backends_id: Option<ActorId>,
    /// The last backend list asked for: what a restarted `BackendSupervisor` starts from.
    desired: Vec<BackendSpec>,
    board: Arc<StatusBoard>,
    log: slog::Logger,
    backoff: Backoff,
    sessions: SessionChild,
    rate_limits: RateLimitChild,
    writers: Vec<WriterChild>,
    /// Handed to every backend supervisor incarnation (OAuth backends' rotated refresh tokens).
    persisted_tokens: Option<Arc<PersistedTokens>>,
}

pub(crate) struct GatewaySupervisor;

impl Actor for GatewaySupervisor {
    type Msg = GatewayMsg;
    type State = GatewayState;
    type Arguments = GatewayArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: GatewayArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut state = GatewayState {
            backends: None,
            backends_id: None,
            desired: args.specs,
            board: args.board,
            log: args.log,
            backoff: Backoff::default(),
            sessions: SessionChild {
                handle: args.sessions,
                limits: args.session_limits,
                ended: args.ended,
                actor: None,
                backoff: Backoff::default(),
            },
            rate_limits: RateLimitChild {
                limiter: args.rate_limiter,
                reap_every: args.reap_every,
                actor: None,
                backoff: Backoff::default(),
            },
            writers: args
                .writers
                .into_iter()
                .map(|handle| WriterChild {
                    handle,
                    actor: None,
                    backoff: Backoff::default(),
                })
                .collect(),
            persisted_tokens: args.persisted_tokens,
        };
        // A failure here fails `GatewayHandle::start`: nothing is running yet to retry with.
        state.start_sessions(&myself).await?;
        let started = match state.start_writers(&myself).await {
            Ok(()) => match state.start_rate_limits(&myself).await {
                Ok(()) => state.start_backends(&myself).await,
                Err(error) => Err(error),
            },
            Err(error) => Err(error),
        };
        if let Err(error) = started {
            for writer in &mut state.writers {
                writer.handle.withdraw();
                if let Some(actor) = writer.actor.take() {
                    actor.stop(None);
                }
            }
            if let Some(sessions) = state.sessions.actor.take() {
                sessions.stop(None);
            }
            if let Some(rate_limits) = state.rate_limits.actor.take() {
                rate_limits.stop(None);
            }
            state.sessions.handle.withdraw();
            return Err(error);
        }
        slog::info!(state.log, "Gateway supervisor started.";
            "backends" => state.desired.iter().filter(|s| s.enabled).count());
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            GatewayMsg::ApplyBackends(specs, reply) => {
                state.desired = specs.clone();
                let Some(backends) = &state.backends else {
                    let _ = reply.send(Err(SupervisorError::Restarting));
                    return Ok(());
                };
                if let Err(MessagingErr::SendErr(BackendSupervisorMsg::Apply(_, reply))) =
                    backends.cast(BackendSupervisorMsg::Apply(specs, reply))
                {
                    let _ = reply.send(Err(SupervisorError::Restarting));
                }
            }
            GatewayMsg::RestartBackends => {
                if state.backends.is_none()
                    && let Err(error) = state.start_backends(&myself).await
                {
                    slog::error!(state.log, "Could not restart the backend supervisor.";
                        "error" => %error);
                    state.schedule_restart(&myself);
                }
            }
            GatewayMsg::RestartSessions => {
                if state.sessions.actor.is_none()
                    && let Err(error) = state.start_sessions(&myself).await
                {
                    slog::error!(state.log, "Could not restart the session actor.";
                        "error" => %error);
                    state.schedule_sessions_restart(&myself);
                }
            }
            GatewayMsg::ApplyRateLimits(settings, reply) => match &state.rate_limits.actor {
                Some(actor) => {
                    // The actor answers the caller itself; the supervisor does not wait.
                    let port = reply;
                    let actor = actor.clone();
                    tokio::spawn(async move {
                        let outcome = actor.call(|r| RateLimitMsg::Apply(settings, r), None).await;
                        let _ = port.send(match outcome {
                            Ok(ractor::rpc::CallResult::Success(())) => Ok(()),
                            _ => Err(SupervisorError::Restarting),
                        });
                    });
                }
                None => {
                    let _ = reply.send(Err(SupervisorError::Restarting));
                }
            },
            GatewayMsg::ReapRateLimits(reply) => match &state.rate_limits.actor {
                Some(actor) => {
                    let actor = actor.clone();
                    tokio::spawn(async move {
                        let outcome = actor.call(RateLimitMsg::ReapNow, None).await;
                        let _ = reply.send(match outcome {
                            Ok(ractor::rpc::CallResult::Success(removed)) => Some(removed),
                            _ => None,
                        });
                    });
                }
                None => {
                    let _ = reply.send(None);
                }
            },
            GatewayMsg::RestartRateLimits => {
                if state.rate_limits.actor.is_none()
                    && let Err(error) = state.start_rate_limits(&myself).await
                {
                    slog::error!(state.log, "Could not restart the rate-limit actor.";
                        "error" => %error);
                    state.schedule_rate_limits_restart(&myself);
                }
            }
            #[cfg(feature = "fault-injection")]
            GatewayMsg::InjectRateLimitPanic(reply) => {
                let sent = state
                    .rate_limits
                    .actor
                    .as_ref()
                    .is_some_and(|a| a.cast(RateLimitMsg::Panic).is_ok());
                let _ = reply.send(sent);
            }
            GatewayMsg::RestartWriter(index) => {
                if state.writers.get(index).is_some_and(|w| w.actor.is_none())
                    && let Err(error) = state.start_writer(&myself, index).await
                {
                    slog::error!(state.log, "Could not restart a batched writer; its records queue meanwhile.";
                        "writer" => state.writers[index].handle.name(), "error" => %error);
                    state.schedule_writer_restart(&myself, index);
                }
            }
            GatewayMsg::CheckNow(name, reply) => match &state.backends {
                Some(backends) => {
                    let _ = backends.cast(BackendSupervisorMsg::CheckNow(name, reply));
                }
                None => {
                    let _ = reply.send(false);
                }
            },
            #[cfg(feature = "fault-injection")]
            GatewayMsg::InjectPanic(name, reply) => match &state.backends {
                Some(backends) => {
                    let _ = backends.cast(BackendSupervisorMsg::InjectPanic(name, reply));
                }
                None => {
                    let _ = reply.send(false);
                }
            },
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, why) = match event {
            SupervisionEvent::ActorFailed(cell, error) => (cell, error.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => (
                cell,
                reason.unwrap_or_else(|| "stopped without a reason".into()),
            ),
            _ => return Ok(()),
        };
        if state.backends_id == Some(cell.get_id()) {
            state.backends = None;
            state.backends_id = None;
            slog::error!(state.log, "Backend supervisor failed; restarting it."; "error" => why);
            state.schedule_restart(&myself);
        } else if state
            .sessions
            .actor
            .as_ref()
            .is_some_and(|a| a.get_id() == cell.get_id())
        {
            state.sessions.actor = None;
            state.sessions.handle.withdraw();
            slog::error!(state.log, "Session actor failed; restarting it (sessions are kept)."; "error" => why);
            state.schedule_sessions_restart(&myself);
        } else if state
            .rate_limits
            .actor
            .as_ref()
            .is_some_and(|a| a.get_id() == cell.get_id())
        {
            state.rate_limits.actor = None;
            slog::error!(state.log, "Rate-limit actor failed; restarting it (limits stay in force)."; "error" => why);
            state.schedule_rate_limits_restart(&myself);
        } else if let Some(index) = state.writers.iter().position(|w| {
            w.actor
                .as_ref()
                .is_some_and(|a| a.get_id() == cell.get_id())
        }) {
            let writer = &mut state.writers[index];
            writer.actor = None;
            writer.handle.withdraw();
            slog::error!(state.log, "Batched writer failed; restarting it (records keep queueing).";
                "writer" => writer.handle.name(), "error" => why);
            state.schedule_writer_restart(&myself, index);
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.sessions.handle.withdraw();
        if let Some(actor) = state.rate_limits.actor.take() {
            let _ = actor
                .stop_and_wait(Some("gateway shutdown".into()), Some(SESSIONS_STOP_BOUND))
                .await;
        }
        if let Some(actor) = state.sessions.actor.take() {
            let _ = actor
                .stop_and_wait(Some("gateway shutdown".into()), Some(SESSIONS_STOP_BOUND))
                .await;
        }
        if let Some(backends) = state.backends.take() {
            state.backends_id = None;
            let _ = backends
                .stop_and_wait(Some("gateway shutdown".into()), Some(BACKENDS_STOP_BOUND))
                .await;
        }
        // Last (the audit trail last of all): requests answered while the others stopped are
        // in their queues; each writes them all before it stops.
        for writer in state.writers.iter_mut().rev() {
            writer.handle.withdraw();
            if let Some(actor) = writer.actor.take() {
                let _ = actor
                    .stop_and_wait(Some("gateway shutdown".into()), Some(WRITER_STOP_BOUND))
                    .await;
            }
        }
        slog::info!(state.log, "Gateway supervisor stopped.");
        Ok(())
    }
}

impl GatewayState {
    async fn start_backends(
        &mut self,
        myself: &ActorRef<GatewayMsg>,
    ) -> Result<(), ActorProcessingErr> {
        let args = BackendSupervisorArgs {
            specs: self.desired.clone(),
            board: self.board.clone(),
            persisted_tokens: self.persisted_tokens.clone(),
            log: self.log.clone(),
        };
        let (backends, _join) =
            Actor::spawn_linked(None, BackendSupervisor, args, myself.get_cell()).await?;
        self.backends_id = Some(backends.get_id());
        self.backends = Some(backends);
        self.backoff.mark_up();
        Ok(())
    }

    fn schedule_restart(&mut self, myself: &ActorRef<GatewayMsg>) {
        let delay = self.backoff.next_delay();
        cast_after(myself, delay, || GatewayMsg::RestartBackends);
    }

    async fn start_sessions(
        &mut self,
        myself: &ActorRef<GatewayMsg>,
    ) -> Result<(), ActorProcessingErr> {
        let child = &mut self.sessions;
        let actor = child
            .handle
            .spawn_actor(
                child.limits,
                child.ended.clone(),
                self.log.new(slog::o!("actor" => "sessions")),
                Some(myself.get_cell()),
            )
            .await?;
        child.actor = Some(actor);
        child.backoff.mark_up();
        Ok(())
    }

    fn schedule_sessions_restart(&mut self, myself: &ActorRef<GatewayMsg>) {
        let delay = self.sessions.backoff.next_delay();
        cast_after(myself, delay, || GatewayMsg::RestartSessions);
    }
}

impl GatewayState {
    async fn start_rate_limits(
        &mut self,
        myself: &ActorRef<GatewayMsg>,
    ) -> Result<(), ActorProcessingErr> {
        let child = &mut self.rate_limits;
        let args = RateLimitArgs {
            limiter: child.limiter.clone(),
            reap_every: child.reap_every,
            log: self.log.new(slog::o!("actor" => "rate_limits")),
        };
        child.actor = Some(RateLimitActor::spawn(args, myself.get_cell()).await?);
        child.backoff.mark_up();
        Ok(())
    }

    async fn start_writers(
        &mut self,
        myself: &ActorRef<GatewayMsg>,
    ) -> Result<(), ActorProcessingErr> {
        for index in 0..self.writers.len() {
            self.start_writer(myself, index).await?;
        }
        Ok(())
    }

    async fn start_writer(
        &mut self,
        myself: &ActorRef<GatewayMsg>,
        index: usize,
    ) -> Result<(), ActorProcessingErr> {
        let child = &mut self.writers[index];
        let actor = child.handle.spawn(myself.get_cell()).await?;
        child.actor = Some(actor);
        child.backoff.mark_up();
        Ok(())
    }

    fn schedule_rate_limits_restart(&mut self, myself: &ActorRef<GatewayMsg>) {
        let delay = self.rate_limits.backoff.next_delay();
        cast_after(myself, delay, || GatewayMsg::RestartRateLimits);
    }

    fn schedule_writer_restart(&mut self, myself: &ActorRef<GatewayMsg>, index: usize) {
        if let Some(child) = self.writers.get_mut(index) {
            let delay = child.backoff.next_delay();
            cast_after(myself, delay, move || GatewayMsg::RestartWriter(index));
        }
    }
}

fn cast_after(
    myself: &ActorRef<GatewayMsg>,
    delay: Duration,
    message: impl FnOnce() -> GatewayMsg + Send + 'static,
) {
    let myself = myself.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let _ = myself.cast(message());
    });
}
