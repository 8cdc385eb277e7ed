//! The fast backend: a minimal stateful Streamable HTTP MCP server on hyper 1.
//!
//! It exists to be fronted by the gateway in the benchmark, so it must cost far less per call
//! than the gateway does: the HTTP glue here is thin, [`app::App`] answers from a precomputed
//! `tools/list` result and a hash set of session ids, and replies are `application/json` except
//! for the optional `progress` tool, whose events are written as they are produced (a channel-fed
//! `text/event-stream` body) so each carries the time it was really sent. With
//! `event_stream_answers` every answer to a request is a one-event `text/event-stream` instead,
//! as the SDK servers (rmcp, TypeScript, Python) send by default.

pub mod app;

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::clock::monotonic_ns;
use app::{App, ProgressPlan, Reply, progress_notification, progress_result};

/// Request bodies above this are refused (413); benchmark calls are a few hundred bytes.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Accepts connections on `listener` forever, one task per connection.
pub async fn serve(listener: TcpListener, app: Arc<App>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors or a reset during accept: back off instead of spinning.
                eprintln!("mcp-fast-backend: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(respond(&app, request).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// A whole body, or one fed event by event from a task.
pub enum ReplyBody {
    Whole(Full<Bytes>),
    Events(mpsc::Receiver<Bytes>),
}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            ReplyBody::Whole(full) => Pin::new(full).poll_frame(cx),
            ReplyBody::Events(events) => {
                events.poll_recv(cx).map(|e| e.map(|b| Ok(Frame::data(b))))
            }
        }
    }
}

async fn respond(app: &App, request: Request<Incoming>) -> Response<ReplyBody> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large or unreadable",
            );
        }
    };
    let session = parts
        .headers
        .get("mcp-session-id")
        .map(HeaderValue::as_bytes);
    let reply = app.handle(&parts.method, parts.uri.path(), session, &body);
    to_response(reply, app.event_stream_answers)
}

fn to_response(mut reply: Reply, event_stream: bool) -> Response<ReplyBody> {
    if let Some(plan) = reply.progress {
        let (events, body) = mpsc::channel(4);
        tokio::spawn(send_progress(*plan, events));
        return Response::builder()
            .status(StatusCode::OK)
            .header(CONTENT_TYPE, "text/event-stream")
            .header("cache-control", "no-cache")
            .body(ReplyBody::Events(body))
            .expect("valid parts");
    }
    let mut response = Response::builder().status(reply.status);
    if let Some(session) = reply.session_id {
        response = response.header("mcp-session-id", session);
    }
    if reply.status == StatusCode::METHOD_NOT_ALLOWED {
        response = response.header(ALLOW, "POST, DELETE");
    }
    if event_stream && reply.status == StatusCode::OK && !reply.body.is_empty() {
        reply.body = one_event(&reply.body);
        response = response
            .header(CONTENT_TYPE, "text/event-stream")
            .header("cache-control", "no-cache");
    } else if !reply.body.is_empty() {
        response = response.header(CONTENT_TYPE, "application/json");
    }
    response
        .body(ReplyBody::Whole(Full::new(reply.body)))
        .expect("valid parts")
}

/// `message` (one line of JSON) as the only event of a stream.
fn one_event(message: &[u8]) -> Bytes {
    let mut event = Vec::with_capacity(message.len() + 24);
    event.extend_from_slice(b"event: message\ndata: ");
    event.extend_from_slice(message);
    event.extend_from_slice(b"\n\n");
    Bytes::from(event)
}

/// Writes the plan's events `interval` apart, each stamped just before it is handed to hyper,
/// then the result; stops early if the client went away.
async fn send_progress(plan: ProgressPlan, events: mpsc::Sender<Bytes>) {
    // tokio's interval panics on a zero period; zero means back to back.
    let mut ticks = (!plan.interval.is_zero()).then(|| tokio::time::interval(plan.interval));
    if let Some(ticks) = ticks.as_mut() {
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    for progress in 1..=plan.events {
        if let Some(ticks) = ticks.as_mut() {
            ticks.tick().await;
        }
        let note = progress_notification(&plan.token, progress, plan.events, monotonic_ns());
        if events.send(sse_event(&note)).await.is_err() {
            return;
        }
    }
    let _ = events
        .send(sse_event(&progress_result(&plan.id, plan.events)))
        .await;
}

fn sse_event(data: &str) -> Bytes {
    Bytes::from(format!("event: message\ndata: {data}\n\n"))
}

fn plain(status: StatusCode, text: &'static str) -> Response<ReplyBody> {
    let mut response = Response::new(ReplyBody::Whole(Full::new(Bytes::from_static(
        text.as_bytes(),
    ))));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: StatusCode, body: &'static str) -> Reply {
        Reply {
            status,
            session_id: None,
            body: Bytes::from_static(body.as_bytes()),
            progress: None,
        }
    }

    fn body_of(response: Response<ReplyBody>) -> Bytes {
        match response.into_body() {
            ReplyBody::Whole(full) => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .expect("a runtime");
                runtime
                    .block_on(full.collect())
                    .expect("infallible")
                    .to_bytes()
            }
            ReplyBody::Events(_) => panic!("a whole body expected"),
        }
    }

    #[test]
    fn event_stream_answers_carry_the_json_as_one_event() {
        let json = r#"{"jsonrpc":"2.0","id":1,"result":{}}"#;
        let streamed = to_response(reply(StatusCode::OK, json), true);
        assert_eq!(streamed.headers()[CONTENT_TYPE], "text/event-stream");
        assert_eq!(
            body_of(streamed),
            format!("event: message\ndata: {json}\n\n").as_bytes()
        );
        let plain = to_response(reply(StatusCode::OK, json), false);
        assert_eq!(plain.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(body_of(plain), json.as_bytes());
        // A notification's 202 has no body to stream.
        let accepted = to_response(reply(StatusCode::ACCEPTED, ""), true);
        assert!(accepted.headers().get(CONTENT_TYPE).is_none());
    }
}
