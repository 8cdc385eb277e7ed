//! `GET|POST /authorize`: the authorization endpoint with its login and consent pages.
//!
//! ```text
//! GET /authorize?<OAuth query>   → validate (request.rs) → signed pending request
//!   no login cookie              → login page (sets the cookie: a browser id for CSRF)
//!   logged in, consent remembered → 302 redirect_uri?code=…&state=…&iss=…
//!   logged in                    → consent page
//! POST /authorize request, csrf_token, username, password, action=login
//!   → CSRF, per-IP limit, password check → new cookie (user, auth_time) → 303 GET /authorize?request=…
//! POST /authorize request, csrf_token, decision=approve|deny
//!   → CSRF, logged in → approve: remember consent, code → 303 redirect_uri?code=…
//!                       deny: 303 redirect_uri?error=access_denied
//! ```
//! A `POST /authorize` without `request` is an authorization request sent as a form (RFC 6749
//! §3.1 allows POST) and handled like the GET.

mod pages;
mod request;
pub(crate) mod session;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use actors::auth::authorization::CodeRequest;
use actors::auth::cimd::is_document_url;
use actors::auth::clients::Client;
use actors::auth::identity::AuthError;
use actors::auth::scopes::Scope;
use actors::ratelimit::Rejection;

use self::pages::{ConsentPage, LoginPage, ScopeLine};
use self::request::{Pending, Refusal, redirect_location};
use self::session::BrowserSession;
use super::form::{self, FormError, Params};
use super::{client_ip, request_log};
use crate::state::AppState;

/// What the handlers share for one request.
struct Flow<'a> {
    req: &'a HttpRequest,
    state: &'a AppState,
    log: slog::Logger,
    https: bool,
}

impl<'a> Flow<'a> {
    fn new(req: &'a HttpRequest, state: &'a AppState) -> Flow<'a> {
        Flow {
            req,
            state,
            log: request_log(req, &state.log),
            https: state.settings.load().public_url.starts_with("https://"),
        }
    }

    fn issuer(&self) -> String {
        self.state.settings.load().public_url.clone()
    }

    fn session_ttl(&self) -> u64 {
        self.state.oauth.settings.login_session_ttl.as_secs()
    }

    fn session(&self) -> Option<BrowserSession> {
        session::read(self.req, &self.state.oauth.signer, self.https)
    }

    fn cookie(&self, session: &BrowserSession) -> String {
        session::set_cookie(session, &self.state.oauth.signer, self.https)
    }

    fn refusal(&self, refusal: Refusal) -> HttpResponse {
        match refusal {
            Refusal::Page { title, message } => {
                slog::info!(self.log, "Authorization request refused."; "reason" => &message);
                pages::error(StatusCode::BAD_REQUEST, &title, &message)
            }
            Refusal::Redirect {
                redirect_uri,
                state,
                error,
                description,
            } => {
                slog::info!(self.log, "Authorization request refused; told the client."; "error" => error, "reason" => &description);
                let mut pairs = vec![
                    ("error", error),
                    ("error_description", description.as_str()),
                ];
                if let Some(s) = state.as_deref() {
                    pairs.push(("state", s));
                }
                redirect(
                    StatusCode::FOUND,
                    &redirect_location(&redirect_uri, &self.issuer(), &pairs),
                    None,
                )
            }
        }
    }

    fn to_client(&self, pending: &Pending, error: &'static str, description: &str) -> HttpResponse {
        self.refusal(Refusal::Redirect {
            redirect_uri: pending.redirect_uri.clone(),
            state: pending.state.clone(),
            error,
            description: description.to_string(),
        })
    }

    fn server_error(&self, what: &str, error: &dyn std::fmt::Display) -> HttpResponse {
        slog::error!(self.log, "Authorization could not be processed."; "step" => what, "error" => %error);
        pages::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The request could not be processed; try again in a moment.",
        )
    }

    /// The user the cookie names, when their login still counts for `pending` and the account
    /// is enabled.
    async fn signed_in_user(
        &self,
        session: Option<&BrowserSession>,
        pending: &Pending,
    ) -> Option<(actors::storage::users::User, u64)> {
        let s = session?;
        let (user_id, auth_time_ms) = (s.user_id?, s.auth_time_ms?);
        if auth_time_ms <= pending.login_after_ms {
            return None;
        }
        let user = self.state.identity.me(user_id).await.ok()?;
        user.enabled.then_some((user, auth_time_ms / 1000))
    }

    /// The page or redirect for a validated request, given who the cookie says is signed in.
    async fn proceed(&self, client: &Client, pending: &Pending) -> HttpResponse {
        let signer = &self.state.oauth.signer;
        let existing = self.session();
        let Some((user, auth_time)) = self.signed_in_user(existing.as_ref(), pending).await else {
            if pending.no_prompt {
                return self.to_client(pending, "login_required", "the user is not signed in");
            }
            let session = match existing {
                Some(s) if s.user_id.is_none() => s,
                _ => BrowserSession::anonymous(self.session_ttl()),
            };
            let mut response = self.login_page(StatusCode::OK, client, pending, &session, None);
            set_cookie(&mut response, &self.cookie(&session));
            return response;
        };
        let service = &self.state.oauth.authorization;
        let scopes = pending.scopes();
        let remembered = match service
            .consent_covers(user.id, &client.client_id, &pending.resource, &scopes)
            .await
        {
            Ok(covered) => covered && !pending.force_consent,
            Err(e) => return self.server_error("consent lookup", &e),
        };
        if remembered {
            return self
                .issue(pending, user.id, auth_time, StatusCode::FOUND)
                .await;
        }
        if pending.no_prompt {
            return self.to_client(
                pending,
                "consent_required",
                "the user has not approved this client",
            );
        }
        // A signed-in user came from the cookie, so it is there; stay total anyway.
        let Some(session) = existing else {
            return expired();
        };
        let sealed = pending.seal(signer);
        let csrf = session.csrf_token(signer);
        let origin = pages::redirect_origin(&pending.redirect_uri);
        let host = is_document_url(&client.client_id)
            .then(|| url::Url::parse(&client.client_id).ok())
            .flatten()
            .and_then(|u| u.host_str().map(str::to_string));
        pages::consent(&ConsentPage {
            client_name: display_name(client),
            client_id: &client.client_id,
            client_host: host.as_deref(),
            redirect_uri: &pending.redirect_uri,
            resource: &pending.resource,
            scopes: scopes
                .iter()
                .map(|s| ScopeLine {
                    name: s.as_str(),
                    description: describe(s),
                })
                .collect(),
            username: &user.username,
            request: &sealed,
            csrf_token: &csrf,
            redirect_origin: origin.as_deref(),
        })
    }

    fn login_page(
        &self,
        status: StatusCode,
        client: &Client,
        pending: &Pending,
        session: &BrowserSession,
        error: Option<&str>,
    ) -> HttpResponse {
        let signer = &self.state.oauth.signer;
        let sealed = pending.seal(signer);
        let csrf = session.csrf_token(signer);
        let origin = pages::redirect_origin(&pending.redirect_uri);
        pages::login(
            status,
            &LoginPage {
                client_name: display_name(client),
                request: &sealed,
                csrf_token: &csrf,
                error,
                redirect_origin: origin.as_deref(),
            },
        )
    }

    /// A code for an approved request, sent to the client's redirect URI.
    async fn issue(
        &self,
        pending: &Pending,
        user_id: i64,
        auth_time: u64,
        status: StatusCode,
    ) -> HttpResponse {
        let code = self
            .state
            .oauth
            .authorization
            .issue_code(CodeRequest {
                client_id: pending.client_id.clone(),
                redirect_uri: pending.redirect_uri.clone(),
                user_id,
                scope: pending.scopes(),
                resource: pending.resource.clone(),
                code_challenge: pending.code_challenge.clone(),
                nonce: pending.nonce.clone(),
                auth_time: i64::try_from(auth_time).unwrap_or(0),
            })
            .await;
        let code = match code {
            Ok(code) => code,
            Err(e) => return self.server_error("code", &e),
        };
        slog::info!(self.log, "Authorization code issued."; "client_id" => &pending.client_id,
            "user_id" => user_id, "scope" => &pending.scope, "resource" => &pending.resource);
        let mut pairs = vec![("code", code.as_str())];
        if let Some(s) = pending.state.as_deref() {
            pairs.push(("state", s));
        }
        redirect(
            status,
            &redirect_location(&pending.redirect_uri, &self.issuer(), &pairs),
            None,
        )
    }
}

fn display_name(client: &Client) -> &str {
    client
        .client_name
        .as_deref()
        .unwrap_or("An unnamed application")
}

fn describe(scope: Scope) -> &'static str {
    match scope {
        Scope::Mcp => "use the tools, prompts and resources your account may use",
        Scope::McpAdmin => {
            "act with your administrator rights on the MCP endpoint (if you have them)"
        }
        Scope::McpTools => "call the tools your account may use",
        Scope::McpPrompts => "read the prompts your account may use",
        Scope::McpResources => "read the resources your account may use",
        Scope::OpenId => "learn your user id on this gateway",
        Scope::Profile => "learn your username",
        Scope::Email => "learn your email address",
        Scope::OfflineAccess => "stay signed in (refresh tokens)",
    }
}

fn redirect(status: StatusCode, location: &str, cookie: Option<&str>) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    if let Some(cookie) = cookie {
        response.append_header((header::SET_COOKIE, cookie));
    }
    response.finish()
}

fn set_cookie(response: &mut HttpResponse, cookie: &str) {
    if let Ok(value) = header::HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

fn form_refusal(error: FormError) -> HttpResponse {
    pages::error(
        StatusCode::BAD_REQUEST,
        "Invalid request",
        &format!("The authorization request cannot be used: {error}."),
    )
}

async fn authorize_get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let params = match Params::parse(req.query_string().as_bytes()) {
        Ok(p) => p,
        Err(e) => return form_refusal(e),
    };
    start(&req, &state, &params).await
}

/// A new authorization request, or (`?request=<sealed>` alone) one coming back from the login.
async fn start(req: &HttpRequest, state: &AppState, params: &Params) -> HttpResponse {
    let flow = Flow::new(req, state);
    if let (Some(sealed), false) = (params.get("request"), params.has("client_id")) {
        let Some((client, pending)) = reopen(&flow, sealed).await else {
            return expired();
        };
        return flow.proceed(&client, &pending).await;
    }
    match request::validate(state, params).await {
        Ok((client, pending)) => flow.proceed(&client, &pending).await,
        Err(refusal) => flow.refusal(refusal),
    }
}

/// The pending request behind a sealed value and its client (still resolvable).
async fn reopen(flow: &Flow<'_>, sealed: &str) -> Option<(Client, Pending)> {
    let pending = Pending::open(&flow.state.oauth.signer, sealed)?;
    let client = flow
        .state
        .oauth
        .resolver
        .resolve(&pending.client_id)
        .await
        .ok()?;
    // The client may have changed its redirect URIs since: check again.
    client
        .redirect_uri_allowed(&pending.redirect_uri)
        .then_some((client, pending))
}

fn expired() -> HttpResponse {
    pages::error(
        StatusCode::BAD_REQUEST,
        "Sign-in expired",
        "This sign-in request is invalid or has expired. Start again from your application.",
    )
}

fn csrf_refused(flow: &Flow<'_>) -> HttpResponse {
    slog::warn!(
        flow.log,
        "Authorization form refused: missing or wrong CSRF token."
    );
    pages::error(
        StatusCode::FORBIDDEN,
        "Form expired",
        "This form is not valid for this browser session (it may have expired). Start again \
         from your application.",
    )
}

async fn authorize_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> HttpResponse {
    let params = match form::read(&req, payload).await {
        Ok(p) => p,
        Err(e) => return form_refusal(e),
    };
    let Some(sealed) = params.get("request").filter(|_| !params.has("client_id")) else {
        return start(&req, &state, &params).await;
    };
    let flow = Flow::new(&req, &state);
    let Some((client, pending)) = reopen(&flow, sealed).await else {
        return expired();
    };
    let Some(session) = flow.session() else {
        return csrf_refused(&flow);
    };
    if !session.csrf_matches(&state.oauth.signer, params.get("csrf_token")) {
        return csrf_refused(&flow);
    }
    if params.get("action") == Some("login") {
        return login(&flow, &params, &client, &pending, &session).await;
    }
    match params.get("decision") {
        Some("approve") | Some("deny") => {}
        _ => {
            return pages::error(
                StatusCode::BAD_REQUEST,
                "Invalid form",
                "The form must be submitted with action=login or decision=approve|deny.",
            );
        }
    }
    let Some((user, auth_time)) = flow.signed_in_user(Some(&session), &pending).await else {
        // The login lapsed while the consent page was open: sign in again.
        let fresh = BrowserSession::anonymous(flow.session_ttl());
        let mut response = flow.login_page(StatusCode::OK, &client, &pending, &fresh, None);
        set_cookie(&mut response, &flow.cookie(&fresh));
        return response;
    };
    if params.get("decision") == Some("deny") {
        slog::info!(flow.log, "Authorization denied by the user."; "client_id" => &client.client_id, "user_id" => user.id);
        crate::audit_events::record(&req, &state, "consent", "denied", |e| {
            e.user_id = Some(user.id);
            e.username = Some(user.username.clone());
            e.client_id = Some(client.client_id.clone());
        });
        let mut response = flow.to_client(&pending, "access_denied", "the user denied the request");
        *response.status_mut() = StatusCode::SEE_OTHER;
        return response;
    }
    if let Err(e) = state
        .oauth
        .authorization
        .remember_consent(
            user.id,
            &client.client_id,
            &pending.resource,
            &pending.scopes(),
        )
        .await
    {
        return flow.server_error("consent", &e);
    }
    crate::audit_events::record(&req, &state, "consent", "ok", |e| {
        e.user_id = Some(user.id);
        e.username = Some(user.username.clone());
        e.client_id = Some(client.client_id.clone());
        e.details = Some(format!("resource={}", pending.resource));
    });
    flow.issue(&pending, user.id, auth_time, StatusCode::SEE_OTHER)
        .await
}

/// The login form: per-IP limit, then the identity service's password check (no-enumeration
/// answers: an unknown user and a wrong password get the same page).
async fn login(
    flow: &Flow<'_>,
    params: &Params,
    client: &Client,
    pending: &Pending,
    session: &BrowserSession,
) -> HttpResponse {
    let ip = client_ip(flow.req);
    if let Err(Rejection { retry_after, .. }) = flow.state.oauth.rate_limiter.check_login(ip) {
        slog::info!(flow.log, "Login rate-limited."; "client_ip" => %ip, "limit" => "login");
        crate::security_events::record(
            flow.state,
            flow.req,
            actors::security::SecurityEventType::RateLimited,
            &[("limit", "login".into())],
        );
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        let mut response = pages::error(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            &format!(
                "Too many sign-in attempts from your address; wait {} s and try again.",
                secs.max(1)
            ),
        );
        if let Ok(v) = header::HeaderValue::from_str(&secs.max(1).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return response;
    }
    let (username, password) = (
        params.get("username").unwrap_or(""),
        params.get("password").unwrap_or(""),
    );
    match flow.state.identity.verify_login(username, password).await {
        Ok(user) => {
            slog::info!(flow.log, "Login succeeded (authorization server)."; "username" => username, "client_ip" => %ip);
            let fresh = BrowserSession::logged_in(user.id, flow.session_ttl());
            let location = format!(
                "{}/authorize?request={}",
                flow.issuer(),
                pending.seal(&flow.state.oauth.signer)
            );
            redirect(StatusCode::SEE_OTHER, &location, Some(&flow.cookie(&fresh)))
        }
        Err(AuthError::InvalidCredentials) => {
            slog::warn!(flow.log, "Login failed (authorization server)."; "username" => username, "client_ip" => %ip, "reason" => "invalid credentials");
            crate::security_events::login_failed(flow.state, flow.req, username);
            // 200, like the first rendering: a form answer, not an HTTP authentication challenge.
            flow.login_page(
                StatusCode::OK,
                client,
                pending,
                session,
                Some("Invalid username or password."),
            )
        }
        Err(AuthError::AccountDisabled) => {
            slog::warn!(flow.log, "Login failed (authorization server)."; "username" => username, "client_ip" => %ip, "reason" => "account disabled");
            flow.login_page(
                StatusCode::FORBIDDEN,
                client,
                pending,
                session,
                Some("This account is disabled; ask an administrator to enable it."),
            )
        }
        Err(e) => flow.server_error("login", &e),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/authorize")
            .route(web::get().to(authorize_get))
            .route(web::post().to(authorize_post)),
    );
}
