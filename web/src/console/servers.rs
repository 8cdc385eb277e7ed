//! `/admin/mcp-servers`: the backends, from the same registry and views as
//! `/admin/api/mcp-servers`. Config-file backends are listed read-only (changed in the file,
//! then SIGHUP); database backends can be added, enabled, disabled and deleted here (edited on
//! the detail page, `server_detail.rs`).
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/admin/mcp-servers` | the table and the add form |
//! | POST | `/admin/mcp-servers` | add (`name` — free text is made an identifier, as in the API —, `url`, `tool_prefix`, `auth_type`, `auth_token`) |
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

use super::form_page::{self, Drawn, FormPage};
use super::guard::AdminPage;
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
    admin.chrome(Servers::PATH)
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

/// The MCP servers page.
struct Servers;

impl FormPage for Servers {
    const PATH: &'static str = "/admin/mcp-servers";
    const FLASH: &'static [(&'static str, &'static str)] = FLASH;
    type Filled = Filled;

    async fn render(state: &AppState, admin: &AdminPage, drawn: Drawn<'_, Filled>) -> HttpResponse {
        let registry = match registry(state) {
            Ok(r) => r,
            Err(response) => return *response,
        };
        let servers: Vec<Value> = registry.list().await.iter().map(line).collect();
        let mut c = Context::new();
        c.insert("servers", &servers);
        c.insert("flash", &drawn.flash);
        c.insert("errors", drawn.errors);
        c.insert("filled", drawn.filled);
        c.insert("config_file", &config_file(state));
        page::render(drawn.status, "admin/servers.html", c, Some(&chrome(admin)))
    }
}

async fn refused(
    state: &AppState,
    admin: &AdminPage,
    error: AdminApiError,
    filled: &Filled,
) -> HttpResponse {
    form_page::refused::<Servers>(state, admin, &error, filled).await
}

async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminPage,
    payload: web::Payload,
) -> HttpResponse {
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
    let fields = Value::Object(fields);
    let draft = match body::parse(&fields, true) {
        Ok(draft) => draft,
        Err(problems) => {
            return refused(&state, &admin, AdminApiError::Invalid(problems), &filled).await;
        }
    };
    let made_from = body::name_made_from(&fields, &draft);
    match registry.create(draft, &admin.principal.username).await {
        Ok(entry) => {
            slog::info!(log, "Backend added in the console.";
                "by" => &admin.principal.username, "backend" => &entry.name);
            let shown = match &entry.display_name {
                Some(display_name) => format!("{} ({display_name})", entry.name),
                None => entry.name.clone(),
            };
            forms::done("/admin/mcp-servers", "created", &shown)
        }
        Err(error) => {
            let error = body::explain_taken(error, made_from.as_deref());
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
        page::missing(
            "No such backend",
            &format!("There is no backend with id `{raw}`; it may have been deleted."),
            (Servers::PATH, "Back to the MCP servers"),
        )
    };
    let id = admin_api::backend_id(raw).map_err(|_| not_found())?;
    registry.get(&id).await.map_err(|_| not_found())
}

/// Enable/disable (`status`) or delete one database backend.
async fn act(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminPage,
    path: web::Path<forms::ItemAction>,
    payload: web::Payload,
) -> HttpResponse {
    let params = match forms::read(&req, payload, Servers::PATH).await {
        Ok(params) => params,
        Err(response) => return *response,
    };
    let registry = match registry(&state) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    let log = request_log(&req, &state.log);
    let by = admin.principal.username.as_str();
    let outcome = match admin_api::backend_id(&path.id) {
        Err(error) => Err(error),
        Ok(id) if path.action == "status" => {
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
        Ok(id) if path.action == "delete" => registry
            .delete(&id, by)
            .await
            .map(|e| ("deleted", e.name))
            .map_err(|e| AdminApiError::from_registry(e, &log)),
        Ok(_) => Err(AdminApiError::NotFound(format!(
            "There is no backend action `{}`.",
            path.action
        ))),
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
    state: web::Data<AppState>,
    admin: AdminPage,
    id: web::Path<String>,
) -> HttpResponse {
    let entry = match find(&state, &id).await {
        Ok(entry) => entry,
        Err(response) => return *response,
    };
    let question = format!(
        "Delete the backend {}? Its tools disappear from /mcp at once and its stored \
         credentials are removed. This cannot be undone.",
        entry.name
    );
    page::confirm(
        page::Confirm {
            title: "Delete backend",
            question: &question,
            action: &format!("/admin/mcp-servers/{id}/delete"),
            confirm_label: "Delete backend",
            back: "/admin/mcp-servers",
        },
        &chrome(&admin),
    )
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/mcp-servers")
            .route(web::get().to(form_page::show::<Servers>))
            .route(web::post().to(create)),
    )
    .service(web::resource("/admin/mcp-servers/{id}").route(web::get().to(server_detail::show)))
    .service(web::resource("/admin/mcp-servers/{id}/{action:status}").route(web::post().to(act)))
    .service(
        web::resource("/admin/mcp-servers/{id}/delete")
            .route(web::get().to(confirm_delete))
            .route(web::post().to(act)),
    );
    server_detail::configure(cfg);
}
