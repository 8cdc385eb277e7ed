//! The authorization request (RFC 6749 §4.1.1 with PKCE, RFC 8707 `resource` and OIDC `nonce`
//! / `prompt`), validated into a [`Pending`] request the login and consent pages carry along.
//!
//! Order matters (RFC 6749 §4.1.2.1): until the client and its redirect URI are verified, a
//! problem is shown on an error page and never redirected — otherwise the gateway would be an
//! open redirector. After that, problems go back to the client's redirect URI.

use actors::auth::authorization::pkce;
use actors::auth::authorization::signed::{Purpose, Signer};
use actors::auth::cimd::ResolveError;
use actors::auth::client_metadata::GrantType;
use actors::auth::clients::Client;
use actors::auth::scopes::ScopeSet;
use serde::{Deserialize, Serialize};

use crate::oauth::check_resource;
use crate::oauth::form::Params;
use crate::state::AppState;

/// How long a pending request (the hidden `request` field) stays usable: time to log in.
pub const PENDING_TTL_S: u64 = 15 * 60;
/// Longest `state` and `nonce` accepted (they are echoed back).
const MAX_ECHOED_LEN: usize = 2048;

/// A validated authorization request. Signed and handed to the browser (never the raw query),
/// so nothing in it can be changed between the pages.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Pending {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub resource: String,
    pub state: Option<String>,
    pub code_challenge: String,
    pub nonce: Option<String>,
    /// OIDC `prompt=consent`: show the consent page even when consent is remembered.
    pub force_consent: bool,
    /// OIDC `prompt=none`: never show a page; answer with an error instead.
    pub no_prompt: bool,
    /// `prompt=login`: only a login after this (unix ms, the request's arrival) counts; 0 for any.
    pub login_after_ms: u64,
    /// Unix seconds after which the request is stale.
    pub expires_at: u64,
}

impl Pending {
    pub fn scopes(&self) -> ScopeSet {
        ScopeSet::parse_known(&self.scope).unwrap_or_default()
    }

    pub fn seal(&self, signer: &Signer) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        signer.sign(Purpose::PendingRequest, &json)
    }

    /// The request behind a sealed value, if it is genuine and not stale.
    pub fn open(signer: &Signer, sealed: &str) -> Option<Pending> {
        let json = signer.verify(Purpose::PendingRequest, sealed)?;
        let pending: Pending = serde_json::from_slice(&json).ok()?;
        (pending.expires_at > now_s()).then_some(pending)
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

pub fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Why a request cannot go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Client or redirect URI unverified: an error page (400), no redirect.
    Page { title: String, message: String },
    /// RFC 6749 §4.1.2.1: back to the verified redirect URI.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: String,
    },
}

fn page(title: &str, message: impl Into<String>) -> Refusal {
    Refusal::Page {
        title: title.to_string(),
        message: message.into(),
    }
}

/// Validates the authorization request in `params`; the client comes from the resolver
/// (registered or a Client ID Metadata Document).
pub async fn validate(state: &AppState, params: &Params) -> Result<(Client, Pending), Refusal> {
    let Some(client_id) = params.get("client_id") else {
        return Err(page(
            "Missing client",
            "The authorization request names no client (client_id). Start again from your application.",
        ));
    };
    let client = state
        .oauth
        .resolver
        .resolve(client_id)
        .await
        .map_err(|e| match e {
            ResolveError::Client(c) => page(
                "Unavailable",
                format!("The client could not be looked up ({c}); try again later."),
            ),
            other => page(
                "Unknown client",
                format!("This application cannot sign in here: {other}."),
            ),
        })?;
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return Err(page(
            "Missing redirect URI",
            "The authorization request has no redirect_uri; this server requires it.",
        ));
    };
    if !client.redirect_uri_allowed(redirect_uri) {
        return Err(page(
            "Redirect URI not registered",
            "The redirect_uri is not one this client registered, so the answer cannot be sent \
             there. Nothing was sent to it.",
        ));
    }
    // From here on the client hears about problems at its redirect URI.
    let state_param = params.get("state").map(str::to_string);
    let redirect = |error: &'static str, description: String| Refusal::Redirect {
        redirect_uri: redirect_uri.to_string(),
        state: state_param.clone(),
        error,
        description,
    };
    if state_param
        .as_ref()
        .is_some_and(|s| s.len() > MAX_ECHOED_LEN)
    {
        return Err(redirect("invalid_request", "state is too long".into()));
    }
    if params.has("request") {
        return Err(redirect(
            "request_not_supported",
            "request objects are not supported".into(),
        ));
    }
    if params.has("request_uri") {
        return Err(redirect(
            "request_uri_not_supported",
            "request_uri is not supported".into(),
        ));
    }
    match params.get("response_type") {
        Some("code") => {}
        None => {
            return Err(redirect(
                "invalid_request",
                "response_type is required".into(),
            ));
        }
        Some(other) => {
            return Err(redirect(
                "unsupported_response_type",
                format!("response_type `{other}` is not supported; use code"),
            ));
        }
    }
    if !client.has_grant(GrantType::AuthorizationCode) {
        return Err(redirect(
            "unauthorized_client",
            "this client is not registered for the authorization_code grant".into(),
        ));
    }
    let Some(challenge) = params.get("code_challenge") else {
        return Err(redirect(
            "invalid_request",
            "code_challenge is required (PKCE with S256)".into(),
        ));
    };
    match params.get("code_challenge_method") {
        Some("S256") => {}
        Some(other) => {
            return Err(redirect(
                "invalid_request",
                format!("code_challenge_method `{other}` is not supported; use S256"),
            ));
        }
        None => {
            return Err(redirect(
                "invalid_request",
                "code_challenge_method is required and must be S256 (plain is not accepted)".into(),
            ));
        }
    }
    if !pkce::is_valid_s256_challenge(challenge) {
        return Err(redirect(
            "invalid_request",
            "code_challenge must be the 43-character base64url SHA-256 of the verifier".into(),
        ));
    }
    let Some(resource) = params.get("resource") else {
        return Err(redirect(
            "invalid_request",
            "resource is required (RFC 8707): the MCP endpoint the token is for".into(),
        ));
    };
    check_resource(state, resource).map_err(|e| redirect("invalid_target", e))?;
    let scopes = ScopeSet::requested_or_default(params.get("scope"))
        .map_err(|e| redirect("invalid_scope", e.to_string()))?;
    let nonce = params.get("nonce").map(str::to_string);
    if nonce.as_ref().is_some_and(|n| n.len() > MAX_ECHOED_LEN) {
        return Err(redirect("invalid_request", "nonce is too long".into()));
    }
    let prompt: Vec<&str> = params
        .get("prompt")
        .map(|p| p.split(' ').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let no_prompt = prompt.contains(&"none");
    if no_prompt && prompt.len() > 1 {
        return Err(redirect(
            "invalid_request",
            "prompt=none cannot be combined with other values".into(),
        ));
    }
    let now = now_s();
    let pending = Pending {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_string(),
        scope: scopes.to_string(),
        resource: resource.to_string(),
        state: state_param.clone(),
        code_challenge: challenge.to_string(),
        nonce,
        force_consent: prompt.contains(&"consent"),
        no_prompt,
        login_after_ms: if prompt.contains(&"login") {
            now_ms()
        } else {
            0
        },
        expires_at: now + PENDING_TTL_S,
    };
    Ok((client, pending))
}

/// `redirect_uri` with the answer's parameters added to any query it already has, and `iss`
/// (RFC 9207) always.
pub fn redirect_location(redirect_uri: &str, issuer: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(url) => url,
        // Registered URIs are absolute (checked at registration); keep this total anyway.
        Err(_) => return redirect_uri.to_string(),
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
        query.append_pair("iss", issuer);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_keeps_the_registered_query_and_adds_iss() {
        let l = redirect_location(
            "http://127.0.0.1:9/cb?x=1",
            "https://gw.example.com",
            &[("code", "c"), ("state", "a b")],
        );
        assert_eq!(
            l,
            "http://127.0.0.1:9/cb?x=1&code=c&state=a+b&iss=https%3A%2F%2Fgw.example.com"
        );
    }

    #[test]
    fn pending_requests_are_sealed_and_expire() {
        let signer = Signer::new(b"k");
        let mut p = Pending {
            client_id: "c".into(),
            redirect_uri: "http://127.0.0.1/cb".into(),
            scope: "mcp".into(),
            resource: "https://gw/mcp".into(),
            state: None,
            code_challenge: "x".into(),
            nonce: None,
            force_consent: false,
            no_prompt: false,
            login_after_ms: 0,
            expires_at: now_s() + 60,
        };
        assert_eq!(Pending::open(&signer, &p.seal(&signer)), Some(p.clone()));
        assert_eq!(
            Pending::open(&Signer::new(b"other"), &p.seal(&signer)),
            None
        );
        p.expires_at = now_s() - 1;
        assert_eq!(Pending::open(&signer, &p.seal(&signer)), None);
    }
}
