//! Changed tool definitions awaiting approval: `GET /admin/api/mcp-servers/{id}/tool-changes`
//! lists them (approved and new definition side by side) and
//! `POST /admin/api/mcp-servers/{id}/tools/{name}/approve` makes the new one the approved
//! one (the backend's own tool name, without the prefix). With `security.hold_changed_tools`
//! on, a tool is withheld from clients until approved.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde_json::json;

use actors::registry::BackendEntry;
use actors::security::{ApprovalError, SecurityEvents, ToolChange};
use actors::storage::StorageError;

use super::credentials::entry_for;
use super::{AdminApiError, admin_caller, view};
use crate::state::AppState;

fn approvals(state: &AppState) -> Result<&SecurityEvents, AdminApiError> {
    state.security.get().ok_or_else(|| {
        AdminApiError::Unavailable("The gateway is still starting; retry in a moment.".into())
    })
}

fn storage_error(error: StorageError, log: &slog::Logger) -> AdminApiError {
    match error {
        StorageError::Locked | StorageError::Pool(_) => {
            AdminApiError::Unavailable("The database is busy; retry in a moment.".into())
        }
        other => {
            slog::error!(log, "Tool approvals could not be read or written."; "error" => %other);
            AdminApiError::Internal(
                "The tool approvals could not be read or saved; the gateway log has the cause."
                    .into(),
            )
        }
    }
}

/// `backend`'s changes awaiting approval (the console shows the same list).
pub(crate) async fn changes_of(
    state: &AppState,
    backend: &str,
    log: &slog::Logger,
) -> Result<Vec<ToolChange>, AdminApiError> {
    approvals(state)?
        .tool_approvals()
        .changes(backend)
        .await
        .map_err(|e| storage_error(e, log))
}

/// Approves `entry`'s pending definition of `tool`, as `by`.
pub(crate) async fn approve_change(
    state: &AppState,
    entry: &BackendEntry,
    tool: &str,
    by: &str,
    log: &slog::Logger,
) -> Result<ToolChange, AdminApiError> {
    let change = approvals(state)?
        .tool_approvals()
        .approve(&entry.name, tool, by)
        .await
        .map_err(|e| match e {
            ApprovalError::NothingPending { .. } => {
                AdminApiError::Conflict(format!("{}.", capitalised(&e.to_string())))
            }
            ApprovalError::Storage(e) => storage_error(e, log),
        })?;
    slog::info!(log, "Changed tool definition approved.";
        "by" => by, "backend" => &entry.name, "tool" => tool, "hash" => &change.new_hash);
    Ok(change)
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

#[get("/admin/api/mcp-servers/{id}/tool-changes")]
async fn tool_changes(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminApiError> {
    let entry = entry_for(&req, &state, &id).await?;
    let (_, log) = admin_caller(&req, &state)?;
    let changes = changes_of(&state, &entry.name, &log).await?;
    let hold = approvals(&state)?.tool_approvals().hold();
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(json!({
            "id": view::id(&entry.id),
            "name": entry.name,
            "hold_changed_tools": hold,
            "count": changes.len(),
            "changes": changes,
        })))
}

#[post("/admin/api/mcp-servers/{id}/tools/{name}/approve")]
async fn approve(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AdminApiError> {
    let (id, tool) = path.into_inner();
    let entry = entry_for(&req, &state, &id).await?;
    let (username, log) = admin_caller(&req, &state)?;
    let change = approve_change(&state, &entry, &tool, &username, &log).await?;
    Ok(HttpResponse::Ok().json(json!({
        "id": view::id(&entry.id),
        "name": entry.name,
        "tool": change.tool,
        "approved_hash": change.new_hash,
        "message": "Tool definition approved.",
    })))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(tool_changes).service(approve);
}
