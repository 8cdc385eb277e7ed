//! Building the table and serving pages from it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::value::RawValue;

use super::template::UriTemplate;
use crate::mcp::json;

/// One backend's contribution, in configuration order (first wins on a name clash).
#[derive(Clone)]
pub struct Listing {
    pub backend: Arc<str>,
    pub tool_prefix: String,
    pub tools: Arc<[Box<RawValue>]>,
    pub prompts: Arc<[Box<RawValue>]>,
    pub resources: Arc<[Box<RawValue>]>,
    pub resource_templates: Arc<[Box<RawValue>]>,
}

/// Where a name or URI goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub backend: Arc<str>,
    /// The backend's own name for the item (the prefix stripped); URIs are unchanged.
    pub original: String,
    /// Whether a call may be repeated after a transport failure (tools only).
    pub retry: Retry,
}

/// What a transport failure allows, from the tool's annotations. Missing or unclear hints mean
/// never: a mutating call is not repeated blindly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Retry {
    #[default]
    Never,
    /// `readOnlyHint: true`: repeating cannot change anything.
    ReadOnly,
    /// `idempotentHint: true` (and not read-only): repeated with the same `idempotency_key`.
    Idempotent,
}

impl Retry {
    fn from_tool(item: &RawValue) -> Retry {
        let Some(annotations) = json::member(item, "annotations") else {
            return Retry::Never;
        };
        let flag = |key| json::member(annotations, key).map(RawValue::get) == Some("true");
        if flag("readOnlyHint") {
            Retry::ReadOnly
        } else if flag("idempotentHint") && !flag("destructiveHint") {
            Retry::Idempotent
        } else {
            Retry::Never
        }
    }
}

/// Two backends offering the same (prefixed) name or URI: the first configured wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Collision {
    pub kind: &'static str,
    pub name: String,
    pub winner: String,
    pub loser: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListKind {
    Tools,
    Prompts,
    Resources,
    ResourceTemplates,
}

impl ListKind {
    /// The notification telling clients this list changed (templates are part of resources).
    pub fn list_changed(self) -> &'static str {
        match self {
            ListKind::Tools => "notifications/tools/list_changed",
            ListKind::Prompts => "notifications/prompts/list_changed",
            ListKind::Resources | ListKind::ResourceTemplates => {
                "notifications/resources/list_changed"
            }
        }
    }

    /// The member holding the items in the list result.
    pub fn member(self) -> &'static str {
        match self {
            ListKind::Tools => "tools",
            ListKind::Prompts => "prompts",
            ListKind::Resources => "resources",
            ListKind::ResourceTemplates => "resourceTemplates",
        }
    }
}

/// Rendered items of one kind and the routes to them.
#[derive(Default)]
pub struct Catalog {
    pub(super) items: Vec<Box<RawValue>>,
    /// The client-visible name (or URI, URI template) of each item, in the same order.
    pub(super) keys: Vec<String>,
    routes: HashMap<String, Route>,
}

impl Catalog {
    /// A hash of every item's bytes, in order: equal fingerprints mean clients see the same list.
    pub fn fingerprint(&self) -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher =
            std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
                .build_hasher();
        for item in &self.items {
            hasher.write(item.get().as_bytes());
            hasher.write_u8(0);
        }
        hasher.finish()
    }

    pub fn route(&self, name: &str) -> Option<&Route> {
        self.routes.get(name)
    }

    /// The item at `index` with its client-visible key and backend.
    pub(super) fn entry(&self, index: usize) -> Option<(&str, &Route)> {
        let key = self.keys.get(index)?;
        Some((key, self.routes.get(key)?))
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[derive(Default)]
pub struct RoutingTable {
    pub tools: Catalog,
    pub prompts: Catalog,
    pub resources: Catalog,
    pub resource_templates: Catalog,
    templates: Vec<(UriTemplate, Route)>,
    pub collisions: Vec<Collision>,
    /// Rendered pages of this table, by (kind, start, page size).
    pages: Mutex<HashMap<(ListKind, usize, usize), Bytes>>,
    /// What each backend offered, kept for one-backend tables (`/mcp/{server}` with a partial
    /// grant, see `view.rs`).
    pub(super) listings: Vec<Listing>,
    pub(super) single: Mutex<HashMap<String, Arc<RoutingTable>>>,
    /// The last-known items of enabled backends that are not running (offline, restarting):
    /// published in the same table so that a request sees them and the live items of one
    /// moment, never a backend in neither.
    not_running: Option<Arc<RoutingTable>>,
}

impl RoutingTable {
    /// This table, with the items of the backends that are not running beside it.
    pub fn with_not_running(mut self, not_running: RoutingTable) -> RoutingTable {
        self.not_running = Some(Arc::new(not_running));
        self
    }

    /// The items of the enabled backends that are not running, if any were set.
    pub fn not_running(&self) -> Option<&RoutingTable> {
        self.not_running.as_deref()
    }

    pub fn build(listings: &[Listing]) -> RoutingTable {
        let mut table = RoutingTable::default();
        for listing in listings {
            let prefix = listing.tool_prefix.as_str();
            for item in listing.tools.iter() {
                add_named(
                    &mut table.tools,
                    &mut table.collisions,
                    "tool",
                    item,
                    prefix,
                    &listing.backend,
                );
            }
            for item in listing.prompts.iter() {
                add_named(
                    &mut table.prompts,
                    &mut table.collisions,
                    "prompt",
                    item,
                    prefix,
                    &listing.backend,
                );
            }
            for item in listing.resources.iter() {
                add_keyed(
                    &mut table.resources,
                    &mut table.collisions,
                    "resource",
                    "uri",
                    item,
                    &listing.backend,
                );
            }
            for item in listing.resource_templates.iter() {
                let key = "uriTemplate";
                if add_keyed(
                    &mut table.resource_templates,
                    &mut table.collisions,
                    "resource template",
                    key,
                    item,
                    &listing.backend,
                ) && let Some(template) = json::member(item, key)
                    .and_then(json::as_str)
                    .and_then(|t| UriTemplate::parse(&t))
                {
                    let route = Route {
                        backend: listing.backend.clone(),
                        original: String::new(),
                        retry: Retry::Never,
                    };
                    table.templates.push((template, route));
                }
            }
        }
        table.listings = listings.to_vec();
        table
    }

    /// The kinds whose lists differ between `self` and `other` (what clients must be told).
    pub fn changed_lists(&self, other: &RoutingTable) -> Vec<ListKind> {
        [
            ListKind::Tools,
            ListKind::Prompts,
            ListKind::Resources,
            ListKind::ResourceTemplates,
        ]
        .into_iter()
        .filter(|&kind| self.catalog(kind).fingerprint() != other.catalog(kind).fingerprint())
        .collect()
    }

    pub(super) fn catalog(&self, kind: ListKind) -> &Catalog {
        match kind {
            ListKind::Tools => &self.tools,
            ListKind::Prompts => &self.prompts,
            ListKind::Resources => &self.resources,
            ListKind::ResourceTemplates => &self.resource_templates,
        }
    }

    /// The backend serving `uri`: an exact resource first, then the first matching template.
    pub fn route_uri(&self, uri: &str) -> Option<Route> {
        if let Some(route) = self.resources.route(uri) {
            return Some(route.clone());
        }
        self.templates
            .iter()
            .find(|(t, _)| t.matches(uri))
            .map(|(_, r)| Route {
                backend: r.backend.clone(),
                original: uri.to_string(),
                retry: Retry::Never,
            })
    }

    /// A list result page: `{"<member>":[…],"nextCursor":"…"}`. `None` cursor = first page.
    /// Rendered once per table and page, then shared: a large list costs no copy per request.
    pub fn page(
        &self,
        kind: ListKind,
        cursor: Option<&str>,
        page_size: usize,
    ) -> Result<Bytes, BadCursor> {
        let items = &self.catalog(kind).items;
        let start = start_of(cursor, items.len())?;
        let key = (kind, start, page_size);
        let mut pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(page) = pages.get(&key) {
            return Ok(page.clone());
        }
        let page = Bytes::from(self.render(kind, start, page_size));
        // Bounded: a client walking odd cursors cannot grow this without limit.
        if pages.len() < 256 {
            pages.insert(key, page.clone());
        }
        Ok(page)
    }

    fn render(&self, kind: ListKind, start: usize, page_size: usize) -> String {
        let items = &self.catalog(kind).items;
        render_page(kind, items.len(), start, page_size, |i| &items[i])
    }
}

/// `{"<member>":[items start..start+page_size],"nextCursor":…}` over `total` items.
pub(super) fn render_page<'a>(
    kind: ListKind,
    total: usize,
    start: usize,
    page_size: usize,
    item: impl Fn(usize) -> &'a RawValue,
) -> String {
    let end = (start + page_size.max(1)).min(total);
    let mut out =
        String::with_capacity(32 + (start..end).map(|i| item(i).get().len() + 1).sum::<usize>());
    out.push_str("{\"");
    out.push_str(kind.member());
    out.push_str("\":[");
    for i in start..end {
        if i > start {
            out.push(',');
        }
        out.push_str(item(i).get());
    }
    out.push(']');
    if end < total {
        out.push_str(",\"nextCursor\":\"");
        out.push_str(&encode_cursor(end));
        out.push('"');
    }
    out.push('}');
    out
}

/// A cursor this gateway did not mint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadCursor;

/// Where the page a cursor asks for starts in a list of `len` items. A cursor past the end is
/// one minted before the list shrank (a backend went offline while a client paged): it gets
/// the empty last page rather than an error, and the `list_changed` notification that follows
/// the change sends the client back to the start.
pub(super) fn start_of(cursor: Option<&str>, len: usize) -> Result<usize, BadCursor> {
    match cursor {
        None => Ok(0),
        Some(c) => decode_cursor(c).map(|o| o.min(len)).ok_or(BadCursor),
    }
}

pub(super) fn encode_cursor(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("o:{offset}"))
}

pub(super) fn decode_cursor(cursor: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    std::str::from_utf8(&bytes)
        .ok()?
        .strip_prefix("o:")?
        .parse()
        .ok()
}

/// Adds a tool or prompt under `<prefix><name>`, rewriting its `name` member.
fn add_named(
    catalog: &mut Catalog,
    collisions: &mut Vec<Collision>,
    kind: &'static str,
    item: &RawValue,
    prefix: &str,
    backend: &Arc<str>,
) {
    let Some(original) = json::member(item, "name").and_then(json::as_str) else {
        return; // A nameless item cannot be called; leave it out rather than guess.
    };
    let public = format!("{prefix}{original}");
    if let Some(existing) = catalog.routes.get(&public) {
        collisions.push(Collision {
            kind,
            name: public,
            winner: existing.backend.to_string(),
            loser: backend.to_string(),
        });
        return;
    }
    let rendered = if prefix.is_empty() {
        Some(item.to_owned())
    } else {
        serde_json::to_string(&public)
            .ok()
            .and_then(|name| json::with_member(item, "name", &name).ok())
            .and_then(|s| RawValue::from_string(s).ok())
    };
    if let Some(rendered) = rendered {
        catalog.items.push(rendered);
        catalog.keys.push(public.clone());
        catalog.routes.insert(
            public,
            Route {
                backend: backend.clone(),
                original: original.into_owned(),
                retry: if kind == "tool" {
                    Retry::from_tool(item)
                } else {
                    Retry::Never
                },
            },
        );
    }
}

/// Adds a resource or template keyed by its URI (unprefixed: URIs are global). Returns whether added.
fn add_keyed(
    catalog: &mut Catalog,
    collisions: &mut Vec<Collision>,
    kind: &'static str,
    key: &str,
    item: &RawValue,
    backend: &Arc<str>,
) -> bool {
    let Some(uri) = json::member(item, key).and_then(json::as_str) else {
        return false;
    };
    if let Some(existing) = catalog.routes.get(uri.as_ref()) {
        collisions.push(Collision {
            kind,
            name: uri.into_owned(),
            winner: existing.backend.to_string(),
            loser: backend.to_string(),
        });
        return false;
    }
    catalog.items.push(item.to_owned());
    catalog.keys.push(uri.to_string());
    catalog.routes.insert(
        uri.to_string(),
        Route {
            backend: backend.clone(),
            original: uri.into_owned(),
            retry: Retry::Never,
        },
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raws(items: &[&str]) -> Arc<[Box<RawValue>]> {
        items
            .iter()
            .map(|s| RawValue::from_string(s.to_string()).unwrap())
            .collect()
    }

    fn listing(name: &str, prefix: &str, tools: &[&str]) -> Listing {
        Listing {
            backend: Arc::from(name),
            tool_prefix: prefix.into(),
            tools: raws(tools),
            prompts: raws(&[]),
            resources: raws(&[]),
            resource_templates: raws(&[]),
        }
    }

    #[test]
    fn tools_are_prefixed_with_every_other_field_untouched() {
        let a = listing(
            "a",
            "a_",
            &[
                r#"{"name":"echo","title":"Echo","x-custom":{"b":1,"a":2},"inputSchema":{"type":"object"}}"#,
            ],
        );
        let table = RoutingTable::build(&[a]);
        let page = table.page(ListKind::Tools, None, 10).unwrap();
        assert_eq!(
            page,
            r#"{"tools":[{"name":"a_echo","title":"Echo","x-custom":{"b":1,"a":2},"inputSchema":{"type":"object"}}]}"#
        );
        let route = table.tools.route("a_echo").unwrap();
        assert_eq!((&*route.backend, route.original.as_str()), ("a", "echo"));
    }

    #[test]
    fn a_name_clash_goes_to_the_first_backend_and_is_recorded() {
        let first = listing("one", "", &[r#"{"name":"echo"}"#]);
        let second = listing("two", "", &[r#"{"name":"echo"}"#, r#"{"name":"add"}"#]);
        let table = RoutingTable::build(&[first, second]);
        assert_eq!(&*table.tools.route("echo").unwrap().backend, "one");
        assert_eq!(&*table.tools.route("add").unwrap().backend, "two");
        assert_eq!(
            table.collisions,
            vec![Collision {
                kind: "tool",
                name: "echo".into(),
                winner: "one".into(),
                loser: "two".into()
            }]
        );
    }

    #[test]
    fn pages_walk_the_whole_list_and_foreign_cursors_are_refused() {
        let tools: Vec<String> = (0..5).map(|i| format!(r#"{{"name":"t{i}"}}"#)).collect();
        let refs: Vec<&str> = tools.iter().map(String::as_str).collect();
        let table = RoutingTable::build(&[listing("b", "", &refs)]);
        let mut cursor: Option<String> = None;
        let mut seen = Vec::new();
        loop {
            let page: serde_json::Value =
                serde_json::from_slice(&table.page(ListKind::Tools, cursor.as_deref(), 2).unwrap())
                    .unwrap();
            seen.extend(
                page["tools"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["name"].as_str().unwrap().to_string()),
            );
            match page.get("nextCursor") {
                Some(c) => cursor = Some(c.as_str().unwrap().to_string()),
                None => break,
            }
        }
        assert_eq!(seen, ["t0", "t1", "t2", "t3", "t4"]);
        assert_eq!(
            table.page(ListKind::Tools, Some("garbage!"), 2),
            Err(BadCursor)
        );
        // Minted before the list shrank: the empty last page, not an error.
        let past_the_end = table.page(ListKind::Tools, Some(&encode_cursor(99)), 2);
        assert_eq!(past_the_end.unwrap(), &br#"{"tools":[]}"#[..]);
    }

    #[test]
    fn uris_route_exactly_then_by_template() {
        let mut l = listing("files", "f_", &[]);
        l.resources = raws(&[r#"{"uri":"fixture://static","name":"s"}"#]);
        l.resource_templates = raws(&[r#"{"uriTemplate":"fixture://item/{id}","name":"item"}"#]);
        let table = RoutingTable::build(&[l]);
        assert_eq!(
            &*table.route_uri("fixture://static").unwrap().backend,
            "files"
        );
        assert_eq!(
            table.route_uri("fixture://item/9").unwrap().original,
            "fixture://item/9"
        );
        assert!(table.route_uri("other://x").is_none());
        let page = table.page(ListKind::ResourceTemplates, None, 10).unwrap();
        assert!(page.starts_with(br#"{"resourceTemplates":[{"uriTemplate""#));
    }

    #[test]
    fn retry_policy_follows_tool_annotations() {
        let l = listing(
            "b",
            "",
            &[
                r#"{"name":"read","annotations":{"readOnlyHint":true}}"#,
                r#"{"name":"put","annotations":{"idempotentHint":true}}"#,
                r#"{"name":"wipe","annotations":{"idempotentHint":true,"destructiveHint":true}}"#,
                r#"{"name":"plain"}"#,
            ],
        );
        let table = RoutingTable::build(&[l]);
        let retry = |n: &str| table.tools.route(n).unwrap().retry;
        assert_eq!(retry("read"), Retry::ReadOnly);
        assert_eq!(retry("put"), Retry::Idempotent);
        assert_eq!(retry("wipe"), Retry::Never);
        assert_eq!(retry("plain"), Retry::Never);
    }
}
