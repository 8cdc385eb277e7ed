//! `GET /health` (liveness, seed-compatible) and `GET /health/ready` (readiness with backend
//! counts; per-backend details for admins).

use actix_web::{HttpMessage, HttpRequest, HttpResponse, get, web};
use serde_json::json;

use actors::backend::{BackendState, BackendStatus};

use crate::authn::Caller;
use crate::state::AppState;

#[get("/health")]
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

#[get("/health/ready")]
async fn ready(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Some(gateway) = state.gateway.get() else {
        return HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "starting", "detail": "The supervisor tree is not up yet." }));
    };
    let statuses = gateway.statuses();
    let mut body = json!({ "status": "ready", "backends": counts(&statuses) });
    let is_admin = matches!(
        req.extensions().get::<Caller>(),
        Some(Caller::User(p)) if p.is_admin()
    );
    if is_admin {
        body["servers"] = statuses.iter().map(detail).collect();
        // Names offered by two backends: the first configured serves it, the other is hidden.
        body["collisions"] =
            serde_json::to_value(&state.mcp.routing.load().collisions).unwrap_or_default();
    }
    HttpResponse::Ok().json(body)
}

fn counts(statuses: &[BackendStatus]) -> serde_json::Value {
    let count = |s: BackendState| statuses.iter().filter(|b| b.state == s).count();
    json!({
        "total": statuses.len(),
        "online": count(BackendState::Online),
        "degraded": count(BackendState::Degraded),
        "offline": count(BackendState::Offline),
        "starting": count(BackendState::Starting),
    })
}

fn detail(status: &BackendStatus) -> serde_json::Value {
    json!({
        "name": status.name,
        "transport": status.transport,
        "state": status.state.to_string(),
        "last_error": status.last_error,
        "last_check_ms": status.last_check_ms,
        "tool_count": status.tool_count,
        "protocol_version": status.protocol_version,
        "restarts": status.restarts,
    })
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(health).service(ready);
}
