//! Forwarding to a stdio backend's child, from any thread.
//!
//! By default every client session shares one child, so client ids would collide: each
//! request's id is replaced by a gateway-unique number before it leaves this thread, and the
//! response's id is replaced by the client's original id (its exact bytes) when it comes back.
//! The session remembers which client id maps to which rewritten id while the request is in
//! flight, so a client's `notifications/cancelled` reaches the right request.
//!
//! With `isolation = "per-session"`, `open` asks the backend thread for a child of this
//! session's own and keeps its channel; messages then go there, rewritten the same way (the
//! backend thread's forwarding loop is the same). Dropping the session (or `close`) ends that
//! child. A session whose child is gone, or that was opened under the other isolation (a reload
//! changed it), answers `SessionExpired`, so the caller opens a new one and retries once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};

use super::envelope::{CancelParams, Envelope, span_of, splice};
use super::{ClientContext, Upstream, UpstreamError, UpstreamReply};
use crate::backend::BackendError;
use crate::backend::forwarding::{StdioCommand, StdioCommandSender};
use crate::backend::jsonrpc::Response;
use crate::backend::session_children::SessionChild;
use crate::mcp::json;
use crate::spec::StdioIsolation;

/// Beyond the spec's timeout (which bounds `initialize`), time allowed to spawn a child.
const OPEN_SLACK: Duration = Duration::from_secs(5);
/// How long `close` waits for a per-session child to be killed and reaped.
const CLOSE_BOUND: Duration = Duration::from_secs(10);

/// Rewritten ids start far above the backend actor's own (which count from 1) and stay below
/// 2^53, so JavaScript servers echo them exactly.
const FIRST_FORWARDED_ID: u64 = 1 << 40;
static NEXT_FORWARDED_ID: AtomicU64 = AtomicU64::new(FIRST_FORWARDED_ID);

/// A client session's view of its stdio backend: its requests in flight, and its own child
/// when the backend is per-session.
#[derive(Debug, Default)]
pub(super) struct StdioSession {
    /// The client's raw id → the rewritten id, while the request is in flight (shared with the
    /// guards of streamed answers, which outlive the call that made them).
    in_flight: Arc<Mutex<HashMap<String, u64>>>,
    /// Per-session isolation: this session's child.
    child: Option<SessionChild>,
}

impl StdioSession {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        lock(&self.in_flight)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.pid)
    }

    pub fn protocol_version(&self) -> Option<&str> {
        self.child.as_ref().map(|c| c.protocol_version.as_str())
    }

    /// Where this session's messages go: its own child, or the shared one.
    fn commands<'a>(
        &'a self,
        upstream: &'a Upstream,
    ) -> Result<&'a StdioCommandSender, UpstreamError> {
        match (upstream.spec().isolation, &self.child) {
            (StdioIsolation::PerSession { .. }, Some(child)) => Ok(&child.commands),
            (StdioIsolation::Shared, None) => upstream.inner.stdio.as_ref().ok_or_else(|| {
                upstream.unavailable("its forwarding channel is missing (not a stdio backend)")
            }),
            // Opened under the other isolation (a reload changed it): open a new session.
            _ => Err(UpstreamError::SessionExpired),
        }
    }

    /// How to read a refusal from the backend thread (see [`Refusal`]).
    fn refusal(&self) -> Refusal {
        Refusal {
            own_child: self.child.is_some(),
        }
    }

    /// A failed send: the per-session child is gone before this message was written, so the
    /// caller may open a new one and send again; the shared child's actor is restarting.
    fn send_failed(&self, upstream: &Upstream) -> UpstreamError {
        if self.child.is_some() {
            UpstreamError::SessionExpired
        } else {
            upstream.unavailable("its actor is restarting")
        }
    }
}

/// Opens a client session's view: nothing to do when shared; per-session, a child of its own,
/// started and initialized (with the client's capabilities) by the backend thread.
pub(super) async fn open(
    upstream: &Upstream,
    ctx: &ClientContext,
) -> Result<StdioSession, UpstreamError> {
    if upstream.spec().isolation == StdioIsolation::Shared {
        return Ok(StdioSession::default());
    }
    let commands = upstream
        .inner
        .stdio
        .as_ref()
        .ok_or_else(|| upstream.unavailable("its forwarding channel is missing"))?;
    let (reply, answer) = oneshot::channel();
    commands
        .send(StdioCommand::Open {
            context: ctx.clone(),
            reply,
        })
        .map_err(|_| upstream.unavailable("its actor is restarting"))?;
    match tokio::time::timeout(upstream.timeout() + OPEN_SLACK, answer).await {
        // Dropping `answer` tells the backend thread to kill the child it may still start.
        Err(_) => Err(UpstreamError::Timeout(upstream.timeout())),
        Ok(Err(_)) => Err(upstream.unavailable("it stopped before its child started")),
        Ok(Ok(Err(BackendError::Timeout(bound)))) => Err(UpstreamError::Timeout(bound)),
        Ok(Ok(Err(error))) => Err(upstream.unavailable(describe(&error))),
        Ok(Ok(Ok(child))) => Ok(StdioSession {
            child: Some(child),
            ..StdioSession::default()
        }),
    }
}

/// Ends a per-session child (its process group killed and reaped) and waits until it is gone;
/// a shared session has nothing to end.
pub(super) async fn close(session: StdioSession) {
    if let Some(child) = session.child {
        let SessionChild { commands, done, .. } = child;
        drop(commands);
        let _ = tokio::time::timeout(CLOSE_BOUND, done).await;
    }
}

fn lock(map: &Mutex<HashMap<String, u64>>) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
    map.lock().unwrap_or_else(|p| p.into_inner())
}

/// Removes the in-flight entry and, unless the answer arrived, tells the backend thread to
/// forget the waiter (and the child to cancel) — also when the caller's future (or a streamed
/// answer) is dropped.
struct InFlight {
    commands: StdioCommandSender,
    in_flight: Arc<Mutex<HashMap<String, u64>>>,
    client_id: String,
    id: u64,
    answered: bool,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        {
            let mut in_flight = lock(&self.in_flight);
            if in_flight.get(&self.client_id) == Some(&self.id) {
                in_flight.remove(&self.client_id);
            }
        }
        if !self.answered {
            let _ = self.commands.send(StdioCommand::Forget { id: self.id });
        }
    }
}

pub(super) async fn request(
    upstream: &Upstream,
    session: &StdioSession,
    message: Bytes,
) -> Result<UpstreamReply, UpstreamError> {
    let id = NEXT_FORWARDED_ID.fetch_add(1, Ordering::Relaxed);
    // Progress tokens of clients sharing one child could collide: the child sees a gateway
    // token, the client gets its own back on every progress notification.
    let client_token = progress_token_of(&message);
    let message = match &client_token {
        Some(_) => with_progress_token(&message, &format!("\"gwp-{id}\"")).ok_or_else(|| {
            upstream.protocol("the request's progress token could not be rewritten")
        })?,
        None => message,
    };
    let envelope = Envelope::parse(&message).map_err(|e| upstream.protocol(e))?;
    let Some(client_id) = envelope.id.filter(|_| envelope.method.is_some()) else {
        return Err(upstream.protocol("the message to forward is not a request"));
    };
    let range = span_of(&message, client_id)
        .ok_or_else(|| upstream.protocol("the request id could not be located"))?;
    let client_id = client_id.get().to_owned();
    let line = splice(&message, range, id.to_string().as_bytes());
    let commands = session.commands(upstream)?.clone();

    session.lock().insert(client_id.clone(), id);
    let mut in_flight = InFlight {
        commands: commands.clone(),
        in_flight: session.in_flight.clone(),
        client_id,
        id,
        answered: false,
    };
    let (reply, answer) = oneshot::channel();
    // A per-session child's own requests and notifications ride on its client's answer stream,
    // as progress does for anyone who asked for it.
    let streams = client_token.is_some() || session.child.is_some();
    let (sender, notes) = match streams {
        true => {
            let (sender, receiver) = mpsc::unbounded_channel();
            (Some(sender), Some(receiver))
        }
        false => (None, None),
    };
    let token = client_token.as_ref().map(|_| format!("\"gwp-{id}\""));
    if commands
        .send(StdioCommand::Request {
            id,
            line,
            reply,
            token,
            answer: sender,
        })
        .is_err()
    {
        in_flight.answered = true;
        return Err(session.send_failed(upstream));
    }
    let deadline = tokio::time::Instant::now() + upstream.timeout();
    let Some(mut notes) = notes else {
        let outcome = tokio::time::timeout_at(deadline, answer).await;
        return finish(upstream, session.refusal(), &mut in_flight, outcome)
            .map(UpstreamReply::Json);
    };
    let mut answer = answer;
    if client_token.is_none() {
        // Nothing was asked to stream: a plain JSON answer unless the child sends something
        // first (what it sends before its response is read first: `biased`).
        tokio::select! {
            biased;
            first = notes.recv() => {
                let Some(first) = first else {
                    let outcome = tokio::time::timeout_at(deadline, answer).await;
                    return finish(upstream, session.refusal(), &mut in_flight, outcome)
                        .map(UpstreamReply::Json);
                };
                let rest = progress_then_answer(
                    upstream.clone(), session.refusal(), in_flight, notes, None, answer, deadline,
                );
                let first = Bytes::copy_from_slice(first.get().as_bytes());
                return Ok(UpstreamReply::Stream(
                    futures_util::stream::once(std::future::ready(Ok(first)))
                        .chain(rest)
                        .boxed_local(),
                ));
            }
            outcome = tokio::time::timeout_at(deadline, &mut answer) => {
                return finish(upstream, session.refusal(), &mut in_flight, outcome)
                    .map(UpstreamReply::Json);
            }
        }
    }
    Ok(UpstreamReply::Stream(progress_then_answer(
        upstream.clone(),
        session.refusal(),
        in_flight,
        notes,
        client_token,
        answer,
        deadline,
    )))
}

/// The backend thread could not write the message. With a child of the session's own that
/// means the child is gone (closed pipe, or already known dead), so nothing reached it and a
/// new session may take it; any other failure may have happened after the child read it.
#[derive(Debug, Clone, Copy)]
struct Refusal {
    own_child: bool,
}

impl Refusal {
    fn refused(self, upstream: &Upstream, error: &BackendError) -> UpstreamError {
        match error {
            BackendError::Closed | BackendError::NotConnected if self.own_child => {
                UpstreamError::SessionExpired
            }
            other => upstream.unavailable(describe(other)),
        }
    }
}

/// The final answer of a forwarded request, its id restored to the client's.
fn finish(
    upstream: &Upstream,
    refusal: Refusal,
    in_flight: &mut InFlight,
    outcome: Result<
        Result<Result<Response, BackendError>, oneshot::error::RecvError>,
        tokio::time::error::Elapsed,
    >,
) -> Result<Bytes, UpstreamError> {
    let response = match outcome {
        Err(_) => return Err(UpstreamError::Timeout(upstream.timeout())),
        Ok(Err(_)) => {
            in_flight.answered = true;
            return Err(upstream.unavailable("it stopped before answering"));
        }
        Ok(Ok(Err(error))) => {
            in_flight.answered = true;
            return Err(refusal.refused(upstream, &error));
        }
        Ok(Ok(Ok(response))) => response,
    };
    in_flight.answered = true;
    let raw = response.0.get().as_bytes();
    Envelope::parse(raw)
        .ok()
        .and_then(|e| e.id)
        .and_then(|id| span_of(raw, id))
        .map(|range| Bytes::from(splice(raw, range, in_flight.client_id.as_bytes())))
        .ok_or_else(|| upstream.protocol("its response has no id"))
}

/// Streams what the child sends for the request (progress with the client's `token`
/// restored; a per-session child's own requests and notifications as they are) as it sends
/// them, then its answer; nothing after the answer.
fn progress_then_answer(
    upstream: Upstream,
    refusal: Refusal,
    in_flight: InFlight,
    notes: mpsc::UnboundedReceiver<Box<RawValue>>,
    token: Option<Box<RawValue>>,
    answer: oneshot::Receiver<Result<Response, BackendError>>,
    deadline: tokio::time::Instant,
) -> futures_util::stream::LocalBoxStream<'static, Result<Bytes, UpstreamError>> {
    let state = Some((upstream, refusal, in_flight, notes, token, answer));
    futures_util::stream::unfold(state, move |state| async move {
        let (upstream, refusal, mut in_flight, mut notes, token, mut answer) = state?;
        tokio::select! {
            biased;
            Some(note) = notes.recv() => {
                let restored = match token.as_deref().filter(|_| is_progress(note.get())) {
                    Some(token) => with_progress_token_in_params(note.get().as_bytes(), token.get())
                        .ok_or_else(|| upstream.protocol("a progress notification could not be rewritten")),
                    None => Ok(Bytes::copy_from_slice(note.get().as_bytes())),
                };
                Some((restored, Some((upstream, refusal, in_flight, notes, token, answer))))
            }
            outcome = tokio::time::timeout_at(deadline, &mut answer) => {
                let last = finish(&upstream, refusal, &mut in_flight, outcome);
                Some((last, None))
            }
        }
    })
    .boxed_local()
}

/// Whether a message is a `notifications/progress` (with a rewritten token to restore).
fn is_progress(message: &str) -> bool {
    Envelope::parse(message.as_bytes())
        .is_ok_and(|e| e.method_name().as_deref() == Some("notifications/progress"))
}

/// `params._meta.progressToken` of a request, raw.
fn progress_token_of(message: &[u8]) -> Option<Box<RawValue>> {
    let raw: &RawValue = serde_json::from_slice(message).ok()?;
    let params = json::member(raw, "params")?;
    let meta = json::member(params, "_meta")?;
    json::member(meta, "progressToken").map(|t| t.to_owned())
}

/// The request with `params._meta.progressToken` set to `token` (raw JSON).
fn with_progress_token(message: &[u8], token: &str) -> Option<Bytes> {
    let raw: &RawValue = serde_json::from_slice(message).ok()?;
    let params = json::member(raw, "params")?;
    let meta = json::member(params, "_meta")?;
    let meta = RawValue::from_string(json::with_member(meta, "progressToken", token).ok()?).ok()?;
    let params =
        RawValue::from_string(json::with_member(params, "_meta", meta.get()).ok()?).ok()?;
    json::with_member(raw, "params", params.get())
        .ok()
        .map(Bytes::from)
}

/// A progress notification with `params.progressToken` set to `token` (raw JSON).
fn with_progress_token_in_params(message: &[u8], token: &str) -> Option<Bytes> {
    let raw: &RawValue = serde_json::from_slice(message).ok()?;
    let params = json::member(raw, "params")?;
    let params =
        RawValue::from_string(json::with_member(params, "progressToken", token).ok()?).ok()?;
    json::with_member(raw, "params", params.get())
        .ok()
        .map(Bytes::from)
}

pub(super) async fn notify(
    upstream: &Upstream,
    session: &StdioSession,
    message: Bytes,
) -> Result<(), UpstreamError> {
    let envelope = Envelope::parse(&message).map_err(|e| upstream.protocol(e))?;
    let method = envelope.method_name();
    let line = match method.as_deref() {
        // The gateway initialised the child itself (the shared one long ago, a per-session one
        // in `open`).
        Some("notifications/initialized") => return Ok(()),
        Some("notifications/cancelled") => match rewrite_cancelled(&message, &envelope, session) {
            Some(line) => line,
            // Not (or no longer) in flight: nothing to cancel.
            None => return Ok(()),
        },
        Some(_) => message.to_vec(),
        // The client's answer to a per-session child's own request: its id is the child's.
        None if envelope.is_response() && session.child.is_some() => message.to_vec(),
        None => return Err(upstream.protocol("the message to forward is not a notification")),
    };
    let commands = session.commands(upstream)?;
    let (reply, answer) = oneshot::channel();
    commands
        .send(StdioCommand::Notify { line, reply })
        .map_err(|_| session.send_failed(upstream))?;
    match tokio::time::timeout(upstream.timeout(), answer).await {
        Err(_) => Err(UpstreamError::Timeout(upstream.timeout())),
        Ok(Err(_)) => Err(upstream.unavailable("it stopped")),
        Ok(Ok(result)) => result.map_err(|e| upstream.unavailable(describe(&e))),
    }
}

/// The cancel notification with `requestId` replaced by the rewritten id.
fn rewrite_cancelled(
    message: &[u8],
    envelope: &Envelope<'_>,
    session: &StdioSession,
) -> Option<Vec<u8>> {
    let params: CancelParams<'_> = serde_json::from_str(envelope.params?.get()).ok()?;
    let client_id = params.request_id?;
    let id = *session.lock().get(client_id.get())?;
    let range = span_of(message, client_id)?;
    Some(splice(message, range, id.to_string().as_bytes()))
}

/// What a per-session child sends while none of the session's requests is in flight (once per
/// session: the receiver is handed over whole). The shared child has no such channel.
pub(super) fn server_messages(
    session: &StdioSession,
) -> Option<futures_util::stream::LocalBoxStream<'static, Bytes>> {
    let child = session.child.as_ref()?;
    let mut receiver = child
        .server_messages
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()?;
    Some(
        futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
            .map(|message| Bytes::copy_from_slice(message.get().as_bytes()))
            .boxed_local(),
    )
}

fn describe(error: &BackendError) -> String {
    match error {
        BackendError::Exited(_) => "its process exited before answering".into(),
        other => other.to_string(),
    }
}
