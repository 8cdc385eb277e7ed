//! HTTP answers carrying JSON-RPC: a JSON body, 202 for notifications, an SSE stream, and
//! JSON-RPC errors with the right HTTP status.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::web::Bytes;
use actors::mcp::ErrorCode;
use actors::mcp::errors::error_response;
use futures_util::StreamExt;
use serde_json::value::RawValue;

pub use actors::mcp::headers::SESSION_ID as SESSION_HEADER;

/// Tells nginx-style proxies not to buffer an event stream.
const X_ACCEL_BUFFERING: HeaderName = HeaderName::from_static("x-accel-buffering");

pub fn json(body: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(actors::mcp::headers::JSON)
        .body(body)
}

/// A JSON body from pieces, with its Content-Length, without joining them.
pub fn json_parts(parts: Vec<Bytes>) -> HttpResponse {
    let len = parts.iter().map(|p| p.len() as u64).sum();
    let stream = futures_util::stream::iter(parts.into_iter().map(Ok::<_, actix_web::Error>));
    HttpResponse::Ok()
        .content_type(actors::mcp::headers::JSON)
        .body(actix_web::body::SizedStream::new(len, stream))
}

pub fn accepted() -> HttpResponse {
    HttpResponse::Accepted().finish()
}

/// A JSON-RPC error as the whole answer, with an HTTP status for transport-level problems
/// (400, 403, 404, 406, 413) or 200 for a request that reached the gateway but failed.
pub fn error(
    status: StatusCode,
    id: Option<&RawValue>,
    code: ErrorCode,
    message: &str,
) -> HttpResponse {
    error_with_data(status, id, code, message, None)
}

pub fn error_with_data(
    status: StatusCode,
    id: Option<&RawValue>,
    code: ErrorCode,
    message: &str,
    data: Option<&str>,
) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(actors::mcp::headers::JSON)
        .body(error_response(id, code, message, data))
}

/// The response head of an event stream; its body is SSE events as they come (never buffered).
pub fn event_stream<S>(events: S) -> HttpResponse
where
    S: futures_util::Stream<Item = Bytes> + 'static,
{
    HttpResponse::Ok()
        .content_type(actors::mcp::headers::EVENT_STREAM)
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .insert_header((X_ACCEL_BUFFERING, HeaderValue::from_static("no")))
        .streaming(events.map(Ok::<_, actix_web::Error>))
}

/// One SSE event: `event: message`, its stream-scoped id, the JSON-RPC message.
pub fn event(id: &str, message: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(message.len() + id.len() + 32);
    out.extend_from_slice(b"event: message\nid: ");
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(message);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// The priming event (2025-11-25): an id and empty data, so a client that loses the stream
/// before any message can still resume it.
///
/// It also carries `retry:`, so a client whose connection drops unannounced (no deliberate close)
/// knows how soon to reconnect (the same delay as [`RETRY`]), as the 2025-11-25 SSE polling flow
/// expects.
pub fn priming(id: &str) -> Bytes {
    Bytes::from(format!("id: {id}\nretry: 1000\ndata: \n\n"))
}

/// Sent before the gateway closes a stream on purpose (the reader fell behind, the session
/// ended, the gateway drains): how soon to reconnect with `Last-Event-ID`.
pub const RETRY: Bytes = Bytes::from_static(b"retry: 1000\n\n");
