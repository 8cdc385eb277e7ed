//! CORS, for MCP clients that run in a browser (the MCP Inspector's web UI, web apps).
//!
//! Two kinds of paths answer cross-origin requests:
//! - the OAuth endpoints a browser client calls with `fetch` (discovery documents, registration,
//!   token, revocation): any origin, since they use no cookies and authenticate clients themselves;
//! - the MCP endpoint (`/mcp`, `/mcp/{server}`): only origins the endpoint itself accepts (loopback
//!   and `mcp.allowed_origins`, the DNS-rebinding rule), echoed back with `Vary: Origin`.
//!
//! Preflights (`OPTIONS` + `Access-Control-Request-Method`) are answered here, before
//! authentication: browsers never send credentials on them. Everything else passes through, and
//! the response gets the headers. `/authorize` is a page the browser navigates to, not a `fetch`
//! target, so it gets none (its CSP and frame rules stay the only ones).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, web};

use crate::mcp::is_loopback_origin;
use crate::state::AppState;

/// Response headers a browser client needs to read (session id, auth challenges, back-off).
const EXPOSED: &str = "mcp-session-id, mcp-protocol-version, www-authenticate, retry-after";
const METHODS: &str = "GET, POST, PUT, DELETE, OPTIONS";
/// Preflight results may be cached this long (seconds).
const MAX_AGE: &str = "600";

/// Who may call a path cross-origin.
#[derive(Debug, PartialEq, Eq)]
enum Audience {
    Anyone,
    McpOrigins,
    Nobody,
}

fn audience(path: &str) -> Audience {
    let oauth_api = matches!(path, "/oauth/token" | "/oauth/register" | "/oauth/revoke")
        || path.starts_with("/oauth/register/")
        || path.starts_with("/.well-known/")
        || path.ends_with("/.well-known/openid-configuration");
    if oauth_api {
        Audience::Anyone
    } else if path == "/mcp" || path.starts_with("/mcp/") {
        Audience::McpOrigins
    } else {
        Audience::Nobody
    }
}

/// The `Access-Control-Allow-Origin` value for this request, if it is allowed at all.
fn allowed_origin(req: &ServiceRequest) -> Option<HeaderValue> {
    let origin = req.headers().get(header::ORIGIN)?;
    match audience(req.path()) {
        Audience::Anyone => Some(HeaderValue::from_static("*")),
        Audience::McpOrigins => {
            let text = origin.to_str().ok()?.trim().to_ascii_lowercase();
            let state = req.app_data::<web::Data<AppState>>()?;
            let settings = state.mcp.settings.load();
            (is_loopback_origin(&text) || settings.allowed_origins.contains(&text))
                .then(|| origin.clone())
        }
        Audience::Nobody => None,
    }
}

fn add_headers(headers: &mut HeaderMap, allow_origin: HeaderValue) {
    if allow_origin != "*" {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED),
    );
}

pub async fn cors<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let allow_origin = allowed_origin(&req);
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let mut response = HttpResponse::build(StatusCode::NO_CONTENT);
        if let Some(origin) = allow_origin {
            response
                .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, METHODS))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, MAX_AGE));
            // Any request header may be sent (MCP adds `Mcp-Param-*` headers of its own).
            if let Some(asked) = req.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
                response.insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone()));
            }
            let mut response = response.finish();
            add_headers(response.headers_mut(), origin);
            return Ok(req.into_response(response).map_into_right_body());
        }
        // Not allowed: an answer without CORS headers, which the browser treats as a refusal.
        return Ok(req.into_response(response.finish()).map_into_right_body());
    }
    let mut response = next.call(req).await?;
    if let Some(origin) = allow_origin {
        add_headers(response.headers_mut(), origin);
    }
    Ok(response.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_who_may_call_them() {
        assert_eq!(audience("/oauth/token"), Audience::Anyone);
        assert_eq!(audience("/oauth/register/abc"), Audience::Anyone);
        assert_eq!(
            audience("/.well-known/oauth-authorization-server"),
            Audience::Anyone
        );
        assert_eq!(
            audience("/oauth/token/.well-known/openid-configuration"),
            Audience::Anyone
        );
        assert_eq!(audience("/mcp"), Audience::McpOrigins);
        assert_eq!(audience("/mcp/files"), Audience::McpOrigins);
        assert_eq!(audience("/authorize"), Audience::Nobody);
        assert_eq!(audience("/admin/api/users"), Audience::Nobody);
        assert_eq!(audience("/auth/login"), Audience::Nobody);
        assert_eq!(audience("/oauth/introspect"), Audience::Nobody);
    }
}
