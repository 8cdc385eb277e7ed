//! Authentication, checked before anything else in a request (before the body is read).
//!
//! Every route is protected unless it is on the short public list below; unknown paths are
//! protected too, so an anonymous caller learns nothing about which routes exist. On public routes a
//! valid token is still recognised (e.g. `/health/ready` shows details to admins).
//!
//! Tokens are bound to resources (RFC 8707): `/mcp` takes tokens issued for `<public_url>/mcp`,
//! `/mcp/<server>` those for `<public_url>/mcp/<server>` (and login tokens for `/mcp`); the admin
//! API and `/metrics` take login and API tokens, never an OAuth client's. Roles and scopes are
//! checked later, by the handlers.
//!
//! Without a bearer token, `/admin` and `/admin/…` also accept the admin console's session
//! cookie (`console::guard`): a console page without a usable session is sent to the sign-in
//! page, and a cookie-authenticated change without its CSRF token is refused (403).

use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};

use actors::auth::external::Verdict;
use actors::auth::identity::{AuthError, CredentialKind, Principal};

use crate::console::guard::{self as console, CookieAuth};
use crate::error::WebError;
use crate::request_context::RequestContext;
use crate::state::{AppState, WebSettings};

/// Who is calling, put into the request extensions for handlers.
#[derive(Debug, Clone)]
pub enum Caller {
    /// Shared: handlers and the MCP path keep the caller for the whole request (cloning the
    /// principal's strings for each was a handful of allocations per request).
    User(Arc<Principal>),
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

/// Exact paths and prefixes anyone may call. The OAuth endpoints authenticate their clients
/// themselves (client secrets, registration access tokens), not with a user's bearer token.
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/health"
            | "/health/ready"
            | "/auth/login"
            | "/auth/refresh"
            | "/auth/register"
            | "/authorize"
            | "/oauth/token"
            | "/oauth/register"
            | "/oauth/revoke"
            | "/oauth/introspect"
            | "/oauth/token/.well-known/openid-configuration"
            | "/mcp/.well-known/openid-configuration"
    ) || path.starts_with("/.well-known/")
        || path.starts_with("/oauth/register/")
        || crate::console::is_public(path)
}

/// What a path needs from a token besides being valid.
#[derive(Debug, PartialEq, Eq)]
enum Resource<'a> {
    /// `/mcp`: tokens for `<p>/mcp`.
    Mcp,
    /// `/mcp/<server>[/…]`: tokens for `<p>/mcp/<server>`, or login tokens for `<p>/mcp`.
    McpServer(&'a str),
    /// `/admin/api/…` and `/metrics`: login and API tokens only, never an OAuth client's.
    Console,
    /// Everything else (`/auth/me`, `/health/ready`, …): any valid token.
    Other,
}

impl<'a> Resource<'a> {
    fn of(path: &'a str) -> Resource<'a> {
        if path == "/mcp" || path == "/mcp/" {
            return Resource::Mcp;
        }
        if let Some(rest) = path.strip_prefix("/mcp/") {
            let server = rest.split('/').next().unwrap_or_default();
            return Resource::McpServer(server);
        }
        if path == "/metrics" || path == "/admin/api" || path.starts_with("/admin/api/") {
            return Resource::Console;
        }
        Resource::Other
    }

    /// The RFC 9728 document a 401 points at.
    fn metadata_url(&self, settings: &WebSettings) -> String {
        match self {
            Resource::McpServer(server) => settings.server_metadata_url(server),
            _ => settings.resource_metadata_url(),
        }
    }

    /// Whether `principal`'s token may be used here (RFC 8707 audience binding).
    fn admits(&self, principal: &Principal, settings: &WebSettings) -> Result<(), String> {
        let mcp = format!("{}/mcp", settings.public_url);
        let audience = principal.audience.as_deref();
        let api_token = principal.credential == CredentialKind::ApiToken;
        // An external token accepted through a configured audience that is not one of our
        // resource URIs is valid for the whole gateway (see `actors::auth::external`).
        let whole_gateway = principal.credential == CredentialKind::External && audience.is_none();
        match self {
            Resource::Mcp if api_token || whole_gateway || audience == Some(mcp.as_str()) => Ok(()),
            Resource::McpServer(server)
                if api_token
                    || whole_gateway
                    || audience == Some(format!("{mcp}/{server}").as_str())
                    || (principal.credential == CredentialKind::Login
                        && audience == Some(mcp.as_str())) =>
            {
                Ok(())
            }
            Resource::Mcp | Resource::McpServer(_) => Err(format!(
                "the token was issued for another resource ({})",
                audience.unwrap_or("none")
            )),
            Resource::Console if principal.credential == CredentialKind::OAuth => Err(
                "OAuth client tokens are not accepted here; use a login or API token".to_string(),
            ),
            Resource::Console if principal.credential == CredentialKind::External => Err(
                "tokens from external issuers are not accepted here; use a login or API token"
                    .to_string(),
            ),
            Resource::Console | Resource::Other => Ok(()),
        }
    }
}

/// The credential in `Authorization: Bearer …` (scheme case-insensitive). Never from the query.
fn bearer_token(req: &ServiceRequest) -> Option<&str> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Rejections are returned as responses, not errors, so the outer request-context layer still
/// stamps them with the request id and logs them.
pub async fn require_auth<B: MessageBody>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        let error = WebError::Internal("application state missing".into());
        return Ok(req.error_response(error).map_into_right_body());
    };
    let settings = state.settings.load_full();
    let path = req.path().to_string();
    let public = is_public(&path);
    let resource = Resource::of(&path);
    // A Prometheus server's scrape token is no user's token: recognised here, on this path only.
    let scraper = path == "/metrics"
        && match (&state.metrics.settings().scrape_token, bearer_token(&req)) {
            (Some(expected), Some(token)) => expected.matches(token),
            _ => false,
        };
    if scraper {
        req.extensions_mut().insert(crate::metrics::Scraper);
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let console_page = crate::console::is_page(&path);
    // The console's session cookie, read only where no bearer token was sent.
    let mut cookie_sid = None;
    let mut stale_cookie = false;
    let outcome = match bearer_token(&req) {
        Some(token) => Some(
            authenticate(&state, token)
                .await
                .map_err(|e| reason(&e))
                .and_then(|principal| {
                    resource.admits(&principal, &settings)?;
                    Ok::<_, String>(principal)
                }),
        ),
        None if console::in_scope(&path) => match console::authenticate(&state, &req) {
            CookieAuth::Valid(principal) => {
                cookie_sid = principal.sid.clone();
                Some(Ok(principal))
            }
            // A stale cookie on a public page (the sign-in form) is no reason to refuse it.
            CookieAuth::Invalid(_) if public => None,
            CookieAuth::Invalid(reason) => {
                stale_cookie = true;
                Some(Err(reason))
            }
            CookieAuth::Absent => None,
        },
        None => None,
    };
    let caller = match outcome {
        Some(Ok(principal)) => Some(Caller::User(Arc::new(principal))),
        Some(Err(reason)) if console_page && !public => {
            if let Some(ctx) = req.extensions().get::<RequestContext>() {
                slog::info!(ctx.log, "Console session refused."; "reason" => &reason, "path" => &path);
            }
            let response = console::to_sign_in(&state, stale_cookie);
            return Ok(req.into_response(response).map_into_right_body());
        }
        Some(Err(reason)) if !public && settings.auth_required => {
            if let Some(ctx) = req.extensions().get::<RequestContext>() {
                slog::info!(ctx.log, "Bearer token rejected."; "reason" => &reason, "path" => &path);
            }
            crate::security_events::record(
                &state,
                req.request(),
                actors::security::SecurityEventType::InvalidToken,
                &[("reason", reason.clone().into())],
            );
            let rejection = WebError::Unauthorized {
                detail: sentence(&reason),
                invalid_token: true,
                resource_metadata: resource.metadata_url(&settings),
            };
            return Ok(req.error_response(rejection).map_into_right_body());
        }
        // A browser that is not signed in gets the sign-in page, not a JSON 401.
        None if console_page && !public => {
            let response = console::to_sign_in(&state, false);
            return Ok(req.into_response(response).map_into_right_body());
        }
        _ if !settings.auth_required => Some(Caller::Anonymous),
        _ if public => None,
        _ => {
            crate::security_events::record(
                &state,
                req.request(),
                actors::security::SecurityEventType::Unauthorized,
                &[],
            );
            let rejection = WebError::Unauthorized {
                detail: "Authentication required: send `Authorization: Bearer <access token>` (POST /auth/login issues one).".into(),
                invalid_token: false,
                resource_metadata: resource.metadata_url(&settings),
            };
            return Ok(req.error_response(rejection).map_into_right_body());
        }
    };
    let cookie_session = cookie_sid.is_some() && !public;
    if let Some(sid) = cookie_sid.filter(|_| !public)
        && !console::csrf_ok(&mut req, &state, &sid).await
    {
        if let Some(ctx) = req.extensions().get::<RequestContext>() {
            slog::warn!(ctx.log, "Console change refused: missing or wrong CSRF token."; "path" => &path);
        }
        if let Some(caller) = &caller {
            req.extensions_mut().insert(caller.clone());
        }
        crate::security_events::record(
            &state,
            req.request(),
            actors::security::SecurityEventType::Forbidden,
            &[("reason", "csrf token missing or wrong".into())],
        );
        let response = console::csrf_refusal(&path);
        return Ok(req.into_response(response).map_into_right_body());
    }
    let renewed = match (&caller, cookie_session) {
        (Some(Caller::User(principal)), true) => console::renewal(&state, &req, principal).await,
        _ => Vec::new(),
    };
    if let Some(caller) = caller {
        req.extensions_mut().insert(caller);
    }
    let mut response = next.call(req).await?;
    if renewed.is_empty() {
        // Every bearer request (all of /mcp) ends here: nothing to look at or allocate.
        return Ok(response.map_into_left_body());
    }
    // A handler that sets the session cookie itself (sign-out) decides.
    let session_cookie = console::cookie_prefix(&state);
    let sets_session = response
        .headers()
        .get_all(actix_web::http::header::SET_COOKIE)
        .any(|v| v.as_bytes().starts_with(session_cookie.as_bytes()));
    if !sets_session {
        for cookie in renewed {
            if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&cookie) {
                response
                    .headers_mut()
                    .append(actix_web::http::header::SET_COOKIE, value);
            }
        }
    }
    Ok(response.map_into_left_body())
}

/// A token from a configured external issuer (picked out by its `iss`) is verified by
/// `ExternalIdentities`; anything else by the gateway's own `Identity::authenticate`. Both
/// are CPU-only; only an external user's first request (account creation) or a change of their
/// groups waits on the database.
async fn authenticate(state: &AppState, token: &str) -> Result<Principal, AuthError> {
    if let Some(external) = state.external.get()
        && let Some(verdict) = external.check(token)
    {
        return match verdict? {
            Verdict::Ready(principal) => Ok(principal),
            Verdict::Pending(login) => external.complete(login).await,
        };
    }
    state.identity.authenticate(token)
}

/// Why a token was refused, in words that reveal nothing about the token itself.
fn reason(error: &AuthError) -> String {
    match error {
        AuthError::AccountDisabled => "this account is disabled".to_string(),
        AuthError::UnknownUser => "the token's user no longer exists".to_string(),
        AuthError::Revoked => "the token's session has been revoked (logged out)".to_string(),
        AuthError::Token(e) => format!("invalid access token: {e}"),
        other => format!("authentication failed: {other}"),
    }
}

fn sentence(reason: &str) -> String {
    let mut chars = reason.chars();
    let first = chars.next().map(|c| c.to_uppercase().to_string());
    format!("{}{}.", first.unwrap_or_default(), chars.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_resources() {
        assert_eq!(Resource::of("/mcp"), Resource::Mcp);
        assert_eq!(Resource::of("/mcp/files"), Resource::McpServer("files"));
        assert_eq!(Resource::of("/mcp/files/x"), Resource::McpServer("files"));
        assert_eq!(Resource::of("/admin/api/api-tokens"), Resource::Console);
        assert_eq!(Resource::of("/metrics"), Resource::Console);
        assert_eq!(Resource::of("/auth/me"), Resource::Other);
        assert!(is_public("/oauth/register/abc"));
        assert!(is_public("/mcp/.well-known/openid-configuration"));
        assert!(!is_public("/auth/logout"));
        assert!(!is_public("/auth/me"));
    }
}
