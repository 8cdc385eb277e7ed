//! What a backend offers, from the gateway's cached capabilities (a snapshot read; the backend
//! is not asked): `GET /admin/api/mcp-servers/{id}/tools` (the original's path), `…/prompts`
//! and `…/resources`. Each item exactly as the backend sent it, with the name clients see
//! through the gateway (`exposed_as`: the tool prefix applied) for tools and prompts.

use actix_web::{HttpRequest, HttpResponse, get, web};
use serde_json::{Value, json};

use actors::registry::BackendEntry;

use super::AdminApiError;
use super::credentials::entry_for;
use crate::state::AppState;

/// Which list of the cached capabilities.
#[derive(Clone, Copy)]
enum Kind {
    Tools,
    Prompts,
    Resources,
}

fn answer(state: &AppState, entry: &BackendEntry, kind: Kind) -> HttpResponse {
    let capabilities = state
        .gateway
        .get()
        .and_then(|g| g.capabilities(&entry.name));
    let parse = |raw: &serde_json::value::RawValue| serde_json::from_str::<Value>(raw.get()).ok();
    let exposed = |mut item: Value| {
        if let Some(name) = item.get("name").and_then(Value::as_str) {
            let shown = format!("{}{name}", entry.tool_prefix);
            item["exposed_as"] = json!(shown);
        }
        item
    };
    let items: Vec<Value> = match (kind, &capabilities) {
        (_, None) => Vec::new(),
        (Kind::Tools, Some(c)) => c
            .tools
            .iter()
            .filter_map(|r| parse(r))
            .map(exposed)
            .collect(),
        (Kind::Prompts, Some(c)) => c
            .prompts
            .iter()
            .filter_map(|r| parse(r))
            .map(exposed)
            .collect(),
        (Kind::Resources, Some(c)) => c
            .resources
            .iter()
            .chain(c.resource_templates.iter())
            .filter_map(|r| parse(r))
            .collect(),
    };
    let key = match kind {
        Kind::Tools => "tools",
        Kind::Prompts => "prompts",
        Kind::Resources => "resources",
    };
    HttpResponse::Ok().json(json!({
        "id": super::view::id(&entry.id),
        "name": entry.name,
        "status": entry.status.as_ref().map(|s| json!(s.state)),
        "fetched_at_ms": capabilities.as_ref().map(|c| c.fetched_at_ms),
        "count": items.len(),
        key: items,
    }))
}

#[get("/admin/api/mcp-servers/{id}/tools")]
async fn tools(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminApiError> {
    let entry = entry_for(&req, &state, &id).await?;
    Ok(answer(&state, &entry, Kind::Tools))
}

#[get("/admin/api/mcp-servers/{id}/prompts")]
async fn prompts(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminApiError> {
    let entry = entry_for(&req, &state, &id).await?;
    Ok(answer(&state, &entry, Kind::Prompts))
}

#[get("/admin/api/mcp-servers/{id}/resources")]
async fn resources(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminApiError> {
    let entry = entry_for(&req, &state, &id).await?;
    Ok(answer(&state, &entry, Kind::Resources))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(tools).service(prompts).service(resources);
}
