//! Auth events for the audit trail (login, tokens, clients, consent, permission changes). Each
//! is one non-blocking `try_send`; the caller's address, user agent and (when authenticated)
//! identity are filled in from the request. Never a secret: callers pass names and ids only.

use actix_web::{HttpMessage, HttpRequest};
use actors::audit::AuditEvent;

use crate::authn::Caller;
use crate::request_context::RequestContext;
use crate::state::AppState;

/// Records auth event `event` with `outcome` (`ok`, `failed`, `denied`); `fill` adds what the
/// request does not tell (the user signing in, the client, a note).
pub(crate) fn record(
    req: &HttpRequest,
    state: &AppState,
    event: &str,
    outcome: &str,
    fill: impl FnOnce(&mut AuditEvent),
) {
    let Some(audit) = state.audit.get() else {
        return;
    };
    if !audit.enabled() {
        return;
    }
    let mut e = AuditEvent::auth(event, outcome);
    {
        let extensions = req.extensions();
        if let Some(p) = extensions.get::<Caller>().and_then(Caller::principal) {
            e.user_id = Some(p.user_id);
            e.username = Some(p.username.clone());
            e.client_id = p.client_id.clone();
        }
        e.ip = extensions
            .get::<RequestContext>()
            .and_then(|c| c.client_ip)
            .map(|ip| ip.to_string());
    }
    e.method = Some(format!("{} {}", req.method(), req.path()));
    e.user_agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    fill(&mut e);
    audit.record(e);
}

/// The user's name for an auth event about a user other than the caller (a token issued to or
/// revoked by an OAuth client): the audit trail's `user` filter matches names, not ids. `None`
/// if the account is gone.
pub(crate) async fn username_of(state: &AppState, user_id: i64) -> Option<String> {
    state.identity.me(user_id).await.ok().map(|u| u.username)
}

/// Middleware: a successful change to who may do what through the admin API — policies,
/// groups and their members, accounts (API or console), API tokens, revoked sessions — is a `permission_change`
/// auth event naming the request (method and path; ids only, no body).
pub async fn admin_changes(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let watched = !matches!(
        *req.method(),
        actix_web::http::Method::GET | actix_web::http::Method::HEAD
    ) && is_permission_path(req.path());
    let console_form =
        req.path().starts_with("/admin/users") || req.path().starts_with(CONSOLE_API_TOKENS);
    let response = next.call(req).await?;
    // A console form that worked answers 303 (post-redirect-get); one refused renders a 4xx.
    let done = response.status().is_success()
        || (console_form && response.status() == actix_web::http::StatusCode::SEE_OTHER);
    if watched && done {
        let request = response.request();
        if let Some(state) = request.app_data::<actix_web::web::Data<AppState>>() {
            record(request, state, "permission_change", "ok", |_| {});
        }
    }
    Ok(response)
}

/// The console's forms for the administrator's own API tokens (create, revoke).
const CONSOLE_API_TOKENS: &str = "/admin/mcp-tokens/api-tokens";

fn is_permission_path(path: &str) -> bool {
    [
        "/admin/api/policies",
        "/admin/api/groups",
        "/admin/api/api-tokens",
    ]
    .iter()
    .any(|p| path.starts_with(p))
        // Accounts: creation, role, status, password, deletion, permissions, grants, sign-outs,
        // through the API or the console's users pages.
        || path.starts_with("/admin/api/users")
        || path.starts_with("/admin/users")
        || path.starts_with(CONSOLE_API_TOKENS)
}
