//! The OAuth 2.1 authorization server's HTTP face. This part: client registration (RFC 7591
//! `POST /oauth/register`, RFC 7592 `GET|PUT|DELETE /oauth/register/{client_id}`). The discovery
//! documents are in `well_known`; the authorization, token, revocation and introspection
//! endpoints build on the services held here.

pub mod error;
mod register;

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::{HttpRequest, web};
use actors::auth::cimd::ClientResolver;
use actors::auth::clients::{ClientRegistry, ConfiguredSecret};
use actors::ratelimit::KeyedGcra;

pub use error::OAuthError;

/// What the OAuth endpoints read; fixed for the life of the process (the `[oauth]` keys are
/// restart-only).
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthSettings {
    pub dcr_enabled: bool,
    /// `oauth.dcr_initial_access_token`, held as a digest.
    pub initial_access_token: Option<ConfiguredSecret>,
    pub cimd_enabled: bool,
    /// What the OpenID metadata advertises for `id_token`s.
    pub id_token_signing_alg: String,
}

pub struct OAuthState {
    pub settings: OAuthSettings,
    pub clients: Arc<ClientRegistry>,
    /// `client_id` → client, through the registry or a metadata document.
    pub resolver: Arc<ClientResolver>,
    /// Registrations per client IP.
    pub dcr_limiter: Arc<KeyedGcra<IpAddr>>,
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
}
