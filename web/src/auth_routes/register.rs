//! `POST /auth/register {"username","email","password"}`: self-service `user` accounts, only
//! when the operator set `auth.allow_registration` (env `ALLOW_REGISTRATION`); off by default.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use serde_json::json;

use actors::auth::identity::{AuthError, Registration};

use super::{internal, request_log};
use crate::error::WebError;
use crate::state::AppState;

#[derive(Deserialize)]
struct RegisterRequest {
    username: String,
    email: String,
    password: String,
}

#[post("/auth/register")]
async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, WebError> {
    if !state.settings.load().allow_registration {
        return Err(WebError::Forbidden(
            "Self-registration is switched off on this gateway; ask an administrator for an \
             account (operators: auth.allow_registration / ALLOW_REGISTRATION)."
                .into(),
        ));
    }
    crate::login::check_sign_in_rate(&req, &state)?;
    let log = request_log(&req, &state);
    let RegisterRequest {
        username,
        email,
        password,
    } = body.into_inner();
    let registration = Registration {
        username,
        email,
        password,
    };
    match state.identity.register(registration).await {
        Ok(user) => {
            slog::info!(log, "Account registered."; "username" => &user.username, "user_id" => user.id);
            Ok(HttpResponse::Created().json(json!({
                "id": user.id,
                "username": user.username,
                "email": user.email,
                "role": user.role.as_str(),
                "enabled": user.enabled,
                "created_at": user.created_at_ms,
            })))
        }
        Err(AuthError::InvalidAccount(problems)) => Err(WebError::Unprocessable {
            detail: "The account cannot be created: fix every listed problem.".into(),
            problems,
        }),
        Err(AuthError::Conflict(message)) => Err(WebError::Conflict(format!(
            "{}{}.",
            message[..1].to_uppercase(),
            &message[1..]
        ))),
        Err(error) => Err(internal(error, &log, "Registration")),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(register);
}
