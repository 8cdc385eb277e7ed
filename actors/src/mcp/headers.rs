//! The HTTP header names and fixed values MCP's Streamable HTTP transport uses, built once. A
//! name given as text is parsed at every use and, not being a standard header, copied into a
//! new buffer each time: several allocations per forwarded request.

use awc::http::header::{HeaderName, HeaderValue};

/// `Mcp-Session-Id` (header names are case-insensitive; HTTP/1 sends them in lowercase here).
pub const SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
/// `MCP-Protocol-Version`.
pub const PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// `Last-Event-ID`, resuming an event stream.
pub const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// The `Accept` of a POST: a JSON answer or an event stream.
pub const ACCEPT_JSON_OR_STREAM: HeaderValue =
    HeaderValue::from_static("application/json, text/event-stream");
/// `text/event-stream`: the `Accept` of a GET stream and the `Content-Type` of any stream.
pub const EVENT_STREAM: HeaderValue = HeaderValue::from_static("text/event-stream");
/// The `Content-Type` of a JSON message.
pub const JSON: HeaderValue = HeaderValue::from_static("application/json");
