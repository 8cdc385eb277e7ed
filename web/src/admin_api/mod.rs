//! `/admin/api/mcp-servers`: the backends an administrator manages at run time.
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/admin/api/mcp-servers` | `{"servers": [...]}`: file and database backends with live status |
//! | POST | `/admin/api/mcp-servers` | 201 + the created backend and a `message` naming its identifier |
//! | GET | `/admin/api/mcp-servers/{id}` | one backend |
//! | PATCH | `/admin/api/mcp-servers/{id}` | partial update; 200 + the backend |
//! | DELETE | `/admin/api/mcp-servers/{id}` | 200 + `{"id","name","message"}` |
//!
//! A backend's connection test: `server_test.rs`; its changed tool definitions and their
//! approval: `tool_changes.rs`; its cached tools, prompts and resources: `server_items.rs`.
//!
//! Authorization policies and groups: see `policies.rs` and `groups.rs`; the audit trail
//! (`mcp-requests`, `mcp-stats`, `mcp-activity/stream`): `audit.rs`; OAuth clients:
//! `oauth_clients.rs`; an administrator's own access token (`access-token`):
//! `access_token.rs`; dashboard figures (`stats`): `stats.rs`; the effective configuration
//! (`settings`): `settings.rs`; the OpenAPI document of all of them (`openapi.json`): `openapi.rs`.
//!
//! Admin role required: the authn middleware answers 401 without a valid bearer token or
//! console session cookie (and 403 for a cookie-authenticated change without its CSRF token),
//! these handlers 403 for a non-admin. Each handler is one call into the [`BackendRegistry`], which
//! stores, seals credentials and applies the change to the running supervisor at once.
//!
//! [`BackendRegistry`]: actors::registry::BackendRegistry

pub(crate) mod access_token;
pub(crate) mod audit;
pub(crate) mod body;
pub(crate) mod credentials;
mod error;
mod export;
mod groups;
mod live_feed;
pub(crate) mod oauth_clients;
mod openapi;
mod policies;
mod policy_body;
pub(crate) mod query;
pub(crate) mod scan;
pub(crate) mod security;
mod server_items;
pub(crate) mod server_test;
pub(crate) mod settings;
mod stats;
pub(crate) mod tokens;
pub(crate) mod tool_changes;
pub(crate) mod users;
pub(crate) mod view;

use std::sync::Arc;

use actix_web::{HttpMessage, HttpRequest, HttpResponse, delete, get, patch, post, web};
use serde_json::{Value, json};

use actors::registry::{BackendDraft, BackendId, BackendRegistry, RegistryError};

use crate::authn::Caller;
use crate::error::WebError;
use crate::request_context::RequestContext;
use crate::state::AppState;
pub use error::AdminApiError;

/// The administrator making the call, and a logger carrying the request id.
pub(crate) struct AdminCall {
    username: String,
    log: slog::Logger,
    registry: Arc<BackendRegistry>,
}

pub(crate) fn admin_call(req: &HttpRequest, state: &AppState) -> Result<AdminCall, AdminApiError> {
    let (username, log) = admin_caller(req, state)?;
    let registry = state.registry.get().cloned().ok_or_else(|| {
        AdminApiError::Unavailable("The gateway is still starting; retry in a moment.".into())
    })?;
    Ok(AdminCall {
        username,
        log,
        registry,
    })
}

impl AdminCall {
    /// The registry's refusal as the API's error, logged with this call's request id.
    fn refused(&self) -> impl Fn(RegistryError) -> AdminApiError + '_ {
        |error| AdminApiError::from_registry(error, &self.log)
    }
}

/// The body as a backend draft (`creating`: every field a new backend needs).
fn draft_of(req: &HttpRequest, body: &[u8], creating: bool) -> Result<BackendDraft, AdminApiError> {
    body::parse(&json_body(req, body)?, creating).map_err(AdminApiError::Invalid)
}

/// The administrator's username and a logger carrying the request id; 401/403 otherwise.
fn admin_caller(
    req: &HttpRequest,
    state: &AppState,
) -> Result<(String, slog::Logger), AdminApiError> {
    let log = req
        .extensions()
        .get::<RequestContext>()
        .map_or_else(|| state.log.clone(), |c| c.log.clone());
    let caller = req.extensions().get::<Caller>().cloned();
    let username = match caller {
        Some(Caller::User(p)) if p.is_admin() => p.username.clone(),
        Some(Caller::User(_)) => {
            crate::security_events::record(
                state,
                req,
                actors::security::SecurityEventType::Forbidden,
                &[("reason", "not an administrator".into())],
            );
            return Err(WebError::Forbidden(
                "The admin API needs an administrator's account.".into(),
            )
            .into());
        }
        // Only possible with auth.required = false: the admin API still needs an admin token.
        Some(Caller::Anonymous) | None => {
            let settings = state.settings.load();
            return Err(WebError::Unauthorized {
                detail: "The admin API needs an administrator's bearer token, even with \
                         authentication switched off (POST /auth/login issues one)."
                    .into(),
                invalid_token: false,
                resource_metadata: settings.resource_metadata_url(),
            }
            .into());
        }
    };
    Ok((username, log))
}

/// The body as JSON, read only after the caller is known to be an admin (so nobody else learns
/// anything from how a body is judged). The size limit is the app's `PayloadConfig`.
fn json_body(req: &HttpRequest, body: &[u8]) -> Result<Value, AdminApiError> {
    let is_json = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            t.trim()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !is_json {
        return Err(WebError::BadRequest(
            "Send the body as JSON with `Content-Type: application/json`.".into(),
        )
        .into());
    }
    serde_json::from_slice(body).map_err(|e| {
        WebError::BadRequest(format!("The request body is not valid JSON: {e}.")).into()
    })
}

pub(crate) fn backend_id(raw: &str) -> Result<BackendId, AdminApiError> {
    BackendId::parse(raw).ok_or_else(|| {
        AdminApiError::NotFound(format!(
            "No backend with id `{raw}` (ids are numbers, or file:<name> for config-file backends)."
        ))
    })
}

#[get("/admin/api/mcp-servers")]
async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AdminApiError> {
    let call = admin_call(&req, &state)?;
    let servers: Vec<Value> = call
        .registry
        .list()
        .await
        .iter()
        .map(|e| with_token(view::entry(e), &state, e))
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(json!({ "servers": servers })))
}

#[post("/admin/api/mcp-servers")]
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminApiError> {
    let call = admin_call(&req, &state)?;
    let body = json_body(&req, &body)?;
    let draft = body::parse(&body, true).map_err(AdminApiError::Invalid)?;
    let made_from = body::name_made_from(&body, &draft);
    let entry = call
        .registry
        .create(draft, &call.username)
        .await
        .map_err(|e| body::explain_taken(e, made_from.as_deref()))
        .map_err(call.refused())?;
    let mut created = view::entry(&entry);
    created["message"] = json!(body::created_message(&entry.name, made_from.as_deref()));
    Ok(HttpResponse::Created()
        .insert_header(("location", format!("/admin/api/mcp-servers/{}", entry.id)))
        .json(created))
}

#[get("/admin/api/mcp-servers/{id}")]
async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminApiError> {
    let call = admin_call(&req, &state)?;
    let entry = call
        .registry
        .get(&backend_id(&id)?)
        .await
        .map_err(call.refused())?;
    Ok(HttpResponse::Ok().json(with_token(view::entry(&entry), &state, &entry)))
}

/// Adds the live token state (`null` for static credentials) to a server's view.
fn with_token(mut view: Value, state: &AppState, entry: &actors::registry::BackendEntry) -> Value {
    if let Value::Object(map) = &mut view {
        map.insert("token".into(), credentials::token_view(state, entry));
    }
    view
}

#[patch("/admin/api/mcp-servers/{id}")]
async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminApiError> {
    let call = admin_call(&req, &state)?;
    let id = backend_id(&id)?;
    let draft = draft_of(&req, &body, false)?;
    let entry = call
        .registry
        .update(&id, draft, &call.username)
        .await
        .map_err(call.refused())?;
    Ok(HttpResponse::Ok().json(view::entry(&entry)))
}

#[delete("/admin/api/mcp-servers/{id}")]
async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminApiError> {
    let call = admin_call(&req, &state)?;
    let removed = call
        .registry
        .delete(&backend_id(&id)?, &call.username)
        .await
        .map_err(call.refused())?;
    Ok(HttpResponse::Ok().json(json!({
        "id": view::id(&removed.id),
        "name": removed.name,
        "message": "Backend deleted.",
    })))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    audit::configure(cfg);
    security::configure(cfg);
    policies::configure(cfg);
    groups::configure(cfg);
    tokens::configure(cfg);
    access_token::configure(cfg);
    credentials::configure(cfg);
    scan::configure(cfg);
    server_items::configure(cfg);
    tool_changes::configure(cfg);
    // Before `create`/`show`: `/mcp-servers/test` would otherwise read as an id.
    server_test::configure(cfg);
    users::configure(cfg);
    oauth_clients::configure(cfg);
    stats::configure(cfg);
    settings::configure(cfg);
    openapi::configure(cfg);
    cfg.service(list)
        .service(create)
        .service(show)
        .service(update)
        .service(remove);
}
