//! `POST /admin/api/run-mcp-audit` (the original's path): the MCP security scanner
//! (`actors::mcp_audit`, also `authmcp-gateway scan`) run from the console or a script.
//!
//! Body: `{"url": "https://…/mcp"}` or `{"server_id": "<id>"}` (a configured Streamable HTTP
//! backend, scanned at its URL as an outsider would — its own credential is not used), with an
//! optional `"token"` (a bearer token for the server: used for this scan only, never stored or
//! logged) and `"timeout_s"` (1–60, default 10). Answer: the report, as `scan --json` writes it.

use std::sync::LazyLock;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde_json::Value;
use tokio::sync::Semaphore;

use actors::mcp_audit::{Report, ScanTarget, scan};
use actors::spec::BackendTransport;

use super::{AdminApiError, AdminCall, admin_call, backend_id, json_body};
use crate::state::AppState;

/// Scans at once: each sends a few dozen requests (one of 12 MiB); more would only pile up.
static RUNNING: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(2));

#[post("/admin/api/run-mcp-audit")]
async fn run_mcp_audit(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminApiError> {
    let call = admin_call(&req, &state)?;
    let body = json_body(&req, &body)?;
    let report = run_scan(&state, &call, &body).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(report))
}

/// Runs the scanner as `body` asks (`url` or `server_id`, optional `token` and `timeout_s`);
/// shared with the console's Security audit page.
pub(crate) async fn run_scan(
    state: &AppState,
    call: &AdminCall,
    body: &Value,
) -> Result<Report, AdminApiError> {
    let url = match (body.get("url"), body.get("server_id")) {
        (Some(Value::String(url)), None) => parse_url(url)?,
        (None, Some(id)) => {
            let raw = match id {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let entry = call
                .registry
                .get(&backend_id(&raw)?)
                .await
                .map_err(|e| AdminApiError::from_registry(e, &call.log))?;
            backend_url(state, &entry.name, entry.url.as_deref())?
        }
        _ => return Err(invalid("give either `url` (a string) or `server_id`")),
    };
    let token = match body.get("token") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) if !t.trim().is_empty() => Some(t.trim().to_string()),
        Some(_) => return Err(invalid("`token` must be a non-empty string")),
    };
    let timeout = match body.get("timeout_s") {
        None => 10,
        Some(v) => v
            .as_u64()
            .filter(|s| (1..=60).contains(s))
            .ok_or_else(|| invalid("`timeout_s` must be a whole number from 1 to 60"))?,
    };
    let Ok(_permit) = RUNNING.try_acquire() else {
        return Err(AdminApiError::Conflict(
            "Two scans are already running; try again when one has finished.".into(),
        ));
    };
    slog::info!(call.log, "Security scan started."; "by" => &call.username, "url" => url.as_str(),
        "with_token" => token.is_some());
    let target = ScanTarget {
        url,
        token,
        timeout: Duration::from_secs(timeout),
    };
    scan(&target)
        .await
        .map_err(|e| AdminApiError::InvalidInput("scan target", vec![format!("cannot scan: {e}")]))
}

fn parse_url(raw: &str) -> Result<url::Url, AdminApiError> {
    url::Url::parse(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| invalid(&format!("`{raw}` is not an http(s) URL")))
}

/// A running backend's real URL (the registry's view masks passwords); Streamable HTTP only.
fn backend_url(
    state: &AppState,
    name: &str,
    listed: Option<&str>,
) -> Result<url::Url, AdminApiError> {
    let upstream = state.gateway.get().and_then(|g| g.upstream(name));
    match upstream.as_ref().map(|u| &u.spec().transport) {
        Some(BackendTransport::StreamableHttp { url }) => Ok(url.clone()),
        Some(BackendTransport::Sse { .. }) => Err(invalid(&format!(
            "`{name}` speaks the legacy HTTP+SSE transport; the scanner speaks Streamable HTTP"
        ))),
        Some(BackendTransport::Stdio { .. }) => Err(invalid(&format!(
            "`{name}` is a stdio backend; only HTTP servers can be scanned"
        ))),
        None => match listed {
            Some(url) => parse_url(url),
            None => Err(invalid(&format!("`{name}` has no URL to scan"))),
        },
    }
}

fn invalid(message: &str) -> AdminApiError {
    AdminApiError::InvalidInput("scan request", vec![message.to_string()])
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(run_mcp_audit);
}
