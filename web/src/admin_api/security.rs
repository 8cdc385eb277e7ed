//! Security events for administrators:
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/admin/api/security-events` | `{"events": [...], "count": n, "stats": {...}}`, newest first; filters `type`, `severity`, `user`, `since`/`until` (unix ms), `limit` (1–10000, default 100) |
//! | GET | `/admin/api/security-events/stream` | server-sent events, one `security` event per event as it is written; same filters (but `limit`) |

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, get, web};
use actors::security::{SecurityEventType, SecurityEvents, Severity};
use actors::storage::security_events::{EventFilter, SecurityEventRow};
use futures_util::stream;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::{AdminApiError, admin_caller};
use crate::state::AppState;

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 10_000;

type Query = web::Query<HashMap<String, String>>;

fn sink_of(req: &HttpRequest, state: &AppState) -> Result<SecurityEvents, AdminApiError> {
    let _admin = admin_caller(req, state)?;
    state.security.get().cloned().ok_or_else(|| {
        AdminApiError::Unavailable("The gateway is still starting; retry in a moment.".into())
    })
}

fn bad(message: String) -> AdminApiError {
    AdminApiError::InvalidInput("query", vec![message])
}

fn number(q: &Query, key: &str) -> Result<Option<i64>, AdminApiError> {
    q.get(key)
        .map(|v| {
            v.parse()
                .map_err(|_| bad(format!("{key}: `{v}` is not a number")))
        })
        .transpose()
}

fn filter(q: &Query) -> Result<EventFilter, AdminApiError> {
    let text = |key: &str| q.get(key).filter(|v| !v.is_empty()).cloned();
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
    let limit = number(q, "limit")?.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad(format!("limit: must be between 1 and {MAX_LIMIT}")));
    }
    Ok(EventFilter {
        event_type,
        severity,
        user: text("user"),
        since_ms: number(q, "since")?,
        until_ms: number(q, "until")?,
        limit,
    })
}

/// A row with `details` as an object, not a JSON string.
fn view(row: &SecurityEventRow) -> Value {
    let mut v = serde_json::to_value(row).unwrap_or(Value::Null);
    if let Some(details) = row.details.as_deref()
        && let Ok(parsed) = serde_json::from_str::<Value>(details)
    {
        v["details"] = parsed;
    }
    v
}

#[get("/admin/api/security-events")]
async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: Query,
) -> Result<HttpResponse, AdminApiError> {
    let sink = sink_of(&req, &state)?;
    let filter = filter(&q)?;
    let rows = sink.list(filter).await.map_err(|e| {
        AdminApiError::Internal(format!("Could not read the security events: {e}."))
    })?;
    Ok(HttpResponse::Ok().json(json!({
        "events": rows.iter().map(view).collect::<Vec<_>>(),
        "count": rows.len(),
        "stats": sink.stats(),
    })))
}

#[get("/admin/api/security-events/stream")]
async fn stream_events(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: Query,
) -> Result<HttpResponse, AdminApiError> {
    let sink = sink_of(&req, &state)?;
    let filter = Arc::new(filter(&q)?);
    let feed = sink.subscribe();
    // A first comment so clients (and proxies) see the stream open at once.
    let opened =
        stream::once(async { Ok::<_, actix_web::Error>(Bytes::from_static(b": security\n\n")) });
    let events = stream::unfold((feed, filter), |(mut feed, filter)| async move {
        loop {
            match feed.recv().await {
                Ok(row) if filter.matches(&row) => {
                    let event =
                        format!("event: security\nid: {}\ndata: {}\n\n", row.id, view(&row));
                    return Some((Ok(Bytes::from(event)), (feed, filter)));
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(n)) => {
                    let note = format!("event: lagged\ndata: {{\"skipped\":{n}}}\n\n");
                    return Some((Ok(Bytes::from(note)), (feed, filter)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    use futures_util::StreamExt;
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-store"))
        .streaming(opened.chain(events)))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(stream_events);
}
