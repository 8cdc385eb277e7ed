//! The minimal JSON-RPC envelope the forwarding path reads, and byte-level id splicing.
//!
//! Messages stay bytes: we borrow `id` and `method` (and a notification's `requestId`) as
//! `RawValue`s pointing into the caller's buffer, and when an id must change we splice new
//! bytes into exactly that range. Key order, unknown fields, big integers and whitespace
//! elsewhere in the message are untouched by construction.

use serde::Deserialize;
use serde_json::value::RawValue;

/// The routing fields of one JSON-RPC message, borrowed from its bytes.
#[derive(Deserialize)]
pub(crate) struct Envelope<'a> {
    #[serde(default, borrow)]
    pub id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub method: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub result: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub error: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub params: Option<&'a RawValue>,
}

impl<'a> Envelope<'a> {
    /// Parses the envelope of a single message (not a batch).
    pub fn parse(message: &'a [u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(message).map_err(|_| "the message is not UTF-8")?;
        serde_json::from_str(text).map_err(|_| "the message is not a JSON-RPC object".to_owned())
    }

    /// Whether this is a response (to any id).
    pub fn is_response(&self) -> bool {
        self.method.is_none() && (self.result.is_some() || self.error.is_some())
    }

    /// The method name, when it is a plain string.
    pub fn method_name(&self) -> Option<String> {
        self.method
            .and_then(|m| serde_json::from_str::<String>(m.get()).ok())
    }
}

/// The `requestId` of a `notifications/cancelled` (or a progress token's owner), borrowed.
#[derive(Deserialize)]
pub(crate) struct CancelParams<'a> {
    #[serde(default, borrow, rename = "requestId")]
    pub request_id: Option<&'a RawValue>,
}

/// The byte range of `part` inside `whole`; `part` must have been borrowed from `whole`.
pub(crate) fn span_of(whole: &[u8], part: &RawValue) -> Option<std::ops::Range<usize>> {
    let start = (part.get().as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    let end = start + part.get().len();
    (end <= whole.len()).then_some(start..end)
}

/// `whole` with the bytes in `range` replaced by `replacement`.
pub(crate) fn splice(whole: &[u8], range: std::ops::Range<usize>, replacement: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(whole.len() - range.len() + replacement.len());
    out.extend_from_slice(&whole[..range.start]);
    out.extend_from_slice(replacement);
    out.extend_from_slice(&whole[range.end..]);
    out
}

/// Whether two raw ids are the same JSON-RPC id (`1` and `1`, `"a"` and `"\u0061"`).
pub(crate) fn same_id(a: &RawValue, b: &RawValue) -> bool {
    if a.get().trim() == b.get().trim() {
        return true;
    }
    match (
        serde_json::from_str::<serde_json::Value>(a.get()),
        serde_json::from_str::<serde_json::Value>(b.get()),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splicing_the_id_leaves_every_other_byte_alone() {
        let message =
            br#"{"jsonrpc":"2.0", "id" : "abc" ,"method":"tools/call","params":{"z":1,"a":12345678901234567890123}}"#;
        let envelope = Envelope::parse(message).unwrap();
        let range = span_of(message, envelope.id.unwrap()).unwrap();
        assert_eq!(&message[range.clone()], br#""abc""#);
        let out = splice(message, range, b"42");
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"jsonrpc":"2.0", "id" : 42 ,"method":"tools/call","params":{"z":1,"a":12345678901234567890123}}"#
        );
    }

    #[test]
    fn ids_compare_as_json() {
        let a = RawValue::from_string(r#""a""#.into()).unwrap();
        let b = RawValue::from_string(r#""\u0061""#.into()).unwrap();
        let one = RawValue::from_string("1".into()).unwrap();
        assert!(same_id(&a, &b));
        assert!(!same_id(&a, &one));
    }

    #[test]
    fn responses_are_told_apart_from_requests() {
        let response = Envelope::parse(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#).unwrap();
        assert!(response.is_response());
        let request = Envelope::parse(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).unwrap();
        assert!(!request.is_response());
        assert_eq!(request.method_name().as_deref(), Some("ping"));
    }
}
