//! JSON-RPC error codes the gateway answers with, and the bytes of an error response.

use bytes::Bytes;
use serde_json::value::RawValue;

/// Every error code the gateway itself produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    ParseError,
    InvalidRequest,
    MethodNotFound,
    InvalidParams,
    InternalError,
    /// No session with that id for this user (the TypeScript SDK uses the same code).
    SessionNotFound,
    /// The client speaks a protocol revision this gateway does not (data lists ours).
    UnsupportedProtocolVersion,
    /// The backend that owns the tool/prompt/resource is down, failing or refused the request.
    BackendUnavailable,
    /// The backend did not answer within its timeout.
    BackendTimeout,
    /// The request needs a client capability the client did not declare.
    CapabilityMissing,
    /// A rate limit refused the request inside a session (data carries `retry_after_ms`).
    RateLimited,
}

impl ErrorCode {
    pub fn code(self) -> i32 {
        match self {
            ErrorCode::ParseError => -32700,
            ErrorCode::InvalidRequest => -32600,
            ErrorCode::MethodNotFound => -32601,
            ErrorCode::InvalidParams => -32602,
            ErrorCode::InternalError => -32603,
            ErrorCode::SessionNotFound => -32001,
            ErrorCode::UnsupportedProtocolVersion => -32022,
            ErrorCode::BackendUnavailable => -32010,
            ErrorCode::BackendTimeout => -32011,
            ErrorCode::CapabilityMissing => -32012,
            ErrorCode::RateLimited => -32013,
        }
    }
}

/// `{"jsonrpc":"2.0","id":<id or null>,"error":{"code":…,"message":…[,"data":…]}}`.
pub fn error_response(
    id: Option<&RawValue>,
    code: ErrorCode,
    message: &str,
    data: Option<&str>,
) -> Bytes {
    let id = id.map(RawValue::get).unwrap_or("null");
    let message = serde_json::to_string(message).unwrap_or_else(|_| "\"error\"".into());
    let mut out = String::with_capacity(64 + id.len() + message.len());
    out.push_str("{\"jsonrpc\":\"2.0\",\"id\":");
    out.push_str(id);
    out.push_str(",\"error\":{\"code\":");
    out.push_str(&code.code().to_string());
    out.push_str(",\"message\":");
    out.push_str(&message);
    if let Some(data) = data {
        out.push_str(",\"data\":");
        out.push_str(data);
    }
    out.push_str("}}");
    Bytes::from(out)
}

/// `{"jsonrpc":"2.0","id":<id>,"result":<result>}` with `result` inserted verbatim.
pub fn result_response(id: &RawValue, result: &str) -> Bytes {
    let mut out = String::with_capacity(32 + id.get().len() + result.len());
    out.push_str("{\"jsonrpc\":\"2.0\",\"id\":");
    out.push_str(id.get());
    out.push_str(",\"result\":");
    out.push_str(result);
    out.push('}');
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_valid_json_rpc() {
        let body = error_response(None, ErrorCode::ParseError, "bad \"json\"", None);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["id"], serde_json::Value::Null);
        assert_eq!(v["error"]["code"], -32700);
        assert_eq!(v["error"]["message"], "bad \"json\"");
        let id = RawValue::from_string("12345678901234567890".into()).unwrap();
        let body = result_response(&id, "{}");
        assert_eq!(
            &body[..],
            br#"{"jsonrpc":"2.0","id":12345678901234567890,"result":{}}"#
        );
    }
}
