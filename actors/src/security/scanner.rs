//! The payload scanner: a bounded queue of payloads and one task that runs the detectors over
//! them and records `suspicious_payload`. The request path reserves a queue slot first and only
//! then builds a job, which shares the payload's buffer (a `Bytes` slice, capped at
//! `scan_max_bytes`) rather than copying it; a full queue drops the payload and counts it —
//! the request never waits and nothing is copied for a job that would be dropped.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::detectors::{self, Direction};
use super::{SecurityEvent, SecurityEventType, SecurityEvents};

/// Whom a request's payloads belong to and what the request was: built once per request (and
/// only once a queue slot is reserved), shared by its arguments' and its result's jobs.
#[derive(Debug, Clone, Default)]
pub struct ScanSubject {
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub ip: Option<IpAddr>,
    pub endpoint: Option<String>,
    /// `tools/call` and the like.
    pub method: Option<String>,
    /// The tool (or other item) the request named.
    pub item: Option<String>,
}

/// One payload to scan and whom it belongs to.
pub struct ScanJob {
    /// At most `scan_max_bytes` of the payload, sharing its buffer when that costs no more
    /// memory than a copy would (see [`ScanJob::new`]).
    pub bytes: Bytes,
    /// The payload's full size (`bytes` may be capped).
    pub original_len: usize,
    pub direction: Direction,
    pub subject: Arc<ScanSubject>,
}

impl ScanJob {
    /// The job for `payload`, capped at `max_bytes`. The cap is a slice of `payload`'s buffer,
    /// not a copy — unless the payload is more than twice the cap: then the capped prefix is
    /// copied, so a queued job never pins a buffer much larger than what it scans.
    pub fn new(
        payload: &Bytes,
        max_bytes: usize,
        direction: Direction,
        subject: Arc<ScanSubject>,
    ) -> ScanJob {
        let cap = payload.len().min(max_bytes);
        let bytes = if payload.len() <= max_bytes.saturating_mul(2) {
            payload.slice(..cap)
        } else {
            Bytes::copy_from_slice(&payload[..cap])
        };
        ScanJob {
            bytes,
            original_len: payload.len(),
            direction,
            subject,
        }
    }
}

/// How long the scanner lets jobs gather once it has found the queue busy. Waiting on the
/// queue for every job made each request wake this task (a futex wake and a context switch per
/// payload, measured at about a quarter of the gateway's CPU per `tools/call`); a sender only
/// wakes a task that is waiting, so while the scanner pauses, queueing costs an atomic push.
/// At the default capacity (1,000 jobs) a 5 ms pause absorbs 200,000 payloads/s.
const BUSY_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);

/// The SecurityActor's scanner task: runs until the actor aborts it (which releases the queue
/// for the next incarnation's task). Idle, it waits on the queue (the first payload wakes it);
/// busy, it drains what is queued, pauses, and drains again until a drain finds nothing.
pub(super) async fn run(events: SecurityEvents) {
    let mut rx = events.shared.scan_rx.lock().await;
    while let Some(job) = rx.recv().await {
        scan_one(&events, job);
        loop {
            let mut scanned = 0usize;
            while let Ok(job) = rx.try_recv() {
                scan_one(&events, job);
                scanned += 1;
            }
            if scanned == 0 {
                break;
            }
            tokio::time::sleep(BUSY_PAUSE).await;
        }
    }
}

fn scan_one(events: &SecurityEvents, job: ScanJob) {
    let settings = events.settings();
    let text = detectors::decoded(&job.bytes);
    let findings = detectors::scan(
        &text,
        job.direction,
        &events.shared.phrases,
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
    let subject = &job.subject;
    let mut event = SecurityEvent::new(SecurityEventType::SuspiciousPayload)
        .user(subject.user_id, subject.username.as_deref())
        .ip(subject.ip)
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
    if let Some(endpoint) = &subject.endpoint {
        event = event.endpoint(endpoint.as_str());
    }
    if let Some(method) = &subject.method {
        event = event.detail("method", method.as_str());
    }
    if let Some(item) = &subject.item {
        event = event.detail("item", item.as_str());
    }
    events.record(event);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(payload: &Bytes, max_bytes: usize) -> ScanJob {
        ScanJob::new(
            payload,
            max_bytes,
            Direction::Result,
            Arc::new(ScanSubject::default()),
        )
    }

    fn shares_buffer(job: &ScanJob, payload: &Bytes) -> bool {
        payload.as_ptr_range().contains(&job.bytes.as_ptr())
    }

    #[test]
    fn a_payload_within_the_cap_is_shared_whole_not_copied() {
        let payload = Bytes::from(vec![b'a'; 100]);
        let job = job(&payload, 1024);
        assert_eq!(job.bytes, payload);
        assert_eq!(job.original_len, 100);
        assert!(shares_buffer(&job, &payload));
    }

    #[test]
    fn a_payload_over_the_cap_is_sliced_to_the_cap_and_keeps_its_full_length() {
        let payload = Bytes::from((0..150u8).collect::<Vec<_>>());
        let job = job(&payload, 100);
        assert_eq!(&job.bytes[..], &payload[..100]);
        assert_eq!(job.original_len, 150);
        assert!(shares_buffer(&job, &payload));
    }

    #[test]
    fn a_payload_far_over_the_cap_is_copied_so_the_queue_does_not_pin_its_buffer() {
        let payload = Bytes::from(vec![b'x'; 1000]);
        let job = job(&payload, 100);
        assert_eq!(job.bytes.len(), 100);
        assert_eq!(job.original_len, 1000);
        assert!(!shares_buffer(&job, &payload));
    }
}
