//! `POST /auth/login` with the original's body `{"username","password"}`.

use actix_web::{HttpMessage, HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use serde_json::json;

use actors::auth::identity::{AuthError, TokenResponse};
use actors::ratelimit::Rejection;

use crate::error::WebError;
use crate::request_context::RequestContext;
use crate::state::AppState;

#[derive(Deserialize)]
struct LoginRequest {
    username: String,
    password: String,
}

#[post("/auth/login")]
async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, WebError> {
    let ctx = req.extensions().get::<RequestContext>().cloned();
    let log = ctx
        .as_ref()
        .map(|c| c.log.clone())
        .unwrap_or_else(|| state.log.clone());
    let client_ip = ctx
        .and_then(|c| c.client_ip)
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    check_sign_in_rate(&req, &state)?;
    let LoginRequest { username, password } = body.into_inner();
    match state.identity.login(&username, &password).await {
        Ok((user, tokens)) => {
            slog::info!(log, "Login succeeded."; "username" => &username, "client_ip" => &client_ip);
            crate::audit_events::record(&req, &state, "login", "ok", |e| {
                e.user_id = Some(user.id);
                e.username = Some(username.clone());
            });
            Ok(token_pair(&tokens))
        }
        Err(AuthError::InvalidCredentials) => {
            slog::warn!(log, "Login failed."; "username" => &username, "client_ip" => &client_ip, "reason" => "invalid credentials");
            crate::security_events::login_failed(&state, &req, &username);
            crate::audit_events::record(&req, &state, "login", "failed", |e| {
                e.username = Some(username.clone());
                e.details = Some("invalid credentials".into());
            });
            Err(WebError::InvalidCredentials(
                "Invalid username or password.".into(),
            ))
        }
        Err(AuthError::AccountDisabled) => {
            slog::warn!(log, "Login failed."; "username" => &username, "client_ip" => &client_ip, "reason" => "account disabled");
            crate::audit_events::record(&req, &state, "login", "denied", |e| {
                e.username = Some(username.clone());
                e.details = Some("account disabled".into());
            });
            Err(WebError::Forbidden(
                "This account is disabled; ask an administrator to enable it.".into(),
            ))
        }
        Err(error) => {
            slog::error!(log, "Login could not be processed."; "error" => %error);
            Err(WebError::Internal(
                "Login is temporarily unavailable; try again.".into(),
            ))
        }
    }
}

/// Counts a sign-in attempt against the caller's IP (`rate_limit.login_*`), before any password
/// is hashed. The IP is `RequestContext::client_ip`, which believes `X-Forwarded-For` only from
/// `server.trusted_proxies`: a forged header from anyone else does not give a fresh allowance.
pub(crate) fn check_sign_in_rate(req: &HttpRequest, state: &AppState) -> Result<(), WebError> {
    let ip = req
        .extensions()
        .get::<RequestContext>()
        .and_then(|c| c.client_ip)
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    match state.oauth.rate_limiter.check_login(ip) {
        Ok(()) => Ok(()),
        Err(Rejection {
            quota, retry_after, ..
        }) => {
            let log = req
                .extensions()
                .get::<RequestContext>()
                .map(|c| c.log.clone())
                .unwrap_or_else(|| state.log.clone());
            slog::warn!(log, "Sign-in attempts limited."; "client_ip" => %ip, "path" => req.path(), "limit" => "login");
            crate::security_events::record(
                state,
                req,
                actors::security::SecurityEventType::RateLimited,
                &[("limit", "login".into())],
            );
            Err(WebError::TooManyRequests {
                detail: format!(
                    "Too many sign-in attempts from your address ({} per {} s); try again in {} s.",
                    quota.max,
                    quota.window.as_secs(),
                    retry_after.as_millis().div_ceil(1000).max(1)
                ),
                retry_after,
            })
        }
    }
}

/// The original's login/refresh answer: `access_token, refresh_token, token_type, expires_in`.
pub(crate) fn token_pair(tokens: &TokenResponse) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(json!({
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "token_type": "bearer",
            "expires_in": tokens.expires_in,
        }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(login);
}
