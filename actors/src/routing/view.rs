//! What one user may see of a routing table: a [`FilteredView`] keeps the indices of the items
//! a predicate (the user's policy grants) allows, and serves pages of them with the same
//! cursors and rendering as the full table. Views are built off the hot path once per user and
//! table (the endpoint caches them) and render each page once.
//!
//! Also one-backend tables: the items of a single backend under their own names, for
//! `/mcp/{server}` when a user may use only part of that backend.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::table::{BadCursor, ListKind, Listing, RoutingTable, render_page, start_of};

const KINDS: [ListKind; 4] = [
    ListKind::Tools,
    ListKind::Prompts,
    ListKind::Resources,
    ListKind::ResourceTemplates,
];

fn slot(kind: ListKind) -> usize {
    match kind {
        ListKind::Tools => 0,
        ListKind::Prompts => 1,
        ListKind::Resources => 2,
        ListKind::ResourceTemplates => 3,
    }
}

/// The allowed items of one table, by index into its catalogs.
pub struct FilteredView {
    kept: [Vec<usize>; 4],
    pages: Mutex<HashMap<(ListKind, usize, usize), Bytes>>,
}

impl FilteredView {
    pub fn len(&self, kind: ListKind) -> usize {
        self.kept[slot(kind)].len()
    }

    /// Equal fingerprints (over views of the same table) mean the user sees the same list.
    pub fn fingerprint(&self, kind: ListKind) -> u64 {
        let mut hasher =
            std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
                .build_hasher();
        for index in &self.kept[slot(kind)] {
            hasher.write_usize(*index);
        }
        hasher.write_usize(self.kept[slot(kind)].len());
        hasher.finish()
    }
}

impl RoutingTable {
    /// The items `allow(kind, backend, key)` accepts; `key` is the client-visible name of a
    /// tool or prompt, the URI of a resource, the URI template of a template.
    pub fn filtered(&self, mut allow: impl FnMut(ListKind, &str, &str) -> bool) -> FilteredView {
        let kept = KINDS.map(|kind| {
            let catalog = self.catalog(kind);
            (0..catalog.len())
                .filter(|&i| {
                    catalog
                        .entry(i)
                        .is_some_and(|(key, route)| allow(kind, &route.backend, key))
                })
                .collect()
        });
        FilteredView {
            kept,
            pages: Mutex::new(HashMap::new()),
        }
    }

    /// A page of `view` (which must come from this table); cursors are offsets into the view,
    /// so they stay consistent for its user while the view does.
    pub fn filtered_page(
        &self,
        view: &FilteredView,
        kind: ListKind,
        cursor: Option<&str>,
        page_size: usize,
    ) -> Result<Bytes, BadCursor> {
        let kept = &view.kept[slot(kind)];
        let start = start_of(cursor, kept.len())?;
        let key = (kind, start, page_size);
        let mut pages = view.pages.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(page) = pages.get(&key) {
            return Ok(page.clone());
        }
        let items = &self.catalog(kind).items;
        let page = Bytes::from(render_page(kind, kept.len(), start, page_size, |i| {
            &items[kept[i]]
        }));
        if pages.len() < 64 {
            pages.insert(key, page.clone());
        }
        Ok(page)
    }

    /// `backend`'s items alone under the backend's own names (prefix stripped), with the
    /// prefix its names carry on the aggregated endpoint (policies name tools with it). `None`
    /// when the backend is not in this table (offline, unknown). Built once per table.
    pub fn backend_table(&self, backend: &str) -> Option<(Arc<RoutingTable>, String)> {
        let listing = self.listings.iter().find(|l| &*l.backend == backend)?;
        let mut single = self.single.lock().unwrap_or_else(|e| e.into_inner());
        let table = single
            .entry(backend.to_string())
            .or_insert_with(|| {
                Arc::new(RoutingTable::build(&[Listing {
                    tool_prefix: String::new(),
                    ..listing.clone()
                }]))
            })
            .clone();
        Some((table, listing.tool_prefix.clone()))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;

    use super::*;

    fn raws(items: &[String]) -> Arc<[Box<RawValue>]> {
        items
            .iter()
            .map(|s| RawValue::from_string(s.clone()).unwrap())
            .collect()
    }

    fn table() -> RoutingTable {
        let tools: Vec<String> = (0..6).map(|i| format!(r#"{{"name":"t{i}"}}"#)).collect();
        let listing = |name: &str| Listing {
            backend: Arc::from(name),
            tool_prefix: format!("{name}_"),
            tools: raws(&tools),
            prompts: raws(&[]),
            resources: raws(&[format!(r#"{{"uri":"{name}://r","name":"r"}}"#)]),
            resource_templates: raws(&[]),
        };
        RoutingTable::build(&[listing("a"), listing("b")])
    }

    fn names(page: &Bytes, member: &str) -> (Vec<String>, Option<String>) {
        let page: serde_json::Value = serde_json::from_slice(page).unwrap();
        let names = page[member]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect();
        (names, page["nextCursor"].as_str().map(str::to_string))
    }

    #[test]
    fn a_view_pages_through_only_the_allowed_items() {
        let table = table();
        let view = table.filtered(|kind, backend, key| {
            kind == ListKind::Tools && (backend == "b" || key.ends_with(['0', '2']))
        });
        assert_eq!(view.len(ListKind::Tools), 8);
        assert_eq!(view.len(ListKind::Resources), 0);
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = table
                .filtered_page(&view, ListKind::Tools, cursor.as_deref(), 3)
                .unwrap();
            let (names, next) = names(&page, "tools");
            seen.extend(names);
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(
            seen,
            [
                "a_t0", "a_t2", "b_t0", "b_t1", "b_t2", "b_t3", "b_t4", "b_t5"
            ]
        );
        assert_eq!(
            table.filtered_page(&view, ListKind::Tools, Some("bogus"), 3),
            Err(BadCursor)
        );
        // Minted before the user's view shrank: the empty last page.
        let past_the_end = super::super::table::encode_cursor(9);
        let last = table
            .filtered_page(&view, ListKind::Tools, Some(&past_the_end), 3)
            .unwrap();
        assert_eq!(&last[..], br#"{"tools":[]}"#);
        let empty = table
            .filtered_page(&view, ListKind::Resources, None, 3)
            .unwrap();
        assert_eq!(&empty[..], br#"{"resources":[]}"#);
    }

    #[test]
    fn fingerprints_follow_what_the_user_sees() {
        let table = table();
        let all = table.filtered(|_, _, _| true);
        let also_all = table.filtered(|_, _, _| true);
        let some = table.filtered(|_, backend, _| backend == "a");
        assert_eq!(
            all.fingerprint(ListKind::Tools),
            also_all.fingerprint(ListKind::Tools)
        );
        assert_ne!(
            all.fingerprint(ListKind::Tools),
            some.fingerprint(ListKind::Tools)
        );
    }

    #[test]
    fn a_backend_table_has_raw_names_and_knows_the_prefix() {
        let table = table();
        let (single, prefix) = table.backend_table("b").unwrap();
        assert_eq!(prefix, "b_");
        assert_eq!(single.tools.route("t3").unwrap().original, "t3");
        assert!(single.tools.route("b_t3").is_none());
        assert!(single.route_uri("b://r").is_some());
        assert!(single.route_uri("a://r").is_none());
        assert!(table.backend_table("nope").is_none());
        let again = table.backend_table("b").unwrap().0;
        assert!(Arc::ptr_eq(&single, &again), "built once per table");
    }
}
