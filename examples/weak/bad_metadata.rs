//! The weak server's OAuth discovery documents, present but inconsistent: the protected-resource
//! metadata (RFC 9728) names a resource other than the endpoint, and the authorization server it
//! points at publishes metadata (RFC 8414) under another issuer. Clients that check (as MCP
//! clients must) refuse to log in; clients that do not can be steered to the wrong server.

use axum::http::{HeaderMap, header};
use axum::routing::get;
use serde_json::{Value, json};

/// Where the protected-resource metadata points for tokens: served here, under this path.
const ISSUER_PATH: &str = "/issuer";

/// The discovery routes (path-suffixed well-known URLs for `/mcp` and the issuer).
pub fn routes() -> axum::Router {
    axum::Router::new()
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(protected_resource),
        )
        .route(
            &format!("/.well-known/oauth-authorization-server{ISSUER_PATH}"),
            get(authorization_server),
        )
}

/// `http://<Host>`: the documents point back at this server however the client reached it.
fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

async fn protected_resource(headers: HeaderMap) -> axum::Json<Value> {
    axum::Json(json!({
        // The internal name a reverse proxy hides, not the URL clients use.
        "resource": "http://mcp-internal.invalid:8080/mcp",
        "authorization_servers": [format!("{}{ISSUER_PATH}", origin(&headers))],
    }))
}

async fn authorization_server(headers: HeaderMap) -> axum::Json<Value> {
    let origin = origin(&headers);
    // Everything else is in order, so only the two inconsistencies show.
    axum::Json(json!({
        "issuer": "https://login.example.test",
        "authorization_endpoint": format!("{origin}/authorize"),
        "token_endpoint": format!("{origin}/token"),
        "registration_endpoint": format!("{origin}/register"),
        "code_challenge_methods_supported": ["S256"],
    }))
}
