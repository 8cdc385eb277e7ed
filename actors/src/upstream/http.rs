//! Forwarding to a Streamable HTTP backend, on the caller's own awc client.
//!
//! Each client session has its own backend session (backends keep per-client state), opened
//! with the client's capabilities, so ids go through unchanged. Every request carries exactly
//! these headers and no others from the client: `Accept`, `Content-Type`, `Mcp-Session-Id`,
//! `MCP-Protocol-Version` and the spec's credential.

use awc::error::{ConnectError, PayloadError, SendRequestError};
use awc::http::StatusCode;
use awc::http::header::{self, HeaderValue};
use bytes::Bytes;
use futures_util::StreamExt;
use std::collections::VecDeque;

use futures_util::stream::{LocalBoxStream, Stream};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::time::Instant;

use super::envelope::Envelope;
use super::{ClientContext, Upstream, UpstreamError, UpstreamReply, sse};
use crate::backend::{OFFERED_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS, SseParser};

use crate::mcp::headers::{
    ACCEPT_JSON_OR_STREAM, EVENT_STREAM, JSON, PROTOCOL_VERSION as VERSION_HEADER,
    SESSION_ID as SESSION_HEADER,
};
/// Upper bound for one JSON answer.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// A client session's session with one HTTP backend.
#[derive(Debug)]
pub(super) struct HttpSession {
    /// The backend's `Mcp-Session-Id` (`None` for stateless backends) and the negotiated
    /// protocol version, kept as header values: every request of the session sends them.
    session_header: Option<HeaderValue>,
    version_header: HeaderValue,
    /// Dropped with the session: ends the listener on the backend's GET stream.
    pub stop: tokio::sync::watch::Sender<()>,
}

impl HttpSession {
    /// The backend's `Mcp-Session-Id` (checked to be text when the session opened).
    pub fn session_id(&self) -> Option<&str> {
        self.session_header.as_ref().and_then(|v| v.to_str().ok())
    }

    /// The protocol version negotiated at `initialize` (a supported version, so text).
    pub fn protocol_version(&self) -> &str {
        self.version_header.to_str().unwrap_or_default()
    }
}

pub(super) async fn open(
    upstream: &Upstream,
    client: &awc::Client,
    url: &url::Url,
    ctx: &ClientContext,
) -> Result<HttpSession, UpstreamError> {
    let deadline = Instant::now() + upstream.timeout();
    let response = post(
        upstream,
        client,
        url,
        None,
        initialize_message(ctx),
        deadline,
    )
    .await?;
    // Copied, not cloned: a header value read from a response shares that response's whole
    // read buffer, which a clone would keep alive for as long as the session lives (kilobytes
    // per session).
    let session_header = response
        .headers()
        .get(SESSION_HEADER)
        .filter(|v| v.to_str().is_ok())
        .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok());
    let request_id = RawValue::from_string("0".into()).expect("valid JSON");
    let reply = read_reply(upstream, response, request_id, deadline).await?;
    let answer = last_message(upstream, reply).await?;
    let protocol_version = negotiated_version(upstream, &answer)?;
    let version_header = HeaderValue::from_str(&protocol_version).map_err(|_| {
        UpstreamError::Protocol(format!(
            "backend `{}`: protocol version `{protocol_version}` is not a header value",
            upstream.name()
        ))
    })?;
    let session = HttpSession {
        session_header,
        version_header,
        stop: tokio::sync::watch::Sender::new(()),
    };
    let initialized =
        Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    post(upstream, client, url, Some(&session), initialized, deadline).await?;
    Ok(session)
}

/// The gateway's `initialize` (id 0) for a client session's backend session: the client's
/// capabilities and info, and its version if the gateway speaks it (else the gateway's).
pub(super) fn initialize_message(ctx: &ClientContext) -> Bytes {
    let offered = if SUPPORTED_PROTOCOL_VERSIONS.contains(&ctx.protocol_version.as_str()) {
        ctx.protocol_version.as_str()
    } else {
        OFFERED_PROTOCOL_VERSION
    };
    Bytes::from(format!(
        r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":{},"capabilities":{},"clientInfo":{}}}}}"#,
        serde_json::to_string(offered).unwrap_or_default(),
        ctx.capabilities.get(),
        ctx.client_info.get()
    ))
}

pub(super) async fn request(
    upstream: &Upstream,
    client: &awc::Client,
    url: &url::Url,
    session: &HttpSession,
    message: Bytes,
) -> Result<UpstreamReply, UpstreamError> {
    let request_id = {
        let envelope = Envelope::parse(&message).map_err(|e| upstream.protocol(e))?;
        match (envelope.id, envelope.method) {
            (Some(id), Some(_)) => id.to_owned(),
            _ => return Err(upstream.protocol("the message to forward is not a request")),
        }
    };
    let deadline = Instant::now() + upstream.timeout();
    let response = post(upstream, client, url, Some(session), message, deadline).await?;
    read_reply(upstream, response, request_id, deadline).await
}

pub(super) async fn notify(
    upstream: &Upstream,
    client: &awc::Client,
    url: &url::Url,
    session: &HttpSession,
    message: Bytes,
) -> Result<(), UpstreamError> {
    let deadline = Instant::now() + upstream.timeout();
    post(upstream, client, url, Some(session), message, deadline)
        .await
        .map(drop)
}

/// Opens the backend session's GET stream; once the backend accepted it, its messages (the
/// ones it sends outside any request) one per item, until the stream or the session ends.
/// `None`: no session id (stateless backend) or the backend offers no GET stream.
pub(super) async fn server_messages(
    upstream: &Upstream,
    client: &awc::Client,
    url: &url::Url,
    session: &HttpSession,
) -> Option<LocalBoxStream<'static, Bytes>> {
    let session_id = session.session_header.clone()?;
    let request = client
        .get(url.as_str())
        .insert_header((header::ACCEPT, EVENT_STREAM))
        .insert_header((SESSION_HEADER, session_id))
        .insert_header((VERSION_HEADER, session.version_header.clone()))
        // The stream is long-lived: only the connection attempt is bounded.
        .timeout(upstream.timeout());
    let request = upstream.inner.credential.apply(request).ok()?;
    let response = tokio::time::timeout(upstream.timeout(), request.send())
        .await
        .ok()?
        .ok()?;
    let is_stream = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/event-stream"));
    if !response.status().is_success() || !is_stream {
        crate::http_reuse::drain_in_background(response);
        return None;
    }
    let stop = session.stop.subscribe();
    let state = (
        response,
        SseParser::default(),
        VecDeque::<Bytes>::new(),
        stop,
    );
    let messages = futures_util::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(message) = state.2.pop_front() {
                return Some((message, state));
            }
            let chunk = tokio::select! {
                chunk = state.0.next() => chunk?.ok()?,
                _ = state.3.changed() => return None,
            };
            for event in state.1.feed(&chunk).ok()? {
                if (event.event.is_empty() || event.event == "message") && !event.data.is_empty() {
                    state.2.push_back(Bytes::from(event.data));
                }
            }
        }
    });
    Some(messages.boxed_local())
}

pub(super) async fn close(
    upstream: &Upstream,
    client: &awc::Client,
    url: &url::Url,
    session: HttpSession,
) {
    let Some(session_id) = session.session_header else {
        return;
    };
    let bound = upstream.timeout().min(std::time::Duration::from_secs(2));
    let request = client
        .delete(url.as_str())
        .insert_header((SESSION_HEADER, session_id))
        .insert_header((VERSION_HEADER, session.version_header))
        .timeout(bound);
    if let Ok(request) = upstream.inner.credential.apply(request) {
        let _ = tokio::time::timeout(bound, request.send()).await;
    }
}

/// POSTs one message with this session's headers; maps HTTP failures to errors.
async fn post(
    upstream: &Upstream,
    client: &awc::Client,
    url: &url::Url,
    session: Option<&HttpSession>,
    body: Bytes,
    deadline: Instant,
) -> Result<
    awc::ClientResponse<impl Stream<Item = Result<Bytes, PayloadError>> + Unpin + 'static>,
    UpstreamError,
> {
    let send = |body: Bytes| {
        let mut request = client
            .post(url.as_str())
            .insert_header((header::ACCEPT, ACCEPT_JSON_OR_STREAM))
            .insert_header((header::CONTENT_TYPE, JSON))
            .timeout(upstream.timeout());
        if let Some(session) = session {
            if let Some(id) = &session.session_header {
                request = request.insert_header((SESSION_HEADER, id.clone()));
            }
            request = request.insert_header((VERSION_HEADER, session.version_header.clone()));
        }
        let request = upstream.inner.credential.apply(request);
        async move {
            let request = request.map_err(|e| upstream.unavailable(e))?;
            match tokio::time::timeout_at(deadline, request.send_body(body)).await {
                Err(_) | Ok(Err(SendRequestError::Timeout)) => {
                    Err(UpstreamError::Timeout(upstream.timeout()))
                }
                Ok(Err(error)) => Err(send_error(upstream, error)),
                Ok(Ok(response)) => Ok(response),
            }
        }
    };
    let mut response = send(body.clone()).await?;
    // A rejected OAuth token: the backend's token loop gets a new one, then this request is
    // sent once more (static credentials cannot change, so they are not retried). The refusal
    // is read meanwhile, so that the repeat can reuse its connection.
    if response.status() == StatusCode::UNAUTHORIZED {
        crate::http_reuse::drain_in_background(response);
        let bound = deadline.saturating_duration_since(Instant::now());
        if !upstream
            .inner
            .credential
            .refresh_after_rejection(bound)
            .await
        {
            return Err(refused(upstream, StatusCode::UNAUTHORIZED));
        }
        response = send(body).await?;
    }
    let status = response.status();
    let has_session = session.is_some_and(|s| s.session_header.is_some());
    if status.is_success() {
        return Ok(response);
    }
    // An error's body is not read, only the connection kept.
    crate::http_reuse::drain_in_background(response);
    if status == StatusCode::NOT_FOUND && has_session {
        return Err(UpstreamError::SessionExpired);
    }
    Err(refused(upstream, status))
}

/// The error for a backend's answer with an unsuccessful HTTP status.
fn refused(upstream: &Upstream, status: StatusCode) -> UpstreamError {
    match status.as_u16() {
        401 | 403 => upstream.unavailable(format!(
            "it rejected the gateway's credential (HTTP {})",
            status.as_u16()
        )),
        code @ 500.. => upstream.unavailable(format!("it answered HTTP {code}")),
        code => upstream.protocol(format!("it answered HTTP {code}")),
    }
}

/// The answer to a request: a JSON body or an event stream.
async fn read_reply<S>(
    upstream: &Upstream,
    response: awc::ClientResponse<S>,
    request_id: Box<RawValue>,
    deadline: Instant,
) -> Result<UpstreamReply, UpstreamError>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin + 'static,
{
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("text/event-stream") {
        return Ok(UpstreamReply::Stream(sse::messages(
            response,
            request_id,
            deadline,
            upstream.timeout(),
            upstream.name().to_owned(),
        )));
    }
    if !content_type.starts_with("application/json") {
        return Err(upstream.protocol(format!(
            "it answered a request with content type `{}`",
            content_type.chars().take(60).collect::<String>()
        )));
    }
    let mut response = response;
    match tokio::time::timeout_at(deadline, response.body().limit(MAX_BODY)).await {
        Err(_) => Err(UpstreamError::Timeout(upstream.timeout())),
        Ok(Err(error)) => Err(upstream.unavailable(format!("its answer broke off ({error})"))),
        Ok(Ok(body)) => Ok(UpstreamReply::Json(body)),
    }
}

/// Drains a reply down to its final message (the response).
async fn last_message(upstream: &Upstream, reply: UpstreamReply) -> Result<Bytes, UpstreamError> {
    match reply {
        UpstreamReply::Json(bytes) => Ok(bytes),
        UpstreamReply::Stream(mut stream) => {
            let mut last = None;
            while let Some(item) = stream.next().await {
                last = Some(item?);
            }
            last.ok_or_else(|| upstream.protocol("it sent an empty event stream"))
        }
    }
}

/// The version the backend chose at `initialize`, if we speak it.
pub(super) fn negotiated_version(
    upstream: &Upstream,
    answer: &[u8],
) -> Result<String, UpstreamError> {
    #[derive(Deserialize)]
    struct Initialized {
        #[serde(rename = "protocolVersion")]
        protocol_version: String,
    }
    #[derive(Deserialize)]
    struct RpcError {
        #[serde(default)]
        message: String,
    }
    let envelope = Envelope::parse(answer).map_err(|e| upstream.protocol(e))?;
    if let Some(error) = envelope.error {
        let mut message = serde_json::from_str::<RpcError>(error.get())
            .map(|e| e.message)
            .unwrap_or_default();
        message.truncate(200);
        return Err(upstream.unavailable(format!("it refused initialize: {message}")));
    }
    let result = envelope
        .result
        .ok_or_else(|| upstream.protocol("its initialize answer has no result"))?;
    let initialized: Initialized = serde_json::from_str(result.get())
        .map_err(|_| upstream.protocol("its initialize result has no protocolVersion"))?;
    if !SUPPORTED_PROTOCOL_VERSIONS.contains(&initialized.protocol_version.as_str()) {
        let mut version = initialized.protocol_version;
        version.truncate(40);
        return Err(upstream.unavailable(format!(
            "it offered protocol version `{version}`, which the gateway does not support"
        )));
    }
    Ok(initialized.protocol_version)
}

fn send_error(upstream: &Upstream, error: SendRequestError) -> UpstreamError {
    let cause = match error {
        SendRequestError::Connect(ConnectError::SslIsNotSupported) => {
            "https backends need TLS support, which this build lacks".to_owned()
        }
        SendRequestError::Connect(ConnectError::Io(io)) | SendRequestError::Send(io) => {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
                std::io::ErrorKind::ConnectionReset => "connection reset".to_owned(),
                _ => format!("connection failed ({})", io.kind()),
            }
        }
        SendRequestError::Connect(ConnectError::Resolver(_) | ConnectError::NoRecords) => {
            "the host name could not be resolved".to_owned()
        }
        SendRequestError::Connect(ConnectError::Timeout) => "the connection timed out".to_owned(),
        SendRequestError::Connect(other) => format!("could not connect ({other})"),
        other => format!("the request failed ({other})"),
    };
    upstream.unavailable(cause)
}
