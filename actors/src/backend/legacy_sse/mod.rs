//! The legacy HTTP+SSE transport (protocol 2024-11-05), client side, shared by the backend
//! actor's own session ([`super::sse::SseTransport`]) and the request path's per-client
//! sessions (`crate::upstream`).
//!
//! ```text
//! GET  <sse url>   Accept: text/event-stream  ──► event: endpoint  (where to POST)
//!                                              ──► event: message  (every message, both ways' answers)
//! POST <endpoint>  one JSON-RPC message       ──► 202; the answer comes on the stream
//! ```
//! [`SseLink::connect`] opens the stream, waits (within the spec's timeout) for the `endpoint`
//! event, and spawns a reader on the caller's local task set (awc is `!Send`). The reader
//! routes each message to the request waiting for it ([`routing`]); the handle itself is
//! `Send + Sync`, so any thread may POST with its own awc client. When the stream ends, every
//! waiting request is released and [`SseLink::ended`] resolves; dropping the handle (or
//! [`SseLink::close`]) aborts the reader, which drops the GET stream — the backend's signal
//! that the session is over.

mod endpoint;
pub(crate) mod routing;

use std::sync::Arc;
use std::time::Duration;

use super::Credential;
use awc::error::SendRequestError;
use awc::http::StatusCode;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde_json::value::RawValue;
use tokio::sync::watch;
use tokio::time::Instant;

use self::routing::{Pending, RegisterError, Routes};
use super::error::BackendError;
use super::http::{is_message, send_error};
use super::jsonrpc::{SseEvent, SseParser};

/// Decides what to do with a message no request in flight claims; returns an answer to POST
/// back (a response to the backend's own request) or `None`. Runs on the reader's thread.
pub(crate) type Unclaimed = Box<dyn FnMut(&[u8]) -> Option<Vec<u8>>>;

/// Where and how to connect.
pub(crate) struct SseTarget<'a> {
    pub url: &'a url::Url,
    /// The spec's credential (never a client's), read afresh for every request.
    pub credential: Credential,
    pub timeout: Duration,
    pub log: slog::Logger,
}

/// One open legacy SSE session with a backend.
pub(crate) struct SseLink {
    post: Poster,
    routes: Arc<Routes>,
    ended: watch::Receiver<Option<BackendError>>,
    reader: tokio::task::AbortHandle,
}

impl std::fmt::Debug for SseLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseLink")
            .field("endpoint_path", &self.post.endpoint.path())
            .finish_non_exhaustive()
    }
}

impl Drop for SseLink {
    fn drop(&mut self) {
        self.close();
    }
}

impl SseLink {
    /// GETs the stream and waits for its `endpoint` event, all within the target's timeout.
    /// Must run inside a local task set (the reader is spawned with `spawn_local`).
    pub async fn connect(
        client: &awc::Client,
        target: SseTarget<'_>,
        unclaimed: Unclaimed,
    ) -> Result<SseLink, BackendError> {
        let deadline = Instant::now() + target.timeout;
        let request = client
            .get(target.url.as_str())
            .insert_header(("Accept", "text/event-stream"))
            .insert_header(("Cache-Control", "no-cache"))
            // Bounds the connection and the response head only; the stream is long-lived.
            .timeout(target.timeout);
        let request = target
            .credential
            .apply(request)
            .map_err(BackendError::Connect)?;
        let mut response = match tokio::time::timeout_at(deadline, request.send()).await {
            Err(_) | Ok(Err(SendRequestError::Timeout)) => {
                return Err(BackendError::Timeout(target.timeout));
            }
            Ok(Err(error)) => return Err(send_error(error)),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if !status.is_success() {
            return Err(BackendError::HttpStatus(status.as_u16()));
        }
        let content_type = response
            .headers()
            .get("Content-Type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if !content_type.starts_with("text/event-stream") {
            return Err(BackendError::Protocol(format!(
                "its SSE URL answered `{}` instead of an event stream (is it a Streamable \
                 HTTP endpoint? then drop `transport = \"sse\"`)",
                content_type.chars().take(60).collect::<String>()
            )));
        }
        let mut parser = SseParser::default();
        let (endpoint, first) = endpoint::wait_for_endpoint(
            &mut response,
            &mut parser,
            target.url,
            deadline,
            target.timeout,
        )
        .await?;
        let post = Poster {
            endpoint,
            credential: target.credential,
            timeout: target.timeout,
        };
        let routes = Arc::new(Routes::default());
        let (ended_tx, ended) = watch::channel(None);
        let reader = Reader {
            body: response,
            parser,
            routes: routes.clone(),
            unclaimed,
            client: client.clone(),
            post: post.clone(),
            ended: ended_tx,
            log: target.log,
        };
        let reader = tokio::task::spawn_local(reader.run(first)).abort_handle();
        Ok(SseLink {
            post,
            routes,
            ended,
            reader,
        })
    }

    /// The URL messages are POSTed to (same origin as the SSE URL).
    pub fn endpoint(&self) -> &url::Url {
        &self.post.endpoint
    }

    /// Registers a request before it is sent; its answer (and what comes before it) arrives on
    /// the returned [`Pending`].
    pub fn register(
        &self,
        id: &RawValue,
        progress: Option<&RawValue>,
    ) -> Result<Pending, RegisterError> {
        self.routes.register(id, progress)
    }

    /// POSTs one message to the endpoint (202 expected), on the caller's client.
    pub async fn post(
        &self,
        client: &awc::Client,
        body: Bytes,
        deadline: Instant,
    ) -> Result<(), BackendError> {
        self.post.send(client, body, deadline).await
    }

    /// Resolves when the stream has ended, with why.
    pub async fn ended(&self) -> BackendError {
        let mut ended = self.ended.clone();
        match ended.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or(BackendError::Closed),
            Err(_) => BackendError::Closed,
        }
    }

    /// Why the stream ended (after a [`Pending`]'s channel closed).
    pub fn end_reason(&self) -> BackendError {
        self.ended.borrow().clone().unwrap_or(BackendError::Closed)
    }

    /// Drops the GET stream (the backend ends the session) and releases every waiter.
    pub fn close(&self) {
        self.reader.abort();
        self.routes.close_all();
    }
}

/// What POSTing needs besides a client: cheap to clone into the reader.
#[derive(Clone)]
struct Poster {
    endpoint: url::Url,
    credential: Credential,
    timeout: Duration,
}

impl Poster {
    async fn send(
        &self,
        client: &awc::Client,
        body: Bytes,
        deadline: Instant,
    ) -> Result<(), BackendError> {
        let request = client
            .post(self.endpoint.as_str())
            .content_type("application/json")
            .timeout(self.timeout);
        let request = self
            .credential
            .apply(request)
            .map_err(BackendError::Connect)?;
        let response = match tokio::time::timeout_at(deadline, request.send_body(body)).await {
            Err(_) | Ok(Err(SendRequestError::Timeout)) => {
                return Err(BackendError::Timeout(self.timeout));
            }
            Ok(Err(error)) => return Err(send_error(error)),
            Ok(Ok(response)) => response,
        };
        match response.status() {
            status if status.is_success() => Ok(()),
            // The backend no longer knows this session id.
            StatusCode::NOT_FOUND => Err(BackendError::SessionExpired),
            status => Err(BackendError::HttpStatus(status.as_u16())),
        }
    }
}

/// The task that owns the GET stream.
struct Reader<S> {
    body: S,
    parser: SseParser,
    routes: Arc<Routes>,
    unclaimed: Unclaimed,
    client: awc::Client,
    post: Poster,
    ended: watch::Sender<Option<BackendError>>,
    log: slog::Logger,
}

impl<S, E> Reader<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    async fn run(mut self, first: Vec<SseEvent>) {
        for event in first {
            self.dispatch(event);
        }
        let why = loop {
            match self.body.next().await {
                None => break "the event stream ended".to_owned(),
                Some(Err(error)) => break format!("the event stream broke ({error})"),
                Some(Ok(chunk)) => match self.parser.feed(&chunk) {
                    Ok(events) => events.into_iter().for_each(|event| self.dispatch(event)),
                    Err(too_large) => break format!("the event stream was cut: {too_large}"),
                },
            }
        };
        slog::debug!(self.log, "The backend's event stream ended."; "reason" => why);
        // The reason first: a waiter released by `close_all` reads it.
        self.ended.send_replace(Some(BackendError::Closed));
        self.routes.close_all();
    }

    fn dispatch(&mut self, event: SseEvent) {
        if event.event == "endpoint" {
            slog::debug!(self.log, "Ignored a repeated `endpoint` event.");
            return;
        }
        if !is_message(&event) {
            return;
        }
        let Some(message) = self.routes.route(Bytes::from(event.data)) else {
            return;
        };
        let Some(answer) = (self.unclaimed)(&message) else {
            return;
        };
        let (client, post, log) = (self.client.clone(), self.post.clone(), self.log.clone());
        tokio::task::spawn_local(async move {
            let deadline = Instant::now() + post.timeout;
            if let Err(error) = post.send(&client, Bytes::from(answer), deadline).await {
                slog::debug!(log, "Could not answer a backend request."; "error" => %error);
            }
        });
    }
}
