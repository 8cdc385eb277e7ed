//! The little JSON-RPC the backend actor needs: build requests, find responses by id.
//!
//! Only the envelope is parsed (`id`, `method`, `result`/`error` as raw JSON) so tool lists and
//! results reach the cache byte-for-byte as the backend sent them.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::BackendError;

/// The routing fields of any JSON-RPC message.
#[derive(Deserialize)]
pub(crate) struct Envelope<'a> {
    #[serde(default, borrow)]
    pub id: Option<&'a RawValue>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default, borrow)]
    pub params: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub result: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub error: Option<&'a RawValue>,
}

impl Envelope<'_> {
    /// The numeric id of a response (we only ever send numeric ids).
    pub fn response_id(&self) -> Option<u64> {
        if self.method.is_some() {
            return None;
        }
        self.id.and_then(|id| id.get().trim().parse().ok())
    }
}

#[derive(Deserialize)]
struct RpcErrorBody {
    code: i64,
    #[serde(default)]
    message: String,
}

/// Serialises a request (with `id`) or a notification (without).
pub(crate) fn encode(id: Option<u64>, method: &str, params: Option<&RawValue>) -> Vec<u8> {
    let mut out = String::with_capacity(96);
    out.push_str(r#"{"jsonrpc":"2.0","#);
    if let Some(id) = id {
        out.push_str(&format!(r#""id":{id},"#));
    }
    out.push_str(r#""method":"#);
    out.push_str(&serde_json::to_string(method).unwrap_or_else(|_| "\"\"".into()));
    if let Some(params) = params {
        out.push_str(r#","params":"#);
        out.push_str(params.get());
    }
    out.push('}');
    out.into_bytes()
}

/// Our answer to a request a backend sent the gateway's own session (server → client). The
/// gateway declares roots (none to show), sampling and elicitation only so that backends list
/// everything; relaying those requests to clients is the request path's job, not this session's.
pub(crate) fn answer_server_request(id: &RawValue, method: &str) -> Vec<u8> {
    let id = id.get();
    match method {
        "ping" => format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#),
        "roots/list" => format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"roots":[]}}}}"#),
        _ => format!(
            r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32601,"message":"Method not found"}}}}"#
        ),
    }
    .into_bytes()
}

/// A message the backend sent the gateway's own session outside an answer: notes list changes
/// (wakes `lists_changed`) and returns our answer to its requests, for the caller to send.
pub(crate) fn on_backend_message(
    message: &[u8],
    lists_changed: &tokio::sync::Notify,
    log: &slog::Logger,
) -> Option<Vec<u8>> {
    let Ok(envelope) = serde_json::from_slice::<Envelope<'_>>(message) else {
        slog::debug!(log, "Skipped a backend event that is not JSON-RPC.";
            "bytes" => message.len());
        return None;
    };
    match (envelope.method.as_deref(), envelope.id) {
        (Some(method), Some(id)) => Some(answer_server_request(id, method)),
        (Some(method), None) => {
            if super::capabilities::is_list_changed(method) {
                lists_changed.notify_one();
            }
            slog::debug!(log, "Received a backend notification."; "method" => method);
            None
        }
        _ => {
            slog::debug!(log, "Dropped a response nobody waits for.");
            None
        }
    }
}

/// A response to one of our requests, kept raw until the caller wants the result.
#[derive(Debug)]
pub(crate) struct Response(pub Box<RawValue>);

impl Response {
    /// The `result`, or the JSON-RPC error turned into a [`BackendError::Rpc`].
    pub fn into_result(self) -> Result<Box<RawValue>, BackendError> {
        let envelope: Envelope<'_> = serde_json::from_str(self.0.get())
            .map_err(|_| BackendError::Protocol("a response is not a JSON-RPC object".into()))?;
        if let Some(error) = envelope.error {
            let body: RpcErrorBody = serde_json::from_str(error.get()).map_err(|_| {
                BackendError::Protocol("an error response has no numeric code".into())
            })?;
            let mut message = body.message;
            message.truncate(200);
            return Err(BackendError::Rpc {
                code: body.code,
                message,
            });
        }
        match envelope.result {
            Some(result) => Ok(result.to_owned()),
            None => Err(BackendError::Protocol(
                "a response has neither result nor error".into(),
            )),
        }
    }
}

/// The largest SSE event (or unfinished line) accepted from a backend: 16 MiB, like the
/// largest JSON answer.
pub(crate) const MAX_SSE_EVENT: usize = 16 * 1024 * 1024;

/// A backend sent an event larger than [`MAX_SSE_EVENT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SseTooLarge;

impl std::fmt::Display for SseTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "an event exceeds {} MiB", MAX_SSE_EVENT >> 20)
    }
}

/// Incremental `text/event-stream` parser (only what MCP uses: `data`, `event`, blank-line
/// dispatch). Chunk boundaries can fall anywhere, including inside a CRLF.
#[derive(Default)]
pub(crate) struct SseParser {
    buffer: Vec<u8>,
    data: String,
    event: String,
}

/// One dispatched SSE event.
pub(crate) struct SseEvent {
    pub event: String,
    pub data: String,
}

impl SseParser {
    /// Parses what `chunk` completes. An event or line over [`MAX_SSE_EVENT`] is an error: a
    /// backend must not be able to make the gateway buffer without bound.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, SseTooLarge> {
        if self.buffer.len() + self.data.len() + chunk.len() > MAX_SSE_EVENT {
            self.buffer.clear();
            self.data.clear();
            return Err(SseTooLarge);
        }
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(end) = self.buffer.iter().position(|b| *b == b'\n' || *b == b'\r') {
            // A lone CR at the end of the buffer may be the first half of CRLF: wait for more.
            if self.buffer[end] == b'\r' && end + 1 == self.buffer.len() {
                break;
            }
            let skip = if self.buffer[end] == b'\r' && self.buffer.get(end + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
            let line: Vec<u8> = self.buffer.drain(..end + skip).take(end).collect();
            let line = String::from_utf8_lossy(&line);
            if line.is_empty() {
                if !self.data.is_empty() || !self.event.is_empty() {
                    events.push(SseEvent {
                        event: std::mem::take(&mut self.event),
                        data: std::mem::take(&mut self.data),
                    });
                }
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                None => (line.as_ref(), ""),
            };
            match field {
                "data" => {
                    if !self.data.is_empty() {
                        self.data.push('\n');
                    }
                    self.data.push_str(value);
                }
                "event" => self.event = value.to_owned(),
                _ => {} // id, retry and comments do not matter for one request's answer.
            }
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_parser_handles_split_chunks_and_crlf() {
        let mut parser = SseParser::default();
        assert!(parser.feed(b"id: 1\r\ndata:\r\n\r").unwrap().is_empty());
        let events = parser
            .feed(b"\nevent: message\ndata: {\"a\":\ndata: 1}\n\n: keep-alive\n\n")
            .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event, "message");
        assert_eq!(events[0].data, "{\"a\":\n1}");
    }

    #[test]
    fn error_response_becomes_rpc_error() {
        let raw = RawValue::from_string(
            r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"nope"}}"#.into(),
        )
        .unwrap();
        let err = Response(raw).into_result().unwrap_err();
        assert_eq!(
            err,
            BackendError::Rpc {
                code: -32601,
                message: "nope".into()
            }
        );
    }

    #[test]
    fn encode_keeps_params_verbatim() {
        let params = RawValue::from_string(r#"{"big":12345678901234567890}"#.into()).unwrap();
        let bytes = encode(Some(7), "tools/list", Some(&params));
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"big":12345678901234567890}}"#
        );
    }

    #[test]
    fn an_oversized_event_is_an_error_not_a_buffer() {
        let mut parser = SseParser::default();
        let chunk = vec![b'x'; 1 << 20];
        let mut result = Ok(Vec::new());
        for _ in 0..20 {
            result = parser.feed(&chunk);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result.err(), Some(SseTooLarge));
        assert!(
            parser.feed(b"data: ok\n\n").unwrap().len() == 1,
            "usable again after the error"
        );
    }
}
