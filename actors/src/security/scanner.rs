//! The payload scanner: a bounded queue of payload copies and one task that runs the detectors
//! over them and records `suspicious_payload`. The request path only `try_send`s a copy (capped
//! at `scan_max_bytes`); a full queue drops the copy and counts it — the request never waits.

use std::sync::atomic::Ordering;

use super::detectors::{self, Direction};
use super::{SecurityEvent, SecurityEventType, SecurityEvents};

/// One payload to scan and whom it belongs to.
pub struct ScanJob {
    pub bytes: Vec<u8>,
    /// The payload's full size (the copy may be capped).
    pub original_len: usize,
    pub direction: Direction,
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub ip: Option<String>,
    pub endpoint: Option<String>,
    /// `tools/call` and the like.
    pub method: Option<String>,
    /// The tool (or other item) the request named.
    pub item: Option<String>,
}

/// The SecurityActor's scanner task: runs until the actor aborts it (which releases the queue
/// for the next incarnation's task).
pub(super) async fn run(events: SecurityEvents) {
    let mut rx = events.shared.scan_rx.lock().await;
    while let Some(job) = rx.recv().await {
        scan_one(&events, job);
    }
}

fn scan_one(events: &SecurityEvents, job: ScanJob) {
    let settings = events.settings();
    let text = detectors::decoded(&job.bytes);
    let findings = detectors::scan(
        &text,
        job.direction,
        &settings.injection_phrases,
        settings.oversized_bytes,
        job.original_len,
    );
    events
        .shared
        .counters
        .scanned
        .fetch_add(1, Ordering::Relaxed);
    if findings.is_empty() {
        return;
    }
    let mut event = SecurityEvent::new(SecurityEventType::SuspiciousPayload)
        .user(job.user_id, job.username)
        .ip(job.ip)
        .detail(
            "direction",
            match job.direction {
                Direction::Arguments => "arguments",
                Direction::Result => "result",
            },
        )
        .detail(
            "findings",
            findings
                .iter()
                .map(|f| serde_json::json!({"detector": f.detector, "what": f.what}))
                .collect::<Vec<_>>(),
        );
    if let Some(endpoint) = job.endpoint {
        event = event.endpoint(endpoint);
    }
    if let Some(method) = job.method {
        event = event.detail("method", method);
    }
    if let Some(item) = job.item {
        event = event.detail("item", item);
    }
    events.record(event);
}
