//! The dashboard's figures as JSON (the original's `GET /admin/api/stats`):
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/admin/api/stats` | users, backends, sessions, requests and security events of the last 24 h, backend tokens expiring within 24 h |
//!
//! Read from what the gateway already keeps: the accounts, the backends' status board, the
//! token families, the audit trail's window summary and the security events. A part that cannot
//! be read is `null` and named in `unavailable`; the rest still answers.

use actix_web::{HttpRequest, HttpResponse, get, web};
use serde_json::{Value, json};

use actors::backend::BackendState;
use actors::security::Severity;
use actors::storage::security_events::EventFilter;
use actors::storage::users::Role;

use super::credentials::credential_of;
use super::{AdminApiError, admin_caller};
use crate::state::AppState;

const DAY_MS: i64 = 24 * 3600 * 1000;
/// Security events counted per severity at most (the answer says when a count reached it).
const EVENT_COUNT_CAP: i64 = 10_000;

#[get("/admin/api/stats")]
async fn stats(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminApiError> {
    let (_, log) = admin_caller(&req, &state)?;
    let mut unavailable: Vec<&str> = Vec::new();
    let now = actors::storage::unix_ms_now();

    let users = match state.identity.users().await {
        Ok(all) => json!({
            "total": all.len(),
            "enabled": all.iter().filter(|u| u.enabled).count(),
            "admins": all.iter().filter(|u| u.role == Role::Admin).count(),
        }),
        Err(error) => {
            slog::error!(log, "Stats: cannot read the accounts."; "error" => %error);
            unavailable.push("users");
            Value::Null
        }
    };

    let statuses = state
        .gateway
        .get()
        .map(|g| g.statuses())
        .unwrap_or_default();
    let backends = json!({
        "total": statuses.len(),
        "online": statuses.iter().filter(|s| s.state == BackendState::Online).count(),
    });

    let sessions = match state.identity.live_sessions().await {
        Ok(n) => json!({ "active": n, "mcp_sessions": state.mcp.sessions.all().len() }),
        Err(error) => {
            slog::error!(log, "Stats: cannot count the sessions."; "error" => %error);
            unavailable.push("sessions");
            Value::Null
        }
    };

    let requests = match state.audit.get() {
        Some(audit) => match audit.window_stats(24 * 60, 0).await {
            Ok(w) => json!({
                "total": w.total,
                "errors": w.errors,
                "success_rate": w.success_rate,
                "p50_latency_ms": w.p50_latency_ms,
                "p95_latency_ms": w.p95_latency_ms,
                "truncated": w.truncated,
            }),
            Err(error) => {
                slog::error!(log, "Stats: cannot read the audit trail."; "error" => %error);
                unavailable.push("requests_24h");
                Value::Null
            }
        },
        None => {
            unavailable.push("requests_24h");
            Value::Null
        }
    };

    let security = match state.security.get() {
        Some(sink) => {
            let mut by_severity = serde_json::Map::new();
            let mut capped = false;
            for severity in Severity::ALL {
                let filter = EventFilter {
                    severity: Some(severity.as_str().to_string()),
                    since_ms: Some(now - DAY_MS),
                    limit: EVENT_COUNT_CAP,
                    ..EventFilter::default()
                };
                match sink.list(filter).await {
                    Ok(rows) => {
                        capped |= rows.len() as i64 >= EVENT_COUNT_CAP;
                        by_severity.insert(severity.as_str().into(), json!(rows.len()));
                    }
                    Err(error) => {
                        slog::error!(log, "Stats: cannot read the security events."; "error" => %error);
                        unavailable.push("security_events_24h");
                        by_severity.clear();
                        break;
                    }
                }
            }
            let total: u64 = by_severity.values().filter_map(Value::as_u64).sum();
            if by_severity.is_empty() {
                Value::Null
            } else {
                json!({ "total": total, "by_severity": by_severity, "capped": capped })
            }
        }
        None => {
            unavailable.push("security_events_24h");
            Value::Null
        }
    };

    let expiring: Vec<Value> = statuses
        .iter()
        .filter_map(|s| {
            let token = credential_of(&state, &s.name)?.token_status()?;
            let at = token.expires_at_ms.filter(|at| *at - now < DAY_MS)?;
            Some(json!({ "server": s.name, "expires_at_ms": at, "expired": at <= now }))
        })
        .collect();

    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(json!({
            "generated_at_ms": now,
            "users": users,
            "backends": backends,
            "sessions": sessions,
            "requests_24h": requests,
            "security_events_24h": security,
            "backend_tokens_expiring_24h": { "count": expiring.len(), "servers": expiring },
            "unavailable": unavailable,
        })))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(stats);
}
