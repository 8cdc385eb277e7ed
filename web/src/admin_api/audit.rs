//! The audit trail for administrators (the original's paths):
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/admin/api/mcp-requests` | records, newest first; filters `user`, `backend`, `tool`, `outcome`, `kind` (`mcp`/`auth`), `since`/`until` (unix ms), `before` (an id: older records, the next page), `limit` (≤ 10000, default 100); `format=json` (default), `jsonl` or `csv` |
//! | GET | `/admin/api/mcp-stats` | counts, success rate, p50/p95 latency, requests/min, top tools and users over `window_minutes` (default 60) |
//! | GET | `/admin/api/mcp-activity/stream` | server-sent events, one `audit` event per record as it is written; filters `user`, `backend`, `tool`, `outcome`, `kind` |
//! | POST | `/admin/api/audit/verify` | walks the hash chain like `authmcp-gateway audit verify` (on the blocking threads): `{"intact","checked","anchor_id","first_break"}` |

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use actors::audit::AuditHandle;
use actors::audit::verify::{ChainBreak, VerifyReport};
use actors::storage::audit_records::{AuditFilter, AuditRow};
use serde_json::{Value, json};

use super::export::{self, Format};
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

/// The listing's filters from the query (also read by the console's pages).
pub(crate) fn filter(q: &Query) -> Result<AuditFilter, AdminApiError> {
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
        before_id: number(q, "before")?,
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
    let format = export::format(&q)?;
    let rows = audit
        .search(filter, limit)
        .await
        .map_err(|e| AdminApiError::Internal(format!("Could not read the audit trail: {e}.")))?;
    Ok(match format {
        Format::Jsonl => export::jsonl(rows.iter().map(view)),
        Format::Csv => export::csv("mcp-requests.csv", CSV_COLUMNS, rows.iter().map(csv_row)),
        Format::Json => HttpResponse::Ok().json(json!({
            "records": rows.iter().map(view).collect::<Vec<_>>(),
            "count": rows.len(),
        })),
    })
}

const CSV_COLUMNS: &str = "id,at_ms,kind,event,user_id,username,method,backend,item,outcome,error_code,latency_us,ip,details,prev_hash,hash";

fn csv_row(r: &AuditRow) -> Vec<String> {
    vec![
        r.id.to_string(),
        r.at_ms.to_string(),
        r.kind.clone(),
        r.event.clone().unwrap_or_default(),
        export::int(r.user_id),
        r.username.clone().unwrap_or_default(),
        r.method.clone().unwrap_or_default(),
        r.backend.clone().unwrap_or_default(),
        r.item.clone().unwrap_or_default(),
        r.outcome.clone(),
        export::int(r.error_code),
        export::int(r.latency_us),
        r.ip.clone().unwrap_or_default(),
        r.details.clone().unwrap_or_default(),
        r.prev_hash.clone(),
        r.hash.clone(),
    ]
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

#[post("/admin/api/audit/verify")]
async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminApiError> {
    let audit = audit_of(&req, &state)?;
    let report = audit
        .verify()
        .await
        .map_err(|e| AdminApiError::Internal(format!("Could not read the audit trail: {e}.")))?;
    Ok(HttpResponse::Ok().json(verify_view(&report)))
}

/// `{"intact", "checked", "anchor_id", "first_break"}`; the break (if any) with its `kind`, the
/// ids it names and the sentence `audit verify` prints.
pub(crate) fn verify_view(report: &VerifyReport) -> Value {
    let first_break = report.first_break.as_ref().map(|found| {
        let mut v = match found {
            ChainBreak::Altered { id } => json!({"kind": "altered", "id": id}),
            ChainBreak::Deleted { from, to } => json!({"kind": "deleted", "from": from, "to": to}),
            ChainBreak::Inserted { id } => json!({"kind": "inserted", "id": id}),
            ChainBreak::Unlinked { id } => json!({"kind": "unlinked", "id": id}),
        };
        v["message"] = json!(found.to_string());
        v
    });
    json!({
        "intact": report.first_break.is_none(),
        "checked": report.checked,
        "anchor_id": report.anchor_id,
        "first_break": first_break,
    })
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(requests)
        .service(stats)
        .service(activity)
        .service(verify);
}
