//! The OAuth 2.1 authorization server's grants: authorization codes (with PKCE and remembered
//! consent), the token endpoint's grant types, revocation (RFC 7009) and introspection
//! (RFC 7662). The HTTP side (pages, forms, cookies, error bodies) is `web::oauth`; this module
//! decides, stores and issues.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the service, its settings and errors |
//! | `codes.rs` | minting and redeeming authorization codes; remembered consent |
//! | `grants.rs` | `refresh_token`, `client_credentials`, `password`; revoke and introspect |
//! | `pkce.rs` | S256 only |
//! | `id_token.rs` | OpenID Connect ID tokens |
//! | `signed.rs` | HMAC-signed values handed to browsers (pending requests, sessions, CSRF) |
//!
//! Nothing here is on the `/mcp` request path.

mod codes;
mod grants;
pub mod id_token;
pub mod pkce;
pub mod signed;

use std::sync::Arc;
use std::time::Duration;

pub use codes::{CodeExchange, CodeRequest};
pub use grants::IntrospectionCaller;

use super::clients::{Client, ClientRegistry};
use super::identity::{AuthError, Identity, TokenResponse};
use super::scopes::ScopeSet;
use crate::storage::{Database, StorageError};

/// The `[oauth]` settings the grants read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationSettings {
    /// How long an authorization code may be redeemed (`oauth.code_ttl_s`).
    pub code_ttl: Duration,
    /// The resource owner password grant (`oauth.password_grant_enabled`): off by default.
    pub password_grant_enabled: bool,
}

impl Default for AuthorizationSettings {
    fn default() -> Self {
        AuthorizationSettings {
            code_ttl: Duration::from_secs(60),
            password_grant_enabled: false,
        }
    }
}

/// Why a grant was refused; each variant is the RFC 6749 §5.2 (or RFC 8707) error code the
/// token endpoint answers with, and the text is safe to show (never a secret).
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidGrant(String),
    #[error("{0}")]
    UnauthorizedClient(String),
    #[error("{0}")]
    UnsupportedGrantType(String),
    #[error("{0}")]
    InvalidScope(String),
    #[error("{0}")]
    InvalidTarget(String),
    /// Storage or signing failed; logged by the caller, answered as `server_error`.
    #[error("{0}")]
    Server(String),
}

impl GrantError {
    pub fn code(&self) -> &'static str {
        match self {
            GrantError::InvalidRequest(_) => "invalid_request",
            GrantError::InvalidGrant(_) => "invalid_grant",
            GrantError::UnauthorizedClient(_) => "unauthorized_client",
            GrantError::UnsupportedGrantType(_) => "unsupported_grant_type",
            GrantError::InvalidScope(_) => "invalid_scope",
            GrantError::InvalidTarget(_) => "invalid_target",
            GrantError::Server(_) => "server_error",
        }
    }
}

impl From<StorageError> for GrantError {
    fn from(error: StorageError) -> Self {
        GrantError::Server(format!("storage: {error}"))
    }
}

/// The `invalid_grant` reason of a password grant with a wrong password or an unknown user:
/// the token endpoint counts these towards brute-force detection.
pub const INVALID_CREDENTIALS: &str = "invalid username or password";

/// Identity errors while issuing: the user is gone or disabled, the grant was revoked.
impl From<AuthError> for GrantError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::AccountDisabled => {
                GrantError::InvalidGrant("the account is disabled".into())
            }
            AuthError::UnknownUser => GrantError::InvalidGrant("the user no longer exists".into()),
            AuthError::InvalidCredentials => GrantError::InvalidGrant(INVALID_CREDENTIALS.into()),
            AuthError::InvalidGrant(why) => {
                GrantError::InvalidGrant(format!("refresh token: {why}"))
            }
            AuthError::Revoked => GrantError::InvalidGrant("the grant has been revoked".into()),
            AuthError::InvalidRequest(m) => GrantError::InvalidTarget(m),
            other => GrantError::Server(other.to_string()),
        }
    }
}

/// A token endpoint answer: the token pair and, when `openid` was granted, an ID token.
#[derive(Debug, Clone)]
pub struct GrantResponse {
    pub tokens: TokenResponse,
    pub id_token: Option<String>,
}

pub struct AuthorizationService {
    db: Database,
    identity: Arc<Identity>,
    clients: Arc<ClientRegistry>,
    settings: AuthorizationSettings,
}

impl AuthorizationService {
    pub fn new(
        db: Database,
        identity: Arc<Identity>,
        clients: Arc<ClientRegistry>,
        settings: AuthorizationSettings,
    ) -> Self {
        AuthorizationService {
            db,
            identity,
            clients,
            settings,
        }
    }

    pub fn settings(&self) -> &AuthorizationSettings {
        &self.settings
    }

    pub fn identity(&self) -> &Arc<Identity> {
        &self.identity
    }

    /// `<public_url>/mcp`: the resource a token request that names none gets.
    pub fn default_resource(&self) -> &str {
        self.identity.keys().access_audience()
    }

    /// Whether the client receives refresh tokens: it registered the `refresh_token` grant
    /// (rotated on every use, so public clients may hold them too — OAuth 2.1 §4.3.1).
    fn gets_refresh_tokens(client: &Client) -> bool {
        client.has_grant(super::client_metadata::GrantType::RefreshToken)
    }
}

/// Parses a request's `scope` (default `mcp` when absent), as `invalid_scope` on failure.
pub fn requested_scope(scope: Option<&str>) -> Result<ScopeSet, GrantError> {
    ScopeSet::requested_or_default(scope).map_err(|e| GrantError::InvalidScope(e.to_string()))
}
