//! One audit record per MCP request: begun when the request is dispatched, finished with the
//! answer's outcome — a JSON answer at once, a streamed answer when its response passes (or
//! when the stream ends without one). Recording is a `try_send` on the audit queue: it never
//! waits, and it happens before the answer reaches the client, so every acknowledged request
//! is queued (and flushed at shutdown).
//!
//! The backend is the one dispatch routed the request to ([`PendingRecord::routed_to`]), not
//! looked up again here. A `tools/call`'s arguments and result go to the payload scanner as
//! slices of the buffers they arrived in, never copied on the request path.

use actix_web::web::Bytes;
use actix_web::{HttpMessage, HttpRequest};
use actors::audit::{AuditEvent, AuditHandle, AuditKind};
use actors::mcp::envelope::Envelope;
use actors::mcp::json;
use actors::session::SessionScope;
use futures_util::StreamExt;
use futures_util::stream::LocalBoxStream;
use serde_json::value::RawValue;
use std::sync::Arc;
use std::time::Instant;

use super::post::Session;
use crate::state::AppState;

/// What a batch needs to begin one record per request in it.
pub(crate) struct BatchAudit<'a> {
    pub req: &'a HttpRequest,
    pub started: Instant,
}

impl BatchAudit<'_> {
    pub(crate) fn begin(
        &self,
        state: &AppState,
        session: &Session,
        message: &Envelope<'_>,
    ) -> Option<PendingRecord> {
        PendingRecord::begin(self.req, state, session, message, self.started)
    }
}

/// A request's record waiting for its outcome.
pub(crate) struct PendingRecord {
    audit: AuditHandle,
    event: AuditEvent,
    started: Instant,
}

impl PendingRecord {
    /// `None` when the trail is off or `message` is not a request (notifications and the
    /// client's responses are not requests).
    pub(crate) fn begin(
        req: &HttpRequest,
        state: &AppState,
        session: &Session,
        message: &Envelope<'_>,
        started: Instant,
    ) -> Option<PendingRecord> {
        Self::begin_in(req, state, Some(session), message, started)
    }

    /// `initialize`, which has no session yet: recorded by its HTTP status, with the session id
    /// it was given.
    pub(crate) fn initialized(
        req: &HttpRequest,
        state: &AppState,
        message: &Envelope<'_>,
        started: Instant,
        response: &actix_web::HttpResponse,
    ) {
        let Some(mut record) = Self::begin_in(req, state, None, message, started) else {
            return;
        };
        record.event.session_id = response
            .headers()
            .get(super::reply::SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(Arc::from);
        if !response.status().is_success() {
            record.event.outcome = "error".into();
        }
        // The answer's size is not known here (a body not yet written): left out.
        record.record();
    }

    fn begin_in(
        req: &HttpRequest,
        state: &AppState,
        session: Option<&Session>,
        message: &Envelope<'_>,
        started: Instant,
    ) -> Option<PendingRecord> {
        let audit = state.audit.get()?.clone();
        if !audit.enabled() {
            return None;
        }
        let method = message.method()?;
        message.id()?;
        let param = |key: &str| {
            message
                .params
                .and_then(|p| json::member(p, key))
                .and_then(json::as_str)
                .map(|v| v.into_owned())
        };
        let item = match method {
            "tools/call" | "prompts/get" => param("name"),
            "resources/read" | "resources/subscribe" | "resources/unsubscribe" => param("uri"),
            _ => None,
        };
        let extensions = req.extensions();
        let principal = extensions
            .get::<crate::authn::Caller>()
            .and_then(|c| c.principal());
        // Only the address: cloning the whole context (its logger) per request is waste.
        let client_ip = extensions
            .get::<crate::request_context::RequestContext>()
            .and_then(|c| c.client_ip);
        let mut event = AuditEvent::now(AuditKind::Mcp, "ok");
        event.user_id = principal.map(|p| p.user_id);
        event.username = principal.map(|p| p.username.clone());
        event.client_id = principal.and_then(|p| p.client_id.clone());
        drop(extensions);
        // The session's own id, shared.
        event.session_id = session.map(|s| s.id.clone());
        event.method = Some(method.to_string());
        event.item = item;
        event.request_bytes = Some(message.raw.get().len() as i64);
        event.ip = client_ip.map(|ip| ip.to_string());
        event.user_agent = req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if audit.captures_payloads() {
            event.request_payload = Some(message.raw.get().to_string());
        }
        Some(PendingRecord {
            audit,
            event,
            started,
        })
    }

    /// Names the backend dispatch routed the request to (`routed`); on a backend's own
    /// endpoint, that backend even when the request was answered before being forwarded.
    pub(crate) fn routed_to(mut self, routed: Option<Arc<str>>, scope: &SessionScope) -> Self {
        self.event.backend = match (routed, scope) {
            (Some(backend), _) => Some(backend),
            (None, SessionScope::Backend(backend)) => Some(Arc::from(backend.as_str())),
            (None, SessionScope::Aggregate) => None,
        };
        self
    }

    /// Finishes with a JSON answer (its `error`, if any, is the outcome).
    pub(crate) fn answered(mut self, body: &Bytes) {
        self.set_response(body, body.len());
        self.record();
    }

    /// Finishes with an outcome that has no JSON-RPC body of its own (e.g. `denied`).
    pub(crate) fn finished(mut self, outcome: &str, response_bytes: usize) {
        self.event.outcome = outcome.to_string();
        self.event.response_bytes = Some(response_bytes as i64);
        self.record();
    }

    /// The stream, recording when its response passes; a stream that ends without one is
    /// recorded as `failed`.
    pub(crate) fn watch_stream(
        self,
        stream: LocalBoxStream<'static, Bytes>,
    ) -> LocalBoxStream<'static, Bytes> {
        let mut guard = StreamGuard {
            pending: Some(self),
            bytes: 0,
        };
        stream
            .map(move |message| {
                guard.bytes += message.len();
                if is_response(&message)
                    && let Some(mut pending) = guard.pending.take()
                {
                    pending.set_response(&message, guard.bytes);
                    pending.record();
                }
                message
            })
            .boxed_local()
    }

    fn set_response(&mut self, body: &Bytes, total: usize) {
        self.event.response_bytes = Some(total as i64);
        if let Some(code) = error_code(body) {
            self.event.outcome = "error".into();
            self.event.error_code = Some(code);
        }
        if self.audit.captures_payloads() {
            self.event.response_payload = Some(String::from_utf8_lossy(body).into_owned());
        }
    }

    fn record(mut self) {
        self.event.latency_us = Some(self.started.elapsed().as_micros() as i64);
        self.audit.record(self.event);
    }
}

struct StreamGuard {
    pending: Option<PendingRecord>,
    bytes: usize,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if let Some(pending) = self.pending.take() {
            pending.finished("failed", self.bytes);
        }
    }
}

/// A JSON-RPC response (a `result` or `error`, no method): the end of a streamed answer.
/// Every relayed event passes here (progress included), so it reads the top-level keys only
/// (`metrics::response_outcome`) instead of parsing the whole message.
pub(super) fn is_response(message: &[u8]) -> bool {
    crate::metrics::response_outcome(message).is_some()
}

/// `error.code` of a JSON-RPC error response.
fn error_code(body: &[u8]) -> Option<i64> {
    // Most answers are results: the key scan stops at `"result"` without reading the payload
    // (a large result was read twice here, once to check it and once to look for `error`).
    if crate::metrics::response_outcome(body) == Some(crate::metrics::outcome::OK) {
        return None;
    }
    let raw = serde_json::from_slice::<&RawValue>(body).ok()?;
    let error = json::member(raw, "error")?;
    Some(
        json::member(error, "code")
            .and_then(|c| c.get().parse().ok())
            .unwrap_or(0),
    )
}
