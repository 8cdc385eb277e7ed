//! A backend's live credential as the console's token page needs it: the token's state
//! (`GET …/token-status`) and an on-demand refresh (`POST …/refresh-token`, the original's
//! path). Never a token or secret: the state, times, counters and the last error only.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde_json::{Value, json};

use actors::backend::Credential;
use actors::registry::BackendEntry;

use super::{AdminApiError, admin_call, backend_id, view};
use crate::state::AppState;

/// The running incarnation's credential, when the backend runs.
pub(crate) fn credential_of(state: &AppState, name: &str) -> Option<Credential> {
    let upstream = state.gateway.get()?.upstream(name)?;
    Some(upstream.credential().clone())
}

/// `token` in the server list and the token-status view: `null` for static credentials.
pub(crate) fn token_view(state: &AppState, entry: &BackendEntry) -> Value {
    let Some(credential) = credential_of(state, &entry.name) else {
        return Value::Null;
    };
    match credential.token_status() {
        Some(status) => {
            let mut value = serde_json::to_value(&status).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut value {
                let stats = credential.stats();
                map.insert("refresh_ok".into(), json!(stats.refresh_ok));
                map.insert("refresh_failed".into(), json!(stats.refresh_failed));
                map.insert("rejected".into(), json!(stats.rejected));
            }
            value
        }
        None => Value::Null,
    }
}

pub(super) async fn entry_for(
    req: &HttpRequest,
    state: &AppState,
    raw_id: &str,
) -> Result<BackendEntry, AdminApiError> {
    let call = admin_call(req, state)?;
    let id = backend_id(raw_id)?;
    call.registry
        .get(&id)
        .await
        .map_err(|e| AdminApiError::from_registry(e, &call.log))
}

/// Asks `entry`'s token loop for a new token now (the API's `refresh-token` and the console's
/// "Refresh now"); 409 when the backend is not running or has a static credential.
pub(crate) fn start_refresh(state: &AppState, entry: &BackendEntry) -> Result<(), AdminApiError> {
    let Some(credential) = credential_of(state, &entry.name) else {
        return Err(AdminApiError::Conflict(format!(
            "The backend `{}` is not running; enable it first.",
            entry.name
        )));
    };
    if !credential.request_refresh() {
        return Err(AdminApiError::Conflict(format!(
            "The backend `{}` uses a static credential ({}); only OAuth backends get tokens.",
            entry.name, entry.auth_type
        )));
    }
    Ok(())
}

#[get("/admin/api/mcp-servers/{id}/token-status")]
async fn token_status(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminApiError> {
    let entry = entry_for(&req, &state, &id).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(json!({
            "id": view::id(&entry.id),
            "name": entry.name,
            "auth_type": entry.auth_type,
            "token": token_view(&state, &entry),
        })))
}

#[post("/admin/api/mcp-servers/{id}/refresh-token")]
async fn refresh_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminApiError> {
    let entry = entry_for(&req, &state, &id).await?;
    start_refresh(&state, &entry)?;
    // Accepted: the backend's token loop runs the refresh; token-status shows the outcome.
    Ok(HttpResponse::Accepted().json(json!({
        "id": view::id(&entry.id),
        "name": entry.name,
        "message": "Token refresh started; GET token-status for the outcome.",
    })))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(token_status).service(refresh_token);
}
