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
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    InvalidCredentials(String),
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
            WebError::Forbidden(_) => "forbidden",
            WebError::BadRequest(_) => "bad_request",
            WebError::PayloadTooLarge(_) => "payload_too_large",
            WebError::InvalidCredentials(_) => "invalid_credentials",
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
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let WebError::Unauthorized {
            invalid_token,
            resource_metadata,
            ..
        } = self
        {
            // RFC 6750 §3 + RFC 9728 §5.1: tell the client where the resource metadata lives.
            let mut challenge = format!("Bearer resource_metadata=\"{resource_metadata}\"");
            if *invalid_token {
                challenge.push_str(", error=\"invalid_token\"");
            }
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                response.insert_header((header::WWW_AUTHENTICATE, value));
            }
        }
        response.json(json!({ "error": self.code(), "detail": self.to_string() }))
    }
}
