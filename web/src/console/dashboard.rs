//! `GET /admin`: the dashboard. Everything is read from what the gateway already keeps — the
//! audit trail's window summary, the backends' published status, the security events and the
//! backends' token state — and rendered on the server, charts included.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use actors::audit::WindowStats;
use actors::backend::{BackendState, TokenState};
use actors::storage::security_events::EventFilter;
use serde::Serialize;
use tera::Context;

use super::guard::AdminPage;
use super::{chart, page};
use crate::admin_api::credentials::credential_of;
use crate::oauth::request_log;
use crate::state::AppState;

/// The windows one can pick: query value, label, minutes.
const WINDOWS: [(&str, &str, u64); 3] = [
    ("1h", "1 hour", 60),
    ("24h", "24 hours", 24 * 60),
    ("7d", "7 days", 7 * 24 * 60),
];
const DEFAULT_WINDOW: usize = 1;
/// A backend token expiring sooner than this is listed.
const EXPIRY_WARNING_MS: i64 = 24 * 3600 * 1000;

#[derive(Serialize)]
pub(super) struct WindowChoice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Serialize)]
pub(super) struct Ranked {
    name: String,
    count: u64,
    share: u32,
}

#[derive(Serialize)]
struct ServerLine {
    name: String,
    state: String,
    transport: &'static str,
    tool_count: usize,
}

#[derive(Serialize)]
struct TokenWarning {
    server: String,
    state: String,
    expires: String,
    error: String,
}

#[derive(Serialize)]
struct EventLine {
    at: String,
    event_type: String,
    severity: String,
    username: String,
    ip: String,
    endpoint: String,
}

/// The window `value` names (else the default): its label, its minutes and the picker's choices.
pub(super) fn pick_window(value: Option<&str>) -> (&'static str, u64, Vec<WindowChoice>) {
    let chosen = value
        .and_then(|w| WINDOWS.iter().position(|(v, _, _)| *v == w))
        .unwrap_or(DEFAULT_WINDOW);
    let choices = WINDOWS
        .iter()
        .enumerate()
        .map(|(i, (value, label, _))| WindowChoice {
            value,
            label,
            selected: i == chosen,
        })
        .collect();
    let (_, label, minutes) = WINDOWS[chosen];
    (label, minutes, choices)
}

pub(super) fn ranked(list: &[(String, u64)]) -> Vec<Ranked> {
    let largest = list.first().map(|(_, n)| *n).unwrap_or(0);
    list.iter()
        .map(|(name, count)| Ranked {
            name: name.clone(),
            count: *count,
            share: chart::share(*count, largest),
        })
        .collect()
}

/// Milliseconds for people: one decimal under 10 ms.
pub(super) fn millis(value: Option<f64>) -> String {
    match value {
        Some(ms) if ms < 10.0 => format!("{ms:.1} ms"),
        Some(ms) => format!("{ms:.0} ms"),
        None => "–".into(),
    }
}

/// Whether a token expiring at `expires_at_ms` (`None`: unknown) ends within a day of `now`
/// (also the Tokens page's highlight).
pub(super) fn expires_soon(expires_at_ms: Option<i64>, now: i64) -> bool {
    expires_at_ms.is_some_and(|at| at - now < EXPIRY_WARNING_MS)
}

/// Backends whose token failed, is being refreshed late, or expires within a day.
fn token_warnings(state: &AppState, names: &[String]) -> Vec<TokenWarning> {
    let now = actors::storage::unix_ms_now();
    names
        .iter()
        .filter_map(|name| {
            let status = credential_of(state, name)?.token_status()?;
            let expiring_soon = expires_soon(status.expires_at_ms, now);
            let troubled = matches!(status.state, TokenState::Failed | TokenState::Expiring);
            (troubled || expiring_soon).then(|| TokenWarning {
                server: name.clone(),
                state: serde_json::to_value(status.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                expires: status
                    .expires_at_ms
                    .map(|at| format!("{} UTC", chart::utc(at)))
                    .unwrap_or_else(|| "unknown".into()),
                error: status.last_error.unwrap_or_default(),
            })
        })
        .collect()
}

async fn dashboard(req: HttpRequest, state: web::Data<AppState>, admin: AdminPage) -> HttpResponse {
    let log = request_log(&req, &state.log);
    let query =
        crate::oauth::form::Params::parse(req.query_string().as_bytes()).unwrap_or_default();
    let (window_label, minutes, windows) = pick_window(query.get("window"));
    let mut notices = Vec::new();
    let stats = match state.audit.get() {
        Some(audit) => match audit.window_stats(minutes, 8).await {
            Ok(stats) => stats,
            Err(error) => {
                slog::error!(log, "Dashboard: cannot read the audit trail."; "error" => %error);
                notices.push("Request figures are unavailable: the audit trail could not be read.");
                WindowStats::default()
            }
        },
        None => WindowStats::default(),
    };
    let statuses = state
        .gateway
        .get()
        .map(|g| g.statuses())
        .unwrap_or_default();
    let servers_online = statuses
        .iter()
        .filter(|s| s.state == BackendState::Online)
        .count();
    let names: Vec<String> = statuses.iter().map(|s| s.name.clone()).collect();
    let events = match state.security.get() {
        Some(sink) => sink
            .list(EventFilter {
                limit: 10,
                ..EventFilter::default()
            })
            .await
            .unwrap_or_else(|error| {
                slog::error!(log, "Dashboard: cannot read the security events."; "error" => %error);
                notices.push("Security events are unavailable: they could not be read.");
                Vec::new()
            }),
        None => Vec::new(),
    };
    let mut c = Context::new();
    c.insert("windows", &windows);
    c.insert("window_label", window_label);
    c.insert("notice", &(!notices.is_empty()).then(|| notices.join(" ")));
    c.insert(
        "success_rate",
        &format!("{:.1} %", stats.success_rate * 100.0),
    );
    c.insert("p50", &millis(stats.p50_latency_ms));
    c.insert("p95", &millis(stats.p95_latency_ms));
    c.insert("per_minute", &format!("{:.2}", stats.requests_per_minute));
    c.insert("servers_online", &servers_online);
    c.insert("servers_total", &statuses.len());
    c.insert("chart", &chart::requests(&stats.series, minutes));
    c.insert("top_tools", &ranked(&stats.top_tools));
    c.insert("top_users", &ranked(&stats.top_users));
    c.insert(
        "servers",
        &statuses
            .iter()
            .map(|s| ServerLine {
                name: s.name.clone(),
                state: s.state.to_string(),
                transport: s.transport,
                tool_count: s.tool_count,
            })
            .collect::<Vec<_>>(),
    );
    c.insert("token_warnings", &token_warnings(&state, &names));
    c.insert(
        "security_events",
        &events
            .iter()
            .map(|e| EventLine {
                at: chart::utc(e.at_ms),
                event_type: e.event_type.clone(),
                severity: e.severity.clone(),
                username: e.username.clone().unwrap_or_default(),
                ip: e.ip.clone().unwrap_or_default(),
                endpoint: e.endpoint.clone().unwrap_or_default(),
            })
            .collect::<Vec<_>>(),
    );
    c.insert("stats", &stats);
    page::render(
        StatusCode::OK,
        "admin/dashboard.html",
        c,
        Some(&page::Chrome {
            username: &admin.principal.username,
            csrf_token: &admin.csrf_token,
            current: "/admin",
        }),
    )
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin").route(web::get().to(dashboard)));
}
