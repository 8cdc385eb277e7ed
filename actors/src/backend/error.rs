//! Why talking to a backend failed, worded for operators.
//!
//! The `Display` text becomes `last_error` in `/health/ready` and the console, so it is one short
//! sentence without URLs, headers or payloads (they may carry credentials).

use std::time::Duration;

/// The protocol revisions this gateway can speak to a backend.
pub const SUPPORTED_PROTOCOL_VERSIONS: [&str; 4] =
    ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error("could not connect to the backend: {0}")]
    Connect(String),
    #[error("the backend did not answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error("the backend answered HTTP {0}")]
    HttpStatus(u16),
    #[error("the backend no longer knows our session")]
    SessionExpired,
    #[error("the backend sent an invalid response: {0}")]
    Protocol(String),
    #[error("the backend returned JSON-RPC error {code}: {message}")]
    Rpc { code: i64, message: String },
    #[error(
        "the backend offered protocol version `{0}`, which this gateway does not support \
         (supported: 2024-11-05, 2025-03-26, 2025-06-18, 2025-11-25)"
    )]
    UnsupportedVersion(String),
    #[error("{0}")]
    Spawn(String),
    #[error("the backend process exited{0}")]
    Exited(String),
    #[error("the connection to the backend closed")]
    Closed,
    #[error("the backend is not connected (it is starting or reconnecting)")]
    NotConnected,
    #[error("https backends need TLS support, which this build lacks")]
    TlsUnsupported,
    #[error(
        "the backend's `endpoint` event points to another origin ({0}); the gateway only posts \
         to the origin of the configured SSE URL"
    )]
    ForeignEndpoint(String),
    #[error(
        "all {0} per-session processes of this backend are in use (max_processes = {0}); \
         end another session or raise max_processes"
    )]
    ProcessLimit(usize),
}

impl BackendError {
    /// Whether the transport itself is gone (reconnect now rather than count a failed check).
    pub fn is_transport_dead(&self) -> bool {
        matches!(
            self,
            BackendError::Exited(_) | BackendError::Closed | BackendError::SessionExpired
        )
    }
}
