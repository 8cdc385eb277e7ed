//! Keeping backend connections reusable after a streamed answer.
//!
//! awc returns a connection to its pool only once a response was read to its end, and closes it
//! when the body is dropped unread. An answer streamed as `text/event-stream` is done for us at
//! its JSON-RPC response, a moment before the backend ends the stream; dropping it there cost a
//! new connection (and a TLS handshake for `https` backends) for every streamed answer — and
//! most SDK servers stream every answer, `initialize` and `ping` included.

use awc::error::PayloadError;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::time::Instant;

/// How long, and how much more, a stream is read after its response while waiting for its end;
/// a backend that keeps it open past either has the connection closed instead.
const DRAIN_FOR: std::time::Duration = std::time::Duration::from_secs(2);
const DRAIN_BYTES: usize = 64 * 1024;

/// Reads the rest of `body` on a task of its own (the caller has what it needed), so that the
/// connection goes back to the pool when the backend ends the stream. What arrives after the
/// response is for no one. Must run on a local task set, as awc itself does.
pub(crate) fn drain_in_background<S>(body: S)
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin + 'static,
{
    actix_rt::spawn(drain(body));
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
