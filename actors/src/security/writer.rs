//! The writer task: takes what is queued in batches, numbers it, inserts each batch in one
//! transaction, publishes committed rows to the live feed, and prunes by age and row count.
//! A batch that fails to commit is logged and counted as dropped (security events are a signal,
//! not a ledger: the audit trail is the ledger).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use super::{Queued, SecurityEvent, SecurityEvents};
use crate::audit::now_ms;
use crate::storage::security_events::{self, SecurityEventRow};

const PRUNE_INTERVAL: Duration = Duration::from_secs(600);

pub(super) async fn run(
    events: SecurityEvents,
    mut rx: mpsc::Receiver<Queued>,
    mut stop: watch::Receiver<bool>,
) {
    let log = events.shared.log.clone();
    let mut next_id = match events.db.run(security_events::max_id).await {
        Ok(id) => id + 1,
        Err(error) => {
            slog::error!(log, "Security events are off: could not read the table."; "error" => %error);
            return;
        }
    };
    let mut prune = tokio::time::interval(PRUNE_INTERVAL);
    let batch_size = events.settings().batch_size.max(1);
    loop {
        tokio::select! {
            first = rx.recv() => {
                let Some(first) = first else { return };
                let mut batch = Vec::new();
                let mut waiting = Vec::new();
                take(first, &mut batch, &mut waiting);
                while batch.len() < batch_size {
                    match rx.try_recv() {
                        Ok(more) => take(more, &mut batch, &mut waiting),
                        Err(_) => break,
                    }
                }
                write(&events, batch, &mut next_id).await;
                for done in waiting {
                    let _ = done.send(());
                }
            }
            _ = prune.tick() => prune_now(&events).await,
            _ = stop.changed() => {
                let mut batch = Vec::new();
                let mut waiting = Vec::new();
                while let Ok(more) = rx.try_recv() {
                    take(more, &mut batch, &mut waiting);
                }
                write(&events, batch, &mut next_id).await;
                for done in waiting {
                    let _ = done.send(());
                }
                return;
            }
        }
    }
}

fn take(queued: Queued, batch: &mut Vec<SecurityEvent>, waiting: &mut Vec<oneshot::Sender<()>>) {
    match queued {
        Queued::Event(event) => batch.push(event),
        Queued::Flush(done) => waiting.push(done),
    }
}

async fn write(events: &SecurityEvents, batch: Vec<SecurityEvent>, next_id: &mut i64) {
    if batch.is_empty() {
        return;
    }
    let rows: Vec<SecurityEventRow> = batch
        .into_iter()
        .map(|e| {
            let id = *next_id;
            *next_id += 1;
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
        })
        .collect();
    let rows = Arc::new(rows);
    let to_write = rows.clone();
    let counters = &events.shared.counters;
    match events
        .db
        .run(move |c| security_events::insert_batch(c, &to_write))
        .await
    {
        Ok(()) => {
            counters
                .written
                .fetch_add(rows.len() as u64, Ordering::Relaxed);
            for row in rows.iter() {
                let _ = events.shared.feed.send(Arc::new(row.clone()));
            }
        }
        Err(error) => {
            counters
                .dropped
                .fetch_add(rows.len() as u64, Ordering::Relaxed);
            slog::error!(events.shared.log, "Could not write security events."; "error" => %error, "events" => rows.len());
        }
    }
}

async fn prune_now(events: &SecurityEvents) {
    let settings = events.settings();
    let older_than = settings
        .retention
        .map(|age| now_ms() - age.as_millis() as i64);
    let keep = settings.max_rows.map(|n| n as i64);
    if older_than.is_none() && keep.is_none() {
        return;
    }
    match events
        .db
        .run(move |c| security_events::prune(c, older_than, keep))
        .await
    {
        Ok(n) => {
            events
                .shared
                .counters
                .pruned
                .fetch_add(n as u64, Ordering::Relaxed);
        }
        Err(error) => {
            slog::error!(events.shared.log, "Could not prune security events."; "error" => %error);
        }
    }
}
