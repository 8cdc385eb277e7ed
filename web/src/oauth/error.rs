//! Errors of the OAuth endpoints, answered the way OAuth clients parse them: RFC 6749 §5.2 /
//! RFC 7591 §3.2.2 bodies `{"error", "error_description"}`, never cached.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use actors::auth::authorization::GrantError;
use actors::auth::client_metadata::MetadataError;

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// RFC 7591: a redirect URI broke a rule.
    #[error("{0}")]
    InvalidRedirectUri(String),
    /// RFC 7591: any other metadata problem (including a body that is not JSON).
    #[error("{0}")]
    InvalidClientMetadata(String),
    /// A missing or wrong initial access token or registration access token (RFC 6750 §3.1).
    #[error("{0}")]
    InvalidToken(String),
    /// Registration is switched off, or the client cap is reached.
    #[error("{0}")]
    AccessDenied(String),
    #[error("{detail}")]
    TooManyRequests {
        detail: String,
        retry_after: Duration,
    },
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Storage or another internal failure; the detail never carries a secret.
    #[error("{0}")]
    ServerError(String),
    /// RFC 6749 §5.2: a malformed token, revocation or introspection request.
    #[error("{0}")]
    InvalidRequest(String),
    /// RFC 6749 §5.2: client authentication failed. `basic`: the client tried HTTP Basic, so
    /// the answer carries `WWW-Authenticate: Basic`.
    #[error("{detail}")]
    InvalidClient { detail: String, basic: bool },
    /// A grant refused by the authorization service (its code is the RFC 6749 error).
    #[error(transparent)]
    Grant(#[from] GrantError),
}

impl From<MetadataError> for OAuthError {
    fn from(error: MetadataError) -> Self {
        match error {
            MetadataError::InvalidRedirectUri(m) => OAuthError::InvalidRedirectUri(m),
            MetadataError::InvalidClientMetadata(m) => OAuthError::InvalidClientMetadata(m),
        }
    }
}

impl OAuthError {
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRedirectUri(_) => "invalid_redirect_uri",
            OAuthError::InvalidClientMetadata(_) => "invalid_client_metadata",
            OAuthError::InvalidToken(_) => "invalid_token",
            OAuthError::AccessDenied(_) => "access_denied",
            OAuthError::TooManyRequests { .. } => "too_many_requests",
            OAuthError::PayloadTooLarge(_) => "invalid_request",
            OAuthError::ServerError(_) => "server_error",
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient { .. } => "invalid_client",
            OAuthError::Grant(e) => e.code(),
        }
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            OAuthError::InvalidRedirectUri(_) | OAuthError::InvalidClientMetadata(_) => {
                StatusCode::BAD_REQUEST
            }
            OAuthError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            OAuthError::AccessDenied(_) => StatusCode::FORBIDDEN,
            OAuthError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            OAuthError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            OAuthError::ServerError(_) | OAuthError::Grant(GrantError::Server(_)) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            OAuthError::InvalidRequest(_) | OAuthError::Grant(_) => StatusCode::BAD_REQUEST,
            OAuthError::InvalidClient { .. } => StatusCode::UNAUTHORIZED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        response.insert_header((header::PRAGMA, "no-cache"));
        match self {
            OAuthError::InvalidToken(_) => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                ));
            }
            OAuthError::TooManyRequests { retry_after, .. } => {
                // Whole seconds, rounded up: retrying a moment early would only be refused again.
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                response.insert_header((header::RETRY_AFTER, secs.max(1).to_string()));
            }
            OAuthError::InvalidClient { basic: true, .. } => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"authmcp-gateway\""),
                ));
            }
            _ => {}
        }
        // Internal failures are logged where they happen; the client learns only that much.
        let description = match self {
            OAuthError::Grant(GrantError::Server(_)) => {
                "The request could not be processed; try again.".to_string()
            }
            other => other.to_string(),
        };
        response.json(json!({ "error": self.code(), "error_description": description }))
    }
}
