//! One resumable SSE stream of a client session: the session's GET stream (`g`) or the answer
//! to one of its POSTs (`p<k>`). Every message gets an event id `<stream>-<n>` (unique in the
//! session, naming its stream) and enters a bounded replay buffer, so a client that reconnects
//! with `Last-Event-ID` gets exactly what it missed — from this stream, never another.
//!
//! At most one listener at a time. A fresh listener is refused while one is open; a resuming
//! one (it names an event id) takes over, because the old connection's loss may not have been
//! noticed yet. The buffer keeps at most [`StreamLimits::events`] messages no older than
//! [`StreamLimits::age`]. A listener that falls [`StreamLimits::queue`] messages behind is cut
//! off (its channel ends) instead of being buffered for; it resumes from its last id.
//!
//! A stream that carries one answer is *ended* once its last message (the response) is in: a
//! listener's channel ends after that message, and a later resume replays up to it. Whoever
//! serves a listener learns whether it got everything from [`EventStream::final_event`].

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::outbox::StreamLimits;

/// One message as sent on a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    /// The `<n>` of the id: the message's place in its stream.
    pub number: u64,
    pub message: Bytes,
}

/// What became of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    /// Nobody listens: kept for replay only.
    NoListener,
    /// The listener fell too far behind: it was cut off (the message is kept for replay).
    ListenerDropped,
}

/// Why a stream could not be opened or resumed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttachError {
    #[error("this session already has an open GET stream")]
    Busy,
    #[error("`{0}` is not an event id of this session's streams")]
    UnknownEventId(String),
    #[error(
        "the events after `{0}` are no longer kept (the replay buffer holds the last {1} events for {2} s); reconnect without Last-Event-ID"
    )]
    Expired(String, usize, u64),
    #[error(
        "the answer stream of `{0}` is no longer kept (it was delivered, expired after {1} s, or exceeded the session's mcp.max_resumable_streams); send the request again"
    )]
    StreamGone(String, u64),
}

/// An attached listener: what it missed (to send first), the current position (for the
/// priming event), and the live messages.
pub struct Attached {
    pub replay: Vec<Event>,
    pub position: String,
    pub live: mpsc::Receiver<Event>,
}

/// `<stream>-<n>` split into the stream's name and the number; `None` if malformed.
pub fn parse_event_id(id: &str) -> Option<(&str, u64)> {
    let (stream, n) = id.rsplit_once('-')?;
    Some((stream, n.parse().ok()?))
}

struct Inner {
    listener: Option<mpsc::Sender<Event>>,
    /// The last messages, oldest first, with their number and arrival time.
    replay: VecDeque<(u64, Instant, Bytes)>,
    /// The number of the last message (0: none yet).
    last: u64,
    /// The last message's number and when the stream ended (answer streams only).
    finished: Option<(u64, Instant)>,
}

pub struct EventStream {
    name: String,
    inner: Mutex<Inner>,
    limits: StreamLimits,
}

impl EventStream {
    pub fn new(name: String, limits: StreamLimits) -> Self {
        EventStream {
            name,
            inner: Mutex::new(Inner {
                listener: None,
                replay: VecDeque::new(),
                last: 0,
                finished: None,
            }),
            limits,
        }
    }

    /// The stream's name: the part of its event ids before the last `-`.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn limits(&self) -> StreamLimits {
        self.limits
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn event_id(&self, n: u64) -> String {
        format!("{}-{n}", self.name)
    }

    /// Attaches the listener, resuming after `last_event_id` (an id of this stream) when given.
    /// Replay and live messages are split under one lock, so nothing is lost or sent twice.
    pub fn attach(&self, last_event_id: Option<&str>) -> Result<Attached, AttachError> {
        let mut inner = self.lock();
        if last_event_id.is_none() && inner.listener.as_ref().is_some_and(|l| !l.is_closed()) {
            return Err(AttachError::Busy);
        }
        self.expire(&mut inner);
        let replay = match last_event_id {
            None => Vec::new(),
            Some(id) => {
                let after = parse_event_id(id)
                    .filter(|(stream, n)| *stream == self.name && *n <= inner.last)
                    .map(|(_, n)| n)
                    .ok_or_else(|| AttachError::UnknownEventId(id.to_string()))?;
                let oldest_kept = inner
                    .replay
                    .front()
                    .map(|(n, _, _)| *n)
                    .unwrap_or(inner.last + 1);
                if after + 1 < oldest_kept {
                    return Err(AttachError::Expired(
                        id.to_string(),
                        self.limits.events,
                        self.limits.age.as_secs(),
                    ));
                }
                inner
                    .replay
                    .iter()
                    .filter(|(n, _, _)| *n > after)
                    .map(|(n, _, m)| Event {
                        id: self.event_id(*n),
                        number: *n,
                        message: m.clone(),
                    })
                    .collect()
            }
        };
        let (sender, live) = mpsc::channel(self.limits.queue.max(1));
        // An ended stream has nothing live to come: the new channel ends after the replay.
        inner.listener = inner.finished.is_none().then_some(sender);
        Ok(Attached {
            replay,
            position: self.event_id(inner.last),
            live,
        })
    }

    /// Numbers `message`, keeps it for replay and queues it for the listener, if any.
    pub fn push(&self, message: Bytes) -> Pushed {
        let mut inner = self.lock();
        inner.last += 1;
        let n = inner.last;
        inner.replay.push_back((n, Instant::now(), message.clone()));
        while inner.replay.len() > self.limits.events {
            inner.replay.pop_front();
        }
        self.expire(&mut inner);
        let Some(sender) = inner.listener.as_ref() else {
            return Pushed::NoListener;
        };
        let event = Event {
            id: self.event_id(n),
            number: n,
            message,
        };
        match sender.try_send(event) {
            Ok(()) => Pushed::Queued,
            Err(mpsc::error::TrySendError::Closed(_)) => {
                inner.listener = None;
                Pushed::NoListener
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                inner.listener = None;
                Pushed::ListenerDropped
            }
        }
    }

    /// Marks the stream complete (its answer is all in): the listener's channel ends once it
    /// has taken what is queued, and nothing more will be pushed.
    pub fn end(&self) {
        let mut inner = self.lock();
        inner.finished = Some((inner.last, Instant::now()));
        inner.listener = None;
    }

    /// The number of the stream's last message once it ended (0: it ended empty); `None` while
    /// it runs. A listener that has seen this number has seen the whole answer.
    pub fn final_event(&self) -> Option<u64> {
        self.lock().finished.map(|(n, _)| n)
    }

    fn expire(&self, inner: &mut Inner) {
        let now = Instant::now();
        while inner
            .replay
            .front()
            .is_some_and(|(_, at, _)| now.duration_since(*at) > self.limits.age)
        {
            inner.replay.pop_front();
        }
    }

    /// Whether a listener is connected right now (metrics read this at scrape time).
    pub fn has_listener(&self) -> bool {
        self.lock()
            .listener
            .as_ref()
            .is_some_and(|l| !l.is_closed())
    }

    /// Ends the listener's channel (the session ended, or the gateway is shutting down).
    pub fn detach(&self) {
        self.lock().listener = None;
    }

    /// Whether the stream ended longer than `age` ago (its buffer may be freed).
    pub fn finished_longer_than(&self, age: Duration) -> bool {
        self.lock()
            .finished
            .is_some_and(|(_, at)| at.elapsed() > age)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(n: u8) -> Bytes {
        Bytes::from(vec![b'0' + n])
    }

    #[test]
    fn an_ended_stream_ends_its_listener_and_replays_up_to_its_last_message() {
        let stream = EventStream::new("p1".into(), StreamLimits::default());
        let live = stream.attach(None).unwrap().live;
        stream.push(msg(1));
        drop(live); // the client went away after the first event
        assert_eq!(stream.push(msg(2)), Pushed::NoListener);
        assert_eq!(stream.push(msg(3)), Pushed::NoListener);
        stream.end();
        assert_eq!(stream.final_event(), Some(3));
        let mut resumed = stream.attach(Some("p1-1")).unwrap();
        let ids: Vec<_> = resumed.replay.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["p1-2", "p1-3"]);
        assert!(
            matches!(
                resumed.live.try_recv(),
                Err(mpsc::error::TryRecvError::Disconnected)
            ),
            "nothing live after the end"
        );
        assert!(matches!(
            stream.attach(Some("g-1")),
            Err(AttachError::UnknownEventId(_))
        ));
    }

    #[test]
    fn the_end_reaches_a_live_listener_after_what_is_queued() {
        let stream = EventStream::new("p2".into(), StreamLimits::default());
        let mut live = stream.attach(None).unwrap().live;
        assert_eq!(stream.final_event(), None);
        stream.push(msg(1));
        stream.push(msg(2));
        stream.end();
        assert_eq!(live.try_recv().unwrap().id, "p2-1");
        assert_eq!(live.try_recv().unwrap().id, "p2-2");
        assert!(matches!(
            live.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
    }

    #[test]
    fn event_ids_split_at_the_last_dash() {
        assert_eq!(parse_event_id("p12-3"), Some(("p12", 3)));
        assert_eq!(parse_event_id("g-0"), Some(("g", 0)));
        assert_eq!(parse_event_id("g-x"), None);
        assert_eq!(parse_event_id("nodash"), None);
    }
}
