//! Where each effective value came from, recorded once per load from the merged tree's origins.
//!
//! Every value in the tree the `config` crate merges carries its origin string (set by `load`
//! for each layer), so the map costs one walk of the tree at load time and nothing afterwards.
//! Keys absent from the tree (derived ones such as `server.public_url`) count as defaults.

use std::collections::BTreeMap;

use config::{Map, Value, ValueKind};
use serde_json::json;

use super::load::{DEFAULTS_SOURCE, DOTENV_PREFIX, ENV_PREFIX};
use super::runtime::DATABASE_SOURCE;

/// One key's origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueSource {
    Default,
    /// The configuration file, by path.
    File(String),
    /// A process environment variable (the original's name or `AUTHMCP__…`).
    Env(String),
    /// A variable of the `--env-file` dotenv file: its name and the file.
    Dotenv {
        name: String,
        file: String,
    },
    /// A command-line flag such as `--port`.
    Flag(String),
    /// A runtime setting stored in the database.
    Database,
}

impl ValueSource {
    /// Classifies an origin string written by `load`.
    pub(crate) fn from_origin(origin: Option<&str>) -> ValueSource {
        let Some(origin) = origin else {
            return ValueSource::Default;
        };
        if origin == DEFAULTS_SOURCE {
            ValueSource::Default
        } else if origin == DATABASE_SOURCE {
            ValueSource::Database
        } else if let Some(name) = origin.strip_prefix(ENV_PREFIX) {
            ValueSource::Env(name.to_string())
        } else if let Some((name, file)) = origin
            .strip_prefix(DOTENV_PREFIX)
            .and_then(|rest| rest.split_once(" in "))
        {
            ValueSource::Dotenv {
                name: name.to_string(),
                file: file.to_string(),
            }
        } else if origin.starts_with("--") {
            ValueSource::Flag(origin.to_string())
        } else {
            ValueSource::File(origin.to_string())
        }
    }

    /// As the settings view shows it: `{"kind": "env", "name": "PORT"}` and the like.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            ValueSource::Default => json!({ "kind": "default" }),
            ValueSource::File(path) => json!({ "kind": "file", "path": path }),
            ValueSource::Env(name) => json!({ "kind": "env", "name": name }),
            ValueSource::Dotenv { name, file } => {
                json!({ "kind": ".env", "name": name, "path": file })
            }
            ValueSource::Flag(flag) => json!({ "kind": "flag", "name": flag }),
            ValueSource::Database => json!({ "kind": "database" }),
        }
    }
}

/// Dotted key → origin, for every leaf of the merged tree (a list counts as one leaf).
pub type ValueSources = BTreeMap<String, ValueSource>;

/// Walks the merged tree once.
pub(crate) fn collect(root: &Map<String, Value>) -> ValueSources {
    let mut out = ValueSources::new();
    walk("", root, &mut out);
    out
}

fn walk(prefix: &str, table: &Map<String, Value>, out: &mut ValueSources) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match &value.kind {
            ValueKind::Table(inner) => walk(&path, inner, out),
            _ => {
                out.insert(path, ValueSource::from_origin(value.origin()));
            }
        }
    }
}
