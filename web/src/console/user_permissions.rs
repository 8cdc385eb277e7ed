//! `/admin/users/{id}/permissions`: the user's own MCP permissions as rows (server — a backend
//! name or `*` —, tools — comma-separated names or patterns, empty for all —, allow or deny),
//! saved through the policy service like `PUT /admin/api/users/{id}/mcp-permissions` (the same
//! entry → policy conversion). Rules from the config file, the user's role and groups apply
//! too; the page lists the file rules about the user read-only, and offers every group as a
//! checkbox with the rules that name it (saved by `groups.rs`: exactly the checked memberships).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use actors::auth::policy::{PolicyEntry, PolicyId, PolicySubject};
use actors::storage::users::User;
use serde::Serialize;
use serde_json::{Value, json};
use tera::Context;

use super::guard::AdminPage;
use super::users::{chrome, find_user};
use super::{forms, page};
use crate::admin_api::AdminApiError;
use crate::admin_api::users::permission_rule;
use crate::oauth::form::Params;
use crate::oauth::request_log;
use crate::state::AppState;

/// Empty rows offered below the saved ones.
const BLANK_ROWS: usize = 3;
/// Rows a form may carry (saved plus blank); more is refused as an invalid form.
const MAX_ROWS: usize = 200;

#[derive(Serialize, Default, Clone)]
struct Row {
    server: String,
    tools: String,
    effect: String,
    /// Kept as they were: the editor does not show prompt and resource limits.
    prompts: String,
    resources: String,
}

fn joined(list: &Option<Vec<String>>) -> String {
    list.as_ref().map(|l| l.join(", ")).unwrap_or_default()
}

fn row(e: &PolicyEntry) -> Row {
    Row {
        server: e.rule.backends.join(","),
        tools: joined(&e.rule.tools),
        effect: e.rule.effect.as_str().to_string(),
        prompts: joined(&e.rule.prompts),
        resources: joined(&e.rule.resources),
    }
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A form row as the admin API's permission entry (`None` for a row left empty).
fn entry(row: &Row) -> Option<Value> {
    let servers = list(&row.server);
    if servers.is_empty() {
        return None;
    }
    let mut entry = json!({ "backends": servers, "effect": row.effect });
    for (key, text) in [
        ("tools", &row.tools),
        ("prompts", &row.prompts),
        ("resources", &row.resources),
    ] {
        let items = list(text);
        if !items.is_empty() {
            entry[key] = json!(items);
        }
    }
    Some(entry)
}

/// A group as the membership form shows it: whether the user is in it, and what its rules do.
#[derive(Serialize)]
struct GroupBox {
    id: i64,
    name: String,
    description: String,
    member: bool,
    /// The rules naming `group:<name>`, as "allow fx: fx_echo".
    rules: Vec<String>,
}

fn summary(e: &PolicyEntry) -> String {
    let tools = match joined(&e.rule.tools) {
        t if t.is_empty() => "all tools".to_string(),
        t => t,
    };
    format!(
        "{} {}: {tools}",
        e.rule.effect.as_str(),
        e.rule.backends.join(",")
    )
}

/// Every group, with `user`'s memberships and each group's rules.
async fn group_boxes(state: &AppState, user: &User) -> Vec<GroupBox> {
    let Some(policies) = state.policies.get() else {
        return Vec::new();
    };
    let rules = policies.list().await.unwrap_or_default();
    policies
        .groups()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|g| {
            let subject = PolicySubject::Group(g.name.clone());
            GroupBox {
                id: g.id,
                member: g.members.contains(&user.id),
                rules: rules
                    .iter()
                    .filter(|e| e.rule.subject == subject)
                    .map(summary)
                    .collect(),
                name: g.name,
                description: g.description,
            }
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
async fn render(
    state: &AppState,
    admin: &AdminPage,
    user: &User,
    status: StatusCode,
    rows: Vec<Row>,
    errors: &[String],
    flash: Option<String>,
    file_rules: &[Row],
) -> HttpResponse {
    let mut servers: Vec<String> = match state.registry.get() {
        Some(registry) => registry.list().await.into_iter().map(|e| e.name).collect(),
        None => Vec::new(),
    };
    servers.insert(0, "*".into());
    let all_groups = group_boxes(state, user).await;
    let groups: Vec<&str> = all_groups
        .iter()
        .filter(|g| g.member)
        .map(|g| g.name.as_str())
        .collect();
    let mut rows = rows;
    rows.extend(std::iter::repeat_n(
        Row {
            effect: "allow".into(),
            ..Row::default()
        },
        BLANK_ROWS,
    ));
    let mut c = Context::new();
    c.insert(
        "target",
        &json!({"id": user.id, "username": user.username, "role": user.role.as_str()}),
    );
    c.insert("rows", &rows);
    c.insert("servers", &servers);
    c.insert("groups", &groups);
    c.insert("all_groups", &all_groups);
    c.insert("file_rules", file_rules);
    c.insert("errors", errors);
    c.insert("flash", &flash);
    page::render(status, "admin/permissions.html", c, Some(&chrome(admin)))
}

/// The user's database rules as rows and the file rules about them, read-only.
async fn saved(state: &AppState, user: &User) -> Result<(Vec<Row>, Vec<Row>), Box<HttpResponse>> {
    let unavailable = || {
        Box::new(page::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Permissions unavailable",
            "The permissions could not be read; try again in a moment.",
            Some(("/admin/users", "Back to the users")),
        ))
    };
    let policies = state.policies.get().ok_or_else(unavailable)?;
    let entries = policies
        .user_policies(&user.username)
        .await
        .map_err(|_| unavailable())?;
    let (file, database): (Vec<_>, Vec<_>) = entries
        .iter()
        .partition(|e| matches!(e.id, PolicyId::File(_)));
    Ok((
        database.into_iter().map(row).collect(),
        file.into_iter().map(row).collect(),
    ))
}

/// The page with the saved rules (`errors` above them: a refused group change, say).
pub(super) async fn page(
    state: &AppState,
    admin: &AdminPage,
    user: &User,
    status: StatusCode,
    errors: &[String],
    flash: Option<String>,
) -> HttpResponse {
    let (rows, file_rules) = match saved(state, user).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    render(state, admin, user, status, rows, errors, flash, &file_rules).await
}

async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminPage,
    id: web::Path<String>,
) -> HttpResponse {
    let user = match find_user(&state, &id).await {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let flash = forms::flash(
        &forms::query(&req),
        &[
            ("saved", "Permissions saved; they apply at once."),
            (
                "groups",
                "Group memberships saved; they apply to the next request.",
            ),
        ],
    );
    page(&state, &admin, &user, StatusCode::OK, &[], flash).await
}

/// The form posted about user `raw_id` and that user, or the page saying what is wrong.
pub(super) async fn user_form(
    req: &HttpRequest,
    state: &AppState,
    raw_id: &str,
    payload: web::Payload,
) -> Result<(Params, User), Box<HttpResponse>> {
    let params = forms::read(req, payload, &format!("/admin/users/{raw_id}/permissions")).await?;
    let user = find_user(state, raw_id).await?;
    Ok((params, user))
}

async fn save(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminPage,
    id: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let (params, user) = match user_form(&req, &state, &id, payload).await {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let back = format!("/admin/users/{}/permissions", user.id);
    let log = request_log(&req, &state.log);
    let count = params
        .get("rows")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0)
        .min(MAX_ROWS);
    let field = |name: &str, i: usize| params.get(&format!("{name}_{i}")).unwrap_or("").to_string();
    let rows: Vec<Row> = (0..count)
        .map(|i| Row {
            server: field("server", i),
            tools: field("tools", i),
            effect: match field("effect", i).as_str() {
                "" => "allow".into(),
                other => other.to_string(),
            },
            prompts: field("prompts", i),
            resources: field("resources", i),
        })
        .collect();
    let mut rules = Vec::new();
    let mut problems = Vec::new();
    let mut kept = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let Some(entry) = entry(row) else { continue };
        kept.push(row.clone());
        match permission_rule(&entry, &user.username) {
            Ok(rule) => rules.push(rule),
            Err(p) => problems.extend(p.into_iter().map(|p| format!("row {}: {p}", i + 1))),
        }
    }
    let outcome = if problems.is_empty() {
        match state.policies.get() {
            Some(policies) => policies
                .replace_user_policies(&user.username, rules, &admin.principal.username)
                .await
                .map_err(|e| AdminApiError::from_policy(e, "permission list", &log)),
            None => Err(AdminApiError::Unavailable(
                "The gateway is still starting; retry in a moment.".into(),
            )),
        }
    } else {
        Err(AdminApiError::InvalidInput("permission list", problems))
    };
    match outcome {
        Ok(stored) => {
            slog::info!(log, "User permissions saved in the console.";
                "by" => &admin.principal.username, "user" => &user.username,
                "rules" => stored.len());
            forms::done(&back, "saved", &user.username)
        }
        Err(error) => {
            let (status, errors) = forms::messages(&error);
            let file_rules = saved(&state, &user)
                .await
                .map(|(_, file)| file)
                .unwrap_or_default();
            render(
                &state,
                &admin,
                &user,
                status,
                kept,
                &errors,
                None,
                &file_rules,
            )
            .await
        }
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/users/{id}/permissions")
            .route(web::get().to(show))
            .route(web::post().to(save)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_permission_entries() {
        let blank = Row::default();
        assert_eq!(entry(&blank), None);
        let row = Row {
            server: "fixture".into(),
            tools: " echo , add ,".into(),
            effect: "deny".into(),
            ..Row::default()
        };
        assert_eq!(
            entry(&row),
            Some(json!({"backends": ["fixture"], "tools": ["echo", "add"], "effect": "deny"}))
        );
        let all = Row {
            server: "*".into(),
            effect: "allow".into(),
            ..Row::default()
        };
        assert_eq!(
            entry(&all),
            Some(json!({"backends": ["*"], "effect": "allow"}))
        );
    }
}
