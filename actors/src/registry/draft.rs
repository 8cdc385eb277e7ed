//! What the admin API may set on a database backend ([`BackendDraft`]), the value rules it must
//! follow, and how a draft lands on top of the stored row ([`resolve`]).
//!
//! The rules mirror the config file's (`src/config/checks.rs`), so a backend is valid in the same
//! way whichever door it came in by. The web layer calls the format rules while it parses a body,
//! so one 400 lists every problem; [`resolve`] adds the checks that need the stored state.

use std::time::Duration;

use crate::secrets::SecretBox;
use crate::spec::SecretString;
use crate::storage::backends::{BackendRecord, StoredCredential, StoredOAuth};

/// Longest backend name, tool prefix or header name.
pub const MAX_NAME_LEN: usize = 64;
/// Same defaults as a `[[backends]]` table without these keys.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(30);
/// Bounds for `timeout` (seconds, as the original's API) and `health_interval_s`.
pub const MAX_TIMEOUT_S: u64 = 3600;
pub const MAX_HEALTH_INTERVAL_S: u64 = 86_400;

/// The HTTP transports the API can create; stdio backends run commands and stay file-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpTransport {
    StreamableHttp,
    Sse,
}

impl HttpTransport {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpTransport::StreamableHttp => "streamable-http",
            HttpTransport::Sse => "sse",
        }
    }
}

/// How the gateway authenticates to the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    None,
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// `Authorization: Basic <token>` (the token is already `base64(user:password)`), as the
    /// original gateway sent it.
    Basic,
    /// `<auth_header>: <token>`, e.g. `X-API-Key`.
    Header,
    /// OAuth 2.0: the backend's actor obtains access tokens with the client credentials grant.
    OAuthClientCredentials,
    /// OAuth 2.0: the backend's actor obtains access tokens with the refresh-token grant.
    OAuthRefreshToken,
}

impl AuthKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthKind::None => "none",
            AuthKind::Bearer => "bearer",
            AuthKind::Basic => "basic",
            AuthKind::Header => "header",
            AuthKind::OAuthClientCredentials => "oauth_client_credentials",
            AuthKind::OAuthRefreshToken => "oauth_refresh_token",
        }
    }

    pub fn is_oauth(self) -> bool {
        matches!(
            self,
            AuthKind::OAuthClientCredentials | AuthKind::OAuthRefreshToken
        )
    }

    pub fn parse(text: &str) -> Option<AuthKind> {
        match text {
            "none" => Some(AuthKind::None),
            "bearer" => Some(AuthKind::Bearer),
            "basic" => Some(AuthKind::Basic),
            "header" => Some(AuthKind::Header),
            "oauth_client_credentials" => Some(AuthKind::OAuthClientCredentials),
            "oauth_refresh_token" => Some(AuthKind::OAuthRefreshToken),
            _ => None,
        }
    }
}

/// A create (name and url required) or a partial update. `Some(None)` clears a nullable field.
#[derive(Debug, Clone, Default)]
pub struct BackendDraft {
    /// The identifier (already valid: the web layer derives it from a free-text name).
    pub name: Option<String>,
    /// `Some(None)` removes the display name.
    pub display_name: Option<Option<String>>,
    pub url: Option<url::Url>,
    pub transport: Option<HttpTransport>,
    /// `Some(None)`: back to the default `"<name>_"`.
    pub tool_prefix: Option<Option<String>>,
    pub enabled: Option<bool>,
    pub timeout: Option<Duration>,
    pub health_interval: Option<Duration>,
    pub auth_type: Option<AuthKind>,
    pub auth_header: Option<Option<String>>,
    /// `Some(None)` removes the stored token.
    pub auth_token: Option<Option<SecretString>>,
    /// OAuth kinds only. `Some(None)`: discover the token endpoint.
    pub token_url: Option<Option<url::Url>>,
    pub client_id: Option<String>,
    /// `Some(None)`: a public client.
    pub client_secret: Option<Option<SecretString>>,
    pub scope: Option<Option<String>>,
    /// RFC 8707 `resource`; `Some(None)`: the backend's URL.
    pub resource: Option<Option<String>>,
    /// The refresh-token grant's starting token (write-only, like every secret).
    pub refresh_token: Option<Option<SecretString>>,
}

impl BackendDraft {
    /// The field names this draft sets, for the audit log line (never values).
    pub fn field_names(&self) -> Vec<&'static str> {
        let fields = [
            (self.name.is_some(), "name"),
            (self.display_name.is_some(), "display_name"),
            (self.url.is_some(), "url"),
            (self.transport.is_some(), "transport"),
            (self.tool_prefix.is_some(), "tool_prefix"),
            (self.enabled.is_some(), "enabled"),
            (self.timeout.is_some(), "timeout"),
            (self.health_interval.is_some(), "health_interval_s"),
            (self.auth_type.is_some(), "auth_type"),
            (self.auth_header.is_some(), "auth_header"),
            (self.auth_token.is_some(), "auth_token"),
            (self.token_url.is_some(), "token_url"),
            (self.client_id.is_some(), "client_id"),
            (self.client_secret.is_some(), "client_secret"),
            (self.scope.is_some(), "scope"),
            (self.resource.is_some(), "resource"),
            (self.refresh_token.is_some(), "refresh_token"),
        ];
        fields
            .iter()
            .filter(|(set, _)| *set)
            .map(|(_, n)| *n)
            .collect()
    }
}

/// Backend names appear in URLs (`/mcp/{name}`) and logs: `[A-Za-z0-9_-]`, 1..=64.
pub fn check_backend_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!("must be 1 to {MAX_NAME_LEN} characters long"));
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-')))
    {
        Some(bad) => Err(format!(
            "{name:?} contains {bad:?}; use only letters, digits, '_' and '-'"
        )),
        None => Ok(()),
    }
}

/// Prefixes become part of tool names, which MCP limits to `[A-Za-z0-9_.-]`. Empty: no prefix.
pub fn check_tool_prefix(prefix: &str) -> Result<(), String> {
    if prefix.len() > MAX_NAME_LEN {
        return Err(format!("must be at most {MAX_NAME_LEN} characters long"));
    }
    match prefix
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        Some(bad) => Err(format!(
            "{prefix:?} contains {bad:?}; use only letters, digits, '_', '-' and '.'"
        )),
        None => Ok(()),
    }
}

/// An `http`/`https` URL with a host and without embedded credentials (they belong in
/// `auth_token`, where they are encrypted and never shown). Never echoes the value.
pub fn parse_backend_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| format!("is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "uses the scheme {:?}; only http and https are supported",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("has no host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "must not contain a user name or password; put the credential in \
                    auth_token (stored encrypted)"
                .into(),
        );
    }
    Ok(url)
}

/// An HTTP header name (RFC 9110 token), not one the gateway sets itself.
pub fn check_header_name(name: &str) -> Result<(), String> {
    let is_token_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.chars().all(is_token_char) {
        return Err(format!(
            "{name:?} is not a header name (letters, digits and -, at most {MAX_NAME_LEN})"
        ));
    }
    let reserved = [
        "host",
        "content-type",
        "content-length",
        "accept",
        "mcp-session-id",
        "mcp-protocol-version",
        "transfer-encoding",
        "connection",
    ];
    if reserved.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(format!("{name:?} is set by the gateway itself"));
    }
    Ok(())
}

/// Applies `draft` on top of `current` (`None` for a create) and returns the row to store, or
/// every problem found. New tokens are sealed here: nothing after this point sees them in clear.
pub(crate) fn resolve(
    current: Option<&BackendRecord>,
    draft: BackendDraft,
    secrets: &SecretBox,
) -> Result<BackendRecord, Vec<String>> {
    let mut problems = Vec::new();
    let name = draft
        .name
        .clone()
        .or_else(|| current.map(|c| c.name.clone()));
    let url = draft
        .url
        .as_ref()
        .map(|u| u.to_string())
        .or_else(|| current.and_then(|c| c.url.clone()));
    if name.is_none() {
        problems.push("name: required".to_string());
    }
    if url.is_none() {
        problems.push("url: required (an http:// or https:// MCP endpoint)".to_string());
    }
    let (credential, oauth) = resolve_auth(current, &draft, secrets, &mut problems);
    let timeout = draft.timeout.map(|t| t.as_millis() as i64);
    let health = draft.health_interval.map(|h| h.as_secs() as i64);
    let record = BackendRecord {
        name: name.unwrap_or_default(),
        display_name: match draft.display_name {
            Some(display_name) => display_name,
            None => current.and_then(|c| c.display_name.clone()),
        },
        transport: draft
            .transport
            .map(|t| t.as_str().to_string())
            .or_else(|| current.map(|c| c.transport.clone()))
            .unwrap_or_else(|| HttpTransport::StreamableHttp.as_str().to_string()),
        url,
        tool_prefix: match draft.tool_prefix {
            Some(prefix) => prefix,
            None => current.and_then(|c| c.tool_prefix.clone()),
        },
        enabled: draft.enabled.or(current.map(|c| c.enabled)).unwrap_or(true),
        timeout_ms: timeout
            .or(current.map(|c| c.timeout_ms))
            .unwrap_or(DEFAULT_TIMEOUT.as_millis() as i64),
        health_interval_s: health
            .or(current.map(|c| c.health_interval_s))
            .unwrap_or(DEFAULT_HEALTH_INTERVAL.as_secs() as i64),
        credential,
        oauth,
    };
    if problems.is_empty() {
        Ok(record)
    } else {
        Err(problems)
    }
}

/// The stored auth kind of `current` (static or OAuth).
pub(crate) fn stored_kind(current: Option<&BackendRecord>) -> AuthKind {
    let Some(current) = current else {
        return AuthKind::None;
    };
    match (&current.credential, &current.oauth) {
        (Some(c), _) => AuthKind::parse(&c.auth_type).unwrap_or(AuthKind::None),
        (None, Some(o)) if o.grant == "refresh_token" => AuthKind::OAuthRefreshToken,
        (None, Some(_)) => AuthKind::OAuthClientCredentials,
        (None, None) => AuthKind::None,
    }
}

/// The static credential or the OAuth credential the record ends up with (never both).
fn resolve_auth(
    current: Option<&BackendRecord>,
    draft: &BackendDraft,
    secrets: &SecretBox,
    problems: &mut Vec<String>,
) -> (Option<StoredCredential>, Option<StoredOAuth>) {
    let stored_kind = stored_kind(current);
    let kind = draft.auth_type.unwrap_or(stored_kind);
    if kind.is_oauth() {
        let stored = current.and_then(|c| c.oauth.as_ref());
        let oauth = super::oauth::resolve(stored, draft, kind, secrets, problems);
        return (None, oauth);
    }
    super::oauth::refuse_oauth_fields(draft, problems);
    let credential = resolve_credential(current, draft, stored_kind, secrets, problems);
    (credential, None)
}

fn resolve_credential(
    current: Option<&BackendRecord>,
    draft: &BackendDraft,
    stored_kind: AuthKind,
    secrets: &SecretBox,
    problems: &mut Vec<String>,
) -> Option<StoredCredential> {
    let stored = current.and_then(|c| c.credential.as_ref());
    // Leaving OAuth for a static kind: nothing of the OAuth credential carries over.
    let stored_kind = if stored_kind.is_oauth() {
        AuthKind::None
    } else {
        stored_kind
    };
    let new_token = match &draft.auth_token {
        Some(Some(token)) if !token.expose().is_empty() => Some(Some(token)),
        Some(_) => Some(None),
        None => None,
    };
    // A token sent without a type means bearer, the common case (the original stored it with
    // type "none" and then never sent it).
    let kind = match (draft.auth_type, &new_token) {
        (Some(kind), _) => kind,
        (None, Some(Some(_))) if stored_kind == AuthKind::None => AuthKind::Bearer,
        (None, _) => stored_kind,
    };
    let header = match &draft.auth_header {
        Some(header) => header.clone(),
        None => stored.and_then(|c| c.auth_header.clone()),
    };
    if kind == AuthKind::None {
        if matches!(new_token, Some(Some(_))) {
            problems.push("auth_token: given, but auth_type is \"none\"".to_string());
        }
        if matches!(draft.auth_header, Some(Some(_))) {
            problems.push("auth_header: only applies to auth_type \"header\"".to_string());
        }
        return None;
    }
    let token = match new_token {
        Some(Some(token)) => Some(secrets.seal(token.expose())),
        Some(None) => None,
        None => stored.map(|c| c.token.clone()),
    };
    let Some(token) = token else {
        problems.push(format!(
            "auth_token: required for auth_type \"{}\"",
            kind.as_str()
        ));
        return None;
    };
    let auth_header = match (kind, header) {
        (AuthKind::Header, Some(header)) => Some(header),
        (AuthKind::Header, None) => {
            problems.push(
                "auth_header: required for auth_type \"header\" (the header name, e.g. X-API-Key)"
                    .to_string(),
            );
            None
        }
        (_, header) => {
            if draft.auth_header.as_ref().is_some_and(Option::is_some) && header.is_some() {
                problems.push("auth_header: only applies to auth_type \"header\"".to_string());
            }
            None
        }
    };
    Some(StoredCredential {
        auth_type: kind.as_str().to_string(),
        auth_header,
        token,
    })
}
