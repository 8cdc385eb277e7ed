//! Relayed progress events: C sessions, each on its own connection, call the backend's
//! `progress` tool at once and read the `text/event-stream` answer as it arrives. Every
//! `notifications/progress` carries its send time (`message: "sent_ns=…"`, CLOCK_MONOTONIC, see
//! [`crate::clock`]); its latency is the receive time minus that. Run directly against the
//! backend and through the gateway, the difference of the two is what relaying adds per event.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::Method;
use serde::{Deserialize, Serialize};
use tokio::sync::Barrier;

use super::Failures;
use super::cpu::{CpuProbe, CpuUsage};
use crate::client::{ClientError, Connection, Target, request_body};
use crate::clock::monotonic_ns;
use crate::message::{ReplyError, sse_data_events};
use crate::stats::{self, LatencySummary};

/// What one progress run asks for.
#[derive(Debug, Clone)]
pub struct ProgressPlan {
    pub sessions: usize,
    pub events: u32,
    pub interval: Duration,
    /// The tool; default: the first listed tool whose name ends in `progress`.
    pub tool: Option<String>,
}

/// Figures of one progress run.
#[derive(Debug, Serialize)]
pub struct ProgressReport {
    pub clock: &'static str,
    pub sessions: usize,
    pub sessions_ready: usize,
    pub tool: String,
    pub events_per_call: u32,
    pub interval_ms: f64,
    pub calls_ok: u64,
    pub events_expected: u64,
    pub events_received: u64,
    pub duration_s: f64,
    pub failures: Failures,
    /// Per event: receive time − send time stamped by the backend.
    pub latency: Option<LatencySummary>,
    pub cpu: Vec<CpuUsage>,
}

#[derive(Default)]
struct CallOutcome {
    ready: bool,
    ok: bool,
    samples: Vec<u64>,
    failures: Failures,
}

/// Runs the plan: opens every session (and warms it with one call without events), then all
/// call at once (starts spread over one interval
/// so the events do not arrive in lockstep), measuring from the first call to the last result.
pub async fn run(
    target: Arc<Target>,
    plan: ProgressPlan,
    pids: &[(String, u32)],
) -> Result<ProgressReport, ClientError> {
    let tool = {
        let mut conn = Connection::new(target.clone());
        let session = conn.initialize().await?;
        match plan.tool.clone() {
            Some(tool) => tool,
            None => conn
                .all_tool_names(&session)
                .await?
                .into_iter()
                .find(|n| n.ends_with("progress"))
                .ok_or_else(|| {
                    ClientError::Reply(ReplyError::Malformed(
                        "tools/list has no tool ending in \"progress\"; start mcp-fast-backend with --progress-tool or pass --tool".into(),
                    ))
                })?,
        }
    };
    let start_line = Arc::new(Barrier::new(plan.sessions + 1));
    let mut tasks = Vec::with_capacity(plan.sessions);
    for index in 0..plan.sessions {
        let (target, tool, start_line, plan) = (
            target.clone(),
            tool.clone(),
            start_line.clone(),
            plan.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut outcome = CallOutcome::default();
            let mut conn = Connection::new(target);
            let session = match conn.initialize().await {
                Ok(session) => Some(session),
                Err(e) => {
                    outcome.failures.record(&e);
                    None
                }
            };
            // A warm-up call with no events first, outside the window: a gateway opens its
            // backend session on a session's first call, which is not the cost of relaying.
            let warm = ProgressPlan {
                events: 0,
                ..plan.clone()
            };
            let session = match session {
                Some(session) => {
                    match call(&mut conn, &session, &tool, &warm, index, &mut Vec::new()).await {
                        Ok(()) => Some(session),
                        Err(e) => {
                            outcome.failures.record(&e);
                            None
                        }
                    }
                }
                None => None,
            };
            outcome.ready = session.is_some();
            start_line.wait().await;
            let Some(session) = session else {
                return outcome;
            };
            tokio::time::sleep(plan.interval.mul_f64(index as f64 / plan.sessions as f64)).await;
            match call(
                &mut conn,
                &session,
                &tool,
                &plan,
                index,
                &mut outcome.samples,
            )
            .await
            {
                Ok(()) => outcome.ok = true,
                Err(e) => outcome.failures.record(&e),
            }
            outcome
        }));
    }
    start_line.wait().await;
    let probe = CpuProbe::start(pids);
    let started = Instant::now();
    let mut samples = Vec::new();
    let mut failures = Failures::default();
    let (mut ready, mut calls_ok) = (0, 0);
    for task in tasks {
        let outcome = task.await.expect("progress tasks do not panic");
        ready += usize::from(outcome.ready);
        calls_ok += u64::from(outcome.ok);
        samples.extend(outcome.samples);
        failures.merge(outcome.failures);
    }
    let duration_s = started.elapsed().as_secs_f64();
    let cpu = probe.finish();
    Ok(ProgressReport {
        clock: "CLOCK_MONOTONIC",
        sessions: plan.sessions,
        sessions_ready: ready,
        tool,
        events_per_call: plan.events,
        interval_ms: plan.interval.as_secs_f64() * 1e3,
        calls_ok,
        events_expected: plan.sessions as u64 * u64::from(plan.events),
        events_received: samples.len() as u64,
        duration_s,
        failures,
        latency: stats::summarize(&mut samples),
        cpu,
    })
}

/// One streamed call; pushes one latency sample per progress event received.
async fn call(
    conn: &mut Connection,
    session: &crate::client::Session,
    tool: &str,
    plan: &ProgressPlan,
    index: usize,
    samples: &mut Vec<u64>,
) -> Result<(), ClientError> {
    let id = conn.next_request_id();
    let token = format!("p-{index}");
    let params = serde_json::json!({
        "name": tool,
        "arguments": {"events": plan.events, "interval_ms": plan.interval.as_millis() as u64},
        "_meta": {"progressToken": token},
    });
    let body = request_body(id, "tools/call", &params.to_string());
    let response = conn.send(Method::POST, Some(session), body).await?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        let body = response.into_body().collect().await?.to_bytes();
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Err(ClientError::Status { status, body: text });
    }
    let mut body = response.into_body();
    let mut splitter = SseSplitter::default();
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        let received_ns = monotonic_ns();
        let Some(chunk) = frame.data_ref() else {
            continue;
        };
        for data in splitter.push(chunk) {
            match classify(&data, id, &token)? {
                Event::Progress { sent_ns } => samples.push(received_ns.saturating_sub(sent_ns)),
                Event::Result => return Ok(()),
                Event::Other => {}
            }
        }
    }
    Err(ReplyError::NoMatchingReply(id).into())
}

#[derive(Debug, PartialEq)]
enum Event {
    Progress { sent_ns: u64 },
    Result,
    Other,
}

#[derive(Deserialize)]
struct Message {
    method: Option<String>,
    id: Option<serde_json::Value>,
    params: Option<ProgressParams>,
    result: Option<serde::de::IgnoredAny>,
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ProgressParams {
    #[serde(rename = "progressToken")]
    progress_token: Option<serde_json::Value>,
    message: Option<String>,
}

/// What one SSE `data` payload is to the call with `id` and progress `token`.
fn classify(data: &str, id: u64, token: &str) -> Result<Event, ReplyError> {
    if data.trim().is_empty() {
        return Ok(Event::Other); // a priming event
    }
    let message: Message =
        serde_json::from_str(data).map_err(|e| ReplyError::Malformed(e.to_string()))?;
    if message.method.as_deref() == Some("notifications/progress") {
        let params = message
            .params
            .ok_or_else(|| ReplyError::Malformed("progress without params".into()))?;
        if params.progress_token.as_ref().and_then(|t| t.as_str()) != Some(token) {
            return Err(ReplyError::Malformed(format!(
                "progress for token {:?}, expected {token:?}",
                params.progress_token
            )));
        }
        let sent_ns = params
            .message
            .as_deref()
            .and_then(|m| m.strip_prefix("sent_ns="))
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| ReplyError::Malformed("progress message lacks sent_ns=".into()))?;
        return Ok(Event::Progress { sent_ns });
    }
    if message.method.is_none() && message.id.as_ref().and_then(|v| v.as_u64()) == Some(id) {
        if let Some(error) = message.error {
            return Err(ReplyError::JsonRpc {
                code: error["code"].as_i64().unwrap_or(0),
                message: error["message"].as_str().unwrap_or("").to_owned(),
            });
        }
        if message.result.is_some() {
            return Ok(Event::Result);
        }
    }
    Ok(Event::Other)
}

/// Cuts a byte stream into complete SSE events and yields their `data` payloads.
#[derive(Default)]
pub struct SseSplitter {
    pending: Vec<u8>,
}

impl SseSplitter {
    /// Appends `chunk`; the data of every event completed by it.
    pub fn push(&mut self, chunk: &Bytes) -> Vec<String> {
        // JSON escapes CR inside strings, so dropping every CR normalizes CRLF framing.
        self.pending.extend(chunk.iter().filter(|b| **b != b'\r'));
        let mut out = Vec::new();
        while let Some(end) = self.pending.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = self.pending.drain(..end + 2).collect();
            out.extend(sse_data_events(&String::from_utf8_lossy(&event)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_are_joined() {
        let mut splitter = SseSplitter::default();
        assert!(
            splitter
                .push(&Bytes::from_static(b"event: message\r\ndata: {\"a\""))
                .is_empty()
        );
        let out = splitter.push(&Bytes::from_static(b":1}\r\n\r\ndata: 2\n\ndata: 3"));
        assert_eq!(out, vec!["{\"a\":1}".to_owned(), "2".to_owned()]);
        assert_eq!(
            splitter.push(&Bytes::from_static(b"\n\n")),
            vec!["3".to_owned()]
        );
    }

    #[test]
    fn progress_events_yield_their_send_time_and_the_result_ends_the_call() {
        let note = r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"p-3","progress":1,"message":"sent_ns=99"}}"#;
        assert_eq!(
            classify(note, 4, "p-3"),
            Ok(Event::Progress { sent_ns: 99 })
        );
        assert!(classify(note, 4, "p-4").is_err());
        let done = r#"{"jsonrpc":"2.0","id":4,"result":{"content":[]}}"#;
        assert_eq!(classify(done, 4, "p-3"), Ok(Event::Result));
        assert_eq!(classify(done, 5, "p-3"), Ok(Event::Other));
        assert_eq!(classify("", 4, "p-3"), Ok(Event::Other));
        let error = r#"{"jsonrpc":"2.0","id":4,"error":{"code":-32602,"message":"no"}}"#;
        assert!(matches!(
            classify(error, 4, "p-3"),
            Err(ReplyError::JsonRpc { code: -32602, .. })
        ));
    }
}
