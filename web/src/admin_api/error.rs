//! The admin API's errors: the shared [`WebError`] (401, 403, 400 for unreadable bodies) plus the
//! outcomes only a resource API has — 404, 409 and a 400 that lists every problem. Bodies keep the
//! gateway's format, `{"error": code, "detail": sentence}`, with `problems` added on 400.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use actors::auth::identity::AuthError;
use actors::auth::policy::PolicyError;
use actors::registry::RegistryError;
use actors::storage::StorageError;
use actors::supervisor::SupervisorError;

use crate::error::WebError;

#[derive(Debug, thiserror::Error)]
pub enum AdminApiError {
    #[error(transparent)]
    Web(#[from] WebError),
    /// One entry per problem, each `field: reason`.
    #[error("The backend is not valid: {}", .0.join("; "))]
    Invalid(Vec<String>),
    /// Like `Invalid`, for another kind of resource (`policy`, `group`, `member list`).
    #[error("The {what} is not valid: {}", .1.join("; "), what = .0)]
    InvalidInput(&'static str, Vec<String>),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(String),
    /// A backend the gateway asked on the caller's behalf failed (a connection test): 502,
    /// with a next step for the operator.
    #[error("{detail}")]
    BadGateway { detail: String, hint: &'static str },
    #[error("{0}")]
    Internal(String),
}

impl AdminApiError {
    fn code(&self) -> &'static str {
        match self {
            AdminApiError::Web(_) => "web",
            AdminApiError::Invalid(_) | AdminApiError::InvalidInput(..) => "bad_request",
            AdminApiError::NotFound(_) => "not_found",
            AdminApiError::Conflict(_) => "conflict",
            AdminApiError::Unavailable(_) => "unavailable",
            AdminApiError::BadGateway { .. } => "bad_gateway",
            AdminApiError::Internal(_) => "internal_error",
        }
    }

    /// Maps a registry failure; storage and crypto details stay in the log, not the response.
    pub fn from_registry(error: RegistryError, log: &slog::Logger) -> AdminApiError {
        match error {
            RegistryError::Invalid(problems) => AdminApiError::Invalid(problems),
            RegistryError::NameTaken(m) => AdminApiError::Conflict(sentence(&m)),
            RegistryError::ReadOnly(_) | RegistryError::Clash(_) => {
                AdminApiError::Conflict(sentence(&error.to_string()))
            }
            RegistryError::NotFound(m) => AdminApiError::NotFound(sentence(&m)),
            RegistryError::Storage(StorageError::Locked | StorageError::Pool(_)) => {
                slog::warn!(log, "Backend change failed: database busy."; "error" => %error);
                AdminApiError::Unavailable("The database is busy; retry in a moment.".into())
            }
            RegistryError::Supervisor(SupervisorError::NotRunning) => {
                AdminApiError::Unavailable("The gateway is shutting down.".into())
            }
            RegistryError::Storage(_)
            | RegistryError::Secrets(_)
            | RegistryError::Supervisor(_) => {
                slog::error!(log, "Backend change failed."; "error" => %error);
                AdminApiError::Internal(
                    "The backend could not be saved; the gateway log has the cause.".into(),
                )
            }
        }
    }
}

impl AdminApiError {
    /// Maps a policy-service failure; storage details stay in the log, not the response.
    pub fn from_policy(
        error: PolicyError,
        what: &'static str,
        log: &slog::Logger,
    ) -> AdminApiError {
        match error {
            PolicyError::Invalid(problems) => AdminApiError::InvalidInput(what, problems),
            PolicyError::NotFound(m) => AdminApiError::NotFound(sentence(&m)),
            PolicyError::Conflict(m) => AdminApiError::Conflict(sentence(&m)),
            PolicyError::ReadOnly(_) => AdminApiError::Conflict(sentence(&error.to_string())),
            PolicyError::Storage(StorageError::Locked | StorageError::Pool(_)) => {
                slog::warn!(log, "Policy change failed: database busy."; "error" => %error);
                AdminApiError::Unavailable("The database is busy; retry in a moment.".into())
            }
            PolicyError::Storage(_) => {
                slog::error!(log, "Policy change failed."; "error" => %error);
                AdminApiError::Internal(format!(
                    "The {what} could not be saved; the gateway log has the cause."
                ))
            }
        }
    }
}

impl AdminApiError {
    /// Maps an account-management failure; storage details stay in the log.
    pub fn from_auth(error: AuthError, log: &slog::Logger) -> AdminApiError {
        match error {
            AuthError::InvalidAccount(problems) => AdminApiError::InvalidInput("user", problems),
            AuthError::InvalidRequest(m) => AdminApiError::InvalidInput("user", vec![m]),
            AuthError::NotFound(m) => AdminApiError::NotFound(sentence(&m)),
            AuthError::Conflict(m) => AdminApiError::Conflict(sentence(&m)),
            AuthError::Storage(StorageError::Locked | StorageError::Pool(_)) => {
                slog::warn!(log, "Account change failed: database busy."; "error" => %error);
                AdminApiError::Unavailable("The database is busy; retry in a moment.".into())
            }
            other => {
                slog::error!(log, "Account change failed."; "error" => %other);
                AdminApiError::Internal(
                    "The change could not be saved; the gateway log has the cause.".into(),
                )
            }
        }
    }
}

/// Registry messages are clauses; responses are sentences.
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let first = chars.next().map(|c| c.to_uppercase().to_string());
    let text = format!("{}{}", first.unwrap_or_default(), chars.as_str());
    if text.ends_with('.') {
        text
    } else {
        format!("{text}.")
    }
}

impl ResponseError for AdminApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            AdminApiError::Web(e) => e.status_code(),
            AdminApiError::Invalid(_) | AdminApiError::InvalidInput(..) => StatusCode::BAD_REQUEST,
            AdminApiError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminApiError::Conflict(_) => StatusCode::CONFLICT,
            AdminApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AdminApiError::BadGateway { .. } => StatusCode::BAD_GATEWAY,
            AdminApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            AdminApiError::Web(e) => e.error_response(),
            AdminApiError::Invalid(problems) | AdminApiError::InvalidInput(_, problems) => {
                HttpResponse::BadRequest().json(json!({
                    "error": self.code(),
                    "detail": self.to_string(),
                    "problems": problems,
                }))
            }
            AdminApiError::BadGateway { hint, .. } => HttpResponse::BadGateway().json(json!({
                "error": self.code(),
                "detail": self.to_string(),
                "hint": hint,
            })),
            other => HttpResponse::build(other.status_code())
                .json(json!({ "error": other.code(), "detail": other.to_string() })),
        }
    }
}
