//! Authorization policy: which backends, tools, prompts and resources each user may use.
//!
//! - `rule`: a policy as written (config file `[[policies]]` or admin API) and the checks both
//!   sources share.
//! - `glob`: the `*` / `?` patterns rules use for names and URIs.
//! - `engine`: the compiled [`PolicySnapshot`] and one subject's [`Grants`] — pure, no I/O.
//! - `service`: [`PolicyService`], which owns the snapshot (rebuilt on change, SIGHUP and
//!   another process's change) and every write to policies and groups.
//!
//! The request path reads the snapshot (an `ArcSwap` load) and never waits on the database.

mod engine;
mod glob;
mod rule;
mod service;

pub use engine::{BackendAccess, DefaultPolicy, Grants, ItemKind, PolicySnapshot, Subject};
pub use glob::Glob;
pub use rule::{
    Effect, MAX_DESCRIPTION_LEN, MAX_GROUP_NAME_LEN, MAX_PATTERN_LEN, MAX_PATTERNS, PolicyRule,
    PolicySubject, check_description, check_group_name, check_pattern, check_patterns,
};
pub use service::{FilePolicies, PolicyChange, PolicyEntry, PolicyError, PolicyId, PolicyService};
