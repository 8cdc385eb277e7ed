//! Signing administrators in and out: the sign-in form (`GET|POST /admin/login`), the
//! original's JSON route (`POST /admin/api/login`) and `POST /admin/logout`.
//!
//! Both sign-in routes count against the per-IP sign-in limit before any password is hashed,
//! answer an unknown user and a wrong password alike (the identity service verifies a dummy hash
//! for unknown users, so both take as long), and only then tell a non-administrator that the
//! console is not for them. A session is a login access token without a refresh token: it is
//! renewed while in use (`guard::renewal`, up to `auth.refresh_token_ttl_s` after sign-in) and
//! ends when its token expires (`auth.access_token_ttl_s`) or its family is revoked.

use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use actors::auth::identity::{AuthError, TokenGrant};
use actors::storage::users::{Role, User};
use serde::Deserialize;
use serde_json::json;
use tera::Context;

use super::guard::https;
use super::{page, session};
use crate::authn::Caller;
use crate::error::WebError;
use crate::oauth::authorize::session::{self as browser, BrowserSession};
use crate::oauth::form;
use crate::oauth::request_log;
use crate::state::AppState;

/// A started console session: the cookies to set and what the JSON answer tells.
pub(super) struct Started {
    pub cookies: Vec<String>,
    pub csrf_token: String,
    pub expires_in: u64,
}

/// Issues a console session (a login access token, no refresh token) for `user`.
pub(super) async fn start_session(state: &AppState, user: &User) -> Result<Started, AuthError> {
    let tokens = state
        .identity
        .issue_tokens(TokenGrant {
            user_id: user.id,
            client_id: None,
            scope: None,
            resource: state.identity.keys().access_audience().to_string(),
            with_refresh: false,
            family: None,
        })
        .await?;
    let csrf_token = session::csrf_token(&state.oauth.signer, &tokens.sid);
    Ok(Started {
        cookies: session::start_cookies(
            &tokens.access_token,
            &csrf_token,
            tokens.expires_in,
            https(state),
        ),
        csrf_token,
        expires_in: tokens.expires_in,
    })
}

enum Refused {
    Limited(WebError),
    BadCredentials,
    Disabled,
    NotAdmin,
    Internal,
}

const NOT_ADMIN: &str =
    "This account is not an administrator; the console is for administrators only.";
const DISABLED: &str = "This account is disabled; ask an administrator to enable it.";
const BAD_CREDENTIALS: &str = "Invalid username or password.";

/// The sign-in both routes share.
async fn sign_in(
    req: &HttpRequest,
    state: &AppState,
    username: &str,
    password: &str,
) -> Result<(User, Started), Refused> {
    crate::login::check_sign_in_rate(req, state).map_err(Refused::Limited)?;
    let log = request_log(req, &state.log);
    let failed = |details: &str| {
        let details = details.to_string();
        crate::audit_events::record(req, state, "login", "failed", |e| {
            e.username = Some(username.to_string());
            e.details = Some(details);
        });
    };
    let user = match state.identity.verify_login(username, password).await {
        Ok(user) => user,
        Err(AuthError::InvalidCredentials) => {
            slog::warn!(log, "Console sign-in failed."; "username" => username, "reason" => "invalid credentials");
            crate::security_events::login_failed(state, req, username);
            failed("console: invalid credentials");
            return Err(Refused::BadCredentials);
        }
        Err(AuthError::AccountDisabled) => {
            slog::warn!(log, "Console sign-in failed."; "username" => username, "reason" => "account disabled");
            failed("console: account disabled");
            return Err(Refused::Disabled);
        }
        Err(error) => {
            slog::error!(log, "Console sign-in could not be processed."; "error" => %error);
            return Err(Refused::Internal);
        }
    };
    if user.role != Role::Admin {
        slog::warn!(log, "Console sign-in refused."; "username" => username, "reason" => "not an administrator");
        crate::security_events::record(
            state,
            req,
            actors::security::SecurityEventType::Forbidden,
            &[("reason", "console sign-in by a non-administrator".into())],
        );
        failed("console: not an administrator");
        return Err(Refused::NotAdmin);
    }
    let started = start_session(state, &user).await.map_err(|error| {
        slog::error!(log, "Console session could not be started."; "error" => %error);
        Refused::Internal
    })?;
    slog::info!(log, "Console sign-in succeeded."; "username" => username);
    crate::audit_events::record(req, state, "login", "ok", |e| {
        e.user_id = Some(user.id);
        e.username = Some(user.username.clone());
        e.details = Some("console".into());
    });
    Ok((user, started))
}

fn signed_in_admin(req: &HttpRequest) -> bool {
    matches!(req.extensions().get::<Caller>(), Some(Caller::User(p)) if p.is_admin())
}

/// The form, with the browser session its CSRF token is bound to (set as a cookie).
fn form_page(
    state: &AppState,
    status: StatusCode,
    browser_session: &BrowserSession,
    username: &str,
    error: Option<&str>,
) -> HttpResponse {
    let mut c = Context::new();
    c.insert(
        "form_csrf",
        &browser_session.csrf_token(&state.oauth.signer),
    );
    c.insert("username", username);
    c.insert("error", &error);
    c.insert("notice", &Option::<&str>::None);
    let mut response = page::render(status, "admin/login.html", c, None);
    let cookie = browser::set_cookie(browser_session, &state.oauth.signer, https(state));
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&cookie) {
        response
            .headers_mut()
            .append(actix_web::http::header::SET_COOKIE, value);
    }
    response
}

/// The browser's anonymous session for pre-sign-in forms (kept while valid, else new).
pub(super) fn browser_session(req: &HttpRequest, state: &AppState) -> BrowserSession {
    browser::read(req, &state.oauth.signer, https(state)).unwrap_or_else(|| {
        BrowserSession::anonymous(state.oauth.settings.login_session_ttl.as_secs())
    })
}

/// A pre-sign-in form posted without its browser's CSRF token.
pub(super) fn form_expired(again: &str) -> HttpResponse {
    page::error(
        StatusCode::FORBIDDEN,
        "Form expired",
        "This form was not issued to this browser or has expired. Open it again and resubmit.",
        Some((again, "Open the form again")),
    )
}

async fn login_get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if signed_in_admin(&req) {
        return page::see_other("/admin", &[]);
    }
    if !super::admin_exists(&state).await {
        return page::see_other("/setup", &[]);
    }
    form_page(
        &state,
        StatusCode::OK,
        &browser_session(&req, &state),
        "",
        None,
    )
}

async fn login_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> HttpResponse {
    let params = match form::read(&req, payload).await {
        Ok(p) => p,
        Err(e) => {
            return page::error(
                StatusCode::BAD_REQUEST,
                "Invalid form",
                &format!("The sign-in form could not be read: {e}."),
                Some(("/admin/login", "Back to sign-in")),
            );
        }
    };
    let Some(browser_session) = browser::read(&req, &state.oauth.signer, https(&state))
        .filter(|s| s.csrf_matches(&state.oauth.signer, params.get("csrf_token")))
    else {
        return form_expired("/admin/login");
    };
    let username = params.get("username").unwrap_or("");
    let password = params.get("password").unwrap_or("");
    match sign_in(&req, &state, username, password).await {
        Ok((_, started)) => page::see_other("/admin", &started.cookies),
        Err(Refused::Limited(error)) => {
            let mut response = page::error(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                &error.to_string(),
                Some(("/admin/login", "Back to sign-in")),
            );
            if let WebError::TooManyRequests { retry_after, .. } = error {
                let secs = retry_after.as_millis().div_ceil(1000).max(1);
                if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&secs.to_string()) {
                    response
                        .headers_mut()
                        .insert(actix_web::http::header::RETRY_AFTER, v);
                }
            }
            response
        }
        // 200 like the first rendering: a form answer, not an HTTP authentication challenge.
        Err(Refused::BadCredentials) => form_page(
            &state,
            StatusCode::OK,
            &browser_session,
            username,
            Some(BAD_CREDENTIALS),
        ),
        Err(Refused::Disabled) => form_page(
            &state,
            StatusCode::FORBIDDEN,
            &browser_session,
            username,
            Some(DISABLED),
        ),
        Err(Refused::NotAdmin) => form_page(
            &state,
            StatusCode::FORBIDDEN,
            &browser_session,
            username,
            Some(NOT_ADMIN),
        ),
        Err(Refused::Internal) => page::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Sign-in is temporarily unavailable; try again in a moment.",
            Some(("/admin/login", "Back to sign-in")),
        ),
    }
}

#[derive(Deserialize)]
struct LoginRequest {
    username: String,
    password: String,
}

/// The original's JSON sign-in: sets the session and CSRF cookies and answers
/// `{"username","role","csrf_token","expires_in"}`.
async fn api_login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, WebError> {
    match sign_in(&req, &state, &body.username, &body.password).await {
        Ok((user, started)) => {
            let mut response = HttpResponse::Ok();
            response.insert_header(("cache-control", "no-store"));
            for cookie in &started.cookies {
                response.append_header(("set-cookie", cookie.as_str()));
            }
            Ok(response.json(json!({
                "username": user.username,
                "role": user.role.as_str(),
                "csrf_token": started.csrf_token,
                "expires_in": started.expires_in,
            })))
        }
        Err(Refused::Limited(error)) => Err(error),
        Err(Refused::BadCredentials) => Err(WebError::InvalidCredentials(BAD_CREDENTIALS.into())),
        Err(Refused::Disabled) => Err(WebError::Forbidden(DISABLED.into())),
        Err(Refused::NotAdmin) => Err(WebError::Forbidden(NOT_ADMIN.into())),
        Err(Refused::Internal) => Err(WebError::Internal(
            "Sign-in is temporarily unavailable; try again.".into(),
        )),
    }
}

/// Ends the caller's session: its token family is revoked (the cookie stops working at once,
/// here and on every instance sharing the database) and the cookies are cleared.
async fn logout(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let log = request_log(&req, &state.log);
    let principal = req
        .extensions()
        .get::<Caller>()
        .and_then(|c| c.principal().cloned());
    if let Some(p) = principal
        && let Some(sid) = &p.sid
    {
        if let Err(error) = state.identity.revoke_family(sid).await {
            slog::error!(log, "Console sign-out could not revoke the session."; "error" => %error);
            return page::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Sign-out failed",
                "The session could not be ended; try again in a moment.",
                Some(("/admin", "Back to the console")),
            );
        }
        slog::info!(log, "Console sign-out."; "username" => &p.username);
        crate::audit_events::record(&req, &state, "token_revoked", "ok", |e| {
            e.details = Some("console logout".into());
        });
    }
    page::see_other("/admin/login", &session::end_cookies(https(&state)))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/login")
            .route(web::get().to(login_get))
            .route(web::post().to(login_post)),
    )
    .service(web::resource("/admin/api/login").route(web::post().to(api_login)))
    .service(web::resource("/admin/logout").route(web::post().to(logout)));
}
