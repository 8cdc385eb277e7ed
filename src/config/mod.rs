//! Configuration: layered raw sources → validated [`GatewayConfig`] → diff on reload.
//!
//! Layers, lowest first: built-in defaults, the TOML file (`config/authmcp-gateway.toml` when it
//! exists, or `--config`), the `--env-file` dotenv file, the process environment (the original
//! gateway's variable names and `AUTHMCP__SECTION__KEY`), then command-line flags, then the
//! runtime settings an administrator stored in the database (`runtime`, an allow-list). `load` reports
//! every problem at once, each with its source and key; `restart_only_changes` tells a reload what
//! it must refuse.
//!
//! Module map: `keys` (the scalar key table and defaults), `sources` (CLI inputs), `dotenv`,
//! `env` (variables → overrides), `load` (merging with the `config` crate), `validate` and
//! `backends`, `policies` and `external_issuers` (tree → model), `reader` (typed, unknown-key-aware table access), `checks` (value
//! rules), `paths`, `diff`, `runtime` (the database layer's allow-list), `value_sources` (each key's origin),
//! `console` (`[console]`).

mod auth;
mod backend_auth;
mod backends;
mod checks;
mod console;
mod diff;
mod dotenv;
mod env;
mod error;
pub(crate) mod external_issuers;
pub(crate) mod keys;
mod load;
mod metrics;
mod model;
mod paths;
mod policies;
mod rate_limits;
mod reader;
mod runtime;
mod sources;
mod validate;
mod value_sources;
mod view;

#[cfg(test)]
mod tests;

use std::collections::HashMap;

pub use console::ConsoleConfig;
pub use diff::restart_only_changes;
pub use error::{ConfigError, ConfigReport};
pub use model::*;
pub use runtime::{DATABASE_SOURCE, RUNTIME_KEYS, RuntimeKey, is_runtime_key};
pub use sources::{DEFAULT_CONFIG_FILE, Sources};
pub use value_sources::{ValueSource, ValueSources};
pub use view::{MASK, settings_view};

/// Loads and validates the configuration, reading the process environment.
pub fn load(sources: &Sources) -> Result<GatewayConfig, ConfigReport> {
    let env: HashMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    load_with_env(sources, &env)
}

/// Loads and validates the configuration with `env` standing in for the process environment.
pub fn load_with_env(
    sources: &Sources,
    env: &HashMap<String, String>,
) -> Result<GatewayConfig, ConfigReport> {
    let cwd = std::env::current_dir().map_err(|error| ConfigReport {
        errors: vec![ConfigError::new(
            "working directory",
            "",
            format!("cannot determine the current directory: {error}"),
        )],
    })?;
    load::load_in(sources, env, &cwd)
}

/// Like [`load_with_env`], resolving relative paths (and finding the default file) in `cwd`
/// instead of the process's working directory.
pub fn load_in_dir(
    sources: &Sources,
    env: &HashMap<String, String>,
    cwd: &std::path::Path,
) -> Result<GatewayConfig, ConfigReport> {
    load::load_in(sources, env, cwd)
}
