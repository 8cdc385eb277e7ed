//! The original gateway's account routes besides `/auth/login` (web/src/login.rs):
//!
//! | method | path | auth | answer |
//! |---|---|---|---|
//! | POST | `/auth/refresh` | public | `{"refresh_token"}` → a new pair (the old token is used up) |
//! | POST | `/auth/logout` | bearer | optional `{"refresh_token"}`; revokes the session → 204 |
//! | GET | `/auth/me` | bearer | the caller's account |
//! | POST | `/auth/register` | public, only with `auth.allow_registration` | 201 + the account |
//!
//! Handlers are thin: one call into the identity service each.

mod register;
mod session;

use actix_web::{HttpMessage, HttpRequest, web};

use actors::auth::identity::{AuthError, Principal};

use crate::authn::Caller;
use crate::error::WebError;
use crate::request_context::RequestContext;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    session::configure(cfg);
    register::configure(cfg);
}

/// A logger carrying the request id.
fn request_log(req: &HttpRequest, state: &AppState) -> slog::Logger {
    req.extensions()
        .get::<RequestContext>()
        .map_or_else(|| state.log.clone(), |c| c.log.clone())
}

/// The authenticated caller; 401 when there is none (only with `auth.required = false`).
fn principal(req: &HttpRequest, state: &AppState) -> Result<Principal, WebError> {
    match req.extensions().get::<Caller>() {
        Some(Caller::User(p)) => Ok(Principal::clone(p)),
        _ => Err(WebError::Unauthorized {
            detail: "This route needs a bearer token, even with authentication switched off."
                .into(),
            invalid_token: false,
            resource_metadata: state.settings.load().resource_metadata_url(),
        }),
    }
}

/// Storage and hashing failures: the cause goes to the log, the client gets a 500 sentence.
fn internal(error: AuthError, log: &slog::Logger, what: &str) -> WebError {
    slog::error!(log, "Account request failed."; "what" => what, "error" => %error);
    WebError::Internal(format!("{what} is temporarily unavailable; try again."))
}
