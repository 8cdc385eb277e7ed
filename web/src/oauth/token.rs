//! `POST /oauth/token` (RFC 6749 §3.2): form-encoded, the client authenticated first, then the
//! grant: `authorization_code` (PKCE, redirect URI and resource bound to the code),
//! `refresh_token` (rotation), `client_credentials` (confidential machine clients),
//! `password` (only when enabled). Answers are never cached; errors are RFC 6749 §5.2 bodies.

use actix_web::{HttpRequest, HttpResponse, web};
use actors::auth::authorization::{CodeExchange, GrantError, GrantResponse};
use actors::ratelimit::Rejection;
use serde_json::{Map, Value, json};

use super::form::{self, FormError, Params};
use super::{OAuthError, check_resource, client_auth, client_ip, request_log};
use crate::state::AppState;

pub(crate) fn form_error(error: FormError) -> OAuthError {
    OAuthError::InvalidRequest(format!("{}.", capitalised(&error.to_string())))
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn required<'a>(form: &'a Params, name: &str) -> Result<&'a str, OAuthError> {
    form.get(name)
        .ok_or_else(|| OAuthError::InvalidRequest(format!("The parameter `{name}` is required.")))
}

/// The resource a client-credentials or password grant is for: the one sent (checked), or
/// `<p>/mcp`.
fn resource_for(state: &AppState, form: &Params) -> Result<String, OAuthError> {
    match form.get("resource") {
        Some(uri) => {
            check_resource(state, uri)
                .map_err(|e| OAuthError::Grant(GrantError::InvalidTarget(e)))?;
            Ok(uri.to_string())
        }
        None => Ok(state.oauth.authorization.default_resource().to_string()),
    }
}

async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let log = request_log(&req, &state.log);
    // Before the body is read or any secret checked: a flood costs as little as possible.
    let ip = client_ip(&req);
    if let Err(Rejection {
        quota, retry_after, ..
    }) = state.oauth.rate_limiter.check_token(ip)
    {
        slog::info!(log, "Token request rate-limited."; "client_ip" => %ip, "limit" => "token");
        crate::security_events::record(
            &state,
            &req,
            actors::security::SecurityEventType::RateLimited,
            &[("limit", "token".into())],
        );
        return Err(OAuthError::TooManyRequests {
            detail: format!(
                "Too many token requests from this address (at most {} per {} s, \
                 rate_limit.token_max); retry after {} s.",
                quota.max,
                quota.window.as_secs(),
                retry_after.as_secs().max(1)
            ),
            retry_after,
        });
    }
    let form = form::read(&req, payload).await.map_err(form_error)?;
    let client = client_auth::authenticate(&req, &form, &state.oauth, &log).await?;
    let grant_type = required(&form, "grant_type")?;
    let service = &state.oauth.authorization;
    let outcome = match grant_type {
        "authorization_code" => {
            let exchange = CodeExchange {
                code: required(&form, "code")?,
                redirect_uri: form.get("redirect_uri"),
                code_verifier: form.get("code_verifier"),
                resource: form.get("resource"),
            };
            service.exchange_code(&client, exchange).await
        }
        "refresh_token" => {
            let token = required(&form, "refresh_token")?;
            service
                .refresh(&client, token, form.get("scope"), form.get("resource"))
                .await
        }
        "client_credentials" => {
            let resource = resource_for(&state, &form)?;
            service
                .client_credentials(&client, form.get("scope"), &resource)
                .await
        }
        "password" => {
            if !service.settings().password_grant_enabled {
                return Err(GrantError::UnsupportedGrantType(
                    "The password grant is switched off on this gateway \
                     (oauth.password_grant_enabled)."
                        .into(),
                )
                .into());
            }
            if state.oauth.rate_limiter.check_login(ip).is_err() {
                slog::info!(log, "Password grant rate-limited."; "client_ip" => %ip, "limit" => "login");
                crate::security_events::record(
                    &state,
                    &req,
                    actors::security::SecurityEventType::RateLimited,
                    &[("limit", "login".into())],
                );
                return Err(GrantError::InvalidGrant(
                    "Too many login attempts from this address; wait and try again.".into(),
                )
                .into());
            }
            let resource = resource_for(&state, &form)?;
            service
                .password(
                    &client,
                    required(&form, "username")?,
                    required(&form, "password")?,
                    form.get("scope"),
                    &resource,
                )
                .await
        }
        other => Err(GrantError::UnsupportedGrantType(format!(
            "grant_type `{other}` is not supported; use authorization_code, refresh_token or \
             client_credentials"
        ))),
    };
    match outcome {
        Ok(granted) => {
            slog::info!(log, "OAuth tokens issued."; "client_id" => &client.client_id,
                "grant_type" => grant_type, "user_id" => granted.tokens.user_id,
                "scope" => granted.tokens.scope.as_deref().unwrap_or(""));
            let username = crate::audit_events::username_of(&state, granted.tokens.user_id).await;
            let event = if grant_type == "refresh_token" {
                "token_refreshed"
            } else {
                "token_issued"
            };
            crate::audit_events::record(&req, &state, event, "ok", |e| {
                e.user_id = Some(granted.tokens.user_id);
                e.username = username;
                e.client_id = Some(client.client_id.clone());
                e.details = Some(format!("grant_type={grant_type}"));
            });
            // The console's "last use": bookkeeping in a task of its own, so it never delays
            // or fails the answer.
            let (clients, id) = (state.oauth.clients.clone(), client.client_id.clone());
            actix_web::rt::spawn(async move {
                let _ = clients.touch_last_used(&id).await;
            });
            Ok(answer(&granted))
        }
        Err(GrantError::Server(detail)) => {
            slog::error!(log, "Token request failed."; "error" => &detail, "grant_type" => grant_type);
            Err(GrantError::Server(detail).into())
        }
        Err(refused) => {
            slog::info!(log, "Token request refused."; "client_id" => &client.client_id,
                "grant_type" => grant_type, "error" => refused.code(), "reason" => refused.to_string());
            if refused
                .to_string()
                .contains(actors::auth::identity::REFRESH_REUSED)
            {
                crate::security_events::record(
                    &state,
                    &req,
                    actors::security::SecurityEventType::TokenReuse,
                    &[("client_id", client.client_id.clone().into())],
                );
            }
            if grant_type == "password"
                && matches!(&refused, GrantError::InvalidGrant(why)
                    if why == actors::auth::authorization::INVALID_CREDENTIALS)
            {
                // A wrong password here is a sign-in attempt like any other.
                crate::security_events::login_failed(
                    &state,
                    &req,
                    form.get("username").unwrap_or(""),
                );
            }
            crate::audit_events::record(&req, &state, "token_refused", "failed", |e| {
                e.client_id = Some(client.client_id.clone());
                e.details = Some(format!("grant_type={grant_type} error={}", refused.code()));
            });
            Err(refused.into())
        }
    }
}

/// RFC 6749 §5.1 (+ OIDC `id_token`), never cached.
fn answer(granted: &GrantResponse) -> HttpResponse {
    let tokens = &granted.tokens;
    let mut body = Map::new();
    body.insert("access_token".into(), json!(tokens.access_token));
    body.insert("token_type".into(), json!("Bearer"));
    body.insert("expires_in".into(), json!(tokens.expires_in));
    if let Some(refresh) = &tokens.refresh_token {
        body.insert("refresh_token".into(), json!(refresh));
    }
    if let Some(scope) = &tokens.scope {
        body.insert("scope".into(), json!(scope));
    }
    if let Some(id_token) = &granted.id_token {
        body.insert("id_token".into(), json!(id_token));
    }
    HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .insert_header(("pragma", "no-cache"))
        .json(Value::Object(body))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/oauth/token").route(web::post().to(token)));
}
