//! The audit trail for administrators (the original's paths):
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/admin/api/mcp-requests` | records, newest first; filters `user`, `backend`, `tool`, `outcome`, `kind` (`mcp`/`auth`), `since`/`until` (unix ms), `limit` (≤ 10000, default 100); `format=json` (default), `jsonl` or `csv` |
//! | GET | `/admin/api/mcp-stats` | counts, success rate, p50/p95 latency, requests/min, top tools and users over `window_minutes` (default 60) |
//! | GET | `/admin/api/mcp-activity/stream` | server-sent events, one `audit` event per record as it is written; filters `user`, `backend`, `tool`, `outcome`, `kind` |

use actix_web::{HttpRequest, HttpResponse, get, web};
use actors::audit::AuditHandle;
use actors::storage::audit_records::{AuditFilter, AuditRow};
use serde_json::{Value, json};

use super::query::{Query, bad, limit, number, text, with_details_object};
use super::{AdminApiError, admin_caller};
use crate::state::AppState;

const MAX_WINDOW_MINUTES: u64 = 7 * 24 * 60;

fn audit_of(req: &HttpRequest, state: &AppState) -> Result<AuditHandle, AdminApiError> {
    let _admin = admin_caller(req, state)?;
    state.audit.get().cloned().ok_or_else(|| {
        AdminApiError::Unavailable("The gateway is still starting; retry in a moment.".into())
    })
}

fn filter(q: &Query) -> Result<AuditFilter, AdminApiError> {
    let text = |key: &str| text(q, key);
    if let Some(kind) = text("kind")
        && kind != "mcp"
        && kind != "auth"
    {
        return Err(bad(format!("kind: `{kind}` is not `mcp` or `auth`")));
    }
    Ok(AuditFilter {
        kind: text("kind"),
        username: text("user"),
        backend: text("backend"),
        item: text("tool"),
        outcome: text("outcome"),
        since_ms: number(q, "since")?,
        until_ms: number(q, "until")?,
    })
}

/// A row for people and scripts: `details` as an object, not a JSON string.
fn view(row: &AuditRow) -> Value {
    with_details_object(row, row.details.as_deref())
}

#[get("/admin/api/mcp-requests")]
async fn requests(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: Query,
) -> Result<HttpResponse, AdminApiError> {
    let audit = audit_of(&req, &state)?;
    let filter = filter(&q)?;
    let limit = limit(&q)?;
    let format = q.get("format").map(String::as_str).unwrap_or("json");
    if !matches!(format, "json" | "jsonl" | "csv") {
        return Err(bad(format!("format: `{format}` is not json, jsonl or csv")));
    }
    let rows = audit
        .search(filter, limit)
        .await
        .map_err(|e| AdminApiError::Internal(format!("Could not read the audit trail: {e}.")))?;
    Ok(match format {
        "jsonl" => {
            let mut body = String::new();
            for row in &rows {
                body.push_str(&view(row).to_string());
                body.push('\n');
            }
            HttpResponse::Ok()
                .content_type("application/x-ndjson")
                .body(body)
        }
        "csv" => HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                "content-disposition",
                "attachment; filename=\"mcp-requests.csv\"",
            ))
            .body(csv(&rows)),
        _ => HttpResponse::Ok().json(json!({
            "records": rows.iter().map(view).collect::<Vec<_>>(),
            "count": rows.len(),
        })),
    })
}

const CSV_COLUMNS: &str = "id,at_ms,kind,event,user_id,username,method,backend,item,outcome,error_code,latency_us,ip,details,prev_hash,hash";

fn csv(rows: &[AuditRow]) -> String {
    let mut out = String::from(CSV_COLUMNS);
    out.push('\n');
    for r in rows {
        let int = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
        let fields = [
            r.id.to_string(),
            r.at_ms.to_string(),
            r.kind.clone(),
            r.event.clone().unwrap_or_default(),
            int(r.user_id),
            r.username.clone().unwrap_or_default(),
            r.method.clone().unwrap_or_default(),
            r.backend.clone().unwrap_or_default(),
            r.item.clone().unwrap_or_default(),
            r.outcome.clone(),
            int(r.error_code),
            int(r.latency_us),
            r.ip.clone().unwrap_or_default(),
            r.details.clone().unwrap_or_default(),
            r.prev_hash.clone(),
            r.hash.clone(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

/// RFC 4180 quoting; a leading `=`, `+`, `-` or `@` is prefixed with `'` so a spreadsheet
/// never runs a value as a formula.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[get("/admin/api/mcp-stats")]
async fn stats(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: Query,
) -> Result<HttpResponse, AdminApiError> {
    let audit = audit_of(&req, &state)?;
    let window = number::<u64>(&q, "window_minutes")?.unwrap_or(60);
    if !(1..=MAX_WINDOW_MINUTES).contains(&window) {
        return Err(bad(format!(
            "window_minutes: must be between 1 and {MAX_WINDOW_MINUTES}"
        )));
    }
    let summary = audit
        .window_stats(window, 10)
        .await
        .map_err(|e| AdminApiError::Internal(format!("Could not read the audit trail: {e}.")))?;
    Ok(HttpResponse::Ok().json(json!({
        "window": summary,
        "queue": audit.stats(),
    })))
}

#[get("/admin/api/mcp-activity/stream")]
async fn activity(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: Query,
) -> Result<HttpResponse, AdminApiError> {
    let audit = audit_of(&req, &state)?;
    let filter = filter(&q)?;
    Ok(super::live_feed::serve(
        audit.subscribe(),
        "audit",
        move |row: &AuditRow| matches(&filter, row).then(|| (row.id, view(row))),
    ))
}

fn matches(f: &AuditFilter, row: &AuditRow) -> bool {
    let eq = |want: &Option<String>, have: &Option<String>| {
        want.as_ref().is_none_or(|w| have.as_ref() == Some(w))
    };
    f.kind.as_ref().is_none_or(|k| *k == row.kind)
        && eq(&f.username, &row.username)
        && eq(&f.backend, &row.backend)
        && eq(&f.item, &row.item)
        && f.outcome.as_ref().is_none_or(|o| *o == row.outcome)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(requests).service(stats).service(activity);
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
    }
}
