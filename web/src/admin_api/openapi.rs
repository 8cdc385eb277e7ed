//! `GET /admin/api/openapi.json`: an OpenAPI 3.1 document of every `/admin/api` route.
//!
//! Built from [`OPERATIONS`], one line per route; a test reads the handlers' route attributes in
//! this directory and fails when one is missing here, so the document cannot fall behind. Like
//! every admin route it needs an administrator.

use actix_web::{HttpRequest, HttpResponse, get, web};
use serde_json::{Map, Value, json};

use super::{AdminApiError, admin_caller};
use crate::state::AppState;

/// One operation: method, path, summary, query parameters, request body fields (`None`: no
/// body), and the success status.
pub(crate) struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    summary: &'static str,
    query: &'static [(&'static str, &'static str)],
    body: Option<&'static [(&'static str, &'static str)]>,
    status: u16,
}

const fn op(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    query: &'static [(&'static str, &'static str)],
    body: Option<&'static [(&'static str, &'static str)]>,
    status: u16,
) -> Operation {
    Operation {
        method,
        path,
        summary,
        query,
        body,
        status,
    }
}

const AUDIT_FILTERS: &[(&str, &str)] = &[
    ("user", "string"),
    ("backend", "string"),
    ("tool", "string"),
    ("outcome", "string"),
    ("kind", "string"),
    ("since", "integer"),
    ("until", "integer"),
    ("before", "integer"),
    ("limit", "integer"),
    ("format", "string"),
];
const EVENT_FILTERS: &[(&str, &str)] = &[
    ("type", "string"),
    ("severity", "string"),
    ("user", "string"),
    ("since", "integer"),
    ("until", "integer"),
    ("before", "integer"),
    ("limit", "integer"),
    ("format", "string"),
];
const SERVER_BODY: &[(&str, &str)] = &[
    ("name", "string"),
    ("display_name", "string"),
    ("url", "string"),
    ("command", "string"),
    ("transport", "string"),
    ("tool_prefix", "string"),
    ("enabled", "boolean"),
    ("auth_type", "string"),
    ("auth_token", "string"),
    ("backend_token", "string"),
    ("auth_header", "string"),
    ("timeout", "integer"),
    ("timeout_ms", "integer"),
    ("health_interval_s", "integer"),
    ("token_url", "string"),
    ("client_id", "string"),
    ("client_secret", "string"),
    ("scope", "string"),
    ("resource", "string"),
    ("refresh_token", "string"),
];
const POLICY_BODY: &[(&str, &str)] = &[
    ("subject", "string"),
    ("effect", "string"),
    ("backends", "array"),
    ("tools", "array"),
    ("prompts", "array"),
    ("resources", "array"),
    ("description", "string"),
];
const GROUP_BODY: &[(&str, &str)] = &[("name", "string"), ("description", "string")];
const USER_BODY: &[(&str, &str)] = &[
    ("username", "string"),
    ("email", "string"),
    ("password", "string"),
    ("role", "string"),
    ("is_superuser", "boolean"),
];
const USER_CHANGE: &[(&str, &str)] = &[
    ("email", "string"),
    ("role", "string"),
    ("enabled", "boolean"),
];
const STATUS_BODY: &[(&str, &str)] = &[("enabled", "boolean"), ("is_active", "boolean")];

/// The runtime keys (the binary's allow-list); each also takes `null` to clear it.
const RUNTIME_BODY: &[(&str, &str)] = &[
    ("rate_limit.mcp_max", "integer"),
    ("rate_limit.mcp_window_s", "integer"),
    ("rate_limit.tool_max", "integer"),
    ("rate_limit.tool_window_s", "integer"),
    ("rate_limit.login_max", "integer"),
    ("rate_limit.login_window_s", "integer"),
    ("rate_limit.token_max", "integer"),
    ("rate_limit.token_window_s", "integer"),
    ("auth.allow_registration", "boolean"),
    ("oauth.dcr_enabled", "boolean"),
    ("oauth.dcr_max_per_ip", "integer"),
    ("oauth.dcr_window_s", "integer"),
];

/// Every admin API route. Keep in step with the handlers (the test below checks).
#[rustfmt::skip]
pub(crate) const OPERATIONS: &[Operation] = &[
    op("get", "/admin/api/openapi.json", "This document", &[], None, 200),
    op("get", "/admin/api/stats", "Dashboard figures: users, backends, sessions, requests and security events of the last 24 h, backend tokens expiring within 24 h", &[], None, 200),
    op("get", "/admin/api/settings", "The effective configuration, every secret masked, with each key's source", &[], None, 200),
    op("get", "/admin/api/settings/runtime", "Runtime settings: each allowed key, its effective value and its database override", &[], None, 200),
    op("put", "/admin/api/settings/runtime", "Set (value) or clear (null) runtime settings, then reload; the outcome", &[], Some(RUNTIME_BODY), 200),
    op("post", "/admin/api/reload", "Reload the configuration (as SIGHUP); the outcome", &[], None, 200),
    op("get", "/admin/api/mcp-servers", "Backends (config file and database) with live status", &[], None, 200),
    op("post", "/admin/api/mcp-servers", "Create a backend; a name that is not an identifier ([A-Za-z0-9_-]) is made one (lowercase, other characters as one -: \"GitHub MCP\" → github-mcp) and kept as display_name; the answer's name and message give the identifier (400: none can be made, 409: taken)", &[], Some(SERVER_BODY), 201),
    op("get", "/admin/api/mcp-servers/{id}", "One backend", &[], None, 200),
    op("patch", "/admin/api/mcp-servers/{id}", "Change a backend (partial; name must be an identifier, display_name any text, null or \"\" clears it)", &[], Some(SERVER_BODY), 200),
    op("delete", "/admin/api/mcp-servers/{id}", "Delete a backend", &[], None, 200),
    op("get", "/admin/api/mcp-servers/{id}/token-status", "A backend's token state (never the token)", &[], None, 200),
    op("post", "/admin/api/mcp-servers/{id}/refresh-token", "Refresh a backend's OAuth token now", &[], None, 202),
    op("get", "/admin/api/mcp-servers/{id}/tools", "A backend's tools, from the cached capabilities", &[], None, 200),
    op("get", "/admin/api/mcp-servers/{id}/prompts", "A backend's prompts, from the cached capabilities", &[], None, 200),
    op("get", "/admin/api/mcp-servers/{id}/resources", "A backend's resources and templates, from the cached capabilities", &[], None, 200),
    op("post", "/admin/api/mcp-servers/{id}/test", "Test a backend's connection (initialize + lists; the live status is untouched; 502 when it fails)", &[], None, 200),
    op("post", "/admin/api/mcp-servers/test", "Test an unsaved backend (a create body) before adding it", &[], Some(SERVER_BODY), 200),
    op("get", "/admin/api/mcp-servers/{id}/tool-changes", "A backend's changed tool definitions awaiting approval (approved and new side by side)", &[], None, 200),
    op("post", "/admin/api/mcp-servers/{id}/tools/{name}/approve", "Approve a tool's changed definition (with hold_changed_tools: serve it again)", &[], None, 200),
    op("get", "/admin/api/mcp-requests", "Audit records, newest first (json, jsonl or csv)", AUDIT_FILTERS, None, 200),
    op("get", "/admin/api/mcp-stats", "Audit summary over a window", &[("window_minutes", "integer")], None, 200),
    op("get", "/admin/api/mcp-activity/stream", "Server-sent events: audit records as written", AUDIT_FILTERS, None, 200),
    op("post", "/admin/api/audit/verify", "Verify the audit trail's hash chain (like `audit verify`)", &[], None, 200),
    op("get", "/admin/api/security-events", "Security events, newest first (json, jsonl or csv)", EVENT_FILTERS, None, 200),
    op("get", "/admin/api/security-events/stream", "Server-sent events: security events as written", EVENT_FILTERS, None, 200),
    op("post", "/admin/api/run-mcp-audit", "Scan an MCP server for security problems", &[], Some(&[("url", "string"), ("server_id", "string")]), 200),
    op("get", "/admin/api/policies", "Authorization policies (file then database)", &[], None, 200),
    op("post", "/admin/api/policies", "Create a policy", &[], Some(POLICY_BODY), 201),
    op("get", "/admin/api/policies/{id}", "One policy", &[], None, 200),
    op("patch", "/admin/api/policies/{id}", "Change a policy (partial)", &[], Some(POLICY_BODY), 200),
    op("delete", "/admin/api/policies/{id}", "Delete a policy", &[], None, 200),
    op("get", "/admin/api/groups", "Groups with their members", &[], None, 200),
    op("post", "/admin/api/groups", "Create a group", &[], Some(GROUP_BODY), 201),
    op("get", "/admin/api/groups/{id}", "One group", &[], None, 200),
    op("patch", "/admin/api/groups/{id}", "Rename or redescribe a group", &[], Some(GROUP_BODY), 200),
    op("delete", "/admin/api/groups/{id}", "Delete a group", &[], None, 200),
    op("put", "/admin/api/groups/{id}/members", "Set exactly these members", &[], Some(&[("user_ids", "array")]), 200),
    op("post", "/admin/api/groups/{id}/members/{user_id}", "Add one member", &[], None, 200),
    op("delete", "/admin/api/groups/{id}/members/{user_id}", "Remove one member", &[], None, 200),
    op("get", "/admin/api/users", "Accounts (never a password hash)", &[], None, 200),
    op("post", "/admin/api/users", "Create an account", &[], Some(USER_BODY), 201),
    op("get", "/admin/api/users/{id}", "One account", &[], None, 200),
    op("patch", "/admin/api/users/{id}", "Change an account", &[], Some(USER_CHANGE), 200),
    op("put", "/admin/api/users/{id}", "Change an account (the original's method)", &[], Some(USER_CHANGE), 200),
    op("delete", "/admin/api/users/{id}", "Delete an account, its sessions, tokens and own policies", &[], None, 200),
    op("post", "/admin/api/users/{id}/status", "Enable or disable an account", &[], Some(STATUS_BODY), 200),
    op("put", "/admin/api/users/{id}/status", "Enable or disable an account", &[], Some(STATUS_BODY), 200),
    op("patch", "/admin/api/users/{id}/status", "Enable or disable an account", &[], Some(STATUS_BODY), 200),
    op("post", "/admin/api/users/{id}/password", "Reset a password (signs the user out)", &[], Some(&[("password", "string")]), 200),
    op("post", "/admin/api/users/{id}/revoke-sessions", "Sign a user out everywhere and revoke their API tokens", &[], None, 200),
    op("post", "/admin/api/users/{id}/grant-all-backends", "Allow a user every backend", &[], None, 201),
    op("get", "/admin/api/users/{id}/mcp-permissions", "A user's groups and the policies naming them", &[], None, 200),
    op("put", "/admin/api/users/{id}/mcp-permissions", "Replace a user's database policies", &[], Some(&[("permissions", "array")]), 200),
    op("get", "/admin/api/api-tokens", "API tokens (never a token or its hash)", &[], None, 200),
    op("post", "/admin/api/api-tokens", "Create an API token (shown once)", &[], Some(&[("username", "string"), ("user_id", "integer"), ("name", "string"), ("expires_days", "integer")]), 201),
    op("delete", "/admin/api/api-tokens/{id}", "Revoke an API token", &[], None, 200),
    op("post", "/admin/api/access-token", "An access token for the calling administrator, for /mcp (shown once)", &[], None, 200),
    op("get", "/admin/api/oauth-clients", "OAuth clients (never a secret)", &[], None, 200),
    op("get", "/admin/api/oauth-clients/{id}", "One OAuth client", &[], None, 200),
    op("delete", "/admin/api/oauth-clients/{id}", "Delete an OAuth client, revoking its tokens, codes and consents", &[], None, 200),
    op("post", "/admin/api/oauth-clients/{id}/rotate-secret", "New secret for a confidential client (shown once)", &[], None, 200),
    op("get", "/admin/api/oauth-clients/{id}/consents", "Consents users remembered for the client", &[], None, 200),
    op("delete", "/admin/api/oauth-clients/{id}/consents", "Forget the client's consents", &[], None, 200),
];

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

fn operation(o: &Operation) -> Value {
    let mut parameters: Vec<Value> = path_params(o.path)
        .map(|name| {
            json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } })
        })
        .collect();
    parameters.extend(o.query.iter().map(|(name, ty)| {
        json!({ "name": name, "in": "query", "required": false, "schema": { "type": ty } })
    }));
    let mut responses = Map::new();
    responses.insert(
        o.status.to_string(),
        json!({ "description": "Success", "content": { "application/json": { "schema": { "type": "object" } } } }),
    );
    if o.body.is_some() || !o.query.is_empty() {
        responses.insert(
            "400".into(),
            error_response("Invalid input; `problems` lists each"),
        );
    }
    responses.insert(
        "401".into(),
        error_response("No valid bearer token or console session"),
    );
    responses.insert(
        "403".into(),
        error_response(
            "Not an administrator, or a cookie-authenticated change without its CSRF token",
        ),
    );
    if o.path.contains('{') {
        responses.insert("404".into(), error_response("No such resource"));
    }
    if o.method != "get" {
        responses.insert(
            "409".into(),
            error_response("Conflicts with the current state"),
        );
    }
    responses.insert(
        "503".into(),
        error_response("Starting, shutting down, or the database is busy"),
    );
    let mut op = json!({
        "summary": o.summary,
        "operationId": format!("{}{}", o.method, o.path.replace(['/', '{', '}', '.', '-'], "_")),
        "parameters": parameters,
        "responses": responses,
    });
    if let Some(fields) = o.body {
        let properties: Map<String, Value> = fields
            .iter()
            .map(|(name, ty)| (name.to_string(), json!({ "type": ty })))
            .collect();
        op["requestBody"] = json!({
            "required": true,
            "content": { "application/json": { "schema": { "type": "object", "properties": properties } } }
        });
    }
    op
}

fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

/// The whole document.
pub fn document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for o in OPERATIONS {
        let entry = paths.entry(o.path).or_insert_with(|| json!({}));
        entry[o.method] = operation(o);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "authmcp-gateway admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Administration of the gateway. Every route needs an \
                            administrator: a bearer token (POST /auth/login) or the console's \
                            session cookie plus the `X-CSRF-Token` header on changes.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer" },
                "cookie": { "type": "apiKey", "in": "cookie", "name": "authmcp_session" },
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "detail"],
                    "properties": {
                        "error": { "type": "string", "description": "A stable code, e.g. bad_request, not_found, conflict" },
                        "detail": { "type": "string", "description": "What went wrong and what to do" },
                        "problems": { "type": "array", "items": { "type": "string" }, "description": "On 400: every problem, `field: reason`" },
                    },
                },
            },
        },
        "security": [{ "bearer": [] }, { "cookie": [] }],
    })
}

#[get("/admin/api/openapi.json")]
async fn openapi(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminApiError> {
    let _admin = admin_caller(&req, &state)?;
    Ok(HttpResponse::Ok().json(document()))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(openapi);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `#[get("/admin/api/…")]`-style attribute and `.route("/admin/api/…", web::x()…)`
    /// call in this directory, as (method, path).
    fn registered_routes() -> Vec<(String, String)> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/admin_api");
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for line in text.lines().map(str::trim) {
                for method in ["get", "post", "put", "patch", "delete"] {
                    let attribute = format!("#[{method}(\"/admin/api/");
                    if let Some(rest) = line.strip_prefix(&attribute) {
                        let path = rest.split('"').next().unwrap();
                        found.push((method.to_string(), format!("/admin/api/{path}")));
                    }
                }
                if let Some(rest) = line.strip_prefix(".route(\"/admin/api/") {
                    let path = rest.split('"').next().unwrap();
                    let method = rest
                        .split("web::")
                        .nth(1)
                        .unwrap()
                        .split('(')
                        .next()
                        .unwrap();
                    found.push((method.to_string(), format!("/admin/api/{path}")));
                }
            }
        }
        found
    }

    #[test]
    fn every_registered_route_is_documented() {
        let routes = registered_routes();
        assert!(routes.len() > 40, "found only {routes:?}");
        let doc = document();
        let missing: Vec<_> = routes
            .iter()
            .filter(|(m, p)| doc["paths"][p.as_str()][m.as_str()].is_null())
            .collect();
        assert!(
            missing.is_empty(),
            "routes missing from the OpenAPI document: {missing:?}"
        );
    }

    #[test]
    fn every_documented_route_exists() {
        let routes = registered_routes();
        let stale: Vec<_> = OPERATIONS
            .iter()
            .filter(|o| !routes.iter().any(|(m, p)| m == o.method && p == o.path))
            .map(|o| (o.method, o.path))
            .collect();
        assert!(stale.is_empty(), "documented but not registered: {stale:?}");
    }

    #[test]
    fn path_parameters_are_declared() {
        let doc = document();
        let op = &doc["paths"]["/admin/api/groups/{id}/members/{user_id}"]["delete"];
        let names: Vec<&str> = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["id", "user_id"]);
        assert_eq!(doc["openapi"], "3.1.0");
    }
}
