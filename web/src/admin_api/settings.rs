//! The effective configuration, runtime settings and reloads, for administrators:
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/admin/api/settings` | the configuration in force as JSON, every secret masked, with `sources`: where each key's value came from |
//! | GET | `/admin/api/settings/runtime` | `{"settings": [...]}`: every runtime key, its effective value and its database override |
//! | PUT | `/admin/api/settings/runtime` | body `{key: value \| null}` (null clears); validated with the file's rules (400 with every problem), stored, applied by a reload; answers the reload's outcome and the settings |
//! | POST | `/admin/api/reload` | the SIGHUP reload; `{"outcome": "applied"}` or `{"outcome": "failed", "problems": [...]}` |
//!
//! The binary renders the view (this crate cannot see its config types) into
//! [`AppState::config_view`] at start and on each reload; secrets are masked there (the JWT
//! secret, passwords in URLs, backend credentials, header values, the DCR and scrape tokens).
//! Runtime settings live in the database and win over the file and the environment; a SIGHUP
//! re-reads the file and keeps them. Reloads go through [`ConfigControl`], which the binary
//! implements with the same reload its SIGHUP handler runs.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use serde_json::{Value, json};

use super::{AdminApiError, admin_caller, json_body};
use crate::config_control::{ChangeError, ConfigControl, ReloadOutcome};
use crate::state::AppState;

#[get("/admin/api/settings")]
async fn settings(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminApiError> {
    let _admin = admin_caller(&req, &state)?;
    let view = state.config_view.load_full();
    if view.is_null() {
        return Err(starting());
    }
    Ok(no_store(view.as_ref()))
}

#[get("/admin/api/settings/runtime")]
async fn runtime_settings(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminApiError> {
    let _admin = admin_caller(&req, &state)?;
    let control = control(&state)?;
    let listed = control
        .runtime_settings()
        .await
        .map_err(AdminApiError::Internal)?;
    Ok(no_store(&json!({ "settings": listed })))
}

#[put("/admin/api/settings/runtime")]
async fn change_runtime_settings(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminApiError> {
    let (username, log) = admin_caller(&req, &state)?;
    let control = control(&state)?;
    let changes = parse_changes(json_body(&req, &body)?)?;
    let outcome = apply_changes(&req, &state, &control, changes, &username, &log).await?;
    let listed = control
        .runtime_settings()
        .await
        .map_err(AdminApiError::Internal)?;
    let mut answer = outcome_json(&outcome);
    answer["settings"] = json!(listed);
    Ok(no_store(&answer))
}

#[post("/admin/api/reload")]
async fn reload(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminApiError> {
    let (username, log) = admin_caller(&req, &state)?;
    let control = control(&state)?;
    let outcome = control.reload().await;
    slog::info!(log, "Configuration reload requested through the admin API."; "by" => &username,
        "applied" => outcome == ReloadOutcome::Applied);
    Ok(no_store(&outcome_json(&outcome)))
}

/// The body's `{key: value | null}` as changes; not an object, or empty, is a 400.
pub(crate) fn parse_changes(body: Value) -> Result<BTreeMap<String, Option<Value>>, AdminApiError> {
    let Value::Object(map) = body else {
        return Err(invalid(vec![
            "the body must be a JSON object of key: value (null clears a key)".into(),
        ]));
    };
    if map.is_empty() {
        return Err(invalid(vec!["no setting to change".into()]));
    }
    Ok(map
        .into_iter()
        .map(|(k, v)| (k, (!v.is_null()).then_some(v)))
        .collect())
}

/// Stores and applies `changes` through [`ConfigControl`], auditing the change as a
/// `settings_change` auth event (keys and values: limits and switches, never secrets).
pub(crate) async fn apply_changes(
    req: &HttpRequest,
    state: &AppState,
    control: &Arc<dyn ConfigControl>,
    changes: BTreeMap<String, Option<Value>>,
    username: &str,
    log: &slog::Logger,
) -> Result<ReloadOutcome, AdminApiError> {
    let summary = changes
        .iter()
        .map(|(k, v)| match v {
            Some(v) => format!("{k}={v}"),
            None => format!("{k} cleared"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let result = control.change_runtime(changes, username.to_string()).await;
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(ChangeError::Invalid(problems)) => return Err(invalid(problems)),
        Err(ChangeError::Storage(error)) => return Err(AdminApiError::Internal(error)),
    };
    slog::info!(log, "Runtime settings changed."; "by" => username, "changes" => &summary,
        "applied" => outcome == ReloadOutcome::Applied);
    crate::audit_events::record(req, state, "settings_change", "ok", |e| {
        e.details = Some(summary);
    });
    Ok(outcome)
}

pub(crate) fn control(state: &AppState) -> Result<Arc<dyn ConfigControl>, AdminApiError> {
    state.config_control.get().cloned().ok_or_else(starting)
}

pub(crate) fn outcome_json(outcome: &ReloadOutcome) -> Value {
    match outcome {
        ReloadOutcome::Applied => json!({ "outcome": "applied" }),
        ReloadOutcome::Failed(problems) => json!({ "outcome": "failed", "problems": problems }),
    }
}

fn invalid(problems: Vec<String>) -> AdminApiError {
    AdminApiError::InvalidInput("runtime settings change", problems)
}

fn starting() -> AdminApiError {
    AdminApiError::Unavailable("The gateway is still starting; retry in a moment.".into())
}

fn no_store(body: &Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(body)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(settings)
        .service(runtime_settings)
        .service(change_runtime_settings)
        .service(reload);
}
