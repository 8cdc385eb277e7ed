//! `/admin/api/policies`: authorization policies, and the one-click grant.
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/admin/api/policies` | `{"policies": [...]}`: config-file policies (`source: "file"`, read-only, ids `file:<n>`) then database ones |
//! | POST | `/admin/api/policies` | 201 + the created policy |
//! | GET | `/admin/api/policies/{id}` | one policy |
//! | PATCH | `/admin/api/policies/{id}` | partial update (`null` item list = every item); 200 + the policy |
//! | DELETE | `/admin/api/policies/{id}` | 200 + `{"id","message"}` |
//! | POST | `/admin/api/users/{id}/grant-all-backends` | 201 + the created `user:<name>` allow `["*"]` policy |
//!
//! A change applies to the next `/mcp` request (the service rebuilds its snapshot at once).

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use serde_json::{Value, json};

use actors::auth::policy::{PolicyEntry, PolicyId, PolicyService};

use super::error::AdminApiError;
use super::{admin_caller, json_body, policy_body};
use crate::state::AppState;

pub(super) struct PolicyCall {
    pub username: String,
    pub log: slog::Logger,
    pub policies: Arc<PolicyService>,
}

pub(super) fn policy_call(
    req: &HttpRequest,
    state: &AppState,
) -> Result<PolicyCall, AdminApiError> {
    let (username, log) = admin_caller(req, state)?;
    let policies = state.policies.get().cloned().ok_or_else(|| {
        AdminApiError::Unavailable("The gateway is still starting; retry in a moment.".into())
    })?;
    Ok(PolicyCall {
        username,
        log,
        policies,
    })
}

fn policy_id(raw: &str) -> Result<PolicyId, AdminApiError> {
    PolicyId::parse(raw).ok_or_else(|| {
        AdminApiError::NotFound(format!(
            "No policy with id `{raw}` (ids are numbers, or file:<n> for config-file policies)."
        ))
    })
}

pub(super) fn view(e: &PolicyEntry) -> Value {
    let file = matches!(e.id, PolicyId::File(_));
    let id = match &e.id {
        PolicyId::Database(n) => json!(n),
        PolicyId::File(_) => json!(e.id.to_string()),
    };
    json!({
        "id": id,
        "source": if file { "file" } else { "database" },
        "read_only": file,
        "subject": e.rule.subject.to_string(),
        "effect": e.rule.effect.as_str(),
        "backends": e.rule.backends,
        "tools": e.rule.tools,
        "prompts": e.rule.prompts,
        "resources": e.rule.resources,
        "description": e.rule.description,
        "created_at_ms": e.created_at_ms,
        "updated_at_ms": e.updated_at_ms,
    })
}

fn created(entry: &PolicyEntry) -> HttpResponse {
    HttpResponse::Created()
        .insert_header(("location", format!("/admin/api/policies/{}", entry.id)))
        .json(view(entry))
}

#[get("/admin/api/policies")]
async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AdminApiError> {
    let call = policy_call(&req, &state)?;
    let entries = call
        .policies
        .list()
        .await
        .map_err(|e| AdminApiError::from_policy(e, "policy", &call.log))?;
    let default = call.policies.snapshot().default_policy();
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(json!({
            "default_policy": default.as_str(),
            "policies": entries.iter().map(view).collect::<Vec<_>>(),
        })))
}

#[post("/admin/api/policies")]
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminApiError> {
    let call = policy_call(&req, &state)?;
    let invalid = |problems| AdminApiError::InvalidInput("policy", problems);
    let change = policy_body::policy(&json_body(&req, &body)?).map_err(invalid)?;
    let rule = change.apply(None).map_err(invalid)?;
    let entry = call
        .policies
        .create(rule, &call.username)
        .await
        .map_err(|e| AdminApiError::from_policy(e, "policy", &call.log))?;
    Ok(created(&entry))
}

#[get("/admin/api/policies/{id}")]
async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminApiError> {
    let call = policy_call(&req, &state)?;
    let entry = call
        .policies
        .get(&policy_id(&id)?)
        .await
        .map_err(|e| AdminApiError::from_policy(e, "policy", &call.log))?;
    Ok(HttpResponse::Ok().json(view(&entry)))
}

#[patch("/admin/api/policies/{id}")]
async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminApiError> {
    let call = policy_call(&req, &state)?;
    let id = policy_id(&id)?;
    let change = policy_body::policy(&json_body(&req, &body)?)
        .map_err(|p| AdminApiError::InvalidInput("policy", p))?;
    let entry = call
        .policies
        .update(&id, change, &call.username)
        .await
        .map_err(|e| AdminApiError::from_policy(e, "policy", &call.log))?;
    Ok(HttpResponse::Ok().json(view(&entry)))
}

#[delete("/admin/api/policies/{id}")]
async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminApiError> {
    let call = policy_call(&req, &state)?;
    let removed = call
        .policies
        .delete(&policy_id(&id)?, &call.username)
        .await
        .map_err(|e| AdminApiError::from_policy(e, "policy", &call.log))?;
    Ok(HttpResponse::Ok().json(json!({
        "id": view(&removed)["id"],
        "message": "Policy deleted.",
    })))
}

#[post("/admin/api/users/{id}/grant-all-backends")]
async fn grant_all_backends(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminApiError> {
    let call = policy_call(&req, &state)?;
    let user = id
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| AdminApiError::NotFound(format!("No user with id `{id}`.")))?;
    let entry = call
        .policies
        .grant_all_backends(user, &call.username)
        .await
        .map_err(|e| AdminApiError::from_policy(e, "policy", &call.log))?;
    Ok(created(&entry))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(show)
        .service(update)
        .service(remove)
        .service(grant_all_backends);
}
