//! `/admin/mcp-servers`: the backends, from the same registry and views as
//! `/admin/api/mcp-servers`. Config-file backends are listed read-only (changed in the file,
//! then SIGHUP); database backends can be added, enabled, disabled and deleted here (edited on
//! the detail page, `server_detail.rs`).
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/admin/mcp-servers` | the table and the add form |
//! | POST | `/admin/mcp-servers` | add (`name`, `url`, `tool_prefix`, `auth_type`, `auth_token`) |
//! | GET, POST | `/admin/mcp-servers/{id}…` | one backend: tools, prompts, resources, test, edit (`server_detail.rs`) |
//! | POST | `/admin/mcp-servers/{id}/status` | `enabled=true|false` |
//! | GET, POST | `/admin/mcp-servers/{id}/delete` | the confirm page, then the deletion |
//!
//! The auth token is write-only: never shown, never put back into a refused form.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use actors::registry::BackendRegistry;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use tera::Context;

use super::guard::{self, AdminPage};
use super::{chart, forms, page, server_detail};
use crate::admin_api::{self, AdminApiError, body, view};
use crate::oauth::request_log;
use crate::state::AppState;

const FLASH: &[(&str, &str)] = &[
    (
        "created",
        "Backend {name} added; it shows as online once it answers.",
    ),
    ("enabled", "Backend {name} enabled."),
    ("disabled", "Backend {name} disabled."),
    ("deleted", "Backend {name} deleted."),
];

/// The fields the add form sends back after a refusal (never the token).
#[derive(Default, Serialize)]
struct Filled {
    name: String,
    url: String,
    tool_prefix: String,
    auth_type: String,
}

pub(super) fn chrome(admin: &AdminPage) -> page::Chrome<'_> {
    page::Chrome {
        username: &admin.principal.username,
        csrf_token: &admin.csrf_token,
        current: "/admin/mcp-servers",
    }
}

pub(super) fn registry(state: &AppState) -> Result<Arc<BackendRegistry>, Box<HttpResponse>> {
    state.registry.get().cloned().ok_or_else(|| {
        Box::new(page::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Starting",
            "The gateway is still starting; reload in a moment.",
            Some(("/admin/mcp-servers", "Reload")),
        ))
    })
}

/// Where read-only backends are defined, as the pages name it.
pub(super) fn config_file(state: &AppState) -> String {
    state
        .console
        .get()
        .and_then(|c| c.config_file.as_ref())
        .map_or_else(
            || "the config file".to_string(),
            |p| p.display().to_string(),
        )
}

/// A backend as the table shows it: the admin API's view plus display strings.
pub(super) fn line(entry: &actors::registry::BackendEntry) -> Value {
    let mut v = view::entry(entry);
    let shown_id = v["id"].to_string().trim_matches('"').to_string();
    if let Value::Object(map) = &mut v {
        map.insert("path_id".into(), json!(shown_id));
        map.insert(
            "last_check".into(),
            json!(
                entry
                    .status
                    .as_ref()
                    .and_then(|s| s.last_check_ms)
                    .map(chart::utc)
            ),
        );
    }
    v
}

async fn render(
    state: &AppState,
    admin: &AdminPage,
    status: StatusCode,
    flash: Option<String>,
    errors: &[String],
    filled: &Filled,
) -> HttpResponse {
    let registry = match registry(state) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    let servers: Vec<Value> = registry.list().await.iter().map(line).collect();
    let mut c = Context::new();
    c.insert("servers", &servers);
    c.insert("flash", &flash);
    c.insert("errors", errors);
    c.insert("filled", filled);
    c.insert("config_file", &config_file(state));
    page::render(status, "admin/servers.html", c, Some(&chrome(admin)))
}

async fn list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let admin = match guard::admin_page(&req, &state) {
        Ok(admin) => admin,
        Err(response) => return *response,
    };
    let flash = forms::flash(&forms::query(&req), FLASH);
    render(
        &state,
        &admin,
        StatusCode::OK,
        flash,
        &[],
        &Filled::default(),
    )
    .await
}

async fn refused(
    state: &AppState,
    admin: &AdminPage,
    error: AdminApiError,
    filled: &Filled,
) -> HttpResponse {
    let (status, errors) = forms::messages(&error);
    render(state, admin, status, None, &errors, filled).await
}

async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> HttpResponse {
    let admin = match guard::admin_page(&req, &state) {
        Ok(admin) => admin,
        Err(response) => return *response,
    };
    let params = match forms::read(&req, payload, "/admin/mcp-servers").await {
        Ok(params) => params,
        Err(response) => return *response,
    };
    let registry = match registry(&state) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    let log = request_log(&req, &state.log);
    let filled = Filled {
        name: params.get("name").unwrap_or("").to_string(),
        url: params.get("url").unwrap_or("").to_string(),
        tool_prefix: params.get("tool_prefix").unwrap_or("").to_string(),
        auth_type: params.get("auth_type").unwrap_or("none").to_string(),
    };
    // The form's fields as the admin API's JSON body, so both are judged by the same parser.
    let mut fields = Map::new();
    for key in ["name", "url", "tool_prefix", "auth_type", "auth_token"] {
        if let Some(value) = params.get(key) {
            fields.insert(key.into(), json!(value));
        }
    }
    let draft = match body::parse(&Value::Object(fields), true) {
        Ok(draft) => draft,
        Err(problems) => {
            return refused(&state, &admin, AdminApiError::Invalid(problems), &filled).await;
        }
    };
    match registry.create(draft, &admin.principal.username).await {
        Ok(entry) => {
            slog::info!(log, "Backend added in the console.";
                "by" => &admin.principal.username, "backend" => &entry.name);
            forms::done("/admin/mcp-servers", "created", &entry.name)
        }
        Err(error) => {
            let error = AdminApiError::from_registry(error, &log);
            refused(&state, &admin, error, &filled).await
        }
    }
}

/// The entry `raw` names, or the page saying there is none.
pub(super) async fn find(
    state: &AppState,
    raw: &str,
) -> Result<actors::registry::BackendEntry, Box<HttpResponse>> {
    let registry = registry(state)?;
    let not_found = || {
        Box::new(page::error(
            StatusCode::NOT_FOUND,
            "No such backend",
            &format!("There is no backend with id `{raw}`; it may have been deleted."),
            Some(("/admin/mcp-servers", "Back to the MCP servers")),
        ))
    };
    let id = admin_api::backend_id(raw).map_err(|_| not_found())?;
    registry.get(&id).await.map_err(|_| not_found())
}

async fn set_status(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    change(req, state, &id, payload, true).await
}

async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    change(req, state, &id, payload, false).await
}

/// Enable/disable (`status`) or delete one database backend.
async fn change(
    req: HttpRequest,
    state: web::Data<AppState>,
    raw_id: &str,
    payload: web::Payload,
    status: bool,
) -> HttpResponse {
    let admin = match guard::admin_page(&req, &state) {
        Ok(admin) => admin,
        Err(response) => return *response,
    };
    let params = match forms::read(&req, payload, "/admin/mcp-servers").await {
        Ok(params) => params,
        Err(response) => return *response,
    };
    let registry = match registry(&state) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    let log = request_log(&req, &state.log);
    let by = admin.principal.username.as_str();
    let outcome = match admin_api::backend_id(raw_id) {
        Err(error) => Err(error),
        Ok(id) if status => {
            let enabled = params.get("enabled") == Some("true");
            match body::parse(&json!({ "enabled": enabled }), false) {
                Ok(draft) => registry
                    .update(&id, draft, by)
                    .await
                    .map(|e| (if enabled { "enabled" } else { "disabled" }, e.name))
                    .map_err(|e| AdminApiError::from_registry(e, &log)),
                Err(problems) => Err(AdminApiError::Invalid(problems)),
            }
        }
        Ok(id) => registry
            .delete(&id, by)
            .await
            .map(|e| ("deleted", e.name))
            .map_err(|e| AdminApiError::from_registry(e, &log)),
    };
    match outcome {
        Ok((code, name)) => {
            slog::info!(log, "Backend changed in the console.";
                "by" => by, "backend" => &name, "change" => code);
            forms::done("/admin/mcp-servers", code, &name)
        }
        Err(error) => refused(&state, &admin, error, &Filled::default()).await,
    }
}

async fn confirm_delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    let admin = match guard::admin_page(&req, &state) {
        Ok(admin) => admin,
        Err(response) => return *response,
    };
    let entry = match find(&state, &id).await {
        Ok(entry) => entry,
        Err(response) => return *response,
    };
    let mut c = Context::new();
    c.insert("title", "Delete backend");
    c.insert(
        "question",
        &format!(
            "Delete the backend {}? Its tools disappear from /mcp at once and its stored \
             credentials are removed. This cannot be undone.",
            entry.name
        ),
    );
    c.insert("action", &format!("/admin/mcp-servers/{id}/delete"));
    c.insert("confirm_label", "Delete backend");
    c.insert("back", "/admin/mcp-servers");
    page::render(
        StatusCode::OK,
        "admin/confirm.html",
        c,
        Some(&chrome(&admin)),
    )
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/mcp-servers")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(web::resource("/admin/mcp-servers/{id}").route(web::get().to(server_detail::show)))
    .service(web::resource("/admin/mcp-servers/{id}/status").route(web::post().to(set_status)))
    .service(
        web::resource("/admin/mcp-servers/{id}/delete")
            .route(web::get().to(confirm_delete))
            .route(web::post().to(delete)),
    );
    server_detail::configure(cfg);
}
