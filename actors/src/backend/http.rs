//! MCP Streamable HTTP client side, on awc (so it lives on the backend actors' local thread).
//!
//! Each request is one POST; the answer is either `application/json` or a `text/event-stream`
//! whose events may include notifications before the response we wait for. The session id the
//! backend assigns at `initialize` is echoed on every later request, as is the negotiated
//! `MCP-Protocol-Version`, and the spec's credential. A 404 while holding a session means the
//! backend forgot it: the caller re-initialises. The backend's own requests (ping, roots/list)
//! are answered; `list_changed` notifications — on a POST's stream or on the session's GET
//! stream ([`HttpTransport::listen`]) — wake the capability refresh.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use awc::error::{ConnectError, SendRequestError};
use awc::http::StatusCode;
use futures_util::StreamExt;
use serde_json::value::RawValue;
use tokio::sync::Notify;

use super::Credential;
use super::error::BackendError;
use super::jsonrpc::{Envelope, Response, SseEvent, SseParser, on_backend_message};
use crate::spec::BackendSpec;

use crate::mcp::headers::{PROTOCOL_VERSION as VERSION_HEADER, SESSION_ID as SESSION_HEADER};
/// Upper bound for one JSON answer (tool lists of big servers stay far below this).
const MAX_BODY: usize = 16 * 1024 * 1024;

pub(crate) struct HttpTransport {
    client: awc::Client,
    url: url::Url,
    timeout: Duration,
    session_id: RefCell<Option<String>>,
    protocol_version: RefCell<Option<String>>,
    credential: Credential,
    lists_changed: Rc<Notify>,
    log: slog::Logger,
}

/// Why [`HttpTransport::listen`] stopped.
#[derive(Debug)]
pub(crate) enum ListenEnd {
    /// The server offers no GET stream (405): rely on the TTL.
    Unsupported,
    /// The stream ended or broke; worth opening again later.
    Ended(String),
}

impl HttpTransport {
    pub fn new(
        url: url::Url,
        spec: &BackendSpec,
        credential: Credential,
        log: slog::Logger,
        lists_changed: Rc<Notify>,
    ) -> Self {
        let timeout = spec.timeout;
        let client = awc::Client::builder()
            .timeout(timeout)
            .disable_redirects()
            .add_default_header((
                "User-Agent",
                concat!("authmcp-gateway/", env!("CARGO_PKG_VERSION")),
            ))
            .finish();
        HttpTransport {
            client,
            url,
            timeout,
            session_id: RefCell::new(None),
            protocol_version: RefCell::new(None),
            credential,
            lists_changed,
            log,
        }
    }

    /// The headers every request of this session carries (never anything from a client).
    fn prepare(
        &self,
        mut request: awc::ClientRequest,
    ) -> Result<(awc::ClientRequest, Option<String>), BackendError> {
        let session = self.session_id.borrow().clone();
        if let Some(session) = &session {
            request = request.insert_header((SESSION_HEADER, session.as_str()));
        }
        if let Some(version) = self.protocol_version.borrow().as_deref() {
            request = request.insert_header((VERSION_HEADER, version));
        }
        let request = self
            .credential
            .apply(request)
            .map_err(BackendError::Connect)?;
        Ok((request, session))
    }

    /// Sends the negotiated version on every later request (required from 2025-06-18 on).
    pub fn set_protocol_version(&self, version: &str) {
        *self.protocol_version.borrow_mut() = Some(version.to_owned());
    }

    /// POSTs one message. For a request (`expect_id`) returns the matching response.
    pub async fn post(
        &self,
        body: Vec<u8>,
        expect_id: Option<u64>,
    ) -> Result<Option<Response>, BackendError> {
        match tokio::time::timeout(self.timeout, self.post_unbounded(body, expect_id)).await {
            Ok(result) => result,
            Err(_) => Err(BackendError::Timeout(self.timeout)),
        }
    }

    async fn post_unbounded(
        &self,
        body: Vec<u8>,
        expect_id: Option<u64>,
    ) -> Result<Option<Response>, BackendError> {
        let (request, had_session) = self.prepare(
            self.client
                .post(self.url.as_str())
                .insert_header(("Accept", "application/json, text/event-stream"))
                .content_type("application/json"),
        )?;
        let mut response = request.send_body(body).await.map_err(send_error)?;
        let status = response.status();
        if !status.is_success() {
            // Only the status matters; the body is read so that the connection can be reused.
            crate::http_reuse::drain_in_background(response);
            if status == StatusCode::NOT_FOUND && had_session.is_some() {
                return Err(BackendError::SessionExpired);
            }
            if status == StatusCode::UNAUTHORIZED {
                // An OAuth token the backend no longer accepts: the token loop gets a new one.
                self.credential.request_refresh();
            }
            return Err(BackendError::HttpStatus(status.as_u16()));
        }
        if let Some(session) = response
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
        {
            *self.session_id.borrow_mut() = Some(session.to_owned());
        }
        let Some(expect_id) = expect_id else {
            return Ok(None);
        };
        let content_type = response
            .headers()
            .get("Content-Type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if content_type.starts_with("text/event-stream") {
            let found = self.read_sse(&mut response, expect_id).await?;
            crate::http_reuse::drain_in_background(response);
            return Ok(Some(found));
        }
        if !content_type.starts_with("application/json") {
            return Err(BackendError::Protocol(format!(
                "unexpected content type `{}`",
                content_type.chars().take(60).collect::<String>()
            )));
        }
        let bytes = response
            .body()
            .limit(MAX_BODY)
            .await
            .map_err(|e| BackendError::Protocol(format!("could not read the body: {e}")))?;
        find_response(&bytes, expect_id).map(Some).ok_or_else(|| {
            BackendError::Protocol("the answer holds no response to our request".into())
        })
    }

    async fn read_sse<S>(
        &self,
        response: &mut awc::ClientResponse<S>,
        expect_id: u64,
    ) -> Result<Response, BackendError>
    where
        S: futures_util::Stream<Item = Result<bytes::Bytes, awc::error::PayloadError>> + Unpin,
    {
        let mut parser = SseParser::default();
        while let Some(chunk) = response.next().await {
            let chunk = chunk
                .map_err(|e| BackendError::Protocol(format!("the event stream broke: {e}")))?;
            let events = parser
                .feed(&chunk)
                .map_err(|e| BackendError::Protocol(e.to_string()))?;
            for event in events {
                if !is_message(&event) {
                    continue;
                }
                if let Some(found) = find_response(event.data.as_bytes(), expect_id) {
                    return Ok(found);
                }
                self.handle_backend_message(event.data.as_bytes()).await;
            }
        }
        Err(BackendError::Protocol(
            "the event stream ended before the response arrived".into(),
        ))
    }

    /// A message the backend sent on its own: answer its requests, note list changes.
    async fn handle_backend_message(&self, data: &[u8]) {
        if let Some(answer) = on_backend_message(data, &self.lists_changed, &self.log)
            && let Err(error) = self.send_reply(answer).await
        {
            slog::debug!(self.log, "Could not answer a backend request."; "error" => %error);
        }
    }

    /// POSTs our answer to a backend request (no stream to read: the answer is 202).
    async fn send_reply(&self, body: Vec<u8>) -> Result<(), BackendError> {
        let (request, _) = self.prepare(
            self.client
                .post(self.url.as_str())
                .insert_header(("Accept", "application/json, text/event-stream"))
                .content_type("application/json"),
        )?;
        let response = tokio::time::timeout(self.timeout, request.send_body(body))
            .await
            .map_err(|_| BackendError::Timeout(self.timeout))?
            .map_err(send_error)?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(BackendError::HttpStatus(response.status().as_u16()))
        }
    }

    /// Opens the session's GET event stream and handles what arrives until it ends.
    pub async fn listen(&self) -> ListenEnd {
        if self.session_id.borrow().is_none() {
            // Without a session the backend has nowhere to send us anything.
            return ListenEnd::Unsupported;
        }
        let request = self.prepare(
            self.client
                .get(self.url.as_str())
                .insert_header(("Accept", "text/event-stream"))
                // The stream is long-lived: only the connection attempt is bounded.
                .timeout(self.timeout),
        );
        let request = match request {
            Ok((request, _)) => request,
            Err(error) => return ListenEnd::Ended(error.to_string()),
        };
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(error) => return ListenEnd::Ended(send_error(error).to_string()),
        };
        let status = response.status();
        if !status.is_success() {
            crate::http_reuse::drain_in_background(response);
            if status == StatusCode::METHOD_NOT_ALLOWED {
                return ListenEnd::Unsupported;
            }
            return ListenEnd::Ended(BackendError::HttpStatus(status.as_u16()).to_string());
        }
        let mut parser = SseParser::default();
        while let Some(chunk) = response.next().await {
            let Ok(chunk) = chunk else {
                return ListenEnd::Ended("the event stream broke".into());
            };
            let Ok(events) = parser.feed(&chunk) else {
                return ListenEnd::Ended("an event was too large".into());
            };
            for event in events {
                if is_message(&event) {
                    self.handle_backend_message(event.data.as_bytes()).await;
                }
            }
        }
        ListenEnd::Ended("the event stream ended".into())
    }

    /// Ends the backend session (best effort: servers may answer 405).
    pub async fn close(&self) {
        let Some(session) = self.session_id.borrow_mut().take() else {
            return;
        };
        let bound = self.timeout.min(Duration::from_secs(2));
        let request = self
            .client
            .delete(self.url.as_str())
            .insert_header((SESSION_HEADER, session.as_str()))
            .timeout(bound);
        // Best effort: without a usable credential the backend would refuse the DELETE anyway.
        if let Ok(request) = self.credential.apply(request) {
            let _ = tokio::time::timeout(bound, request.send()).await;
        }
    }
}

/// Whether an SSE event carries a JSON-RPC message (priming events have empty data).
pub(super) fn is_message(event: &SseEvent) -> bool {
    (event.event.is_empty() || event.event == "message") && !event.data.is_empty()
}

/// Finds the response to `expect_id` in a body holding one message or a (2025-03-26) batch.
fn find_response(bytes: &[u8], expect_id: u64) -> Option<Response> {
    let matches = |raw: &RawValue| {
        serde_json::from_str::<Envelope<'_>>(raw.get())
            .ok()
            .and_then(|e| e.response_id())
            == Some(expect_id)
    };
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        let batch: Vec<Box<RawValue>> = serde_json::from_slice(bytes).ok()?;
        return batch.into_iter().find(|m| matches(m)).map(Response);
    }
    let message: Box<RawValue> = serde_json::from_slice(bytes).ok()?;
    matches(&message).then_some(Response(message))
}

pub(super) fn send_error(error: SendRequestError) -> BackendError {
    match error {
        SendRequestError::Connect(ConnectError::SslIsNotSupported) => BackendError::TlsUnsupported,
        SendRequestError::Connect(ConnectError::Io(io)) => BackendError::Connect(describe_io(&io)),
        SendRequestError::Connect(ConnectError::Resolver(_) | ConnectError::NoRecords) => {
            BackendError::Connect("the host name could not be resolved".into())
        }
        SendRequestError::Connect(ConnectError::Timeout) | SendRequestError::Timeout => {
            BackendError::Connect("the connection timed out".into())
        }
        SendRequestError::Connect(other) => BackendError::Connect(other.to_string()),
        SendRequestError::Send(io) => BackendError::Connect(describe_io(&io)),
        other => BackendError::Protocol(other.to_string()),
    }
}

fn describe_io(error: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::ConnectionRefused => "connection refused".into(),
        ErrorKind::ConnectionReset => "connection reset".into(),
        ErrorKind::ConnectionAborted => "connection aborted".into(),
        ErrorKind::TimedOut => "the connection timed out".into(),
        ErrorKind::HostUnreachable => "host unreachable".into(),
        ErrorKind::NetworkUnreachable => "network unreachable".into(),
        _ => error.to_string(),
    }
}
