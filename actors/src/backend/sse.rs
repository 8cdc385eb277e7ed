//! The backend actor's own session over the legacy HTTP+SSE transport.
//!
//! Connects lazily on the first request (the handshake's `initialize`), so `Transport::open`
//! stays synchronous like the Streamable HTTP one. Everything the backend says outside an answer
//! is handled as on the Streamable HTTP session: its requests (ping, roots/list) are answered,
//! `list_changed` wakes the capability refresh. The stream ending is the session ending:
//! [`SseTransport::closed`] resolves and the driver reconnects with its backoff.

use std::cell::{Cell, OnceCell};
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::value::RawValue;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::Credential;
use super::error::BackendError;
use super::jsonrpc::{Response, encode, on_backend_message};
use super::legacy_sse::routing::{Delivery, RegisterError};
use super::legacy_sse::{SseLink, SseTarget, Unclaimed};
use crate::spec::BackendSpec;

pub(crate) struct SseTransport {
    client: awc::Client,
    url: url::Url,
    timeout: Duration,
    credential: Credential,
    link: OnceCell<SseLink>,
    /// Wakes `closed` once the link exists.
    connected: Notify,
    next_id: Cell<u64>,
    lists_changed: Rc<Notify>,
    log: slog::Logger,
}

impl SseTransport {
    pub fn new(
        url: url::Url,
        spec: &BackendSpec,
        credential: Credential,
        log: slog::Logger,
        lists_changed: Rc<Notify>,
    ) -> Self {
        let client = awc::Client::builder()
            // Redirects could lead the credential to another host.
            .disable_redirects()
            .disable_timeout()
            .add_default_header((
                "User-Agent",
                concat!("authmcp-gateway/", env!("CARGO_PKG_VERSION")),
            ))
            .finish();
        SseTransport {
            client,
            url,
            timeout: spec.timeout,
            credential,
            link: OnceCell::new(),
            connected: Notify::new(),
            next_id: Cell::new(1),
            lists_changed,
            log,
        }
    }

    async fn link(&self) -> Result<&SseLink, BackendError> {
        if let Some(link) = self.link.get() {
            return Ok(link);
        }
        let (lists_changed, log) = (self.lists_changed.clone(), self.log.clone());
        let unclaimed: Unclaimed =
            Box::new(move |message| on_backend_message(message, &lists_changed, &log));
        let target = SseTarget {
            url: &self.url,
            credential: self.credential.clone(),
            timeout: self.timeout,
            log: self.log.clone(),
        };
        let link = SseLink::connect(&self.client, target, unclaimed).await?;
        let link = self.link.get_or_init(|| link);
        self.connected.notify_waiters();
        Ok(link)
    }

    /// Sends a request and waits for its response on the stream, within the spec's timeout.
    pub async fn request(
        &self,
        method: &str,
        params: Option<&RawValue>,
    ) -> Result<Response, BackendError> {
        let deadline = Instant::now() + self.timeout;
        let link = self.link().await?;
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let raw_id = RawValue::from_string(id.to_string()).expect("a number is valid JSON");
        let mut pending = link.register(&raw_id, None).map_err(|e| match e {
            RegisterError::Closed => link.end_reason(),
            RegisterError::DuplicateId => BackendError::Protocol("a request id was reused".into()),
        })?;
        let body = Bytes::from(encode(Some(id), method, params));
        link.post(&self.client, body, deadline).await?;
        loop {
            match tokio::time::timeout_at(deadline, pending.deliveries.recv()).await {
                Err(_) => return Err(BackendError::Timeout(self.timeout)),
                Ok(None) => return Err(link.end_reason()),
                Ok(Some(Delivery::Response(bytes))) => {
                    let raw = serde_json::from_slice::<Box<RawValue>>(&bytes).map_err(|_| {
                        BackendError::Protocol("a response is not valid JSON".into())
                    })?;
                    return Ok(Response(raw));
                }
                Ok(Some(Delivery::Message(message))) => {
                    if let Some(answer) =
                        on_backend_message(&message, &self.lists_changed, &self.log)
                        && let Err(error) = link.post(&self.client, answer.into(), deadline).await
                    {
                        slog::debug!(self.log, "Could not answer a backend request.";
                            "error" => %error);
                    }
                }
            }
        }
    }

    pub async fn notify(&self, method: &str) -> Result<(), BackendError> {
        let deadline = Instant::now() + self.timeout;
        let link = self.link().await?;
        link.post(
            &self.client,
            Bytes::from(encode(None, method, None)),
            deadline,
        )
        .await
    }

    /// Resolves when the event stream has ended (never before it was opened).
    pub async fn closed(&self) -> BackendError {
        loop {
            let connected = self.connected.notified();
            if let Some(link) = self.link.get() {
                return link.ended().await;
            }
            connected.await;
        }
    }

    /// Drops the event stream, which ends the session on the backend's side.
    pub fn close(&self) {
        if let Some(link) = self.link.get() {
            link.close();
        }
    }
}
