//! Throughput: C connections, each one MCP client with its own session, calling as fast as
//! answers come back for D seconds. Only successful calls count towards calls/s.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Barrier;

use super::cpu::{CpuProbe, CpuUsage};
use super::{ECHO_ARGUMENTS, Failures, resolve_tool};
use crate::client::{ClientError, Connection, Target};
use crate::stats::{self, LatencySummary};

/// Figures of one throughput run.
#[derive(Debug, Serialize)]
pub struct ThroughputReport {
    pub connections: usize,
    pub sessions_ready: usize,
    pub tool: String,
    pub duration_s: f64,
    pub ok_calls: u64,
    pub calls_per_s: f64,
    pub failures: Failures,
    pub latency: Option<LatencySummary>,
    pub cpu: Vec<CpuUsage>,
}

struct ClientOutcome {
    ready: bool,
    samples: Vec<u64>,
    failures: Failures,
}

/// Opens `connections` clients, then measures calls for `duration`.
pub async fn run(
    target: Arc<Target>,
    tool: Option<String>,
    connections: usize,
    duration: Duration,
    pids: &[(String, u32)],
) -> Result<ThroughputReport, ClientError> {
    // Resolve the tool name once, so a listing failure is reported plainly instead of C times.
    let tool = {
        let mut conn = Connection::new(target.clone());
        let session = conn.initialize().await?;
        resolve_tool(&mut conn, &session, tool.as_deref()).await?
    };
    let start_line = Arc::new(Barrier::new(connections + 1));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (target, tool, start_line, stop) = (
            target.clone(),
            tool.clone(),
            start_line.clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            one_client(target, &tool, &start_line, &stop).await
        }));
    }
    start_line.wait().await;
    let probe = CpuProbe::start(pids);
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Release);
    let duration_s = started.elapsed().as_secs_f64();
    let cpu = probe.finish();

    let mut samples = Vec::new();
    let mut failures = Failures::default();
    let mut sessions_ready = 0;
    for task in tasks {
        let outcome = task.await.expect("client tasks do not panic");
        sessions_ready += usize::from(outcome.ready);
        samples.extend(outcome.samples);
        failures.merge(outcome.failures);
    }
    let ok_calls = samples.len() as u64;
    Ok(ThroughputReport {
        connections,
        sessions_ready,
        tool,
        duration_s,
        ok_calls,
        calls_per_s: ok_calls as f64 / duration_s,
        failures,
        latency: stats::summarize(&mut samples),
        cpu,
    })
}

async fn one_client(
    target: Arc<Target>,
    tool: &str,
    start_line: &Barrier,
    stop: &AtomicBool,
) -> ClientOutcome {
    let mut conn = Connection::new(target);
    let mut outcome = ClientOutcome {
        ready: false,
        samples: Vec::new(),
        failures: Failures::default(),
    };
    let session = conn.initialize().await;
    start_line.wait().await; // every client waits, ready or not, so the window starts together
    let session = match session {
        Ok(session) => session,
        Err(e) => {
            outcome.failures.record(&e);
            return outcome;
        }
    };
    outcome.ready = true;
    while !stop.load(Ordering::Acquire) {
        let t0 = Instant::now();
        let result = conn.call_tool(&session, tool, ECHO_ARGUMENTS).await;
        if stop.load(Ordering::Acquire) {
            break; // finished after the window closed: not counted either way
        }
        match result {
            Ok(_) => outcome.samples.push(t0.elapsed().as_nanos() as u64),
            Err(e) => outcome.failures.record(&e),
        }
    }
    outcome
}
