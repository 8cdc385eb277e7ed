//! A backend's `text/event-stream` answer as a stream of JSON-RPC messages.
//!
//! Parsed incrementally as chunks arrive (never buffered whole): each event's `data` is one
//! message and is yielded at once; priming events (empty data) are skipped. The stream ends
//! after the response whose id is the request's, at the deadline (with a `Timeout` item), or
//! with a `Protocol` item if the backend closes the stream before answering.
//! After the response the rest of the body (the backend ending its stream) is read on a task of
//! its own, so that the connection can be reused ([`crate::http_reuse`]).

use std::collections::VecDeque;

use awc::error::PayloadError;
use bytes::Bytes;
use futures_util::stream::{LocalBoxStream, Stream, StreamExt};
use serde_json::value::RawValue;
use tokio::time::Instant;

use super::UpstreamError;
use super::envelope::{Envelope, same_id};
use crate::backend::SseParser;

struct State<S> {
    /// `None` once the response arrived: the rest of the body is being drained.
    body: Option<S>,
    parser: SseParser,
    ready: VecDeque<Bytes>,
    request_id: Box<RawValue>,
    deadline: Instant,
    timeout: std::time::Duration,
    backend: String,
    finished: bool,
}

/// Turns a response body into one item per message, ending after the response to `request_id`.
pub(super) fn messages<S>(
    body: S,
    request_id: Box<RawValue>,
    deadline: Instant,
    timeout: std::time::Duration,
    backend: String,
) -> LocalBoxStream<'static, Result<Bytes, UpstreamError>>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin + 'static,
{
    let state = State {
        body: Some(body),
        parser: SseParser::default(),
        ready: VecDeque::new(),
        request_id,
        deadline,
        timeout,
        backend,
        finished: false,
    };
    futures_util::stream::unfold(state, next).boxed_local()
}

async fn next<S>(mut state: State<S>) -> Option<(Result<Bytes, UpstreamError>, State<S>)>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin + 'static,
{
    loop {
        if state.finished {
            return None;
        }
        if let Some(message) = state.ready.pop_front() {
            if is_response_to(&message, &state.request_id) {
                state.finished = true;
                if let Some(body) = state.body.take() {
                    crate::http_reuse::drain_in_background(body);
                }
            }
            return Some((Ok(message), state));
        }
        let body = state.body.as_mut()?;
        let chunk = match tokio::time::timeout_at(state.deadline, body.next()).await {
            Err(_) => {
                state.finished = true;
                return Some((Err(UpstreamError::Timeout(state.timeout)), state));
            }
            Ok(None) => {
                state.finished = true;
                let error = UpstreamError::Protocol(format!(
                    "backend `{}`: the event stream ended before the response",
                    state.backend
                ));
                return Some((Err(error), state));
            }
            Ok(Some(Err(error))) => {
                state.finished = true;
                let error = UpstreamError::Unavailable(format!(
                    "backend `{}`: the event stream broke ({error})",
                    state.backend
                ));
                return Some((Err(error), state));
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        let events = match state.parser.feed(&chunk) {
            Ok(events) => events,
            Err(too_large) => {
                let error =
                    UpstreamError::Protocol(format!("backend `{}`: {too_large}", state.backend));
                return Some((Err(error), state));
            }
        };
        for event in events {
            if (event.event.is_empty() || event.event == "message") && !event.data.is_empty() {
                state.ready.push_back(Bytes::from(event.data));
            }
        }
    }
}

fn is_response_to(message: &[u8], request_id: &RawValue) -> bool {
    Envelope::parse(message)
        .ok()
        .filter(Envelope::is_response)
        .and_then(|e| e.id)
        .is_some_and(|id| same_id(id, request_id))
}
