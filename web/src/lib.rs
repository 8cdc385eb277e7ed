//! The gateway's HTTP face (actix-web): routes, middleware and the error → status mapping.
//!
//! Handlers stay thin — extract, read a snapshot or make one call into `actors`, respond. This crate
//! never touches diesel; it reaches storage only through the `actors` services.
#![forbid(unsafe_code)]

pub mod admin_api;
pub mod audit_events;
pub mod auth_routes;
pub mod authn;
pub mod config_control;
pub mod console;
pub mod cors;
pub mod error;
pub mod health;
pub mod jwks;
pub mod login;
pub mod mcp;
pub mod metrics;
pub mod oauth;
pub mod request_context;
pub mod security_events;
pub mod state;
pub mod well_known;

use actix_web::{HttpRequest, web};

pub use error::WebError;
pub use state::{AppState, WebSettings};

/// Every route of the gateway. Middleware (`request_context`, then `authn::require_auth`) is
/// added by the caller because actix's `wrap` changes the `App` type.
///
/// Actix tries resources in registration order, and a pattern with a `{…}` segment is a regex
/// run (with a match cache per worker thread, ~2 KB each) for every path that reaches it. So
/// `/mcp` comes first: the hot path matches at once (no other route starts with `/mcp`). The
/// public endpoints follow (sign-in, token, health, metadata): none shares a prefix with the
/// admin API or the console, which come last with their hundred-odd id patterns.
pub fn routes(cfg: &mut web::ServiceConfig) {
    mcp::configure(cfg);
    auth_routes::configure(cfg);
    health::configure(cfg);
    jwks::configure(cfg);
    login::configure(cfg);
    metrics::configure(cfg);
    oauth::configure(cfg);
    well_known::configure(cfg);
    admin_api::configure(cfg);
    console::configure(cfg);
}

/// JSON bodies that fail to parse get a 400 that says why, in our error format.
pub fn json_config(max_body_bytes: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(max_body_bytes)
        .error_handler(|error, _req: &HttpRequest| {
            use actix_web::error::JsonPayloadError as J;
            let web_error = match &error {
                J::Overflow { limit } | J::OverflowKnownLength { limit, .. } => {
                    WebError::PayloadTooLarge(format!(
                        "The request body exceeds the {limit}-byte limit."
                    ))
                }
                J::ContentType => WebError::BadRequest(
                    "Send the body as JSON with `Content-Type: application/json`.".into(),
                ),
                other => WebError::BadRequest(format!(
                    "The request body is not the expected JSON: {other}."
                )),
            };
            web_error.into()
        })
}

/// Unknown paths (reached only by authenticated callers) get a JSON 404.
pub async fn not_found(req: HttpRequest) -> actix_web::HttpResponse {
    actix_web::HttpResponse::NotFound().json(serde_json::json!({
        "error": "not_found",
        "detail": format!("No route for {} {}.", req.method(), req.path()),
    }))
}
