//! The OAuth 2.1 authorization server's HTTP face: client registration (RFC 7591
//! `POST /oauth/register`, RFC 7592 `GET|PUT|DELETE /oauth/register/{client_id}`), the
//! authorization endpoint with its login and consent pages (`GET|POST /authorize`), the token
//! endpoint (`POST /oauth/token`), revocation (`POST /oauth/revoke`, RFC 7009) and
//! introspection (`POST /oauth/introspect`, RFC 7662). The discovery documents are in
//! `well_known`; the decisions and storage are in `actors::auth::authorization`.

pub(crate) mod authorize;
mod client_auth;
pub mod error;
pub(crate) mod form;
mod register;
mod revoke;
mod token;

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::{HttpMessage, HttpRequest, web};
use actors::auth::authorization::AuthorizationService;
use actors::auth::authorization::signed::Signer;
use actors::auth::cimd::ClientResolver;
use actors::auth::clients::{ClientRegistry, ConfiguredSecret};
use actors::ratelimit::RateLimiter;

pub use error::OAuthError;

/// What the OAuth endpoints read; fixed for the life of the process (the `[oauth]` keys are
/// restart-only, except `dcr_enabled`, which is in [`crate::WebSettings`], and the registration
/// quota, which the rate limiter holds).
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthSettings {
    /// `oauth.dcr_initial_access_token`, held as a digest.
    pub initial_access_token: Option<ConfiguredSecret>,
    pub cimd_enabled: bool,
    /// What the OpenID metadata advertises for `id_token`s.
    pub id_token_signing_alg: String,
    /// How long the login cookie keeps a browser signed in (`oauth.login_session_ttl_s`).
    pub login_session_ttl: std::time::Duration,
}

pub struct OAuthState {
    pub settings: OAuthSettings,
    pub clients: Arc<ClientRegistry>,
    /// `client_id` → client, through the registry or a metadata document.
    pub resolver: Arc<ClientResolver>,
    /// Codes, consent and the token endpoint's grants.
    pub authorization: Arc<AuthorizationService>,
    /// Signs the pending authorization request, the login cookie and CSRF tokens.
    pub signer: Signer,
    /// The per-IP limits of sign-in (login page and password grant), `/oauth/token` and
    /// registration; the `RateLimitActor` owns their settings and reaping.
    pub rate_limiter: Arc<RateLimiter>,
}

/// The request's logger (carrying its request id), or the root logger.
pub(crate) fn request_log(req: &HttpRequest, log: &slog::Logger) -> slog::Logger {
    req.extensions()
        .get::<crate::request_context::RequestContext>()
        .map_or_else(|| log.clone(), |c| c.log.clone())
}

/// The client's address as `request_context` worked it out (X-Forwarded-For only from trusted
/// proxies); the unspecified address when unknown, so such requests share one limit.
pub(crate) fn client_ip(req: &HttpRequest) -> IpAddr {
    req.extensions()
        .get::<crate::request_context::RequestContext>()
        .and_then(|c| c.client_ip)
        .unwrap_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED))
}

/// Whether `uri` is a resource tokens may be issued for: `<p>/mcp`, or `<p>/mcp/<server>` for a
/// configured backend (RFC 8707). The error says why not (for `invalid_target`).
pub(crate) fn check_resource(state: &crate::state::AppState, uri: &str) -> Result<(), String> {
    let issuer = state.settings.load().public_url.clone();
    let mcp = format!("{issuer}/mcp");
    if uri == mcp {
        return Ok(());
    }
    let known = uri
        .strip_prefix(&format!("{mcp}/"))
        .filter(|_| state.identity.keys().is_resource(uri))
        .is_some_and(|server| {
            state
                .gateway
                .get()
                .is_some_and(|g| g.statuses().iter().any(|s| s.name == server))
        });
    if known {
        Ok(())
    } else {
        Err(format!(
            "resource `{uri}` is not served here; use {mcp} or {mcp}/<server> for a configured \
             backend"
        ))
    }
}

/// The credential in `Authorization: Bearer …`, if any (scheme case-insensitive).
pub(crate) fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    register::configure(cfg);
    authorize::configure(cfg);
    token::configure(cfg);
    revoke::configure(cfg);
}
