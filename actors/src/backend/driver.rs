//! The backend actor's connection task: connect, handshake, health loop, reconnect.
//!
//! It runs as a local task beside the actor (never inside `handle`), so the actor keeps answering
//! stop and other messages while a request to a slow backend is in flight. Everything it learns
//! goes to the [`StatusBoard`]; nothing ever waits on it. States: `starting` until the first
//! result; `online` after a handshake or a good check; `degraded` after a failed check;
//! `offline` after [`OFFLINE_AFTER`] failed checks in a row, a dead transport or a failed
//! connect, followed by a reconnect with backoff.
//!
//! While connected it also keeps the capability cache fresh (every [`CAPABILITY_TTL`] and on the
//! backend's `list_changed`, heard on stdout or the HTTP session's GET stream) and, for stdio,
//! serves the request path's forwarded messages ([`super::forwarding`]) and owns the per-session
//! children ([`super::session_children`]), which it kills when it stops.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::capabilities::{
    BackendCapabilities, CAPABILITY_TTL, DeclaredLists, gateway_client_capabilities,
};
use super::error::BackendError;
use super::forwarding::{CurrentLink, StdioCommands, serve_stdio_commands};
use super::http::ListenEnd;
use super::session::Transport;
use super::session_children::SessionChildren;
use super::status::{BackendState, EntryMut, StatusBoard, now_ms};
use crate::spec::BackendSpec;
use crate::supervisor::backoff::Backoff;

/// Consecutive failed health checks before a connected backend counts as offline.
pub const OFFLINE_AFTER: u32 = 3;

pub(crate) struct Driver {
    pub spec: BackendSpec,
    pub credential: super::Credential,
    pub incarnation: u64,
    pub board: Arc<StatusBoard>,
    pub log: slog::Logger,
    pub shutdown: Rc<Notify>,
    pub wake: Rc<Notify>,
    /// Messages forwarded by the request path to this backend's stdio child.
    pub commands: RefCell<Option<StdioCommands>>,
}

/// What a connected session serves: the current capability snapshot and which lists exist.
struct Live {
    capabilities: Arc<BackendCapabilities>,
    declared: DeclaredLists,
}

/// Why a connected session ended.
struct SessionEnd {
    error: BackendError,
    /// The backend forgot our session: re-initialise at once instead of backing off.
    reinitialize_now: bool,
}

impl Driver {
    /// Runs until `shutdown` is notified, then closes the session (kills a stdio child).
    pub async fn run(self) {
        let mut slot: Option<Transport> = None;
        let link = CurrentLink::default();
        let children = SessionChildren::new(&self.spec, &self.log);
        let commands = self.commands.borrow_mut().take();
        let serve = async {
            if let Some(commands) = commands {
                serve_stdio_commands(commands, &link, Some(&children)).await;
            }
            std::future::pending::<()>().await;
        };
        tokio::select! {
            biased;
            () = self.shutdown.notified() => {}
            () = self.connection_loop(&mut slot, &link) => {}
            () = serve => {}
        }
        link.set(None);
        let shared = async {
            if let Some(transport) = slot.take() {
                transport.close(self.grace()).await;
            }
        };
        tokio::join!(children.close_all(), shared);
    }

    fn grace(&self) -> Duration {
        self.spec.timeout.min(Duration::from_secs(2))
    }

    async fn connection_loop(&self, slot: &mut Option<Transport>, link: &CurrentLink) {
        let lists_changed = Rc::new(Notify::new());
        let mut backoff = Backoff::default();
        loop {
            match self.connect(slot, &lists_changed).await {
                Ok(live) => {
                    backoff.mark_up();
                    let end = match slot.as_ref() {
                        Some(transport) => {
                            link.set(transport.stdio_link());
                            self.monitor(transport, live, &lists_changed).await
                        }
                        None => continue,
                    };
                    link.set(None);
                    self.close(slot).await;
                    if end.reinitialize_now {
                        slog::info!(self.log, "Backend forgot the session; re-initializing.");
                        continue;
                    }
                    self.publish_offline(&end.error);
                }
                Err(error) => {
                    self.close(slot).await;
                    self.publish_offline(&error);
                }
            }
            let delay = backoff.next_delay();
            slog::debug!(self.log, "Reconnecting to the backend after a delay.";
                "delay_ms" => u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.wake.notified() => {}
            }
        }
    }

    async fn close(&self, slot: &mut Option<Transport>) {
        if let Some(transport) = slot.take() {
            transport.close(self.grace()).await;
        }
        self.publish(|e| e.status.pid = None);
    }

    async fn connect(
        &self,
        slot: &mut Option<Transport>,
        lists_changed: &Rc<Notify>,
    ) -> Result<Live, BackendError> {
        let transport = slot.insert(Transport::open(
            &self.spec,
            &self.credential,
            &self.log,
            lists_changed.clone(),
        )?);
        let pid = transport.pid();
        if pid.is_some() {
            self.publish(|e| e.status.pid = pid);
        }
        let handshake = tokio::select! {
            biased;
            error = transport.closed() => Err(error),
            result = transport.handshake(gateway_client_capabilities(&self.spec)) => result,
        };
        let handshake = match handshake {
            Ok(handshake) => handshake,
            Err(error) => return Err(transport.explain(error).await),
        };
        let fetched = handshake.capabilities;
        slog::info!(self.log, "Backend is online.";
            "tools" => fetched.tools.len(), "resources" => fetched.resources.len(),
            "resource_templates" => fetched.resource_templates.len(),
            "prompts" => fetched.prompts.len(), "protocol_version" => &fetched.protocol_version);
        let protocol_version = fetched.protocol_version.clone();
        // A reconnect that finds the same lists keeps the published snapshot: readers only
        // rebuild their routing tables when something really changed.
        let capabilities = match self.board.capabilities(&self.spec.name) {
            Some(known) if known.same_content(&fetched) => known,
            _ => Arc::new(fetched),
        };
        let now = now_ms();
        let published = capabilities.clone();
        self.publish(|e| {
            e.status.state = BackendState::Online;
            e.status.last_error = None;
            e.status.last_check_ms = Some(now);
            e.status.connected_since_ms = Some(now);
            e.status.protocol_version = Some(protocol_version);
            *e.capabilities = Some(published);
        });
        Ok(Live {
            capabilities,
            declared: handshake.declared,
        })
    }

    /// Fetches the lists again; publishes only if something changed.
    async fn refresh(&self, transport: &Transport, live: &mut Live) -> Result<(), BackendError> {
        let lists = transport.fetch_lists(live.declared).await?;
        let old = &live.capabilities;
        let fresh = BackendCapabilities {
            protocol_version: old.protocol_version.clone(),
            server_info: old.server_info.clone(),
            capabilities: old.capabilities.clone(),
            instructions: old.instructions.clone(),
            tools: lists.tools.into(),
            resources: lists.resources.into(),
            resource_templates: lists.resource_templates.into(),
            prompts: lists.prompts.into(),
            fetched_at_ms: now_ms(),
        };
        if fresh.same_content(old) {
            return Ok(());
        }
        slog::info!(self.log, "Backend capabilities changed.";
            "tools" => fresh.tools.len(), "resources" => fresh.resources.len(),
            "resource_templates" => fresh.resource_templates.len(),
            "prompts" => fresh.prompts.len());
        let fresh = Arc::new(fresh);
        live.capabilities = fresh.clone();
        self.publish(|e| *e.capabilities = Some(fresh));
        Ok(())
    }

    /// Pings every `health_interval` until the session is judged over; refreshes the
    /// capability cache on TTL and on `list_changed` meanwhile.
    async fn monitor(
        &self,
        transport: &Transport,
        mut live: Live,
        lists_changed: &Notify,
    ) -> SessionEnd {
        let mut failures = 0u32;
        let mut next_check = Instant::now() + self.spec.health_interval;
        let mut next_refresh = Instant::now() + CAPABILITY_TTL;
        let listen = transport.listen();
        tokio::pin!(listen);
        let mut listening = true;
        let mut stream_supported = true;
        loop {
            let refresh_now = tokio::select! {
                biased;
                error = transport.closed() => return SessionEnd { error, reinitialize_now: false },
                end = &mut listen, if listening => {
                    listening = false;
                    match end {
                        ListenEnd::Unsupported => {
                            stream_supported = false;
                            slog::debug!(self.log,
                                "Backend offers no event stream; capability refresh relies on the TTL.");
                        }
                        ListenEnd::Ended(why) => slog::debug!(self.log,
                            "Backend event stream ended; reopening after the next health check.";
                            "reason" => why),
                    }
                    continue;
                }
                () = lists_changed.notified() => true,
                () = tokio::time::sleep_until(next_refresh) => true,
                () = tokio::time::sleep_until(next_check) => false,
                () = self.wake.notified() => false,
            };
            if refresh_now {
                next_refresh = Instant::now() + CAPABILITY_TTL;
                let result = tokio::select! {
                    biased;
                    error = transport.closed() => Err(error),
                    result = self.refresh(transport, &mut live) => result,
                };
                match result {
                    Ok(()) => {}
                    Err(error) if error.is_transport_dead() => {
                        let reinitialize_now = error == BackendError::SessionExpired;
                        return SessionEnd {
                            error: transport.explain(error).await,
                            reinitialize_now,
                        };
                    }
                    // The last known lists stay published; the next TTL or change retries.
                    Err(error) => slog::warn!(self.log,
                        "Could not refresh the backend's capabilities."; "error" => %error),
                }
                continue;
            }
            next_check = Instant::now() + self.spec.health_interval;
            let result = tokio::select! {
                biased;
                error = transport.closed() => Err(error),
                result = transport.request("ping", None) => result.map(drop),
            };
            match result {
                // An error *response* still proves the backend is alive and knows our session.
                Ok(()) | Err(BackendError::Rpc { .. }) => {
                    if failures > 0 {
                        slog::info!(self.log, "Backend recovered.");
                    }
                    failures = 0;
                    let now = now_ms();
                    self.publish(|e| {
                        e.status.state = BackendState::Online;
                        e.status.last_error = None;
                        e.status.last_check_ms = Some(now);
                    });
                    if !listening && stream_supported {
                        listen.set(transport.listen());
                        listening = true;
                    }
                }
                Err(BackendError::SessionExpired) => {
                    return SessionEnd {
                        error: BackendError::SessionExpired,
                        reinitialize_now: true,
                    };
                }
                Err(error) if error.is_transport_dead() => {
                    return SessionEnd {
                        error: transport.explain(error).await,
                        reinitialize_now: false,
                    };
                }
                Err(error) => {
                    failures += 1;
                    if failures >= OFFLINE_AFTER {
                        return SessionEnd {
                            error,
                            reinitialize_now: false,
                        };
                    }
                    slog::warn!(self.log, "Backend health check failed.";
                        "error" => %error, "consecutive_failures" => failures);
                    let now = now_ms();
                    self.publish(|e| {
                        e.status.state = BackendState::Degraded;
                        e.status.last_error = Some(error.to_string());
                        e.status.last_check_ms = Some(now);
                    });
                }
            }
        }
    }

    fn publish_offline(&self, error: &BackendError) {
        slog::warn!(self.log, "Backend is offline."; "error" => %error);
        let now = now_ms();
        self.publish(|e| {
            e.status.state = BackendState::Offline;
            e.status.last_error = Some(error.to_string());
            e.status.last_check_ms = Some(now);
            e.status.connected_since_ms = None;
            e.status.pid = None;
        });
    }

    fn publish(&self, change: impl FnOnce(EntryMut<'_>)) {
        self.board.update(&self.spec.name, self.incarnation, change);
    }
}
