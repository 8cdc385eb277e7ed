//! `/admin/mcp-servers/{id}`: one backend — its settings and live status, its tools, prompts
//! and resources (the status board's cached capabilities, as the admin API's `…/tools`,
//! `…/prompts` and `…/resources` show them), a connection test, and for database backends the
//! edit form. Config-file backends are read-only: the page says which file defines them.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/admin/mcp-servers/{id}` | the page |
//! | POST | `/admin/mcp-servers/{id}/test` | the page with a connection test's result (the live status is untouched) |
//! | POST | `/admin/mcp-servers/{id}/edit` | change a database backend: the add form's fields; an empty token keeps the stored one |
//! | POST | `/admin/mcp-servers/{id}/tools/{name}/approve` | approve a tool's changed definition (shown as "changed — review", old and new side by side) |

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError as _, web};
use actors::registry::BackendEntry;
use actors::spec::SpecOrigin;
use serde::Serialize;
use serde_json::{Map, Value, json};
use tera::Context;

use super::guard::AdminPage;
use super::servers::{chrome, config_file, find, line, registry};
use super::{forms, page};
use crate::admin_api::{AdminApiError, body, server_test, tool_changes};
use crate::oauth::request_log;
use crate::state::AppState;

const FLASH: &[(&str, &str)] = &[
    ("saved", "Backend {name} saved."),
    ("approved", "The new definition of tool {name} is approved."),
];

/// The static credential kinds the console edits; other kinds (header, OAuth) are changed
/// through the admin API and left alone by the form.
const FORM_AUTH_TYPES: [&str; 3] = ["none", "bearer", "basic"];

/// A tool or prompt as the page lists it.
#[derive(Serialize)]
struct Item {
    name: String,
    /// Tools: the definition changed and awaits review.
    changed: bool,
    exposed_as: String,
    description: String,
    /// Prompts: their argument names.
    arguments: Vec<String>,
}

#[derive(Serialize)]
struct Resource {
    /// The URI, or the URI template of a resource template.
    uri: String,
    name: String,
    mime_type: String,
    description: String,
}

/// The edit form's values: the stored ones, or what was sent back after a refusal (never a
/// token).
#[derive(Serialize)]
struct Filled {
    name: String,
    display_name: String,
    url: String,
    tool_prefix: String,
    auth_type: String,
}

impl Filled {
    fn of(entry: &BackendEntry) -> Filled {
        Filled {
            name: entry.name.clone(),
            display_name: entry.display_name.clone().unwrap_or_default(),
            url: entry.url.clone().unwrap_or_default(),
            tool_prefix: entry.tool_prefix.clone(),
            auth_type: entry.auth_type.to_string(),
        }
    }
}

/// What a POST adds to the page.
#[derive(Default)]
struct Outcome {
    status: Option<StatusCode>,
    errors: Vec<String>,
    filled: Option<Filled>,
    test: Option<Value>,
    flash: Option<String>,
}

impl Outcome {
    /// A refused change: `error`'s status and reasons (and the edit form as sent).
    fn refused(error: &AdminApiError, filled: Option<Filled>) -> Outcome {
        let (status, errors) = forms::messages(error);
        Outcome {
            status: Some(status),
            errors,
            filled,
            ..Outcome::default()
        }
    }
}

fn text(item: &Value, key: &str) -> String {
    item.get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn parsed(list: &[Box<serde_json::value::RawValue>]) -> impl Iterator<Item = Value> + '_ {
    list.iter()
        .filter_map(|raw| serde_json::from_str::<Value>(raw.get()).ok())
}

/// A changed tool definition as the review section shows it: both versions pretty-printed.
#[derive(Serialize)]
struct Review {
    tool: String,
    approved_by: Option<String>,
    approved: String,
    new: String,
}

async fn render(
    state: &AppState,
    admin: &AdminPage,
    entry: &BackendEntry,
    outcome: Outcome,
) -> HttpResponse {
    let (mut errors, mut reviews) = (outcome.errors, Vec::new());
    match tool_changes::changes_of(state, &entry.name, &state.log).await {
        Ok(changes) => {
            let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
            reviews = changes
                .iter()
                .map(|c| Review {
                    tool: c.tool.clone(),
                    approved_by: c.approved_by.clone(),
                    approved: pretty(&c.approved_definition),
                    new: pretty(&c.new_definition),
                })
                .collect();
        }
        Err(error) => errors.push(error.to_string()),
    }
    let changed: Vec<&str> = reviews.iter().map(|r| r.tool.as_str()).collect();
    let hold = state
        .security
        .get()
        .is_some_and(|s| s.tool_approvals().hold());
    let capabilities = state
        .gateway
        .get()
        .and_then(|g| g.capabilities(&entry.name));
    let item = |v: Value| {
        let name = text(&v, "name");
        Item {
            changed: changed.contains(&name.as_str()),
            exposed_as: format!("{}{name}", entry.tool_prefix),
            description: text(&v, "description"),
            arguments: v
                .get("arguments")
                .and_then(Value::as_array)
                .map(|args| args.iter().map(|a| text(a, "name")).collect())
                .unwrap_or_default(),
            name,
        }
    };
    let (mut tools, mut prompts, mut resources) = (Vec::new(), Vec::new(), Vec::new());
    if let Some(c) = &capabilities {
        tools = parsed(&c.tools).map(item).collect();
        prompts = parsed(&c.prompts).map(item).collect();
        resources = parsed(&c.resources)
            .chain(parsed(&c.resource_templates))
            .map(|v| Resource {
                uri: v
                    .get("uri")
                    .or_else(|| v.get("uriTemplate"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                name: text(&v, "name"),
                mime_type: text(&v, "mimeType"),
                description: text(&v, "description"),
            })
            .collect();
    }
    let defined_in = (entry.origin == SpecOrigin::ConfigFile).then(|| config_file(state));
    let mut c = Context::new();
    c.insert("server", &line(entry));
    c.insert("tools", &tools);
    c.insert("prompts", &prompts);
    c.insert("resources", &resources);
    c.insert("defined_in", &defined_in);
    c.insert("auth_types", &FORM_AUTH_TYPES);
    c.insert("form_auth", &FORM_AUTH_TYPES.contains(&entry.auth_type));
    c.insert(
        "filled",
        &outcome.filled.unwrap_or_else(|| Filled::of(entry)),
    );
    c.insert("errors", &errors);
    c.insert("reviews", &reviews);
    c.insert("hold", &hold);
    c.insert("test", &outcome.test);
    c.insert("flash", &outcome.flash);
    page::render(
        outcome.status.unwrap_or(StatusCode::OK),
        "admin/server.html",
        c,
        Some(&chrome(admin)),
    )
}

pub(super) async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminPage,
    id: web::Path<String>,
) -> HttpResponse {
    let entry = match find(&state, &id).await {
        Ok(entry) => entry,
        Err(response) => return *response,
    };
    let outcome = Outcome {
        flash: forms::flash(&forms::query(&req), FLASH),
        ..Outcome::default()
    };
    render(&state, &admin, &entry, outcome).await
}

/// `POST …/test`: one connection test, shown on the page.
async fn test(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminPage,
    id: web::Path<String>,
) -> HttpResponse {
    let entry = match find(&state, &id).await {
        Ok(entry) => entry,
        Err(response) => return *response,
    };
    let registry = match registry(&state) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    let log = request_log(&req, &state.log);
    let result = match registry.spec(&entry.id).await {
        Ok(spec) => server_test::run(&state, &spec, &log).await,
        Err(error) => Err(AdminApiError::from_registry(error, &log)),
    };
    let (status, test) = match result {
        Ok(report) => (StatusCode::OK, server_test::report_json(&report)),
        Err(error) => {
            let hint = match &error {
                AdminApiError::BadGateway { hint, .. } => *hint,
                _ => "",
            };
            (
                error.status_code(),
                json!({ "ok": false, "detail": error.to_string(), "hint": hint }),
            )
        }
    };
    let outcome = Outcome {
        status: Some(status),
        test: Some(test),
        ..Outcome::default()
    };
    render(&state, &admin, &entry, outcome).await
}

/// `POST …/edit`: the form's fields as a PATCH body, judged by the admin API's parser. Fields
/// left as shown are not sent (a URL is shown with its password masked, so sending it back
/// would store the mask); an empty token keeps the stored one.
async fn edit(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminPage,
    id: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let entry = match find(&state, &id).await {
        Ok(entry) => entry,
        Err(response) => return *response,
    };
    let back = format!("/admin/mcp-servers/{}", entry.id);
    let params = match forms::read(&req, payload, &back).await {
        Ok(params) => params,
        Err(response) => return *response,
    };
    let registry = match registry(&state) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    let log = request_log(&req, &state.log);
    let shown = Filled::of(&entry);
    let sent = |key: &str| params.get(key).unwrap_or("").to_string();
    let filled = Filled {
        name: sent("name"),
        display_name: sent("display_name"),
        url: sent("url"),
        tool_prefix: sent("tool_prefix"),
        auth_type: params
            .get("auth_type")
            .unwrap_or(entry.auth_type)
            .to_string(),
    };
    let mut fields = Map::new();
    for (key, now, before) in [
        ("name", &filled.name, &shown.name),
        ("display_name", &filled.display_name, &shown.display_name),
        ("url", &filled.url, &shown.url),
        ("tool_prefix", &filled.tool_prefix, &shown.tool_prefix),
    ] {
        if now != before {
            fields.insert(key.into(), json!(now));
        }
    }
    if params.get("auth_type").is_some() && filled.auth_type != shown.auth_type {
        fields.insert("auth_type".into(), json!(filled.auth_type));
    }
    if let Some(token) = params.get("auth_token").filter(|t| !t.is_empty()) {
        fields.insert("auth_token".into(), json!(token));
    }
    let outcome = match body::parse(&Value::Object(fields), false) {
        Err(problems) => Err(AdminApiError::Invalid(problems)),
        Ok(draft) => registry
            .update(&entry.id, draft, &admin.principal.username)
            .await
            .map_err(|e| AdminApiError::from_registry(e, &log)),
    };
    match outcome {
        Ok(saved) => {
            slog::info!(log, "Backend changed in the console.";
                "by" => &admin.principal.username, "backend" => &saved.name, "change" => "edited");
            forms::done(
                &format!("/admin/mcp-servers/{}", saved.id),
                "saved",
                &saved.name,
            )
        }
        Err(error) => {
            let outcome = Outcome::refused(&error, Some(filled));
            render(&state, &admin, &entry, outcome).await
        }
    }
}

/// `POST …/tools/{name}/approve`: the tool's changed definition becomes the approved one.
async fn approve(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminPage,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (id, tool) = path.into_inner();
    let entry = match find(&state, &id).await {
        Ok(entry) => entry,
        Err(response) => return *response,
    };
    let log = request_log(&req, &state.log);
    let by = admin.principal.username.clone();
    match tool_changes::approve_change(&state, &entry, &tool, &by, &log).await {
        Ok(_) => forms::done(
            &format!("/admin/mcp-servers/{}", entry.id),
            "approved",
            &tool,
        ),
        Err(error) => {
            let outcome = Outcome::refused(&error, None);
            render(&state, &admin, &entry, outcome).await
        }
    }
}

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/mcp-servers/{id}/test").route(web::post().to(test)))
        .service(web::resource("/admin/mcp-servers/{id}/edit").route(web::post().to(edit)))
        .service(
            web::resource("/admin/mcp-servers/{id}/tools/{name}/approve")
                .route(web::post().to(approve)),
        );
}
