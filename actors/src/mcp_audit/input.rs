//! Hostile input: malformed JSON, batches, an oversized body — answered with a clear error, not a
//! crash — and error messages that leak file paths or stack traces.

use std::sync::LazyLock;

use bytes::Bytes;
use regex::Regex;
use serde_json::json;

use super::auth::NO_SUCH_TOOL;
use super::probe::{self, Exchange, Probe, Send, Session};
use super::{Finding, Report, Severity};
use crate::security::detectors::decoded;

/// Bigger than any sane request limit (the gateway's default is 4 MiB).
const OVERSIZED: usize = 12 * 1024 * 1024;

pub async fn check(probe: &Probe, session: Option<&Session>, report: &mut Report) {
    let send = session.map(Session::send).unwrap_or_default();
    let mut answers: Vec<(&'static str, Exchange)> = Vec::new();
    let probes: [(&'static str, Bytes); 5] = [
        (
            "malformed JSON",
            Bytes::from_static(br#"{"jsonrpc":"2.0","id":1,"method":"#),
        ),
        (
            "a batch",
            Bytes::from_static(
                br#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"ping"}]"#,
            ),
        ),
        (
            "an unknown method",
            probe::request(3, "authmcp-scan/no-such-method", json!({})),
        ),
        (
            "a call to an unknown tool",
            probe::request(4, "tools/call", json!({"name": NO_SUCH_TOOL, "arguments": {}})),
        ),
        (
            "a call with invalid params",
            probe::request(5, "tools/call", json!({"name": 42, "arguments": "not an object"})),
        ),
    ];
    report.ran("input.malformed");
    for (what, body) in probes {
        if let Ok(answer) = probe.post(body, send).await {
            if answer.status >= 500 {
                report.add(Finding::new(
                    "input.server_error",
                    Severity::Medium,
                    format!("{} gets HTTP {}", capitalised(what), answer.status),
                    "A client mistake should get a JSON-RPC error (e.g. -32700, -32600, -32601, \
                     -32602) with a 4xx or 200, not a server error.",
                    "Validate requests and answer with the JSON-RPC error that names the problem.",
                ));
            }
            answers.push((what, answer));
        }
    }
    oversized(probe, send, report).await;
    report.ran("errors.leak");
    for (what, answer) in &answers {
        let text = match &answer.message {
            Some(message) => decoded(message.to_string().as_bytes()),
            None => answer.body.clone(),
        };
        if let Some(leak) = leak(&text) {
            report.add(Finding::new(
                "errors.leak",
                Severity::Medium,
                "An error message leaks internals",
                format!("The answer to {what} contains `{leak}`."),
                "Log details on the server; send clients a short message without paths, stack \
                 traces or versions.",
            ));
            break;
        }
    }
}

async fn oversized(probe: &Probe, send: Send<'_>, report: &mut Report) {
    report.ran("input.oversized");
    let pad = "a".repeat(OVERSIZED);
    let body = format!(r#"{{"jsonrpc":"2.0","id":6,"method":"ping","params":{{"pad":"{pad}"}}}}"#);
    // A server may refuse by closing the connection mid-upload: that is a refusal, not a finding.
    if let Ok(answer) = probe.post(body, send).await {
        if answer.status >= 500 {
            report.add(Finding::new(
                "input.oversized_error",
                Severity::Medium,
                format!("A 12 MiB body gets HTTP {}", answer.status),
                "An oversized request should get 413 with a clear message.",
                "Cap the request body size and answer 413 above the cap.",
            ));
        } else if answer.was_handled() {
            report.add(Finding::new(
                "input.no_body_limit",
                Severity::Low,
                "A 12 MiB request is processed",
                "Without a body limit, a few large requests exhaust the server's memory.",
                "Cap the request body size (a few MiB) and answer 413 above it.",
            ));
        }
    }
    // Still alive?
    if probe.post(probe::initialize(10), send).await.is_err() {
        report.add(Finding::new(
            "input.oversized_down",
            Severity::High,
            "The server stopped answering after an oversized request",
            "After a 12 MiB body, the next request got no answer.",
            "Cap the request body size before reading it; never buffer unbounded input.",
        ));
    }
}

static LEAKS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"Traceback \(most recent call last\)",
        r#"File "[^"]+", line \d+"#,
        r"panicked at [^\s]+:\d+",
        r"\bat [\w.$<>]+ \([^)\s]+:\d+:\d+\)",
        r"(?:/home/|/usr/|/srv/|/var/|/opt/|/app/|[A-Z]:\\)[\w./\\-]+\.(?:py|js|ts|rs|go|java|rb|php|cs)\b",
        r"node_modules/",
        r"\bjava\.lang\.\w+",
        r"Exception in thread",
    ]
    .iter()
    .filter_map(|p| Regex::new(p).ok())
    .collect()
});

/// The first internal detail `body` gives away, if any.
pub(super) fn leak(body: &str) -> Option<String> {
    LEAKS.iter().find_map(|r| {
        r.find(body).map(|m| {
            let text = m.as_str();
            text.chars().take(80).collect()
        })
    })
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
