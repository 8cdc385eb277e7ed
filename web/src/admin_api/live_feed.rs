//! One shape for the admin API's live feeds (`mcp-activity/stream`, `security-events/stream`):
//! server-sent events over a broadcast of committed rows.

use std::sync::Arc;

use actix_web::HttpResponse;
use actix_web::web::Bytes;
use futures_util::{StreamExt, stream};
use serde_json::Value;
use tokio::sync::broadcast::{self, error::RecvError};

/// `: <name>` at once (so clients and proxies see the stream open), then one
/// `event: <name>` per row `event` keeps (`Some((id, data))`), and `event: lagged` with how many
/// rows were skipped when the subscriber fell behind the broadcast.
pub(super) fn serve<T: Send + Sync + 'static>(
    feed: broadcast::Receiver<Arc<T>>,
    name: &'static str,
    event: impl Fn(&T) -> Option<(i64, Value)> + 'static,
) -> HttpResponse {
    let opened =
        stream::once(
            async move { Ok::<_, actix_web::Error>(Bytes::from(format!(": {name}\n\n"))) },
        );
    let events = stream::unfold((feed, event), move |(mut feed, event)| async move {
        loop {
            let text = match feed.recv().await {
                Ok(row) => match event(&row) {
                    Some((id, data)) => format!("event: {name}\nid: {id}\ndata: {data}\n\n"),
                    None => continue,
                },
                Err(RecvError::Lagged(n)) => {
                    format!("event: lagged\ndata: {{\"skipped\":{n}}}\n\n")
                }
                Err(RecvError::Closed) => return None,
            };
            return Some((Ok(Bytes::from(text)), (feed, event)));
        }
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-store"))
        .streaming(opened.chain(events))
}
