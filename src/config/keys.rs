//! The table of every scalar configuration key: its path, its type and its built-in default.
//!
//! One table feeds three things that must never disagree: the defaults layer, the parsing of
//! `AUTHMCP__SECTION__KEY` variables, and the test that the shipped file documents every key.
//! `[[backends]]`, `[[policies]]` and `[[auth.external_issuers]]` are not here: they are tables in a list and only come from
//! the file.

/// What type a key's value has; used to parse environment strings and to word type errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Str,
    Bool,
    /// A non-negative integer.
    UInt,
    /// A list of strings (comma-separated in environment variables).
    StrList,
}

/// A key's built-in value; `None` in [`ScalarKey::default`] means unset (derived or optional).
#[derive(Debug, Clone, Copy)]
pub(crate) enum BuiltIn {
    Str(&'static str),
    Bool(bool),
    UInt(u64),
    StrList(&'static [&'static str]),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct ScalarKey {
    /// Dotted path, lower case, e.g. `server.port`.
    pub path: &'static str,
    pub kind: Kind,
    pub default: Option<BuiltIn>,
}

const fn key(path: &'static str, kind: Kind, default: Option<BuiltIn>) -> ScalarKey {
    ScalarKey {
        path,
        kind,
        default,
    }
}

pub(crate) const MIB: u64 = 1024 * 1024;

pub(crate) const SCALAR_KEYS: &[ScalarKey] = &[
    key("server.host", Kind::Str, Some(BuiltIn::Str("0.0.0.0"))),
    key("server.port", Kind::UInt, Some(BuiltIn::UInt(8000))),
    // Unset means `http://localhost:<port>`, computed after every layer is applied.
    key("server.public_url", Kind::Str, None),
    key(
        "server.trusted_proxies",
        Kind::StrList,
        Some(BuiltIn::StrList(&[])),
    ),
    key(
        "server.drain_timeout_ms",
        Kind::UInt,
        Some(BuiltIn::UInt(5000)),
    ),
    key(
        "server.max_body_bytes",
        Kind::UInt,
        Some(BuiltIn::UInt(4 * MIB)),
    ),
    key("server.workers", Kind::UInt, Some(BuiltIn::UInt(0))),
    key("data_dir", Kind::Str, Some(BuiltIn::Str("./data"))),
    // Unset means `sqlite://<data_dir>/authmcp.db`.
    key("database.url", Kind::Str, None),
    key("database.pool_size", Kind::UInt, Some(BuiltIn::UInt(8))),
    key("auth.required", Kind::Bool, Some(BuiltIn::Bool(true))),
    // Unset means generated once into `<data_dir>/jwt-secret`.
    key("auth.jwt_secret", Kind::Str, None),
    key(
        "auth.access_token_ttl_s",
        Kind::UInt,
        Some(BuiltIn::UInt(30 * 60)),
    ),
    key(
        "auth.refresh_token_ttl_s",
        Kind::UInt,
        Some(BuiltIn::UInt(7 * 24 * 3600)),
    ),
    key("auth.jwt_algorithm", Kind::Str, Some(BuiltIn::Str("HS256"))),
    // Required for RS256/ES256; unused with HS256.
    key("auth.jwt_private_key_file", Kind::Str, None),
    key(
        "auth.jwt_previous_key_files",
        Kind::StrList,
        Some(BuiltIn::StrList(&[])),
    ),
    key(
        "auth.refresh_reuse_grace_s",
        Kind::UInt,
        Some(BuiltIn::UInt(10)),
    ),
    key(
        "auth.allow_registration",
        Kind::Bool,
        Some(BuiltIn::Bool(false)),
    ),
    key(
        "auth.enforce_single_session",
        Kind::Bool,
        Some(BuiltIn::Bool(false)),
    ),
    key(
        "auth.static_bearer_tokens",
        Kind::StrList,
        Some(BuiltIn::StrList(&[])),
    ),
    // Required when static_bearer_tokens is not empty.
    key("auth.static_bearer_tokens_user", Kind::Str, None),
    key("auth.bcrypt_cost", Kind::UInt, Some(BuiltIn::UInt(12))),
    key(
        "auth.max_concurrent_hashes",
        Kind::UInt,
        Some(BuiltIn::UInt(4)),
    ),
    key(
        "auth.password_policy.min_length",
        Kind::UInt,
        Some(BuiltIn::UInt(8)),
    ),
    key(
        "auth.password_policy.require_uppercase",
        Kind::Bool,
        Some(BuiltIn::Bool(true)),
    ),
    key(
        "auth.password_policy.require_lowercase",
        Kind::Bool,
        Some(BuiltIn::Bool(true)),
    ),
    key(
        "auth.password_policy.require_digit",
        Kind::Bool,
        Some(BuiltIn::Bool(true)),
    ),
    key(
        "auth.password_policy.require_special",
        Kind::Bool,
        Some(BuiltIn::Bool(true)),
    ),
    // "deny": users get nothing until a policy grants it; "allow": the original's behaviour.
    key("auth.default_policy", Kind::Str, Some(BuiltIn::Str("deny"))),
    // false: only external issuers are advertised (resource-server mode).
    key("oauth.enabled", Kind::Bool, Some(BuiltIn::Bool(true))),
    key("rate_limit.login_max", Kind::UInt, Some(BuiltIn::UInt(10))),
    key(
        "rate_limit.login_window_s",
        Kind::UInt,
        Some(BuiltIn::UInt(300)),
    ),
    key("rate_limit.token_max", Kind::UInt, Some(BuiltIn::UInt(120))),
    key(
        "rate_limit.token_window_s",
        Kind::UInt,
        Some(BuiltIn::UInt(60)),
    ),
    // 0: off until an operator sets a limit.
    key("rate_limit.mcp_max", Kind::UInt, Some(BuiltIn::UInt(0))),
    key(
        "rate_limit.mcp_window_s",
        Kind::UInt,
        Some(BuiltIn::UInt(60)),
    ),
    key("rate_limit.tool_max", Kind::UInt, Some(BuiltIn::UInt(0))),
    key(
        "rate_limit.tool_window_s",
        Kind::UInt,
        Some(BuiltIn::UInt(60)),
    ),
    key("metrics.enabled", Kind::Bool, Some(BuiltIn::Bool(true))),
    key("metrics.scrape_token", Kind::Str, None),
    key("metrics.scrape_token_file", Kind::Str, None),
    // [secrets] (restart-only). Unset means `<data_dir>/secret-key`.
    key("secrets.key_file", Kind::Str, None),
    // [audit]: the audit trail (restart-only). Env for the last two: MCP_LOG_DB_DAYS_TO_KEEP,
    // MCP_LOG_DB_MAX_ROWS (the original's names); 0 means no limit.
    key("audit.enabled", Kind::Bool, Some(BuiltIn::Bool(true))),
    key(
        "audit.queue_capacity",
        Kind::UInt,
        Some(BuiltIn::UInt(10_000)),
    ),
    key("audit.batch_size", Kind::UInt, Some(BuiltIn::UInt(500))),
    key(
        "audit.flush_interval_ms",
        Kind::UInt,
        Some(BuiltIn::UInt(200)),
    ),
    key(
        "audit.capture_payloads",
        Kind::Bool,
        Some(BuiltIn::Bool(false)),
    ),
    key(
        "audit.redact_patterns",
        Kind::StrList,
        Some(BuiltIn::StrList(actors::audit::redact::DEFAULT_PATTERNS)),
    ),
    key("audit.retention_days", Kind::UInt, Some(BuiltIn::UInt(90))),
    key("audit.max_rows", Kind::UInt, Some(BuiltIn::UInt(1_000_000))),
    key("audit.file", Kind::Bool, Some(BuiltIn::Bool(false))),
    key(
        "audit.file_max_bytes",
        Kind::UInt,
        Some(BuiltIn::UInt(10 * MIB)),
    ),
    key("audit.file_max_files", Kind::UInt, Some(BuiltIn::UInt(5))),
    // [security]: security events (restart-only).
    key("security.enabled", Kind::Bool, Some(BuiltIn::Bool(true))),
    key(
        "security.queue_capacity",
        Kind::UInt,
        Some(BuiltIn::UInt(10_000)),
    ),
    key(
        "security.retention_days",
        Kind::UInt,
        Some(BuiltIn::UInt(90)),
    ),
    key(
        "security.max_rows",
        Kind::UInt,
        Some(BuiltIn::UInt(1_000_000)),
    ),
    key(
        "security.brute_force_threshold",
        Kind::UInt,
        Some(BuiltIn::UInt(5)),
    ),
    key(
        "security.brute_force_window_s",
        Kind::UInt,
        Some(BuiltIn::UInt(300)),
    ),
    key(
        "security.unauthorized_window_s",
        Kind::UInt,
        Some(BuiltIn::UInt(60)),
    ),
    key(
        "security.scan_payloads",
        Kind::Bool,
        Some(BuiltIn::Bool(true)),
    ),
    key(
        "security.scan_queue_capacity",
        Kind::UInt,
        Some(BuiltIn::UInt(1_000)),
    ),
    key(
        "security.scan_max_bytes",
        Kind::UInt,
        Some(BuiltIn::UInt(262_144)),
    ),
    key(
        "security.oversized_bytes",
        Kind::UInt,
        Some(BuiltIn::UInt(4 * MIB)),
    ),
    key(
        "security.injection_phrases",
        Kind::StrList,
        Some(BuiltIn::StrList(
            actors::security::detectors::DEFAULT_INJECTION_PHRASES,
        )),
    ),
    // Reloadable, unlike the rest of [security].
    key(
        "security.hold_changed_tools",
        Kind::Bool,
        Some(BuiltIn::Bool(false)),
    ),
    // [console]: restart-only.
    key("console.template_dir", Kind::Str, None),
    key("logging.level", Kind::Str, Some(BuiltIn::Str("info"))),
    key(
        "logging.max_file_bytes",
        Kind::UInt,
        Some(BuiltIn::UInt(10 * MIB)),
    ),
    key("logging.max_files", Kind::UInt, Some(BuiltIn::UInt(5))),
    key(
        "mcp.allowed_origins",
        Kind::StrList,
        Some(BuiltIn::StrList(&[])),
    ),
    key(
        "mcp.session_idle_timeout_s",
        Kind::UInt,
        Some(BuiltIn::UInt(30 * 60)),
    ),
    key("mcp.max_sessions", Kind::UInt, Some(BuiltIn::UInt(20_000))),
    key(
        "mcp.max_sessions_per_user",
        Kind::UInt,
        Some(BuiltIn::UInt(200)),
    ),
    key("mcp.page_size", Kind::UInt, Some(BuiltIn::UInt(100))),
    key("mcp.max_json_depth", Kind::UInt, Some(BuiltIn::UInt(64))),
    key("mcp.replay_events", Kind::UInt, Some(BuiltIn::UInt(256))),
    key("mcp.replay_age_s", Kind::UInt, Some(BuiltIn::UInt(300))),
    key(
        "mcp.max_queued_events",
        Kind::UInt,
        Some(BuiltIn::UInt(256)),
    ),
    key(
        "mcp.max_pending_requests",
        Kind::UInt,
        Some(BuiltIn::UInt(64)),
    ),
    key(
        "mcp.pending_request_timeout_s",
        Kind::UInt,
        Some(BuiltIn::UInt(300)),
    ),
    key(
        "mcp.max_resumable_streams",
        Kind::UInt,
        Some(BuiltIn::UInt(32)),
    ),
    key("mcp.max_open_streams", Kind::UInt, Some(BuiltIn::UInt(32))),
    key("oauth.dcr_enabled", Kind::Bool, Some(BuiltIn::Bool(true))),
    // Unset: anyone may register a public client (within the per-IP limit).
    key("oauth.dcr_initial_access_token", Kind::Str, None),
    key("oauth.dcr_max_per_ip", Kind::UInt, Some(BuiltIn::UInt(10))),
    key("oauth.dcr_window_s", Kind::UInt, Some(BuiltIn::UInt(3600))),
    key("oauth.max_clients", Kind::UInt, Some(BuiltIn::UInt(10_000))),
    key("oauth.cimd_enabled", Kind::Bool, Some(BuiltIn::Bool(true))),
    key(
        "oauth.cimd_allow_private",
        Kind::Bool,
        Some(BuiltIn::Bool(false)),
    ),
    key(
        "oauth.cimd_timeout_ms",
        Kind::UInt,
        Some(BuiltIn::UInt(3000)),
    ),
    key(
        "oauth.cimd_max_bytes",
        Kind::UInt,
        Some(BuiltIn::UInt(5120)),
    ),
    key("oauth.cimd_cache_s", Kind::UInt, Some(BuiltIn::UInt(300))),
    key("oauth.code_ttl_s", Kind::UInt, Some(BuiltIn::UInt(60))),
    key(
        "oauth.password_grant_enabled",
        Kind::Bool,
        Some(BuiltIn::Bool(false)),
    ),
    key(
        "oauth.login_session_ttl_s",
        Kind::UInt,
        Some(BuiltIn::UInt(600)),
    ),
];

/// The keys a `[[backends]]` table may hold (checked by the backend validator, listed here so the
/// documentation test covers them too).
#[cfg(test)]
pub(crate) const BACKEND_KEYS: &[&str] = &[
    "name",
    "url",
    "transport",
    "command",
    "args",
    "env",
    "cwd",
    "tool_prefix",
    "enabled",
    "timeout_ms",
    "health_interval_s",
    "isolation",
    "max_processes",
    "auth_type",
    "auth_token",
    "auth_token_file",
    "auth_token_env",
    "auth_header",
    "headers",
    "header_files",
    "header_envs",
    "token_url",
    "client_id",
    "client_secret",
    "client_secret_file",
    "client_secret_env",
    "scope",
    "resource",
    "refresh_token",
    "refresh_token_file",
    "refresh_token_env",
];

/// The keys a `[[policies]]` table may hold (checked by the policy reader, listed here so the
/// documentation test covers them too).
#[cfg(test)]
pub(crate) const POLICY_KEYS: &[&str] = &[
    "subject",
    "effect",
    "backends",
    "tools",
    "prompts",
    "resources",
    "description",
];

pub(crate) const DEFAULT_BACKEND_TIMEOUT_MS: u64 = 30_000;
pub(crate) const DEFAULT_HEALTH_INTERVAL_S: u64 = 30;
/// Per-session stdio backends: children at most at once, per backend.
pub(crate) const DEFAULT_MAX_PROCESSES: u64 = 16;

pub(crate) fn find(path: &str) -> Option<&'static ScalarKey> {
    SCALAR_KEYS.iter().find(|k| k.path == path)
}

/// Parses an environment variable's text as a value of `kind`.
pub(crate) fn parse_env_value(kind: Kind, text: &str) -> Result<config::ValueKind, String> {
    let trimmed = text.trim();
    match kind {
        Kind::Str => Ok(config::ValueKind::String(text.to_string())),
        Kind::Bool => parse_bool(trimmed)
            .map(config::ValueKind::Boolean)
            .ok_or_else(|| {
                format!("expected a boolean (true/false, yes/no, on/off, 1/0), got {trimmed:?}")
            }),
        Kind::UInt => trimmed
            .parse::<u64>()
            .map(|n| config::ValueKind::I64(n.min(i64::MAX as u64) as i64))
            .map_err(|_| format!("expected a non-negative integer, got {trimmed:?}")),
        Kind::StrList => Ok(config::ValueKind::Array(
            trimmed
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| config::Value::new(None, s.to_string()))
                .collect(),
        )),
    }
}

/// Booleans as the original accepted them, plus the explicit negatives (anything else is an error
/// here, where the original silently read it as false).
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}
