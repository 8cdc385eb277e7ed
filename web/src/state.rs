//! What every handler can reach: the identity service, the actor runtime, the backend registry,
//! the authorization policies,
//! and settings that a SIGHUP reload may swap.

use std::sync::{Arc, OnceLock};

use actors::auth::external::ExternalIdentities;
use actors::auth::identity::Identity;
use actors::auth::policy::PolicyService;
use actors::registry::BackendRegistry;
use actors::spec::IpNet;
use actors::supervisor::GatewayHandle;
use arc_swap::ArcSwap;

/// Settings the web layer reads on every request; replaced as a whole on reload.
#[derive(Debug, Clone, PartialEq)]
pub struct WebSettings {
    /// Issuer and base of every advertised URL, without a trailing slash.
    pub public_url: String,
    pub auth_required: bool,
    /// `POST /auth/register` is open (`auth.allow_registration`).
    pub allow_registration: bool,
    /// The built-in authorization server is advertised (`oauth.enabled`).
    pub oauth_enabled: bool,
    /// Dynamic client registration is open (`oauth.dcr_enabled`; a runtime setting).
    pub dcr_enabled: bool,
    /// `[[auth.external_issuers]]`' issuers, in configuration order.
    pub external_issuers: Vec<String>,
    pub trusted_proxies: Vec<IpNet>,
    pub max_body_bytes: usize,
}

impl WebSettings {
    /// RFC 9728 metadata for the `/mcp` resource.
    pub fn resource_metadata_url(&self) -> String {
        format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            self.public_url
        )
    }

    /// The RFC 9728 `authorization_servers`: this gateway first (unless `oauth.enabled` is
    /// off), then each configured external issuer.
    pub fn authorization_servers(&self) -> Vec<String> {
        let own = self.oauth_enabled.then(|| self.public_url.clone());
        own.into_iter()
            .chain(self.external_issuers.iter().cloned())
            .collect()
    }

    /// RFC 9728 metadata for one backend's own endpoint, `/mcp/<server>`.
    pub fn server_metadata_url(&self, server: &str) -> String {
        format!(
            "{}/.well-known/oauth-protected-resource/mcp/{server}",
            self.public_url
        )
    }
}

#[derive(Clone)]
pub struct AppState {
    pub identity: Arc<Identity>,
    /// Set once the supervisor tree is up; until then `/health/ready` answers 503.
    pub gateway: Arc<OnceLock<GatewayHandle>>,
    /// Every backend (config file + database); set at boot, before the supervisor starts.
    /// Until then the admin API answers 503.
    pub registry: Arc<OnceLock<Arc<BackendRegistry>>>,
    /// Authorization policies and groups; set at boot before the server starts. Until then
    /// `/mcp` grants non-admins nothing and the admin API answers 503.
    pub policies: Arc<OnceLock<Arc<PolicyService>>>,
    /// Trusted external issuers (resource-server mode); set at boot before the server starts.
    /// Until then only the gateway's own tokens are recognised.
    pub external: Arc<OnceLock<Arc<ExternalIdentities>>>,
    pub settings: Arc<ArcSwap<WebSettings>>,
    /// The effective configuration with every secret masked, as `GET /admin/api/settings`
    /// serves it: rendered by the binary (which owns the config types) at start and on reload.
    pub config_view: Arc<ArcSwap<serde_json::Value>>,
    /// Runtime settings and reloads (the binary's configuration wiring); set at boot before
    /// the server starts. Unset: those admin routes answer 503.
    pub config_control: Arc<OnceLock<Arc<dyn crate::config_control::ConfigControl>>>,
    /// The audit trail's queue; set at boot before the server starts. Unset: nothing recorded.
    pub audit: Arc<OnceLock<actors::audit::AuditHandle>>,
    /// The security events sink; set at boot before the server starts. Unset: nothing recorded.
    pub security: Arc<OnceLock<actors::security::SecurityEvents>>,
    /// The admin console's settings (the setup token's file); set at boot before the server
    /// starts. Unset: the setup wizard answers that setup is unavailable.
    pub console: Arc<OnceLock<crate::console::ConsoleSettings>>,
    /// The MCP endpoint's sessions, routing table and settings.
    pub mcp: Arc<crate::mcp::McpState>,
    /// The OAuth authorization server's clients, resolver, limiter and settings.
    pub oauth: Arc<crate::oauth::OAuthState>,
    /// Prometheus metrics: recorded on the request path, collected at scrape, served at
    /// `/metrics`. Built with the state; boot applies `[metrics]` and registers collectors.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The root logger; request loggers derive from it (no process-global state, so several
    /// gateways can run in one test process).
    pub log: slog::Logger,
}

impl AppState {
    pub fn new(
        identity: Arc<Identity>,
        settings: WebSettings,
        mcp: Arc<crate::mcp::McpState>,
        oauth: Arc<crate::oauth::OAuthState>,
        log: slog::Logger,
    ) -> Self {
        AppState {
            identity,
            gateway: Arc::new(OnceLock::new()),
            registry: Arc::new(OnceLock::new()),
            policies: Arc::new(OnceLock::new()),
            external: Arc::new(OnceLock::new()),
            settings: Arc::new(ArcSwap::from_pointee(settings)),
            config_view: Arc::new(ArcSwap::from_pointee(serde_json::Value::Null)),
            config_control: Arc::new(OnceLock::new()),
            audit: Arc::new(OnceLock::new()),
            security: Arc::new(OnceLock::new()),
            console: Arc::new(OnceLock::new()),
            mcp,
            oauth,
            metrics: Arc::new(crate::metrics::Metrics::default()),
            log,
        }
    }
}
