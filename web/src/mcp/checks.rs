//! Header checks every MCP request passes before its body is read: Origin (DNS rebinding),
//! Accept, Content-Type and the protocol version.

use actix_web::HttpRequest;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actors::mcp::{ErrorCode, versions};

use super::McpSettings;
use super::reply;

/// 403 for an Origin that is neither loopback, the public URL's, nor configured.
pub fn origin(req: &HttpRequest, settings: &McpSettings) -> Result<(), HttpResponse> {
    let Some(origin) = req.headers().get("origin") else {
        return Ok(()); // Not a browser: nothing to rebind.
    };
    let origin = origin.to_str().unwrap_or("").trim().to_ascii_lowercase();
    if is_loopback_origin(&origin) || settings.allowed_origins.contains(&origin) {
        return Ok(());
    }
    Err(reply::error(
        StatusCode::FORBIDDEN,
        None,
        ErrorCode::InvalidRequest,
        &format!("Origin `{origin}` is not allowed; add it to mcp.allowed_origins if it is yours."),
    ))
}

pub(crate) fn is_loopback_origin(origin: &str) -> bool {
    let Ok(url) = url::Url::parse(origin) else {
        return false;
    };
    matches!(url.scheme(), "http" | "https")
        && match url.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        }
}

/// 406 unless the client accepts both JSON and SSE answers (the spec's MUST for clients).
pub fn accept(req: &HttpRequest) -> Result<(), HttpResponse> {
    let accept = req
        .headers()
        .get_all("accept")
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let ranges: Vec<&str> = accept
        .split(',')
        .map(|r| r.split(';').next().unwrap_or("").trim())
        .collect();
    let allows = |full: &str, family: &str| {
        ranges
            .iter()
            .any(|r| *r == full || *r == family || *r == "*/*")
    };
    if allows("application/json", "application/*") && allows("text/event-stream", "text/*") {
        return Ok(());
    }
    Err(reply::error(
        StatusCode::NOT_ACCEPTABLE,
        None,
        ErrorCode::InvalidRequest,
        "Send `Accept: application/json, text/event-stream`: answers come as JSON or as an event stream.",
    ))
}

/// 415 for a body that is not declared as JSON.
pub fn content_type(req: &HttpRequest) -> Result<(), HttpResponse> {
    let ct = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/json")
    {
        return Ok(());
    }
    Err(reply::error(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        None,
        ErrorCode::InvalidRequest,
        "Send the JSON-RPC message with `Content-Type: application/json`.",
    ))
}

/// The `MCP-Protocol-Version` header after initialize: absent means 2025-03-26; an unsupported
/// value is a 400 that lists ours.
pub fn protocol_version(req: &HttpRequest) -> Result<Option<String>, HttpResponse> {
    let Some(value) = req.headers().get(actors::mcp::headers::PROTOCOL_VERSION) else {
        return Ok(None);
    };
    let value = value.to_str().unwrap_or("").trim().to_string();
    if versions::is_supported(&value) {
        return Ok(Some(value));
    }
    Err(unsupported_version(None, &value))
}

pub fn unsupported_version(
    id: Option<&serde_json::value::RawValue>,
    version: &str,
) -> HttpResponse {
    let supported =
        serde_json::json!({ "supported": versions::SUPPORTED, "requested": version }).to_string();
    reply::error_with_data(
        StatusCode::BAD_REQUEST,
        id,
        ErrorCode::UnsupportedProtocolVersion,
        &format!(
            "Protocol version `{version}` is not supported; this gateway speaks {} — start with `initialize`.",
            versions::SUPPORTED.join(", ")
        ),
        Some(&supported),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_origins_are_recognised() {
        assert!(is_loopback_origin("http://localhost:6274"));
        assert!(is_loopback_origin("http://127.0.0.1"));
        assert!(is_loopback_origin("https://[::1]:8443"));
        assert!(!is_loopback_origin("http://evil.example.com"));
        assert!(!is_loopback_origin("http://localhost.evil.com"));
        assert!(!is_loopback_origin("null"));
    }
}
