//! A client session's GET stream (legacy era): messages backends send outside any request
//! (logging, resource updates, their own requests) wait here for the one listener, and the last
//! ones stay in a bounded replay buffer so a client that reconnects with `Last-Event-ID` gets
//! exactly what it missed.
//!
//! At most one listener at a time (the spec lets a server refuse a second), except that a
//! reconnect with `Last-Event-ID` replaces the old one, whose loss the server may not have
//! noticed yet. Every message gets
//! an event id (`g-<n>`: unique in the session, `g` naming this stream) and enters the replay
//! buffer, which keeps at most [`StreamLimits::events`] messages no older than
//! [`StreamLimits::age`]. A listener that falls [`OUTBOX_CAPACITY`] messages behind is cut off
//! (its stream ends) instead of being buffered for; it reconnects and replays from its last id.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

/// How many messages may wait for a listener that does not read (default of
/// [`StreamLimits::queue`]).
pub const OUTBOX_CAPACITY: usize = 256;

/// The prefix of this stream's event ids.
const STREAM: &str = "g";

/// Per-session bounds of server-to-client traffic: what the replay buffer keeps
/// (`mcp.replay_events`, `mcp.replay_age_s`), how far a listener may fall behind
/// (`mcp.max_queued_events`) and how many relayed backend requests may await the client's
/// answer (`mcp.max_pending_requests`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    pub events: usize,
    pub age: Duration,
    pub queue: usize,
    pub pending: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            events: 256,
            age: Duration::from_secs(300),
            queue: OUTBOX_CAPACITY,
            pending: 64,
        }
    }
}

/// One message as sent on the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub message: Bytes,
}

struct Inner {
    listener: Option<mpsc::Sender<Event>>,
    /// The last messages, oldest first, with their number and arrival time.
    replay: VecDeque<(u64, Instant, Bytes)>,
    /// The number of the last message (0: none yet).
    last: u64,
    /// The client's `logging/setLevel` value (raw JSON string), for backend sessions opened later.
    log_level: Option<String>,
}

pub struct Outbox {
    inner: Mutex<Inner>,
    limits: StreamLimits,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox::new(StreamLimits::default())
    }
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

/// Why a GET stream could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttachError {
    #[error("this session already has an open GET stream")]
    Busy,
    #[error("`{0}` is not an event id of this session's stream")]
    UnknownEventId(String),
    #[error(
        "the events after `{0}` are no longer kept (the replay buffer holds the last {1} events for {2} s); reconnect without Last-Event-ID"
    )]
    Expired(String, usize, u64),
}

/// An attached listener: what it missed (to send first), the current position (for the
/// priming event), and the live messages.
pub struct Attached {
    pub replay: Vec<Event>,
    pub position: String,
    pub live: mpsc::Receiver<Event>,
}

fn event_id(n: u64) -> String {
    format!("{STREAM}-{n}")
}

impl Outbox {
    pub fn new(limits: StreamLimits) -> Self {
        Outbox {
            inner: Mutex::new(Inner {
                listener: None,
                replay: VecDeque::new(),
                last: 0,
                log_level: None,
            }),
            limits,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Attaches the listener, resuming after `last_event_id` when given. Replay and live
    /// messages are split under one lock, so nothing is lost or sent twice in between.
    pub fn attach(&self, last_event_id: Option<&str>) -> Result<Attached, AttachError> {
        let mut inner = self.lock();
        // A reconnect that resumes takes over: the old connection is presumed dead (a dropped
        // connection is only noticed on the next write). A fresh second stream is refused.
        if last_event_id.is_none() && inner.listener.as_ref().is_some_and(|l| !l.is_closed()) {
            return Err(AttachError::Busy);
        }
        self.expire(&mut inner);
        let replay = match last_event_id {
            None => Vec::new(),
            Some(id) => {
                let after = id
                    .strip_prefix(STREAM)
                    .and_then(|n| n.strip_prefix('-'))
                    .and_then(|n| n.parse::<u64>().ok())
                    .filter(|n| *n <= inner.last)
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
                        id: event_id(*n),
                        message: m.clone(),
                    })
                    .collect()
            }
        };
        let (sender, live) = mpsc::channel(self.limits.queue.max(1));
        inner.listener = Some(sender);
        Ok(Attached {
            replay,
            position: event_id(inner.last),
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
        match sender.try_send(Event {
            id: event_id(n),
            message,
        }) {
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

    /// Ends the listener's stream (the session ended).
    pub fn detach(&self) {
        self.lock().listener = None;
    }

    pub fn limits(&self) -> StreamLimits {
        self.limits
    }

    pub fn set_log_level(&self, level: &str) {
        self.lock().log_level = Some(level.to_owned());
    }

    pub fn log_level(&self) -> Option<String> {
        self.lock().log_level.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(n: u8) -> Bytes {
        Bytes::from(vec![b'0' + n])
    }

    #[test]
    fn one_listener_at_a_time_and_a_slow_one_is_cut_off() {
        let outbox = Outbox::default();
        assert_eq!(outbox.push(msg(0)), Pushed::NoListener);
        let mut first = outbox.attach(None).expect("first listener").live;
        assert!(
            matches!(outbox.attach(None), Err(AttachError::Busy)),
            "a second listener is refused"
        );
        for _ in 0..OUTBOX_CAPACITY {
            assert_eq!(outbox.push(msg(1)), Pushed::Queued);
        }
        assert_eq!(outbox.push(msg(2)), Pushed::ListenerDropped);
        let mut drained = 0;
        while first.try_recv().is_ok() {
            drained += 1;
        }
        assert_eq!(drained, OUTBOX_CAPACITY);
        assert!(first.try_recv().is_err(), "the cut-off stream ends");
        assert!(outbox.attach(None).is_ok(), "a new listener may attach");
    }

    #[test]
    fn a_reconnect_replays_exactly_what_was_missed() {
        let outbox = Outbox::new(StreamLimits {
            events: 3,
            age: Duration::from_secs(60),
            ..StreamLimits::default()
        });
        let attached = outbox.attach(None).unwrap();
        assert_eq!(attached.position, "g-0");
        outbox.push(msg(1));
        outbox.push(msg(2));
        let mut live = attached.live;
        let first = live.try_recv().unwrap();
        assert_eq!(first.id, "g-1");
        drop(live); // the connection drops after g-1 was seen
        outbox.push(msg(3));
        let again = outbox.attach(Some("g-1")).unwrap();
        let ids: Vec<_> = again.replay.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["g-2", "g-3"]);
        assert_eq!(again.position, "g-3");
        drop(again);
        // Beyond the buffer: a clear error, not silent loss.
        for n in 4..=8 {
            outbox.push(msg(n));
        }
        assert!(matches!(
            outbox.attach(Some("g-1")),
            Err(AttachError::Expired(..))
        ));
        assert!(matches!(
            outbox.attach(Some("x-1")),
            Err(AttachError::UnknownEventId(_))
        ));
        assert!(matches!(
            outbox.attach(Some("g-99")),
            Err(AttachError::UnknownEventId(_))
        ));
        assert!(outbox.attach(Some("g-6")).unwrap().replay.len() == 2);
    }

    #[test]
    fn old_events_expire_by_age() {
        let outbox = Outbox::new(StreamLimits {
            events: 100,
            age: Duration::ZERO,
            ..StreamLimits::default()
        });
        outbox.push(msg(1));
        std::thread::sleep(Duration::from_millis(5));
        outbox.push(msg(2));
        std::thread::sleep(Duration::from_millis(5));
        assert!(matches!(
            outbox.attach(Some("g-0")),
            Err(AttachError::Expired(..))
        ));
    }
}
