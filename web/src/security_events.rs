//! Recording security events from request handlers: fills in who, from where and which path,
//! then hands the event to the sink without waiting (see `actors::security`).

use actix_web::{HttpMessage, HttpRequest};
use actors::security::{SecurityEvent, SecurityEventType};

use crate::authn::Caller;
use crate::request_context::RequestContext;
use crate::state::AppState;

/// Records `event_type` for `req` with `details` (never secrets). No sink set: nothing happens.
pub fn record(
    state: &AppState,
    req: &HttpRequest,
    event_type: SecurityEventType,
    details: &[(&str, serde_json::Value)],
) {
    let Some(sink) = state.security.get() else {
        return;
    };
    let ip = req
        .extensions()
        .get::<RequestContext>()
        .and_then(|c| c.client_ip);
    let caller = req.extensions().get::<Caller>().cloned();
    let principal = caller.as_ref().and_then(|c| c.principal());
    let mut event = SecurityEvent::new(event_type)
        .endpoint(req.path())
        .ip(ip)
        .user(
            principal.map(|p| p.user_id),
            principal.map(|p| p.username.clone()),
        );
    for (key, value) in details {
        event = event.detail(key, value.clone());
    }
    sink.record(event);
}

/// A failed sign-in, for brute-force detection (and nothing else is recorded for it).
pub fn login_failed(state: &AppState, req: &HttpRequest, username: &str) {
    let Some(sink) = state.security.get() else {
        return;
    };
    let ip = req
        .extensions()
        .get::<RequestContext>()
        .and_then(|c| c.client_ip);
    sink.login_failed(ip, username, req.path());
}
