//! A POST answered with `text/event-stream` (legacy era), served so that it can be resumed.
//!
//! ```text
//! backend answer (relayed: progress, the backend's requests, then the response)
//!   └── pump (local task on this worker; keeps the session busy until the answer ends)
//!         └── the session's answer stream `p<k>` (numbered, replay buffer, bounded queue)
//!               └── its listener: this POST's response, or later a
//!                   `GET` with `Last-Event-ID: p<k>-<n>` (listen.rs) that takes over
//! ```
//! A client dropping the POST is not a cancellation (spec, legacy era): the pump reads the
//! backend's answer to its end whoever listens. The listener gets a priming event first
//! (2025-11-25 clients; older ones may choke on empty data), then the events, and the stream
//! ends after the response. Any other end — the reader fell `mcp.max_queued_events` behind,
//! another connection resumed the stream, the gateway drains — is announced with `retry:`, so
//! the client reconnects with its last id and loses nothing still buffered.

use std::sync::Arc;

use actix_web::HttpResponse;
use actix_web::web::Bytes;
use actors::session::{AttachError, Attached, Event, EventStream, InFlight, Pushed};
use actors::upstream::UpstreamSession;
use futures_util::StreamExt;
use futures_util::stream::LocalBoxStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::post::Session;
use super::reply;
use crate::state::AppState;

/// Serves a streamed answer on the session's next answer stream.
pub(crate) fn serve(
    state: &AppState,
    session: &Session,
    messages: LocalBoxStream<'static, Bytes>,
    busy: InFlight<UpstreamSession>,
) -> HttpResponse {
    let opened = session.post_streams.open();
    let pump = Pump {
        stream: opened.stream.clone(),
        busy,
        user_id: session.user_id,
        log: state.log.clone(),
    };
    actix_web::rt::spawn(pump.run(messages));
    let priming =
        primes(session.protocol_version).then(|| reply::priming(&opened.attached.position));
    let listener = Listener {
        session: session.clone(),
        number: opened.number,
        stream: opened.stream,
        seen: 0,
    };
    respond(listener, priming, opened.attached, state)
}

/// `GET` with `Last-Event-ID: p<k>-<n>`: the rest of that answer stream, then its end.
pub(crate) fn resume(
    state: &AppState,
    session: &Session,
    last_event_id: &str,
) -> Result<HttpResponse, AttachError> {
    let (stream, attached) = session.post_streams.resume(last_event_id)?;
    let (name, seen) = actors::session::parse_event_id(last_event_id)
        .ok_or_else(|| AttachError::UnknownEventId(last_event_id.to_string()))?;
    let number = name
        .strip_prefix('p')
        .and_then(|k| k.parse().ok())
        .ok_or_else(|| AttachError::UnknownEventId(last_event_id.to_string()))?;
    // Primed with the id it resumes from: losing this connection early resumes from there again.
    let priming = primes(session.protocol_version).then(|| reply::priming(last_event_id));
    let listener = Listener {
        session: session.clone(),
        number,
        stream,
        seen,
    };
    Ok(respond(listener, priming, attached, state))
}

/// Whether the client's revision expects a priming event (2025-11-25 and later legacy ones).
pub(crate) fn primes(protocol_version: &str) -> bool {
    protocol_version >= "2025-11-25"
}

/// Reads a backend's answer to its end into the answer stream, listened to or not.
struct Pump {
    stream: Arc<EventStream>,
    /// The session stays busy (never evicted or reaped) until the answer is all in.
    busy: InFlight<UpstreamSession>,
    user_id: i64,
    log: slog::Logger,
}

impl Pump {
    async fn run(self, mut messages: LocalBoxStream<'static, Bytes>) {
        while let Some(message) = messages.next().await {
            if self.stream.push(message) == Pushed::ListenerDropped {
                slog::warn!(self.log, "A client's answer stream fell too far behind; it was closed (the client may resume it).";
                    "user_id" => self.user_id, "stream" => self.stream.name(), "queue" => self.stream.limits().queue);
            }
        }
        self.stream.end();
        drop(self.busy);
    }
}

/// One connection listening to an answer stream.
struct Listener {
    session: Session,
    number: u64,
    stream: Arc<EventStream>,
    /// The number of the last event this connection was given.
    seen: u64,
}

enum Next {
    Event(Event),
    /// The channel ended: the answer is complete, or this listener was cut off or replaced.
    Ended,
    Draining,
}

fn respond(
    mut listener: Listener,
    priming: Option<Bytes>,
    attached: Attached,
    state: &AppState,
) -> HttpResponse {
    let Attached { replay, live, .. } = attached;
    let closing = state.mcp.closing.subscribe();
    let replay = futures_util::stream::iter(replay);
    let events = futures_util::stream::unfold(Some((live, closing)), |state| async move {
        let (mut live, mut closing): (mpsc::Receiver<Event>, _) = state?;
        let next = tokio::select! {
            event = live.recv() => event.map_or(Next::Ended, Next::Event),
            () = drain_deadline(&mut closing) => Next::Draining,
        };
        let state = matches!(next, Next::Event(_)).then_some((live, closing));
        Some((next, state))
    });
    let body = replay
        .map(Next::Event)
        .chain(events)
        .filter_map(move |next| {
            let chunk = match next {
                Next::Event(event) => {
                    listener.seen = event.number;
                    Some(reply::event(&event.id, &event.message))
                }
                Next::Ended if listener.stream.final_event() == Some(listener.seen) => {
                    // The whole answer reached this client: nothing is left to resume.
                    listener.session.post_streams.delivered(listener.number);
                    None
                }
                Next::Ended | Next::Draining => Some(reply::RETRY),
            };
            std::future::ready(chunk)
        });
    reply::event_stream(futures_util::stream::iter(priming).chain(body))
}

/// Resolves when the gateway's drain wants answer streams closed (never, until it drains).
async fn drain_deadline(closing: &mut watch::Receiver<Option<Instant>>) {
    loop {
        let deadline = *closing.borrow_and_update();
        if let Some(at) = deadline {
            tokio::time::sleep_until(at).await;
            return;
        }
        if closing.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
