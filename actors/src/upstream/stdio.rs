//! Forwarding to a stdio backend's shared child, from any thread.
//!
//! Every client session shares one child, so client ids would collide: each request's id is
//! replaced by a gateway-unique number before it leaves this thread, and the response's id is
//! replaced by the client's original id (its exact bytes) when it comes back. The session
//! remembers which client id maps to which rewritten id while the request is in flight, so a
//! client's `notifications/cancelled` reaches the right request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::envelope::{CancelParams, Envelope, span_of, splice};
use super::{Upstream, UpstreamError, UpstreamReply};
use crate::backend::BackendError;
use crate::backend::forwarding::StdioCommand;

/// Rewritten ids start far above the backend actor's own (which count from 1) and stay below
/// 2^53, so JavaScript servers echo them exactly.
const FIRST_FORWARDED_ID: u64 = 1 << 40;
static NEXT_FORWARDED_ID: AtomicU64 = AtomicU64::new(FIRST_FORWARDED_ID);

/// A client session's view of the shared child: its requests in flight.
#[derive(Debug, Default)]
pub(super) struct StdioSession {
    /// The client's raw id → the rewritten id, while the request is in flight.
    in_flight: Mutex<HashMap<String, u64>>,
}

impl StdioSession {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Removes the in-flight entry and, unless the answer arrived, tells the backend thread to
/// forget the waiter (and the child to cancel) — also when the caller's future is dropped.
struct InFlight<'a> {
    upstream: &'a Upstream,
    session: &'a StdioSession,
    client_id: String,
    id: u64,
    answered: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        {
            let mut in_flight = self.session.lock();
            if in_flight.get(&self.client_id) == Some(&self.id) {
                in_flight.remove(&self.client_id);
            }
        }
        if !self.answered
            && let Some(commands) = &self.upstream.inner.stdio
        {
            let _ = commands.send(StdioCommand::Forget { id: self.id });
        }
    }
}

pub(super) async fn request(
    upstream: &Upstream,
    session: &StdioSession,
    message: Bytes,
) -> Result<UpstreamReply, UpstreamError> {
    let envelope = Envelope::parse(&message).map_err(|e| upstream.protocol(e))?;
    let Some(client_id) = envelope.id.filter(|_| envelope.method.is_some()) else {
        return Err(upstream.protocol("the message to forward is not a request"));
    };
    let range = span_of(&message, client_id)
        .ok_or_else(|| upstream.protocol("the request id could not be located"))?;
    let client_id = client_id.get().to_owned();
    let id = NEXT_FORWARDED_ID.fetch_add(1, Ordering::Relaxed);
    let line = splice(&message, range, id.to_string().as_bytes());
    let commands = upstream.inner.stdio.as_ref().ok_or_else(|| {
        upstream.unavailable("its forwarding channel is missing (not a stdio backend)")
    })?;

    session.lock().insert(client_id.clone(), id);
    let mut in_flight = InFlight {
        upstream,
        session,
        client_id,
        id,
        answered: false,
    };
    let (reply, answer) = oneshot::channel();
    if commands
        .send(StdioCommand::Request { id, line, reply })
        .is_err()
    {
        in_flight.answered = true;
        return Err(upstream.unavailable("its actor is restarting"));
    }
    let outcome = tokio::time::timeout(upstream.timeout(), answer).await;
    let response = match outcome {
        Err(_) => return Err(UpstreamError::Timeout(upstream.timeout())),
        Ok(Err(_)) => {
            in_flight.answered = true;
            return Err(upstream.unavailable("it stopped before answering"));
        }
        Ok(Ok(Err(error))) => {
            in_flight.answered = true;
            return Err(upstream.unavailable(describe(&error)));
        }
        Ok(Ok(Ok(response))) => response,
    };
    in_flight.answered = true;
    let raw = response.0.get().as_bytes();
    let restored = Envelope::parse(raw)
        .ok()
        .and_then(|e| e.id)
        .and_then(|id| span_of(raw, id))
        .map(|range| splice(raw, range, in_flight.client_id.as_bytes()))
        .ok_or_else(|| upstream.protocol("its response has no id"))?;
    Ok(UpstreamReply::Json(Bytes::from(restored)))
}

pub(super) async fn notify(
    upstream: &Upstream,
    session: &StdioSession,
    message: Bytes,
) -> Result<(), UpstreamError> {
    let envelope = Envelope::parse(&message).map_err(|e| upstream.protocol(e))?;
    let method = envelope.method_name();
    let line = match method.as_deref() {
        // The shared child was initialised by the gateway long ago.
        Some("notifications/initialized") => return Ok(()),
        Some("notifications/cancelled") => match rewrite_cancelled(&message, &envelope, session) {
            Some(line) => line,
            // Not (or no longer) in flight: nothing to cancel.
            None => return Ok(()),
        },
        Some(_) => message.to_vec(),
        None => return Err(upstream.protocol("the message to forward is not a notification")),
    };
    let commands = upstream
        .inner
        .stdio
        .as_ref()
        .ok_or_else(|| upstream.unavailable("its forwarding channel is missing"))?;
    let (reply, answer) = oneshot::channel();
    commands
        .send(StdioCommand::Notify { line, reply })
        .map_err(|_| upstream.unavailable("its actor is restarting"))?;
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

fn describe(error: &BackendError) -> String {
    match error {
        BackendError::Exited(_) => "its process exited before answering".into(),
        other => other.to_string(),
    }
}
