//! Sequential latency: one client, one session, one request at a time — the added latency of a
//! gateway is the difference of these figures measured direct and through it.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::cpu::{CpuProbe, CpuUsage};
use super::{ECHO_ARGUMENTS, Failures, resolve_tool};
use crate::client::{ClientError, Connection, Target};
use crate::stats::{self, LatencySummary};

/// What each timed request is.
#[derive(Debug, Clone)]
pub enum Operation {
    /// `tools/call` of the named tool (or the first `…echo` tool listed) with `arguments` (raw
    /// JSON).
    Call {
        tool: Option<String>,
        arguments: String,
    },
    /// A full `tools/list`, all pages.
    List,
}

/// Figures of one sequential run.
#[derive(Debug, Serialize)]
pub struct SequentialReport {
    pub operation: &'static str,
    pub tool: Option<String>,
    pub ok: usize,
    pub failures: Failures,
    pub latency: Option<LatencySummary>,
    /// For `tools/list`: tools in the full list and pages it took.
    pub tools_listed: Option<usize>,
    pub pages: Option<usize>,
    pub elapsed_s: f64,
    pub cpu: Vec<CpuUsage>,
}

/// `{"text": …}` with a text of `bytes` bytes (ASCII letters), or the short default for 0.
pub fn echo_arguments(bytes: usize) -> String {
    if bytes == 0 {
        return ECHO_ARGUMENTS.to_owned();
    }
    let text: String = (0..bytes)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    format!(r#"{{"text":"{text}"}}"#)
}

/// Runs `warmup` untimed then `count` timed requests on one fresh session.
pub async fn run(
    target: Arc<Target>,
    operation: Operation,
    count: usize,
    warmup: usize,
    pids: &[(String, u32)],
) -> Result<SequentialReport, ClientError> {
    let mut conn = Connection::new(target);
    let session = conn.initialize().await?;
    let tool = match &operation {
        Operation::Call { tool, .. } => {
            Some(resolve_tool(&mut conn, &session, tool.as_deref()).await?)
        }
        Operation::List => None,
    };
    let mut failures = Failures::default();
    let mut samples = Vec::with_capacity(count);
    let mut listed = None;
    let mut probe = None;
    let arguments = match &operation {
        Operation::Call { arguments, .. } => arguments.as_str(),
        Operation::List => "",
    };
    let mut started = Instant::now();
    for i in 0..warmup + count {
        if i == warmup {
            probe = Some(CpuProbe::start(pids));
            started = Instant::now();
        }
        let t0 = Instant::now();
        let outcome = match &tool {
            Some(tool) => conn
                .call_tool(&session, tool, arguments)
                .await
                .map(|_| None),
            None => conn.list_tools(&session).await.map(Some),
        };
        let took = t0.elapsed().as_nanos() as u64;
        match outcome {
            Ok(list) if i >= warmup => {
                samples.push(took);
                listed = list.or(listed);
            }
            Ok(_) => {}
            Err(e) => failures.record(&e),
        }
    }
    let elapsed_s = started.elapsed().as_secs_f64();
    let cpu = probe.map(|p| p.finish()).unwrap_or_default();
    Ok(SequentialReport {
        operation: if tool.is_some() {
            "tools/call"
        } else {
            "tools/list"
        },
        tool,
        ok: samples.len(),
        failures,
        latency: stats::summarize(&mut samples),
        tools_listed: listed.map(|(tools, _)| tools),
        pages: listed.map(|(_, pages)| pages),
        elapsed_s,
        cpu,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_arguments_carry_a_text_of_the_asked_size() {
        assert_eq!(echo_arguments(0), ECHO_ARGUMENTS);
        let big: serde_json::Value = serde_json::from_str(&echo_arguments(1000)).unwrap();
        let text = big["text"].as_str().unwrap();
        assert_eq!(text.len(), 1000);
        assert!(text.starts_with("abcdefghijklmnopqrstuvwxyzabc"));
    }
}
