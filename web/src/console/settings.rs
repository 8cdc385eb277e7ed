//! `/admin/settings`: the effective configuration (secrets masked, each key with its source),
//! the runtime settings stored in the database, and the reload button — the console's face of
//! `/admin/api/settings`, `/admin/api/settings/runtime` and `/admin/api/reload`, through the
//! same [`ConfigControl`] calls.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/admin/settings` | the page |
//! | POST | `/admin/settings/runtime` | `key` and `value` (set) or `key` and `clear=1` (back to the file's value) |
//! | POST | `/admin/settings/reload` | reload the configuration, as SIGHUP |
//!
//! One key per form, so every row works without script and a refusal names one change.
//!
//! [`ConfigControl`]: crate::config_control::ConfigControl

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use serde_json::{Value, json};
use tera::Context;

use super::form_page::{self, Drawn, FormPage};
use super::guard::AdminPage;
use super::{forms, page};
use crate::admin_api::AdminApiError;
use crate::admin_api::settings::{apply_changes, control};
use crate::config_control::ReloadOutcome;
use crate::oauth::request_log;
use crate::state::AppState;

const FLASH: &[(&str, &str)] = &[
    ("saved", "{name} is set in the database and applied."),
    ("cleared", "{name} is back to the file's value."),
    ("reloaded", "Configuration reloaded."),
];

/// One row of the effective configuration.
#[derive(Serialize)]
struct Row {
    key: String,
    value: String,
    source: String,
}

/// The settings view flattened to dotted keys, with each key's source in words.
fn rows(view: &Value) -> Vec<Row> {
    let sources = view.get("sources").cloned().unwrap_or(Value::Null);
    let mut flat = BTreeMap::new();
    if let Value::Object(map) = view {
        for (key, value) in map.iter().filter(|(k, _)| k.as_str() != "sources") {
            flatten(key, value, &mut flat);
        }
    }
    flat.into_iter()
        .map(|(key, value)| Row {
            source: describe_source(sources.get(&key)),
            key,
            value,
        })
        .collect()
}

fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                flatten(&format!("{prefix}.{k}"), v, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        Value::Null => {
            out.insert(prefix.to_string(), "(unset)".into());
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// `{"kind": "env", "name": "PORT"}` → `environment variable PORT`, and so on.
fn describe_source(source: Option<&Value>) -> String {
    let Some(s) = source else {
        // Derived or converted keys (e.g. `drain_timeout_s` from `drain_timeout_ms`).
        return "—".into();
    };
    let field = |name: &str| s.get(name).and_then(Value::as_str).unwrap_or("");
    match field("kind") {
        "default" => "built-in default".into(),
        "file" => format!("file {}", field("path")),
        "env" => format!("environment variable {}", field("name")),
        ".env" => format!(".env variable {} in {}", field("name"), field("path")),
        "flag" => format!("flag {}", field("name")),
        "database" => "database (runtime setting)".into(),
        other => other.to_string(),
    }
}

/// The Settings page.
struct Settings;

impl FormPage for Settings {
    const PATH: &'static str = "/admin/settings";
    const FLASH: &'static [(&'static str, &'static str)] = FLASH;
    /// One key per form: nothing to fill again.
    type Filled = ();

    async fn render(state: &AppState, admin: &AdminPage, drawn: Drawn<'_, ()>) -> HttpResponse {
        let control = match control(state) {
            Ok(c) => c,
            Err(error) => return starting(&error),
        };
        let runtime = match control.runtime_settings().await {
            Ok(settings) => settings,
            Err(error) => return starting(&AdminApiError::Internal(error)),
        };
        let view = state.config_view.load_full();
        let mut c = Context::new();
        c.insert("runtime", &runtime);
        c.insert("rows", &rows(&view));
        c.insert("flash", &drawn.flash);
        c.insert("errors", drawn.errors);
        let chrome = admin.chrome(Self::PATH);
        page::render(drawn.status, "admin/settings.html", c, Some(&chrome))
    }
}

fn starting(error: &AdminApiError) -> HttpResponse {
    page::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "Settings unavailable",
        &error.to_string(),
        Some((Settings::PATH, "Reload")),
    )
}

/// The form's text as the JSON value the admin API would get: `true`/`false`, or a number
/// (signed, so validation words a negative one with the key's range).
fn form_value(text: &str) -> Value {
    let text = text.trim();
    match text {
        "true" => json!(true),
        "false" => json!(false),
        _ => text
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| json!(text)),
    }
}

async fn change(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminPage,
    payload: web::Payload,
) -> HttpResponse {
    let params = match forms::read(&req, payload, Settings::PATH).await {
        Ok(params) => params,
        Err(response) => return *response,
    };
    let control = match control(&state) {
        Ok(c) => c,
        Err(error) => return starting(&error),
    };
    let key = params.get("key").unwrap_or("").to_string();
    let clear = params.get("clear") == Some("1");
    let value = (!clear).then(|| form_value(params.get("value").unwrap_or("")));
    let changes = BTreeMap::from([(key.clone(), value)]);
    let log = request_log(&req, &state.log);
    let by = admin.principal.username.clone();
    match apply_changes(&req, &state, &control, changes, &by, &log).await {
        Ok(ReloadOutcome::Applied) => forms::done(
            Settings::PATH,
            if clear { "cleared" } else { "saved" },
            &key,
        ),
        Ok(ReloadOutcome::Failed(problems)) => {
            let errors = reload_failed(problems, "The setting is stored, but");
            form_page::again::<Settings>(&state, &admin, StatusCode::CONFLICT, &errors, &()).await
        }
        Err(error) => form_page::refused::<Settings>(&state, &admin, &error, &()).await,
    }
}

async fn reload(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminPage,
    payload: web::Payload,
) -> HttpResponse {
    // Read the form so its CSRF token was checked by the guard before anything happens.
    if let Err(response) = forms::read(&req, payload, Settings::PATH).await {
        return *response;
    }
    let control = match control(&state) {
        Ok(c) => c,
        Err(error) => return starting(&error),
    };
    let log = request_log(&req, &state.log);
    let outcome = control.reload().await;
    slog::info!(log, "Configuration reload requested in the console.";
        "by" => &admin.principal.username, "applied" => outcome == ReloadOutcome::Applied);
    match outcome {
        ReloadOutcome::Applied => forms::done(Settings::PATH, "reloaded", ""),
        ReloadOutcome::Failed(problems) => {
            let errors = reload_failed(problems, "The reload");
            form_page::again::<Settings>(&state, &admin, StatusCode::CONFLICT, &errors, &()).await
        }
    }
}

fn reload_failed(problems: Vec<String>, lead: &str) -> Vec<String> {
    let mut errors = vec![format!("{lead} failed; the running configuration is kept.")];
    errors.extend(problems);
    errors
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(Settings::PATH).route(web::get().to(form_page::show::<Settings>)))
        .service(web::resource("/admin/settings/runtime").route(web::post().to(change)))
        .service(web::resource("/admin/settings/reload").route(web::post().to(reload)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_is_flattened_with_sources_in_words() {
        let view = json!({
            "server": { "port": 9001, "public_url": "http://x" },
            "auth": { "jwt_secret": "********" },
            "sources": {
                "server.port": { "kind": "env", "name": "PORT" },
                "auth.jwt_secret": { "kind": "file", "path": "gw.toml" },
            },
        });
        let rows = rows(&view);
        let find = |k: &str| rows.iter().find(|r| r.key == k).unwrap();
        assert_eq!(find("server.port").value, "9001");
        assert_eq!(find("server.port").source, "environment variable PORT");
        assert_eq!(find("auth.jwt_secret").value, "********");
        assert_eq!(find("server.public_url").source, "—");
        assert!(rows.iter().all(|r| !r.key.starts_with("sources")));
    }

    #[test]
    fn form_values_become_json_scalars() {
        assert_eq!(form_value(" 12 "), json!(12));
        assert_eq!(form_value("true"), json!(true));
        assert_eq!(form_value("-1"), json!(-1));
        assert_eq!(form_value("ten"), json!("ten"));
    }
}
