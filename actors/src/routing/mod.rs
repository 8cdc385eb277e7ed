//! The routing table of the aggregated `/mcp`: which backend owns each tool, prompt, resource
//! and resource template, and the merged lists, already rendered with prefixed names.
//!
//! Built off the request path whenever a backend's capabilities or its online state change, and
//! published as one immutable snapshot; `tools/list` is then a slice of ready-made JSON and
//! `tools/call` one hash lookup. Users whose policy grants only part of it get a
//! [`FilteredView`] of the same table.

mod table;
mod template;
mod view;

pub use table::{BadCursor, Catalog, Collision, ListKind, Listing, Retry, Route, RoutingTable};
pub use template::UriTemplate;
pub use view::FilteredView;
