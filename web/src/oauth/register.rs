//! Dynamic client registration: RFC 7591 `POST /oauth/register` and RFC 7592 management of a
//! registration with its registration access token.
//!
//! Open by default for public clients, guarded by a per-IP rate limit, a cap on stored clients
//! and, when the operator sets one, an initial access token. Machine clients (the
//! `client_credentials` grant) can only be registered with that token: anonymous callers get
//! user-facing clients, which still need a user's login and consent before any token exists.

use std::net::{IpAddr, Ipv6Addr};

use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde_json::{Map, Value, json};

use actors::auth::client_metadata::{self, ClientSource, GrantType, MAX_METADATA_BYTES};
use actors::auth::clients::{Client, ClientError, Registration};
use actors::ratelimit::Rejection;

use super::{OAuthError, OAuthState, bearer};
use crate::request_context::RequestContext;
use crate::state::AppState;

async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let oauth = &state.oauth;
    let ctx = req.extensions().get::<RequestContext>().cloned();
    let log = ctx
        .as_ref()
        .map_or_else(|| state.log.clone(), |c| c.log.clone());
    if !state.settings.load().dcr_enabled {
        return Err(OAuthError::AccessDenied(
            "Dynamic client registration is switched off on this gateway (oauth.dcr_enabled); \
             ask the operator for a client."
                .into(),
        ));
    }
    let trusted = match &oauth.settings.initial_access_token {
        None => false,
        Some(expected) if bearer(&req).is_some_and(|t| expected.matches(t)) => true,
        Some(_) => {
            return Err(OAuthError::InvalidToken(
                "Registration needs the initial access token: send `Authorization: Bearer \
                 <token>` with the token the operator gave you."
                    .into(),
            ));
        }
    };
    let client_ip = ctx
        .as_ref()
        .and_then(|c| c.client_ip)
        .unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
    if !trusted {
        check_rate(oauth, client_ip, &log).inspect_err(|_| {
            crate::security_events::record(
                &state,
                &req,
                actors::security::SecurityEventType::RateLimited,
                &[("limit", "register".into())],
            );
        })?;
    }
    let document = read_json(&req, payload).await?;
    let metadata = client_metadata::validate(&document, trusted)?;
    let registration = oauth
        .clients
        .register(metadata, ClientSource::Dcr)
        .await
        .map_err(|e| client_error(e, &log))?;
    let client = &registration.client;
    slog::info!(log, "OAuth client registered.";
        "client_id" => &client.client_id,
        "client_name" => client.client_name.as_deref().unwrap_or(""),
        "auth_method" => client.token_endpoint_auth_method.as_str(),
        "client_ip" => %client_ip);
    crate::audit_events::record(&req, &state, "client_registered", "ok", |e| {
        e.client_id = Some(client.client_id.clone());
    });
    let body = created_body(&state, &registration);
    Ok(no_store(StatusCode::CREATED).json(body))
}

async fn read_client(
    req: HttpRequest,
    state: web::Data<AppState>,
    client_id: web::Path<String>,
) -> Result<HttpResponse, OAuthError> {
    let log = request_log(&req, &state);
    let client = authorized_client(&req, &state, &client_id, &log).await?;
    Ok(no_store(StatusCode::OK).json(client_body(&state, &client)))
}

/// RFC 7592 §2.2: the body is the complete new metadata; omitted fields take their defaults.
async fn update_client(
    req: HttpRequest,
    state: web::Data<AppState>,
    client_id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let log = request_log(&req, &state);
    let current = authorized_client(&req, &state, &client_id, &log).await?;
    let document = read_json(&req, payload).await?;
    match document.get("client_id") {
        None | Some(Value::Null) => {}
        Some(Value::String(id)) if *id == current.client_id => {}
        Some(_) => {
            return Err(OAuthError::InvalidClientMetadata(
                "client_id in the body must be this client's id.".into(),
            ));
        }
    }
    if let Some(secret) = document.get("client_secret") {
        let matches = match secret.as_str() {
            Some(s) => state
                .oauth
                .clients
                .authenticate_client(
                    &current.client_id,
                    Some(s),
                    current.token_endpoint_auth_method,
                )
                .await
                .is_ok(),
            None => false,
        };
        if !matches {
            return Err(OAuthError::InvalidClientMetadata(
                "client_secret in the body does not match this client's secret; omit it or \
                 send the current one."
                    .into(),
            ));
        }
    }
    // A client may keep the machine grant it was registered with, never acquire it here.
    let keeps_machine_grant = current.has_grant(GrantType::ClientCredentials);
    let metadata = client_metadata::validate(&document, keeps_machine_grant)?;
    let updated = state
        .oauth
        .clients
        .update(&current.client_id, metadata)
        .await
        .map_err(|e| client_error(e, &log))?;
    slog::info!(log, "OAuth client updated."; "client_id" => &updated.client_id);
    Ok(no_store(StatusCode::OK).json(client_body(&state, &updated)))
}

async fn delete_client(
    req: HttpRequest,
    state: web::Data<AppState>,
    client_id: web::Path<String>,
) -> Result<HttpResponse, OAuthError> {
    let log = request_log(&req, &state);
    let client = authorized_client(&req, &state, &client_id, &log).await?;
    state
        .oauth
        .clients
        .delete(&client.client_id)
        .await
        .map_err(|e| client_error(e, &log))?;
    slog::info!(log, "OAuth client deleted."; "client_id" => &client.client_id);
    Ok(no_store(StatusCode::NO_CONTENT).finish())
}

fn request_log(req: &HttpRequest, state: &AppState) -> slog::Logger {
    req.extensions()
        .get::<RequestContext>()
        .map_or_else(|| state.log.clone(), |c| c.log.clone())
}

/// RFC 7592 §2: the registration access token must match; an unknown client gets the same
/// 401, so the endpoint does not reveal which ids exist.
async fn authorized_client(
    req: &HttpRequest,
    state: &AppState,
    client_id: &str,
    log: &slog::Logger,
) -> Result<Client, OAuthError> {
    state
        .oauth
        .clients
        .check_registration_token(client_id, bearer(req))
        .await
        .map_err(|e| client_error(e, log))
}

fn check_rate(oauth: &OAuthState, ip: IpAddr, log: &slog::Logger) -> Result<(), OAuthError> {
    match oauth.rate_limiter.check_register(ip) {
        Ok(()) => Ok(()),
        Err(Rejection {
            quota, retry_after, ..
        }) => {
            slog::info!(log, "Client registration rate-limited."; "client_ip" => %ip, "limit" => "register");
            Err(OAuthError::TooManyRequests {
                detail: format!(
                    "Too many client registrations from this address (at most {} per {} s, \
                     oauth.dcr_max_per_ip); retry after {} s.",
                    quota.max,
                    quota.window.as_secs(),
                    retry_after.as_secs().max(1)
                ),
                retry_after,
            })
        }
    }
}

/// The body as a JSON value, read no further than [`MAX_METADATA_BYTES`].
async fn read_json(req: &HttpRequest, mut payload: web::Payload) -> Result<Value, OAuthError> {
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(OAuthError::InvalidClientMetadata(
            "Send the client metadata as JSON with `Content-Type: application/json`.".into(),
        ));
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            OAuthError::InvalidClientMetadata(format!("The request body could not be read: {e}."))
        })?;
        if body.len() + chunk.len() > MAX_METADATA_BYTES {
            return Err(OAuthError::PayloadTooLarge(format!(
                "Client metadata is limited to {MAX_METADATA_BYTES} bytes."
            )));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body)
        .map_err(|e| OAuthError::InvalidClientMetadata(format!("The body is not valid JSON: {e}.")))
}

fn client_error(error: ClientError, log: &slog::Logger) -> OAuthError {
    match error {
        ClientError::Metadata(e) => e.into(),
        ClientError::TooManyClients(max) => OAuthError::AccessDenied(format!(
            "This gateway already has its maximum of {max} registered clients \
             (oauth.max_clients); ask the operator."
        )),
        ClientError::InvalidRegistrationToken | ClientError::NotFound(_) => {
            OAuthError::InvalidToken(
                "The registration access token is missing or not valid for this client.".into(),
            )
        }
        ClientError::InvalidClient => {
            OAuthError::InvalidClientMetadata("The client's credentials do not match.".into())
        }
        error @ (ClientError::Corrupt { .. } | ClientError::Storage(_)) => {
            slog::error!(log, "Client registration failed."; "error" => %error);
            OAuthError::ServerError("Client registration is temporarily unavailable.".into())
        }
    }
}

fn no_store(status: StatusCode) -> actix_web::HttpResponseBuilder {
    let mut builder = HttpResponse::build(status);
    builder
        .insert_header(("cache-control", "no-store"))
        .insert_header(("pragma", "no-cache"));
    builder
}

fn registration_client_uri(state: &AppState, client_id: &str) -> String {
    format!(
        "{}/oauth/register/{client_id}",
        state.settings.load().public_url
    )
}

/// RFC 7592 §3: the registration without secrets (they were shown once, at registration).
fn client_body(state: &AppState, client: &Client) -> Map<String, Value> {
    let mut body = client.registration_document();
    body.insert(
        "registration_client_uri".into(),
        json!(registration_client_uri(state, &client.client_id)),
    );
    body
}

/// RFC 7591 §3.2.1: the registration plus the secret and registration access token, once.
fn created_body(state: &AppState, registration: &Registration) -> Map<String, Value> {
    let mut body = client_body(state, &registration.client);
    if let Some(secret) = &registration.client_secret {
        body.insert("client_secret".into(), json!(secret));
    }
    if let Some(token) = &registration.registration_access_token {
        body.insert("registration_access_token".into(), json!(token));
    }
    body
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/oauth/register").route(web::post().to(register)))
        .service(
            web::resource("/oauth/register/{client_id}")
                .route(web::get().to(read_client))
                .route(web::put().to(update_client))
                .route(web::delete().to(delete_client)),
        );
}
