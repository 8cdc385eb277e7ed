//! `BackendActor`: one per enabled backend, child of the `BackendSupervisor`.
//!
//! It is a ractor *thread-local* actor because awc's client is `!Send`: all backend actors run on
//! the supervisor's `ThreadLocalActorSpawner` thread (a current-thread tokio runtime with a
//! `LocalSet`, which is what awc and `tokio::process` need). The actor owns a [`Driver`] task
//! that does all I/O, so `handle` never waits on the network. Restart policy: on panic or error
//! the supervisor restarts it with backoff; dropping the state (even after a panic) aborts the
//! driver, whose transport kills a stdio child's process group.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use ractor::thread_local::ThreadLocalActor;
use ractor::{ActorProcessingErr, ActorRef};
use tokio::sync::Notify;

use super::Credential;
use super::credential::{PersistedTokens, TokenLoopTarget, run_token_loop};
use super::driver::Driver;
use super::forwarding::StdioCommands;
use super::status::StatusBoard;
use crate::spec::{BackendAuth, BackendSpec, BackendTransport};

/// Extra time `post_stop` allows the driver beyond the spec's timeout to close the session.
const STOP_SLACK: Duration = Duration::from_secs(3);

pub enum BackendMsg {
    /// Run a health check now instead of at the next interval (or reconnect now if offline).
    CheckNow,
    /// Panic inside `handle`, to prove that supervision restarts the actor.
    #[cfg(feature = "fault-injection")]
    Panic,
}

/// Everything a backend actor needs to start; `Send`, unlike the actor's state.
pub struct BackendArgs {
    pub spec: BackendSpec,
    /// The credential snapshot this incarnation's `Upstream` reads too.
    pub credential: Credential,
    /// Which incarnation may write this backend's status entry.
    pub incarnation: u64,
    pub board: Arc<StatusBoard>,
    pub log: slog::Logger,
    /// Forwarded messages for a stdio child (the sender sits in this incarnation's `Upstream`).
    pub(crate) commands: Option<StdioCommands>,
    /// Where an OAuth backend's rotated refresh tokens are kept across restarts.
    pub persisted_tokens: Option<Arc<PersistedTokens>>,
}

pub struct BackendActorState {
    driver: Option<tokio::task::JoinHandle<()>>,
    /// OAuth backends: the task that obtains and refreshes the access token.
    token_loop: Option<tokio::task::JoinHandle<()>>,
    shutdown: Rc<Notify>,
    wake: Rc<Notify>,
    stop_bound: Duration,
}

impl Drop for BackendActorState {
    fn drop(&mut self) {
        // Reached without post_stop after a panic or kill: abort the driver so its transport
        // (and any child process group) goes away with the actor.
        if let Some(driver) = &self.driver {
            driver.abort();
        }
        if let Some(token_loop) = &self.token_loop {
            token_loop.abort();
        }
    }
}

#[derive(Default)]
pub struct BackendActor;

impl ThreadLocalActor for BackendActor {
    type Msg = BackendMsg;
    type State = BackendActorState;
    type Arguments = BackendArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: BackendArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let shutdown = Rc::new(Notify::new());
        let wake = Rc::new(Notify::new());
        let stop_bound = args.spec.timeout + STOP_SLACK;
        let token_loop = match (&args.spec.auth, &args.spec.transport) {
            (
                Some(BackendAuth::OAuth(oauth)),
                BackendTransport::StreamableHttp { url } | BackendTransport::Sse { url },
            ) => Some(tokio::task::spawn_local(run_token_loop(
                args.credential.clone(),
                oauth.clone(),
                TokenLoopTarget {
                    backend: args.spec.name.clone(),
                    url: url.clone(),
                    timeout: args.spec.timeout,
                    persisted: args.persisted_tokens.clone(),
                },
                args.log.clone(),
            ))),
            _ => None,
        };
        let driver = Driver {
            spec: args.spec,
            credential: args.credential,
            incarnation: args.incarnation,
            board: args.board,
            log: args.log,
            shutdown: shutdown.clone(),
            wake: wake.clone(),
            commands: std::cell::RefCell::new(args.commands),
        };
        Ok(BackendActorState {
            driver: Some(tokio::task::spawn_local(driver.run())),
            token_loop,
            shutdown,
            wake,
            stop_bound,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: BackendMsg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            BackendMsg::CheckNow => state.wake.notify_one(),
            #[cfg(feature = "fault-injection")]
            BackendMsg::Panic => panic!("Fault injection: backend actor panicked on request."),
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.shutdown.notify_one();
        if let Some(token_loop) = state.token_loop.take() {
            token_loop.abort();
        }
        if let Some(mut driver) = state.driver.take()
            && tokio::time::timeout(state.stop_bound, &mut driver)
                .await
                .is_err()
        {
            driver.abort();
        }
        Ok(())
    }
}
