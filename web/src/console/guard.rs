//! What `authn` asks of the console: who the session cookie names, whether a cookie-
//! authenticated change carries its CSRF token, and the answers for a browser that is not
//! signed in (a redirect to the sign-in page rather than a JSON 401).

use actix_web::dev::{Payload, ServiceRequest};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, web};
use actors::auth::identity::{CredentialKind, Principal};

use super::session::{self, CSRF_HEADER};
use crate::oauth::form::Params;
use crate::state::AppState;

/// What the request's session cookie says.
pub(crate) enum CookieAuth {
    Absent,
    Valid(Principal),
    /// Present but unusable (expired, revoked, disabled user, forged); why, for the log.
    Invalid(String),
}

/// Whether the console cookie is read for `path` at all: console pages and the admin API.
pub(crate) fn in_scope(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

/// `<session cookie name>=`, to recognise a `Set-Cookie` of the session.
pub(crate) fn cookie_prefix(state: &AppState) -> String {
    format!("{}=", session::cookie_name(https(state)))
}

pub(crate) fn https(state: &AppState) -> bool {
    state.settings.load().public_url.starts_with("https://")
}

/// The session cookie's principal, verified like a bearer token (signature, expiry, the
/// revocation and user snapshots; no database query). Only console sessions count: a login
/// token with a family id. A session ends exactly when its token expires: this gateway issued
/// the token and verifies it, so there is no clock skew for the verifier's leeway to forgive,
/// and the leeway must not stretch a session past its maximum lifetime.
pub(crate) fn authenticate(state: &AppState, req: &ServiceRequest) -> CookieAuth {
    let Some(token) = session::cookie(req.headers(), session::cookie_name(https(state))) else {
        return CookieAuth::Absent;
    };
    match state.identity.authenticate(token) {
        Ok(_) if token_times(token).is_none_or(|(_, exp)| unix_now() >= exp) => {
            CookieAuth::Invalid("the console session expired".into())
        }
        Ok(p) if p.credential == CredentialKind::Login && p.sid.is_some() => CookieAuth::Valid(p),
        Ok(_) => CookieAuth::Invalid("the cookie does not hold a console session".into()),
        Err(e) => CookieAuth::Invalid(format!("console session refused: {e}")),
    }
}

/// The issue and expiry times (unix seconds) of an access token already verified: only its
/// payload is read.
fn token_times(token: &str) -> Option<(u64, u64)> {
    use base64::Engine as _;
    #[derive(serde::Deserialize)]
    struct Times {
        iat: u64,
        exp: u64,
    }
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let times: Times = serde_json::from_slice(&bytes).ok()?;
    Some((times.iat, times.exp))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether a token issued at `iat` expiring at `exp` is past half its life at `now`.
fn due_for_renewal(iat: u64, exp: u64, now: u64) -> bool {
    now >= iat + exp.saturating_sub(iat) / 2
}

/// Renews a console session in use once its token is past half its life: the cookies of a new
/// access token in the same token family (so the CSRF token stays), or none. A session is
/// renewed until `auth.refresh_token_ttl_s` after sign-in, then ends with its last token.
pub(crate) async fn renewal(
    state: &AppState,
    req: &ServiceRequest,
    principal: &Principal,
) -> Vec<String> {
    let (Some(sid), Some(token)) = (
        principal.sid.as_deref(),
        session::cookie(req.headers(), session::cookie_name(https(state))),
    ) else {
        return Vec::new();
    };
    if !token_times(token).is_some_and(|(iat, exp)| due_for_renewal(iat, exp, unix_now())) {
        return Vec::new();
    }
    let identity = &state.identity;
    match identity
        .renew_login(principal.user_id, sid, identity.refresh_ttl())
        .await
    {
        Ok(Some(tokens)) => session::start_cookies(
            &tokens.access_token,
            &session::csrf_token(&state.oauth.signer, sid),
            tokens.expires_in,
            https(state),
        ),
        Ok(None) => Vec::new(),
        Err(error) => {
            slog::info!(state.log, "Console session not renewed."; "error" => %error);
            Vec::new()
        }
    }
}

fn changes_something(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn is_form(req: &ServiceRequest) -> bool {
    req.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// For a cookie-authenticated request: true when it changes nothing, or carries session
/// `sid`'s CSRF token in `X-CSRF-Token` or (a form) in the field `csrf_token`. A form body is
/// read here and put back for the handler.
pub(crate) async fn csrf_ok(req: &mut ServiceRequest, state: &AppState, sid: &str) -> bool {
    if !changes_something(req.method()) {
        return true;
    }
    let signer = &state.oauth.signer;
    if let Some(header) = req.headers().get(CSRF_HEADER) {
        return session::csrf_matches(signer, sid, header.to_str().ok());
    }
    if !is_form(req) {
        return false;
    }
    let Ok(body) = req.extract::<web::Bytes>().await else {
        return false;
    };
    let presented = Params::parse(&body)
        .ok()
        .and_then(|p| p.get("csrf_token").map(str::to_string));
    req.set_payload(Payload::from(body));
    session::csrf_matches(signer, sid, presented.as_deref())
}

/// The refusal of a change without its CSRF token: a page for forms, JSON for the API.
pub(crate) fn csrf_refusal(path: &str) -> HttpResponse {
    if super::is_page(path) {
        return super::page::error(
            StatusCode::FORBIDDEN,
            "Form expired",
            "This form does not belong to your current console session (it may be from an \
             older sign-in). Reload the page and try again.",
            Some(("/admin", "Back to the console")),
        );
    }
    HttpResponse::Forbidden()
        .insert_header(("cache-control", "no-store"))
        .json(serde_json::json!({
            "error": "csrf_failed",
            "detail": "Missing or wrong CSRF token: a change made with the console's session \
                       cookie must send the value of the `csrf_token` cookie in the \
                       `X-CSRF-Token` header (or the form field `csrf_token`). Bearer-token \
                       calls need none.",
        }))
}

/// A browser that is not (or no longer) signed in, on a console page: to the sign-in page,
/// dropping a stale cookie.
pub(crate) fn to_sign_in(state: &AppState, stale_cookie: bool) -> HttpResponse {
    let cookies = if stale_cookie {
        session::end_cookies(https(state))
    } else {
        Vec::new()
    };
    super::page::see_other("/admin/login", &cookies)
}

/// The administrator viewing a console page, and the CSRF token its forms carry.
pub(crate) struct AdminPage {
    pub principal: Principal,
    pub csrf_token: String,
}

impl AdminPage {
    /// The page chrome for this administrator, with nav entry `current` marked.
    pub(crate) fn chrome(&self, current: &'static str) -> super::page::Chrome<'_> {
        super::page::Chrome {
            username: &self.principal.username,
            csrf_token: &self.csrf_token,
            current,
        }
    }
}

/// A console handler taking an `AdminPage` runs only for a signed-in administrator; anyone
/// else gets [`admin_page`]'s answer (carried as the extraction error, which actix turns back
/// into that response untouched).
impl actix_web::FromRequest for AdminPage {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<AdminPage, actix_web::Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return std::future::ready(Err(actix_web::error::ErrorInternalServerError(
                "the console has no application state",
            )));
        };
        std::future::ready(admin_page(req, state).map_err(|answer| {
            actix_web::error::InternalError::from_response("not a signed-in administrator", *answer)
                .into()
        }))
    }
}

/// The signed-in administrator, or the answer for anyone else: the sign-in page for a browser
/// without a session, a 403 page for a signed-in non-administrator.
pub(crate) fn admin_page(
    req: &actix_web::HttpRequest,
    state: &AppState,
) -> Result<AdminPage, Box<HttpResponse>> {
    use actix_web::HttpMessage as _;
    let caller = req.extensions().get::<crate::authn::Caller>().cloned();
    match caller {
        Some(crate::authn::Caller::User(p)) if p.is_admin() => {
            let csrf_token = p
                .sid
                .as_deref()
                .map(|sid| session::csrf_token(&state.oauth.signer, sid))
                .unwrap_or_default();
            Ok(AdminPage {
                principal: std::sync::Arc::unwrap_or_clone(p),
                csrf_token,
            })
        }
        Some(crate::authn::Caller::User(_)) => {
            crate::security_events::record(
                state,
                req,
                actors::security::SecurityEventType::Forbidden,
                &[("reason", "not an administrator".into())],
            );
            Err(Box::new(super::page::error(
                StatusCode::FORBIDDEN,
                "Administrators only",
                "The console is for administrators; this account is not one.",
                None,
            )))
        }
        _ => Err(Box::new(to_sign_in(state, false))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_starts_at_half_the_token_life() {
        assert!(!due_for_renewal(1000, 1600, 1299));
        assert!(due_for_renewal(1000, 1600, 1300));
        assert!(due_for_renewal(1000, 1600, 2000));
    }

    #[test]
    fn token_times_read_the_payload() {
        use base64::Engine as _;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"iat":10,"exp":70,"sub":"1"}"#);
        assert_eq!(token_times(&format!("h.{payload}.s")), Some((10, 70)));
        assert_eq!(token_times("not-a-jwt"), None);
    }
}
