//! `POST /mcp[/{server}]`: checks, body, envelope, session, then dispatch; and `DELETE`.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{HttpRequest, HttpResponse};
use actors::mcp::envelope::{self, Envelope, Incoming, Kind, ParseFailure};
use actors::mcp::{ErrorCode, versions};
use actors::session::{ClientSession, SessionScope};
use actors::upstream::UpstreamSession;
use futures_util::StreamExt;

use super::access::Access;
use super::reply::{self, SESSION_HEADER};
use super::{checks, dispatch, initialize, limits, user_id};
use crate::state::AppState;

pub(crate) type Session = Arc<ClientSession<UpstreamSession>>;

pub async fn handle(
    req: HttpRequest,
    state: web::Data<AppState>,
    http: web::Data<awc::Client>,
    payload: web::Payload,
    scope: SessionScope,
) -> HttpResponse {
    let started = std::time::Instant::now();
    let mcp = &state.mcp;
    let settings = mcp.settings.load_full();
    if let Err(response) = checks::origin(&req, &settings) {
        origin_rejected(&state, &req);
        return response;
    }
    if let Err(response) = checks::accept(&req).and_then(|()| checks::content_type(&req)) {
        return response;
    }
    let body = match read_body(payload, settings.max_body_bytes).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let incoming = match envelope::parse_body(&body, settings.max_json_depth) {
        Ok(incoming) => incoming,
        Err(failure) => return parse_failure(&failure),
    };
    let user = user_id(&req);
    let access = Access::of(&req, &state);
    // Requests count against the per-user limit; notifications and responses belong to
    // exchanges already under way and are never refused.
    let in_session = req.headers().contains_key(SESSION_HEADER);
    match incoming {
        Incoming::Single(message) => {
            let is_request = matches!(message.kind, Kind::Request { .. });
            // `initialize` starts a session's flow: outside one, whatever headers it carries.
            let outside = !in_session || message.method() == Some("initialize");
            if is_request
                && outside
                && let Err(rejection) = limits::check_user(&state, &access)
            {
                return limits::too_many_requests(&rejection, message.id());
            }
            if let Kind::Request { id, .. } = message.kind
                && message.method() == Some("initialize")
            {
                let recorder = crate::metrics::Recorder::start(Some("initialize"));
                // Boxed: this branch is rare, and its future inline would make every request's
                // handler future (moved by each actix layer) kilobytes larger.
                let initializing = Box::pin(initialize::handle(&state, &message, id, user, scope));
                let (response, exchange) = crate::metrics::measure(initializing).await;
                let outcome = if response.status().is_success() {
                    crate::metrics::outcome::OK
                } else {
                    crate::metrics::outcome::ERROR
                };
                recorder.finish(&state.metrics, exchange, outcome);
                super::audit_hook::PendingRecord::initialized(
                    &req, &state, &message, started, &response,
                );
                return response;
            }
            let session = match session_for(&req, &state, user, &scope, &message) {
                Ok(session) => session,
                Err(response) => return response,
            };
            if is_request && let Err(rejection) = limits::check_user(&state, &access) {
                return reply::json(limits::rate_limited(&rejection, message.id()));
            }
            // Held until the answer is fully sent (a streamed answer outlives this handler), so a
            // session is never evicted or reaped mid-answer. Requests are capped per session:
            // each may hold an answer stream open, and a client must not open them without end.
            let in_flight = if is_request {
                match session.try_begin(session.outbox.limits().open_streams) {
                    Some(in_flight) => in_flight,
                    None => return too_many_open(&session, message.id()),
                }
            } else {
                session.begin()
            };
            let record =
                super::audit_hook::PendingRecord::begin(&req, &state, &session, &message, started);
            let scan = super::scan_hook::PayloadScan::begin(&req, &state, &message, &body);
            dispatch::single(
                &state, &http, &session, &access, message, &body, in_flight, record, scan,
            )
            .await
        }
        Incoming::Batch(items) => {
            let has_request = items
                .iter()
                .any(|i| matches!(i, Ok(m) if matches!(m.kind, Kind::Request { .. })));
            if has_request
                && !in_session
                && let Err(rejection) = limits::check_user(&state, &access)
            {
                return limits::too_many_requests(&rejection, None);
            }
            let session = match session_for_batch(&req, &state, user, &scope) {
                Ok(session) => session,
                Err(response) => return response,
            };
            if !versions::allows_batches(session.protocol_version) {
                return reply::error(
                    StatusCode::BAD_REQUEST,
                    None,
                    ErrorCode::InvalidRequest,
                    &format!(
                        "JSON-RPC batches are not part of MCP {}; send one message per request.",
                        session.protocol_version
                    ),
                );
            }
            // A batch counts once against the per-user limit, like one request.
            if has_request && let Err(rejection) = limits::check_user(&state, &access) {
                return batch_refused(&rejection, &items);
            }
            let _in_flight = session.begin();
            let audit = super::audit_hook::BatchAudit { req: &req, started };
            dispatch::batch(&state, &http, &session, &access, items, &body, audit).await
        }
    }
}

/// A request past `mcp.max_open_streams`: a JSON-RPC error (HTTP 200, as inside a session's
/// other limits) naming the limit; nothing is forwarded.
fn too_many_open(session: &Session, id: Option<&serde_json::value::RawValue>) -> HttpResponse {
    reply::json(actors::mcp::errors::error_response(
        id,
        ErrorCode::RateLimited,
        &format!(
            "This session already has {} requests being answered (mcp.max_open_streams); wait for one to finish.",
            session.outbox.limits().open_streams
        ),
        None,
    ))
}

/// A limited batch inside a session: each request in it gets the rate-limit error.
fn batch_refused(
    rejection: &actors::ratelimit::Rejection,
    items: &[Result<Envelope<'_>, ParseFailure<'_>>],
) -> HttpResponse {
    let errors: Vec<Bytes> = items
        .iter()
        .filter_map(|item| match item {
            Ok(Envelope {
                kind: Kind::Request { id, .. },
                ..
            }) => Some(limits::rate_limited(rejection, Some(id))),
            _ => None,
        })
        .collect();
    let mut body = BytesMut::from(&b"["[..]);
    for (i, error) in errors.iter().enumerate() {
        if i > 0 {
            body.extend_from_slice(b",");
        }
        body.extend_from_slice(error);
    }
    body.extend_from_slice(b"]");
    reply::json(body.freeze())
}

/// Reads the body up to the limit; over it → 413 with a JSON-RPC error.
async fn read_body(mut payload: web::Payload, limit: usize) -> Result<Bytes, HttpResponse> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            reply::error(
                StatusCode::BAD_REQUEST,
                None,
                ErrorCode::ParseError,
                &format!("Could not read the request body: {e}."),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(reply::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
                ErrorCode::InvalidRequest,
                &format!(
                    "The request body exceeds the {limit}-byte limit (server.max_body_bytes)."
                ),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn parse_failure(failure: &ParseFailure<'_>) -> HttpResponse {
    match failure {
        ParseFailure::NotJson(e) => reply::error(
            StatusCode::BAD_REQUEST,
            None,
            ErrorCode::ParseError,
            &format!("The body is not valid JSON: {e}."),
        ),
        ParseFailure::TooDeep(depth) => reply::error(
            StatusCode::BAD_REQUEST,
            None,
            ErrorCode::InvalidRequest,
            &format!("The JSON nests deeper than allowed ({depth} levels; mcp.max_json_depth)."),
        ),
        ParseFailure::EmptyBatch => reply::error(
            StatusCode::BAD_REQUEST,
            None,
            ErrorCode::InvalidRequest,
            "An empty batch is not a request.",
        ),
        ParseFailure::Invalid { id, reason } => reply::error(
            StatusCode::BAD_REQUEST,
            *id,
            ErrorCode::InvalidRequest,
            &format!("Not a valid JSON-RPC message: {reason}."),
        ),
    }
}

/// A modern-era (2026-07-28) request carries its version in `_meta` and has no session.
fn modern_version(message: &Envelope<'_>) -> Option<String> {
    let meta = actors::mcp::json::member(message.params?, "_meta")?;
    let version = actors::mcp::json::member(meta, "io.modelcontextprotocol/protocolVersion")?;
    actors::mcp::json::as_str(version).map(|v| v.into_owned())
}

fn session_for(
    req: &HttpRequest,
    state: &AppState,
    user: i64,
    scope: &SessionScope,
    message: &Envelope<'_>,
) -> Result<Session, HttpResponse> {
    let has_session = req.headers().contains_key(SESSION_HEADER);
    if !has_session
        && (message.method() == Some("server/discover") || modern_version(message).is_some())
    {
        let version = modern_version(message).unwrap_or_else(|| versions::MODERN.to_string());
        return Err(checks::unsupported_version(message.id(), &version));
    }
    lookup(req, state, user, scope, message.id())
}

fn session_for_batch(
    req: &HttpRequest,
    state: &AppState,
    user: i64,
    scope: &SessionScope,
) -> Result<Session, HttpResponse> {
    lookup(req, state, user, scope, None)
}

pub(crate) fn lookup(
    req: &HttpRequest,
    state: &AppState,
    user: i64,
    scope: &SessionScope,
    id: Option<&serde_json::value::RawValue>,
) -> Result<Session, HttpResponse> {
    checks::protocol_version(req)?;
    let Some(session_id) = req
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(reply::error(
            StatusCode::BAD_REQUEST,
            id,
            ErrorCode::InvalidRequest,
            "Missing `Mcp-Session-Id`: send `initialize` first and echo the session id it returns.",
        ));
    };
    match state.mcp.sessions.get(session_id, user) {
        Ok(session) if session.scope == *scope => Ok(session),
        _ => Err(reply::error(
            StatusCode::NOT_FOUND,
            id,
            ErrorCode::SessionNotFound,
            "Session not found (it ended or expired): send `initialize` to start a new one.",
        )),
    }
}

/// `DELETE /mcp[/{server}]`: ends the caller's session of that endpoint; 404 for an unknown
/// one, another user's, or one of another endpoint.
pub async fn end_session(
    req: HttpRequest,
    state: web::Data<AppState>,
    scope: SessionScope,
) -> HttpResponse {
    let Some(session_id) = req
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
    else {
        return reply::error(
            StatusCode::BAD_REQUEST,
            None,
            ErrorCode::InvalidRequest,
            "Missing `Mcp-Session-Id` header.",
        );
    };
    let user = user_id(&req);
    let not_found = || {
        reply::error(
            StatusCode::NOT_FOUND,
            None,
            ErrorCode::SessionNotFound,
            "Session not found.",
        )
    };
    match state.mcp.sessions.get(session_id, user) {
        Ok(session) if session.scope == scope => {}
        _ => return not_found(),
    }
    match state.mcp.sessions.end(session_id, user).await {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(actors::session::SessionError::NotFound) => not_found(),
        Err(e) => reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            ErrorCode::InternalError,
            &e.to_string(),
        ),
    }
}

/// An `/mcp` request from an Origin not allowed (DNS rebinding, a foreign page).
pub(super) fn origin_rejected(state: &AppState, req: &HttpRequest) {
    let origin = req
        .headers()
        .get("origin")
        .and_then(|o| o.to_str().ok())
        .unwrap_or("");
    crate::security_events::record(
        state,
        req,
        actors::security::SecurityEventType::OriginRejected,
        &[("origin", origin.into())],
    );
}
