//! Reading JSON-RPC replies out of Streamable HTTP responses.
//!
//! A server may answer a request with one `application/json` message or with a
//! `text/event-stream` that carries notifications and requests before the reply, so the reply is
//! found by its id. A JSON-RPC error is a failed call, never a fast success.

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use thiserror::Error;

/// Why a response did not hold the successful reply that was asked for.
#[derive(Debug, Error, PartialEq)]
pub enum ReplyError {
    #[error("JSON-RPC error {code}: {message}")]
    JsonRpc { code: i64, message: String },
    #[error("malformed reply: {0}")]
    Malformed(String),
    #[error("no reply with id {0} in the response")]
    NoMatchingReply(u64),
    #[error("unexpected content type {0:?}")]
    ContentType(String),
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    error: Option<ErrorObject>,
}

#[derive(Deserialize)]
struct ErrorObject {
    code: i64,
    #[serde(default)]
    message: String,
}

/// The `result` of the reply with `id`, from a response body of the given content type.
pub fn parse_reply(content_type: &str, body: &[u8], id: u64) -> Result<Box<RawValue>, ReplyError> {
    let media = content_type.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("application/json") {
        return match_reply(body, id)?.ok_or(ReplyError::NoMatchingReply(id));
    }
    if media.eq_ignore_ascii_case("text/event-stream") {
        let text = std::str::from_utf8(body)
            .map_err(|_| ReplyError::Malformed("event stream is not UTF-8".into()))?;
        // Empty data is a priming event (an id to resume from), not a message.
        for data in sse_data_events(text)
            .iter()
            .filter(|d| !d.trim().is_empty())
        {
            if let Some(result) = match_reply(data.as_bytes(), id)? {
                return Ok(result);
            }
        }
        return Err(ReplyError::NoMatchingReply(id));
    }
    Err(ReplyError::ContentType(content_type.to_owned()))
}

/// `Some(result)` when `message` is the reply to `id`, `None` when it is another message.
fn match_reply(message: &[u8], id: u64) -> Result<Option<Box<RawValue>>, ReplyError> {
    let envelope: Envelope<'_> =
        serde_json::from_slice(message).map_err(|e| ReplyError::Malformed(e.to_string()))?;
    let Some(reply_id) = envelope.id else {
        return Ok(None); // a notification
    };
    if reply_id.get().trim() != id.to_string() {
        return Ok(None);
    }
    if let Some(error) = envelope.error {
        return Err(ReplyError::JsonRpc {
            code: error.code,
            message: error.message,
        });
    }
    match envelope.result {
        Some(result) => Ok(Some(result.to_owned())),
        None => Ok(None), // a server-to-client request that reuses the number
    }
}

/// As [`parse_reply`], with the result read straight into `T`: one pass over a JSON body (a
/// 5,000-tool list is a megabyte; reading it as raw JSON, copying it out and reading it again
/// made the measuring client, not the server, most of the list figure). The reply in an event
/// stream is found as [`parse_reply`] finds it, then read.
pub fn parse_reply_as<T: serde::de::DeserializeOwned>(
    content_type: &str,
    body: &[u8],
    id: u64,
) -> Result<T, ReplyError> {
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/json") {
        let result = parse_reply(content_type, body, id)?;
        return serde_json::from_str(result.get())
            .map_err(|e| ReplyError::Malformed(e.to_string()));
    }
    #[derive(Deserialize)]
    struct Typed<'a, T> {
        #[serde(borrow)]
        id: Option<&'a RawValue>,
        result: Option<T>,
        error: Option<ErrorObject>,
    }
    let reply: Typed<'_, T> =
        serde_json::from_slice(body).map_err(|e| ReplyError::Malformed(e.to_string()))?;
    if reply
        .id
        .is_none_or(|reply_id| reply_id.get().trim() != id.to_string())
    {
        return Err(ReplyError::NoMatchingReply(id));
    }
    if let Some(error) = reply.error {
        return Err(ReplyError::JsonRpc {
            code: error.code,
            message: error.message,
        });
    }
    reply.result.ok_or(ReplyError::NoMatchingReply(id))
}

/// The `data` payloads of every event in an SSE body (multi-line data joined with `\n`).
pub fn sse_data_events(body: &str) -> Vec<String> {
    let mut events = Vec::new();
    let mut data: Option<String> = None;
    for line in body.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            events.extend(data.take());
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        if field == "data" {
            match data.as_mut() {
                Some(buffer) => {
                    buffer.push('\n');
                    buffer.push_str(value);
                }
                None => data = Some(value.to_owned()),
            }
        }
    }
    events.extend(data.take()); // a final event without its blank line
    events
}

/// A `tools/list` result, counted: its tools (read, not kept) and `nextCursor`.
#[derive(Deserialize)]
pub struct ToolsPage {
    tools: Vec<IgnoredAny>,
    #[serde(rename = "nextCursor")]
    next_cursor: Option<String>,
}

impl ToolsPage {
    /// The number of tools on the page and its `nextCursor`.
    pub fn counted(self) -> (usize, Option<String>) {
        (self.tools.len(), self.next_cursor)
    }
}

/// The number of tools on a `tools/list` page and its `nextCursor`.
pub fn tools_page(result: &RawValue) -> Result<(usize, Option<String>), ReplyError> {
    let page: ToolsPage =
        serde_json::from_str(result.get()).map_err(|e| ReplyError::Malformed(e.to_string()))?;
    Ok(page.counted())
}

#[derive(Deserialize)]
struct ToolsNames<'a> {
    #[serde(borrow)]
    tools: Vec<NamedTool<'a>>,
}

#[derive(Deserialize)]
struct NamedTool<'a> {
    #[serde(borrow)]
    name: std::borrow::Cow<'a, str>,
}

/// The tool names on a `tools/list` page.
pub fn tool_names(result: &RawValue) -> Result<Vec<String>, ReplyError> {
    let page: ToolsNames<'_> =
        serde_json::from_str(result.get()).map_err(|e| ReplyError::Malformed(e.to_string()))?;
    Ok(page
        .tools
        .into_iter()
        .map(|t| t.name.into_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_reply_yields_its_raw_result() {
        let body =
            br#"{"jsonrpc":"2.0","id":7,"result":{"content":[],"big":12345678901234567890}}"#;
        let result = parse_reply("application/json; charset=utf-8", body, 7).unwrap();
        assert_eq!(result.get(), r#"{"content":[],"big":12345678901234567890}"#);
    }

    #[test]
    fn json_rpc_error_is_a_failure_with_its_code() {
        let body =
            br#"{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"Method not found"}}"#;
        assert_eq!(
            parse_reply("application/json", body, 3).unwrap_err(),
            ReplyError::JsonRpc {
                code: -32601,
                message: "Method not found".into()
            }
        );
    }

    #[test]
    fn reply_with_another_id_does_not_count() {
        let body = br#"{"jsonrpc":"2.0","id":4,"result":{}}"#;
        assert_eq!(
            parse_reply("application/json", body, 5).unwrap_err(),
            ReplyError::NoMatchingReply(5)
        );
    }

    #[test]
    fn sse_reply_is_found_after_notifications_and_requests() {
        let body = "event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\r\n\r\n\
                    : keep-alive comment\n\n\
                    id: 1\ndata: {\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"roots/list\"}\n\n\
                    data:{\"jsonrpc\":\"2.0\",\n\
                    data: \"id\":9,\"result\":{\"ok\":true}}\n\n";
        let result = parse_reply("text/event-stream", body.as_bytes(), 9).unwrap();
        assert_eq!(result.get(), r#"{"ok":true}"#);
    }

    #[test]
    fn sse_priming_events_with_empty_data_are_skipped() {
        let body = "data: \nid: 0\nretry: 3000\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\nid: 1\n\n";
        assert_eq!(
            parse_reply("text/event-stream", body.as_bytes(), 1)
                .unwrap()
                .get(),
            "{}"
        );
    }

    #[test]
    fn sse_events_join_multiline_data_and_keep_a_trailing_event() {
        let events = sse_data_events("data: a\ndata: b\n\nevent: x\n\ndata: last");
        assert_eq!(events, vec!["a\nb".to_owned(), "last".to_owned()]);
    }

    #[test]
    fn unparseable_bodies_and_content_types_are_failures() {
        assert!(matches!(
            parse_reply("application/json", b"{oops", 1),
            Err(ReplyError::Malformed(_))
        ));
        assert!(matches!(
            parse_reply("text/html", b"<html>", 1),
            Err(ReplyError::ContentType(_))
        ));
        assert_eq!(
            parse_reply("text/event-stream", b"\n\n", 1).unwrap_err(),
            ReplyError::NoMatchingReply(1)
        );
    }

    #[test]
    fn typed_replies_are_read_in_one_pass_and_checked_like_raw_ones() {
        let json = br#"{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"a"},{"name":"b"}],"nextCursor":"n"}}"#;
        let page: ToolsPage = parse_reply_as("application/json", json, 7).unwrap();
        assert_eq!(page.counted(), (2, Some("n".into())));
        assert!(matches!(
            parse_reply_as::<ToolsPage>("application/json", json, 8),
            Err(ReplyError::NoMatchingReply(8))
        ));
        let error = br#"{"jsonrpc":"2.0","id":7,"error":{"code":-32602,"message":"bad"}}"#;
        assert_eq!(
            parse_reply_as::<ToolsPage>("application/json", error, 7).err(),
            Some(ReplyError::JsonRpc {
                code: -32602,
                message: "bad".into()
            })
        );
        let stream = b"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"tools\":[]}}\n\n";
        let page: ToolsPage = parse_reply_as("text/event-stream", stream, 7).unwrap();
        assert_eq!(page.counted(), (0, None));
        assert!(matches!(
            parse_reply_as::<ToolsPage>("application/json", b"{", 7),
            Err(ReplyError::Malformed(_))
        ));
    }

    #[test]
    fn tools_pages_report_count_cursor_and_names() {
        let raw = RawValue::from_string(
            r#"{"tools":[{"name":"a_echo","inputSchema":{}},{"name":"b\u005fx"}],"nextCursor":"c2"}"#.into(),
        )
        .unwrap();
        assert_eq!(tools_page(&raw).unwrap(), (2, Some("c2".into())));
        assert_eq!(
            tool_names(&raw).unwrap(),
            vec!["a_echo".to_owned(), "b_x".to_owned()]
        );
    }
}
