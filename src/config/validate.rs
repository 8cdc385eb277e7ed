//! The merged configuration tree → a validated [`GatewayConfig`], or every error found.
//!
//! Each section reader reads all of its keys before giving up on any, so one bad value never
//! hides the next. Derived values (public URL, database URL) are computed here, after every layer
//! has been applied, so e.g. `--port 9000` also moves the default public URL.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use actors::auth::passwords::PasswordPolicy;
use actors::auth::policy::DefaultPolicy;
use config::{Map, Value, ValueKind};

use super::auth::read_token_settings;
use super::backend_auth::SecretSources;
use super::backends::read_backends;
use super::checks;
use super::error::ConfigReport;
use super::external_issuers::read_external_issuers;
use super::model::{
    AuditConfig, AuthConfig, DatabaseConfig, GatewayConfig, IpNet, LoggingConfig, McpConfig,
    OAuthConfig, SecretsConfig, SecurityConfig, ServerConfig,
};
use super::paths::{SQLITE_PREFIX, absolutize, default_database_url, sqlite_url_for};
use super::policies::read_policies;
use super::rate_limits::read_rate_limit;
use super::reader::{TableReader, describe};

const MAX: u64 = u64::MAX;

pub(crate) fn validate(
    root: Map<String, Value>,
    fallback_source: &str,
    cwd: &Path,
    env: &BTreeMap<String, String>,
    report: &mut ConfigReport,
) -> Option<GatewayConfig> {
    let mut r = TableReader::new("", fallback_source, root, report);
    let server = r.take_table("server").and_then(read_server);
    let data_dir = read_data_dir(&mut r, cwd);
    let database = r
        .take_table("database")
        .and_then(|db| read_database(db, data_dir.as_deref(), cwd));
    let public_base = server.as_ref().map(|s| s.public_base().to_string());
    let auth = r
        .take_table("auth")
        .and_then(|a| read_auth(a, cwd, public_base.as_deref()));
    let oauth = r.take_table("oauth").and_then(read_oauth);
    let rate_limit = r.take_table("rate_limit").and_then(read_rate_limit);
    let audit = r.take_table("audit").and_then(read_audit);
    let security = r.take_table("security").and_then(read_security);
    let logging = r.take_table("logging").and_then(read_logging);
    let mcp = r.take_table("mcp").and_then(read_mcp);
    let metrics = r
        .take_table("metrics")
        .and_then(|m| super::metrics::read_metrics(m, cwd));
    let secrets = r.take_table("secrets").and_then(|s| read_secrets(s, cwd));
    let console = r
        .take_table("console")
        .and_then(|c| super::console::read_console(c, cwd));
    let backends = read_backends(&mut r, &SecretSources { env, cwd });
    let policies = read_policies(&mut r);
    if let (Some(oauth), Some(auth)) = (&oauth, &auth)
        && !oauth.enabled
        && auth.external_issuers.is_empty()
    {
        r.error(
            "oauth.enabled",
            None,
            "false leaves MCP clients no authorization server to discover; configure an \
             [[auth.external_issuers]] table or turn the built-in one back on",
        );
    }
    r.finish();
    Some(GatewayConfig {
        server: server?,
        oauth: oauth?,
        data_dir: data_dir?,
        database: database?,
        auth: auth?,
        rate_limit: rate_limit?,
        audit: audit?,
        security: security?,
        logging: logging?,
        mcp: mcp?,
        metrics: metrics?,
        secrets: secrets?,
        backends: backends?,
        console: console?,
        policies: policies?,
        sources: Default::default(),
    })
}

fn read_server(mut r: TableReader<'_>) -> Option<ServerConfig> {
    let host = r.take_string_with("host", checks::check_host);
    let port = r.take_uint("port", 0, u16::MAX.into()).map(|p| p as u16);
    let public_url = if r.has("public_url") {
        r.take_string_with("public_url", checks::parse_public_url)
    } else {
        port.and_then(|p| checks::parse_public_url(&format!("http://localhost:{p}")).ok())
    };
    let trusted_proxies = read_trusted_proxies(&mut r);
    let drain_timeout = r
        .take_uint("drain_timeout_ms", 0, MAX)
        .map(Duration::from_millis);
    let max_body_bytes = r
        .take_uint("max_body_bytes", 1, usize::MAX as u64)
        .map(|n| n as usize);
    let workers = r.take_uint("workers", 0, 1024).map(|n| n as usize);
    r.finish();
    Some(ServerConfig {
        host: host?,
        port: port?,
        public_url: public_url?,
        trusted_proxies: trusted_proxies?,
        drain_timeout: drain_timeout?,
        max_body_bytes: max_body_bytes?,
        workers: workers?,
    })
}

/// Each entry is checked on its own so every bad one is reported with its index.
fn read_trusted_proxies(r: &mut TableReader<'_>) -> Option<Vec<IpNet>> {
    let Some(value) = r.take("trusted_proxies") else {
        return Some(Vec::new());
    };
    let ValueKind::Array(items) = &value.kind else {
        let message = format!(
            "expected a list of strings, found {}",
            describe(&value.kind)
        );
        r.error("trusted_proxies", Some(&value), message);
        return None;
    };
    let mut nets = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let parsed = match &item.kind {
            ValueKind::String(s) => checks::parse_ip_net(s),
            other => Err(format!("expected a string, found {}", describe(other))),
        };
        match parsed {
            Ok(net) => nets.push(net),
            Err(message) => {
                ok = false;
                r.error(&format!("trusted_proxies[{i}]"), Some(item), message);
            }
        }
    }
    ok.then_some(nets)
}

fn read_data_dir(r: &mut TableReader<'_>, cwd: &Path) -> Option<PathBuf> {
    r.take_string_with("data_dir", |dir| {
        if dir.trim().is_empty() {
            Err("must not be empty".to_string())
        } else {
            Ok(absolutize(cwd, Path::new(dir)))
        }
    })
}

/// A relative `key_file` resolves against the working directory, like `data_dir`.
fn read_secrets(mut r: TableReader<'_>, cwd: &Path) -> Option<SecretsConfig> {
    let key_file = if r.has("key_file") {
        r.take_string_with("key_file", |path| {
            if path.trim().is_empty() {
                Err("must not be empty; remove the key to use <data_dir>/secret-key".to_string())
            } else {
                Ok(Some(absolutize(cwd, Path::new(path.trim()))))
            }
        })
    } else {
        Some(None)
    };
    r.finish();
    Some(SecretsConfig {
        key_file: key_file?,
    })
}

fn read_database(
    mut r: TableReader<'_>,
    data_dir: Option<&Path>,
    cwd: &Path,
) -> Option<DatabaseConfig> {
    let url = if r.has("url") {
        r.take_string_with("url", |url| {
            checks::check_database_url(url.trim()).map(|()| normalize_sqlite_url(url.trim(), cwd))
        })
    } else {
        data_dir.map(default_database_url)
    };
    let pool_size = r.take_uint("pool_size", 1, 1024).map(|n| n as u32);
    r.finish();
    Some(DatabaseConfig {
        url: url?,
        pool_size: pool_size?,
    })
}

/// Relative SQLite paths resolve against the working directory, like `data_dir`.
fn normalize_sqlite_url(url: &str, cwd: &Path) -> String {
    match url.strip_prefix(SQLITE_PREFIX) {
        Some(path) => sqlite_url_for(cwd, Path::new(path)),
        None => url.to_string(),
    }
}

fn read_auth(mut r: TableReader<'_>, cwd: &Path, public_base: Option<&str>) -> Option<AuthConfig> {
    let required = r.take_bool("required");
    // An absent secret is generated on first start; an empty one is a mistake worth reporting.
    let jwt_secret = if r.has("jwt_secret") {
        r.take_string_with("jwt_secret", |secret| {
            if secret.is_empty() {
                Err("must not be empty; remove the key to have one generated".to_string())
            } else {
                Ok(Some(secret.to_string()))
            }
        })
    } else {
        Some(None)
    };
    let access = r
        .take_uint("access_token_ttl_s", 1, MAX)
        .map(Duration::from_secs);
    let refresh = r
        .take_uint("refresh_token_ttl_s", 1, MAX)
        .map(Duration::from_secs);
    let bcrypt_cost = r.take_uint("bcrypt_cost", 4, 31).map(|n| n as u32);
    let hashes = r
        .take_uint("max_concurrent_hashes", 1, 1024)
        .map(|n| n as usize);
    let policy = r
        .take_table("password_policy")
        .and_then(read_password_policy);
    let default_policy = r.take_string_with("default_policy", |p| p.parse::<DefaultPolicy>());
    let tokens = read_token_settings(&mut r, cwd);
    let external_issuers = read_external_issuers(&mut r, public_base);
    r.finish();
    let tokens = tokens?;
    Some(AuthConfig {
        required: required?,
        jwt_secret: jwt_secret?,
        access_token_ttl: access?,
        refresh_token_ttl: refresh?,
        bcrypt_cost: bcrypt_cost?,
        max_concurrent_hashes: hashes?,
        password_policy: policy?,
        default_policy: default_policy?,
        jwt_algorithm: tokens.jwt_algorithm,
        jwt_private_key_file: tokens.jwt_private_key_file,
        jwt_previous_key_files: tokens.jwt_previous_key_files,
        refresh_reuse_grace: tokens.refresh_reuse_grace,
        allow_registration: tokens.allow_registration,
        enforce_single_session: tokens.enforce_single_session,
        static_bearer_token_hashes: tokens.static_bearer_token_hashes,
        static_bearer_tokens_user: tokens.static_bearer_tokens_user,
        external_issuers: external_issuers?,
    })
}

fn read_password_policy(mut r: TableReader<'_>) -> Option<PasswordPolicy> {
    // bcrypt only looks at the first 72 bytes, so a longer minimum could never be satisfied.
    let min_length = r.take_uint("min_length", 1, 72).map(|n| n as usize);
    let upper = r.take_bool("require_uppercase");
    let lower = r.take_bool("require_lowercase");
    let digit = r.take_bool("require_digit");
    let special = r.take_bool("require_special");
    r.finish();
    Some(PasswordPolicy {
        min_length: min_length?,
        require_uppercase: upper?,
        require_lowercase: lower?,
        require_digit: digit?,
        require_special: special?,
    })
}

fn read_security(mut r: TableReader<'_>) -> Option<SecurityConfig> {
    let enabled = r.take_bool("enabled");
    let queue_capacity = r.take_uint("queue_capacity", 1, 10_000_000);
    let retention_days = r.take_uint("retention_days", 0, 100 * 365);
    let max_rows = r.take_uint("max_rows", 0, MAX);
    let brute_force_threshold = r
        .take_uint("brute_force_threshold", 0, 1_000_000)
        .map(|n| n as u32);
    let brute_force_window_s = r.take_uint("brute_force_window_s", 1, 86_400);
    let unauthorized_window_s = r.take_uint("unauthorized_window_s", 0, 86_400);
    let scan_payloads = r.take_bool("scan_payloads");
    let scan_queue_capacity = r.take_uint("scan_queue_capacity", 1, 1_000_000);
    let scan_max_bytes = r.take_uint("scan_max_bytes", 1024, 64 * 1024 * 1024);
    let oversized_bytes = r.take_uint("oversized_bytes", 1024, MAX);
    let injection_phrases = r.take_string_list("injection_phrases");
    let hold_changed_tools = r.take_bool("hold_changed_tools");
    r.finish();
    Some(SecurityConfig {
        enabled: enabled?,
        queue_capacity: queue_capacity? as usize,
        retention_days: retention_days?,
        max_rows: max_rows?,
        brute_force_threshold: brute_force_threshold?,
        brute_force_window_s: brute_force_window_s?,
        unauthorized_window_s: unauthorized_window_s?,
        scan_payloads: scan_payloads?,
        scan_queue_capacity: scan_queue_capacity? as usize,
        scan_max_bytes: scan_max_bytes? as usize,
        oversized_bytes: oversized_bytes?,
        injection_phrases: injection_phrases?,
        hold_changed_tools: hold_changed_tools?,
    })
}

fn read_audit(mut r: TableReader<'_>) -> Option<AuditConfig> {
    let enabled = r.take_bool("enabled");
    let queue_capacity = r.take_uint("queue_capacity", 1, 10_000_000);
    // 1000 rows per statement is the storage layer's bound; bigger batches are split anyway.
    let batch_size = r.take_uint("batch_size", 1, 100_000);
    let flush_interval = r
        .take_uint("flush_interval_ms", 1, 60_000)
        .map(Duration::from_millis);
    let capture_payloads = r.take_bool("capture_payloads");
    let redact_patterns = r.take_string_list("redact_patterns");
    if let Some(patterns) = &redact_patterns
        && let Err(error) = actors::audit::redact::Redactor::new(patterns)
    {
        r.error(
            "redact_patterns",
            None,
            format!("not a valid regular expression: {error}"),
        );
    }
    let retention_days = r.take_uint("retention_days", 0, 100 * 365);
    let max_rows = r.take_uint("max_rows", 0, MAX);
    let file = r.take_bool("file");
    let file_max_bytes = r.take_uint("file_max_bytes", 4096, MAX);
    let file_max_files = r.take_uint("file_max_files", 0, 1000).map(|n| n as u32);
    r.finish();
    Some(AuditConfig {
        enabled: enabled?,
        queue_capacity: queue_capacity? as usize,
        batch_size: batch_size? as usize,
        flush_interval: flush_interval?,
        capture_payloads: capture_payloads?,
        redact_patterns: redact_patterns?,
        retention_days: retention_days?,
        max_rows: max_rows?,
        file: file?,
        file_max_bytes: file_max_bytes?,
        file_max_files: file_max_files?,
    })
}

fn read_logging(mut r: TableReader<'_>) -> Option<LoggingConfig> {
    let level = r.take_string_with("level", checks::normalize_log_level);
    // Below a few KiB the log would rotate on nearly every line.
    let max_file_bytes = r.take_uint("max_file_bytes", 4096, MAX);
    let max_files = r.take_uint("max_files", 1, 1000).map(|n| n as u32);
    r.finish();
    Some(LoggingConfig {
        level: level?,
        max_file_bytes: max_file_bytes?,
        max_files: max_files?,
    })
}

fn read_mcp(mut r: TableReader<'_>) -> Option<McpConfig> {
    let allowed_origins = read_allowed_origins(&mut r);
    let idle = r
        .take_uint("session_idle_timeout_s", 1, MAX)
        .map(Duration::from_secs);
    let max_sessions = r
        .take_uint("max_sessions", 1, 10_000_000)
        .map(|n| n as usize);
    let per_user = r
        .take_uint("max_sessions_per_user", 1, 10_000_000)
        .map(|n| n as usize);
    let page_size = r.take_uint("page_size", 1, 10_000).map(|n| n as usize);
    let depth = r.take_uint("max_json_depth", 2, 1024).map(|n| n as usize);
    let replay_events = r.take_uint("replay_events", 0, 100_000).map(|n| n as usize);
    let replay_age = r
        .take_uint("replay_age_s", 0, 86_400)
        .map(Duration::from_secs);
    let queued = r
        .take_uint("max_queued_events", 1, 100_000)
        .map(|n| n as usize);
    let pending = r
        .take_uint("max_pending_requests", 1, 10_000)
        .map(|n| n as usize);
    let pending_timeout = r
        .take_uint("pending_request_timeout_s", 1, 86_400)
        .map(Duration::from_secs);
    let resumable = r
        .take_uint("max_resumable_streams", 0, 10_000)
        .map(|n| n as usize);
    let open_streams = r
        .take_uint("max_open_streams", 1, 10_000)
        .map(|n| n as usize);
    r.finish();
    Some(McpConfig {
        allowed_origins: allowed_origins?,
        session_idle_timeout: idle?,
        max_sessions: max_sessions?,
        max_sessions_per_user: per_user?,
        page_size: page_size?,
        max_json_depth: depth?,
        replay_events: replay_events?,
        replay_age: replay_age?,
        max_queued_events: queued?,
        max_pending_requests: pending?,
        pending_request_timeout: pending_timeout?,
        max_resumable_streams: resumable?,
        max_open_streams: open_streams?,
    })
}

fn read_oauth(mut r: TableReader<'_>) -> Option<OAuthConfig> {
    let enabled = r.take_bool("enabled");
    let dcr_enabled = r.take_bool("dcr_enabled");
    // A guessable token would make the gate pointless; an empty one is surely a mistake.
    let initial_token = if r.has("dcr_initial_access_token") {
        r.take_string_with("dcr_initial_access_token", |token| {
            if token.chars().count() < 16 {
                Err("must be at least 16 characters (use a long random value); remove the key to allow open registration".to_string())
            } else {
                Ok(Some(token.to_string()))
            }
        })
    } else {
        Some(None)
    };
    let max_per_ip = r
        .take_uint("dcr_max_per_ip", 1, u32::MAX.into())
        .map(|n| n as u32);
    let window = r
        .take_uint("dcr_window_s", 1, 7 * 86_400)
        .map(Duration::from_secs);
    let max_clients = r
        .take_uint("max_clients", 1, 10_000_000)
        .map(|n| n as usize);
    let cimd_enabled = r.take_bool("cimd_enabled");
    let allow_private = r.take_bool("cimd_allow_private");
    let timeout = r
        .take_uint("cimd_timeout_ms", 100, 60_000)
        .map(Duration::from_millis);
    let max_bytes = r
        .take_uint("cimd_max_bytes", 256, 1024 * 1024)
        .map(|n| n as usize);
    let cache = r
        .take_uint("cimd_cache_s", 0, 86_400)
        .map(Duration::from_secs);
    // Codes are redeemed by the client right after the redirect; RFC 6749 advises at most 10 min.
    let code_ttl = r.take_uint("code_ttl_s", 5, 600).map(Duration::from_secs);
    let password_grant = r.take_bool("password_grant_enabled");
    let session_ttl = r
        .take_uint("login_session_ttl_s", 30, 86_400)
        .map(Duration::from_secs);
    r.finish();
    Some(OAuthConfig {
        enabled: enabled?,
        dcr_enabled: dcr_enabled?,
        dcr_initial_access_token: initial_token?,
        dcr_max_per_ip: max_per_ip?,
        dcr_window: window?,
        max_clients: max_clients?,
        cimd_enabled: cimd_enabled?,
        cimd_allow_private: allow_private?,
        cimd_timeout: timeout?,
        cimd_max_bytes: max_bytes?,
        cimd_cache: cache?,
        code_ttl: code_ttl?,
        password_grant_enabled: password_grant?,
        login_session_ttl: session_ttl?,
    })
}

/// Each origin must be `scheme://host[:port]` with nothing after it, as browsers send it.
fn read_allowed_origins(r: &mut TableReader<'_>) -> Option<Vec<String>> {
    let Some(value) = r.take("allowed_origins") else {
        return Some(Vec::new());
    };
    let ValueKind::Array(items) = &value.kind else {
        let message = format!(
            "expected a list of strings, found {}",
            describe(&value.kind)
        );
        r.error("allowed_origins", Some(&value), message);
        return None;
    };
    let mut origins = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let parsed = match &item.kind {
            ValueKind::String(s) => checks::parse_origin(s),
            other => Err(format!("expected a string, found {}", describe(other))),
        };
        match parsed {
            Ok(origin) => origins.push(origin),
            Err(message) => {
                ok = false;
                r.error(&format!("allowed_origins[{i}]"), Some(item), message);
            }
        }
    }
    ok.then_some(origins)
}
