//! Authentication, checked before anything else in a request (before the body is read).
//!
//! Every route is protected unless it is on the short public list below; unknown paths are
//! protected too, so an anonymous caller learns nothing about which routes exist. On public routes a
//! valid token is still recognised (e.g. `/health/ready` shows details to admins).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};

use actors::auth::identity::{AuthError, Principal};

use crate::error::WebError;
use crate::request_context::RequestContext;
use crate::state::AppState;

/// Who is calling, put into the request extensions for handlers.
#[derive(Debug, Clone)]
pub enum Caller {
    User(Principal),
    /// Only when `auth.required = false`.
    Anonymous,
}

impl Caller {
    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Caller::User(p) => Some(p),
            Caller::Anonymous => None,
        }
    }
}

/// Exact paths and prefixes anyone may call. The OAuth endpoints authenticate their callers
/// themselves (client credentials, registration tokens), never with a user's bearer token.
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/health"
            | "/health/ready"
            | "/auth/login"
            | "/authorize"
            | "/oauth/token"
            | "/oauth/register"
            | "/oauth/revoke"
            | "/oauth/introspect"
            | "/oauth/token/.well-known/openid-configuration"
            | "/mcp/.well-known/openid-configuration"
    ) || path.starts_with("/.well-known/")
        || path.starts_with("/oauth/register/")
}

/// The credential in `Authorization: Bearer …` (scheme case-insensitive). Never from the query.
fn bearer_token(req: &ServiceRequest) -> Option<&str> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Rejections are returned as responses, not errors, so the outer request-context layer still
/// stamps them with the request id and logs them.
pub async fn require_auth<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        let error = WebError::Internal("application state missing".into());
        return Ok(req.error_response(error).map_into_right_body());
    };
    let settings = state.settings.load_full();
    let public = is_public(req.path());
    let outcome = bearer_token(&req).map(|token| state.identity.authenticate(token));
    let caller = match outcome {
        Some(Ok(principal)) => Some(Caller::User(principal)),
        Some(Err(error)) if !public && settings.auth_required => {
            if let Some(ctx) = req.extensions().get::<RequestContext>() {
                slog::info!(ctx.log, "Bearer token rejected."; "reason" => %error, "path" => req.path());
            }
            let rejection = unauthorized(&error, &settings.resource_metadata_url());
            return Ok(req.error_response(rejection).map_into_right_body());
        }
        _ if !settings.auth_required => Some(Caller::Anonymous),
        _ if public => None,
        _ => {
            let rejection = WebError::Unauthorized {
                detail: "Authentication required: send `Authorization: Bearer <access token>` (POST /auth/login issues one).".into(),
                invalid_token: false,
                resource_metadata: settings.resource_metadata_url(),
            };
            return Ok(req.error_response(rejection).map_into_right_body());
        }
    };
    if let Some(caller) = caller {
        req.extensions_mut().insert(caller);
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

fn unauthorized(error: &AuthError, resource_metadata: &str) -> WebError {
    let detail = match error {
        AuthError::AccountDisabled => "This account is disabled.".to_string(),
        AuthError::UnknownUser => "The token's user no longer exists.".to_string(),
        AuthError::Token(e) => format!("Invalid access token: {e}."),
        other => format!("Authentication failed: {other}."),
    };
    WebError::Unauthorized {
        detail,
        invalid_token: true,
        resource_metadata: resource_metadata.to_string(),
    }
}
