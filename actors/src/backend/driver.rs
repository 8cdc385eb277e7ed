//! The backend actor's connection task: connect, handshake, health loop, reconnect.
//!
//! It runs as a local task beside the actor (never inside `handle`), so the actor keeps answering
//! stop and other messages while a request to a slow backend is in flight. Everything it learns
//! goes to the [`StatusBoard`]; nothing ever waits on it. States: `starting` until the first
//! result; `online` after a handshake or a good check; `degraded` after a failed check;
//! `offline` after [`OFFLINE_AFTER`] failed checks in a row, a dead transport or a failed
//! connect, followed by a reconnect with backoff.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::error::BackendError;
use super::session::Transport;
use super::status::{BackendState, EntryMut, StatusBoard, now_ms};
use crate::spec::BackendSpec;
use crate::supervisor::backoff::Backoff;

/// Consecutive failed health checks before a connected backend counts as offline.
pub const OFFLINE_AFTER: u32 = 3;

pub(crate) struct Driver {
    pub spec: BackendSpec,
    pub incarnation: u64,
    pub board: Arc<StatusBoard>,
    pub log: slog::Logger,
    pub shutdown: Rc<Notify>,
    pub wake: Rc<Notify>,
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
        tokio::select! {
            biased;
            () = self.shutdown.notified() => {}
            () = self.connection_loop(&mut slot) => {}
        }
        if let Some(transport) = slot.take() {
            transport.close(self.grace()).await;
        }
    }

    fn grace(&self) -> Duration {
        self.spec.timeout.min(Duration::from_secs(2))
    }

    async fn connection_loop(&self, slot: &mut Option<Transport>) {
        let mut backoff = Backoff::default();
        loop {
            match self.connect(slot).await {
                Ok(()) => {
                    backoff.mark_up();
                    let end = match slot.as_ref() {
                        Some(transport) => self.monitor(transport).await,
                        None => continue,
                    };
                    self.close(slot).await;
                    if end.reinitialize_now {
                        slog::info!(self.log, "Backend forgot the session; re-initializing.");
                        continue;
                    }
                    self.publish_offline(&end.error);
                }
                Err(BackendError::SseUnsupported) => {
                    self.publish_offline(&BackendError::SseUnsupported);
                    return std::future::pending().await;
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

    async fn connect(&self, slot: &mut Option<Transport>) -> Result<(), BackendError> {
        let transport = slot.insert(Transport::open(&self.spec, &self.log)?);
        let pid = transport.pid();
        if pid.is_some() {
            self.publish(|e| e.status.pid = pid);
        }
        let handshake = tokio::select! {
            biased;
            error = transport.closed() => Err(error),
            result = transport.handshake() => result,
        };
        let handshake = match handshake {
            Ok(handshake) => handshake,
            Err(error) => return Err(transport.explain(error).await),
        };
        let tool_count = handshake.tools.len();
        slog::info!(self.log, "Backend is online.";
            "tools" => tool_count, "protocol_version" => &handshake.protocol_version);
        let now = now_ms();
        self.publish(|e| {
            e.status.state = BackendState::Online;
            e.status.last_error = None;
            e.status.last_check_ms = Some(now);
            e.status.connected_since_ms = Some(now);
            e.status.protocol_version = Some(handshake.protocol_version);
            *e.tools = Some(handshake.tools);
        });
        Ok(())
    }

    /// Pings every `health_interval` until the session is judged over.
    async fn monitor(&self, transport: &Transport) -> SessionEnd {
        let mut failures = 0u32;
        loop {
            tokio::select! {
                biased;
                error = transport.closed() => return SessionEnd { error, reinitialize_now: false },
                () = tokio::time::sleep(self.spec.health_interval) => {}
                () = self.wake.notified() => {}
            }
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
