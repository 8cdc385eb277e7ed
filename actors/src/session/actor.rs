//! SessionActor: the only writer of the session store. It creates sessions under the caps
//! (evicting the oldest idle session, never a busy one), ends them on request, and reaps idle
//! ones. Ended sessions are handed to `ended` so their backend sessions get closed by someone
//! who holds an HTTP client.
//!
//! Parent: `GatewaySupervisor`, which restarts it with backoff after a failure. The store and
//! the `ended` channel belong to the supervisor, not to an incarnation, so a restart loses no
//! session and no ended session's cleanup. [`SessionHandle`] reads the current incarnation from
//! a `watch` the supervisor updates: while the actor is down, `create`/`end` answer
//! [`SessionError::Unavailable`] at once, and lookups (a store read) keep working.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::value::RawValue;
use tokio::sync::{mpsc, watch};

use super::outbox::StreamLimits;
use super::store::{ClientSession, LookupError, SessionScope, SessionStore, now_ms};

/// Upper bound for one `create`/`end` call: the actor only touches memory, so a call that takes
/// longer means it is wedged, and the caller gets `Unavailable` instead of hanging.
const CALL_BOUND: Duration = Duration::from_secs(5);

/// Session limits (from `[mcp]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    pub idle_timeout: Duration,
    pub max_total: usize,
    pub max_per_user: usize,
    /// What each session's GET stream keeps for `Last-Event-ID` replay.
    pub replay: StreamLimits,
}

impl Default for SessionLimits {
    /// The configuration's defaults (`[mcp]` in config/authmcp-gateway.toml).
    fn default() -> Self {
        SessionLimits {
            idle_timeout: Duration::from_secs(30 * 60),
            max_total: 20_000,
            max_per_user: 200,
            replay: StreamLimits::default(),
        }
    }
}

/// What `initialize` asks for.
pub struct NewSession {
    pub user_id: i64,
    pub scope: SessionScope,
    pub protocol_version: &'static str,
    pub client_capabilities: Box<RawValue>,
    pub client_info: Box<RawValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("you have {0} open sessions, all in use; end one (DELETE /mcp) or wait")]
    UserLimit(usize),
    #[error("the gateway holds {0} sessions, all in use; try again shortly")]
    TotalLimit(usize),
    #[error("no such session")]
    NotFound,
    #[error("the session service is restarting; try again")]
    Unavailable,
}

pub enum SessionMsg<U: Send + Sync + 'static> {
    Create(
        NewSession,
        RpcReplyPort<Result<Arc<ClientSession<U>>, SessionError>>,
    ),
    End {
        id: String,
        user_id: i64,
        reply: RpcReplyPort<Result<(), SessionError>>,
    },
    Reap,
    /// Panic inside `handle`, to prove that supervision restarts the actor.
    #[cfg(feature = "fault-injection")]
    Panic,
}

pub struct SessionArgs<U: Send + Sync + 'static> {
    pub store: Arc<SessionStore<U>>,
    pub limits: SessionLimits,
    pub ended: mpsc::UnboundedSender<Arc<ClientSession<U>>>,
    pub log: slog::Logger,
}

pub struct SessionState<U: Send + Sync + 'static> {
    args: SessionArgs<U>,
}

pub struct SessionActor<U>(std::marker::PhantomData<fn() -> U>);

impl<U> Default for SessionActor<U> {
    fn default() -> Self {
        SessionActor(std::marker::PhantomData)
    }
}

impl<U: Send + Sync + 'static> Actor for SessionActor<U> {
    type Msg = SessionMsg<U>;
    type State = SessionState<U>;
    type Arguments = SessionArgs<U>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SessionArgs<U>,
    ) -> Result<Self::State, ActorProcessingErr> {
        // Reap often enough that a session lives at most ~a quarter timeout past its expiry.
        let every =
            (args.limits.idle_timeout / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
        myself.send_interval(every, || SessionMsg::Reap);
        Ok(SessionState { args })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SessionMsg::Create(new, reply) => {
                let _ = reply.send(create(state, new));
            }
            SessionMsg::End { id, user_id, reply } => {
                let outcome = match state.args.store.get(&id, user_id) {
                    Ok(_) => {
                        end(state, &id, "ended by the client");
                        Ok(())
                    }
                    Err(LookupError::Unknown | LookupError::OtherUser) => {
                        Err(SessionError::NotFound)
                    }
                };
                let _ = reply.send(outcome);
            }
            SessionMsg::Reap => reap(state),
            #[cfg(feature = "fault-injection")]
            SessionMsg::Panic => panic!("Fault injection: session actor panicked on request."),
        }
        Ok(())
    }
}

fn create<U: Send + Sync + 'static>(
    state: &mut SessionState<U>,
    new: NewSession,
) -> Result<Arc<ClientSession<U>>, SessionError> {
    let limits = state.args.limits;
    let store = &state.args.store;
    // Counted without walking the sessions; only an eviction (at a limit) looks at them all.
    if store.count_for(new.user_id) >= limits.max_per_user {
        let mine: Vec<_> = store
            .all()
            .into_iter()
            .filter(|s| s.user_id == new.user_id)
            .collect();
        let victim = oldest_idle(&mine).ok_or(SessionError::UserLimit(limits.max_per_user))?;
        end(
            state,
            &victim.id,
            "evicted: the user reached max_sessions_per_user",
        );
    } else if store.len() >= limits.max_total {
        let all = store.all();
        let victim = oldest_idle(&all).ok_or(SessionError::TotalLimit(limits.max_total))?;
        end(
            state,
            &victim.id,
            "evicted: the gateway reached max_sessions",
        );
    }
    let session = Arc::new(ClientSession::new(
        Arc::from(new_session_id()),
        new.user_id,
        new.scope,
        new.protocol_version,
        new.client_capabilities,
        new.client_info,
        limits.replay,
    ));
    state.args.store.insert(session.clone());
    slog::debug!(state.args.log, "Session created."; "user_id" => new.user_id, "protocol_version" => new.protocol_version);
    Ok(session)
}

fn oldest_idle<U>(sessions: &[Arc<ClientSession<U>>]) -> Option<Arc<ClientSession<U>>> {
    sessions
        .iter()
        .filter(|s| !s.is_busy())
        .min_by_key(|s| s.last_used_tick())
        .cloned()
}

fn end<U: Send + Sync + 'static>(state: &mut SessionState<U>, id: &str, why: &'static str) {
    if let Some(session) = state.args.store.remove(id) {
        session.mark_ended();
        slog::debug!(state.args.log, "Session ended."; "user_id" => session.user_id, "reason" => why);
        let _ = state.args.ended.send(session);
    }
}

fn reap<U: Send + Sync + 'static>(state: &mut SessionState<U>) {
    let cutoff = now_ms() - state.args.limits.idle_timeout.as_millis() as i64;
    let all = state.args.store.all();
    for session in &all {
        session.post_streams.free_expired();
    }
    let expired: Vec<_> = all
        .into_iter()
        .filter(|s| !s.is_busy() && s.last_used_ms() < cutoff)
        .collect();
    for session in expired {
        end(state, &session.id, "idle timeout");
    }
}

/// 256 random bits as hex: visible ASCII, unguessable (CSPRNG), 64 characters.
fn new_session_id() -> String {
    format!(
        "{}{}",
        crate::auth::tokens::random_id(),
        crate::auth::tokens::random_id()
    )
}

/// The running incarnation, published by the supervisor; `None` while it is down.
type Current<U> = watch::Sender<Option<ActorRef<SessionMsg<U>>>>;

/// The handle the web layer holds: lookups read the store directly; create/end are one call to
/// whichever incarnation currently runs. It stays valid across restarts of the actor.
pub struct SessionHandle<U: Send + Sync + 'static> {
    current: Arc<Current<U>>,
    store: Arc<SessionStore<U>>,
}

impl<U: Send + Sync + 'static> Clone for SessionHandle<U> {
    fn clone(&self) -> Self {
        SessionHandle {
            current: self.current.clone(),
            store: self.store.clone(),
        }
    }
}

impl<U: Send + Sync + 'static> SessionHandle<U> {
    /// An empty store with no actor yet: `create`/`end` answer `Unavailable` until
    /// [`SessionHandle::spawn_actor`] runs one.
    pub(crate) fn new() -> Self {
        SessionHandle {
            current: Arc::new(watch::Sender::new(None)),
            store: Arc::new(SessionStore::default()),
        }
    }

    /// Spawns an incarnation over this handle's store (linked to `supervisor` when given) and
    /// publishes it; ended sessions go to `ended`.
    pub(crate) async fn spawn_actor(
        &self,
        limits: SessionLimits,
        ended: mpsc::UnboundedSender<Arc<ClientSession<U>>>,
        log: slog::Logger,
        supervisor: Option<ActorCell>,
    ) -> Result<ActorRef<SessionMsg<U>>, ractor::SpawnErr> {
        let args = SessionArgs {
            store: self.store.clone(),
            limits,
            ended,
            log,
        };
        let actor = SessionActor::<U>::default();
        let (actor, _join) = match supervisor {
            Some(supervisor) => Actor::spawn_linked(None, actor, args, supervisor).await?,
            None => Actor::spawn(None, actor, args).await?,
        };
        self.current.send_replace(Some(actor.clone()));
        Ok(actor)
    }

    /// Marks the actor as down (failed or stopped): calls answer `Unavailable` at once.
    pub(crate) fn withdraw(&self) {
        self.current.send_replace(None);
    }

    /// The running incarnation, `None` while it is being restarted. Changes on every restart
    /// (a new `ActorRef`), so tests and monitors can wait on it instead of sleeping.
    pub fn subscribe(&self) -> watch::Receiver<Option<ActorRef<SessionMsg<U>>>> {
        self.current.subscribe()
    }

    /// Whether an incarnation is published (it may still have just failed).
    pub fn is_running(&self) -> bool {
        self.current.borrow().is_some()
    }

    pub fn get(&self, id: &str, user_id: i64) -> Result<Arc<ClientSession<U>>, LookupError> {
        self.store.get(id, user_id)
    }

    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// Every open session (O(n): for broadcasts that are rare, never on the request path).
    pub fn all(&self) -> Vec<Arc<ClientSession<U>>> {
        self.store.all()
    }

    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }

    pub async fn create(&self, new: NewSession) -> Result<Arc<ClientSession<U>>, SessionError> {
        let actor = self.actor()?;
        match actor
            .call(|reply| SessionMsg::Create(new, reply), Some(CALL_BOUND))
            .await
        {
            Ok(ractor::rpc::CallResult::Success(result)) => result,
            _ => Err(SessionError::Unavailable),
        }
    }

    pub async fn end(&self, id: &str, user_id: i64) -> Result<(), SessionError> {
        let actor = self.actor()?;
        let id = id.to_string();
        match actor
            .call(
                |reply| SessionMsg::End { id, user_id, reply },
                Some(CALL_BOUND),
            )
            .await
        {
            Ok(ractor::rpc::CallResult::Success(result)) => result,
            _ => Err(SessionError::Unavailable),
        }
    }

    /// Makes the running incarnation panic inside `handle`; false if none runs.
    #[cfg(feature = "fault-injection")]
    pub fn inject_panic(&self) -> bool {
        self.actor()
            .is_ok_and(|actor| actor.cast(SessionMsg::Panic).is_ok())
    }

    fn actor(&self) -> Result<ActorRef<SessionMsg<U>>, SessionError> {
        self.current
            .borrow()
            .clone()
            .ok_or(SessionError::Unavailable)
    }
}
