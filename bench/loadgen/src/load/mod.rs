//! The load generator's measurement modes and what they share: failure counts, CPU probes and
//! finding the echo tool's name behind whatever prefix a gateway gives it.

pub mod cpu;
pub mod progress;
pub mod sequential;
pub mod sessions;
pub mod streams;
pub mod throughput;

use serde::Serialize;

use crate::client::{ClientError, Connection, FailureKind, Session};

/// Failed exchanges by class, with the first error seen so a report can say what went wrong.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Failures {
    pub transport: u64,
    pub http_status: u64,
    pub json_rpc: u64,
    pub malformed: u64,
    pub first_error: Option<String>,
}

impl Failures {
    pub fn record(&mut self, error: &ClientError) {
        match error.kind() {
            FailureKind::Transport => self.transport += 1,
            FailureKind::HttpStatus => self.http_status += 1,
            FailureKind::JsonRpc => self.json_rpc += 1,
            FailureKind::Malformed => self.malformed += 1,
        }
        if self.first_error.is_none() {
            self.first_error = Some(error.to_string());
        }
    }

    pub fn total(&self) -> u64 {
        self.transport + self.http_status + self.json_rpc + self.malformed
    }

    pub fn merge(&mut self, other: Failures) {
        self.transport += other.transport;
        self.http_status += other.http_status;
        self.json_rpc += other.json_rpc;
        self.malformed += other.malformed;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// The tool to call: `requested` as given, else the first listed tool whose name ends in `echo`.
pub async fn resolve_tool(
    conn: &mut Connection,
    session: &Session,
    requested: Option<&str>,
) -> Result<String, ClientError> {
    if let Some(tool) = requested {
        return Ok(tool.to_owned());
    }
    let names = conn.all_tool_names(session).await?;
    names
        .into_iter()
        .find(|n| n.ends_with("echo"))
        .ok_or_else(|| {
            ClientError::Reply(crate::message::ReplyError::Malformed(
                "tools/list has no tool ending in \"echo\"; pass --tool".into(),
            ))
        })
}

/// The arguments every benchmark call sends: small, like a typical tool call.
pub const ECHO_ARGUMENTS: &str = r#"{"text":"hello from mcp-load"}"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::ReplyError;

    #[test]
    fn failures_count_by_kind_and_keep_the_first_message() {
        let mut failures = Failures::default();
        failures.record(&ClientError::Status {
            status: 401,
            body: "no".into(),
        });
        failures.record(&ClientError::Reply(ReplyError::JsonRpc {
            code: -1,
            message: "x".into(),
        }));
        let mut other = Failures::default();
        other.record(&ClientError::Reply(ReplyError::Malformed("y".into())));
        failures.merge(other);
        assert_eq!(
            (failures.http_status, failures.json_rpc, failures.malformed),
            (1, 1, 1)
        );
        assert_eq!(failures.total(), 3);
        assert_eq!(failures.first_error.as_deref(), Some("HTTP 401: no"));
    }
}
