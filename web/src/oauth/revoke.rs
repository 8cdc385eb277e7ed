//! `POST /oauth/revoke` (RFC 7009) and `POST /oauth/introspect` (RFC 7662).
//!
//! Revocation authenticates the client like the token endpoint and always answers 200: a token
//! that is unknown, expired or another client's is simply not revoked, so the endpoint reveals
//! nothing. Revoking either token of a grant revokes the whole grant (its token family).
//!
//! Introspection is protected: a confidential client (its own tokens only) or an
//! administrator's login or API token (any token). Everything inactive, and everything the
//! caller may not see, is `{"active": false}`.

use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use actors::auth::authorization::IntrospectionCaller;
use actors::auth::identity::CredentialKind;
use serde_json::{Value, json};

use super::form;
use super::token::form_error;
use super::{OAuthError, client_auth, request_log};
use crate::authn::Caller;
use crate::state::AppState;

fn no_store(body: Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .insert_header(("pragma", "no-cache"))
        .json(body)
}

async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let log = request_log(&req, &state.log);
    let form = form::read(&req, payload).await.map_err(form_error)?;
    let client = client_auth::authenticate(&req, &form, &state.oauth, &log).await?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::InvalidRequest("The parameter `token` is required.".into()))?;
    let user_id = state
        .oauth
        .authorization
        .revoke(&client, token)
        .await
        .inspect_err(|e| slog::error!(log, "Revocation failed."; "error" => %e))?;
    slog::info!(log, "OAuth token revocation processed."; "client_id" => &client.client_id);
    let username = match user_id {
        Some(id) => crate::audit_events::username_of(&state, id).await,
        None => None,
    };
    crate::audit_events::record(&req, &state, "token_revoked", "ok", |e| {
        e.user_id = user_id;
        e.username = username;
        e.client_id = Some(client.client_id.clone());
        if user_id.is_none() {
            e.details = Some("no grant of this client's was named".into());
        }
    });
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .finish())
}

/// An administrator's login or API token (OAuth client tokens never count as admin access).
fn admin_caller(req: &HttpRequest) -> bool {
    matches!(
        req.extensions().get::<Caller>(),
        Some(Caller::User(p)) if p.is_admin() && p.credential != CredentialKind::OAuth
    )
}

async fn introspect(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let log = request_log(&req, &state.log);
    let form = form::read(&req, payload).await.map_err(form_error)?;
    let caller = if admin_caller(&req) {
        IntrospectionCaller::Admin
    } else {
        let client = client_auth::authenticate(&req, &form, &state.oauth, &log).await?;
        if client.is_public() {
            return Err(OAuthError::InvalidClient {
                detail: "Introspection needs a confidential client (with a secret) or an \
                         administrator's token."
                    .into(),
                basic: false,
            });
        }
        IntrospectionCaller::Client(client.client_id)
    };
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::InvalidRequest("The parameter `token` is required.".into()))?;
    let Some(info) = state.oauth.authorization.introspect(token, &caller).await else {
        return Ok(no_store(json!({ "active": false })));
    };
    let mut body = match serde_json::to_value(&info) {
        Ok(Value::Object(map)) => map,
        _ => return Ok(no_store(json!({ "active": false }))),
    };
    body.insert("active".into(), json!(true));
    // RFC 7662 §2.2: token_type is the type of RFC 6749 §5.1 for access tokens.
    if info.token_type == "access_token" {
        body.insert("token_type".into(), json!("Bearer"));
    }
    Ok(no_store(Value::Object(body)))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/oauth/revoke").route(web::post().to(revoke)))
        .service(web::resource("/oauth/introspect").route(web::post().to(introspect)));
}
