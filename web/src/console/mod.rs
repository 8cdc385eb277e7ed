//! The admin console: server-rendered pages (tera templates from `templates/admin/`, compiled
//! in), one stylesheet and one small script served from `/admin/static/`, the setup wizard and
//! the administrator's cookie session.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/` | 303 to `/setup` while no administrator exists, else to `/admin` |
//! | GET, POST | `/setup` | the first administrator (needs the one-time setup token); 303 to `/admin/login` once one exists |
//! | GET, POST | `/admin/login` | the sign-in form; sets the session cookie, 303 to `/admin` |
//! | POST | `/admin/api/login` | the same as JSON (`{"username","password"}` → cookie + `{"username","csrf_token","expires_in"}`) |
//! | POST | `/admin/logout` | ends the session (its token family is revoked), 303 to `/admin/login` |
//! | GET | `/admin` | the dashboard (`?window=1h|24h|7d`) |
//! | GET, POST | `/admin/users…` | accounts, their MCP permissions and groups (`users.rs`, `user_permissions.rs`, `groups.rs`) |
//! | GET, POST | `/admin/mcp-servers…` | backends: list, add, enable/disable, delete (`servers.rs`); one backend's tools, prompts, resources, connection test and edit form (`server_detail.rs`) |
//! | GET | `/admin/mcp-activity`, `/admin/mcp-activity/{id}` | requests: window figures, per server, a live table; one audit record in full (`activity.rs`) |
//! | GET | `/admin/security-logs` | security events: filters, pages, exports, a live tail (`security_logs.rs`) |
//! | GET, POST | `/admin/logs`, `/admin/logs/verify` | the audit trail: search, pages, exports, hash-chain verification (`audit_logs.rs`) |
//! | GET, POST | `/admin/settings…` | effective configuration with sources, runtime settings, reload (`settings.rs`) |
//! | GET, POST | `/admin/mcp-audit` | the MCP security scanner: run, findings by severity, JSON export (`mcp_audit.rs`) |
//! | GET, POST | `/admin/oauth-clients…` | OAuth clients: list, consents, rotate secret, delete (`oauth_clients.rs`) |
//! | GET, POST | `/admin/mcp-tokens…` | backend credentials and refresh, own API tokens, an access token (`mcp_tokens.rs`) |
//! | GET | `/admin/static/{file}` | the stylesheet and script, named by content hash, cached for a year |
//!
//! The session cookie carries a login access token: `authn` verifies it like a bearer token (no
//! database query; the revocation snapshot covers logout, disabled users and revoked sessions)
//! and checks CSRF on cookie-authenticated changes (`guard.rs`), which also renews a session in
//! use once its token is past half its life (a new token of the same family). Forms shown before sign-in
//! (login, setup) take their CSRF token from the authorization server's browser session.

mod activity;
mod assets;
mod audit_logs;
mod chart;
mod dashboard;
mod form_page;
mod forms;
mod groups;
pub(crate) mod guard;
mod login;
mod mcp_audit;
mod mcp_tokens;
mod oauth_clients;
mod page;
mod record_query;
mod security_logs;
mod server_detail;
mod servers;
pub(crate) mod session;
mod settings;
mod setup;
mod user_permissions;
mod users;

use std::path::PathBuf;

pub use page::install_overrides;

use actix_web::web;

/// What the console needs from boot; set once before the server starts.
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    /// `<data_dir>/setup-token`, written at start while no administrator exists.
    pub setup_token_file: PathBuf,
    /// The config file the gateway was started with, named on read-only (file) backends.
    pub config_file: Option<PathBuf>,
}

/// The console's pages in the nav, at the original's paths and in its order.
pub(crate) const NAV: &[NavItem] = &[
    NavItem {
        path: "/admin",
        label: "Dashboard",
    },
    NavItem {
        path: "/admin/mcp-servers",
        label: "MCP servers",
    },
    NavItem {
        path: "/admin/users",
        label: "Users",
    },
    NavItem {
        path: "/admin/oauth-clients",
        label: "OAuth clients",
    },
    NavItem {
        path: "/admin/mcp-tokens",
        label: "Tokens",
    },
    NavItem {
        path: "/admin/mcp-activity",
        label: "MCP activity",
    },
    NavItem {
        path: "/admin/security-logs",
        label: "Security events",
    },
    NavItem {
        path: "/admin/logs",
        label: "Audit",
    },
    NavItem {
        path: "/admin/mcp-audit",
        label: "Security audit",
    },
    NavItem {
        path: "/admin/settings",
        label: "Settings",
    },
];

#[derive(Debug, serde::Serialize)]
pub(crate) struct NavItem {
    pub path: &'static str,
    pub label: &'static str,
}

/// A console page (HTML, redirect to sign-in when unauthenticated), as opposed to the JSON
/// admin API under `/admin/api`.
pub(crate) fn is_page(path: &str) -> bool {
    (path == "/admin" || path.starts_with("/admin/"))
        && path != "/admin/api"
        && !path.starts_with("/admin/api/")
}

/// Paths the console serves to anyone (each handles a signed-in caller itself).
pub(crate) fn is_public(path: &str) -> bool {
    matches!(path, "/" | "/setup" | "/admin/login" | "/admin/api/login")
        || path.starts_with("/admin/static/")
}

/// Whether an enabled administrator exists. The directory snapshot answers once one does; while
/// it says none, the directory is reloaded first, so an administrator just made by
/// `create-admin` in another process counts at once (a query only while setup is pending).
pub(crate) async fn admin_exists(state: &crate::state::AppState) -> bool {
    if state.identity.admin_exists() {
        return true;
    }
    let _ = state.identity.refresh_directory().await;
    state.identity.admin_exists()
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    assets::configure(cfg);
    setup::configure(cfg);
    login::configure(cfg);
    dashboard::configure(cfg);
    servers::configure(cfg);
    activity::configure(cfg);
    security_logs::configure(cfg);
    audit_logs::configure(cfg);
    // Before `users`: its `/admin/users/{id}/{action}` would take `permissions` and `groups` too.
    user_permissions::configure(cfg);
    groups::configure(cfg);
    users::configure(cfg);
    settings::configure(cfg);
    mcp_audit::configure(cfg);
    oauth_clients::configure(cfg);
    mcp_tokens::configure(cfg);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_public_paths() {
        assert!(is_page("/admin"));
        assert!(is_page("/admin/users"));
        assert!(!is_page("/admin/api/users"));
        assert!(!is_page("/administrator"));
        assert!(is_public("/admin/static/console.abc.css"));
        assert!(is_public("/setup"));
        assert!(!is_public("/admin"));
        assert!(!is_public("/admin/logout"));
    }
}
