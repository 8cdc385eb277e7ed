//! The JSON-RPC envelope, borrowed from the request bytes: `jsonrpc`, `id`, `method`, and the
//! payload members as raw JSON. Enough to route; nothing is re-encoded.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::json;

/// One JSON-RPC message, borrowing from the body it was read from.
#[derive(Debug)]
pub struct Envelope<'a> {
    /// The whole message as sent.
    pub raw: &'a RawValue,
    pub kind: Kind<'a>,
    pub params: Option<&'a RawValue>,
}

#[derive(Debug, Clone)]
pub enum Kind<'a> {
    Request {
        id: &'a RawValue,
        method: Cow<'a, str>,
    },
    Notification {
        method: Cow<'a, str>,
    },
    /// A response (result or error) to a request the server sent the client.
    Response {
        id: &'a RawValue,
    },
}

impl<'a> Envelope<'a> {
    pub fn method(&self) -> Option<&str> {
        match &self.kind {
            Kind::Request { method, .. } | Kind::Notification { method } => Some(method),
            Kind::Response { .. } => None,
        }
    }

    pub fn id(&self) -> Option<&'a RawValue> {
        match self.kind {
            Kind::Request { id, .. } | Kind::Response { id } => Some(id),
            Kind::Notification { .. } => None,
        }
    }
}

/// What a POST body held.
#[derive(Debug)]
pub enum Incoming<'a> {
    Single(Envelope<'a>),
    /// Each element parsed on its own: one bad element does not spoil the others.
    Batch(Vec<Result<Envelope<'a>, ParseFailure<'a>>>),
}

/// Why a body or message was rejected; maps to -32700 (not JSON) or -32600 (not JSON-RPC).
#[derive(Debug, Clone)]
pub enum ParseFailure<'a> {
    NotJson(String),
    TooDeep(usize),
    EmptyBatch,
    /// Valid JSON that is not a valid JSON-RPC message; `id` when one could be read.
    Invalid {
        id: Option<&'a RawValue>,
        reason: String,
    },
}

#[derive(Deserialize)]
struct Members<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "raw_keeping_null")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<&'a RawValue>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "raw_keeping_null")]
    error: Option<&'a RawValue>,
}

/// `Option<&RawValue>` reads `null` as `None`; an explicit `"id": null` must stay visible.
fn raw_keeping_null<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Reads a POST body: one message or (the caller decides whether allowed) a batch.
pub fn parse_body(body: &[u8], max_depth: usize) -> Result<Incoming<'_>, ParseFailure<'_>> {
    if let Some(depth) = json::depth_exceeding(body, max_depth) {
        return Err(ParseFailure::TooDeep(depth));
    }
    let raw: &RawValue =
        serde_json::from_slice(body).map_err(|e| ParseFailure::NotJson(e.to_string()))?;
    if raw.get().starts_with('[') {
        let items: Vec<&RawValue> =
            serde_json::from_str(raw.get()).map_err(|e| ParseFailure::NotJson(e.to_string()))?;
        if items.is_empty() {
            return Err(ParseFailure::EmptyBatch);
        }
        return Ok(Incoming::Batch(
            items.into_iter().map(parse_message).collect(),
        ));
    }
    parse_message(raw).map(Incoming::Single)
}

/// Classifies one message and checks the JSON-RPC 2.0 rules MCP relies on.
pub fn parse_message(raw: &RawValue) -> Result<Envelope<'_>, ParseFailure<'_>> {
    let invalid = |id, reason: &str| ParseFailure::Invalid {
        id,
        reason: reason.to_string(),
    };
    if !raw.get().starts_with('{') {
        return Err(invalid(None, "a JSON-RPC message must be an object"));
    }
    let m: Members = serde_json::from_str(raw.get())
        .map_err(|e| invalid(None, &format!("malformed member: {e}")))?;
    let id = m.id.filter(|id| is_valid_id(id));
    if m.jsonrpc.map(RawValue::get) != Some("\"2.0\"") {
        return Err(invalid(id, "`jsonrpc` must be \"2.0\""));
    }
    if m.id.is_some() && id.is_none() {
        return Err(invalid(None, "`id` must be a string or an integer"));
    }
    let method = match m.method {
        Some(raw_method) => match json::as_str(raw_method) {
            Some(method) if !method.is_empty() => Some(method),
            _ => return Err(invalid(id, "`method` must be a non-empty string")),
        },
        None => None,
    };
    if let Some(params) = m.params
        && !(params.get().starts_with('{') || params.get().starts_with('['))
    {
        return Err(invalid(id, "`params` must be an object or an array"));
    }
    let kind = match (method, id, m.result.is_some() || m.error.is_some()) {
        (Some(method), Some(id), false) => Kind::Request { id, method },
        (Some(method), None, false) => Kind::Notification { method },
        (None, Some(id), true) => Kind::Response { id },
        (None, _, false) => {
            return Err(invalid(
                id,
                "a message needs a `method` (or a `result`/`error`)",
            ));
        }
        _ => {
            return Err(invalid(
                id,
                "a message cannot be both a request and a response",
            ));
        }
    };
    Ok(Envelope {
        raw,
        kind,
        params: m.params,
    })
}

/// MCP ids are strings or integers; `null`, floats, objects and booleans are refused.
fn is_valid_id(id: &RawValue) -> bool {
    let text = id.get();
    match text.as_bytes().first() {
        Some(b'"') => true,
        Some(b'-' | b'0'..=b'9') => !text.contains(['.', 'e', 'E']),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(body: &str) -> Envelope<'_> {
        match parse_body(body.as_bytes(), 64).unwrap() {
            Incoming::Single(e) => e,
            Incoming::Batch(_) => panic!("batch"),
        }
    }

    #[test]
    fn requests_notifications_and_responses_are_told_apart() {
        let r = single(r#"{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{}}"#);
        assert_eq!(r.method(), Some("tools/list"));
        assert!(matches!(r.kind, Kind::Request { .. }));
        assert_eq!(r.id().unwrap().get(), "7");
        let n = single(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        assert!(matches!(n.kind, Kind::Notification { .. }));
        assert_eq!(n.method(), Some("notifications/initialized"));
        let resp = single(r#"{"jsonrpc":"2.0","id":"a","result":{}}"#);
        assert!(matches!(resp.kind, Kind::Response { .. }));
    }

    #[test]
    fn big_ids_and_unknown_members_survive_untouched() {
        let body = r#"{"jsonrpc":"2.0","id":12345678901234567890,"method":"x","params":{"b":1,"a":2},"extra":true}"#;
        let e = single(body);
        assert_eq!(e.id().unwrap().get(), "12345678901234567890");
        assert_eq!(e.params.unwrap().get(), r#"{"b":1,"a":2}"#);
        assert_eq!(e.raw.get(), body);
    }

    #[test]
    fn bad_messages_get_precise_reasons() {
        let fail = |body: &'static str| parse_body(body.as_bytes(), 64).unwrap_err();
        assert!(matches!(fail("{not json"), ParseFailure::NotJson(_)));
        assert!(matches!(fail("[]"), ParseFailure::EmptyBatch));
        assert!(matches!(
            fail(r#"{"id":1,"method":"x"}"#),
            ParseFailure::Invalid { id: Some(_), .. }
        ));
        assert!(matches!(
            fail(r#"{"jsonrpc":"2.0","id":null,"method":"x"}"#),
            ParseFailure::Invalid { id: None, .. }
        ));
        assert!(matches!(
            fail(r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#),
            ParseFailure::Invalid { .. }
        ));
        assert!(matches!(
            fail(r#"{"jsonrpc":"2.0","id":1,"method":5}"#),
            ParseFailure::Invalid { .. }
        ));
        assert!(matches!(
            fail(r#"{"jsonrpc":"2.0","id":1,"method":"x","params":3}"#),
            ParseFailure::Invalid { .. }
        ));
        assert!(matches!(
            fail(r#"{"jsonrpc":"2.0","id":1}"#),
            ParseFailure::Invalid { .. }
        ));
        assert!(matches!(fail("3"), ParseFailure::Invalid { .. }));
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(matches!(
            parse_body(deep.as_bytes(), 64),
            Err(ParseFailure::TooDeep(_))
        ));
    }

    #[test]
    fn batches_parse_each_element_on_its_own() {
        let body = r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}, {"bad":true}]"#;
        let Incoming::Batch(items) = parse_body(body.as_bytes(), 64).unwrap() else {
            panic!()
        };
        assert!(items[0].is_ok());
        assert!(items[1].is_err());
    }
}
