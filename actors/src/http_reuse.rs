//! Keeping backend connections reusable after a streamed answer.
//!
//! awc returns a connection to its pool only once a response was read to its end, and closes it
//! when the body is dropped unread. An answer streamed as `text/event-stream` is done for us at
//! its JSON-RPC response, a moment before the backend ends the stream; dropping it there cost a
//! new connection (and a TLS handshake for `https` backends) for every streamed answer — and
//! most SDK servers stream every answer, `initialize` and `ping` included.

use std::cell::Cell;

use awc::error::PayloadError;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::time::Instant;

/// How long, and how much more, a stream is read after its response while waiting for its end;
/// a backend that keeps it open past either has the connection closed instead.
const DRAIN_FOR: std::time::Duration = std::time::Duration::from_secs(1);
const DRAIN_BYTES: usize = 64 * 1024;

/// Drains at once per thread (each holds a socket). A backend that keeps its streams open
/// after the response would otherwise hold one socket per request for `DRAIN_FOR`: past this,
/// bodies are dropped and their connections closed, as without draining.
const MAX_DRAINING: usize = 512;

thread_local! {
    static DRAINING: Cell<usize> = const { Cell::new(0) };
}

/// Reads the rest of `body` on a task of its own (the caller has what it needed), so that the
/// connection goes back to the pool when the backend ends the stream. What arrives after the
/// response is for no one. Must run on a local task set, as awc itself does.
pub(crate) fn drain_in_background<S>(body: S)
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin + 'static,
{
    if DRAINING.get() >= MAX_DRAINING {
        return;
    }
    let slot = Draining::take();
    actix_rt::spawn(async move {
        let _slot = slot;
        drain(body).await;
    });
}

/// One of the thread's [`MAX_DRAINING`] places, given back when dropped.
struct Draining;

impl Draining {
    fn take() -> Self {
        DRAINING.set(DRAINING.get() + 1);
        Draining
    }
}

impl Drop for Draining {
    fn drop(&mut self) {
        DRAINING.set(DRAINING.get().saturating_sub(1));
    }
}

async fn drain<S>(mut body: S)
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    let until = Instant::now() + DRAIN_FOR;
    let mut left = DRAIN_BYTES;
    while let Ok(Some(Ok(chunk))) = tokio::time::timeout_at(until, body.next()).await {
        left = match left.checked_sub(chunk.len()) {
            Some(left) => left,
            None => return,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn drains_past_the_cap_are_not_started() {
        // The clock stands still until everything waits, then jumps to the next timer.
        tokio::time::pause();
        // Bodies that never end: each drain holds its place until DRAIN_FOR has passed.
        let pending = || futures_util::stream::pending::<Result<Bytes, PayloadError>>();
        for _ in 0..MAX_DRAINING + 10 {
            drain_in_background(pending());
        }
        assert_eq!(DRAINING.get(), MAX_DRAINING);
        // Past DRAIN_FOR every drain gave up, and gave its place back.
        tokio::time::sleep(DRAIN_FOR * 2).await;
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        assert_eq!(DRAINING.get(), 0);
    }
}
