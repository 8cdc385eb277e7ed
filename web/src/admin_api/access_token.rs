//! `POST /admin/api/access-token` (the original's path): an access token for the calling
//! administrator, to paste into an MCP client.
//!
//! | method | path | answer |
//! |---|---|---|
//! | POST | `/admin/api/access-token` | `{"access_token","token_type":"Bearer","expires_in","refresh_token"}`, never cached |
//!
//! The pair is a login pair in a new session (token family) of its own: signing out of the
//! console does not end it; revoking the user's sessions does. Audited as `token_issued`.

use actix_web::{HttpMessage, HttpRequest, HttpResponse, post, web};
use actors::auth::identity::{TokenGrant, TokenResponse};

use super::{AdminApiError, admin_caller};
use crate::authn::Caller;
use crate::state::AppState;

/// Issues a login-style token pair for administrator `user_id` and records it as a
/// `token_issued` auth event. Shared by the API and the console's Tokens page.
pub(crate) async fn issue(
    req: &HttpRequest,
    state: &AppState,
    user_id: i64,
    log: &slog::Logger,
) -> Result<TokenResponse, AdminApiError> {
    let tokens = state
        .identity
        .issue_tokens(TokenGrant {
            user_id,
            client_id: None,
            scope: None,
            // The audience of `/auth/login`'s tokens, `<public_url>/mcp`: the token is meant for
            // an MCP client talking to `/mcp`, so it must be bound to that resource (a token for
            // any other audience is refused there); no scope, like a login, so the user's
            // policies alone decide what it may use.
            resource: state.identity.keys().access_audience().to_string(),
            with_refresh: true,
            family: None,
        })
        .await
        .map_err(|e| AdminApiError::from_auth(e, log))?;
    slog::info!(log, "Access token issued to an administrator."; "user_id" => user_id);
    crate::audit_events::record(req, state, "token_issued", "ok", |e| {
        e.user_id = Some(user_id);
        e.details = Some("admin access token".into());
    });
    Ok(tokens)
}

#[post("/admin/api/access-token")]
async fn access_token(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminApiError> {
    let (_, log) = admin_caller(&req, &state)?;
    let user_id = req
        .extensions()
        .get::<Caller>()
        .and_then(Caller::principal)
        .map(|p| p.user_id);
    let Some(user_id) = user_id else {
        // admin_caller only lets an authenticated administrator through.
        return Err(AdminApiError::Internal(
            "The caller could not be identified.".into(),
        ));
    };
    let tokens = issue(&req, &state, user_id, &log).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(&tokens))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(access_token);
}
