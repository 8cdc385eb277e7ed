//! `SecurityActor`: the batched writer (`crate::batch`) of `security_events`, plus the payload
//! scanner task it owns. Rows are numbered (max + 1 read at start); committed rows go to the
//! live feed; retention by age and rows.
//!
//! Parent: GatewaySupervisor, which restarts it with backoff. The queues, counters and feed
//! live in [`SecurityEvents`]; a scanner task that dies fails the actor (so both restart). A
//! batch that fails to commit is logged and counted as dropped: security events are a signal,
//! not a ledger (the audit trail is the ledger).

use std::sync::Arc;
use std::time::Duration;

use ractor::{ActorProcessingErr, ActorRef};
use tokio::task::AbortHandle;

use super::{SecurityEvent, SecurityEvents, scanner};
use crate::batch::{BatchMsg, BatchWriter, InsertFn, PruneFn, Queue};
use crate::storage::Database;
use crate::storage::security_events::{self, SecurityEventRow};

pub(crate) struct SecurityWriter {
    events: SecurityEvents,
    next_id: i64,
    scanner: AbortHandle,
}

impl BatchWriter for SecurityWriter {
    type Item = SecurityEvent;
    type Row = SecurityEventRow;
    type Args = SecurityEvents;
    const WHAT: &'static str = "security events";
    const RETRY_FAILED: bool = false;
    const INSERT: InsertFn<SecurityEventRow> = security_events::insert_batch;
    const PRUNE: PruneFn = security_events::prune;

    async fn start(
        events: SecurityEvents,
        myself: &ActorRef<BatchMsg>,
    ) -> Result<Self, ActorProcessingErr> {
        let next_id = events.db.run(security_events::max_id).await? + 1;
        let task = tokio::spawn(scanner::run(events.clone()));
        let scanner = task.abort_handle();
        // The scanner only ends by being aborted (this actor stopping); anything else is a
        // failure of the actor, which the supervisor answers with a restart of both.
        let myself = myself.clone();
        tokio::spawn(async move {
            match task.await {
                Err(error) if error.is_cancelled() => {}
                Err(error) => {
                    let _ = myself.cast(BatchMsg::Fail(format!(
                        "the payload scanner failed: {error}"
                    )));
                }
                Ok(()) => {
                    let _ = myself.cast(BatchMsg::Fail("the payload scanner stopped".into()));
                }
            }
        });
        slog::debug!(events.shared.log, "Security actor started."; "next_id" => next_id);
        Ok(SecurityWriter {
            events,
            next_id,
            scanner,
        })
    }

    fn queue(&self) -> &Queue<SecurityEvent> {
        &self.events.shared.queue
    }

    fn db(&self) -> &Database {
        &self.events.db
    }

    fn log(&self) -> &slog::Logger {
        &self.events.shared.log
    }

    fn batch_size(&self) -> usize {
        self.events.settings().batch_size
    }

    fn flush_interval(&self) -> Duration {
        self.events.settings().flush_interval
    }

    fn retention(&self) -> (Option<Duration>, Option<u64>) {
        let settings = self.events.settings();
        (settings.retention, settings.max_rows)
    }

    fn to_row(&mut self, e: SecurityEvent) -> SecurityEventRow {
        let id = self.next_id;
        self.next_id += 1;
        SecurityEventRow {
            id,
            at_ms: e.at_ms,
            event_type: e.event_type.as_str().to_string(),
            severity: e.event_type.severity().as_str().to_string(),
            user_id: e.user_id,
            username: e.username,
            ip: e.ip,
            endpoint: e.endpoint,
            details: (!e.details.is_empty())
                .then(|| serde_json::Value::Object(e.details).to_string()),
        }
    }

    fn committed(&mut self, rows: Vec<SecurityEventRow>) {
        for row in rows {
            let _ = self.events.shared.feed.send(Arc::new(row));
        }
    }
}

/// Dropped when the actor stops or fails (ractor skips `post_stop` after a failure): the
/// scanner goes with it, releasing the scan queue for the next incarnation.
impl Drop for SecurityWriter {
    fn drop(&mut self) {
        self.scanner.abort();
    }
}
