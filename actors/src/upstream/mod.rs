//! Forwarding client messages to one backend: the request path's way out.
//!
//! ```text
//! /mcp handler (actix worker, its own awc::Client)
//!   └── Upstream::request(message bytes)
//!         ├── Streamable HTTP: POST straight to the backend with this client session's own
//!         │   backend session (Mcp-Session-Id); answer = JSON body or an SSE stream passed through
//!         ├── legacy HTTP+SSE: this client session's own event stream (read on the worker that
//!         │   opened it); POST to its endpoint, the answer picked off the stream by id
//!         └── stdio: id rewritten → channel → backend thread → shared child → id restored
//!             (`isolation = "per-session"`: → this client session's own child instead)
//! ```
//! Messages are bytes end to end: only the envelope is read (`RawValue`), ids are spliced in
//! place, nothing is re-serialised. [`Upstream`] is cheap to clone and `Send + Sync`; get a
//! fresh one from `GatewayHandle::upstream` (a snapshot read) — a handle of a stopped actor
//! incarnation answers [`UpstreamError::Unavailable`]. Only the spec's own credential is ever
//! sent to a backend, never anything from the client's request.

pub(crate) mod envelope;
mod http;
mod sse;
mod sse_session;
mod stdio;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::LocalBoxStream;
use serde_json::value::RawValue;

use crate::backend::Credential;
use crate::backend::forwarding::StdioCommandSender;
use crate::spec::{BackendSpec, BackendTransport};

/// A forwarding handle on one backend (one actor incarnation).
#[derive(Clone)]
pub struct Upstream {
    inner: Arc<Inner>,
}

struct Inner {
    spec: BackendSpec,
    /// The backend's credential snapshot, shared with its actor (which refreshes tokens).
    credential: Credential,
    /// Into the backend thread, for a stdio backend's shared child.
    stdio: Option<StdioCommandSender>,
}

/// What the downstream client declared at its `initialize`; HTTP backend sessions are opened
/// with it so each backend sees the real client's capabilities.
#[derive(Debug, Clone)]
pub struct ClientContext {
    pub protocol_version: String,
    /// The client's `capabilities` object, raw.
    pub capabilities: Box<RawValue>,
    /// The client's `clientInfo` object, raw.
    pub client_info: Box<RawValue>,
}

/// One client session's connection to one backend.
#[derive(Debug)]
pub struct UpstreamSession {
    kind: SessionKind,
}

#[derive(Debug)]
enum SessionKind {
    Http(http::HttpSession),
    Stdio(stdio::StdioSession),
    // Boxed: an SSE session (its link and reader state) is several times larger than the others.
    Sse(Box<sse_session::SseSession>),
}

impl UpstreamSession {
    /// The backend's `Mcp-Session-Id` (HTTP backends that keep sessions), or the `sessionId`
    /// of a legacy SSE session's endpoint.
    pub fn backend_session_id(&self) -> Option<&str> {
        match &self.kind {
            SessionKind::Http(session) => session.session_id(),
            SessionKind::Sse(session) => session.session_id.as_deref(),
            SessionKind::Stdio(_) => None,
        }
    }

    /// The protocol version negotiated with the backend (stdio: a per-session child's; the
    /// shared child's is not known here, `None`).
    pub fn protocol_version(&self) -> Option<&str> {
        match &self.kind {
            SessionKind::Http(session) => Some(session.protocol_version()),
            SessionKind::Sse(session) => Some(&session.protocol_version),
            SessionKind::Stdio(session) => session.protocol_version(),
        }
    }

    /// The process id of this session's own child (stdio, `isolation = "per-session"`).
    pub fn pid(&self) -> Option<u32> {
        match &self.kind {
            SessionKind::Http(_) | SessionKind::Sse(_) => None,
            SessionKind::Stdio(session) => session.pid(),
        }
    }
}

/// A backend's answer to one request.
pub enum UpstreamReply {
    /// The single JSON-RPC response, id exactly as the client sent it.
    Json(Bytes),
    /// One item per JSON-RPC message, in order; the last one is the response. Streams
    /// through as the backend sends it, never buffered.
    Stream(LocalBoxStream<'static, Result<Bytes, UpstreamError>>),
}

impl std::fmt::Debug for UpstreamReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamReply::Json(bytes) => write!(f, "Json({} bytes)", bytes.len()),
            UpstreamReply::Stream(_) => f.write_str("Stream"),
        }
    }
}

/// Why forwarding failed. Texts are short, name the backend, and carry no secrets or payloads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// The backend cannot be reached or is not running (connect failure, child exited, actor
    /// restarting, HTTP 5xx, credential rejected).
    #[error("{0}")]
    Unavailable(String),
    /// No answer within the backend's timeout.
    #[error("the backend did not answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The backend (or the message handed in) broke the protocol.
    #[error("{0}")]
    Protocol(String),
    /// The backend no longer knows this session (HTTP 404): open a new one and retry once.
    #[error("the backend no longer knows the session")]
    SessionExpired,
}

impl Upstream {
    pub(crate) fn new(
        spec: BackendSpec,
        credential: Credential,
        stdio: Option<StdioCommandSender>,
    ) -> Self {
        Upstream {
            inner: Arc::new(Inner {
                spec,
                credential,
                stdio,
            }),
        }
    }

    /// Whether two handles are the same incarnation's.
    pub(crate) fn same(&self, other: &Upstream) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The backend's name.
    pub fn name(&self) -> &str {
        &self.inner.spec.name
    }

    /// The backend's credential snapshot (token status, on-demand refresh).
    pub fn credential(&self) -> &Credential {
        &self.inner.credential
    }

    /// The spec this handle forwards by.
    pub fn spec(&self) -> &BackendSpec {
        &self.inner.spec
    }

    /// Opens this client session's connection to the backend. HTTP: `initialize` with the
    /// client's capabilities and the best version both sides support, then
    /// `notifications/initialized`; legacy SSE: the event stream first (its reader runs on the
    /// calling thread's local task set, as awc does), then the same. stdio: nothing to do with one shared child; with
    /// `isolation = "per-session"` a child of this session's own, initialized the same way as
    /// an HTTP session (at `max_processes` children: `Unavailable` naming the limit).
    pub async fn open(
        &self,
        http: &awc::Client,
        ctx: &ClientContext,
    ) -> Result<UpstreamSession, UpstreamError> {
        let kind = match &self.inner.spec.transport {
            BackendTransport::StreamableHttp { url } => {
                SessionKind::Http(http::open(self, http, url, ctx).await?)
            }
            BackendTransport::Stdio { .. } => SessionKind::Stdio(stdio::open(self, ctx).await?),
            BackendTransport::Sse { url } => {
                SessionKind::Sse(Box::new(sse_session::open(self, url, ctx).await?))
            }
        };
        Ok(UpstreamSession { kind })
    }

    /// Forwards one JSON-RPC request (already rewritten by the caller: names, prefixes) and
    /// returns the backend's answer with the client's id. Bounded by the spec's timeout.
    pub async fn request(
        &self,
        http: &awc::Client,
        session: &UpstreamSession,
        message: Bytes,
    ) -> Result<UpstreamReply, UpstreamError> {
        match (&self.inner.spec.transport, &session.kind) {
            (BackendTransport::StreamableHttp { url }, SessionKind::Http(s)) => {
                http::request(self, http, url, s, message).await
            }
            (BackendTransport::Stdio { .. }, SessionKind::Stdio(s)) => {
                stdio::request(self, s, message).await
            }
            (BackendTransport::Sse { .. }, SessionKind::Sse(s)) => {
                sse_session::request(self, s, message).await
            }
            _ => Err(self.wrong_session()),
        }
    }

    /// Forwards one notification (e.g. `notifications/cancelled`, whose `requestId` is mapped
    /// to the rewritten id for stdio).
    pub async fn notify(
        &self,
        http: &awc::Client,
        session: &UpstreamSession,
        message: Bytes,
    ) -> Result<(), UpstreamError> {
        match (&self.inner.spec.transport, &session.kind) {
            (BackendTransport::StreamableHttp { url }, SessionKind::Http(s)) => {
                http::notify(self, http, url, s, message).await
            }
            (BackendTransport::Stdio { .. }, SessionKind::Stdio(s)) => {
                stdio::notify(self, s, message).await
            }
            (BackendTransport::Sse { .. }, SessionKind::Sse(s)) => {
                sse_session::notify(self, s, message).await
            }
            _ => Err(self.wrong_session()),
        }
    }

    /// The messages the backend sends this session outside any request (logging, resource
    /// updates, list changes, its own requests), one per item, until the session ends. HTTP:
    /// the backend session's GET stream, returned once the backend accepted it; legacy SSE:
    /// what its event stream carries that no request claims (once per session); stdio with
    /// `isolation = "per-session"`: what the session's child sends while none of the session's
    /// requests is in flight (once per session). `None`: the backend has no such channel (the
    /// shared stdio child, stateless HTTP, no GET stream offered).
    pub async fn server_messages(
        &self,
        http: &awc::Client,
        session: &UpstreamSession,
    ) -> Option<LocalBoxStream<'static, Bytes>> {
        match (&self.inner.spec.transport, &session.kind) {
            (BackendTransport::StreamableHttp { url }, SessionKind::Http(s)) => {
                http::server_messages(self, http, url, s).await
            }
            (BackendTransport::Sse { .. }, SessionKind::Sse(s)) => sse_session::server_messages(s),
            (BackendTransport::Stdio { .. }, SessionKind::Stdio(s)) => stdio::server_messages(s),
            _ => None,
        }
    }

    /// Ends this client session's connection. HTTP: DELETE the backend session (best effort,
    /// bounded); legacy SSE: the event stream is dropped; stdio: a per-session child is killed (its process group) and reaped before
    /// this returns; the shared child stays.
    pub async fn close(&self, http: &awc::Client, session: UpstreamSession) {
        match (&self.inner.spec.transport, session.kind) {
            (BackendTransport::StreamableHttp { url }, SessionKind::Http(s)) => {
                http::close(self, http, url, s).await;
            }
            (_, SessionKind::Stdio(s)) => stdio::close(s).await,
            (_, SessionKind::Sse(s)) => sse_session::close(*s),
            _ => {}
        }
    }

    fn timeout(&self) -> Duration {
        self.inner.spec.timeout
    }

    fn unavailable(&self, cause: impl std::fmt::Display) -> UpstreamError {
        UpstreamError::Unavailable(format!("backend `{}`: {cause}", self.name()))
    }

    fn protocol(&self, cause: impl std::fmt::Display) -> UpstreamError {
        UpstreamError::Protocol(format!("backend `{}`: {cause}", self.name()))
    }

    fn wrong_session(&self) -> UpstreamError {
        self.protocol("the session was opened for another kind of backend")
    }
}
