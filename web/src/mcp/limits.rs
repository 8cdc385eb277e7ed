//! Rate limits on `/mcp`: per user (every request), per user×tool (`tools/call`) and per backend
//! (every request forwarded to it). Checks read and update the shared limiter directly — no
//! actor call. How a refusal is answered depends on where the request stands:
//! - outside a session's flow (`initialize`, no `Mcp-Session-Id`, sessionless requests): HTTP
//!   429 with `Retry-After`, so any HTTP client backs off;
//! - inside a session: a JSON-RPC error (HTTP 200) with `data.retry_after_ms`, so the session's
//!   other exchanges are undisturbed and the client sees which request was refused.
//!
//! Refusals are logged at INFO with the user, the limit and the wait — never a payload.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::RETRY_AFTER;
use actix_web::web::Bytes;
use actors::mcp::ErrorCode;
use actors::mcp::errors::error_response;
use actors::ratelimit::{LimitKind, Rejection, Subject};
use serde_json::value::RawValue;

use super::access::Access;
use super::reply;
use crate::state::AppState;

/// One `/mcp` request by the caller.
pub(super) fn check_user(state: &AppState, access: &Access) -> Result<(), Rejection> {
    let who = access.limit_subject();
    state
        .mcp
        .rate_limiter
        .check_user(&who)
        .inspect_err(|r| refused(access, &who, r, None))
}

/// One call of `tool` (the name the client used) by the caller.
pub(super) fn check_tool(state: &AppState, access: &Access, tool: &str) -> Result<(), Rejection> {
    let who = access.limit_subject();
    state
        .mcp
        .rate_limiter
        .check_tool(&who, tool)
        .inspect_err(|r| refused(access, &who, r, Some(tool)))
}

/// One request forwarded to `backend`, whoever sends it.
pub(super) fn check_backend(state: &AppState, backend: &str) -> Result<(), Rejection> {
    state
        .mcp
        .rate_limiter
        .check_backend(backend)
        .inspect_err(|r| {
            slog::info!(state.log, "Request rate-limited."; "limit" => r.kind.as_str(),
                "backend" => backend, "retry_after_ms" => r.retry_after_ms());
            if let Some(sink) = state.security.get() {
                sink.record(
                    actors::security::SecurityEvent::new(
                        actors::security::SecurityEventType::RateLimited,
                    )
                    .detail("limit", r.kind.as_str())
                    .detail("backend", backend),
                );
            }
        })
}

fn refused(access: &Access, who: &Subject<'_>, rejection: &Rejection, tool: Option<&str>) {
    slog::info!(access.log(), "Request rate-limited."; "limit" => rejection.kind.as_str(),
        "user_id" => who.user_id, "username" => who.username, "tool" => tool,
        "retry_after_ms" => rejection.retry_after_ms());
    access.security_event(
        actors::security::SecurityEventType::RateLimited,
        &[
            ("limit", rejection.kind.as_str().into()),
            ("tool", tool.into()),
        ],
    );
}

/// Outside a session: HTTP 429 + `Retry-After` (the JSON-RPC error in the body as well).
pub(super) fn too_many_requests(rejection: &Rejection, id: Option<&RawValue>) -> HttpResponse {
    let mut response = reply::error_with_data(
        StatusCode::TOO_MANY_REQUESTS,
        id,
        ErrorCode::RateLimited,
        &message(rejection),
        Some(&data(rejection)),
    );
    if let Ok(value) = rejection.retry_after_secs().to_string().parse() {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}

/// Inside a session: the JSON-RPC error answering request `id` (sent with HTTP 200).
pub(super) fn rate_limited(rejection: &Rejection, id: Option<&RawValue>) -> Bytes {
    error_response(
        id,
        ErrorCode::RateLimited,
        &message(rejection),
        Some(&data(rejection)),
    )
}

fn message(rejection: &Rejection) -> String {
    let what = match rejection.kind {
        LimitKind::Mcp => "requests by this user",
        LimitKind::Tool => "calls of this tool by this user",
        LimitKind::Backend => "requests to this backend",
        LimitKind::Login | LimitKind::Token | LimitKind::Register => "requests from this address",
    };
    format!(
        "Rate limit exceeded: at most {} {what} per {} s; retry in {} ms.",
        rejection.quota.max,
        rejection.quota.window.as_secs(),
        rejection.retry_after_ms()
    )
}

fn data(rejection: &Rejection) -> String {
    format!(
        r#"{{"retry_after_ms":{},"limit":"{}"}}"#,
        rejection.retry_after_ms(),
        rejection.kind.as_str()
    )
}
