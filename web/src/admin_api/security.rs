//! Security events for administrators:
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/admin/api/security-events` | `{"events": [...], "count": n, "stats": {...}}`, newest first; filters `type`, `severity`, `user`, `since`/`until` (unix ms), `before` (an id: older events, the next page), `limit` (1–10000, default 100); `format=json` (default), `jsonl` or `csv` |
//! | GET | `/admin/api/security-events/stream` | server-sent events, one `security` event per event as it is written; same filters (but `limit`) |

use actix_web::{HttpRequest, HttpResponse, get, web};
use actors::security::{SecurityEventType, SecurityEvents, Severity};
use actors::storage::security_events::{EventFilter, SecurityEventRow};
use serde_json::{Value, json};

use super::export::{self, Format};
use super::query::{Query, bad, limit, number, text, with_details_object};
use super::{AdminApiError, admin_caller};
use crate::state::AppState;

fn sink_of(req: &HttpRequest, state: &AppState) -> Result<SecurityEvents, AdminApiError> {
    let _admin = admin_caller(req, state)?;
    state.security.get().cloned().ok_or_else(|| {
        AdminApiError::Unavailable("The gateway is still starting; retry in a moment.".into())
    })
}

/// The listing's filters from the query (also read by the console's page).
pub(crate) fn filter(q: &Query) -> Result<EventFilter, AdminApiError> {
    let text = |key: &str| text(q, key);
    let event_type = text("type");
    if let Some(t) = &event_type
        && SecurityEventType::parse(t).is_none()
    {
        let known: Vec<&str> = SecurityEventType::ALL.iter().map(|t| t.as_str()).collect();
        return Err(bad(format!(
            "type: `{t}` is not one of {}",
            known.join(", ")
        )));
    }
    let severity = text("severity");
    if let Some(s) = &severity
        && Severity::parse(s).is_none()
    {
        return Err(bad(format!(
            "severity: `{s}` is not info, low, medium, high or critical"
        )));
    }
    let limit = limit(q)?;
    Ok(EventFilter {
        event_type,
        severity,
        user: text("user"),
        since_ms: number(q, "since")?,
        until_ms: number(q, "until")?,
        before_id: number(q, "before")?,
        limit,
    })
}

/// A row with `details` as an object, not a JSON string.
fn view(row: &SecurityEventRow) -> Value {
    with_details_object(row, row.details.as_deref())
}

#[get("/admin/api/security-events")]
async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: Query,
) -> Result<HttpResponse, AdminApiError> {
    let sink = sink_of(&req, &state)?;
    let filter = filter(&q)?;
    let format = export::format(&q)?;
    let rows = sink.list(filter).await.map_err(|e| {
        AdminApiError::Internal(format!("Could not read the security events: {e}."))
    })?;
    Ok(match format {
        Format::Jsonl => export::jsonl(rows.iter().map(view)),
        Format::Csv => export::csv("security-events.csv", CSV_COLUMNS, rows.iter().map(csv_row)),
        Format::Json => HttpResponse::Ok().json(json!({
            "events": rows.iter().map(view).collect::<Vec<_>>(),
            "count": rows.len(),
            "stats": sink.stats(),
        })),
    })
}

const CSV_COLUMNS: &str = "id,at_ms,event_type,severity,user_id,username,ip,endpoint,details";

fn csv_row(r: &SecurityEventRow) -> Vec<String> {
    vec![
        r.id.to_string(),
        r.at_ms.to_string(),
        r.event_type.clone(),
        r.severity.clone(),
        export::int(r.user_id),
        r.username.clone().unwrap_or_default(),
        r.ip.clone().unwrap_or_default(),
        r.endpoint.clone().unwrap_or_default(),
        r.details.clone().unwrap_or_default(),
    ]
}

#[get("/admin/api/security-events/stream")]
async fn stream_events(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: Query,
) -> Result<HttpResponse, AdminApiError> {
    let sink = sink_of(&req, &state)?;
    let filter = filter(&q)?;
    Ok(super::live_feed::serve(
        sink.subscribe(),
        "security",
        move |row: &SecurityEventRow| filter.matches(row).then(|| (row.id, view(row))),
    ))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(stream_events);
}
