//! API tokens and session revocation in the admin API:
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/admin/api/api-tokens` | `{"tokens": [...]}` (never a token or its hash) |
//! | POST | `/admin/api/api-tokens` | `{"username" or "user_id", "name", "expires_days"?}` → 201 + the token, shown once |
//! | DELETE | `/admin/api/api-tokens/{id}` | revoked at once → 200 + the token's record |
//! | POST | `/admin/api/users/{id}/revoke-sessions` | every login/OAuth session of the user → `{"revoked": n}` |

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use serde_json::{Value, json};

use actors::auth::identity::{AuthError, NewApiTokenRequest};
use actors::storage::api_tokens::ApiTokenInfo;

use super::{AdminApiError, admin_call, json_body};
use crate::state::AppState;

fn view(t: &ApiTokenInfo) -> Value {
    json!({
        "id": t.id,
        "user_id": t.user_id,
        "username": t.username,
        "name": t.name,
        "prefix": t.prefix,
        "created_at": t.created_at_ms,
        "last_used_at": t.last_used_at_ms,
        "expires_at": t.expires_at_ms,
        "revoked_at": t.revoked_at_ms,
    })
}

pub(crate) fn failed(error: AuthError, log: &slog::Logger) -> AdminApiError {
    match error {
        AuthError::NotFound(m) => AdminApiError::NotFound(format!("{m}.")),
        AuthError::InvalidRequest(m) => AdminApiError::Invalid(vec![m]),
        other => {
            slog::error!(log, "API token change failed."; "error" => %other);
            AdminApiError::Internal(
                "The change could not be saved; the gateway log has the cause.".into(),
            )
        }
    }
}

/// `expires_days` (absent or null: never expires) as a lifetime, or the problem with it.
/// Shared by the API and the console's Tokens page.
pub(crate) fn expires_days(value: &Value) -> Result<Option<Duration>, String> {
    match value {
        Value::Null => Ok(None),
        v => v
            .as_u64()
            .filter(|d| (1..=3650).contains(d))
            .map(|days| Some(Duration::from_secs(days * 86_400)))
            .ok_or_else(|| "expires_days: a whole number of days, 1 to 3650".to_string()),
    }
}

fn parse_id(raw: &str, what: &str) -> Result<i64, AdminApiError> {
    raw.parse()
        .map_err(|_| AdminApiError::NotFound(format!("No {what} with id `{raw}`.")))
}

#[get("/admin/api/api-tokens")]
async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AdminApiError> {
    let call = admin_call(&req, &state)?;
    let tokens = state
        .identity
        .list_api_tokens(None)
        .await
        .map_err(|e| failed(e, &call.log))?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(json!({ "tokens": tokens.iter().map(view).collect::<Vec<_>>() })))
}

#[post("/admin/api/api-tokens")]
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminApiError> {
    let call = admin_call(&req, &state)?;
    let body = json_body(&req, &body)?;
    let mut problems = Vec::new();
    let name = body["name"].as_str().map(str::to_string);
    if name.is_none() {
        problems.push("name: required, a string".to_string());
    }
    let expires_in = expires_days(&body["expires_days"]).unwrap_or_else(|problem| {
        problems.push(problem);
        None
    });
    let user_id = match (&body["user_id"], body["username"].as_str()) {
        (Value::Number(n), None) => n.as_i64(),
        (Value::Null, Some(name)) => state
            .identity
            .user_by_name(name)
            .await
            .map_err(|e| failed(e, &call.log))?
            .map(|u| u.id)
            .or_else(|| {
                problems.push(format!("username: no user named `{name}`"));
                None
            }),
        _ => {
            problems.push("user: give exactly one of `user_id` (number) or `username`".into());
            None
        }
    };
    let (Some(name), Some(user_id), true) = (name, user_id, problems.is_empty()) else {
        return Err(AdminApiError::Invalid(problems));
    };
    let (token, info) = state
        .identity
        .create_api_token(NewApiTokenRequest {
            user_id,
            name,
            expires_in,
        })
        .await
        .map_err(|e| failed(e, &call.log))?;
    slog::info!(call.log, "API token created."; "id" => info.id, "for" => &info.username, "by" => &call.username);
    let mut answer = view(&info);
    answer["token"] = Value::String(token);
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .insert_header(("location", format!("/admin/api/api-tokens/{}", info.id)))
        .json(answer))
}

#[delete("/admin/api/api-tokens/{id}")]
async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminApiError> {
    let call = admin_call(&req, &state)?;
    let id = parse_id(&id, "API token")?;
    let info = state
        .identity
        .revoke_api_token(id)
        .await
        .map_err(|e| failed(e, &call.log))?;
    slog::info!(call.log, "API token revoked."; "id" => id, "by" => &call.username);
    Ok(HttpResponse::Ok().json(view(&info)))
}

#[post("/admin/api/users/{id}/revoke-sessions")]
async fn revoke_sessions(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminApiError> {
    let call = admin_call(&req, &state)?;
    let id = parse_id(&id, "user")?;
    let revoked = state
        .identity
        .revoke_user(id)
        .await
        .map_err(|e| failed(e, &call.log))?;
    slog::info!(call.log, "User's sessions and API tokens revoked."; "user_id" => id,
        "sessions" => revoked.sessions, "api_tokens" => revoked.api_tokens, "by" => &call.username);
    Ok(HttpResponse::Ok().json(json!({
        "user_id": id,
        "revoked": revoked.sessions,
        "api_tokens_revoked": revoked.api_tokens,
    })))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(revoke)
        .service(revoke_sessions);
}
