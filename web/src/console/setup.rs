//! The setup wizard: while no administrator exists, `/setup` creates the first one — but only
//! for whoever holds the one-time setup token the gateway wrote at start (`<data_dir>/setup-token`,
//! also printed with a `/setup?token=…` link). The original let the first visitor take the
//! gateway. Once an administrator exists (made here or by `create-admin`), `/setup` sends
//! browsers to the sign-in page and the token file is removed.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use actors::auth::clients::ConfiguredSecret;
use actors::auth::identity::{AuthError, Registration};
use tera::Context;

use super::login::{browser_session, form_expired, start_session};
use super::{guard, page};
use crate::oauth::authorize::session::{self as browser, BrowserSession};
use crate::oauth::form::{self, Params};
use crate::oauth::request_log;
use crate::state::AppState;

/// `GET /`: the wizard while setup is pending (the original's README sends people to `/`),
/// else the console.
async fn root(state: web::Data<AppState>) -> HttpResponse {
    let to = if super::admin_exists(&state).await {
        "/admin"
    } else {
        "/setup"
    };
    page::see_other(to, &[])
}

/// What the form shows back after a refusal (never the passwords).
#[derive(Default)]
struct Filled<'a> {
    setup_token: &'a str,
    username: &'a str,
    email: &'a str,
}

fn form_page(
    state: &AppState,
    status: StatusCode,
    browser_session: &BrowserSession,
    filled: &Filled<'_>,
    errors: &[String],
) -> HttpResponse {
    let policy = state.identity.password_policy();
    let mut rules = vec![format!("at least {} characters", policy.min_length)];
    for (on, rule) in [
        (policy.require_uppercase, "an uppercase letter"),
        (policy.require_lowercase, "a lowercase letter"),
        (policy.require_digit, "a digit"),
        (policy.require_special, "a special character"),
    ] {
        if on {
            rules.push(rule.to_string());
        }
    }
    let token_file = state
        .console
        .get()
        .map(|c| c.setup_token_file.display().to_string())
        .unwrap_or_else(|| "<data_dir>/setup-token".into());
    let mut c = Context::new();
    c.insert(
        "form_csrf",
        &browser_session.csrf_token(&state.oauth.signer),
    );
    c.insert("setup_token", filled.setup_token);
    c.insert("username", filled.username);
    c.insert("email", filled.email);
    c.insert("errors", errors);
    c.insert("password_rules", &rules.join(", "));
    c.insert("token_file", &token_file);
    let mut response = page::render(status, "admin/setup.html", c, None);
    let cookie = browser::set_cookie(browser_session, &state.oauth.signer, guard::https(state));
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&cookie) {
        response
            .headers_mut()
            .append(actix_web::http::header::SET_COOKIE, value);
    }
    response
}

async fn setup_get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if super::admin_exists(&state).await {
        return page::see_other("/admin/login", &[]);
    }
    let query = Params::parse(req.query_string().as_bytes()).unwrap_or_default();
    let filled = Filled {
        setup_token: query.get("token").unwrap_or(""),
        ..Filled::default()
    };
    form_page(
        &state,
        StatusCode::OK,
        &browser_session(&req, &state),
        &filled,
        &[],
    )
}

/// Whether `presented` is the token in the file (compared as digests, in constant time).
/// `Err` when there is no token to compare with.
fn token_matches(state: &AppState, presented: &str) -> Result<bool, String> {
    let Some(console) = state.console.get() else {
        return Err("setup is not available yet; retry in a moment".into());
    };
    match std::fs::read_to_string(&console.setup_token_file) {
        Ok(expected) if !expected.trim().is_empty() => {
            Ok(ConfiguredSecret::new(expected.trim()).matches(presented.trim()))
        }
        _ => Err(format!(
            "there is no setup token in {}; restart the gateway to issue a new one, or create \
             the administrator with `authmcp-gateway create-admin`",
            console.setup_token_file.display()
        )),
    }
}

async fn setup_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> HttpResponse {
    let log = request_log(&req, &state.log);
    let params = match form::read(&req, payload).await {
        Ok(p) => p,
        Err(e) => {
            return page::error(
                StatusCode::BAD_REQUEST,
                "Invalid form",
                &format!("The setup form could not be read: {e}."),
                Some(("/setup", "Back to setup")),
            );
        }
    };
    let Some(browser_session) = browser::read(&req, &state.oauth.signer, guard::https(&state))
        .filter(|s| s.csrf_matches(&state.oauth.signer, params.get("csrf_token")))
    else {
        return form_expired("/setup");
    };
    if super::admin_exists(&state).await {
        return page::see_other("/admin/login", &[]);
    }
    // The token is 128 random bits; the sign-in limit still stops anyone hammering the form.
    if let Err(error) = crate::login::check_sign_in_rate(&req, &state) {
        return page::error(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            &error.to_string(),
            Some(("/setup", "Back to setup")),
        );
    }
    let filled = Filled {
        setup_token: "",
        username: params.get("username").unwrap_or(""),
        email: params.get("email").unwrap_or(""),
    };
    let refuse =
        |status, errors: Vec<String>| form_page(&state, status, &browser_session, &filled, &errors);
    match token_matches(&state, params.get("setup_token").unwrap_or("")) {
        Ok(true) => {}
        Ok(false) => {
            slog::warn!(log, "Setup refused: wrong setup token.");
            crate::security_events::record(
                &state,
                &req,
                actors::security::SecurityEventType::Forbidden,
                &[("reason", "wrong setup token".into())],
            );
            return refuse(
                StatusCode::FORBIDDEN,
                vec![
                    "The setup token is wrong. Copy it from the gateway's start-up output or \
                     from its setup-token file (it changes at every start until setup is done)."
                        .into(),
                ],
            );
        }
        Err(reason) => return refuse(StatusCode::SERVICE_UNAVAILABLE, vec![sentence(&reason)]),
    }
    let password = params.get("password").unwrap_or("");
    if params.get("password_confirm").unwrap_or("") != password {
        return refuse(
            StatusCode::BAD_REQUEST,
            vec!["The two passwords differ; type the same password twice.".into()],
        );
    }
    let created = state
        .identity
        .create_first_admin(Registration {
            username: filled.username.to_string(),
            email: filled.email.to_string(),
            password: password.to_string(),
        })
        .await;
    let user = match created {
        Ok(user) => user,
        Err(AuthError::InvalidAccount(problems)) => {
            let problems = problems.iter().map(|p| sentence(p)).collect();
            return refuse(StatusCode::BAD_REQUEST, problems);
        }
        // Someone else finished setup first.
        Err(AuthError::AdministratorExists) => return page::see_other("/admin/login", &[]),
        // A username or email another (non-administrator) account already has.
        Err(AuthError::Conflict(message)) => {
            return refuse(StatusCode::CONFLICT, vec![sentence(&message)]);
        }
        Err(error) => {
            slog::error!(log, "Setup could not create the administrator."; "error" => %error);
            return page::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The administrator could not be created; try again in a moment.",
                Some(("/setup", "Back to setup")),
            );
        }
    };
    slog::info!(log, "Setup created the first administrator."; "username" => &user.username);
    crate::audit_events::record(&req, &state, "user_created", "ok", |e| {
        e.user_id = Some(user.id);
        e.username = Some(user.username.clone());
        e.details = Some("setup wizard: first administrator".into());
    });
    if let Some(console) = state.console.get()
        && let Err(error) = std::fs::remove_file(&console.setup_token_file)
    {
        slog::warn!(log, "Could not remove the used setup token file."; "error" => %error,
            "path" => %console.setup_token_file.display());
    }
    match start_session(&state, &user).await {
        Ok(started) => page::see_other("/admin", &started.cookies),
        Err(error) => {
            slog::error!(log, "Setup could not start the console session."; "error" => %error);
            page::see_other("/admin/login", &[])
        }
    }
}

fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let first = chars.next().map(|c| c.to_uppercase().to_string());
    format!("{}{}.", first.unwrap_or_default(), chars.as_str())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").route(web::get().to(root)))
        .service(
            web::resource("/setup")
                .route(web::get().to(setup_get))
                .route(web::post().to(setup_post)),
        );
}
