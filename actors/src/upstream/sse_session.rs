//! Forwarding to a legacy HTTP+SSE (2024-11-05) backend: one SSE session per client session.
//!
//! `open` GETs the backend's event stream (its reader runs on the calling worker's local task
//! set) and initializes it with the client's capabilities, as a Streamable HTTP session would,
//! so the client's ids pass through unchanged. A request is POSTed to the announced endpoint and
//! its response picked off the stream by id. What arrives before the response (progress,
//! logging, the backend's own requests) streams to the caller through
//! [`UpstreamReply::Stream`], exactly like a Streamable HTTP answer that streams: the request
//! path refuses the backend's requests there. With no request in flight the backend's pings
//! are answered and its other requests refused at once. The stream ending ends the session:
//! waiting requests fail with `Unavailable`, later ones get `SessionExpired` (reopen once).
//! All of it goes through a per-thread client that never follows redirects.

use bytes::Bytes;
use futures_util::stream::{LocalBoxStream, StreamExt};
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::envelope::Envelope;
use super::http::{initialize_message, negotiated_version};
use super::{ClientContext, Upstream, UpstreamError, UpstreamReply};
use crate::backend::BackendError;
use crate::backend::legacy_sse::routing::{
    Delivery, Pending, RegisterError, request_progress_token,
};
use crate::backend::legacy_sse::{SseLink, SseTarget};
use crate::mcp::ErrorCode;
use crate::mcp::errors::error_response;

thread_local! {
    /// Each session holds one connection for its stream: no pool limit, no redirects.
    static CLIENT: awc::Client = awc::Client::builder()
        .connector(awc::Connector::new().limit(0))
        .disable_redirects()
        .disable_timeout()
        .add_default_header(("User-Agent", concat!("authmcp-gateway/", env!("CARGO_PKG_VERSION"))))
        .finish();
}

fn client() -> awc::Client {
    CLIENT.with(Clone::clone)
}

/// A client session's SSE session with one backend.
#[derive(Debug)]
pub(super) struct SseSession {
    link: SseLink,
    pub protocol_version: String,
    /// The `sessionId` the backend put in its endpoint URI (the common convention), if any.
    pub session_id: Option<String>,
    /// What the backend sends outside any request, taken once by the client session's listener.
    server_messages: std::sync::Mutex<Option<mpsc::Receiver<Bytes>>>,
}

/// How many unread messages outside requests a session holds before dropping more.
const SERVER_MESSAGES: usize = 256;

pub(super) async fn open(
    upstream: &Upstream,
    url: &url::Url,
    ctx: &ClientContext,
) -> Result<SseSession, UpstreamError> {
    let client = client();
    let deadline = Instant::now() + upstream.timeout();
    let target = SseTarget {
        url,
        credential: upstream.inner.credential.clone(),
        timeout: upstream.timeout(),
        log: slog::Logger::root(slog::Discard, slog::o!()),
    };
    let (to_listener, server_messages) = mpsc::channel(SERVER_MESSAGES);
    let unclaimed = move |message: &[u8]| relay_unclaimed(&to_listener, message);
    let link = SseLink::connect(&client, target, Box::new(unclaimed))
        .await
        .map_err(|e| failure(upstream, e))?;
    let id = RawValue::from_string("0".into()).expect("valid JSON");
    let init = initialize_message(ctx);
    let mut pending = send(upstream, &client, &link, &id, None, init, deadline).await?;
    let answer = loop {
        match next(upstream, &mut pending, deadline).await? {
            Delivery::Response(answer) => break answer,
            Delivery::Message(message) => {
                if let Some(reply) = answer_unclaimed(&message) {
                    let _ = link.post(&client, reply.into(), deadline).await;
                }
            }
        }
    };
    let protocol_version = negotiated_version(upstream, &answer)?;
    let initialized =
        Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    link.post(&client, initialized, deadline)
        .await
        .map_err(|e| failure(upstream, e))?;
    let session_id = link
        .endpoint()
        .query_pairs()
        .find(|(key, _)| key == "sessionId" || key == "session_id")
        .map(|(_, value)| value.into_owned());
    Ok(SseSession {
        link,
        protocol_version,
        session_id,
        server_messages: std::sync::Mutex::new(Some(server_messages)),
    })
}

pub(super) async fn request(
    upstream: &Upstream,
    session: &SseSession,
    message: Bytes,
) -> Result<UpstreamReply, UpstreamError> {
    let deadline = Instant::now() + upstream.timeout();
    let (id, progress) = {
        let envelope = Envelope::parse(&message).map_err(|e| upstream.protocol(e))?;
        match (envelope.id, envelope.method) {
            (Some(id), Some(_)) => (id.to_owned(), request_progress_token(envelope.params)),
            _ => return Err(upstream.protocol("the message to forward is not a request")),
        }
    };
    let client = client();
    let mut pending = send(
        upstream,
        &client,
        &session.link,
        &id,
        progress.as_deref(),
        message,
        deadline,
    )
    .await?;
    match next(upstream, &mut pending, deadline).await? {
        Delivery::Response(response) => Ok(UpstreamReply::Json(response)),
        Delivery::Message(first) => Ok(UpstreamReply::Stream(rest_of_answer(
            upstream.clone(),
            first,
            pending,
            deadline,
        ))),
    }
}

pub(super) async fn notify(
    upstream: &Upstream,
    session: &SseSession,
    message: Bytes,
) -> Result<(), UpstreamError> {
    let deadline = Instant::now() + upstream.timeout();
    session
        .link
        .post(&client(), message, deadline)
        .await
        .map_err(|e| failure(upstream, e))
}

/// Drops the event stream: the backend ends the session.
pub(super) fn close(session: SseSession) {
    session.link.close();
}

/// Registers the request, then POSTs it.
async fn send(
    upstream: &Upstream,
    client: &awc::Client,
    link: &SseLink,
    id: &RawValue,
    progress: Option<&RawValue>,
    message: Bytes,
    deadline: Instant,
) -> Result<Pending, UpstreamError> {
    let pending = link.register(id, progress).map_err(|e| match e {
        // The stream is gone, so is the session: the caller opens a new one.
        RegisterError::Closed => UpstreamError::SessionExpired,
        RegisterError::DuplicateId => {
            upstream.protocol("a request with the same id is still in flight")
        }
    })?;
    link.post(client, message, deadline)
        .await
        .map_err(|e| failure(upstream, e))?;
    Ok(pending)
}

async fn next(
    upstream: &Upstream,
    pending: &mut Pending,
    deadline: Instant,
) -> Result<Delivery, UpstreamError> {
    match tokio::time::timeout_at(deadline, pending.deliveries.recv()).await {
        Err(_) => Err(UpstreamError::Timeout(upstream.timeout())),
        Ok(None) => Err(stream_closed(upstream)),
        Ok(Some(delivery)) => Ok(delivery),
    }
}

/// `first`, then every delivery up to and including the response (or an error item).
fn rest_of_answer(
    upstream: Upstream,
    first: Bytes,
    pending: Pending,
    deadline: Instant,
) -> LocalBoxStream<'static, Result<Bytes, UpstreamError>> {
    let head = futures_util::stream::once(std::future::ready(Ok(first)));
    let tail = futures_util::stream::unfold(Some(pending), move |state| {
        let upstream = upstream.clone();
        async move {
            let mut pending = state?;
            match next(&upstream, &mut pending, deadline).await {
                Ok(Delivery::Message(message)) => Some((Ok(message), Some(pending))),
                Ok(Delivery::Response(response)) => Some((Ok(response), None)),
                Err(error) => Some((Err(error), None)),
            }
        }
    });
    head.chain(tail).boxed_local()
}

/// The session's messages outside any request, once (the first caller gets them).
pub(super) fn server_messages(session: &SseSession) -> Option<LocalBoxStream<'static, Bytes>> {
    let mut receiver = session
        .server_messages
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()?;
    Some(futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx)).boxed_local())
}

/// A message no request in flight claims: pings are answered here; anything else goes to the
/// client session's listener. A request nobody can take (no room) is refused at once.
fn relay_unclaimed(listener: &mpsc::Sender<Bytes>, message: &[u8]) -> Option<Vec<u8>> {
    let is_ping = Envelope::parse(message)
        .ok()
        .is_some_and(|e| e.method_name().as_deref() == Some("ping"));
    if is_ping {
        return answer_unclaimed(message);
    }
    match listener.try_send(Bytes::copy_from_slice(message)) {
        Ok(()) => None,
        Err(_) => answer_unclaimed(message),
    }
}

/// A backend message nothing can take now (no request in flight, and the session's queue for its
/// GET stream full or not open): pings are answered, requests refused with an error naming the
/// method, so the backend does not wait for an answer that cannot come.
fn answer_unclaimed(message: &[u8]) -> Option<Vec<u8>> {
    let envelope = Envelope::parse(message).ok()?;
    let (Some(id), Some(method)) = (envelope.id, envelope.method_name()) else {
        return None;
    };
    let answer = if method == "ping" {
        format!(r#"{{"jsonrpc":"2.0","id":{},"result":{{}}}}"#, id.get()).into_bytes()
    } else {
        let text =
            format!("`{method}` cannot reach the client now: its event queue is full or not open.");
        error_response(Some(id), ErrorCode::MethodNotFound, &text, None).to_vec()
    };
    Some(answer)
}

fn stream_closed(upstream: &Upstream) -> UpstreamError {
    upstream.unavailable("its event stream closed before the answer arrived")
}

fn failure(upstream: &Upstream, error: BackendError) -> UpstreamError {
    match error {
        BackendError::Timeout(_) => UpstreamError::Timeout(upstream.timeout()),
        BackendError::SessionExpired => UpstreamError::SessionExpired,
        BackendError::HttpStatus(code @ (401 | 403)) => upstream.unavailable(format!(
            "it rejected the gateway's credential (HTTP {code})"
        )),
        BackendError::HttpStatus(code @ 500..) => {
            upstream.unavailable(format!("it answered HTTP {code}"))
        }
        BackendError::HttpStatus(code) => upstream.protocol(format!("it answered HTTP {code}")),
        BackendError::Closed => stream_closed(upstream),
        other => upstream.unavailable(other),
    }
}
