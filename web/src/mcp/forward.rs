//! One exchange with a backend on behalf of a client session: open the session's backend
//! session on first use, send, stream the answer back; reopen once if the backend forgot it.

use std::sync::Arc;

use actix_web::web::Bytes;
use actors::mcp::ErrorCode;
use actors::mcp::envelope::{self, Kind};
use actors::mcp::errors::error_response;
use actors::routing::Retry;
use actors::session::{Initiator, RequestGuard, UpstreamSlot};
use actors::upstream::{ClientContext, Upstream, UpstreamError, UpstreamReply, UpstreamSession};
use futures_util::StreamExt;
use futures_util::stream::LocalBoxStream;
use serde_json::value::RawValue;

use super::post::Session;
use super::task_relay::TaskIds;
use crate::state::AppState;

/// What a request produced, before it becomes an HTTP response (or a batch element).
pub enum Answer {
    Json(Bytes),
    /// One JSON body written as consecutive pieces (shared pre-rendered parts, no copy).
    JsonParts(Vec<Bytes>),
    /// JSON-RPC messages in order; the last is the response.
    Stream(LocalBoxStream<'static, Bytes>),
    Accepted,
    /// The token lacks a scope the request needs (MCP step-up): answered with HTTP 403 and
    /// `WWW-Authenticate: Bearer error="insufficient_scope", scope="<this>"`.
    InsufficientScope(String),
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
    forward_with_slot(state, http, session, backend, message, id, retry)
        .await
        .0
}

/// As [`forward`], also giving the backend session the answer came from (a task created by
/// the call lives there).
pub async fn forward_with_slot(
    state: &AppState,
    http: &awc::Client,
    session: &Session,
    backend: &str,
    message: Bytes,
    id: &RawValue,
    retry: Retry,
) -> (Answer, Option<UpstreamSlot<UpstreamSession>>) {
    let upstream = match upstream_for(state, backend, id) {
        Ok(upstream) => upstream,
        Err(refused) => return (refused, None),
    };
    let context = || ClientContext {
        protocol_version: session.protocol_version.to_string(),
        capabilities: session.client_capabilities.clone(),
        client_info: session.client_info.clone(),
    };
    // One reopen when the backend forgot our session; one repeat after a transport failure,
    // only for calls the tool's annotations say are safe to repeat.
    // Lets a `notifications/cancelled` for this id find the backend until the answer ends.
    let tracked = session.track_request(id, backend);
    let (mut reopened, mut repeated) = (false, false);
    loop {
        // The slot first, then the check. Ending a session marks it ended before the closer
        // takes its slots, so either this check sees the end, or the closer finds this slot
        // (and closes whatever gets opened in it once we let go). The other order would let a
        // slot be created after the closer's sweep: a backend session nobody closes.
        let slot = session.upstream_slot(backend);
        if session.is_ended() {
            return (session_ended(id), None);
        }
        let mut fresh = false;
        let opened = slot
            .get_or_try_init(|| async {
                fresh = true;
                crate::metrics::backend_wait(upstream.open(http, &context())).await
            })
            .await;
        let result = match opened {
            // Ended while the backend session was opening: do not use it. The closer holds
            // this slot and closes the backend session as soon as this request lets go.
            Ok(_) if session.is_ended() => return (session_ended(id), None),
            Ok(upstream_session) => {
                let relay = Relay::new(state, http, &upstream, &slot, session, backend);
                if fresh {
                    super::listen::after_open(state, &relay, upstream_session).await;
                }
                send(&relay, upstream_session, message.clone(), id)
                    .await
                    .map(|sent| (sent, relay))
            }
            Err(e) => Err(e),
        };
        match result {
            Ok((Sent::Cancelled, _)) => return (nothing(), None),
            Ok((Sent::Reply(reply), relay)) => {
                return (answer_reply(reply, relay, tracked, id), Some(slot));
            }
            Err(UpstreamError::SessionExpired) if !reopened => {
                reopened = true;
                session.reset_upstream(backend);
            }
            Err(UpstreamError::Unavailable(_) | UpstreamError::Timeout(_))
                if retry != Retry::Never && !repeated =>
            {
                repeated = true;
                // The same backend session: a transport failure does not end it (if it did,
                // the repeat gets SessionExpired and reopens).
            }
            Err(e) => return (failure(id, backend, &e), None),
        }
    }
}

/// One exchange on a given backend session, never opening or reopening one: for a task, which
/// lives on the backend session it was created on. `Err(SessionExpired)` when that backend
/// session is gone (the caller explains what it means for the task).
pub async fn forward_on(
    state: &AppState,
    http: &awc::Client,
    session: &Session,
    backend: &str,
    slot: &UpstreamSlot<UpstreamSession>,
    message: Bytes,
    id: &RawValue,
) -> Result<Answer, UpstreamError> {
    let upstream = match upstream_for(state, backend, id) {
        Ok(upstream) => upstream,
        Err(refused) => return Ok(refused),
    };
    let Some(upstream_session) = slot.get() else {
        return Err(UpstreamError::SessionExpired);
    };
    let tracked = session.track_request(id, backend);
    let relay = Relay::new(state, http, &upstream, slot, session, backend);
    match send(&relay, upstream_session, message, id).await {
        Ok(Sent::Cancelled) => Ok(nothing()),
        Ok(Sent::Reply(reply)) => Ok(answer_reply(reply, relay, tracked, id)),
        Err(UpstreamError::SessionExpired) => Err(UpstreamError::SessionExpired),
        Err(e) => Ok(failure(id, backend, &e)),
    }
}

/// The backend's handle, after its rate limit; an error answer when it is limited or not running.
fn upstream_for(state: &AppState, backend: &str, id: &RawValue) -> Result<Upstream, Answer> {
    if let Err(rejection) = super::limits::check_backend(state, backend) {
        return Err(Answer::Json(super::limits::rate_limited(
            &rejection,
            Some(id),
        )));
    }
    crate::metrics::note_backend(backend);
    state
        .gateway
        .get()
        .and_then(|g| g.upstream(backend))
        .ok_or_else(|| {
            error(
                Some(id),
                ErrorCode::BackendUnavailable,
                &format!("Backend `{backend}` is not running."),
            )
        })
}

/// What sending a request produced.
enum Sent {
    Reply(UpstreamReply),
    /// The client cancelled it: it gets no response.
    Cancelled,
}

async fn send(
    relay: &Relay,
    upstream_session: &UpstreamSession,
    message: Bytes,
    id: &RawValue,
) -> Result<Sent, UpstreamError> {
    let session = &relay.session;
    // Cancelled before it left: the backend never sees it, and, as for any
    // cancelled request, the client gets no response (an empty event stream).
    if session.is_cancelled(id) {
        return Ok(Sent::Cancelled);
    }
    let reply = crate::metrics::backend_wait(relay.upstream.request(
        &relay.http,
        upstream_session,
        message,
    ))
    .await?;
    // Cancelled while the request was on its way: the backend has it now, so the
    // cancellation can no longer overtake it. Tell it, and answer nothing.
    if session.mark_delivered(id, &relay.slot) {
        let cancel = cancellation(id);
        let _ = relay
            .upstream
            .notify(&relay.http, upstream_session, cancel)
            .await;
        return Ok(Sent::Cancelled);
    }
    Ok(Sent::Reply(reply))
}

/// The answer a backend's reply becomes: JSON as it is, or its stream with the backend's own
/// requests relayed (`relay`), ending at a cancellation or with an error if it breaks.
fn answer_reply(
    reply: UpstreamReply,
    relay: Relay,
    tracked: RequestGuard<UpstreamSession>,
    id: &RawValue,
) -> Answer {
    let session = relay.session.clone();
    let backend = relay.backend.clone();
    match reply {
        // Cancelled while the backend worked on it: its late answer is not sent either.
        UpstreamReply::Json(_) if session.is_cancelled(id) => nothing(),
        UpstreamReply::Json(body) => {
            relay.note_required_elicitations(&body);
            Answer::Json(body)
        }
        UpstreamReply::Stream(stream) => {
            let own_id = id.to_owned();
            let stream = relay_backend_requests(stream, relay)
                .take_while(move |_| {
                    let _tracked = &tracked;
                    // Nothing more once the client cancelled: no response, no progress.
                    std::future::ready(!session.is_cancelled(&own_id))
                })
                .boxed_local();
            Answer::Stream(end_on_error(stream, id, &backend))
        }
    }
}

/// The answer to a cancelled request: no response (an empty event stream).
fn nothing() -> Answer {
    Answer::Stream(futures_util::stream::empty().boxed_local())
}

fn session_ended(id: &RawValue) -> Answer {
    error(
        Some(id),
        ErrorCode::SessionNotFound,
        "The session ended while this request was in progress.",
    )
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

/// Requests a backend sends inside its answer (sampling, elicitation, roots) go to this client
/// only — on this answer's stream, under an id the gateway chose — when the client declared the
/// capability; the client's response comes back through `dispatch` and is routed to the backend
/// with its own id. Otherwise the backend is answered at once with an error naming what is
/// missing, so the call fails quickly and clearly instead of waiting for a reply.
///
/// Requests relayed on this stream wait for the client's answer only while the stream lasts:
/// once it ends (the backend answered, or gave up) their pending entries are freed.
fn relay_backend_requests(
    stream: LocalBoxStream<'static, Result<Bytes, UpstreamError>>,
    relay: Relay,
) -> LocalBoxStream<'static, Result<Bytes, UpstreamError>> {
    let relayed = RelayedOnStream {
        session: relay.session.clone(),
        ids: Default::default(),
    };
    stream
        .filter_map(move |item| {
            let decision = match &item {
                Ok(message) => relay.decide(message),
                Err(_) => Decision::Pass,
            };
            let relay = relay.clone();
            let relayed = relayed.ids.clone();
            async move {
                match decision {
                    Decision::Pass => Some(item),
                    Decision::ToClient(message, client_id) => {
                        relayed.borrow_mut().extend(client_id);
                        Some(Ok(message))
                    }
                    Decision::Refuse(refusal) => {
                        relay.answer_backend(refusal).await;
                        None
                    }
                    Decision::Drop => None,
                    Decision::Elsewhere(target, message) => {
                        target.outbox.push(message);
                        None
                    }
                }
            }
        })
        .boxed_local()
}

/// The backend requests relayed on one answer stream; their pending entries are freed when the
/// stream is dropped (a response arriving later is then dropped as unknown).
struct RelayedOnStream {
    session: Session,
    ids: std::rc::Rc<std::cell::RefCell<Vec<String>>>,
}

impl Drop for RelayedOnStream {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            self.session.take_pending(id);
        }
    }
}

/// What a relayed answer needs to route backend requests.
#[derive(Clone)]
pub(crate) struct Relay {
    pub http: awc::Client,
    pub upstream: Upstream,
    pub slot: Arc<tokio::sync::OnceCell<UpstreamSession>>,
    pub session: Session,
    pub backend: Arc<str>,
    /// The endpoint's shared state: task ids in what the backend sends become the gateway's
    /// (`tasks`), URL elicitations are noted and their completions routed (`elicitations`).
    pub mcp: Arc<super::McpState>,
}

pub(crate) enum Decision {
    Pass,
    /// A backend's request (under the id the client sees, given too) or a message naming one.
    ToClient(Bytes, Option<String>),
    /// Answered to the backend by the gateway: a refusal, or `{}` to its `ping`.
    Refuse(Bytes),
    /// Nothing for the client (a cancellation of a request it never saw or already answered).
    Drop,
    /// For another session of the same user (a URL elicitation's completion goes to the
    /// session that was sent the elicitation): queued on that session's GET stream.
    Elsewhere(Session, Bytes),
}

impl Relay {
    pub(crate) fn new(
        state: &AppState,
        http: &awc::Client,
        upstream: &Upstream,
        slot: &UpstreamSlot<UpstreamSession>,
        session: &Session,
        backend: &str,
    ) -> Relay {
        Relay {
            http: http.clone(),
            upstream: upstream.clone(),
            slot: slot.clone(),
            session: session.clone(),
            backend: Arc::from(backend),
            mcp: state.mcp.clone(),
        }
    }

    /// What to do with one message a backend sent this session: pass it on, relay it to the
    /// client under a new id, or refuse it to the backend. Shared by request streams and the
    /// session's GET stream (`listen`).
    /// Task ids in it (`notifications/tasks/status`, a related-task `_meta`) become the
    /// gateway's first; a status of a task this user never created through us is dropped.
    pub(crate) fn decide(&self, message: &[u8]) -> Decision {
        let Some(raw) = serde_json::from_slice::<&RawValue>(message).ok() else {
            return Decision::Pass;
        };
        let Ok(envelope) = envelope::parse_message(raw) else {
            return Decision::Pass;
        };
        match super::task_relay::to_client_ids(self, &envelope) {
            TaskIds::Unchanged => self.decide_parsed(raw, &envelope),
            TaskIds::ForNobody => Decision::Drop,
            TaskIds::Rewritten(rewritten) => {
                let decision = serde_json::from_slice::<&RawValue>(&rewritten)
                    .ok()
                    .and_then(|raw| Some((raw, envelope::parse_message(raw).ok()?)))
                    .map(|(raw, envelope)| self.decide_parsed(raw, &envelope));
                match decision {
                    Some(Decision::Pass) | None => Decision::ToClient(rewritten, None),
                    Some(other) => other,
                }
            }
        }
    }

    fn decide_parsed(&self, raw: &RawValue, envelope: &envelope::Envelope<'_>) -> Decision {
        match envelope.method() {
            Some("notifications/cancelled") => return self.backend_cancelled(raw, envelope.params),
            Some("notifications/elicitation/complete") => {
                return self.elicitation_completed(raw, envelope.params);
            }
            _ => {}
        }
        let Kind::Request { id, method } = &envelope.kind else {
            if matches!(envelope.kind, Kind::Response { .. }) {
                self.note_required_elicitations(raw.get().as_bytes());
            }
            return Decision::Pass;
        };
        // Liveness checks are between the backend and the gateway, which is alive.
        if method == "ping" {
            return Decision::Refuse(actors::mcp::errors::result_response(id, "{}"));
        }
        let refuse = |text: String| {
            Decision::Refuse(error_response(
                Some(id),
                ErrorCode::MethodNotFound,
                &text,
                None,
            ))
        };
        let Some(capability) = client_capability(method) else {
            return refuse(format!(
                "The gateway does not relay `{method}` to its clients."
            ));
        };
        if !self.session.client_declared(capability) {
            return refuse(format!(
                "The client did not declare the `{capability}` capability, so `{method}` cannot be sent to it."
            ));
        }
        let part = sub_capability(method, envelope.params);
        if let Some(part) = part
            && !self.client_declared_part(capability, part)
        {
            return refuse(format!(
                "The client did not declare `{capability}.{part}`, so this `{method}` cannot be sent to it."
            ));
        }
        if let Some(refusal) =
            super::task_relay::not_this_backends_client_task(self, id, method, envelope.params)
        {
            return Decision::Refuse(refusal);
        }
        let Some(client_id) =
            self.session
                .register_pending(&self.backend, &self.slot, method, (*id).to_owned())
        else {
            return refuse(format!(
                "The client has {} requests waiting for an answer (mcp.max_pending_requests); try again later.",
                self.session.outbox.limits().pending
            ));
        };
        if part == Some("url") {
            self.note_url_elicitation(envelope.params);
        }
        let quoted = serde_json::to_string(&client_id).unwrap_or_default();
        match actors::mcp::json::with_member(raw, "id", &quoted) {
            Ok(rewritten) => Decision::ToClient(Bytes::from(rewritten), Some(client_id)),
            Err(_) => {
                self.session.take_pending(&client_id);
                Decision::Pass
            }
        }
    }

    /// The backend withdrew one of its requests: the client learns it under the id it saw, and
    /// the pending entry is freed (a late answer is dropped). Unknown ids concern nobody here.
    fn backend_cancelled(&self, raw: &RawValue, params: Option<&RawValue>) -> Decision {
        let Some(original) = params.and_then(|p| actors::mcp::json::member(p, "requestId")) else {
            return Decision::Drop;
        };
        let Some(client_id) = self.session.cancel_pending(&self.backend, original) else {
            return Decision::Drop;
        };
        let quoted = serde_json::to_string(&client_id).unwrap_or_default();
        let rewritten = actors::mcp::json::member(raw, "params")
            .and_then(|p| actors::mcp::json::with_member(p, "requestId", &quoted).ok())
            .and_then(|p| RawValue::from_string(p).ok())
            .and_then(|p| actors::mcp::json::with_member(raw, "params", p.get()).ok());
        match rewritten {
            Some(message) => Decision::ToClient(Bytes::from(message), None),
            None => Decision::Drop,
        }
    }

    /// A URL-mode `elicitation/create` is being sent to this session: its completion must come
    /// here too, whichever of the user's backend sessions the backend sends it on.
    fn note_url_elicitation(&self, params: Option<&RawValue>) {
        let Some(elicitation_id) = super::to_user::elicitation_id(params) else {
            return;
        };
        let initiator = Initiator {
            session_id: self.session.id.clone(),
            scope: self.session.scope.clone(),
        };
        self.mcp.elicitations.note(
            self.session.user_id,
            &self.backend,
            &elicitation_id,
            initiator,
        );
    }

    /// A backend's answer with error `-32042` (URL elicitation required, 2025-11-25) lists the
    /// elicitations the client is to open in `error.data.elicitations`: their completions come
    /// back to this session, as for an `elicitation/create` sent to it. Cheap when it is not one:
    /// a result is known by its leading keys (its payload is not read), and an error's bytes
    /// are searched for the code before anything is parsed.
    pub(crate) fn note_required_elicitations(&self, message: &[u8]) {
        const URL_ELICITATION_REQUIRED: &str = "-32042";
        if crate::metrics::response_outcome(message) == Some(crate::metrics::outcome::OK)
            || memchr::memmem::find(message, URL_ELICITATION_REQUIRED.as_bytes()).is_none()
        {
            return;
        }
        let Ok(raw) = serde_json::from_slice::<&RawValue>(message) else {
            return;
        };
        let Some(error) = actors::mcp::json::member(raw, "error") else {
            return;
        };
        let code = actors::mcp::json::member(error, "code").map(|c| c.get().trim());
        if code != Some(URL_ELICITATION_REQUIRED) {
            return;
        }
        let listed = actors::mcp::json::member(error, "data")
            .and_then(|data| actors::mcp::json::member(data, "elicitations"))
            .and_then(|list| serde_json::from_str::<Vec<&RawValue>>(list.get()).ok());
        for elicitation in listed.unwrap_or_default() {
            self.note_url_elicitation(Some(elicitation));
        }
    }

    /// `notifications/elicitation/complete`: for the session that was sent the elicitation
    /// (see [`super::to_user`]). One the gateway never relayed to this user (a backend may name
    /// it in an error instead) stays with this session, like any notification.
    fn elicitation_completed(&self, raw: &RawValue, params: Option<&RawValue>) -> Decision {
        let user = self.session.user_id;
        let Some(initiator) =
            super::to_user::elicitation_initiator(&self.mcp, user, &self.backend, params)
        else {
            return Decision::Pass;
        };
        match super::to_user::session_for(&self.mcp, user, &initiator) {
            Some(target) if Arc::ptr_eq(&target, &self.session) => Decision::Pass,
            Some(target) => {
                Decision::Elsewhere(target, Bytes::copy_from_slice(raw.get().as_bytes()))
            }
            None => Decision::Drop,
        }
    }

    /// Whether the client declared `capabilities.<capability>.<part>` (e.g. `elicitation.url`).
    fn client_declared_part(&self, capability: &str, part: &str) -> bool {
        actors::mcp::json::member(&self.session.client_capabilities, capability)
            .and_then(|c| actors::mcp::json::member(c, part))
            .is_some_and(|v| v.get() != "null")
    }

    /// Sends a response (ours or the client's) to the backend on this session.
    pub(crate) async fn answer_backend(&self, response: Bytes) {
        if let Some(upstream_session) = self.slot.get() {
            // A failure only means the backend times the request out itself.
            let _ = self
                .upstream
                .notify(&self.http, upstream_session, response)
                .await;
        }
    }
}

/// The client's response to a relayed backend request: routed to the backend that asked, with
/// the backend's own id restored. Unknown ids (answered already, or never sent) are dropped:
/// the client gets 202 either way, as for any response.
pub async fn client_response(
    state: &AppState,
    http: &awc::Client,
    session: &Session,
    raw: &RawValue,
    id: &RawValue,
) -> Answer {
    let Some(client_id) = actors::mcp::json::as_str(id) else {
        return Answer::Accepted;
    };
    let Some(pending) = session.take_pending(&client_id) else {
        return Answer::Accepted;
    };
    let (Some(upstream), Some(slot)) = (
        state
            .gateway
            .get()
            .and_then(|g| g.upstream(&pending.backend)),
        pending.slot.upgrade(),
    ) else {
        return Answer::Accepted;
    };
    if let Ok(restored) = actors::mcp::json::with_member(raw, "id", pending.original_id.get()) {
        let relay = Relay::new(state, http, &upstream, &slot, session, &pending.backend);
        let restored = super::task_relay::to_backend_ids(&relay, Bytes::from(restored));
        let restored = super::task_relay::client_tasks_answer(&relay, &pending.method, restored);
        relay.answer_backend(restored).await;
    }
    Answer::Accepted
}

/// Notifications from the client that concern backends: a cancellation goes to the backend
/// session answering that request — for a task's follow-up, the task's backend session, which
/// may belong to another of the user's sessions — (stdio backends map the id themselves); a
/// change of the client's roots goes to every backend it has a session with. Others need
/// nothing.
pub async fn client_notification(
    state: &AppState,
    http: &awc::Client,
    session: &Session,
    raw: &RawValue,
    method: &str,
    params: Option<&RawValue>,
) {
    let targets: Vec<(String, UpstreamSlot<UpstreamSession>)> = match method {
        "notifications/cancelled" => params
            .and_then(|p| actors::mcp::json::member(p, "requestId"))
            .and_then(|id| session.cancel_request(id))
            .and_then(|target| Some((target.backend, target.slot.upgrade()?)))
            .into_iter()
            .collect(),
        "notifications/roots/list_changed" => session.opened_upstreams(),
        _ => Vec::new(),
    };
    for (backend, slot) in targets {
        let Some(upstream) = state.gateway.get().and_then(|g| g.upstream(&backend)) else {
            continue;
        };
        if let Some(upstream_session) = slot.get() {
            let message = Bytes::copy_from_slice(raw.get().as_bytes());
            // Best effort: a backend that misses a cancellation finishes the work unasked.
            let _ = upstream.notify(http, upstream_session, message).await;
        }
    }
}

/// The `notifications/cancelled` the gateway sends on the client's behalf (with the client's
/// id: stdio backends map it, as they do for the client's own cancellations).
fn cancellation(id: &RawValue) -> Bytes {
    Bytes::from(format!(
        r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":{},"reason":"cancelled by the client"}}}}"#,
        id.get()
    ))
}

/// The part of its capability a backend request needs beyond the capability itself: URL-mode
/// elicitation needs `elicitation.url`, sampling with tools needs `sampling.tools`, listing and
/// cancelling the client's tasks need `tasks.list` and `tasks.cancel` (2025-11-25).
fn sub_capability(method: &str, params: Option<&RawValue>) -> Option<&'static str> {
    match method {
        "tasks/list" => return Some("list"),
        "tasks/cancel" => return Some("cancel"),
        _ => {}
    }
    let params = params?;
    let member = |key| actors::mcp::json::member(params, key).filter(|v| v.get() != "null");
    match method {
        "elicitation/create" => member("mode")
            .is_some_and(|mode| mode.get() == r#""url""#)
            .then_some("url"),
        "sampling/createMessage" => {
            (member("tools").is_some() || member("toolChoice").is_some()).then_some("tools")
        }
        _ => None,
    }
}

/// The client capability a backend request needs.
fn client_capability(method: &str) -> Option<&'static str> {
    match method {
        "sampling/createMessage" => Some("sampling"),
        "elicitation/create" => Some("elicitation"),
        "roots/list" => Some("roots"),
        // A backend asking about tasks the client runs for it (task-augmented sampling or
        // elicitation): only a client that declared `tasks` runs any.
        "tasks/get" | "tasks/result" | "tasks/list" | "tasks/cancel" => Some("tasks"),
        _ => None,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backend_asking_about_client_tasks_needs_the_matching_tasks_capability() {
        for method in ["tasks/get", "tasks/result", "tasks/list", "tasks/cancel"] {
            assert_eq!(client_capability(method), Some("tasks"), "{method}");
        }
        assert_eq!(sub_capability("tasks/list", None), Some("list"));
        assert_eq!(sub_capability("tasks/cancel", None), Some("cancel"));
        assert_eq!(sub_capability("tasks/get", None), None);
        assert_eq!(
            client_capability("tasks/update"),
            None,
            "not a 2025-11-25 method"
        );
        let url = RawValue::from_string(r#"{"mode":"url"}"#.into()).unwrap();
        assert_eq!(
            sub_capability("elicitation/create", Some(&url)),
            Some("url")
        );
    }
}
