//! `/admin/security-logs`: security events, filtered like `/admin/api/security-events` (type,
//! severity, user, a UTC time range), a page at a time, with export links to the API's JSON
//! lines and CSV, and a live tail of new events from its stream (the script).
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/admin/security-logs` | `?type=&severity=&user=&from=&to=&before=` |

use actix_web::{HttpRequest, HttpResponse, web};
use actors::security::{SecurityEventType, Severity};
use actors::storage::security_events::SecurityEventRow;
use serde::Serialize;
use tera::Context;

use super::guard::AdminPage;
use super::record_query::{PAGE_SIZE, Problem, RecordQuery, page};
use super::{chart, page as console_page};
use crate::admin_api::security;
use crate::oauth::request_log;
use crate::state::AppState;

const PATH: &str = "/admin/security-logs";
const FILTERS: &[&str] = &["type", "severity", "user"];
/// The filters the exports and the live tail carry.
const API_KEYS: &[&str] = &["type", "severity", "user", "since", "until"];

#[derive(Serialize)]
struct EventLine {
    id: i64,
    at: String,
    event_type: String,
    severity: String,
    username: String,
    ip: String,
    endpoint: String,
    details: String,
}

impl EventLine {
    fn of(row: &SecurityEventRow) -> EventLine {
        EventLine {
            id: row.id,
            at: chart::utc(row.at_ms),
            event_type: row.event_type.clone(),
            severity: row.severity.clone(),
            username: row.username.clone().unwrap_or_default(),
            ip: row.ip.clone().unwrap_or_default(),
            endpoint: row.endpoint.clone().unwrap_or_default(),
            details: row.details.clone().unwrap_or_default(),
        }
    }
}

async fn security_logs(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminPage,
) -> HttpResponse {
    let mut rq = RecordQuery::read(&req, FILTERS);
    rq.fix("limit", &(PAGE_SIZE + 1).to_string());
    let (mut rows, mut next) = (Vec::new(), None);
    let searchable = rq.searchable(
        security::filter(&rq.api),
        state.security.get(),
        "The security event writer is not running yet.",
    );
    let problem = match searchable {
        Err(problem) => Some(problem),
        Ok((filter, sink)) => match sink.list(filter).await {
            Ok(found) => {
                let (shown, last) = page(found, |r| r.id);
                next = last.map(|id| rq.page_link(PATH, Some(id)));
                rows = shown;
                None
            }
            Err(error) => {
                slog::error!(request_log(&req, &state.log), "Security logs: cannot read the events."; "error" => %error);
                Some(Problem::unreadable("The security events"))
            }
        },
    };
    let (status, problem) = Problem::shown(problem);
    let mut c = Context::new();
    c.insert("filled", &rq.filled);
    c.insert("problem", &problem);
    c.insert(
        "types",
        &SecurityEventType::ALL.map(|t| t.as_str()).to_vec(),
    );
    c.insert("severities", &Severity::ALL.map(|s| s.as_str()).to_vec());
    c.insert(
        "events",
        &rows.iter().map(EventLine::of).collect::<Vec<_>>(),
    );
    c.insert("next", &next);
    c.insert("later_page", &rq.is_later_page());
    c.insert("first", &rq.page_link(PATH, None));
    c.insert(
        "exports",
        &rq.exports("/admin/api/security-events", API_KEYS),
    );
    let live_keys = ["type", "severity", "user"];
    c.insert(
        "stream_url",
        &format!(
            "/admin/api/security-events/stream?{}",
            rq.link(&live_keys, &[])
        ),
    );
    console_page::render(
        status,
        "admin/security_logs.html",
        c,
        Some(&console_page::Chrome {
            username: &admin.principal.username,
            csrf_token: &admin.csrf_token,
            current: "/admin/security-logs",
        }),
    )
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(PATH).route(web::get().to(security_logs)));
}
