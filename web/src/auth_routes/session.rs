//! `POST /auth/refresh`, `POST /auth/logout`, `GET /auth/me`.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use serde_json::json;

use actors::auth::identity::AuthError;

use super::{internal, principal, request_log};
use crate::error::WebError;
use crate::login::token_pair;
use crate::state::AppState;

#[derive(Deserialize)]
struct RefreshRequest {
    refresh_token: String,
}

#[post("/auth/refresh")]
async fn refresh(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, WebError> {
    let log = request_log(&req, &state);
    // Login tokens belong to no OAuth client; a client's refresh token is refused here.
    match state.identity.refresh(&body.refresh_token, None).await {
        Ok(tokens) => {
            crate::audit_events::record(&req, &state, "token_refreshed", "ok", |_| {});
            Ok(token_pair(&tokens))
        }
        Err(AuthError::InvalidGrant(reason)) => {
            slog::info!(log, "Refresh refused."; "reason" => reason);
            if reason == actors::auth::identity::REFRESH_REUSED {
                crate::security_events::record(
                    &state,
                    &req,
                    actors::security::SecurityEventType::TokenReuse,
                    &[],
                );
            }
            Err(WebError::InvalidGrant(format!(
                "The refresh token is not valid ({reason}); log in again."
            )))
        }
        Err(AuthError::AccountDisabled) => Err(WebError::InvalidGrant(
            "This account is disabled; ask an administrator to enable it.".into(),
        )),
        Err(AuthError::UnknownUser) => Err(WebError::InvalidGrant(
            "The refresh token's user no longer exists.".into(),
        )),
        Err(error) => Err(internal(error, &log, "Refreshing tokens")),
    }
}

#[derive(Deserialize, Default)]
struct LogoutRequest {
    refresh_token: Option<String>,
}

/// The body is optional: none, an empty one or `{}` all log out the token's own session.
#[post("/auth/logout")]
async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let log = request_log(&req, &state);
    let caller = principal(&req, &state)?;
    let request: LogoutRequest = if body.iter().all(u8::is_ascii_whitespace) {
        LogoutRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            WebError::BadRequest(format!(
                "The body must be empty or JSON like {{\"refresh_token\": \"…\"}}: {e}."
            ))
        })?
    };
    state
        .identity
        .logout(&caller, request.refresh_token.as_deref())
        .await
        .map_err(|e| internal(e, &log, "Logging out"))?;
    slog::info!(log, "Logged out."; "username" => &caller.username);
    crate::audit_events::record(&req, &state, "token_revoked", "ok", |e| {
        e.details = Some("logout".into());
    });
    Ok(HttpResponse::NoContent().finish())
}

#[get("/auth/me")]
async fn me(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    let log = request_log(&req, &state);
    let caller = principal(&req, &state)?;
    let user = match state.identity.me(caller.user_id).await {
        Ok(user) => user,
        Err(AuthError::UnknownUser) => {
            return Err(WebError::Unauthorized {
                detail: "The token's user no longer exists.".into(),
                invalid_token: true,
                resource_metadata: state.settings.load().resource_metadata_url(),
            });
        }
        Err(error) => return Err(internal(error, &log, "Reading the account")),
    };
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(json!({
            "id": user.id,
            "username": user.username,
            "email": user.email,
            "role": user.role.as_str(),
            "enabled": user.enabled,
            "created_at": user.created_at_ms,
            "last_login_at": user.last_login_at_ms,
            "credential": caller.credential,
        })))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(refresh).service(logout).service(me);
}
