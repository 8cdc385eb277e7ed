//! `/mcp/{server}` for a caller whose grants cover only part of the backend (a caller with no
//! grant at all was refused with 403 before this; one with every item is forwarded untouched).
//!
//! Lists are answered by the gateway from the backend's cached capabilities (its own names,
//! filtered, paged with gateway cursors) instead of by the backend, which would list
//! everything. Calls are judged against the same table: an item the caller may not use, and
//! one the backend does not offer, get the same error from the gateway, so the backend's own
//! "unknown" error never tells them apart. Policies name tools and prompts with the backend's
//! tool prefix, as on `/mcp`, so one rule means the same on both endpoints.

use actors::auth::policy::ItemKind;
use actors::mcp::{ErrorCode, json};
use actors::routing::{ListKind, RoutingTable};
use serde_json::value::RawValue;

use super::access::{Access, item_kind};
use super::dispatch::list_answer;
use super::forward::{Answer, error};
use crate::state::AppState;

/// The gateway's answer for `method` when it must answer or refuse itself; `None` forwards the
/// request to the backend unchanged.
pub fn screen(
    state: &AppState,
    access: &Access,
    backend: &str,
    id: &RawValue,
    method: &str,
    params: Option<&RawValue>,
) -> Option<Answer> {
    let param = |key: &str| params.and_then(|p| json::member(p, key));
    let list_kind = match method {
        "tools/list" => Some(ListKind::Tools),
        "prompts/list" => Some(ListKind::Prompts),
        "resources/list" => Some(ListKind::Resources),
        "resources/templates/list" => Some(ListKind::ResourceTemplates),
        _ => None,
    };
    let judged = list_kind.is_some()
        || matches!(
            method,
            "tools/call"
                | "prompts/get"
                | "resources/read"
                | "resources/subscribe"
                | "resources/unsubscribe"
                | "completion/complete"
        )
        || !method.contains('/');
    if !judged {
        return None;
    }
    let routing = state.mcp.routing.load_full();
    let Some((table, prefix)) = routing.backend_table(backend) else {
        // Not in the routing table (offline, starting, unknown): nothing to judge against.
        return Some(error(
            Some(id),
            ErrorCode::BackendUnavailable,
            &format!("Backend `{backend}` is not running."),
        ));
    };
    let public = |kind: ItemKind, name: &str| match kind {
        ItemKind::Tool | ItemKind::Prompt => format!("{prefix}{name}"),
        ItemKind::Resource | ItemKind::ResourceTemplate => name.to_string(),
    };
    let may = |kind: ItemKind, name: &str| {
        let allowed = access.allows(backend, kind, &public(kind, name));
        if !allowed {
            access.refused(method, backend, name);
        }
        allowed
    };
    if let Some(kind) = list_kind {
        let view = table.filtered(|k, _, key| {
            let kind = item_kind(k);
            access.allows(backend, kind, &public(kind, key))
        });
        return Some(list_answer(state, id, param("cursor"), |cursor, size| {
            table.filtered_page(&view, kind, cursor, size)
        }));
    }
    // Forwarded as it is: the backend must see the very name judged here, not a second copy.
    let judged_keys = ["name", "uri", "ref"];
    let repeated = params.is_some_and(|p| json::repeats_any(p, &judged_keys))
        || param("ref").is_some_and(|r| json::repeats_any(r, &["type", "name", "uri"]));
    if repeated {
        return Some(error(
            Some(id),
            ErrorCode::InvalidParams,
            "`params` gives `name`, `uri` or `ref` more than once; send each once.",
        ));
    }
    match method {
        "tools/call" | "prompts/get" => {
            let (kind, what) = if method == "tools/call" {
                (ItemKind::Tool, "tool")
            } else {
                (ItemKind::Prompt, "prompt")
            };
            let name = name_of(param("name"));
            let known = catalog(&table, kind).route(&name).is_some();
            if !known
                && kind == ItemKind::Tool
                && let Some(refusal) = state
                    .mcp
                    .withheld
                    .load()
                    .refuse_on_backend(id, backend, &name)
            {
                // Withheld, said only to whoever may use it (asked only now: `may` reports a
                // refusal, which a name that is simply unknown must not produce).
                return Some(if may(kind, &name) {
                    refusal
                } else {
                    unknown(id, what, &name)
                });
            }
            if known && let Some(step_up) = access.step_up(backend, kind, &public(kind, &name)) {
                return Some(step_up);
            }
            (!(known && may(kind, &name))).then(|| unknown(id, what, &name))
        }
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
            let uri = name_of(param("uri"));
            if table.route_uri(&uri).is_some()
                && let Some(step_up) = access.step_up(backend, ItemKind::Resource, &uri)
            {
                return Some(step_up);
            }
            resource_refusal(&table, id, &uri, &may)
        }
        "completion/complete" => {
            let reference = param("ref");
            let field = |key: &str| name_of(reference.and_then(|r| json::member(r, key)));
            match field("type").as_str() {
                "ref/prompt" => {
                    let name = field("name");
                    let known = table.prompts.route(&name).is_some();
                    (!(known && may(ItemKind::Prompt, &name))).then(|| unknown(id, "prompt", &name))
                }
                "ref/resource" => resource_refusal(&table, id, &field("uri"), &may),
                // Malformed: the backend explains its own requirements.
                _ => None,
            }
        }
        // A tool's name used as the method (Codex): refused like an unknown method when denied.
        other => table
            .tools
            .route(other)
            .filter(|_| !may(ItemKind::Tool, other))
            .map(|_| {
                error(
                    Some(id),
                    ErrorCode::MethodNotFound,
                    &format!("Method not found: `{other}`."),
                )
            }),
    }
}

fn name_of(value: Option<&RawValue>) -> String {
    value
        .and_then(json::as_str)
        .map(|s| s.into_owned())
        .unwrap_or_default()
}

fn catalog(table: &RoutingTable, kind: ItemKind) -> &actors::routing::Catalog {
    match kind {
        ItemKind::Tool => &table.tools,
        _ => &table.prompts,
    }
}

fn resource_refusal(
    table: &RoutingTable,
    id: &RawValue,
    uri: &str,
    may: &impl Fn(ItemKind, &str) -> bool,
) -> Option<Answer> {
    let known = table.route_uri(uri).is_some();
    (!(known && may(ItemKind::Resource, uri))).then(|| {
        error(
            Some(id),
            ErrorCode::InvalidParams,
            &format!("No backend serves resource `{uri}`."),
        )
    })
}

fn unknown(id: &RawValue, what: &str, name: &str) -> Answer {
    error(
        Some(id),
        ErrorCode::InvalidParams,
        &format!("Unknown {what} `{name}`."),
    )
}
