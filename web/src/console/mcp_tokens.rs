//! `/admin/mcp-tokens`: tokens in both directions. Backends' live credentials (the admin API's
//! `token-status` view, "Refresh now" through the same function as `refresh-token`), the
//! signed-in administrator's own API tokens (the identity service, judged like
//! `/admin/api/api-tokens`) and a login-style access token for an MCP client (the same
//! function as `POST /admin/api/access-token`). Tokens and secrets are shown once, on the page
//! that answers the form, never in a list.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/admin/mcp-tokens` | backend credentials, my API tokens, the forms |
//! | POST | `/admin/mcp-tokens/servers/{id}/refresh` | an OAuth backend fetches a new token now |
//! | POST | `/admin/mcp-tokens/api-tokens` | create (`name`, `expires_days`): the token shown once |
//! | POST | `/admin/mcp-tokens/api-tokens/{id}/revoke` | revoke one of my API tokens |
//! | POST | `/admin/mcp-tokens/access-token` | an access token for me, shown once with the `/mcp` URL |

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use actors::auth::identity::NewApiTokenRequest;
use actors::storage::api_tokens::ApiTokenInfo;
use serde::Serialize;
use serde_json::{Value, json};
use tera::Context;

use super::form_page::{self, Drawn, FormPage};
use super::guard::AdminPage;
use super::{chart, dashboard, forms, page, servers};
use crate::admin_api::{AdminApiError, access_token, credentials, tokens};
use crate::oauth::request_log;
use crate::state::AppState;

const PAGE: &str = "/admin/mcp-tokens";

const FLASH: &[(&str, &str)] = &[
    (
        "refreshing",
        "Token refresh of {name} started; reload the page for the outcome.",
    ),
    ("revoked", "API token {name} revoked."),
];

#[derive(Serialize)]
struct OwnToken {
    id: i64,
    name: String,
    prefix: String,
    created: String,
    last_used: Option<String>,
    expires: Option<String>,
    /// `active`, `expired` or `revoked`.
    state: &'static str,
}

fn own_token(t: &ApiTokenInfo, now: i64) -> OwnToken {
    let state = if t.revoked_at_ms.is_some() {
        "revoked"
    } else if t.expires_at_ms.is_some_and(|at| at <= now) {
        "expired"
    } else {
        "active"
    };
    OwnToken {
        id: t.id,
        name: t.name.clone(),
        prefix: t.prefix.clone(),
        created: chart::utc(t.created_at_ms),
        last_used: t.last_used_at_ms.map(chart::utc),
        expires: t.expires_at_ms.map(chart::utc),
        state,
    }
}

/// A backend's line: the servers page's view plus its live credential (`token`: `null` for a
/// static credential or a backend that is not running) and display strings.
fn credential_line(state: &AppState, entry: &actors::registry::BackendEntry, now: i64) -> Value {
    let mut v = servers::line(entry);
    let token = credentials::token_view(state, entry);
    let expires_at = token["expires_at_ms"].as_i64();
    if let Value::Object(map) = &mut v {
        map.insert("expires".into(), json!(expires_at.map(chart::utc)));
        map.insert(
            "expiring_soon".into(),
            json!(dashboard::expires_soon(expires_at, now)),
        );
        map.insert(
            "last_refresh".into(),
            json!(token["last_refresh_ms"].as_i64().map(chart::utc)),
        );
        map.insert("oauth".into(), json!(entry.auth_type.starts_with("oauth")));
        map.insert("token".into(), token);
    }
    v
}

/// The Tokens page.
struct Tokens;

impl FormPage for Tokens {
    const PATH: &'static str = PAGE;
    const FLASH: &'static [(&'static str, &'static str)] = FLASH;
    /// Nothing is filled again (the forms are a name and a number of days).
    type Filled = ();

    async fn render(state: &AppState, admin: &AdminPage, drawn: Drawn<'_, ()>) -> HttpResponse {
        render(state, admin, drawn.status, drawn.flash, drawn.errors).await
    }
}

async fn render(
    state: &AppState,
    admin: &AdminPage,
    status: StatusCode,
    flash: Option<String>,
    errors: &[String],
) -> HttpResponse {
    let now = actors::storage::unix_ms_now();
    let backends: Vec<Value> = match state.registry.get() {
        Some(registry) => registry
            .list()
            .await
            .iter()
            .map(|e| credential_line(state, e, now))
            .collect(),
        None => Vec::new(),
    };
    let own = match state
        .identity
        .list_api_tokens(Some(admin.principal.user_id))
        .await
    {
        Ok(list) => list.iter().map(|t| own_token(t, now)).collect::<Vec<_>>(),
        Err(error) => {
            slog::error!(state.log, "Tokens page: cannot list API tokens."; "error" => %error);
            return page::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Tokens unavailable",
                "The API tokens could not be read; try again in a moment.",
                Some(("/admin", "Back to the dashboard")),
            );
        }
    };
    let mut c = Context::new();
    c.insert("backends", &backends);
    c.insert("api_tokens", &own);
    c.insert("flash", &flash);
    c.insert("errors", errors);
    c.insert("mcp_url", &mcp_url(state));
    page::render(
        status,
        "admin/mcp_tokens.html",
        c,
        Some(&admin.chrome(PAGE)),
    )
}

fn mcp_url(state: &AppState) -> String {
    format!(
        "{}/mcp",
        state.settings.load().public_url.trim_end_matches('/')
    )
}

async fn refused(state: &AppState, admin: &AdminPage, error: AdminApiError) -> HttpResponse {
    form_page::refused::<Tokens>(state, admin, &error, &()).await
}

async fn refresh(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminPage,
    id: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    // Nothing is read from the form but its CSRF token (checked before this handler).
    if let Err(response) = forms::read(&req, payload, PAGE).await {
        return *response;
    }
    let entry = match servers::find(&state, &id).await {
        Ok(entry) => entry,
        Err(response) => return *response,
    };
    match credentials::start_refresh(&state, &entry) {
        Ok(()) => {
            slog::info!(request_log(&req, &state.log), "Backend token refresh asked in the console.";
                "by" => &admin.principal.username, "backend" => &entry.name);
            forms::done(PAGE, "refreshing", &entry.name)
        }
        Err(error) => refused(&state, &admin, error).await,
    }
}

async fn create_api_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminPage,
    payload: web::Payload,
) -> HttpResponse {
    let params = match forms::read(&req, payload, PAGE).await {
        Ok(params) => params,
        Err(response) => return *response,
    };
    let log = request_log(&req, &state.log);
    // The form's days as the API's JSON value, so both are judged by the same rule.
    let days = match params.get("expires_days").map(str::trim) {
        None | Some("") => Value::Null,
        Some(text) => text
            .parse::<u64>()
            .map_or_else(|_| json!(text), |n| json!(n)),
    };
    let expires_in = match tokens::expires_days(&days) {
        Ok(expires_in) => expires_in,
        Err(problem) => {
            return refused(&state, &admin, AdminApiError::Invalid(vec![problem])).await;
        }
    };
    let created = state
        .identity
        .create_api_token(NewApiTokenRequest {
            user_id: admin.principal.user_id,
            name: params.get("name").unwrap_or("").to_string(),
            expires_in,
        })
        .await;
    let (token, info) = match created {
        Ok(created) => created,
        Err(error) => return refused(&state, &admin, tokens::failed(error, &log)).await,
    };
    slog::info!(log, "API token created in the console."; "id" => info.id, "by" => &admin.principal.username);
    let expires = info.expires_at_ms.map_or_else(
        || "never".to_string(),
        |at| format!("{} UTC", chart::utc(at)),
    );
    shown_once(
        &admin,
        "New API token",
        &format!("API token {} created.", info.name),
        json!([
            { "label": "Token", "name": "api_token", "value": token, "secret": true },
            { "label": "Expires", "name": "expires", "value": expires, "secret": false },
            { "label": "MCP endpoint", "name": "mcp_url", "value": mcp_url(&state), "secret": false },
        ]),
        "Copy the token now: it is shown only on this page and cannot be read again. Send it \
         as `Authorization: Bearer <token>`.",
    )
}

async fn revoke_api_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminPage,
    id: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    // Nothing is read from the form but its CSRF token (checked before this handler).
    if let Err(response) = forms::read(&req, payload, PAGE).await {
        return *response;
    }
    let log = request_log(&req, &state.log);
    // Only the administrator's own tokens are on this page; others' go through the API.
    let own = state
        .identity
        .list_api_tokens(Some(admin.principal.user_id))
        .await
        .map_err(|e| tokens::failed(e, &log));
    let found = own.and_then(|list| {
        list.into_iter()
            .find(|t| id.parse::<i64>().ok() == Some(t.id))
            .ok_or_else(|| AdminApiError::NotFound(format!("You have no API token `{id}`.")))
    });
    let outcome = match found {
        Ok(token) => state
            .identity
            .revoke_api_token(token.id)
            .await
            .map_err(|e| tokens::failed(e, &log)),
        Err(error) => Err(error),
    };
    match outcome {
        Ok(info) => {
            slog::info!(log, "API token revoked in the console."; "id" => info.id, "by" => &admin.principal.username);
            forms::done(PAGE, "revoked", &info.name)
        }
        Err(error) => refused(&state, &admin, error).await,
    }
}

async fn issue_access_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminPage,
    payload: web::Payload,
) -> HttpResponse {
    // Nothing is read from the form but its CSRF token (checked before this handler).
    if let Err(response) = forms::read(&req, payload, PAGE).await {
        return *response;
    }
    let log = request_log(&req, &state.log);
    let tokens = match access_token::issue(&req, &state, admin.principal.user_id, &log).await {
        Ok(tokens) => tokens,
        Err(error) => return refused(&state, &admin, error).await,
    };
    let expires_at = actors::storage::unix_ms_now().saturating_add(
        i64::try_from(tokens.expires_in)
            .unwrap_or(0)
            .saturating_mul(1000),
    );
    let mut fields = vec![
        json!({ "label": "Access token", "name": "access_token", "value": tokens.access_token, "secret": true }),
        json!({ "label": "Expires", "name": "expires", "value": format!("{} UTC (in {} s)", chart::utc(expires_at), tokens.expires_in), "secret": false }),
        json!({ "label": "MCP endpoint", "name": "mcp_url", "value": mcp_url(&state), "secret": false }),
    ];
    if let Some(refresh) = &tokens.refresh_token {
        fields.push(json!({ "label": "Refresh token (POST /auth/refresh)", "name": "refresh_token", "value": refresh, "secret": true }));
    }
    shown_once(
        &admin,
        "Access token",
        "An access token for you, for an MCP client.",
        Value::Array(fields),
        "Copy it now: it is shown only on this page. Put it in the MCP client's configuration as \
         `Authorization: Bearer <token>`; it ends when it expires or when your sessions are \
         revoked.",
    )
}

fn shown_once(
    admin: &AdminPage,
    title: &str,
    message: &str,
    fields: Value,
    warning: &str,
) -> HttpResponse {
    page::shown_once(
        page::ShownOnce {
            title,
            message,
            fields,
            warning,
            back: PAGE,
            back_label: "Back to the tokens",
        },
        &admin.chrome(PAGE),
    )
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(PAGE).route(web::get().to(form_page::show::<Tokens>)))
        .service(
            web::resource("/admin/mcp-tokens/servers/{id}/refresh").route(web::post().to(refresh)),
        )
        .service(
            web::resource("/admin/mcp-tokens/api-tokens").route(web::post().to(create_api_token)),
        )
        .service(
            web::resource("/admin/mcp-tokens/api-tokens/{id}/revoke")
                .route(web::post().to(revoke_api_token)),
        )
        .service(
            web::resource("/admin/mcp-tokens/access-token")
                .route(web::post().to(issue_access_token)),
        );
}
