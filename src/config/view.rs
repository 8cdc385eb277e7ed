//! The effective configuration as JSON for `GET /admin/api/settings`, every secret masked.
//!
//! Secrets never leave as values: the JWT secret, the DCR initial access token and the metrics
//! scrape token appear only as whether they are set; passwords in database and backend URLs are
//! masked; backend credentials, header values and stdio environment values are replaced by
//! [`MASK`]; static bearer tokens (kept only as digests anyway) appear as a count.
//!
//! `sources` says where each key's value came from, by dotted configuration key: `default`,
//! `file` (with its path), `env` (the variable's name, the original's names included), `.env`
//! (name and file), `flag`, or `database` (a runtime setting, which wins over the file and a
//! SIGHUP keeps). The loader records it while merging (`value_sources`); the keys are the
//! configuration's (`server.drain_timeout_ms`), which a few view fields show converted
//! (`drain_timeout_s`).

use std::time::Duration;

use serde_json::{Value, json};

use actors::spec::{BackendAuth, BackendSpec, BackendTransport, OAuthGrant, StdioIsolation};
use actors::storage::mask_password;

use super::GatewayConfig;

/// What a secret's value is shown as.
pub const MASK: &str = "********";

fn secs(d: Duration) -> u64 {
    d.as_secs()
}

fn set(secret: &Option<impl Sized>) -> Value {
    if secret.is_some() {
        json!(MASK)
    } else {
        Value::Null
    }
}

fn url(u: &url::Url) -> String {
    mask_password(u.as_str())
}

fn backend(b: &BackendSpec) -> Value {
    let transport = match &b.transport {
        BackendTransport::StreamableHttp { url: u } | BackendTransport::Sse { url: u } => {
            json!({ "kind": b.transport.kind(), "url": url(u) })
        }
        BackendTransport::Stdio {
            command,
            args,
            env,
            cwd,
        } => json!({
            "kind": "stdio",
            "command": command,
            "args": args,
            "env": env.keys().map(|k| (k.clone(), json!(MASK))).collect::<serde_json::Map<_, _>>(),
            "cwd": cwd,
        }),
    };
    let auth = match &b.auth {
        None => json!({ "type": "none" }),
        Some(BackendAuth::Bearer(_)) => json!({ "type": "bearer", "token": MASK }),
        Some(BackendAuth::Header { name, .. }) => {
            json!({ "type": "header", "name": name, "value": MASK })
        }
        Some(BackendAuth::OAuth(o)) => json!({
            "type": "oauth",
            "grant": match o.grant {
                OAuthGrant::ClientCredentials => "client_credentials",
                OAuthGrant::RefreshToken(_) => "refresh_token",
            },
            "refresh_token": matches!(o.grant, OAuthGrant::RefreshToken(_)).then_some(MASK),
            "token_url": o.token_url.as_ref().map(url),
            "client_id": o.client_id,
            "client_secret": set(&o.client_secret),
            "scope": o.scope,
            "resource": o.resource,
        }),
    };
    json!({
        "name": b.name,
        "transport": transport,
        "tool_prefix": b.tool_prefix,
        "enabled": b.enabled,
        "timeout_s": secs(b.timeout),
        "health_interval_s": secs(b.health_interval),
        "auth": auth,
        "headers": b.headers.keys().map(|k| (k.clone(), json!(MASK))).collect::<serde_json::Map<_, _>>(),
        "isolation": match b.isolation {
            StdioIsolation::Shared => json!("shared"),
            StdioIsolation::PerSession { max_processes } => {
                json!({ "per_session": { "max_processes": max_processes } })
            }
        },
    })
}

/// The view served at `/admin/api/settings` (rendered at start and after each SIGHUP reload).
pub fn settings_view(c: &GatewayConfig) -> Value {
    let (s, o, a, r, m) = (&c.server, &c.oauth, &c.auth, &c.rate_limit, &c.mcp);
    json!({
        "server": {
            "host": s.host,
            "port": s.port,
            "public_url": url(&s.public_url),
            "trusted_proxies": s.trusted_proxies.iter().map(|p| format!("{}/{}", p.addr, p.prefix)).collect::<Vec<_>>(),
            "drain_timeout_s": secs(s.drain_timeout),
            "max_body_bytes": s.max_body_bytes,
            "workers": s.workers,
        },
        "oauth": {
            "enabled": o.enabled,
            "dcr_enabled": o.dcr_enabled,
            "dcr_initial_access_token": set(&o.dcr_initial_access_token),
            "dcr_max_per_ip": o.dcr_max_per_ip,
            "dcr_window_s": secs(o.dcr_window),
            "max_clients": o.max_clients,
            "cimd_enabled": o.cimd_enabled,
            "cimd_allow_private": o.cimd_allow_private,
            "cimd_timeout_s": secs(o.cimd_timeout),
            "cimd_max_bytes": o.cimd_max_bytes,
            "cimd_cache_s": secs(o.cimd_cache),
            "code_ttl_s": secs(o.code_ttl),
            "password_grant_enabled": o.password_grant_enabled,
            "login_session_ttl_s": secs(o.login_session_ttl),
        },
        "data_dir": c.data_dir,
        "database": { "url": mask_password(&c.database.url), "pool_size": c.database.pool_size },
        "auth": {
            "required": a.required,
            "jwt_secret": set(&a.jwt_secret),
            "jwt_algorithm": a.jwt_algorithm.as_str(),
            "jwt_private_key_file": a.jwt_private_key_file,
            "jwt_previous_key_files": a.jwt_previous_key_files,
            "access_token_ttl_s": secs(a.access_token_ttl),
            "refresh_token_ttl_s": secs(a.refresh_token_ttl),
            "bcrypt_cost": a.bcrypt_cost,
            "max_concurrent_hashes": a.max_concurrent_hashes,
            "password_policy": format!("{:?}", a.password_policy),
            "default_policy": format!("{:?}", a.default_policy).to_lowercase(),
            "refresh_reuse_grace_s": secs(a.refresh_reuse_grace),
            "allow_registration": a.allow_registration,
            "enforce_single_session": a.enforce_single_session,
            "static_bearer_tokens": a.static_bearer_token_hashes.len(),
            "static_bearer_tokens_user": a.static_bearer_tokens_user,
            "external_issuers": a.external_issuers.iter().map(|i| json!({
                "issuer": i.issuer,
                "jwks_uri": i.jwks_uri,
                "audiences": i.audiences,
                "username_claim": i.username_claim,
                "email_claim": i.email_claim,
            })).collect::<Vec<_>>(),
        },
        "rate_limit": {
            "login_max": r.login_max,
            "login_window_s": secs(r.login_window),
            "token_max": r.token_max,
            "token_window_s": secs(r.token_window),
            "mcp_max": r.mcp_max,
            "mcp_window_s": secs(r.mcp_window),
            "tool_max": r.tool_max,
            "tool_window_s": secs(r.tool_window),
            "backends": r.backends.iter().map(|(k, q)| (k.clone(), json!(format!("{q:?}")))).collect::<serde_json::Map<_, _>>(),
            "overrides": r.overrides.iter().map(|o| format!("{o:?}")).collect::<Vec<_>>(),
        },
        "audit": {
            "enabled": c.audit.enabled,
            "queue_capacity": c.audit.queue_capacity,
            "batch_size": c.audit.batch_size,
            "flush_interval_ms": c.audit.flush_interval.as_millis() as u64,
            "capture_payloads": c.audit.capture_payloads,
            "redact_patterns": c.audit.redact_patterns.len(),
            "retention_days": c.audit.retention_days,
            "max_rows": c.audit.max_rows,
            "file": c.audit.file,
            "file_max_bytes": c.audit.file_max_bytes,
            "file_max_files": c.audit.file_max_files,
        },
        "security": {
            "enabled": c.security.enabled,
            "queue_capacity": c.security.queue_capacity,
            "retention_days": c.security.retention_days,
            "max_rows": c.security.max_rows,
            "brute_force_threshold": c.security.brute_force_threshold,
            "brute_force_window_s": c.security.brute_force_window_s,
            "unauthorized_window_s": c.security.unauthorized_window_s,
            "scan_payloads": c.security.scan_payloads,
            "scan_queue_capacity": c.security.scan_queue_capacity,
            "scan_max_bytes": c.security.scan_max_bytes,
            "oversized_bytes": c.security.oversized_bytes,
            "injection_phrases": c.security.injection_phrases.len(),
            "hold_changed_tools": c.security.hold_changed_tools,
        },
        "console": {
            "template_dir": c.console.template_dir,
        },
        "logging": {
            "level": c.logging.level,
            "max_file_bytes": c.logging.max_file_bytes,
            "max_files": c.logging.max_files,
        },
        "mcp": {
            "allowed_origins": m.allowed_origins,
            "session_idle_timeout_s": secs(m.session_idle_timeout),
            "max_sessions": m.max_sessions,
            "max_sessions_per_user": m.max_sessions_per_user,
            "page_size": m.page_size,
            "max_json_depth": m.max_json_depth,
            "replay_events": m.replay_events,
            "replay_age_s": secs(m.replay_age),
            "max_queued_events": m.max_queued_events,
            "max_pending_requests": m.max_pending_requests,
            "pending_request_timeout_s": secs(m.pending_request_timeout),
            "max_resumable_streams": m.max_resumable_streams,
            "max_open_streams": m.max_open_streams,
        },
        "metrics": {
            "enabled": c.metrics.enabled,
            "scrape_token": set(&c.metrics.scrape_token_sha256),
        },
        // A path, not the key: where to back it up from.
        "secrets": { "key_file": c.secrets_key_file() },
        "backends": c.backends.iter().map(backend).collect::<Vec<_>>(),
        "policies": c.policies.len(),
        "sources": c.sources.iter().map(|(k, s)| (k.clone(), s.to_json())).collect::<serde_json::Map<_, _>>(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::settings_view;
    use crate::config::{Sources, load_in_dir};

    /// Every secret a configuration can hold, each a distinct marker that must not appear.
    const SECRETS: [&str; 9] = [
        "jwt-secret-marker-0123456789abcdef0123456789",
        "db-password-marker",
        "dcr-token-marker-0123456789",
        "scrape-token-marker-0123456789",
        "bearer-token-marker",
        "header-value-marker",
        "client-secret-marker",
        "refresh-token-marker",
        "stdio-env-marker",
    ];

    #[test]
    fn no_secret_appears_in_the_settings_view() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gw.toml");
        let [jwt, db, dcr, scrape, bearer, header, secret, refresh, env] = SECRETS;
        let text = format!(
            "[auth]\njwt_secret = \"{jwt}\"\n\
             [database]\nurl = \"postgres://gw:{db}@db.internal:5432/gw\"\n\
             [oauth]\ndcr_initial_access_token = \"{dcr}\"\n\
             [metrics]\nscrape_token = \"{scrape}\"\n\
             [[backends]]\nname = \"a\"\nurl = \"http://a/mcp\"\nauth_token = \"{bearer}\"\n\
             headers = {{ \"X-Tenant\" = \"{header}\" }}\n\
             [[backends]]\nname = \"b\"\nurl = \"http://b/mcp\"\n\
             auth_type = \"oauth_client_credentials\"\ntoken_url = \"https://as/token\"\n\
             client_id = \"gw\"\nclient_secret = \"{secret}\"\n\
             [[backends]]\nname = \"c\"\nurl = \"http://c/mcp\"\n\
             auth_type = \"oauth_refresh_token\"\ntoken_url = \"https://as/token\"\n\
             client_id = \"gw\"\nrefresh_token = \"{refresh}\"\n\
             [[backends]]\nname = \"d\"\ncommand = \"srv\"\nenv = {{ \"API_KEY\" = \"{env}\" }}\n"
        );
        std::fs::write(&file, text).unwrap();
        let sources = Sources {
            config_file: Some(file),
            ..Sources::default()
        };
        let cfg = load_in_dir(&sources, &HashMap::new(), dir.path()).unwrap();
        let view = settings_view(&cfg);
        let shown = view.to_string();
        for marker in SECRETS {
            assert!(!shown.contains(marker), "{marker} leaked: {shown}");
        }
        // Masked, not dropped: an administrator still sees that each is set.
        assert_eq!(view["auth"]["jwt_secret"], super::MASK);
        assert_eq!(view["metrics"]["scrape_token"], super::MASK);
        assert!(
            view["database"]["url"]
                .as_str()
                .unwrap()
                .contains("db.internal")
        );
        assert_eq!(view["backends"][0]["auth"]["type"], "bearer");
        assert_eq!(view["backends"][0]["headers"]["X-Tenant"], super::MASK);
        assert_eq!(view["backends"][1]["auth"]["client_id"], "gw");
        assert_eq!(
            view["backends"][3]["transport"]["env"]["API_KEY"],
            super::MASK
        );
    }
}
