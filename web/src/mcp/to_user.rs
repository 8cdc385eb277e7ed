//! Backend messages meant for a *user* rather than for the client session whose backend session
//! carries them:
//! - a task's `notifications/tasks/status` once the session that created the task has ended
//!   (the task keeps its backend session, and that session's GET stream, open);
//! - a URL elicitation's `notifications/elicitation/complete`, which belongs to the session
//!   that was sent the elicitation (a task's follow-up may have been sent from another session
//!   than the one owning the backend session).
//!
//! Each goes to exactly one session (a message is never broadcast), always one of that user's
//! on the same endpoint (`/mcp` or `/mcp/{server}`), never another user's: the session that
//! last used the task (created it or sent a task call about it) or was sent the elicitation,
//! while it lives; else the user's live session on that endpoint with an open GET stream, the
//! most recently used first; else their most recently used one (its replay buffer keeps the
//! message for a GET with `Last-Event-ID`). With no live session the message is dropped: a
//! client polls `tasks/get` when it comes back.

use actix_web::web::Bytes;
use actors::mcp::ErrorCode;
use actors::mcp::envelope::{self, Kind};
use actors::mcp::errors::error_response;
use actors::mcp::json;
use actors::session::{Initiator, SessionScope, UpstreamSlot};
use actors::upstream::{Upstream, UpstreamSession};
use serde_json::value::RawValue;

use super::McpState;
use super::post::Session;

/// The session of `user` that should hear a message about `initiator`'s work (see the module
/// comment); `None` when the user has no live session on that endpoint.
pub(crate) fn session_for(mcp: &McpState, user: i64, initiator: &Initiator) -> Option<Session> {
    let live = |s: &Session| !s.is_ended() && s.scope == initiator.scope;
    if let Ok(session) = mcp.sessions.get(&initiator.session_id, user)
        && live(&session)
    {
        return Some(session);
    }
    // Rare (the initiating session ended): a scan of the store is fine here.
    mcp.sessions
        .all()
        .into_iter()
        .filter(|s| s.user_id == user && live(s))
        .max_by_key(|s| (s.outbox.has_listener(), s.last_used_tick()))
}

/// The session that was sent `backend`'s URL elicitation completed by these
/// `notifications/elicitation/complete` params, forgotten now; `None` for one never relayed to
/// `user`.
pub(crate) fn elicitation_initiator(
    mcp: &McpState,
    user: i64,
    backend: &str,
    params: Option<&RawValue>,
) -> Option<Initiator> {
    let id = elicitation_id(params)?;
    mcp.elicitations.complete(user, backend, &id)
}

/// `params.elicitationId` of an `elicitation/create` or its completion.
pub(crate) fn elicitation_id(params: Option<&RawValue>) -> Option<std::borrow::Cow<'_, str>> {
    json::member(params?, "elicitationId").and_then(json::as_str)
}

/// Who a backend session serves once its client session has ended: the user and the endpoint.
pub(crate) struct Orphaned {
    pub user: i64,
    pub scope: SessionScope,
    pub backend: std::sync::Arc<str>,
    pub http: awc::Client,
    pub upstream: Upstream,
}

impl Orphaned {
    /// A message the backend session `slot` sent outside any request after its client session
    /// ended: a status of one of the user's tasks, or the completion of an elicitation relayed
    /// to one of their sessions, goes to that user's session; a request is refused at once (no
    /// client can answer it); anything else concerned the ended session only and is dropped.
    pub(crate) async fn deliver(
        &self,
        mcp: &McpState,
        slot: &UpstreamSlot<UpstreamSession>,
        message: Bytes,
    ) {
        let Ok(raw) = serde_json::from_slice::<&RawValue>(&message) else {
            return;
        };
        let Ok(parsed) = envelope::parse_message(raw) else {
            return;
        };
        let params = parsed.params;
        let (target, message) = match &parsed.kind {
            Kind::Request { id, method } => {
                let refusal = error_response(
                    Some(id),
                    ErrorCode::InternalError,
                    &format!(
                        "The client session this backend session served has ended; nobody can \
                         answer `{method}`."
                    ),
                    None,
                );
                if let Some(opened) = slot.get() {
                    let _ = self.upstream.notify(&self.http, opened, refusal).await;
                }
                return;
            }
            Kind::Notification { method } if method == "notifications/tasks/status" => {
                let Some((gateway_id, rewritten)) = params.and_then(|params| {
                    super::task_relay::status_for_user(&mcp.tasks, self.user, slot, raw, params)
                }) else {
                    return;
                };
                let initiator = Initiator {
                    session_id: mcp
                        .tasks
                        .last_session(self.user, &gateway_id)
                        .unwrap_or_else(|| "".into()),
                    scope: self.scope.clone(),
                };
                (session_for(mcp, self.user, &initiator), rewritten)
            }
            Kind::Notification { method } if method == "notifications/elicitation/complete" => {
                let Some(initiator) = elicitation_initiator(mcp, self.user, &self.backend, params)
                else {
                    return;
                };
                (session_for(mcp, self.user, &initiator), message)
            }
            _ => return,
        };
        if let Some(target) = target {
            target.outbox.push(message);
        }
    }
}
