//! The session's GET stream (`GET /mcp[/{server}]`, legacy era) and what feeds it: for each
//! backend session a client session opens, a task on the opening worker reads what that backend
//! sends outside any request and puts it on *this* client session's queue only.
//!
//! ```text
//! backend session (HTTP: its GET stream; legacy SSE: unclaimed events)
//!   └── pump (local task, weak refs: never keeps a session or its backend session alive)
//!         ├── notifications → as they are (list_changed dropped on the aggregated /mcp)
//!         ├── requests → Relay::decide (capability check, id rewritten, pending map)
//!         └── ClientSession::outbox (bounded) → the one GET stream of that session
//! ```
//! A pump lasts as long as its backend session, which a task can keep open after the client
//! session ended: from then on a task status or an elicitation's completion goes to another
//! session of the same user (`to_user`), a request is refused, the rest is dropped.
//! The aggregated `/mcp` does not pass a backend's `list_changed` on: what a client lists there
//! is the routing table, which changes only when the gateway rebuilds it.

use std::sync::{Arc, Weak};

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use actors::mcp::ErrorCode;
use actors::mcp::envelope::{self, Kind};
use actors::mcp::errors::error_response;
use actors::session::{AttachError, Attached};
use actors::session::{ClientSession, Pushed, SessionScope};
use actors::upstream::{UpstreamReply, UpstreamSession};
use futures_util::StreamExt;
use futures_util::stream::LocalBoxStream;

use super::forward::{Decision, Relay};
use super::post::Session;
use super::to_user::Orphaned;
use super::{answer_stream, checks, post, reply, user_id};
use crate::state::AppState;

/// `GET /mcp[/{server}]`: the session's stream for messages outside requests.
pub async fn get_stream(
    req: HttpRequest,
    state: web::Data<AppState>,
    scope: SessionScope,
) -> HttpResponse {
    let settings = state.mcp.settings.load_full();
    if let Err(response) = checks::origin(&req, &settings) {
        super::post::origin_rejected(&state, &req);
        return response;
    }
    if let Err(response) = accepts_events(&req) {
        return response;
    }
    let session = match post::lookup(&req, &state, user_id(&req), &scope, None) {
        Ok(session) => session,
        Err(response) => return response,
    };
    let last_event_id = req
        .headers()
        .get(actors::mcp::headers::LAST_EVENT_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    // An id of one of the session's answer streams resumes that answer, nothing else.
    let resumes_answer = last_event_id.filter(|id| id.starts_with('p'));
    let attached = match resumes_answer {
        Some(id) => answer_stream::resume(&state, &session, id).map(Resumed::Answer),
        None => session.outbox.attach(last_event_id).map(Resumed::Get),
    };
    let attached = match attached {
        Ok(Resumed::Answer(response)) => return response,
        Ok(Resumed::Get(attached)) => attached,
        Err(AttachError::Busy) => {
            return reply::error(
                StatusCode::CONFLICT,
                None,
                ErrorCode::InvalidRequest,
                "This session already has an open GET stream; close it before opening another.",
            );
        }
        // Missed events that are gone, or an id no stream of this session sent: say so, never
        // resume with a silent gap.
        Err(
            error @ (AttachError::Expired(..)
            | AttachError::UnknownEventId(_)
            | AttachError::StreamGone(..)),
        ) => {
            return reply::error(
                StatusCode::BAD_REQUEST,
                None,
                ErrorCode::InvalidRequest,
                &format!("Cannot resume: {error}."),
            );
        }
    };
    let Attached {
        replay,
        position,
        mut live,
    } = attached;
    // The priming event names where a reconnect should resume: the id this one resumed from
    // (its missed events follow), or the current position of a fresh stream.
    let priming = reply::priming(last_event_id.unwrap_or(&position));
    let missed = futures_util::stream::iter(replay).map(|e| reply::event(&e.id, &e.message));
    let events = futures_util::stream::poll_fn(move |cx| live.poll_recv(cx))
        .map(|e| reply::event(&e.id, &e.message));
    // The stream ends when the session ends, the listener fell behind or the gateway drains:
    // `retry:` tells the client how soon to reconnect (with Last-Event-ID, to get what it
    // missed).
    let mut closing = state.mcp.closing.subscribe();
    let draining = async move {
        let _ = closing.wait_for(Option::is_some).await;
    };
    let stream = futures_util::stream::once(std::future::ready(priming))
        .chain(missed)
        .chain(events.take_until(Box::pin(draining)))
        .chain(futures_util::stream::once(std::future::ready(reply::RETRY)));
    reply::event_stream(stream)
}

enum Resumed {
    Get(Attached),
    Answer(HttpResponse),
}

/// 406 unless the client accepts an event stream.
fn accepts_events(req: &HttpRequest) -> Result<(), HttpResponse> {
    let accepts = req
        .headers()
        .get_all("accept")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|r| {
            r.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .any(|r| r == "text/event-stream" || r == "text/*" || r == "*/*");
    if accepts {
        return Ok(());
    }
    Err(reply::error(
        StatusCode::NOT_ACCEPTABLE,
        None,
        ErrorCode::InvalidRequest,
        "Send `Accept: text/event-stream`: the GET stream is an event stream.",
    ))
}

/// Right after a client session opened a backend session: tell it the client's logging level,
/// then start relaying what it sends outside requests.
pub(crate) async fn after_open(state: &AppState, relay: &Relay, opened: &UpstreamSession) {
    if let Some(level) = relay.session.outbox.log_level() {
        set_level(relay, opened, &level).await;
    }
    let Some(messages) = relay.upstream.server_messages(&relay.http, opened).await else {
        return;
    };
    let pump = Pump {
        session: Arc::downgrade(&relay.session),
        slot: Arc::downgrade(&relay.slot),
        mcp: relay.mcp.clone(),
        orphaned: Orphaned {
            user: relay.session.user_id,
            scope: relay.session.scope.clone(),
            backend: relay.backend.clone(),
            http: relay.http.clone(),
            upstream: relay.upstream.clone(),
        },
        log: state.log.clone(),
    };
    actix_web::rt::spawn(pump.run(messages));
}

/// Sends `logging/setLevel` (`level`: raw JSON) on one backend session; the answer is not the
/// client's business (a backend without logging refuses it, which changes nothing).
pub(crate) async fn set_level(relay: &Relay, upstream_session: &UpstreamSession, level: &str) {
    // Only a backend session of this client's own: a shared stdio child serves everyone.
    if upstream_session.backend_session_id().is_none() && upstream_session.pid().is_none() {
        return;
    }
    let message = format!(
        r#"{{"jsonrpc":"2.0","id":"gw-set-level","method":"logging/setLevel","params":{{"level":{level}}}}}"#
    );
    if let Ok(UpstreamReply::Stream(mut stream)) = relay
        .upstream
        .request(&relay.http, upstream_session, Bytes::from(message))
        .await
    {
        while stream.next().await.is_some() {}
    }
}

/// Reads one backend session's GET stream for as long as the backend session lives — past its
/// client session's end when a task holds it open (then for the user, see `to_user`).
struct Pump {
    session: Weak<ClientSession<UpstreamSession>>,
    slot: Weak<tokio::sync::OnceCell<UpstreamSession>>,
    mcp: Arc<super::McpState>,
    orphaned: Orphaned,
    log: slog::Logger,
}

impl Pump {
    async fn run(self, mut messages: LocalBoxStream<'static, Bytes>) {
        let Pump {
            session,
            slot,
            mcp,
            orphaned,
            log,
        } = self;
        while let Some(message) = messages.next().await {
            // Closed (or about to be) by the session closer: nothing more to relay.
            let Some(slot) = slot.upgrade() else {
                return;
            };
            let Some(session) = session.upgrade().filter(|s| !s.is_ended()) else {
                orphaned.deliver(&mcp, &slot, message).await;
                continue;
            };
            if session.scope == SessionScope::Aggregate && is_list_changed(&message) {
                continue;
            }
            let relay = Relay {
                http: orphaned.http.clone(),
                upstream: orphaned.upstream.clone(),
                slot,
                session,
                backend: orphaned.backend.clone(),
                mcp: mcp.clone(),
            };
            deliver(&relay, message, &log).await;
        }
    }
}

async fn deliver(relay: &Relay, message: Bytes, log: &slog::Logger) {
    let session: &Session = &relay.session;
    match relay.decide(&message) {
        Decision::Pass => {
            push(session, message, &relay.backend, log);
        }
        Decision::Refuse(refusal) => relay.answer_backend(refusal).await,
        Decision::Drop => {}
        Decision::Elsewhere(target, message) => {
            push(&target, message, &relay.backend, log);
        }
        Decision::ToClient(request, _) => {
            if push(session, request.clone(), &relay.backend, log) != Pushed::Queued {
                refuse_undelivered(relay, &request).await;
            }
        }
    }
}

fn push(session: &Session, message: Bytes, backend: &str, log: &slog::Logger) -> Pushed {
    let pushed = session.outbox.push(message);
    if pushed == Pushed::ListenerDropped {
        slog::warn!(log, "A client's GET stream fell too far behind; it was closed (the client may reconnect).";
            "backend" => backend, "user_id" => session.user_id, "queue" => session.outbox.limits().queue);
    }
    pushed
}

/// A relayed request no GET stream could take: the backend gets an error at once instead of
/// waiting for an answer that cannot come.
async fn refuse_undelivered(relay: &Relay, request: &[u8]) {
    let Ok(raw) = serde_json::from_slice::<&serde_json::value::RawValue>(request) else {
        return;
    };
    let Ok(parsed) = envelope::parse_message(raw) else {
        return;
    };
    let Kind::Request { id, .. } = parsed.kind else {
        return;
    };
    let Some(client_id) = actors::mcp::json::as_str(id) else {
        return;
    };
    let Some(pending) = relay.session.take_pending(&client_id) else {
        return;
    };
    let refusal = error_response(
        Some(&pending.original_id),
        ErrorCode::InternalError,
        "The client has no open GET stream to receive this request.",
        None,
    );
    relay.answer_backend(refusal).await;
}

/// `notifications/{tools,prompts,resources}/list_changed`.
fn is_list_changed(message: &[u8]) -> bool {
    let Ok(raw) = serde_json::from_slice::<&serde_json::value::RawValue>(message) else {
        return false;
    };
    envelope::parse_message(raw).is_ok_and(|e| {
        matches!(
            e.method(),
            Some(
                "notifications/tools/list_changed"
                    | "notifications/prompts/list_changed"
                    | "notifications/resources/list_changed"
            )
        )
    })
}

/// `logging/setLevel` on the aggregated `/mcp`: remembered for backend sessions opened later,
/// and sent now to every backend session this client session has open.
pub(crate) async fn set_level_everywhere(
    state: &AppState,
    http: &awc::Client,
    session: &Session,
    level: &str,
) {
    session.outbox.set_log_level(level);
    let Some(gateway) = state.gateway.get() else {
        return;
    };
    for (backend, slot) in session.opened_upstreams() {
        let (Some(upstream), Some(opened)) = (gateway.upstream(&backend), slot.get()) else {
            continue;
        };
        let relay = Relay::new(state, http, &upstream, &slot, session, &backend);
        set_level(&relay, opened, level).await;
    }
}
