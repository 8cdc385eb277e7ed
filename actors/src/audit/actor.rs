//! `AuditActor`: the batched writer (`crate::batch`) of `audit_records`. Each row is numbered
//! and chained to the one before; committed rows go to the live feed and the JSON lines file;
//! retention by age and rows.
//!
//! Parent: GatewaySupervisor, which restarts it with backoff. State worth keeping (the queue,
//! the counters) lives in the [`AuditHandle`]; the chain head is read back from the database on
//! start. A batch that fails to commit is kept and retried (same ids and hashes), and the queue
//! is not read meanwhile — so the queue fills and overflow is counted, rather than records
//! vanishing.

use std::sync::Arc;
use std::time::Duration;

use ractor::{ActorProcessingErr, ActorRef};

use super::chain::{GENESIS, row_hash};
use super::file::JsonLines;
use super::redact::Redactor;
use super::{AuditEvent, AuditHandle};
use crate::batch::{BatchMsg, BatchWriter, InsertFn, PruneFn, Queue};
use crate::storage::Database;
use crate::storage::audit_records::{self, AuditRow};

pub(crate) struct AuditWriter {
    handle: AuditHandle,
    redactor: Redactor,
    next_id: i64,
    head_hash: String,
    file: Option<JsonLines>,
}

impl BatchWriter for AuditWriter {
    type Item = AuditEvent;
    type Row = AuditRow;
    type Args = AuditHandle;
    const WHAT: &'static str = "audit records";
    const RETRY_FAILED: bool = true;
    const INSERT: InsertFn<AuditRow> = audit_records::insert_batch;
    const PRUNE: PruneFn = audit_records::prune;

    async fn start(
        handle: AuditHandle,
        _myself: &ActorRef<BatchMsg>,
    ) -> Result<Self, ActorProcessingErr> {
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
        slog::debug!(handle.shared.log, "Audit actor started."; "next_id" => last_id + 1);
        Ok(AuditWriter {
            handle,
            redactor,
            next_id: last_id + 1,
            head_hash,
            file,
        })
    }

    fn queue(&self) -> &Queue<AuditEvent> {
        &self.handle.shared.queue
    }

    fn db(&self) -> &Database {
        &self.handle.db
    }

    fn log(&self) -> &slog::Logger {
        &self.handle.shared.log
    }

    fn batch_size(&self) -> usize {
        self.handle.settings().batch_size
    }

    fn flush_interval(&self) -> Duration {
        self.handle.settings().flush_interval
    }

    fn retention(&self) -> (Option<Duration>, Option<u64>) {
        let settings = self.handle.settings();
        (settings.retention, settings.max_rows)
    }

    fn to_row(&mut self, e: AuditEvent) -> AuditRow {
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

    fn committed(&mut self, rows: Vec<AuditRow>) {
        if let Some(file) = &mut self.file
            && let Err(error) = file.append(&rows)
        {
            slog::warn!(self.handle.shared.log, "Could not append to the audit JSON lines file."; "error" => %error);
        }
        for row in rows {
            let _ = self.handle.shared.feed.send(Arc::new(row));
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
