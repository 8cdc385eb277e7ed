//! A one-off connection test for the admin API and the console: connect (or spawn), handshake,
//! list everything, close. It shares the transports and the handshake with [`super::driver`]
//! but nothing else: no status board, no actor, so the live status stays what the health loop
//! last saw.

use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::Notify;

use super::Credential;
use super::error::BackendError;
use super::session::Transport;
use crate::spec::BackendSpec;

/// What a successful test learned.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    /// From the start of the connection to the end of the lists.
    pub latency: Duration,
    pub protocol_version: String,
    pub server_name: Option<String>,
    pub server_version: Option<String>,
    pub tool_count: usize,
    pub prompt_count: usize,
    pub resource_count: usize,
}

#[derive(Deserialize)]
struct ServerInfo {
    name: Option<String>,
    version: Option<String>,
}

/// Runs `initialize` and every list against `spec` with `credential`, bounded by `timeout`
/// for the whole exchange; the session is closed either way. Needs an actix runtime (awc).
pub async fn probe(
    spec: &BackendSpec,
    credential: &Credential,
    timeout: Duration,
    log: &slog::Logger,
) -> Result<ProbeReport, BackendError> {
    let started = Instant::now();
    let transport = Transport::open(spec, credential, log, Rc::new(Notify::new()))?;
    let outcome = tokio::time::timeout(
        timeout,
        transport.handshake(super::capabilities::gateway_client_capabilities(spec)),
    )
    .await;
    transport.close(timeout.min(Duration::from_secs(2))).await;
    let handshake = outcome.map_err(|_| BackendError::Timeout(timeout))??;
    let caps = handshake.capabilities;
    let info: Option<ServerInfo> = serde_json::from_str(caps.server_info.get()).ok();
    Ok(ProbeReport {
        latency: started.elapsed(),
        protocol_version: caps.protocol_version.clone(),
        server_name: info.as_ref().and_then(|i| i.name.clone()),
        server_version: info.and_then(|i| i.version),
        tool_count: caps.tools.len(),
        prompt_count: caps.prompts.len(),
        resource_count: caps.resources.len() + caps.resource_templates.len(),
    })
}

impl BackendError {
    /// A next step for an operator reading a failed test.
    pub fn hint(&self) -> &'static str {
        match self {
            BackendError::Connect(_) | BackendError::TlsUnsupported => {
                "Check the URL, that the server runs and that this host can reach it."
            }
            BackendError::Timeout(_) => {
                "The server is slow or not an MCP server; check the URL and raise timeout_ms if it is slow."
            }
            BackendError::HttpStatus(401 | 403) => {
                "The server refused the credential; check the token or the OAuth settings."
            }
            BackendError::HttpStatus(404 | 405) => {
                "Nothing serves MCP at this URL; check its path (often /mcp, or /sse for legacy servers)."
            }
            BackendError::HttpStatus(_) | BackendError::Rpc { .. } => {
                "The server answered but refused the handshake; its own log says why."
            }
            BackendError::UnsupportedVersion(_) => {
                "The server speaks a protocol version this gateway does not; upgrade one of them."
            }
            BackendError::Protocol(_)
            | BackendError::SessionExpired
            | BackendError::ForeignEndpoint(_) => {
                "The server does not behave as an MCP server should at this URL; check the transport."
            }
            BackendError::Spawn(_) | BackendError::Exited(_) | BackendError::Closed => {
                "The server process could not start or ended; check the command and its stderr."
            }
            BackendError::NotConnected | BackendError::ProcessLimit(_) => "Try again in a moment.",
        }
    }
}
