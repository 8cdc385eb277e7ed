//! A [`BackendEntry`] as the API shows it. Credentials appear only as `has_auth_token` (the
//! original returned decrypted tokens here); an OAuth backend's client settings are shown, its
//! secrets only as `has_client_secret` / `has_refresh_token`. `name` is the identifier
//! (`/mcp/<name>`), `display_name` the text people gave it (`null` when there is none).
//! `timeout` is in seconds like the original's, rounded up; `timeout_ms` is exact.

use serde_json::{Value, json};

use actors::registry::{BackendEntry, BackendId};
use actors::spec::SpecOrigin;

pub fn id(id: &BackendId) -> Value {
    match id {
        BackendId::Database(n) => json!(n),
        BackendId::File(_) => json!(id.to_string()),
    }
}

pub fn entry(e: &BackendEntry) -> Value {
    let oauth = e.oauth.as_ref();
    let timeout_ms = e.timeout.as_millis() as u64;
    let status = e.status.as_ref();
    // Disabled backends do not run; a database backend with a problem is left out (`last_error`
    // says why); anything else not yet on the board is starting.
    let state = if !e.enabled {
        "disabled".to_string()
    } else if e.problem.is_some() {
        "offline".to_string()
    } else {
        status.map_or_else(|| "starting".to_string(), |s| s.state.to_string())
    };
    let last_error = e
        .problem
        .clone()
        .or_else(|| status.and_then(|s| s.last_error.clone()));
    json!({
        "id": id(&e.id),
        "name": e.name,
        "display_name": e.display_name,
        "origin": match e.origin {
            SpecOrigin::ConfigFile => "config",
            SpecOrigin::Database => "database",
        },
        "read_only": e.origin == SpecOrigin::ConfigFile,
        "transport": e.transport,
        "url": e.url,
        "command": e.command,
        "tool_prefix": e.tool_prefix,
        "enabled": e.enabled,
        "timeout": timeout_ms.div_ceil(1000),
        "timeout_ms": timeout_ms,
        "health_interval_s": e.health_interval.as_secs(),
        "auth_type": e.auth_type,
        "auth_header": e.auth_header,
        "has_auth_token": e.has_auth_token,
        "token_url": oauth.and_then(|o| o.token_url.clone()),
        "client_id": oauth.map(|o| o.client_id.clone()),
        "scope": oauth.and_then(|o| o.scope.clone()),
        "resource": oauth.and_then(|o| o.resource.clone()),
        "has_client_secret": oauth.is_some_and(|o| o.has_client_secret),
        "has_refresh_token": oauth.is_some_and(|o| o.has_refresh_token),
        "state": state,
        "last_error": last_error,
        "tool_count": status.map_or(0, |s| s.tool_count),
        "last_check_ms": status.and_then(|s| s.last_check_ms),
        "connected_since_ms": status.and_then(|s| s.connected_since_ms),
        "protocol_version": status.and_then(|s| s.protocol_version.clone()),
        "restarts": status.map_or(0, |s| s.restarts),
        "created_at_ms": e.created_at_ms,
        "updated_at_ms": e.updated_at_ms,
    })
}
