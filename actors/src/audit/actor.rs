//! `AuditActor`: drains the audit queue into `audit_records` in batches, one transaction each,
//! chaining every row to the one before; publishes committed rows to the live feed and the JSON
//! lines file; applies retention.
//!
//! Parent: GatewaySupervisor, which restarts it with backoff. State worth keeping (the queue,
//! the counters) lives in the [`AuditHandle`]; the chain head is read back from the database on
//! start. A batch that fails to commit is kept and retried on the next tick (same ids and
//! hashes), and the queue is not read meanwhile — so the queue fills and overflow is counted,
//! rather than records vanishing.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::chain::{GENESIS, row_hash};
use super::file::JsonLines;
use super::redact::Redactor;
use super::{AuditEvent, AuditHandle, now_ms};
use crate::storage::audit_records::{self, AuditRow};

/// How often retention runs (and once at start).
const PRUNE_INTERVAL: Duration = Duration::from_secs(600);

pub enum AuditMsg {
    /// Write what is queued (the interval tick, or a full batch).
    Drain,
    /// Write everything queued and answer when committed.
    Flush(RpcReplyPort<()>),
    Prune,
    PruneNow(RpcReplyPort<u64>),
}

pub(crate) struct AuditArgs {
    pub handle: AuditHandle,
}

pub(crate) struct AuditState {
    handle: AuditHandle,
    redactor: Redactor,
    next_id: i64,
    head_hash: String,
    /// A batch that could not be committed; retried before anything new is read.
    pending: Vec<AuditRow>,
    file: Option<JsonLines>,
}

pub(crate) struct AuditActor;

impl Actor for AuditActor {
    type Msg = AuditMsg;
    type State = AuditState;
    type Arguments = AuditArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: AuditArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let handle = args.handle;
        let settings = handle.settings().clone();
        let redactor = Redactor::new(&settings.redact_patterns)?;
        let head = handle.db.run(audit_records::chain_head).await?;
        let (last_id, head_hash) = head
            .map(|a| (a.id, a.hash))
            .unwrap_or((0, GENESIS.to_string()));
        let file = match &settings.file_dir {
            Some(dir) => Some(JsonLines::open(
                dir,
                settings.file_max_bytes,
                settings.file_max_files,
            )?),
            None => None,
        };
        myself.send_interval(settings.flush_interval, || AuditMsg::Drain);
        myself.send_interval(PRUNE_INTERVAL, || AuditMsg::Prune);
        let _ = myself.cast(AuditMsg::Prune);
        slog::debug!(handle.shared.log, "Audit actor started."; "next_id" => last_id + 1);
        Ok(AuditState {
            handle,
            redactor,
            next_id: last_id + 1,
            head_hash,
            pending: Vec::new(),
            file,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            AuditMsg::Drain => {
                state.drain(false).await;
            }
            AuditMsg::Flush(reply) => {
                state.drain(true).await;
                let _ = reply.send(());
            }
            AuditMsg::Prune => {
                state.prune().await;
            }
            AuditMsg::PruneNow(reply) => {
                let n = state.prune().await;
                let _ = reply.send(n);
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Shutdown: everything accepted so far reaches the database before the process exits.
        state.drain(true).await;
        let stats = state.handle.stats();
        slog::info!(state.handle.shared.log, "Audit trail flushed.";
            "written" => stats.written, "dropped" => stats.dropped, "unwritten" => stats.queued + state.pending.len() as u64);
        Ok(())
    }
}

impl AuditState {
    /// Writes batches until the queue is empty. `everything`: also what arrives while writing
    /// stops only at an empty queue (the same), but a failed commit is retried a few times
    /// instead of waiting for the next tick.
    async fn drain(&mut self, everything: bool) {
        self.handle
            .shared
            .drain_asked
            .store(false, Ordering::Release);
        let batch_size = self.handle.settings().batch_size.max(1);
        let mut attempts_left = if everything { 3 } else { 1 };
        loop {
            if self.pending.is_empty() {
                let events = self.take(batch_size).await;
                if events.is_empty() {
                    return;
                }
                self.pending = events.into_iter().map(|e| self.chain(e)).collect();
            }
            if !self.commit().await {
                attempts_left -= 1;
                if attempts_left == 0 {
                    return;
                }
            }
        }
    }

    async fn take(&mut self, n: usize) -> Vec<AuditEvent> {
        let rx = self.handle.shared.rx.clone();
        let mut rx = rx.lock().await;
        let mut events = Vec::with_capacity(n.min(rx.len()));
        while events.len() < n {
            match rx.try_recv() {
                Ok(event) => events.push(event),
                Err(_) => break,
            }
        }
        events
    }

    fn chain(&mut self, e: AuditEvent) -> AuditRow {
        let capture = self.handle.settings().capture_payloads;
        let details = details_json(&e, capture.then_some(&self.redactor));
        let mut row = AuditRow {
            id: self.next_id,
            at_ms: e.at_ms,
            kind: e.kind.as_str().to_string(),
            event: e.event,
            user_id: e.user_id,
            username: e.username,
            method: e.method,
            backend: e.backend.as_deref().map(str::to_string),
            item: e.item,
            outcome: e.outcome,
            error_code: e.error_code,
            latency_us: e.latency_us,
            ip: e.ip,
            details,
            prev_hash: std::mem::take(&mut self.head_hash),
            hash: String::new(),
        };
        row.hash = row_hash(&row);
        self.head_hash = row.hash.clone();
        self.next_id += 1;
        row
    }

    /// Commits `pending`; true when it went in.
    async fn commit(&mut self) -> bool {
        let rows = Arc::new(std::mem::take(&mut self.pending));
        let to_write = rows.clone();
        let result = self
            .handle
            .db
            .run(move |conn| audit_records::insert_batch(conn, &to_write))
            .await;
        let counters = &self.handle.shared.counters;
        match result {
            Ok(()) => {
                counters
                    .written
                    .fetch_add(rows.len() as u64, Ordering::Relaxed);
                counters.batches.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut last) = counters.last_error.lock() {
                    *last = None;
                }
                let rows = Arc::try_unwrap(rows).unwrap_or_else(|shared| (*shared).clone());
                if let Some(file) = &mut self.file
                    && let Err(error) = file.append(&rows)
                {
                    slog::warn!(self.handle.shared.log, "Could not append to the audit JSON lines file."; "error" => %error);
                }
                for row in rows {
                    let _ = self.handle.shared.feed.send(Arc::new(row));
                }
                true
            }
            Err(error) => {
                slog::error!(self.handle.shared.log, "Could not write audit records; retrying."; "error" => %error, "records" => rows.len());
                if let Ok(mut last) = counters.last_error.lock() {
                    *last = Some(error.to_string());
                }
                self.pending = Arc::try_unwrap(rows).unwrap_or_else(|shared| (*shared).clone());
                false
            }
        }
    }

    async fn prune(&mut self) -> u64 {
        let settings = self.handle.settings();
        let older_than = settings
            .retention
            .map(|age| now_ms() - age.as_millis() as i64);
        let keep = settings.max_rows.map(|n| n as i64);
        if older_than.is_none() && keep.is_none() {
            return 0;
        }
        match self
            .handle
            .db
            .run(move |conn| audit_records::prune(conn, older_than, keep))
            .await
        {
            Ok(n) => {
                if n > 0 {
                    slog::info!(self.handle.shared.log, "Pruned old audit records."; "records" => n);
                }
                self.handle
                    .shared
                    .counters
                    .pruned
                    .fetch_add(n as u64, Ordering::Relaxed);
                n as u64
            }
            Err(error) => {
                slog::error!(self.handle.shared.log, "Could not prune audit records."; "error" => %error);
                0
            }
        }
    }
}

/// The `details` column: what is shown but never filtered on, as one JSON object (keys sorted).
/// Payloads only when captured, and then redacted.
fn details_json(e: &AuditEvent, redactor: Option<&Redactor>) -> Option<String> {
    let mut map = serde_json::Map::new();
    let mut put = |key: &str, value: Option<serde_json::Value>| {
        if let Some(value) = value {
            map.insert(key.to_string(), value);
        }
    };
    put("client_id", e.client_id.clone().map(Into::into));
    put("session_id", e.session_id.as_deref().map(Into::into));
    put("user_agent", e.user_agent.clone().map(Into::into));
    put("request_bytes", e.request_bytes.map(Into::into));
    put("response_bytes", e.response_bytes.map(Into::into));
    put("note", e.details.clone().map(Into::into));
    if let Some(redactor) = redactor {
        put(
            "request_payload",
            e.request_payload
                .as_deref()
                .map(|p| redactor.redact(p).into()),
        );
        put(
            "response_payload",
            e.response_payload
                .as_deref()
                .map(|p| redactor.redact(p).into()),
        );
    }
    (!map.is_empty()).then(|| serde_json::Value::Object(map).to_string())
}
