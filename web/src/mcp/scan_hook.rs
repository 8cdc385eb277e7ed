//! Hands MCP payloads to the security payload scanner (`actors::security::scanner`):
//! `tools/call` arguments when the request is dispatched, and the results of `tools/call`,
//! `prompts/get` and `resources/read` when their response passes (a JSON answer, or the
//! response at the end of a stream). Runs whenever `security.scan_payloads` is on, whether or
//! not the audit trail is. Handing over never waits and copies nothing: the queue slot is
//! reserved first, then the job shares the payload's buffer (see `actors::security::scanner`).

use actix_web::HttpMessage;
use actix_web::HttpRequest;
use actix_web::web::Bytes;
use actors::mcp::envelope::Envelope;
use actors::mcp::json;
use actors::security::detectors::Direction;
use actors::security::{ScanSubject, SecurityEvents};
use futures_util::StreamExt;
use futures_util::stream::LocalBoxStream;
use std::sync::Arc;

use crate::state::AppState;

/// A request whose result is to be scanned, with who sent it.
pub(crate) struct PayloadScan {
    security: SecurityEvents,
    /// Who and what, shared by the arguments' and the result's jobs.
    subject: Arc<ScanSubject>,
}

impl PayloadScan {
    /// Scans `message`'s arguments now (`tools/call`; `message` was read from `body`) and
    /// returns the hook for its result; `None` when scanning is off or the message is not a
    /// request of a scanned method.
    pub(crate) fn begin(
        req: &HttpRequest,
        state: &AppState,
        message: &Envelope<'_>,
        body: &Bytes,
    ) -> Option<PayloadScan> {
        let security = state.security.get().filter(|s| s.scans_payloads())?;
        message.id()?;
        let (method, item_key) = match message.method()? {
            "tools/call" => ("tools/call", "name"),
            "prompts/get" => ("prompts/get", "name"),
            "resources/read" => ("resources/read", "uri"),
            _ => return None,
        };
        let item = message
            .params
            .and_then(|p| json::member(p, item_key))
            .and_then(json::as_str)
            .map(|v| v.into_owned());
        let principal = req
            .extensions()
            .get::<crate::authn::Caller>()
            .and_then(|c| c.principal().map(|p| (p.user_id, p.username.clone())));
        let ip = req
            .extensions()
            .get::<crate::request_context::RequestContext>()
            .and_then(|c| c.client_ip);
        let scan = PayloadScan {
            security: security.clone(),
            subject: Arc::new(ScanSubject {
                user_id: principal.as_ref().map(|p| p.0),
                username: principal.map(|p| p.1),
                ip,
                endpoint: Some(req.path().to_string()),
                method: Some(method.to_string()),
                item,
            }),
        };
        if method == "tools/call"
            && let Some(params) = message.params
        {
            scan.hand_over(&super::dispatch::shared(body, params), Direction::Arguments);
        }
        Some(scan)
    }

    /// The answer's response (a JSON-RPC result or error).
    pub(crate) fn answered(self, body: &Bytes) {
        self.hand_over(body, Direction::Result);
    }

    /// The stream unchanged; its response is scanned as it passes.
    pub(crate) fn watch_stream(
        self,
        stream: LocalBoxStream<'static, Bytes>,
    ) -> LocalBoxStream<'static, Bytes> {
        let mut pending = Some(self);
        stream
            .map(move |message| {
                if pending.is_some()
                    && super::audit_hook::is_response(&message)
                    && let Some(scan) = pending.take()
                {
                    scan.answered(&message);
                }
                message
            })
            .boxed_local()
    }

    fn hand_over(&self, payload: &Bytes, direction: Direction) {
        self.security
            .scan(payload, direction, || self.subject.clone());
    }
}
