//! The web layer's one error type and its exhaustive mapping to HTTP.
//!
//! Bodies are JSON: `{"error": <machine code>, "detail": <sentence a person can act on>}` —
//! `detail` keeps the original gateway's clients (FastAPI-style errors) working.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// No usable credentials on a protected route. `resource_metadata` is the RFC 9728 document
    /// URL a client should fetch to learn how to authenticate.
    #[error("{detail}")]
    Unauthorized {
        detail: String,
        invalid_token: bool,
        resource_metadata: String,
    },
    /// The token is fine but lacks a scope the request needs (RFC 6750 §3.1; MCP step-up): the
    /// client re-authorises with `scope`.
    #[error("{detail}")]
    InsufficientScope {
        detail: String,
        /// Space-separated scopes the request needs.
        scope: String,
        resource_metadata: String,
    },
    #[error("{0}")]
    Forbidden(String),
    /// A refresh token that is unknown, expired, revoked, reused or another client's.
    #[error("{0}")]
    InvalidGrant(String),
    /// The resource exists already (e.g. a username taken at registration).
    #[error("{0}")]
    Conflict(String),
    /// Well-formed input that breaks the rules; every broken rule is in `problems`.
    #[error("{detail}")]
    Unprocessable {
        detail: String,
        problems: Vec<String>,
    },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    InvalidCredentials(String),
    /// Too many attempts from this client; `retry_after` becomes the `Retry-After` header.
    #[error("{detail}")]
    TooManyRequests {
        detail: String,
        retry_after: std::time::Duration,
    },
    #[error("{0}")]
    NotReady(String),
    #[error("{0}")]
    Internal(String),
}

impl WebError {
    fn code(&self) -> &'static str {
        match self {
            WebError::Unauthorized {
                invalid_token: true,
                ..
            } => "invalid_token",
            WebError::Unauthorized {
                invalid_token: false,
                ..
            } => "unauthorized",
            WebError::InsufficientScope { .. } => "insufficient_scope",
            WebError::Forbidden(_) => "forbidden",
            WebError::InvalidGrant(_) => "invalid_grant",
            WebError::Conflict(_) => "conflict",
            WebError::Unprocessable { .. } => "unprocessable",
            WebError::BadRequest(_) => "bad_request",
            WebError::PayloadTooLarge(_) => "payload_too_large",
            WebError::InvalidCredentials(_) => "invalid_credentials",
            WebError::TooManyRequests { .. } => "too_many_requests",
            WebError::NotReady(_) => "not_ready",
            WebError::Internal(_) => "internal_error",
        }
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            WebError::InvalidCredentials(_) => StatusCode::UNAUTHORIZED,
            WebError::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::InvalidGrant(_) => StatusCode::UNAUTHORIZED,
            WebError::Conflict(_) => StatusCode::CONFLICT,
            WebError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            WebError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        // RFC 6750 §3 + RFC 9728 §5.1: tell the client where the resource metadata lives and
        // which scope to ask for.
        let challenge = match self {
            WebError::Unauthorized {
                invalid_token,
                resource_metadata,
                ..
            } => {
                let mut challenge =
                    format!("Bearer resource_metadata=\"{resource_metadata}\", scope=\"mcp\"");
                if *invalid_token {
                    challenge.push_str(", error=\"invalid_token\"");
                }
                Some(challenge)
            }
            WebError::InsufficientScope {
                scope,
                resource_metadata,
                ..
            } => Some(format!(
                "Bearer error=\"insufficient_scope\", scope=\"{scope}\", resource_metadata=\"{resource_metadata}\""
            )),
            _ => None,
        };
        if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.insert_header((header::WWW_AUTHENTICATE, value));
        }
        if let WebError::TooManyRequests { retry_after, .. } = self {
            // Whole seconds, rounded up: a client retrying on time is never refused again.
            let seconds = retry_after.as_millis().div_ceil(1000).max(1);
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        match self {
            WebError::Unprocessable { problems, .. } => response.json(
                json!({ "error": self.code(), "detail": self.to_string(), "problems": problems }),
            ),
            _ => response.json(json!({ "error": self.code(), "detail": self.to_string() })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(error: &WebError) -> String {
        let response = error.error_response();
        response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }

    #[test]
    fn insufficient_scope_is_a_403_step_up_challenge() {
        let error = WebError::InsufficientScope {
            detail: "needs mcp:tools".into(),
            scope: "mcp mcp:tools".into(),
            resource_metadata: "https://gw/.well-known/oauth-protected-resource/mcp".into(),
        };
        assert_eq!(error.status_code(), StatusCode::FORBIDDEN);
        assert_eq!(
            challenge(&error),
            "Bearer error=\"insufficient_scope\", scope=\"mcp mcp:tools\", \
             resource_metadata=\"https://gw/.well-known/oauth-protected-resource/mcp\""
        );
    }

    #[test]
    fn unauthorized_names_metadata_scope_and_invalid_token() {
        let error = WebError::Unauthorized {
            detail: "x".into(),
            invalid_token: true,
            resource_metadata: "https://gw/m".into(),
        };
        assert_eq!(
            challenge(&error),
            "Bearer resource_metadata=\"https://gw/m\", scope=\"mcp\", error=\"invalid_token\""
        );
        let unprocessable = WebError::Unprocessable {
            detail: "bad".into(),
            problems: vec!["a".into()],
        };
        assert_eq!(
            unprocessable.status_code(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            WebError::Conflict("c".into()).status_code(),
            StatusCode::CONFLICT
        );
        assert_eq!(
            WebError::InvalidGrant("g".into()).status_code(),
            StatusCode::UNAUTHORIZED
        );
    }
}
