//! `BackendSupervisor`: owns one `BackendActor` per enabled backend.
//!
//! Parent: `GatewaySupervisor`. Children: `BackendActor`s, all spawned on one
//! `ThreadLocalActorSpawner` thread (awc is `!Send`). It keeps explicit name ↔ `ActorId` maps
//! because ractor forgets a child's name while it restarts, and it overrides
//! `handle_supervisor_evt`: a child that fails (or stops without being asked) is restarted after
//! an exponential backoff; a child stopped by a reload is simply forgotten. Reload applies a
//! diff: added → started, removed → stopped, changed → restarted, unchanged → untouched.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ractor::thread_local::ThreadLocalActorSpawner;
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent,
};

use super::backoff::Backoff;
use super::{ReloadOutcome, SupervisorError};
use crate::backend::{
    BackendActor, BackendArgs, BackendMsg, BackendState, BackendStatus, Credential,
    PersistedTokens, StatusBoard,
};
use crate::spec::{BackendSpec, BackendTransport};
use crate::upstream::Upstream;

/// Extra time allowed for a stopped backend actor beyond its own bound.
const STOP_WAIT_SLACK: Duration = Duration::from_secs(5);

/// Incarnations are unique for the whole process, so a restarted supervisor can never hand
/// out a number a dead actor still holds.
static NEXT_INCARNATION: AtomicU64 = AtomicU64::new(1);

pub(crate) enum BackendSupervisorMsg {
    Apply(
        Vec<BackendSpec>,
        RpcReplyPort<Result<ReloadOutcome, SupervisorError>>,
    ),
    Restart {
        name: String,
        incarnation: u64,
    },
    CheckNow(String, RpcReplyPort<bool>),
    #[cfg(feature = "fault-injection")]
    InjectPanic(String, RpcReplyPort<bool>),
}

pub(crate) struct BackendSupervisorArgs {
    pub specs: Vec<BackendSpec>,
    pub board: Arc<StatusBoard>,
    pub persisted_tokens: Option<Arc<PersistedTokens>>,
    pub log: slog::Logger,
}

struct Child {
    spec: BackendSpec,
    incarnation: u64,
    /// `None` while a restart is pending.
    actor: Option<ActorRef<BackendMsg>>,
    restarts: u32,
    backoff: Backoff,
    restart_timer: Option<tokio::task::JoinHandle<()>>,
}

pub(crate) struct BackendSupervisorState {
    spawner: ThreadLocalActorSpawner,
    board: Arc<StatusBoard>,
    persisted_tokens: Option<Arc<PersistedTokens>>,
    log: slog::Logger,
    children: BTreeMap<String, Child>,
    names_by_id: HashMap<ActorId, String>,
}

pub(crate) struct BackendSupervisor;

impl Actor for BackendSupervisor {
    type Msg = BackendSupervisorMsg;
    type State = BackendSupervisorState;
    type Arguments = BackendSupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: BackendSupervisorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut state = BackendSupervisorState {
            spawner: ThreadLocalActorSpawner::new(),
            board: args.board,
            persisted_tokens: args.persisted_tokens,
            log: args.log,
            children: BTreeMap::new(),
            names_by_id: HashMap::new(),
        };
        let desired = enabled_by_name(args.specs);
        // After a supervisor restart the board may list backends removed meanwhile.
        for status in state.board.statuses() {
            if !desired.contains_key(&status.name) {
                state.board.remove(&status.name);
            }
        }
        for (name, spec) in desired {
            let restarts = state.board.status(&name).map_or(0, |s| s.restarts);
            state
                .children
                .insert(name.clone(), Child::new(spec, restarts));
            state.start_child(&myself, &name, false).await;
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            BackendSupervisorMsg::Apply(specs, reply) => state.apply(&myself, specs, reply).await,
            BackendSupervisorMsg::Restart { name, incarnation } => {
                let due = state
                    .children
                    .get(&name)
                    .is_some_and(|c| c.incarnation == incarnation && c.actor.is_none());
                if due {
                    state.start_child(&myself, &name, false).await;
                }
            }
            BackendSupervisorMsg::CheckNow(name, reply) => {
                let actor = state.children.get(&name).and_then(|c| c.actor.clone());
                let sent = actor.is_some_and(|a| a.cast(BackendMsg::CheckNow).is_ok());
                let _ = reply.send(sent);
            }
            #[cfg(feature = "fault-injection")]
            BackendSupervisorMsg::InjectPanic(name, reply) => {
                let actor = state.children.get(&name).and_then(|c| c.actor.clone());
                let sent = actor.is_some_and(|a| a.cast(BackendMsg::Panic).is_ok());
                let _ = reply.send(sent);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(cell, error) => {
                state.child_exited(&myself, &cell, &error.to_string());
            }
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                let reason = reason.unwrap_or_else(|| "stopped without a reason".into());
                state.child_exited(&myself, &cell, &reason);
            }
            _ => {}
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let names: Vec<String> = state.children.keys().cloned().collect();
        let mut stopping = Vec::new();
        for name in names {
            if let Some(stop) = state.stop_child(&name, "gateway shutdown") {
                stopping.push(stop);
            }
        }
        wait_stopped(stopping).await;
        state.board.clear();
        slog::info!(state.log, "Backend supervisor stopped.");
        Ok(())
    }
}

impl Child {
    fn new(spec: BackendSpec, restarts: u32) -> Self {
        Child {
            spec,
            incarnation: 0,
            actor: None,
            restarts,
            backoff: Backoff::default(),
            restart_timer: None,
        }
    }
}

impl BackendSupervisorState {
    /// Spawns the actor for `name` under a new incarnation. `fresh` resets its status entry.
    async fn start_child(
        &mut self,
        myself: &ActorRef<BackendSupervisorMsg>,
        name: &str,
        fresh: bool,
    ) {
        let Some(child) = self.children.get_mut(name) else {
            return;
        };
        child.incarnation = NEXT_INCARNATION.fetch_add(1, Ordering::Relaxed);
        child.restart_timer = None;
        // A stdio child is shared: the request path reaches it through this incarnation's
        // channel. HTTP backends are reached directly from the caller's thread.
        let (commands_tx, commands) = match child.spec.transport {
            BackendTransport::Stdio { .. } => {
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                (Some(tx), Some(rx))
            }
            _ => (None, None),
        };
        // One snapshot per incarnation: the actor publishes into it, the request path reads it.
        let credential = Credential::from_spec(&child.spec);
        self.board.reincarnate(
            BackendStatus::starting(name, child.spec.transport.kind(), child.restarts),
            child.incarnation,
            fresh,
            Upstream::new(child.spec.clone(), credential.clone(), commands_tx),
        );
        let args = BackendArgs {
            spec: child.spec.clone(),
            credential,
            incarnation: child.incarnation,
            board: self.board.clone(),
            log: self.log.new(slog::o!("backend" => name.to_owned())),
            commands,
            persisted_tokens: self.persisted_tokens.clone(),
        };
        let spawned = myself
            .get_cell()
            .spawn_local_linked::<BackendActor>(None, args, self.spawner.clone())
            .await;
        match spawned {
            Ok((actor, _join)) => {
                self.names_by_id.insert(actor.get_id(), name.to_owned());
                child.actor = Some(actor);
                child.backoff.mark_up();
            }
            Err(error) => {
                slog::error!(self.log, "Could not start a backend actor.";
                    "backend" => name, "error" => %error);
                let delay = child.backoff.next_delay();
                self.board.update_any(name, |s| {
                    s.state = BackendState::Offline;
                    s.last_error = Some("the backend actor could not start; retrying".into());
                });
                child.restart_timer =
                    Some(schedule_restart(myself, name, child.incarnation, delay));
            }
        }
    }

    /// Forgets `name` and asks its actor to stop; returns what to wait on.
    fn stop_child(&mut self, name: &str, reason: &str) -> Option<(ActorCell, Duration)> {
        let child = self.children.remove(name)?;
        if let Some(timer) = child.restart_timer {
            timer.abort();
        }
        let actor = child.actor?;
        self.names_by_id.remove(&actor.get_id());
        actor.stop(Some(reason.to_owned()));
        Some((actor.get_cell(), child.spec.timeout + STOP_WAIT_SLACK))
    }

    fn child_exited(
        &mut self,
        myself: &ActorRef<BackendSupervisorMsg>,
        cell: &ActorCell,
        why: &str,
    ) {
        // Children we stopped on purpose are no longer in the map.
        let Some(name) = self.names_by_id.remove(&cell.get_id()) else {
            return;
        };
        let Some(child) = self.children.get_mut(&name) else {
            return;
        };
        child.actor = None;
        child.restarts = child.restarts.saturating_add(1);
        let delay = child.backoff.next_delay();
        slog::error!(self.log, "Backend actor failed; restarting it.";
            "backend" => &name, "error" => why, "restarts" => child.restarts,
            "delay_ms" => u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
        let restarts = child.restarts;
        self.board.update_any(&name, |s| {
            s.state = BackendState::Offline;
            s.last_error = Some("the backend actor failed and is being restarted".into());
            s.restarts = restarts;
            s.pid = None;
            s.connected_since_ms = None;
        });
        child.restart_timer = Some(schedule_restart(myself, &name, child.incarnation, delay));
    }

    async fn apply(
        &mut self,
        myself: &ActorRef<BackendSupervisorMsg>,
        specs: Vec<BackendSpec>,
        reply: RpcReplyPort<Result<ReloadOutcome, SupervisorError>>,
    ) {
        let desired = enabled_by_name(specs);
        let mut outcome = ReloadOutcome::default();
        let mut stopping = Vec::new();
        let current: Vec<String> = self.children.keys().cloned().collect();
        for name in current.iter().filter(|n| !desired.contains_key(*n)) {
            stopping.extend(self.stop_child(name, "removed by reload"));
            self.board.remove(name);
            outcome.removed.push(name.clone());
        }
        for (name, spec) in desired {
            match self.children.get(&name) {
                Some(child) if child.spec == spec => outcome.unchanged.push(name),
                Some(_) => {
                    stopping.extend(self.stop_child(&name, "changed by reload"));
                    self.children.insert(name.clone(), Child::new(spec, 0));
                    self.start_child(myself, &name, true).await;
                    outcome.restarted.push(name);
                }
                None => {
                    self.children.insert(name.clone(), Child::new(spec, 0));
                    self.start_child(myself, &name, true).await;
                    outcome.added.push(name);
                }
            }
        }
        slog::info!(self.log, "Applied backend changes.";
            "added" => outcome.added.len(), "removed" => outcome.removed.len(),
            "restarted" => outcome.restarted.len(), "unchanged" => outcome.unchanged.len());
        // Reply once the old actors are gone (stdio children killed and reaped), without
        // holding up this supervisor meanwhile.
        tokio::spawn(async move {
            wait_stopped(stopping).await;
            let _ = reply.send(Ok(outcome));
        });
    }
}

fn schedule_restart(
    myself: &ActorRef<BackendSupervisorMsg>,
    name: &str,
    incarnation: u64,
    delay: Duration,
) -> tokio::task::JoinHandle<()> {
    let myself = myself.clone();
    let name = name.to_owned();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let _ = myself.cast(BackendSupervisorMsg::Restart { name, incarnation });
    })
}

async fn wait_stopped(stopping: Vec<(ActorCell, Duration)>) {
    let waits = stopping
        .into_iter()
        .map(|(cell, bound)| async move { cell.wait(Some(bound)).await });
    futures_util::future::join_all(waits).await;
}

/// Enabled specs keyed by name; a disabled backend counts as absent.
fn enabled_by_name(specs: Vec<BackendSpec>) -> BTreeMap<String, BackendSpec> {
    specs
        .into_iter()
        .filter(|s| s.enabled)
        .map(|s| (s.name.clone(), s))
        .collect()
}
