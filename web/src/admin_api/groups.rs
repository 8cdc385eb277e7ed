//! `/admin/api/groups`: groups of users, named by policies as `group:<name>`.
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/admin/api/groups` | `{"groups": [...]}`, each with `members` (user ids) |
//! | POST | `/admin/api/groups` | 201 + the group (`name` required, `description` optional) |
//! | GET | `/admin/api/groups/{id}` | one group |
//! | PATCH | `/admin/api/groups/{id}` | rename / redescribe; 200 + the group |
//! | DELETE | `/admin/api/groups/{id}` | 200 + `{"id","name","message"}` |
//! | PUT | `/admin/api/groups/{id}/members` | body `[ids]` or `{"user_ids": [ids]}`: exactly these members |
//! | POST | `/admin/api/groups/{id}/members/{user_id}` | adds one member; 200 + the group |
//! | DELETE | `/admin/api/groups/{id}/members/{user_id}` | removes one member; 200 + the group |
//!
//! Membership changes apply to the next `/mcp` request.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, put, web};
use serde_json::{Value, json};

use actors::storage::groups::Group;

use super::error::AdminApiError;
use super::policies::policy_call;
use super::{json_body, policy_body};
use crate::state::AppState;

fn view(g: &Group) -> Value {
    json!({
        "id": g.id,
        "name": g.name,
        "description": g.description,
        "members": g.members,
        "created_at_ms": g.created_at_ms,
        "updated_at_ms": g.updated_at_ms,
    })
}

fn number(raw: &str, what: &str) -> Result<i64, AdminApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| AdminApiError::NotFound(format!("No {what} with id `{raw}`.")))
}

#[get("/admin/api/groups")]
async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AdminApiError> {
    let call = policy_call(&req, &state)?;
    let groups = call
        .policies
        .groups()
        .await
        .map_err(|e| AdminApiError::from_policy(e, "group", &call.log))?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(json!({ "groups": groups.iter().map(view).collect::<Vec<_>>() })))
}

#[post("/admin/api/groups")]
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminApiError> {
    let call = policy_call(&req, &state)?;
    let (name, description) = policy_body::group(&json_body(&req, &body)?)
        .map_err(|p| AdminApiError::InvalidInput("group", p))?;
    let Some(name) = name else {
        return Err(AdminApiError::InvalidInput(
            "group",
            vec!["name: required".into()],
        ));
    };
    let group = call
        .policies
        .create_group(name, description.unwrap_or_default(), &call.username)
        .await
        .map_err(|e| AdminApiError::from_policy(e, "group", &call.log))?;
    Ok(HttpResponse::Created()
        .insert_header(("location", format!("/admin/api/groups/{}", group.id)))
        .json(view(&group)))
}

#[get("/admin/api/groups/{id}")]
async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminApiError> {
    let call = policy_call(&req, &state)?;
    let group = call
        .policies
        .group(number(&id, "group")?)
        .await
        .map_err(|e| AdminApiError::from_policy(e, "group", &call.log))?;
    Ok(HttpResponse::Ok().json(view(&group)))
}

#[patch("/admin/api/groups/{id}")]
async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminApiError> {
    let call = policy_call(&req, &state)?;
    let id = number(&id, "group")?;
    let (name, description) = policy_body::group(&json_body(&req, &body)?)
        .map_err(|p| AdminApiError::InvalidInput("group", p))?;
    let group = call
        .policies
        .update_group(id, name, description, &call.username)
        .await
        .map_err(|e| AdminApiError::from_policy(e, "group", &call.log))?;
    Ok(HttpResponse::Ok().json(view(&group)))
}

#[delete("/admin/api/groups/{id}")]
async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminApiError> {
    let call = policy_call(&req, &state)?;
    let group = call
        .policies
        .delete_group(number(&id, "group")?, &call.username)
        .await
        .map_err(|e| AdminApiError::from_policy(e, "group", &call.log))?;
    Ok(HttpResponse::Ok().json(json!({
        "id": group.id,
        "name": group.name,
        "message": "Group deleted.",
    })))
}

#[put("/admin/api/groups/{id}/members")]
async fn set_members(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminApiError> {
    let call = policy_call(&req, &state)?;
    let id = number(&id, "group")?;
    let members = policy_body::members(&json_body(&req, &body)?)
        .map_err(|p| AdminApiError::InvalidInput("member list", p))?;
    let group = call
        .policies
        .set_members(id, members, &call.username)
        .await
        .map_err(|e| AdminApiError::from_policy(e, "member list", &call.log))?;
    Ok(HttpResponse::Ok().json(view(&group)))
}

#[post("/admin/api/groups/{id}/members/{user_id}")]
async fn add_member(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AdminApiError> {
    let call = policy_call(&req, &state)?;
    let (id, user) = (number(&path.0, "group")?, number(&path.1, "user")?);
    let group = call
        .policies
        .add_member(id, user, &call.username)
        .await
        .map_err(|e| AdminApiError::from_policy(e, "group", &call.log))?;
    Ok(HttpResponse::Ok().json(view(&group)))
}

#[delete("/admin/api/groups/{id}/members/{user_id}")]
async fn remove_member(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AdminApiError> {
    let call = policy_call(&req, &state)?;
    let (id, user) = (number(&path.0, "group")?, number(&path.1, "user")?);
    let group = call
        .policies
        .remove_member(id, user, &call.username)
        .await
        .map_err(|e| AdminApiError::from_policy(e, "group", &call.log))?;
    Ok(HttpResponse::Ok().json(view(&group)))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(show)
        .service(update)
        .service(remove)
        .service(set_members)
        .service(add_member)
        .service(remove_member);
}
