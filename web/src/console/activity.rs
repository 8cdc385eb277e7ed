//! `/admin/mcp-activity`: MCP requests as they happen. The first view is rendered on the server
//! (the window's figures, top tools, a table per backend and the latest requests); the script
//! then feeds new requests into the same table from `/admin/api/mcp-activity/stream`, with the
//! same filters. `/admin/mcp-activity/{id}` shows one audit record in full (any kind; the
//! audit log page links here too).
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/admin/mcp-activity` | `?window=1h|24h|7d&user=&backend=&tool=&outcome=` |
//! | GET | `/admin/mcp-activity/{id}` | one record: every field, payloads only if captured |

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use actors::audit::WindowStats;
use actors::storage::audit_records::AuditRow;
use serde::Serialize;
use serde_json::Value;
use tera::Context;

use super::dashboard::{millis, pick_window, ranked};
use super::guard::AdminPage;
use super::record_query::{Problem, RecordQuery};
use super::{chart, forms, page};
use crate::oauth::request_log;
use crate::state::AppState;

/// The filters the form and the stream share.
const FILTERS: &[&str] = &["user", "backend", "tool", "outcome"];
/// Requests the first view shows (the live table keeps at most this many more).
const LATEST: i64 = 50;
/// The outcomes one can filter on.
pub(super) const OUTCOMES: &[&str] = &["ok", "error", "failed", "denied"];

/// A row of the request tables (the script builds the same cells from a streamed record).
#[derive(Serialize)]
pub(super) struct RequestLine {
    id: i64,
    at: String,
    kind: String,
    /// The method of an MCP request, the event of an auth record.
    action: String,
    username: String,
    backend: String,
    item: String,
    outcome: String,
    error_code: String,
    latency: String,
    ip: String,
    hash: String,
}

impl RequestLine {
    pub(super) fn of(row: &AuditRow) -> RequestLine {
        RequestLine {
            id: row.id,
            at: chart::utc(row.at_ms),
            kind: row.kind.clone(),
            action: row
                .method
                .clone()
                .or_else(|| row.event.clone())
                .unwrap_or_default(),
            username: row.username.clone().unwrap_or_default(),
            backend: row.backend.clone().unwrap_or_default(),
            item: row.item.clone().unwrap_or_default(),
            outcome: row.outcome.clone(),
            error_code: row.error_code.map(|c| c.to_string()).unwrap_or_default(),
            latency: row
                .latency_us
                .map(|us| millis(Some(us as f64 / 1000.0)))
                .unwrap_or_default(),
            ip: row.ip.clone().unwrap_or_default(),
            hash: row.hash.chars().take(12).collect(),
        }
    }
}

#[derive(Serialize)]
struct BackendLine {
    backend: String,
    total: u64,
    errors: u64,
    p50: String,
    p95: String,
}

fn chrome(admin: &AdminPage) -> page::Chrome<'_> {
    page::Chrome {
        username: &admin.principal.username,
        csrf_token: &admin.csrf_token,
        current: "/admin/mcp-activity",
    }
}

async fn activity(req: HttpRequest, state: web::Data<AppState>, admin: AdminPage) -> HttpResponse {
    let log = request_log(&req, &state.log);
    let query = forms::query(&req);
    let (window_label, minutes, windows) = pick_window(query.get("window"));
    let mut c = Context::new();
    c.insert("windows", &windows);
    c.insert("window_label", window_label);
    c.insert("outcomes", OUTCOMES);
    let mut rq = RecordQuery::read(&req, FILTERS);
    rq.fix("kind", "mcp");
    c.insert("filled", &rq.filled);
    let mut stats = WindowStats::default();
    let mut rows = Vec::new();
    let mut stream_url = String::new();
    let problem = match rq.in_audit_trail(&state) {
        Err(problem) => Some(problem),
        Ok((filter, trail)) => {
            let read = async {
                let stats = trail.window_stats_of(filter.clone(), minutes, 10).await?;
                let rows = trail.search(filter, LATEST).await?;
                Ok::<_, actors::storage::StorageError>((stats, rows))
            };
            let keys = ["user", "backend", "tool", "outcome", "kind"];
            stream_url = format!("/admin/api/mcp-activity/stream?{}", rq.link(&keys, &[]));
            match read.await {
                Ok((s, r)) => {
                    (stats, rows) = (s, r);
                    None
                }
                Err(error) => {
                    slog::error!(log, "MCP activity: cannot read the audit trail."; "error" => %error);
                    Some(Problem::unreadable("The audit trail"))
                }
            }
        }
    };
    let (status, problem) = Problem::shown(problem);
    c.insert("problem", &problem);
    c.insert("stream_url", &stream_url);
    c.insert("stats", &stats);
    c.insert(
        "success_rate",
        &format!("{:.1} %", stats.success_rate * 100.0),
    );
    c.insert("p50", &millis(stats.p50_latency_ms));
    c.insert("p95", &millis(stats.p95_latency_ms));
    c.insert("per_minute", &format!("{:.2}", stats.requests_per_minute));
    c.insert("top_tools", &ranked(&stats.top_tools));
    c.insert(
        "backends",
        &stats
            .backends
            .iter()
            .map(|b| BackendLine {
                backend: b.backend.clone(),
                total: b.total,
                errors: b.errors,
                p50: millis(b.p50_latency_ms),
                p95: millis(b.p95_latency_ms),
            })
            .collect::<Vec<_>>(),
    );
    c.insert(
        "requests",
        &rows.iter().map(RequestLine::of).collect::<Vec<_>>(),
    );
    page::render(status, "admin/mcp_activity.html", c, Some(&chrome(&admin)))
}

/// One field of the detail page.
#[derive(Serialize)]
struct Field {
    label: String,
    value: String,
}

async fn record(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminPage,
    id: web::Path<String>,
) -> HttpResponse {
    let back = Some(("/admin/mcp-activity", "Back to MCP activity"));
    let Ok(id) = id.parse::<i64>() else {
        return page::error(
            StatusCode::BAD_REQUEST,
            "No such record",
            "A record id is a number.",
            back,
        );
    };
    let Some(trail) = state.audit.get() else {
        return page::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Audit trail unavailable",
            "The audit trail is not running yet.",
            back,
        );
    };
    let row = match trail.get(id).await {
        Ok(Some(row)) => row,
        Ok(None) => {
            return page::error(
                StatusCode::NOT_FOUND,
                "No such record",
                &format!("There is no audit record {id} (it may have been pruned)."),
                back,
            );
        }
        Err(error) => {
            slog::error!(request_log(&req, &state.log), "MCP activity: cannot read a record."; "error" => %error);
            return page::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Audit trail unavailable",
                "The record could not be read; try again in a moment.",
                back,
            );
        }
    };
    let (fields, payloads) = fields_of(&row);
    let mut c = Context::new();
    c.insert("id", &row.id);
    c.insert("fields", &fields);
    c.insert("payloads", &payloads);
    page::render(
        StatusCode::OK,
        "admin/mcp_request.html",
        c,
        Some(&chrome(&admin)),
    )
}

/// Every column, then each `details` member; captured payloads apart (shown as blocks).
fn fields_of(row: &AuditRow) -> (Vec<Field>, Vec<Field>) {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let int = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    let mut fields: Vec<Field> = [
        ("Id", row.id.to_string()),
        (
            "Time (UTC)",
            format!("{} ({} ms)", chart::utc(row.at_ms), row.at_ms),
        ),
        ("Kind", row.kind.clone()),
        ("Event", text(&row.event)),
        ("User id", int(row.user_id)),
        ("Username", text(&row.username)),
        ("Method", text(&row.method)),
        ("Backend", text(&row.backend)),
        ("Tool, prompt or resource", text(&row.item)),
        ("Outcome", row.outcome.clone()),
        ("Error code", int(row.error_code)),
        (
            "Latency",
            row.latency_us
                .map(|us| format!("{us} µs"))
                .unwrap_or_default(),
        ),
        ("Client IP", text(&row.ip)),
    ]
    .into_iter()
    .map(|(label, value)| Field {
        label: label.to_string(),
        value,
    })
    .collect();
    let mut payloads = Vec::new();
    let details: serde_json::Map<String, Value> = row
        .details
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or_default();
    for (key, value) in details {
        let value = match value {
            Value::String(s) => s,
            other => other.to_string(),
        };
        if key.ends_with("_payload") {
            payloads.push(Field {
                label: key.replace('_', " "),
                value: pretty(&value),
            });
        } else {
            fields.push(Field {
                label: key.replace('_', " "),
                value,
            });
        }
    }
    fields.push(Field {
        label: "Previous hash".into(),
        value: row.prev_hash.clone(),
    });
    fields.push(Field {
        label: "Hash".into(),
        value: row.hash.clone(),
    });
    (fields, payloads)
}

/// A JSON payload indented for reading (anything else as it is).
fn pretty(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_string())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/mcp-activity").route(web::get().to(activity)))
        .service(web::resource("/admin/mcp-activity/{id}").route(web::get().to(record)));
}
