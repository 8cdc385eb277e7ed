//! Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3):
//! `client_secret_basic` (HTTP Basic, both parts form-urlencoded), `client_secret_post`
//! (`client_id` + `client_secret` in the body) or `none` (a public client's `client_id` alone).
//! Exactly one method per request; the one used must be the one the client registered.

use actix_web::HttpRequest;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use actors::auth::client_metadata::AuthMethod;
use actors::auth::clients::{Client, ClientError};

use super::form::Params;
use super::{OAuthError, OAuthState};

/// The credentials a request presented.
#[derive(Debug)]
struct Presented {
    client_id: String,
    secret: Option<String>,
    method: AuthMethod,
}

fn invalid_client(detail: &str, basic: bool) -> OAuthError {
    OAuthError::InvalidClient {
        detail: detail.to_string(),
        basic,
    }
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))`, if that is the scheme.
fn basic_credentials(req: &HttpRequest) -> Option<Result<(String, String), OAuthError>> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let malformed = || invalid_client("The HTTP Basic credentials are malformed.", true);
    let parsed = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| {
            let (id, secret) = text.split_once(':')?;
            let decode = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            Some((decode(id)?, decode(secret)?))
        });
    Some(parsed.ok_or_else(malformed))
}

fn presented(req: &HttpRequest, form: &Params) -> Result<Presented, OAuthError> {
    if let Some(basic) = basic_credentials(req) {
        let (client_id, secret) = basic?;
        if form.has("client_secret") {
            return Err(OAuthError::InvalidRequest(
                "Use exactly one client authentication method: HTTP Basic or client_secret in \
                 the body, not both."
                    .into(),
            ));
        }
        if form.get("client_id").is_some_and(|id| id != client_id) {
            return Err(OAuthError::InvalidRequest(
                "client_id in the body differs from the one in the HTTP Basic credentials.".into(),
            ));
        }
        return Ok(Presented {
            client_id,
            secret: Some(secret),
            method: AuthMethod::ClientSecretBasic,
        });
    }
    let Some(client_id) = form.get("client_id") else {
        return Err(invalid_client(
            "Client authentication is required: send client_id (public clients), client_id and \
             client_secret, or HTTP Basic credentials.",
            false,
        ));
    };
    let secret = form.get("client_secret").map(str::to_string);
    let method = if secret.is_some() {
        AuthMethod::ClientSecretPost
    } else {
        AuthMethod::None
    };
    Ok(Presented {
        client_id: client_id.to_string(),
        secret,
        method,
    })
}

/// Authenticates the calling client; one answer (`invalid_client`, 401) for an unknown client, a
/// wrong or expired secret and a method other than the registered one.
pub async fn authenticate(
    req: &HttpRequest,
    form: &Params,
    oauth: &OAuthState,
    log: &slog::Logger,
) -> Result<Client, OAuthError> {
    let presented = presented(req, form)?;
    let basic = presented.method == AuthMethod::ClientSecretBasic;
    match oauth
        .clients
        .authenticate_client(
            &presented.client_id,
            presented.secret.as_deref(),
            presented.method,
        )
        .await
    {
        Ok(client) => Ok(client),
        Err(ClientError::Storage(e)) => {
            slog::error!(log, "Client authentication could not be processed."; "error" => %e);
            Err(OAuthError::ServerError(
                "The request could not be processed; try again.".into(),
            ))
        }
        Err(_) => {
            slog::info!(log, "OAuth client authentication failed.";
                "client_id" => &presented.client_id, "method" => presented.method.as_str());
            Err(invalid_client(
                "Client authentication failed (unknown client, wrong secret, or not the \
                 authentication method the client registered).",
                basic,
            ))
        }
    }
}
