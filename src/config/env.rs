//! Environment variables (real or from `--env-file`) → configuration overrides.
//!
//! Two naming schemes: the original gateway's variable names (`PORT`, `JWT_SECRET_KEY`, …), so its
//! users can switch without renaming, and `AUTHMCP__SECTION__KEY` for every scalar key. Within one
//! layer the `AUTHMCP__` form wins, being the more specific. An empty value counts as unset, as in
//! the original (`FOO=` in a compose file must not blank a setting).

use std::collections::BTreeMap;
use std::path::Path;

use super::error::{ConfigError, ConfigReport};
use super::keys::{self, Kind};
use super::paths::sqlite_url_for;

/// One value to lay over the file, with a description of where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Override {
    pub path: String,
    pub value: config::ValueKind,
    pub source: String,
}

/// How an original variable's text becomes the value of our key.
#[derive(Debug, Clone, Copy)]
enum Conversion {
    /// Parsed as the key's own kind.
    AsIs,
    MinutesToSeconds,
    DaysToSeconds,
    /// A SQLite file path, which becomes `sqlite://<absolute path>`.
    SqlitePath,
}

struct SeedVar {
    name: &'static str,
    path: &'static str,
    conversion: Conversion,
}

const fn seed(name: &'static str, path: &'static str, conversion: Conversion) -> SeedVar {
    SeedVar {
        name,
        path,
        conversion,
    }
}

/// The original's variables that mean something here, in application order (so `DATABASE_URL`
/// beats `AUTH_SQLITE_PATH` when both are set).
const SEED_VARS: &[SeedVar] = &[
    seed("HOST", "server.host", Conversion::AsIs),
    seed("PORT", "server.port", Conversion::AsIs),
    seed("MCP_PUBLIC_URL", "server.public_url", Conversion::AsIs),
    seed(
        "TRUSTED_PROXIES",
        "server.trusted_proxies",
        Conversion::AsIs,
    ),
    seed("AUTH_SQLITE_PATH", "database.url", Conversion::SqlitePath),
    seed("DATABASE_URL", "database.url", Conversion::AsIs),
    seed("AUTH_REQUIRED", "auth.required", Conversion::AsIs),
    seed("JWT_SECRET_KEY", "auth.jwt_secret", Conversion::AsIs),
    seed("JWT_ALGORITHM", "auth.jwt_algorithm", Conversion::AsIs),
    seed(
        "JWT_ENFORCE_SINGLE_SESSION",
        "auth.enforce_single_session",
        Conversion::AsIs,
    ),
    seed(
        "ALLOW_REGISTRATION",
        "auth.allow_registration",
        Conversion::AsIs,
    ),
    seed(
        "STATIC_BEARER_TOKENS",
        "auth.static_bearer_tokens",
        Conversion::AsIs,
    ),
    seed(
        "JWT_ACCESS_TOKEN_EXPIRE_MINUTES",
        "auth.access_token_ttl_s",
        Conversion::MinutesToSeconds,
    ),
    seed(
        "JWT_REFRESH_TOKEN_EXPIRE_DAYS",
        "auth.refresh_token_ttl_s",
        Conversion::DaysToSeconds,
    ),
    seed(
        "PASSWORD_MIN_LENGTH",
        "auth.password_policy.min_length",
        Conversion::AsIs,
    ),
    seed(
        "PASSWORD_REQUIRE_UPPERCASE",
        "auth.password_policy.require_uppercase",
        Conversion::AsIs,
    ),
    seed(
        "PASSWORD_REQUIRE_LOWERCASE",
        "auth.password_policy.require_lowercase",
        Conversion::AsIs,
    ),
    seed(
        "PASSWORD_REQUIRE_DIGIT",
        "auth.password_policy.require_digit",
        Conversion::AsIs,
    ),
    seed(
        "PASSWORD_REQUIRE_SPECIAL",
        "auth.password_policy.require_special",
        Conversion::AsIs,
    ),
    seed(
        "RATE_LIMIT_LOGIN_MAX",
        "rate_limit.login_max",
        Conversion::AsIs,
    ),
    seed(
        "RATE_LIMIT_LOGIN_WINDOW",
        "rate_limit.login_window_s",
        Conversion::AsIs,
    ),
    seed("RATE_LIMIT_MCP_MAX", "rate_limit.mcp_max", Conversion::AsIs),
    seed(
        "RATE_LIMIT_MCP_WINDOW",
        "rate_limit.mcp_window_s",
        Conversion::AsIs,
    ),
    seed(
        "MCP_LOG_DB_DAYS_TO_KEEP",
        "audit.retention_days",
        Conversion::AsIs,
    ),
    seed("MCP_LOG_DB_MAX_ROWS", "audit.max_rows", Conversion::AsIs),
    seed("LOG_LEVEL", "logging.level", Conversion::AsIs),
];

const PREFIX: &str = "authmcp__";

/// Turns one layer of variables into overrides; bad values go to `report`.
///
/// `describe` names a variable's origin, e.g. `environment variable PORT`.
pub(crate) fn overrides_from_vars(
    vars: &BTreeMap<String, String>,
    describe: &dyn Fn(&str) -> String,
    cwd: &Path,
    report: &mut ConfigReport,
) -> Vec<Override> {
    let mut overrides = Vec::new();
    let lookup = |name: &str| vars.get(name).filter(|v| !v.is_empty()).cloned();

    for var in SEED_VARS {
        let Some(text) = lookup(var.name) else {
            continue;
        };
        let source = describe(var.name);
        match convert_seed(var, &text, cwd) {
            Ok(value) => overrides.push(Override {
                path: var.path.to_string(),
                value,
                source,
            }),
            Err(message) => report.push(ConfigError::new(source, var.path, message)),
        }
    }
    // BTreeMap order keeps the outcome stable when two spellings of one key are both set.
    let prefixed = vars
        .iter()
        .filter(|(k, v)| k.to_ascii_lowercase().starts_with(PREFIX) && !v.is_empty());
    for (name, text) in prefixed {
        let source = describe(name);
        let path = name.to_ascii_lowercase()[PREFIX.len()..].replace("__", ".");
        match keys::find(&path) {
            Some(key) => match keys::parse_env_value(key.kind, text) {
                Ok(value) => overrides.push(Override {
                    path,
                    value,
                    source,
                }),
                Err(message) => report.push(ConfigError::new(source, path, message)),
            },
            None if path == "backends" || path.starts_with("backends.") => {
                report.push(ConfigError::new(
                    source,
                    path,
                    "backends can only be declared as [[backends]] tables in the configuration file",
                ))
            }
            None => report.push(ConfigError::new(source, path, "unknown configuration key")),
        }
    }
    overrides
}

fn convert_seed(var: &SeedVar, text: &str, cwd: &Path) -> Result<config::ValueKind, String> {
    let kind = keys::find(var.path).map_or(Kind::Str, |k| k.kind);
    let scale = |factor: u64| -> Result<config::ValueKind, String> {
        match keys::parse_env_value(Kind::UInt, text)? {
            config::ValueKind::I64(n) => Ok(config::ValueKind::I64(
                (n as u64).saturating_mul(factor).min(i64::MAX as u64) as i64,
            )),
            other => Ok(other),
        }
    };
    match var.conversion {
        Conversion::AsIs => keys::parse_env_value(kind, text),
        Conversion::MinutesToSeconds => scale(60),
        Conversion::DaysToSeconds => scale(24 * 3600),
        Conversion::SqlitePath => Ok(config::ValueKind::String(sqlite_url_for(
            cwd,
            Path::new(text.trim()),
        ))),
    }
}
