//! The token loop of an OAuth backend: runs on the backend's I/O thread for as long as its
//! actor incarnation; obtains a token (client credentials or refresh-token grant), publishes
//! `Authorization: Bearer …` into the credential snapshot, and gets a new one at 80 % of the
//! token's lifetime, on demand, and after the backend rejected the current one. Failures keep
//! the last token (it may still work) and retry with exponential backoff (1 s doubling to
//! 60 s). A rotated refresh token is stored (sealed) before it is used, and a loop starts from
//! the stored one when there is one ([`super::PersistedTokens`]). Nothing here logs a token, a
//! secret or a response body.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::status::now_ms;
use super::{Credential, PersistedTokens, TokenState, TokenStatus, discovery, header};
use crate::spec::{OAuthClientSpec, OAuthGrant, SecretString};

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A token without `expires_in` is refreshed only on demand or rejection; this bounds the wait.
const NO_EXPIRY_WAIT: Duration = Duration::from_secs(24 * 3600);
const MAX_TOKEN_RESPONSE: usize = 64 * 1024;

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
}

#[derive(Deserialize)]
struct TokenError {
    error: Option<String>,
    error_description: Option<String>,
}

struct Obtained {
    access_token: SecretString,
    lifetime: Option<Duration>,
    refresh_token: Option<SecretString>,
}

/// Which backend a token loop serves, and where its rotated refresh tokens are kept (`None`:
/// in memory only, as in tests that run the tree without a database).
pub(crate) struct TokenLoopTarget {
    pub backend: String,
    pub url: url::Url,
    pub timeout: Duration,
    pub persisted: Option<Arc<PersistedTokens>>,
}

/// Runs until the task is aborted (the actor stops). The target's URL is the default RFC 8707
/// resource and where discovery starts.
pub(crate) async fn run_token_loop(
    credential: Credential,
    oauth: OAuthClientSpec,
    target: TokenLoopTarget,
    log: slog::Logger,
) {
    let TokenLoopTarget {
        backend,
        url: backend_url,
        timeout,
        persisted,
    } = target;
    let Some(shared) = credential.oauth.clone() else {
        return;
    };
    let client = awc::Client::builder()
        .timeout(timeout)
        // A redirect could carry the client secret elsewhere.
        .disable_redirects()
        .finish();
    let mut token_url = oauth.token_url.clone();
    let configured = match &oauth.grant {
        OAuthGrant::RefreshToken(token) => Some(token.clone()),
        OAuthGrant::ClientCredentials => None,
    };
    let mut refresh_token = configured.clone();
    if let (Some(configured), Some(store)) = (&configured, &persisted) {
        match store.latest(&backend, configured).await {
            Ok(Some(latest)) => {
                slog::info!(
                    log,
                    "continuing from the backend's last rotated refresh token"
                );
                refresh_token = Some(latest);
            }
            Ok(None) => {}
            Err(error) => {
                slog::warn!(log, "starting from the configured refresh token"; "error" => error)
            }
        }
    }
    let mut backoff = FIRST_BACKOFF;
    loop {
        let before = shared.status.load_full();
        shared.status.store(std::sync::Arc::new(TokenStatus {
            state: TokenState::Refreshing,
            next_attempt_ms: None,
            ..before.as_ref().clone()
        }));
        let attempt = async {
            let url = match &token_url {
                Some(url) => url.clone(),
                None => {
                    let found = discovery::token_endpoint(&client, &backend_url).await?;
                    token_url = Some(found.clone());
                    found
                }
            };
            request_token(&client, &url, &oauth, &backend_url, refresh_token.as_ref()).await
        };
        let wait = match attempt.await {
            Ok(obtained) => {
                let value = format!("Bearer {}", obtained.access_token.expose());
                credential.publish(header("authorization", &value).map(|h| vec![h]));
                if let Some(rotated) = obtained.refresh_token {
                    // Stored before the next use: after a restart the old one may be refused.
                    if let (Some(configured), Some(store)) = (&configured, &persisted)
                        && refresh_token.as_ref() != Some(&rotated)
                        && let Err(error) = store.save(&backend, configured, &rotated).await
                    {
                        slog::warn!(log, "the rotated refresh token is kept in memory only";
                            "error" => error);
                    }
                    refresh_token = Some(rotated);
                }
                let wait = obtained
                    .lifetime
                    .map(|l| l.mul_f64(0.8).max(Duration::from_secs(1)))
                    .unwrap_or(NO_EXPIRY_WAIT);
                let now = now_ms();
                shared.status.store(std::sync::Arc::new(TokenStatus {
                    state: TokenState::Valid,
                    expires_at_ms: obtained.lifetime.map(|l| now + l.as_millis() as i64),
                    last_refresh_ms: Some(now),
                    last_error: None,
                    next_attempt_ms: Some(now + wait.as_millis() as i64),
                }));
                shared.stats.record(true);
                slog::info!(log, "backend access token obtained";
                    "expires_in_s" => obtained.lifetime.map(|l| l.as_secs()));
                backoff = FIRST_BACKOFF;
                wait
            }
            Err(error) => {
                let wait = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                shared.status.store(std::sync::Arc::new(TokenStatus {
                    state: TokenState::Failed,
                    last_error: Some(error.clone()),
                    next_attempt_ms: Some(now_ms() + wait.as_millis() as i64),
                    ..before.as_ref().clone()
                }));
                shared.stats.record(false);
                slog::warn!(log, "cannot obtain a backend access token";
                    "error" => &error, "retry_in_ms" => wait.as_millis() as u64);
                wait
            }
        };
        shared.attempts.send_modify(|n| *n += 1);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shared.refresh.notified() => {}
        }
    }
}

/// One token request; the error is a sentence without secrets.
async fn request_token(
    client: &awc::Client,
    token_url: &url::Url,
    oauth: &OAuthClientSpec,
    backend_url: &url::Url,
    refresh_token: Option<&SecretString>,
) -> Result<Obtained, String> {
    let resource = oauth
        .resource
        .clone()
        .unwrap_or_else(|| backend_url.to_string());
    let mut form: Vec<(&str, &str)> = Vec::new();
    match (&oauth.grant, refresh_token) {
        (OAuthGrant::RefreshToken(_), Some(token)) => {
            form.push(("grant_type", "refresh_token"));
            form.push(("refresh_token", token.expose()));
        }
        _ => form.push(("grant_type", "client_credentials")),
    }
    if let Some(scope) = &oauth.scope {
        form.push(("scope", scope));
    }
    form.push(("resource", &resource));
    let mut request = client
        .post(token_url.as_str())
        .insert_header(("Accept", "application/json"));
    match &oauth.client_secret {
        // client_secret_basic: both parts form-encoded first (RFC 6749 §2.3.1).
        Some(secret) => {
            let encode =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let pair = format!("{}:{}", encode(&oauth.client_id), encode(secret.expose()));
            let mut value = awc::http::header::HeaderValue::from_str(&format!(
                "Basic {}",
                STANDARD.encode(pair)
            ))
            .map_err(|_| "the client credentials cannot form a header".to_string())?;
            value.set_sensitive(true);
            request = request.insert_header(("Authorization", value));
        }
        None => form.push(("client_id", &oauth.client_id)),
    }
    let mut response = request
        .send_form(&form)
        .await
        .map_err(|e| format!("POST {token_url}: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        let detail = match response
            .json::<TokenError>()
            .limit(MAX_TOKEN_RESPONSE)
            .await
        {
            Ok(TokenError {
                error: Some(error),
                error_description,
            }) => match error_description {
                Some(description) => format!(" {error}: {description}"),
                None => format!(" {error}"),
            },
            _ => String::new(),
        };
        return Err(format!(
            "the token endpoint {token_url} answered HTTP {}{detail}",
            status.as_u16()
        ));
    }
    let body: TokenResponse = response
        .json()
        .limit(MAX_TOKEN_RESPONSE)
        .await
        .map_err(|e| format!("the token endpoint {token_url} sent no token response ({e})"))?;
    if body
        .token_type
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
    {
        return Err(format!(
            "the token endpoint {token_url} issued a token of a type other than Bearer"
        ));
    }
    if body.access_token.is_empty() {
        return Err(format!(
            "the token endpoint {token_url} sent an empty access_token"
        ));
    }
    Ok(Obtained {
        access_token: SecretString::new(body.access_token),
        lifetime: body.expires_in.map(Duration::from_secs),
        refresh_token: body.refresh_token.map(SecretString::new),
    })
}
