//! Testing a backend's connection: `POST /admin/api/mcp-servers/{id}/test` (the original's
//! path) and `POST /admin/api/mcp-servers/test` with a create body (the add form tests before
//! saving). One connect + `initialize` + every list with the backend's credential, bounded by
//! its timeout (at most [`MAX_TEST_TIME`]), then the session is closed. The status board is
//! not touched: the live status stays what the health loop saw.
//!
//! 200 `{"ok": true, "latency_ms", "server_name", "server_version", "protocol_version",
//! "tool_count", "prompt_count", "resource_count"}`; 502 `{"error": "bad_gateway", "detail",
//! "hint"}` when the backend cannot be reached or refuses the handshake.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde_json::{Value, json};

use actors::backend::{Credential, ProbeReport};
use actors::spec::BackendSpec;

use super::credentials::credential_of;
use super::{AdminApiError, admin_call, backend_id, draft_of};
use crate::state::AppState;

/// The longest a test may take, whatever the backend's own timeout says.
pub(crate) const MAX_TEST_TIME: Duration = Duration::from_secs(30);

/// Tests `spec`: the running backend's credential when it runs (a live OAuth token), else
/// the spec's static one (an OAuth backend that is not running has no token to test with).
pub(crate) async fn run(
    state: &AppState,
    spec: &BackendSpec,
    log: &slog::Logger,
) -> Result<ProbeReport, AdminApiError> {
    let credential =
        credential_of(state, &spec.name).unwrap_or_else(|| Credential::from_spec(spec));
    let timeout = spec.timeout.min(MAX_TEST_TIME);
    actors::backend::probe(spec, &credential, timeout, log)
        .await
        .map_err(|error| {
            slog::info!(log, "Backend connection test failed.";
                "backend" => &spec.name, "error" => %error);
            AdminApiError::BadGateway {
                detail: format!("The connection test failed: {error}."),
                hint: error.hint(),
            }
        })
}

pub(crate) fn report_json(report: &ProbeReport) -> Value {
    json!({
        "ok": true,
        "latency_ms": u64::try_from(report.latency.as_millis()).unwrap_or(u64::MAX),
        "server_name": report.server_name,
        "server_version": report.server_version,
        "protocol_version": report.protocol_version,
        "tool_count": report.tool_count,
        "prompt_count": report.prompt_count,
        "resource_count": report.resource_count,
    })
}

#[post("/admin/api/mcp-servers/test")]
async fn test_draft(
    req: HttpRequest,
    state: web::Data<AppState>,
    bytes: web::Bytes,
) -> Result<HttpResponse, AdminApiError> {
    let call = admin_call(&req, &state)?;
    let draft = draft_of(&req, &bytes, true)?;
    let spec = call.registry.draft_spec(draft).map_err(call.refused())?;
    let report = run(&state, &spec, &call.log).await?;
    Ok(HttpResponse::Ok().json(report_json(&report)))
}

#[post("/admin/api/mcp-servers/{id}/test")]
async fn test_saved(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminApiError> {
    let call = admin_call(&req, &state)?;
    let spec = call
        .registry
        .spec(&backend_id(&id)?)
        .await
        .map_err(call.refused())?;
    let report = run(&state, &spec, &call.log).await?;
    Ok(HttpResponse::Ok().json(report_json(&report)))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(test_draft).service(test_saved);
}
