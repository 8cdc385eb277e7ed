//! SessionActor: the only writer of the session store. It creates sessions under the caps
//! (evicting the oldest idle session, never a busy one), ends them on request, and reaps idle
//! ones. Ended sessions are handed to `ended` so their backend sessions get closed by someone
//! who holds an HTTP client.
//!
//! Parent: started by the gateway wiring; restart policy: a restart keeps the store (it is
//! shared), so no session is lost when the actor fails.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use super::store::{ClientSession, LookupError, SessionScope, SessionStore, now_ms};

/// Session limits (from `[mcp]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    pub idle_timeout: Duration,
    pub max_total: usize,
    pub max_per_user: usize,
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
        }
        Ok(())
    }
}

fn create<U: Send + Sync + 'static>(
    state: &mut SessionState<U>,
    new: NewSession,
) -> Result<Arc<ClientSession<U>>, SessionError> {
    let limits = state.args.limits;
    let all = state.args.store.all();
    let mine: Vec<_> = all
        .iter()
        .filter(|s| s.user_id == new.user_id)
        .cloned()
        .collect();
    if mine.len() >= limits.max_per_user {
        let victim = oldest_idle(&mine).ok_or(SessionError::UserLimit(limits.max_per_user))?;
        end(
            state,
            &victim.id,
            "evicted: the user reached max_sessions_per_user",
        );
    } else if all.len() >= limits.max_total {
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
        slog::debug!(state.args.log, "Session ended."; "user_id" => session.user_id, "reason" => why);
        let _ = state.args.ended.send(session);
    }
}

fn reap<U: Send + Sync + 'static>(state: &mut SessionState<U>) {
    let cutoff = now_ms() - state.args.limits.idle_timeout.as_millis() as i64;
    let expired: Vec<_> = state
        .args
        .store
        .all()
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

/// The handle the web layer holds: lookups read the store directly; create/end are one call.
pub struct SessionHandle<U: Send + Sync + 'static> {
    actor: ActorRef<SessionMsg<U>>,
    store: Arc<SessionStore<U>>,
}

impl<U: Send + Sync + 'static> Clone for SessionHandle<U> {
    fn clone(&self) -> Self {
        SessionHandle {
            actor: self.actor.clone(),
            store: self.store.clone(),
        }
    }
}

impl<U: Send + Sync + 'static> SessionHandle<U> {
    /// Starts the actor; ended sessions arrive on the returned receiver.
    pub async fn start(
        limits: SessionLimits,
        log: slog::Logger,
    ) -> Result<(Self, mpsc::UnboundedReceiver<Arc<ClientSession<U>>>), ractor::SpawnErr> {
        let store = Arc::new(SessionStore::default());
        let (ended, ended_rx) = mpsc::unbounded_channel();
        let args = SessionArgs {
            store: store.clone(),
            limits,
            ended,
            log,
        };
        let (actor, _join) = Actor::spawn(None, SessionActor::<U>::default(), args).await?;
        Ok((SessionHandle { actor, store }, ended_rx))
    }

    pub fn get(&self, id: &str, user_id: i64) -> Result<Arc<ClientSession<U>>, LookupError> {
        self.store.get(id, user_id)
    }

    pub fn len(&self) -> usize {
        self.store.len()
    }

    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }

    pub async fn create(&self, new: NewSession) -> Result<Arc<ClientSession<U>>, SessionError> {
        match self
            .actor
            .call(|reply| SessionMsg::Create(new, reply), None)
            .await
        {
            Ok(ractor::rpc::CallResult::Success(result)) => result,
            _ => Err(SessionError::Unavailable),
        }
    }

    pub async fn end(&self, id: &str, user_id: i64) -> Result<(), SessionError> {
        let id = id.to_string();
        match self
            .actor
            .call(|reply| SessionMsg::End { id, user_id, reply }, None)
            .await
        {
            Ok(ractor::rpc::CallResult::Success(result)) => result,
            _ => Err(SessionError::Unavailable),
        }
    }

    /// Ends every session (shutdown) and stops the actor.
    pub fn stop(&self) {
        self.actor.stop(None);
    }
}
