//! A client session's answer streams (legacy era): each POST answered with `text/event-stream`
//! gets a stream of its own, named `p<k>` (k counts the session's streams), so its event ids
//! `p<k>-<n>` never collide with the GET stream's `g-<n>` or another answer's.
//!
//! A client disconnect is not a cancellation (spec, legacy era): the gateway keeps reading the
//! backend's answer into the stream's replay buffer, and `GET` with `Last-Event-ID: p<k>-<n>`
//! resumes exactly that stream. A stream is kept until its final response was delivered, or
//! for `StreamLimits::age` after it came undelivered. At most `StreamLimits::streams` are kept
//! per session: past that the oldest finished one is dropped, and if every kept stream is
//! still running the new one is served without a replay buffer (it cannot be resumed, and
//! says so when asked).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::event_stream::{AttachError, Attached, EventStream, parse_event_id};
use super::outbox::StreamLimits;

/// One answer stream, opened with its first listener (the POST's own response).
pub struct OpenedStream {
    pub number: u64,
    pub stream: Arc<EventStream>,
    pub attached: Attached,
}

struct Inner {
    /// The number of the last stream opened (0: none yet).
    last: u64,
    kept: BTreeMap<u64, Arc<EventStream>>,
}

pub struct PostStreams {
    inner: Mutex<Inner>,
    limits: StreamLimits,
}

impl PostStreams {
    pub fn new(limits: StreamLimits) -> Self {
        PostStreams {
            inner: Mutex::new(Inner {
                last: 0,
                kept: BTreeMap::new(),
            }),
            limits,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens the next answer stream and attaches its first listener.
    pub fn open(&self) -> OpenedStream {
        let mut inner = self.lock();
        self.sweep(&mut inner);
        inner.last += 1;
        let number = inner.last;
        if inner.kept.len() >= self.limits.streams {
            let oldest_finished = inner
                .kept
                .iter()
                .find(|(_, s)| s.final_event().is_some())
                .map(|(k, _)| *k);
            if let Some(k) = oldest_finished {
                inner.kept.remove(&k);
            }
        }
        let keep = inner.kept.len() < self.limits.streams;
        let limits = if keep {
            self.limits
        } else {
            // Served live only: nothing buffered for a reconnect.
            StreamLimits {
                events: 0,
                ..self.limits
            }
        };
        let stream = Arc::new(EventStream::new(format!("p{number}"), limits));
        if keep {
            inner.kept.insert(number, stream.clone());
        }
        let attached = stream
            .attach(None)
            .expect("a new stream has no listener yet");
        OpenedStream {
            number,
            stream,
            attached,
        }
    }

    /// Resumes the answer stream that `last_event_id` (`p<k>-<n>`) belongs to, after that event.
    pub fn resume(&self, last_event_id: &str) -> Result<(Arc<EventStream>, Attached), AttachError> {
        let unknown = || AttachError::UnknownEventId(last_event_id.to_string());
        let number = parse_event_id(last_event_id)
            .and_then(|(stream, _)| stream.strip_prefix('p'))
            .and_then(|k| k.parse::<u64>().ok())
            .ok_or_else(unknown)?;
        let stream = {
            let mut inner = self.lock();
            self.sweep(&mut inner);
            if number == 0 || number > inner.last {
                return Err(unknown());
            }
            inner.kept.get(&number).cloned().ok_or_else(|| {
                AttachError::StreamGone(last_event_id.to_string(), self.limits.age.as_secs())
            })?
        };
        let attached = stream.attach(Some(last_event_id))?;
        Ok((stream, attached))
    }

    /// The stream's final response reached its client: nothing is left to resume.
    pub fn delivered(&self, number: u64) {
        self.lock().kept.remove(&number);
    }

    /// How many streams are kept for resumption.
    pub fn kept(&self) -> usize {
        self.lock().kept.len()
    }

    /// How many kept answer streams have a connected listener (metrics, at scrape time). A
    /// stream served without a replay buffer (past `StreamLimits::streams`) is not counted.
    pub fn listened(&self) -> usize {
        self.lock()
            .kept
            .values()
            .filter(|s| s.has_listener())
            .count()
    }

    /// Frees the buffers of answers that ended undelivered longer than the replay age ago
    /// (the session actor calls this as it reaps, for sessions that open no more answers).
    pub fn free_expired(&self) {
        let mut inner = self.lock();
        self.sweep(&mut inner);
    }

    fn sweep(&self, inner: &mut Inner) {
        inner
            .kept
            .retain(|_, s| !s.finished_longer_than(self.limits.age));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;

    use super::*;

    fn limits(streams: usize) -> StreamLimits {
        StreamLimits {
            streams,
            ..StreamLimits::default()
        }
    }

    #[test]
    fn each_answer_gets_its_own_stream_and_resumes_only_from_it() {
        let streams = PostStreams::new(limits(8));
        let first = streams.open();
        let second = streams.open();
        assert_eq!(first.attached.position, "p1-0");
        assert_eq!(second.attached.position, "p2-0");
        first.stream.push(Bytes::from_static(b"a1"));
        second.stream.push(Bytes::from_static(b"b1"));
        first.stream.push(Bytes::from_static(b"a2"));
        first.stream.end();
        let (_, resumed) = streams.resume("p1-0").unwrap();
        let got: Vec<_> = resumed.replay.iter().map(|e| e.message.clone()).collect();
        assert_eq!(got, [Bytes::from_static(b"a1"), Bytes::from_static(b"a2")]);
        assert!(matches!(
            streams.resume("p3-0"),
            Err(AttachError::UnknownEventId(_))
        ));
        assert!(matches!(
            streams.resume("g-1"),
            Err(AttachError::UnknownEventId(_))
        ));
        streams.delivered(1);
        assert!(matches!(
            streams.resume("p1-0"),
            Err(AttachError::StreamGone(..))
        ));
    }

    #[test]
    fn at_the_cap_the_oldest_finished_stream_goes_and_running_ones_stay() {
        let streams = PostStreams::new(limits(2));
        let one = streams.open();
        let _two = streams.open();
        // Both running: the third is served but not kept.
        let three = streams.open();
        assert_eq!(streams.kept(), 2);
        three.stream.end();
        assert!(matches!(
            streams.resume("p3-0"),
            Err(AttachError::StreamGone(..))
        ));
        // One finished: it makes room for the next.
        one.stream.end();
        let _four = streams.open();
        assert_eq!(streams.kept(), 2);
        assert!(matches!(
            streams.resume("p1-0"),
            Err(AttachError::StreamGone(..))
        ));
        assert!(streams.resume("p4-0").is_ok());
    }

    #[test]
    fn a_finished_stream_is_freed_after_the_replay_age() {
        let streams = PostStreams::new(StreamLimits {
            age: Duration::ZERO,
            ..limits(8)
        });
        let one = streams.open();
        one.stream.end();
        // Age zero: anything finished at all is older than it once time moves.
        let later = std::time::Instant::now() + Duration::from_millis(1);
        while std::time::Instant::now() < later {
            std::hint::spin_loop();
        }
        assert!(matches!(
            streams.resume("p1-0"),
            Err(AttachError::StreamGone(..))
        ));
        assert_eq!(streams.kept(), 0);
    }
}
