//! The capability cache: what one backend offers, kept raw.
//!
//! After `initialize` the backend actor fetches every list the server declares (tools always
//! when `tools` is declared; resources, templates and prompts likewise), following `nextCursor`.
//! Items are kept as the backend sent them (`RawValue`), so the request path can merge them
//! without ever re-serialising through typed models. Refreshed on [`CAPABILITY_TTL`] and on the
//! backend's `notifications/*/list_changed`.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use super::error::BackendError;

/// How long a fetched list is trusted without a `list_changed` from the backend. A constant for
/// now (BackendSpec has no per-backend setting yet).
pub const CAPABILITY_TTL: Duration = Duration::from_secs(300);
/// A backend that keeps handing out cursors is broken; stop rather than loop forever.
const MAX_PAGES: usize = 1000;

/// What the gateway's own session declares to a backend whose clients get sessions of their own
/// (HTTP, legacy SSE, per-session stdio children), so lists are complete (some servers list more
/// tools to clients that can sample, elicit or expose roots). Clients' calls never use this
/// session: theirs declare exactly what each client declared.
pub(crate) const GATEWAY_CLIENT_CAPABILITIES: &str =
    r#"{"roots":{"listChanged":true},"sampling":{},"elicitation":{}}"#;

/// What the gateway declares to a shared stdio child: only what it can honour itself. That
/// child serves every client, and a request it sends cannot be tied to one client's call, so
/// the gateway answers it: `roots/list` with no roots; sampling and elicitation it cannot do.
pub(crate) const SHARED_CHILD_CLIENT_CAPABILITIES: &str = r#"{"roots":{}}"#;

/// The capabilities the backend actor's own session declares for `spec`.
pub(crate) fn gateway_client_capabilities(spec: &crate::spec::BackendSpec) -> &'static str {
    match (&spec.transport, spec.isolation) {
        (crate::spec::BackendTransport::Stdio { .. }, crate::spec::StdioIsolation::Shared) => {
            SHARED_CHILD_CLIENT_CAPABILITIES
        }
        _ => GATEWAY_CLIENT_CAPABILITIES,
    }
}

/// One backend's published capabilities: a snapshot, replaced whole on every change.
#[derive(Debug)]
pub struct BackendCapabilities {
    pub protocol_version: String,
    /// The backend's `serverInfo` object, raw.
    pub server_info: Box<RawValue>,
    /// The backend's server `capabilities` object, raw.
    pub capabilities: Box<RawValue>,
    pub instructions: Option<String>,
    /// Each item exactly as the backend sent it.
    pub tools: Arc<[Box<RawValue>]>,
    pub resources: Arc<[Box<RawValue>]>,
    pub resource_templates: Arc<[Box<RawValue>]>,
    pub prompts: Arc<[Box<RawValue>]>,
    /// When these lists were fetched (unix milliseconds).
    pub fetched_at_ms: i64,
}

impl BackendCapabilities {
    /// Whether `other` offers the same things (ignores `fetched_at_ms`), so a refresh that
    /// finds nothing new does not make every reader rebuild its routing table.
    pub fn same_content(&self, other: &BackendCapabilities) -> bool {
        fn same(a: &[Box<RawValue>], b: &[Box<RawValue>]) -> bool {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.get() == y.get())
        }
        self.protocol_version == other.protocol_version
            && self.server_info.get() == other.server_info.get()
            && self.capabilities.get() == other.capabilities.get()
            && self.instructions == other.instructions
            && same(&self.tools, &other.tools)
            && same(&self.resources, &other.resources)
            && same(&self.resource_templates, &other.resource_templates)
            && same(&self.prompts, &other.prompts)
    }
}

/// Which lists a server declared in its capabilities.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DeclaredLists {
    pub tools: bool,
    pub resources: bool,
    pub prompts: bool,
}

impl DeclaredLists {
    pub fn from_capabilities(raw: &RawValue) -> Self {
        #[derive(Deserialize)]
        struct Declared {
            #[serde(default)]
            tools: Option<IgnoredAny>,
            #[serde(default)]
            resources: Option<IgnoredAny>,
            #[serde(default)]
            prompts: Option<IgnoredAny>,
        }
        serde_json::from_str::<Declared>(raw.get())
            .map(|d| DeclaredLists {
                tools: d.tools.is_some(),
                resources: d.resources.is_some(),
                prompts: d.prompts.is_some(),
            })
            .unwrap_or_default()
    }
}

/// The four lists, fetched together.
#[derive(Default)]
pub(crate) struct Lists {
    pub tools: Vec<Box<RawValue>>,
    pub resources: Vec<Box<RawValue>>,
    pub resource_templates: Vec<Box<RawValue>>,
    pub prompts: Vec<Box<RawValue>>,
}

/// The list methods and the result field holding each one's items.
#[derive(Clone, Copy)]
pub(crate) enum ListKind {
    Tools,
    Resources,
    ResourceTemplates,
    Prompts,
}

impl ListKind {
    pub fn method(self) -> &'static str {
        match self {
            ListKind::Tools => "tools/list",
            ListKind::Resources => "resources/list",
            ListKind::ResourceTemplates => "resources/templates/list",
            ListKind::Prompts => "prompts/list",
        }
    }

    fn field(self) -> &'static str {
        match self {
            ListKind::Tools => "tools",
            ListKind::Resources => "resources",
            ListKind::ResourceTemplates => "resourceTemplates",
            ListKind::Prompts => "prompts",
        }
    }
}

/// Whether a backend notification says that one of its lists changed.
pub(crate) fn is_list_changed(method: &str) -> bool {
    matches!(
        method,
        "notifications/tools/list_changed"
            | "notifications/resources/list_changed"
            | "notifications/prompts/list_changed"
    )
}

/// One page of any list: the items under `field`, plus the cursor.
pub(crate) fn parse_page(
    kind: ListKind,
    result: &RawValue,
) -> Result<(Vec<Box<RawValue>>, Option<String>), BackendError> {
    // Keys map to raw values: items are never turned into `Value`s (big integers survive).
    let fields: std::collections::HashMap<String, &RawValue> = serde_json::from_str(result.get())
        .map_err(|_| {
        BackendError::Protocol(format!("the {} result is not an object", kind.method()))
    })?;
    let items = fields.get(kind.field()).ok_or_else(|| {
        BackendError::Protocol(format!(
            "the {} result has no `{}` array",
            kind.method(),
            kind.field()
        ))
    })?;
    let items: Vec<Box<RawValue>> = serde_json::from_str(items.get()).map_err(|_| {
        BackendError::Protocol(format!("`{}` is not an array of objects", kind.field()))
    })?;
    let cursor = match fields.get("nextCursor") {
        Some(raw) => serde_json::from_str::<Option<String>>(raw.get()).map_err(|_| {
            BackendError::Protocol(format!("the {} cursor is not a string", kind.method()))
        })?,
        None => None,
    };
    Ok((items, cursor))
}

/// Follows `nextCursor` through every page of one list; `request` sends one JSON-RPC request
/// (method, params) and returns its result.
pub(crate) async fn fetch_list<F, Fut>(
    kind: ListKind,
    mut request: F,
) -> Result<Vec<Box<RawValue>>, BackendError>
where
    F: FnMut(&'static str, Option<Box<RawValue>>) -> Fut,
    Fut: std::future::Future<Output = Result<Box<RawValue>, BackendError>>,
{
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let params = match &cursor {
            Some(c) => Some(
                RawValue::from_string(serde_json::json!({ "cursor": c }).to_string())
                    .map_err(|e| BackendError::Protocol(e.to_string()))?,
            ),
            None => None,
        };
        let result = request(kind.method(), params).await?;
        let (page, next) = parse_page(kind, &result)?;
        items.extend(page);
        match next {
            Some(next) if !next.is_empty() && cursor.as_deref() != Some(next.as_str()) => {
                cursor = Some(next);
            }
            _ => return Ok(items),
        }
    }
    Err(BackendError::Protocol(format!(
        "{} kept paginating past {MAX_PAGES} pages",
        kind.method()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_keep_items_raw() {
        let result = RawValue::from_string(
            r#"{"tools":[{"name":"a","x-custom":{"b":1,"a":2},"n":12345678901234567890123}],"nextCursor":"2"}"#
                .into(),
        )
        .unwrap();
        let (items, cursor) = parse_page(ListKind::Tools, &result).unwrap();
        assert_eq!(
            items[0].get(),
            r#"{"name":"a","x-custom":{"b":1,"a":2},"n":12345678901234567890123}"#
        );
        assert_eq!(cursor.as_deref(), Some("2"));
    }

    #[test]
    fn missing_field_is_a_clear_error() {
        let result = RawValue::from_string(r#"{"items":[]}"#.into()).unwrap();
        let error = parse_page(ListKind::Prompts, &result).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the backend sent an invalid response: the prompts/list result has no `prompts` array"
        );
    }

    #[test]
    fn declared_lists_follow_the_capabilities() {
        let raw =
            RawValue::from_string(r#"{"tools":{},"prompts":{"listChanged":true}}"#.into()).unwrap();
        let declared = DeclaredLists::from_capabilities(&raw);
        assert!(declared.tools && declared.prompts && !declared.resources);
    }
}
