//! The registry's read view of one backend, file or database, with its live status: what
//! `GET /admin/api/mcp-servers` shows. It says whether a credential exists, never what it is.

use std::time::Duration;

use super::draft::{AuthKind, stored_kind};
use super::oauth::OAuthView;
use crate::backend::BackendStatus;
use crate::spec::{BackendAuth, BackendSpec, BackendTransport, SpecOrigin};
use crate::storage::backends::StoredBackend;
use crate::storage::mask_password;

/// Database backends have numeric ids; file backends `file:<name>` (stable across reloads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendId {
    Database(i64),
    File(String),
}

impl BackendId {
    /// `12` or `file:search`; `None` for anything else.
    pub fn parse(text: &str) -> Option<BackendId> {
        if let Some(name) = text.strip_prefix("file:") {
            return (!name.is_empty()).then(|| BackendId::File(name.to_string()));
        }
        text.parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .map(BackendId::Database)
    }
}

impl std::fmt::Display for BackendId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendId::Database(id) => write!(f, "{id}"),
            BackendId::File(name) => write!(f, "file:{name}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct BackendEntry {
    pub id: BackendId,
    /// The identifier (`/mcp/<name>`).
    pub name: String,
    /// What people read beside it; `None`: the name is all there is.
    pub display_name: Option<String>,
    pub origin: SpecOrigin,
    pub transport: &'static str,
    /// With any password masked.
    pub url: Option<String>,
    /// stdio backends (config file only): the program, without its arguments or environment.
    pub command: Option<String>,
    pub tool_prefix: String,
    pub enabled: bool,
    pub timeout: Duration,
    pub health_interval: Duration,
    pub auth_type: &'static str,
    pub auth_header: Option<String>,
    /// A static credential's token is set (OAuth backends: see `oauth`).
    pub has_auth_token: bool,
    /// OAuth backends: their client settings, secrets as `has_*` only.
    pub oauth: Option<OAuthView>,
    /// The supervisor's view, when the backend runs.
    pub status: Option<BackendStatus>,
    /// Why a database backend is not running (its credential does not decrypt, a name clash).
    pub problem: Option<String>,
    pub created_at_ms: Option<i64>,
    pub updated_at_ms: Option<i64>,
}

pub(crate) fn file_entry(spec: &BackendSpec, status: Option<BackendStatus>) -> BackendEntry {
    let (url, command) = match &spec.transport {
        BackendTransport::StreamableHttp { url } | BackendTransport::Sse { url } => {
            (Some(mask_password(url.as_str())), None)
        }
        BackendTransport::Stdio { command, .. } => (None, Some(command.clone())),
    };
    let (auth_type, auth_header) = match &spec.auth {
        None => (AuthKind::None, None),
        Some(BackendAuth::Bearer(_)) => (AuthKind::Bearer, None),
        Some(BackendAuth::Header { name, value })
            if name.eq_ignore_ascii_case("authorization")
                && value.expose().starts_with("Basic ") =>
        {
            (AuthKind::Basic, None)
        }
        Some(BackendAuth::Header { name, .. }) => (AuthKind::Header, Some(name.clone())),
        Some(BackendAuth::OAuth(oauth)) => match oauth.grant {
            crate::spec::OAuthGrant::ClientCredentials => (AuthKind::OAuthClientCredentials, None),
            crate::spec::OAuthGrant::RefreshToken(_) => (AuthKind::OAuthRefreshToken, None),
        },
    };
    let oauth = match &spec.auth {
        Some(BackendAuth::OAuth(oauth)) => Some(OAuthView::of_spec(oauth)),
        _ => None,
    };
    BackendEntry {
        id: BackendId::File(spec.name.clone()),
        name: spec.name.clone(),
        display_name: None,
        origin: SpecOrigin::ConfigFile,
        transport: spec.transport.kind(),
        url,
        command,
        tool_prefix: spec.tool_prefix.clone(),
        enabled: spec.enabled,
        timeout: spec.timeout,
        health_interval: spec.health_interval,
        auth_type: auth_type.as_str(),
        auth_header,
        has_auth_token: spec.auth.is_some() && oauth.is_none(),
        oauth,
        status,
        problem: None,
        created_at_ms: None,
        updated_at_ms: None,
    }
}

pub(crate) fn database_entry(
    row: &StoredBackend,
    status: Option<BackendStatus>,
    problem: Option<String>,
) -> BackendEntry {
    let r = &row.record;
    let credential = r.credential.as_ref();
    let auth_type = stored_kind(Some(r));
    BackendEntry {
        id: BackendId::Database(row.id),
        name: r.name.clone(),
        display_name: r.display_name.clone(),
        origin: SpecOrigin::Database,
        transport: match r.transport.as_str() {
            "sse" => "sse",
            "stdio" => "stdio",
            _ => "streamable-http",
        },
        url: r.url.as_deref().map(mask_password),
        command: None,
        tool_prefix: r
            .tool_prefix
            .clone()
            .unwrap_or_else(|| format!("{}_", r.name)),
        enabled: r.enabled,
        timeout: Duration::from_millis(u64::try_from(r.timeout_ms).unwrap_or(0)),
        health_interval: Duration::from_secs(u64::try_from(r.health_interval_s).unwrap_or(0)),
        auth_type: auth_type.as_str(),
        auth_header: credential.and_then(|c| c.auth_header.clone()),
        has_auth_token: credential.is_some(),
        oauth: r.oauth.as_ref().map(OAuthView::of_stored),
        status,
        problem,
        created_at_ms: Some(row.created_at_ms),
        updated_at_ms: Some(row.updated_at_ms),
    }
}
