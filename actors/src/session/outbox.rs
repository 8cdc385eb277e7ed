//! A client session's GET stream (legacy era): messages backends send outside any request
//! (logging, resource updates, their own requests) wait here, bounded, for the one listener.
//!
//! At most one listener at a time (the spec lets a server refuse a second). Messages that
//! arrive while nobody listens are dropped: no stream was ever promised them, and holding them
//! would let a silent client make the gateway buffer without bound. A listener that falls
//! [`OUTBOX_CAPACITY`] messages behind is cut off (its stream ends) instead of being buffered
//! for; it can reconnect.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::sync::mpsc;

/// How many messages may wait for a listener that does not read.
pub const OUTBOX_CAPACITY: usize = 256;

#[derive(Default)]
pub struct Outbox {
    listener: Mutex<Option<mpsc::Sender<Bytes>>>,
    /// SSE event ids, unique in the session.
    next_event_id: AtomicU64,
    /// The client's `logging/setLevel` value (raw JSON string), for backend sessions opened later.
    log_level: Mutex<Option<String>>,
}

/// What became of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    /// Nobody listens: dropped.
    NoListener,
    /// The listener fell too far behind: it was cut off and the message dropped.
    ListenerDropped,
}

impl Outbox {
    /// Attaches the listener; `None` if one is already attached (a closed one is replaced).
    pub fn attach(&self) -> Option<mpsc::Receiver<Bytes>> {
        let mut listener = self.listener.lock().unwrap_or_else(|e| e.into_inner());
        if listener.as_ref().is_some_and(|l| !l.is_closed()) {
            return None;
        }
        let (sender, receiver) = mpsc::channel(OUTBOX_CAPACITY);
        *listener = Some(sender);
        Some(receiver)
    }

    /// Queues `message` for the listener, if any.
    pub fn push(&self, message: Bytes) -> Pushed {
        let mut listener = self.listener.lock().unwrap_or_else(|e| e.into_inner());
        let Some(sender) = listener.as_ref() else {
            return Pushed::NoListener;
        };
        match sender.try_send(message) {
            Ok(()) => Pushed::Queued,
            Err(mpsc::error::TrySendError::Closed(_)) => {
                *listener = None;
                Pushed::NoListener
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                *listener = None;
                Pushed::ListenerDropped
            }
        }
    }

    /// Ends the listener's stream (the session ended).
    pub fn detach(&self) {
        *self.listener.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    pub fn next_event_id(&self) -> u64 {
        self.next_event_id.fetch_add(1, Ordering::Relaxed) + 1
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

    #[test]
    fn one_listener_at_a_time_and_a_slow_one_is_cut_off() {
        let outbox = Outbox::default();
        assert_eq!(outbox.push(Bytes::from_static(b"{}")), Pushed::NoListener);
        let mut first = outbox.attach().expect("first listener");
        assert!(outbox.attach().is_none(), "a second listener is refused");
        for _ in 0..OUTBOX_CAPACITY {
            assert_eq!(outbox.push(Bytes::from_static(b"{}")), Pushed::Queued);
        }
        assert_eq!(
            outbox.push(Bytes::from_static(b"{}")),
            Pushed::ListenerDropped
        );
        let mut drained = 0;
        while first.try_recv().is_ok() {
            drained += 1;
        }
        assert_eq!(drained, OUTBOX_CAPACITY);
        assert!(first.try_recv().is_err(), "the cut-off stream ends");
        assert!(outbox.attach().is_some(), "a new listener may attach");
    }

    #[test]
    fn a_closed_listener_is_replaced_and_event_ids_grow() {
        let outbox = Outbox::default();
        drop(outbox.attach());
        assert!(outbox.attach().is_some());
        assert!(outbox.next_event_id() < outbox.next_event_id());
    }
}
