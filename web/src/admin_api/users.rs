//! `/admin/api/users`: accounts, at the original's paths (its request bodies keep working).
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/admin/api/users` | `{"users": [...]}` (never a password hash) |
//! | POST | `/admin/api/users` | `{"username", "email", "password", "role"?}` (role `user` by default; `is_superuser: true` is the original's admin flag) → 201 + the user |
//! | GET | `/admin/api/users/{id}` | one user |
//! | PATCH, PUT | `/admin/api/users/{id}` | `{"email"?, "role"?, "enabled"?}` → 200 + the user (an email must be valid and not another account's: 400, 409) |
//! | DELETE | `/admin/api/users/{id}` | the user, their sessions, tokens and own policies → 200 + `{"id","username","message"}` |
//! | POST/PUT/PATCH | `/admin/api/users/{id}/status` | `{"enabled": bool}` (or the original's `is_active`) → 200 + the user |
//! | POST | `/admin/api/users/{id}/password` | `{"password"}` → 200 + `{"revoked_sessions": n}` |
//! | GET | `/admin/api/users/{id}/mcp-permissions` | the user's groups and the policies naming them |
//! | PUT | `/admin/api/users/{id}/mcp-permissions` | `{"permissions": [{"server", "tools"?, "prompts"?, "resources"?, "effect"?}]}` replaces the user's database policies |
//!
//! Disabling, a password reset and deletion sign the user out everywhere at once. Refused with
//! 409: changing one's own role or status, deleting oneself, leaving no enabled administrator.

use actix_web::{HttpMessage, HttpRequest, HttpResponse, delete, get, post, put, web};
use serde_json::{Map, Value, json};

use actors::auth::identity::{Identity, NewAccount};
use actors::storage::users::{AccountChange, Role, User};

use super::{AdminApiError, admin_caller, json_body, policies, policy_body};
use crate::authn::Caller;
use crate::state::AppState;

pub(super) fn view(u: &User) -> Value {
    json!({
        "id": u.id,
        "username": u.username,
        "email": u.email,
        "role": u.role.as_str(),
        "is_superuser": u.role == Role::Admin,
        "enabled": u.enabled,
        "is_active": u.enabled,
        "created_at_ms": u.created_at_ms,
        "updated_at_ms": u.updated_at_ms,
        "last_login_at_ms": u.last_login_at_ms,
    })
}

/// The administrator's name, user id and logger.
struct UserCall<'a> {
    by: String,
    by_id: i64,
    log: slog::Logger,
    identity: &'a Identity,
}

fn user_call<'a>(req: &HttpRequest, state: &'a AppState) -> Result<UserCall<'a>, AdminApiError> {
    let (by, log) = admin_caller(req, state)?;
    let by_id = req
        .extensions()
        .get::<Caller>()
        .and_then(Caller::principal)
        .map_or(0, |p| p.user_id);
    Ok(UserCall {
        by,
        by_id,
        log,
        identity: &state.identity,
    })
}

fn user_id(raw: &str) -> Result<i64, AdminApiError> {
    raw.parse()
        .map_err(|_| AdminApiError::NotFound(format!("No user with id `{raw}`.")))
}

fn invalid(problems: Vec<String>) -> AdminApiError {
    AdminApiError::InvalidInput("user", problems)
}

/// Reads the object's fields, collecting every problem (unknown fields included: a typo must
/// not be silently ignored).
fn object<'v>(body: &'v Value, allowed: &[&str]) -> Result<&'v Map<String, Value>, AdminApiError> {
    let Some(map) = body.as_object() else {
        return Err(invalid(vec!["the body must be a JSON object".into()]));
    };
    let unknown: Vec<String> = map
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| format!("{k}: unknown field (known: {})", allowed.join(", ")))
        .collect();
    if unknown.is_empty() {
        Ok(map)
    } else {
        Err(invalid(unknown))
    }
}

fn string_field(map: &Map<String, Value>, key: &str, problems: &mut Vec<String>) -> Option<String> {
    match map.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            problems.push(format!("{key}: must be a string"));
            None
        }
    }
}

fn bool_field(map: &Map<String, Value>, key: &str, problems: &mut Vec<String>) -> Option<bool> {
    match map.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            problems.push(format!("{key}: must be true or false"));
            None
        }
    }
}

fn role_field(map: &Map<String, Value>, problems: &mut Vec<String>) -> Option<Role> {
    let role = string_field(map, "role", problems).map(|r| match r.as_str() {
        "admin" => Some(Role::Admin),
        "user" => Some(Role::User),
        _ => None,
    });
    match (role, bool_field(map, "is_superuser", problems)) {
        (Some(None), _) => {
            problems.push("role: must be `admin` or `user`".into());
            None
        }
        (Some(Some(role)), Some(admin)) if (role == Role::Admin) != admin => {
            problems.push("role and is_superuser disagree".into());
            None
        }
        (Some(Some(role)), _) => Some(role),
        (None, Some(true)) => Some(Role::Admin),
        (None, Some(false)) => Some(Role::User),
        (None, None) => None,
    }
}

#[get("/admin/api/users")]
async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AdminApiError> {
    let call = user_call(&req, &state)?;
    let users = call
        .identity
        .users()
        .await
        .map_err(|e| AdminApiError::from_auth(e, &call.log))?;
    Ok(HttpResponse::Ok().json(json!({"users": users.iter().map(view).collect::<Vec<_>>()})))
}

#[post("/admin/api/users")]
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminApiError> {
    let call = user_call(&req, &state)?;
    let body = json_body(&req, &body)?;
    let map = object(
        &body,
        &["username", "email", "password", "role", "is_superuser"],
    )?;
    let mut problems = Vec::new();
    let username = string_field(map, "username", &mut problems);
    let email = string_field(map, "email", &mut problems);
    let password = string_field(map, "password", &mut problems);
    let role = role_field(map, &mut problems).unwrap_or(Role::User);
    for (key, value) in [
        ("username", &username),
        ("email", &email),
        ("password", &password),
    ] {
        if value.is_none() {
            problems.push(format!("{key}: required"));
        }
    }
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    let created = call
        .identity
        .create_account(NewAccount {
            username: username.unwrap_or_default(),
            email: email.unwrap_or_default(),
            password: password.unwrap_or_default(),
            role,
        })
        .await
        .map_err(|e| AdminApiError::from_auth(e, &call.log))?;
    slog::info!(call.log, "User created through the admin API.";
        "by" => &call.by, "user" => &created.username, "role" => created.role.as_str());
    Ok(HttpResponse::Created()
        .insert_header(("location", format!("/admin/api/users/{}", created.id)))
        .json(view(&created)))
}

#[get("/admin/api/users/{id}")]
async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminApiError> {
    let call = user_call(&req, &state)?;
    let user = call
        .identity
        .user(user_id(&id)?)
        .await
        .map_err(|e| AdminApiError::from_auth(e, &call.log))?;
    Ok(HttpResponse::Ok().json(view(&user)))
}

async fn change(
    req: &HttpRequest,
    state: &AppState,
    raw_id: &str,
    body: &[u8],
    allowed: &[&str],
) -> Result<HttpResponse, AdminApiError> {
    let call = user_call(req, state)?;
    let id = user_id(raw_id)?;
    let body = json_body(req, body)?;
    let map = object(&body, allowed)?;
    let mut problems = Vec::new();
    let change = AccountChange {
        email: string_field(map, "email", &mut problems),
        role: role_field(map, &mut problems),
        enabled: match (
            bool_field(map, "enabled", &mut problems),
            bool_field(map, "is_active", &mut problems),
        ) {
            (Some(a), Some(b)) if a != b => {
                problems.push("enabled and is_active disagree".into());
                None
            }
            (a, b) => a.or(b),
        },
    };
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    let updated = call
        .identity
        .change_account(id, change, call.by_id)
        .await
        .map_err(|e| AdminApiError::from_auth(e, &call.log))?;
    slog::info!(call.log, "User changed through the admin API.";
        "by" => &call.by, "user" => &updated.username, "role" => updated.role.as_str(),
        "enabled" => updated.enabled);
    Ok(HttpResponse::Ok().json(view(&updated)))
}

/// `PATCH`, and `PUT` as the original's clients send it: the fields given change.
async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminApiError> {
    let fields = ["email", "role", "is_superuser", "enabled", "is_active"];
    change(&req, &state, &id, &body, &fields).await
}

/// The original's `users/{id}/status`, under every method its clients used.
async fn status(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminApiError> {
    change(&req, &state, &id, &body, &["enabled", "is_active"]).await
}

#[delete("/admin/api/users/{id}")]
async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminApiError> {
    let call = user_call(&req, &state)?;
    let removed = call
        .identity
        .delete_account(user_id(&id)?, call.by_id)
        .await
        .map_err(|e| AdminApiError::from_auth(e, &call.log))?;
    // The user's own policies went with the account: rebuild now rather than at the next poll.
    if let Some(policies) = state.policies.get() {
        let _ = policies.refresh().await;
    }
    slog::info!(call.log, "User deleted through the admin API.";
        "by" => &call.by, "user" => &removed.username);
    Ok(HttpResponse::Ok().json(json!({
        "id": removed.id,
        "username": removed.username,
        "message": "User deleted; their sessions, tokens and own policies are gone.",
    })))
}

#[post("/admin/api/users/{id}/password")]
async fn reset_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminApiError> {
    let call = user_call(&req, &state)?;
    let id = user_id(&id)?;
    let body = json_body(&req, &body)?;
    let map = object(&body, &["password"])?;
    let mut problems = Vec::new();
    let Some(password) = string_field(map, "password", &mut problems) else {
        problems.push("password: required".into());
        return Err(invalid(problems));
    };
    let revoked = call
        .identity
        .reset_password(id, &password)
        .await
        .map_err(|e| AdminApiError::from_auth(e, &call.log))?;
    slog::info!(call.log, "Password reset through the admin API.";
        "by" => &call.by, "user_id" => id, "revoked_sessions" => revoked);
    Ok(HttpResponse::Ok().json(json!({
        "id": id,
        "revoked_sessions": revoked,
        "message": "Password changed; the user is signed out everywhere.",
    })))
}

#[get("/admin/api/users/{id}/mcp-permissions")]
async fn permissions(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminApiError> {
    let call = policies::policy_call(&req, &state)?;
    let user = state
        .identity
        .user(user_id(&id)?)
        .await
        .map_err(|e| AdminApiError::from_auth(e, &call.log))?;
    let entries = call
        .policies
        .user_policies(&user.username)
        .await
        .map_err(|e| AdminApiError::from_policy(e, "policy", &call.log))?;
    let groups = call
        .policies
        .groups()
        .await
        .map_err(|e| AdminApiError::from_policy(e, "group", &call.log))?;
    let member_of: Vec<&str> = groups
        .iter()
        .filter(|g| g.members.contains(&user.id))
        .map(|g| g.name.as_str())
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "user_id": user.id,
        "username": user.username,
        "role": user.role.as_str(),
        "groups": member_of,
        "policies": entries.iter().map(policies::view).collect::<Vec<_>>(),
        "note": "Role and group policies apply too; see /admin/api/policies.",
    })))
}

#[put("/admin/api/users/{id}/mcp-permissions")]
async fn set_permissions(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminApiError> {
    let call = policies::policy_call(&req, &state)?;
    let user = state
        .identity
        .user(user_id(&id)?)
        .await
        .map_err(|e| AdminApiError::from_auth(e, &call.log))?;
    let body = json_body(&req, &body)?;
    let map = object(&body, &["permissions"])?;
    let Some(Value::Array(entries)) = map.get("permissions") else {
        return Err(invalid(vec!["permissions: required, a list".into()]));
    };
    let mut rules = Vec::new();
    let mut problems = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        match permission_rule(entry, &user.username) {
            Ok(rule) => rules.push(rule),
            Err(p) => problems.extend(p.into_iter().map(|p| format!("permissions[{i}].{p}"))),
        }
    }
    if !problems.is_empty() {
        return Err(AdminApiError::InvalidInput("permission list", problems));
    }
    let stored = call
        .policies
        .replace_user_policies(&user.username, rules, &call.username)
        .await
        .map_err(|e| AdminApiError::from_policy(e, "permission list", &call.log))?;
    Ok(HttpResponse::Ok().json(json!({
        "user_id": user.id,
        "username": user.username,
        "policies": stored.iter().map(policies::view).collect::<Vec<_>>(),
    })))
}

/// One `{"server", "tools"?, "prompts"?, "resources"?, "effect"?, "description"?}` entry as a
/// policy about `user:<username>` (`server` may be a pattern; `backends` is accepted too).
pub(crate) fn permission_rule(
    entry: &Value,
    username: &str,
) -> Result<actors::auth::policy::PolicyRule, Vec<String>> {
    let Some(map) = entry.as_object() else {
        return Err(vec!["must be an object".into()]);
    };
    let mut policy = map.clone();
    if policy.contains_key("subject") {
        return Err(vec!["subject: not allowed here (it is the user)".into()]);
    }
    match policy.remove("server") {
        Some(Value::String(server)) if !policy.contains_key("backends") => {
            policy.insert("backends".into(), json!([server]));
        }
        Some(_) => {
            return Err(vec![
                "server: a backend name or pattern, without `backends`".into(),
            ]);
        }
        None if policy.contains_key("backends") => {}
        None => return Err(vec!["server: required".into()]),
    }
    policy.insert("subject".into(), json!(format!("user:{username}")));
    policy.entry("effect").or_insert_with(|| json!("allow"));
    policy_body::policy(&Value::Object(policy))?.apply(None)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(show)
        .service(remove)
        .service(reset_password)
        .service(permissions)
        .service(set_permissions)
        .route("/admin/api/users/{id}", web::patch().to(update))
        .route("/admin/api/users/{id}", web::put().to(update))
        .route("/admin/api/users/{id}/status", web::post().to(status))
        .route("/admin/api/users/{id}/status", web::put().to(status))
        .route("/admin/api/users/{id}/status", web::patch().to(status));
}
