//! `/admin/oauth-clients`: the authorization server's registered clients, through the same
//! functions as `/admin/api/oauth-clients` (`admin_api::oauth_clients`).
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/admin/oauth-clients` | the table: name, id, type, redirect URIs, created, last use, consents |
//! | GET | `/admin/oauth-clients/{id}` | one client and its consent grants |
//! | POST | `/admin/oauth-clients/{id}/forget-consents` | the next authorization asks again |
//! | POST | `/admin/oauth-clients/{id}/rotate-secret` | confidential clients: the new secret, shown on the answer page only |
//! | GET, POST | `/admin/oauth-clients/{id}/delete` | the confirm page, then the deletion (its tokens revoked) |
//!
//! `{id}` is the client id, URL-encoded (a CIMD client's id is a URL). "Last use" is the last
//! authorization or token request of the client (`last_used_at`, written off the request path).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use actors::auth::clients::Client;
use serde_json::{Value, json};
use tera::Context;

use super::guard::AdminPage;
use super::{chart, forms, page};
use crate::admin_api::AdminApiError;
use crate::admin_api::oauth_clients as api;
use crate::oauth::request_log;
use crate::state::AppState;

const LIST: &str = "/admin/oauth-clients";

const FLASH: &[(&str, &str)] = &[
    (
        "forgotten",
        "The consents given to {name} were forgotten; its next authorization asks again.",
    ),
    (
        "deleted",
        "OAuth client {name} deleted; its tokens, codes and consents no longer work.",
    ),
];

/// The name to show: the registered name, else the id.
fn label(c: &Client) -> String {
    c.client_name.clone().unwrap_or_else(|| c.client_id.clone())
}

/// A client as the pages show it: the admin API's view plus display strings.
fn line(c: &Client, consents: usize) -> Value {
    let mut v = api::view(c);
    if let Value::Object(map) = &mut v {
        map.insert("label".into(), json!(label(c)));
        map.insert("created".into(), json!(chart::utc(c.created_at_ms)));
        map.insert("last_used".into(), json!(c.last_used_at_ms.map(chart::utc)));
        map.insert("consents".into(), json!(consents));
    }
    v
}

/// The refusal of an action as a page with the API's status and reason.
fn refused(error: &AdminApiError) -> HttpResponse {
    let (status, errors) = forms::messages(error);
    page::error(
        status,
        "Change refused",
        &errors.join(" "),
        Some((LIST, "Back to the OAuth clients")),
    )
}

async fn list(req: HttpRequest, state: web::Data<AppState>, admin: AdminPage) -> HttpResponse {
    let log = request_log(&req, &state.log);
    let found = match api::all_clients(&state, &log).await {
        Ok(clients) => api::consent_counts(&state, &log)
            .await
            .map(|counts| (clients, counts)),
        Err(error) => Err(error),
    };
    let (clients, counts) = match found {
        Ok(found) => found,
        Err(error) => return refused(&error),
    };
    let rows: Vec<Value> = clients
        .iter()
        .map(|c| line(c, counts.get(&c.client_id).copied().unwrap_or(0)))
        .collect();
    let mut c = Context::new();
    c.insert("clients", &rows);
    c.insert("flash", &forms::flash(&forms::query(&req), FLASH));
    page::render(
        StatusCode::OK,
        "admin/oauth_clients.html",
        c,
        Some(&admin.chrome(LIST)),
    )
}

/// The client `raw` names (already percent-decoded by the router), or the page saying there
/// is none.
async fn find(
    state: &AppState,
    raw: &str,
    log: &slog::Logger,
) -> Result<Client, Box<HttpResponse>> {
    api::existing_client(state, raw, log)
        .await
        .map_err(|error| match error {
            AdminApiError::NotFound(_) => page::missing(
                "No such client",
                &format!("There is no OAuth client `{raw}`; it may have been deleted."),
                (LIST, "Back to the OAuth clients"),
            ),
            other => Box::new(refused(&other)),
        })
}

async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminPage,
    id: web::Path<String>,
) -> HttpResponse {
    let log = request_log(&req, &state.log);
    let client = match find(&state, &id, &log).await {
        Ok(client) => client,
        Err(response) => return *response,
    };
    let consents = match api::consent_list(&state, &id, &log).await {
        Ok(list) => list,
        Err(error) => return refused(&error),
    };
    let consents: Vec<Value> = consents
        .into_iter()
        .map(|mut row| {
            let when = row["updated_at_ms"].as_i64().map(chart::utc);
            row["updated"] = json!(when);
            row
        })
        .collect();
    let mut c = Context::new();
    c.insert("client", &line(&client, consents.len()));
    c.insert("consents", &consents);
    c.insert("flash", &forms::flash(&forms::query(&req), FLASH));
    page::render(
        StatusCode::OK,
        "admin/oauth_client.html",
        c,
        Some(&admin.chrome(LIST)),
    )
}

/// One action on a client: `forget-consents`, `rotate-secret` or `delete`.
async fn act(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminPage,
    path: web::Path<forms::ItemAction>,
    payload: web::Payload,
) -> HttpResponse {
    // Nothing is read from the form but its CSRF token (checked before this handler).
    if let Err(response) = forms::read(&req, payload, LIST).await {
        return *response;
    }
    let (id, action) = (path.id.as_str(), path.action.as_str());
    let log = request_log(&req, &state.log);
    let client = match find(&state, id, &log).await {
        Ok(client) => client,
        Err(response) => return *response,
    };
    let by = admin.principal.username.as_str();
    let outcome = match action {
        "forget-consents" => api::forget_client_consents(&state, id, by, &log)
            .await
            .map(|_| "forgotten"),
        "delete" => api::delete_client(&state, id, by, &log)
            .await
            .map(|_| "deleted"),
        "rotate-secret" => {
            return match api::rotate_client_secret(&state, id, by, &log).await {
                Ok(secret) => shown_once(&admin, &client, &secret),
                Err(error) => refused(&error),
            };
        }
        _ => Err(AdminApiError::NotFound(format!(
            "There is no OAuth client action `{action}`."
        ))),
    };
    match outcome {
        Ok("deleted") => forms::done(LIST, "deleted", &label(&client)),
        Ok(code) => forms::done(&detail_path(id), code, &label(&client)),
        Err(error) => refused(&error),
    }
}

fn detail_path(id: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    format!("{LIST}/{encoded}")
}

/// The answer to a rotation: the new secret on this page only.
fn shown_once(admin: &AdminPage, client: &Client, secret: &str) -> HttpResponse {
    let message = format!(
        "The secret of {} was replaced; the previous secret no longer works.",
        label(client)
    );
    let back = detail_path(&client.client_id);
    page::shown_once(
        page::ShownOnce {
            title: "New client secret",
            message: &message,
            fields: json!([
                { "label": "Client ID", "name": "client_id", "value": client.client_id, "secret": false },
                { "label": "Client secret", "name": "client_secret", "value": secret, "secret": true },
            ]),
            warning: "Copy the secret now: it is shown only on this page and cannot be read again.",
            back: &back,
            back_label: "Back to the client",
        },
        &admin.chrome(LIST),
    )
}

async fn confirm_delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminPage,
    id: web::Path<String>,
) -> HttpResponse {
    let log = request_log(&req, &state.log);
    let client = match find(&state, &id, &log).await {
        Ok(client) => client,
        Err(response) => return *response,
    };
    let question = format!(
        "Delete the OAuth client {} ({})? Every token issued to it stops working at once, \
         and its authorization codes and consents are removed. This cannot be undone.",
        label(&client),
        client.client_id
    );
    page::confirm(
        page::Confirm {
            title: "Delete OAuth client",
            question: &question,
            action: &format!("{}/delete", detail_path(&id)),
            confirm_label: "Delete client",
            back: &detail_path(&id),
        },
        &admin.chrome(LIST),
    )
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(LIST).route(web::get().to(list)))
        .service(web::resource("/admin/oauth-clients/{id}").route(web::get().to(show)))
        .service(
            web::resource("/admin/oauth-clients/{id}/delete")
                .route(web::get().to(confirm_delete))
                .route(web::post().to(act)),
        )
        .service(web::resource("/admin/oauth-clients/{id}/{action}").route(web::post().to(act)));
}
