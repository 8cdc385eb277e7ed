//! Runtime settings: the keys an administrator may override in the database (admin API or
//! console), and how stored overrides become the top layer of `load`.
//!
//! Only keys that a reload applies in place are allowed — rate limits, registration and dynamic
//! client registration. `auth.enforce_single_session` is left out on purpose: the identity service
//! reads it once at start (it is restart-only), so an override could never take effect.
//!
//! Overrides are laid over every other layer (file, dotenv, environment, flags) with the origin
//! [`DATABASE_SOURCE`] and then validated by the same code as the file, so a bad value is reported
//! exactly as the file's would be, naming the database as its source.

use std::collections::BTreeMap;

use config::ValueKind;

use super::env::Override;
use super::error::{ConfigError, ConfigReport};
use super::keys::{self, Kind};

/// The origin of a value that came from the `runtime_settings` table.
pub const DATABASE_SOURCE: &str = "database (runtime setting)";

/// One key an administrator may set at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeKey {
    /// The configuration key, e.g. `rate_limit.mcp_max`.
    pub key: &'static str,
    /// One line for the console and the API listing.
    pub description: &'static str,
}

const fn runtime(key: &'static str, description: &'static str) -> RuntimeKey {
    RuntimeKey { key, description }
}

/// The allow-list, in the order the console shows it.
pub const RUNTIME_KEYS: &[RuntimeKey] = &[
    runtime(
        "rate_limit.mcp_max",
        "Requests per user on /mcp per window (0 = no limit)",
    ),
    runtime(
        "rate_limit.mcp_window_s",
        "Window of the per-user /mcp limit, seconds",
    ),
    runtime(
        "rate_limit.tool_max",
        "Calls per user and tool per window (0 = no limit)",
    ),
    runtime(
        "rate_limit.tool_window_s",
        "Window of the per-tool limit, seconds",
    ),
    runtime(
        "rate_limit.login_max",
        "Sign-in attempts per client IP per window",
    ),
    runtime(
        "rate_limit.login_window_s",
        "Window of the sign-in limit, seconds",
    ),
    runtime(
        "rate_limit.token_max",
        "/oauth/token requests per client IP per window",
    ),
    runtime(
        "rate_limit.token_window_s",
        "Window of the token endpoint limit, seconds",
    ),
    runtime(
        "auth.allow_registration",
        "POST /auth/register is open to anyone",
    ),
    runtime(
        "oauth.dcr_enabled",
        "Dynamic client registration (POST /oauth/register) is on",
    ),
    runtime(
        "oauth.dcr_max_per_ip",
        "Client registrations per client IP per window",
    ),
    runtime(
        "oauth.dcr_window_s",
        "Window of the registration limit, seconds",
    ),
];

/// Whether `key` may be set at run time.
pub fn is_runtime_key(key: &str) -> bool {
    RUNTIME_KEYS.iter().any(|k| k.key == key)
}

/// Stored overrides → the loader's top layer. Keys outside the allow-list and values that are not
/// a plain number or boolean go to `report`; type and range checks are left to validation, which
/// words them like the file's.
pub(crate) fn overrides(
    runtime: &BTreeMap<String, serde_json::Value>,
    report: &mut ConfigReport,
) -> Vec<Override> {
    let mut out = Vec::new();
    for (key, value) in runtime {
        if !is_runtime_key(key) {
            report.push(ConfigError::new(
                DATABASE_SOURCE,
                key.as_str(),
                "not a runtime setting (it can only be set in the file or the environment)",
            ));
            continue;
        }
        match value_kind(value) {
            Some(kind) => out.push(Override {
                path: key.clone(),
                value: kind,
                source: DATABASE_SOURCE.to_string(),
            }),
            None => {
                let expected = match keys::find(key).map(|k| k.kind) {
                    Some(Kind::Bool) => "a boolean (true or false)",
                    _ => "a non-negative integer",
                };
                report.push(ConfigError::new(
                    DATABASE_SOURCE,
                    key.as_str(),
                    format!("expected {expected}, found {value}"),
                ));
            }
        }
    }
    out
}

/// A JSON scalar as the config crate holds it; `None` for anything a runtime key never takes.
fn value_kind(value: &serde_json::Value) -> Option<ValueKind> {
    match value {
        serde_json::Value::Bool(b) => Some(ValueKind::Boolean(*b)),
        // Negative numbers pass through so validation reports them with the key's range.
        serde_json::Value::Number(n) => n.as_i64().map(ValueKind::I64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_runtime_key_is_a_known_scalar_key() {
        for k in RUNTIME_KEYS {
            let key = keys::find(k.key).unwrap_or_else(|| panic!("{} is not a key", k.key));
            assert!(matches!(key.kind, Kind::Bool | Kind::UInt), "{}", k.key);
        }
    }

    #[test]
    fn unknown_keys_and_non_scalars_are_reported() {
        let mut report = ConfigReport::default();
        let runtime = BTreeMap::from([
            ("server.port".to_string(), serde_json::json!(1)),
            ("rate_limit.mcp_max".to_string(), serde_json::json!("5")),
            (
                "auth.allow_registration".to_string(),
                serde_json::json!(true),
            ),
        ]);
        let out = overrides(&runtime, &mut report);
        assert_eq!(out.len(), 1);
        assert!(report.mentions_key("server.port"));
        assert!(report.mentions_key("rate_limit.mcp_max"));
    }
}
