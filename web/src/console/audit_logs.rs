//! `/admin/logs`: the audit trail, searched like `/admin/api/mcp-requests` (user, backend, tool,
//! outcome, kind, a UTC time range), a page at a time, with export links to the API's JSON lines
//! and CSV; and the "Verify hash chain" button, which runs the same walk as `authmcp-gateway
//! audit verify` (on the blocking threads) and shows the outcome above the table.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/admin/logs` | `?user=&backend=&tool=&outcome=&kind=&from=&to=&before=` |
//! | POST | `/admin/logs/verify` | the page again (same filters), with the verification's outcome |

use actix_web::{HttpRequest, HttpResponse, web};
use actors::audit::verify::VerifyReport;
use serde::Serialize;
use tera::Context;

use super::activity::{OUTCOMES, RequestLine};
use super::guard::AdminPage;
use super::page as console_page;
use super::record_query::{PAGE_SIZE, Problem, RecordQuery, page};
use crate::oauth::request_log;
use crate::state::AppState;

const PATH: &str = "/admin/logs";
const FILTERS: &[&str] = &["user", "backend", "tool", "outcome", "kind"];
/// The filters the exports carry.
const API_KEYS: &[&str] = &[
    "user", "backend", "tool", "outcome", "kind", "since", "until",
];

/// The verification's outcome as the page shows it.
#[derive(Serialize)]
struct Verdict {
    intact: bool,
    message: String,
}

fn verdict(report: &VerifyReport) -> Verdict {
    let start = if report.anchor_id > 0 {
        format!(
            " (the chain starts after pruned record {})",
            report.anchor_id
        )
    } else {
        String::new()
    };
    match &report.first_break {
        None => Verdict {
            intact: true,
            message: format!(
                "Hash chain intact: {} records verified{start}.",
                report.checked
            ),
        },
        Some(found) => Verdict {
            intact: false,
            message: format!(
                "Hash chain broken: {found}. {} records before it verified{start}.",
                report.checked
            ),
        },
    }
}

async fn render(
    req: &HttpRequest,
    state: &AppState,
    admin: &AdminPage,
    verdict: Option<Verdict>,
) -> HttpResponse {
    let rq = RecordQuery::read(req, FILTERS);
    let (mut rows, mut next) = (Vec::new(), None);
    let problem = match rq.in_audit_trail(state) {
        Err(problem) => Some(problem),
        Ok((filter, trail)) => match trail.search(filter, PAGE_SIZE + 1).await {
            Ok(found) => {
                let (shown, last) = page(found, |r| r.id);
                next = last.map(|id| rq.page_link(PATH, Some(id)));
                rows = shown;
                None
            }
            Err(error) => {
                slog::error!(request_log(req, &state.log), "Audit log: cannot read the audit trail."; "error" => %error);
                Some(Problem::unreadable("The audit trail"))
            }
        },
    };
    let (status, problem) = Problem::shown(problem);
    let mut c = Context::new();
    c.insert("filled", &rq.filled);
    c.insert("problem", &problem);
    c.insert("verdict", &verdict);
    c.insert("outcomes", OUTCOMES);
    c.insert(
        "records",
        &rows.iter().map(RequestLine::of).collect::<Vec<_>>(),
    );
    c.insert("next", &next);
    c.insert("later_page", &rq.is_later_page());
    c.insert("first", &rq.page_link(PATH, None));
    c.insert("exports", &rq.exports("/admin/api/mcp-requests", API_KEYS));
    // The verify form posts back to the page it is on, filters included.
    c.insert(
        "verify_action",
        &format!("{PATH}/verify?{}", req.query_string()),
    );
    console_page::render(
        status,
        "admin/audit_logs.html",
        c,
        Some(&console_page::Chrome {
            username: &admin.principal.username,
            csrf_token: &admin.csrf_token,
            current: PATH,
        }),
    )
}

async fn logs(req: HttpRequest, state: web::Data<AppState>, admin: AdminPage) -> HttpResponse {
    render(&req, &state, &admin, None).await
}

/// The CSRF field was checked by the guard before this runs (the form has nothing else).
async fn verify(req: HttpRequest, state: web::Data<AppState>, admin: AdminPage) -> HttpResponse {
    let Some(trail) = state.audit.get() else {
        return render(&req, &state, &admin, None).await;
    };
    let outcome = match trail.verify().await {
        Ok(report) => verdict(&report),
        Err(error) => {
            slog::error!(request_log(&req, &state.log), "Audit log: cannot verify the hash chain."; "error" => %error);
            Verdict {
                intact: false,
                message: "The audit trail could not be read to verify it; try again in a moment."
                    .into(),
            }
        }
    };
    render(&req, &state, &admin, Some(outcome)).await
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(PATH).route(web::get().to(logs)))
        .service(web::resource("/admin/logs/verify").route(web::post().to(verify)));
}
