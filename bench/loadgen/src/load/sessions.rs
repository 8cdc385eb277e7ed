//! Many open sessions over few connections, to measure what holding sessions costs a server.
//!
//! Sessions are MCP state, not sockets: 10,000 sessions are opened over a few dozen keep-alive
//! connections (as 10,000 clients behind a few proxies would look), then optionally "touched"
//! with one `tools/call` each so that a gateway also opens its per-session backend sessions.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::{ECHO_ARGUMENTS, Failures, resolve_tool};
use crate::client::{ClientError, Connection, Session, Target};

/// Open sessions grouped by the connection that opened them.
pub struct SessionPool {
    groups: Vec<(Connection, Vec<Session>)>,
}

/// Figures of one phase (opening or touching).
#[derive(Debug, Serialize)]
pub struct PhaseReport {
    pub phase: &'static str,
    pub requested: usize,
    pub ok: usize,
    pub failures: Failures,
    pub elapsed_s: f64,
}

/// Opens `count` sessions spread over `connections` connections, in parallel per connection.
pub async fn open(
    target: Arc<Target>,
    count: usize,
    connections: usize,
) -> (SessionPool, PhaseReport) {
    let connections = connections.clamp(1, count.max(1));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(connections);
    for worker in 0..connections {
        let share = count / connections + usize::from(worker < count % connections);
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Connection::new(target);
            let mut sessions = Vec::with_capacity(share);
            let mut failures = Failures::default();
            for _ in 0..share {
                match conn.initialize().await {
                    Ok(session) => sessions.push(session),
                    Err(e) => failures.record(&e),
                }
            }
            (conn, sessions, failures)
        }));
    }
    let mut groups = Vec::with_capacity(connections);
    let mut failures = Failures::default();
    let mut ok = 0;
    for task in tasks {
        let (conn, sessions, task_failures) = task.await.expect("session tasks do not panic");
        ok += sessions.len();
        failures.merge(task_failures);
        groups.push((conn, sessions));
    }
    let report = PhaseReport {
        phase: "open",
        requested: count,
        ok,
        failures,
        elapsed_s: started.elapsed().as_secs_f64(),
    };
    (SessionPool { groups }, report)
}

impl SessionPool {
    /// One `tools/call` on every open session.
    pub async fn touch(&mut self, tool: Option<&str>) -> Result<PhaseReport, ClientError> {
        let Some((conn, sessions)) = self.groups.iter_mut().find(|(_, s)| !s.is_empty()) else {
            return Ok(PhaseReport {
                phase: "touch",
                requested: 0,
                ok: 0,
                failures: Failures::default(),
                elapsed_s: 0.0,
            });
        };
        let tool = resolve_tool(conn, &sessions[0], tool).await?;
        let started = Instant::now();
        let requested = self.groups.iter().map(|(_, s)| s.len()).sum();
        let mut tasks = Vec::with_capacity(self.groups.len());
        for (mut conn, sessions) in self.groups.drain(..) {
            let tool = tool.clone();
            tasks.push(tokio::spawn(async move {
                let mut failures = Failures::default();
                let mut ok = 0;
                for session in &sessions {
                    match conn.call_tool(session, &tool, ECHO_ARGUMENTS).await {
                        Ok(_) => ok += 1,
                        Err(e) => failures.record(&e),
                    }
                }
                (conn, sessions, ok, failures)
            }));
        }
        let mut failures = Failures::default();
        let mut ok = 0;
        for task in tasks {
            let (conn, sessions, task_ok, task_failures) =
                task.await.expect("session tasks do not panic");
            ok += task_ok;
            failures.merge(task_failures);
            self.groups.push((conn, sessions));
        }
        Ok(PhaseReport {
            phase: "touch",
            requested,
            ok,
            failures,
            elapsed_s: started.elapsed().as_secs_f64(),
        })
    }
}
