//! Requests for a tool, prompt or resource of an enabled backend that is not running (offline,
//! restarting): its items leave the lists, but a client that listed them earlier still calls
//! them. It is told the backend is down (-32010, as for a call that fails on the way) instead of
//! "unknown tool", which would suggest the client has the name wrong. Read on the request path
//! only after a name did not resolve.

use actors::auth::policy::ItemKind;
use actors::mcp::ErrorCode;
use actors::routing::RoutingTable;
use serde_json::value::RawValue;

use super::access::Access;
use super::forward::{Answer, error};

/// The refusal of a request for `name` (a URI for resources) that `table` did not route, when
/// its backend is not running, if the caller may use that item (no one learns of an item their
/// grants hide).
pub fn refuse(
    table: &RoutingTable,
    access: &Access,
    kind: ItemKind,
    name: &str,
    id: &RawValue,
) -> Option<Answer> {
    let table = table.not_running()?;
    let (route, what) = match kind {
        ItemKind::Tool => (table.tools.route(name).cloned(), "tool"),
        ItemKind::Prompt => (table.prompts.route(name).cloned(), "prompt"),
        ItemKind::Resource | ItemKind::ResourceTemplate => (table.route_uri(name), "resource"),
    };
    let route = route?;
    if !access.allows(&route.backend, kind, name) {
        return None;
    }
    Some(error(
        Some(id),
        ErrorCode::BackendUnavailable,
        &format!(
            "Backend `{}` is not running, so its {what} `{name}` is unavailable until it recovers.",
            route.backend
        ),
    ))
}
