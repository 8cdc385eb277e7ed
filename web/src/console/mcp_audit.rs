//! `/admin/mcp-audit`: the MCP security scanner (`actors::mcp_audit`) from the console — the
//! same function as `POST /admin/api/run-mcp-audit`, fed the same JSON fields.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/admin/mcp-audit` | the form: a configured HTTP backend or any URL, an optional token |
//! | POST | `/admin/mcp-audit` | run the scan; findings grouped by severity with their fixes, and the report as a JSON download |
//!
//! The token is write-only: used for this one scan, never put back into the form, never logged.
//! The export is the report itself, embedded in the result page as a `data:` link with the
//! `download` attribute: nothing is kept on the server between requests, and downloading does
//! not run the scan a second time (so the file is exactly the report on screen).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use serde::Serialize;
use serde_json::{Map, Value, json};
use tera::Context;

use actors::mcp_audit::{Finding, Report, Severity};

use super::guard::AdminPage;
use super::{forms, page};
use crate::admin_api::{admin_call, scan::run_scan};
use crate::state::AppState;

/// A backend the form offers (Streamable HTTP ones; the scanner speaks nothing else).
#[derive(Serialize)]
struct Target {
    id: String,
    name: String,
    url: String,
}

/// The fields sent back after a scan or a refusal (never the token).
#[derive(Default, Serialize)]
struct Filled {
    server_id: String,
    url: String,
    timeout_s: String,
}

/// Findings of one severity, worst group first.
#[derive(Serialize)]
struct Group<'a> {
    severity: &'static str,
    findings: Vec<&'a Finding>,
}

fn chrome(admin: &AdminPage) -> page::Chrome<'_> {
    page::Chrome {
        username: &admin.principal.username,
        csrf_token: &admin.csrf_token,
        current: "/admin/mcp-audit",
    }
}

async fn targets(state: &AppState) -> Vec<Target> {
    let Some(registry) = state.registry.get() else {
        return Vec::new();
    };
    registry
        .list()
        .await
        .into_iter()
        .filter(|e| e.transport == "streamable-http")
        .map(|e| Target {
            id: e.id.to_string(),
            url: e.url.clone().unwrap_or_default(),
            name: e.name,
        })
        .collect()
}

fn groups(report: &Report) -> Vec<Group<'_>> {
    Severity::ALL
        .iter()
        .rev()
        .map(|s| Group {
            severity: s.as_str(),
            findings: report
                .findings
                .iter()
                .filter(|f| f.severity == *s)
                .collect(),
        })
        .filter(|g| !g.findings.is_empty())
        .collect()
}

/// The report as a `data:` URL for the download link.
fn download_href(report: &Report) -> String {
    let json = serde_json::to_vec_pretty(report).unwrap_or_default();
    format!(
        "data:application/json;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(json)
    )
}

async fn render(
    state: &AppState,
    admin: &AdminPage,
    status: StatusCode,
    errors: &[String],
    filled: &Filled,
    report: Option<&Report>,
) -> HttpResponse {
    let mut c = Context::new();
    c.insert("targets", &targets(state).await);
    c.insert("errors", errors);
    c.insert("filled", filled);
    c.insert("report", &report);
    if let Some(report) = report {
        c.insert("groups", &groups(report));
        c.insert("download", &download_href(report));
    }
    page::render(status, "admin/mcp_audit.html", c, Some(&chrome(admin)))
}

async fn show(state: web::Data<AppState>, admin: AdminPage) -> HttpResponse {
    render(
        &state,
        &admin,
        StatusCode::OK,
        &[],
        &Filled::default(),
        None,
    )
    .await
}

async fn run(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminPage,
    payload: web::Payload,
) -> HttpResponse {
    let params = match forms::read(&req, payload, "/admin/mcp-audit").await {
        Ok(params) => params,
        Err(response) => return *response,
    };
    let field = |k: &str| params.get(k).map(str::trim).unwrap_or("").to_string();
    let filled = Filled {
        server_id: field("server_id"),
        url: field("url"),
        timeout_s: field("timeout_s"),
    };
    // The form as the admin API's JSON body; a typed URL wins over the backend list.
    let mut body = Map::new();
    if !filled.url.is_empty() {
        body.insert("url".into(), json!(filled.url));
    } else if !filled.server_id.is_empty() {
        body.insert("server_id".into(), json!(filled.server_id));
    }
    let token = field("token");
    if !token.is_empty() {
        body.insert("token".into(), json!(token));
    }
    if !filled.timeout_s.is_empty() {
        let timeout = filled
            .timeout_s
            .parse::<u64>()
            .map_or_else(|_| json!(filled.timeout_s), Value::from);
        body.insert("timeout_s".into(), timeout);
    }
    let outcome = match admin_call(&req, &state) {
        Ok(call) => run_scan(&state, &call, &Value::Object(body)).await,
        Err(error) => Err(error),
    };
    match outcome {
        Ok(report) => render(&state, &admin, StatusCode::OK, &[], &filled, Some(&report)).await,
        Err(error) => {
            let (status, errors) = forms::messages(&error);
            render(&state, &admin, status, &errors, &filled, None).await
        }
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/mcp-audit")
            .route(web::get().to(show))
            .route(web::post().to(run)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_are_grouped_worst_first_and_exported_whole() {
        let mut report = Report::new("http://x/mcp", false);
        report.add(Finding::new("a.low", Severity::Low, "low", "d", "fix low"));
        report.add(Finding::new(
            "b.high",
            Severity::High,
            "high",
            "d",
            "fix high",
        ));
        report.add(Finding::new("c.high", Severity::High, "high 2", "d", "f"));
        let g = groups(&report);
        assert_eq!(
            g.iter()
                .map(|g| (g.severity, g.findings.len()))
                .collect::<Vec<_>>(),
            vec![("high", 2), ("low", 1)]
        );
        let href = download_href(&report);
        let encoded = href.strip_prefix("data:application/json;base64,").unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        let back: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back["target"], "http://x/mcp");
        assert_eq!(back["findings"].as_array().unwrap().len(), 3);
    }
}
