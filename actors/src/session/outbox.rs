//! A client session's GET stream (legacy era): messages backends send outside any request
//! (logging, resource updates, their own requests) wait here for the one listener, and the last
//! ones stay in a bounded replay buffer so a client that reconnects with `Last-Event-ID` gets
//! exactly what it missed. The numbering, buffer and listener rules are [`EventStream`]'s
//! (shared with the POST answer streams); this stream's ids are `g-<n>`.

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;

use super::event_stream::EventStream;
pub use super::event_stream::{AttachError, Attached, Event, Pushed};

/// How many messages may wait for a listener that does not read (default of
/// [`StreamLimits::queue`]).
pub const OUTBOX_CAPACITY: usize = 256;

/// The name of this stream in its event ids.
const STREAM: &str = "g";

/// Per-session bounds of server-to-client traffic: what each stream's replay buffer keeps
/// (`mcp.replay_events`, `mcp.replay_age_s`), how far a listener may fall behind
/// (`mcp.max_queued_events`), how many relayed backend requests may await the client's
/// answer (`mcp.max_pending_requests`) and for how long (`mcp.pending_request_timeout_s`), how
/// many POST answer streams are kept for resumption (`mcp.max_resumable_streams`) and how many
/// may be open at once (`mcp.max_open_streams`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    pub events: usize,
    pub age: Duration,
    pub queue: usize,
    pub pending: usize,
    pub pending_timeout: Duration,
    pub streams: usize,
    pub open_streams: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            events: 256,
            age: Duration::from_secs(300),
            queue: OUTBOX_CAPACITY,
            pending: 64,
            pending_timeout: Duration::from_secs(300),
            streams: 32,
            open_streams: 32,
        }
    }
}

pub struct Outbox {
    stream: EventStream,
    /// The client's `logging/setLevel` value (raw JSON string), for backend sessions opened later.
    log_level: Mutex<Option<String>>,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox::new(StreamLimits::default())
    }
}

impl Outbox {
    pub fn new(limits: StreamLimits) -> Self {
        Outbox {
            stream: EventStream::new(STREAM.to_string(), limits),
            log_level: Mutex::new(None),
        }
    }

    /// Attaches the listener, resuming after `last_event_id` when given (a reconnect that
    /// resumes takes over; a fresh second listener is refused).
    pub fn attach(&self, last_event_id: Option<&str>) -> Result<Attached, AttachError> {
        self.stream.attach(last_event_id)
    }

    /// Numbers `message`, keeps it for replay and queues it for the listener, if any.
    pub fn push(&self, message: Bytes) -> Pushed {
        self.stream.push(message)
    }

    /// Ends the listener's stream (the session ended, or the gateway is shutting down).
    pub fn detach(&self) {
        self.stream.detach();
    }

    pub fn limits(&self) -> StreamLimits {
        self.stream.limits()
    }

    /// Whether the session's GET stream is open.
    pub fn has_listener(&self) -> bool {
        self.stream.has_listener()
    }

    pub fn set_log_level(&self, level: &str) {
        *self.log_level.lock().unwrap_or_else(|e| e.into_inner()) = Some(level.to_owned());
    }

    pub fn log_level(&self) -> Option<String> {
        self.log_level
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
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
