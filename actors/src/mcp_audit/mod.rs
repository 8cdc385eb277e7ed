//! The MCP security scanner (`authmcp-gateway scan URL`, and the console's security audit):
//! probes an MCP server over Streamable HTTP the way an attacker would and reports what it
//! found, each finding with a severity and a fix hint.
//!
//! | file | checks |
//! |---|---|
//! | `probe.rs` | the HTTP exchange: spec-correct `Accept` and version headers, JSON or SSE answers |
//! | `auth.rs` | unauthenticated use, tokens a server must refuse, tokens in the query string, `WWW-Authenticate` |
//! | `metadata.rs` | protected-resource and authorization-server metadata: present and consistent |
//! | `session.rs` | Origin validation (DNS rebinding), session id entropy, binding and termination |
//! | `input.rs` | batches, oversized and malformed bodies, errors leaking paths or stack traces |
//! | `tools.rs` | tool poisoning (hidden instructions, invisible Unicode), destructive tools without annotations |
//! | `report.rs` | findings, severities, the text and JSON reports |
//!
//! The scanner never calls a real tool: it calls a tool name no server has, so it learns whether
//! calls are accepted without side effects.

mod auth;
mod input;
mod metadata;
mod probe;
mod report;
mod session;
mod tools;

use std::time::Duration;

pub use report::{Finding, Report, Severity};

use probe::{Probe, ProbeError};

/// What to scan, and how.
#[derive(Debug, Clone)]
pub struct ScanTarget {
    /// The MCP endpoint (Streamable HTTP), e.g. `https://mcp.example.com/mcp`.
    pub url: url::Url,
    /// A valid bearer token for the server, when it needs one: enables the checks that need an
    /// authenticated session (query-string tokens, sessions, tools).
    pub token: Option<String>,
    /// Per request.
    pub timeout: Duration,
}

/// Runs every check against `target` (on an actix runtime: the HTTP client is awc). Errors
/// only when the server cannot be reached at all; everything else is a finding.
pub async fn scan(target: &ScanTarget) -> Result<Report, ScanError> {
    let probe = Probe::new(target)?;
    let mut report = Report::new(target.url.as_str(), target.token.is_some());
    // Reachability first: a server that does not answer makes every other check meaningless.
    let access = auth::check(&probe, target, &mut report).await?;
    transport_check(&target.url, &mut report);
    metadata::check(&probe, &access, &mut report).await;
    session::check(&probe, target, &access, &mut report).await?;
    input::check(&probe, access.session(), &mut report).await;
    if let Some(session) = access.session() {
        tools::check(&probe, session, &mut report).await;
    }
    report.finish();
    Ok(report)
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("only http and https URLs can be scanned, not `{0}`")]
    Scheme(String),
    #[error("{url} does not answer: {reason}")]
    Unreachable { url: String, reason: String },
}

impl From<ProbeError> for ScanError {
    fn from(error: ProbeError) -> Self {
        ScanError::Unreachable {
            url: error.url,
            reason: error.reason,
        }
    }
}

/// Plain HTTP carries bearer tokens in the clear; on loopback that is only informational.
fn transport_check(url: &url::Url, report: &mut Report) {
    if url.scheme() == "https" {
        return;
    }
    if is_loopback(url) {
        report.add(Finding::new(
            "transport.plain_http",
            Severity::Info,
            "Plain HTTP on a loopback address",
            "Traffic does not leave this machine, so plain HTTP is acceptable here.",
            "Serve it over HTTPS (or behind a TLS-terminating proxy) before exposing it.",
        ));
    } else {
        report.add(Finding::new(
            "transport.plain_http",
            Severity::High,
            "Plain HTTP on a network address",
            "Bearer tokens and tool payloads cross the network unencrypted.",
            "Serve the endpoint over HTTPS, e.g. behind a TLS-terminating reverse proxy.",
        ));
    }
}

pub(crate) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests;
