//! OAuth clients of the built-in authorization server, for administrators:
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/admin/api/oauth-clients` | `{"clients": [...]}`, oldest first (never a secret or its digest) |
//! | GET | `/admin/api/oauth-clients/{id}` | one client |
//! | DELETE | `/admin/api/oauth-clients/{id}` | its tokens revoked, its codes and consents gone → `{"client_id", "revoked_sessions"}` |
//! | POST | `/admin/api/oauth-clients/{id}/rotate-secret` | confidential clients: a new secret, shown once; the old one stops working |
//! | GET | `/admin/api/oauth-clients/{id}/consents` | `{"consents": [...]}`: the scopes each user approved, per resource |
//! | DELETE | `/admin/api/oauth-clients/{id}/consents` | forgets them (the next authorization asks again) → `{"forgotten": n}` |
//!
//! `{id}` is the client id, URL-encoded (a CIMD client's id is its metadata document's URL).

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use serde_json::{Value, json};

use actors::auth::clients::{Client, ClientError};
use actors::storage::StorageError;

use super::{AdminApiError, admin_caller};
use crate::state::AppState;

/// A client as the API shows it: what it registered and how, never a credential.
pub(crate) fn view(c: &Client) -> Value {
    let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
    json!({
        "client_id": c.client_id,
        "client_name": c.client_name,
        "redirect_uris": c.redirect_uris,
        "grant_types": grants,
        "response_types": c.response_types,
        "token_endpoint_auth_method": c.token_endpoint_auth_method.as_str(),
        "client_type": if c.is_public() { "public" } else { "confidential" },
        "scope": c.scope,
        "registered_by": c.source.as_str(),
        "created_at_ms": c.created_at_ms,
        "updated_at_ms": c.updated_at_ms,
        "last_used_at_ms": c.last_used_at_ms,
        "client_secret_expires_at_ms": c.client_secret_expires_at_ms,
    })
}

fn failed(error: ClientError, log: &slog::Logger) -> AdminApiError {
    match error {
        ClientError::NotFound(id) => {
            AdminApiError::NotFound(format!("No OAuth client `{id}` is registered."))
        }
        ClientError::Storage(StorageError::Locked | StorageError::Pool(_)) => {
            slog::warn!(log, "OAuth client change failed: database busy."; "error" => %error);
            AdminApiError::Unavailable("The database is busy; retry in a moment.".into())
        }
        other => {
            slog::error!(log, "OAuth client operation failed."; "error" => %other);
            AdminApiError::Internal(
                "The OAuth clients could not be read or changed; the gateway log has the cause."
                    .into(),
            )
        }
    }
}

/// Client `id`, or 404.
pub(crate) async fn existing_client(
    state: &AppState,
    id: &str,
    log: &slog::Logger,
) -> Result<Client, AdminApiError> {
    state
        .oauth
        .clients
        .get(id)
        .await
        .map_err(|e| failed(e, log))?
        .ok_or_else(|| failed(ClientError::NotFound(id.to_string()), log))
}

/// Every client, oldest first.
pub(crate) async fn all_clients(
    state: &AppState,
    log: &slog::Logger,
) -> Result<Vec<Client>, AdminApiError> {
    state.oauth.clients.list().await.map_err(|e| failed(e, log))
}

/// How many consents each client holds (absent: none).
pub(crate) async fn consent_counts(
    state: &AppState,
    log: &slog::Logger,
) -> Result<std::collections::HashMap<String, usize>, AdminApiError> {
    state
        .oauth
        .clients
        .consent_counts()
        .await
        .map_err(|e| failed(e, log))
}

#[get("/admin/api/oauth-clients")]
async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AdminApiError> {
    let (_, log) = admin_caller(&req, &state)?;
    let clients = all_clients(&state, &log).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(json!({ "clients": clients.iter().map(view).collect::<Vec<_>>() })))
}

#[get("/admin/api/oauth-clients/{id}")]
async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminApiError> {
    let (_, log) = admin_caller(&req, &state)?;
    let client = existing_client(&state, &id, &log).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(view(&client)))
}

/// Deletes client `id` with its grants (its token families revoked, codes and consents gone)
/// and makes the request path learn of the revocations before returning; the number of revoked
/// families. Shared by the API and the console.
pub(crate) async fn delete_client(
    state: &AppState,
    id: &str,
    by: &str,
    log: &slog::Logger,
) -> Result<usize, AdminApiError> {
    let revoked = state
        .oauth
        .clients
        .delete_with_grants(id)
        .await
        .map_err(|e| failed(e, log))?;
    // The request path learns of the revoked families before this call returns.
    if let Err(error) = state.identity.refresh_revocations().await {
        slog::error!(log, "Could not refresh revocations after deleting an OAuth client."; "error" => %error);
    }
    slog::info!(log, "OAuth client deleted."; "client_id" => id, "revoked_sessions" => revoked, "by" => by);
    Ok(revoked)
}

/// A confidential client's new secret (the old one stops working); 409 for a public client.
/// Shared by the API and the console.
pub(crate) async fn rotate_client_secret(
    state: &AppState,
    id: &str,
    by: &str,
    log: &slog::Logger,
) -> Result<String, AdminApiError> {
    let secret = state
        .oauth
        .clients
        .rotate_secret(id)
        .await
        .map_err(|e| failed(e, log))?
        .ok_or_else(|| {
            AdminApiError::Conflict(format!(
                "OAuth client `{id}` is public (token_endpoint_auth_method none) and has no secret to rotate."
            ))
        })?;
    slog::info!(log, "OAuth client secret rotated."; "client_id" => id, "by" => by);
    Ok(secret)
}

#[delete("/admin/api/oauth-clients/{id}")]
async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminApiError> {
    let (admin, log) = admin_caller(&req, &state)?;
    let revoked = delete_client(&state, &id, &admin, &log).await?;
    Ok(HttpResponse::Ok().json(json!({
        "client_id": id.as_str(),
        "revoked_sessions": revoked,
        "message": "OAuth client deleted; its tokens, codes and consents no longer work.",
    })))
}

#[post("/admin/api/oauth-clients/{id}/rotate-secret")]
async fn rotate_secret(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminApiError> {
    let (admin, log) = admin_caller(&req, &state)?;
    let secret = rotate_client_secret(&state, &id, &admin, &log).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(json!({
            "client_id": id.as_str(),
            "client_secret": secret,
            "client_secret_expires_at": 0,
            "message": "Store this secret now: it is not shown again. The previous secret no longer works.",
        })))
}

/// The consents users remembered for client `id` (404 for an unknown client), each with the
/// user's name. Shared by the API and the console.
pub(crate) async fn consent_list(
    state: &AppState,
    id: &str,
    log: &slog::Logger,
) -> Result<Vec<Value>, AdminApiError> {
    existing_client(state, id, log).await?;
    let rows = state
        .oauth
        .clients
        .consents(id)
        .await
        .map_err(|e| failed(e, log))?;
    let users = state
        .identity
        .users()
        .await
        .map_err(|e| AdminApiError::from_auth(e, log))?;
    let name_of = |user_id: i64| {
        users
            .iter()
            .find(|u| u.id == user_id)
            .map(|u| u.username.clone())
    };
    Ok(rows
        .iter()
        .map(|r| {
            json!({
                "user_id": r.user_id,
                "username": name_of(r.user_id),
                "resource": r.resource,
                "scope": r.scope,
                "created_at_ms": r.created_at_ms,
                "updated_at_ms": r.updated_at_ms,
            })
        })
        .collect())
}

/// Forgets client `id`'s consents (404 for an unknown client); how many went. Shared by the
/// API and the console.
pub(crate) async fn forget_client_consents(
    state: &AppState,
    id: &str,
    by: &str,
    log: &slog::Logger,
) -> Result<usize, AdminApiError> {
    existing_client(state, id, log).await?;
    let forgotten = state
        .oauth
        .clients
        .forget_consents(id)
        .await
        .map_err(|e| failed(e, log))?;
    slog::info!(log, "OAuth client consents forgotten."; "client_id" => id, "consents" => forgotten, "by" => by);
    Ok(forgotten)
}

#[get("/admin/api/oauth-clients/{id}/consents")]
async fn consents(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminApiError> {
    let (_, log) = admin_caller(&req, &state)?;
    let consents = consent_list(&state, &id, &log).await?;
    Ok(HttpResponse::Ok().json(json!({ "client_id": id.as_str(), "consents": consents })))
}

#[delete("/admin/api/oauth-clients/{id}/consents")]
async fn forget_consents(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, AdminApiError> {
    let (admin, log) = admin_caller(&req, &state)?;
    let forgotten = forget_client_consents(&state, &id, &admin, &log).await?;
    Ok(HttpResponse::Ok().json(json!({ "client_id": id.as_str(), "forgotten": forgotten })))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(show)
        .service(remove)
        .service(rotate_secret)
        .service(consents)
        .service(forget_consents);
}
