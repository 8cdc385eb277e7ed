//! One exchange with a backend on behalf of a client session: open the session's backend
//! session on first use, send, stream the answer back; reopen once if the backend forgot it.

use std::sync::Arc;

use actix_web::web::Bytes;
use actors::mcp::ErrorCode;
use actors::mcp::envelope::{self, Kind};
use actors::mcp::errors::error_response;
use actors::routing::Retry;
use actors::upstream::{ClientContext, Upstream, UpstreamError, UpstreamReply, UpstreamSession};
use futures_util::StreamExt;
use futures_util::stream::LocalBoxStream;
use serde_json::value::RawValue;

use super::post::Session;
use crate::state::AppState;

/// What a request produced, before it becomes an HTTP response (or a batch element).
pub enum Answer {
    Json(Bytes),
    /// One JSON body written as consecutive pieces (shared pre-rendered parts, no copy).
    JsonParts(Vec<Bytes>),
    /// JSON-RPC messages in order; the last is the response.
    Stream(LocalBoxStream<'static, Bytes>),
    Accepted,
}

pub fn error(id: Option<&RawValue>, code: ErrorCode, message: &str) -> Answer {
    Answer::Json(error_response(id, code, message, None))
}

pub async fn forward(
    state: &AppState,
    http: &awc::Client,
    session: &Session,
    backend: &str,
    message: Bytes,
    id: &RawValue,
    retry: Retry,
) -> Answer {
    let Some(upstream) = state.gateway.get().and_then(|g| g.upstream(backend)) else {
        return error(
            Some(id),
            ErrorCode::BackendUnavailable,
            &format!("Backend `{backend}` is not running."),
        );
    };
    let context = || ClientContext {
        protocol_version: session.protocol_version.to_string(),
        capabilities: session.client_capabilities.clone(),
        client_info: session.client_info.clone(),
    };
    // One reopen when the backend forgot our session; one repeat after a transport failure,
    // only for calls the tool's annotations say are safe to repeat.
    let (mut reopened, mut repeated) = (false, false);
    loop {
        let slot = session.upstream_slot(backend);
        let opened = slot
            .get_or_try_init(|| async { upstream.open(http, &context()).await })
            .await;
        let result = match opened {
            Ok(upstream_session) => {
                upstream
                    .request(http, upstream_session, message.clone())
                    .await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(UpstreamReply::Json(body)) => return Answer::Json(body),
            Ok(UpstreamReply::Stream(stream)) => {
                let stream = refuse_backend_requests(stream, http.clone(), upstream.clone(), slot);
                return Answer::Stream(end_on_error(stream, id, backend));
            }
            Err(UpstreamError::SessionExpired) if !reopened => {
                reopened = true;
                session.reset_upstream(backend);
            }
            Err(UpstreamError::Unavailable(_) | UpstreamError::Timeout(_))
                if retry != Retry::Never && !repeated =>
            {
                repeated = true;
                session.reset_upstream(backend);
            }
            Err(e) => return failure(id, backend, &e),
        }
    }
}

fn failure(id: &RawValue, backend: &str, e: &UpstreamError) -> Answer {
    let code = match e {
        UpstreamError::Timeout(_) => ErrorCode::BackendTimeout,
        _ => ErrorCode::BackendUnavailable,
    };
    error(
        Some(id),
        code,
        &format!("Backend `{backend}` could not answer: {e}"),
    )
}

/// Requests a backend sends inside its answer (sampling, elicitation, roots) are not relayed to
/// the client yet: answer each at once with an error naming the method, so the backend fails
/// the call quickly and clearly instead of waiting for a reply that never comes. (They must
/// never reach the client with the backend's ids either.)
fn refuse_backend_requests(
    stream: LocalBoxStream<'static, Result<Bytes, UpstreamError>>,
    http: awc::Client,
    upstream: Upstream,
    slot: Arc<tokio::sync::OnceCell<UpstreamSession>>,
) -> LocalBoxStream<'static, Result<Bytes, UpstreamError>> {
    stream
        .filter_map(move |item| {
            let refusal = match &item {
                Ok(message) => backend_request_refusal(message),
                Err(_) => None,
            };
            let (http, upstream, slot) = (http.clone(), upstream.clone(), slot.clone());
            async move {
                let Some(refusal) = refusal else {
                    return Some(item);
                };
                if let Some(session) = slot.get() {
                    // A failure here only means the backend times the call out itself.
                    let _ = upstream.notify(&http, session, refusal).await;
                }
                None
            }
        })
        .boxed_local()
}

/// The error response for a server-to-client request, or `None` for any other message.
fn backend_request_refusal(message: &[u8]) -> Option<Bytes> {
    let raw: &RawValue = serde_json::from_slice(message).ok()?;
    let envelope = envelope::parse_message(raw).ok()?;
    let Kind::Request { id, method } = envelope.kind else {
        return None;
    };
    let text = format!("The gateway does not relay `{method}` to its clients yet.");
    Some(error_response(
        Some(id),
        ErrorCode::MethodNotFound,
        &text,
        None,
    ))
}

/// A stream that breaks mid-way ends with a JSON-RPC error for the request instead.
fn end_on_error(
    stream: LocalBoxStream<'static, Result<Bytes, UpstreamError>>,
    id: &RawValue,
    backend: &str,
) -> LocalBoxStream<'static, Bytes> {
    let id = id.to_owned();
    let backend = backend.to_string();
    stream
        .scan(false, move |failed, item| {
            let out = match (*failed, item) {
                (true, _) => None,
                (false, Ok(message)) => Some(message),
                (false, Err(e)) => {
                    *failed = true;
                    let code = if matches!(e, UpstreamError::Timeout(_)) {
                        ErrorCode::BackendTimeout
                    } else {
                        ErrorCode::BackendUnavailable
                    };
                    Some(error_response(
                        Some(&id),
                        code,
                        &format!("Backend `{backend}` failed mid-answer: {e}"),
                        None,
                    ))
                }
            };
            std::future::ready(out)
        })
        .boxed_local()
}
