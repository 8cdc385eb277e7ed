//! The validated configuration: what the rest of the program reads. Built only by `load`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use actors::auth::external::IssuerSpec;
use actors::auth::keys::KeyAlgorithm;
use actors::auth::passwords::PasswordPolicy;
use actors::auth::policy::{DefaultPolicy, PolicyRule};
use actors::ratelimit::{LimitOverride, Quota};
use actors::spec::BackendSpec;
pub use actors::spec::IpNet;

#[derive(Debug, Clone, PartialEq)]
pub struct GatewayConfig {
    pub server: ServerConfig,
    /// The built-in OAuth authorization server.
    pub oauth: OAuthConfig,
    /// Database, secrets, setup token and logs live here (created on first start).
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub rate_limit: RateLimitConfig,
    pub audit: AuditConfig,
    pub security: SecurityConfig,
    pub logging: LoggingConfig,
    pub mcp: McpConfig,
    pub metrics: MetricsConfig,
    pub secrets: SecretsConfig,
    pub backends: Vec<BackendSpec>,
    /// `[console]`: the admin console's template overrides.
    pub console: super::console::ConsoleConfig,
    /// `[[policies]]`: authorization rules from the file (the database holds the admin API's).
    pub policies: Vec<PolicyRule>,
    /// Where each key's value came from (default, file, environment, dotenv, flag, database),
    /// recorded by `load`.
    pub sources: super::ValueSources,
}

/// `[oauth]`: the gateway's own authorization server — on or off, client registration (RFC
/// 7591/7592), Client ID Metadata Documents, codes, the login page and the token endpoint's
/// grants. Restart-only except `enabled`.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthConfig {
    /// `false`: the protected-resource metadata lists only the external issuers (the gateway is
    /// a pure resource server). Reloadable.
    pub enabled: bool,
    /// `POST /oauth/register` is open (and advertised in the metadata).
    pub dcr_enabled: bool,
    /// When set, registration needs `Authorization: Bearer <this>`.
    pub dcr_initial_access_token: Option<String>,
    /// Registrations per client IP per `dcr_window`.
    pub dcr_max_per_ip: u32,
    pub dcr_window: Duration,
    /// Clients stored at most (registered and metadata-document ones together).
    pub max_clients: usize,
    /// URL client ids are fetched as metadata documents.
    pub cimd_enabled: bool,
    /// Tests and development only: fetch documents from private/loopback hosts (and over http).
    pub cimd_allow_private: bool,
    pub cimd_timeout: Duration,
    pub cimd_max_bytes: usize,
    /// How long a fetched document is reused.
    pub cimd_cache: Duration,
    /// How long an authorization code may be redeemed.
    pub code_ttl: Duration,
    /// The resource owner password grant at `/oauth/token` (original compatibility).
    pub password_grant_enabled: bool,
    /// How long the authorization server's login cookie keeps a browser signed in.
    pub login_session_ttl: Duration,
}

/// The client-facing MCP endpoint (`/mcp`).
#[derive(Debug, Clone, PartialEq)]
pub struct McpConfig {
    /// Origins (`scheme://host[:port]`) allowed besides the public URL's and loopback ones.
    pub allowed_origins: Vec<String>,
    /// A session unused this long is ended.
    pub session_idle_timeout: Duration,
    pub max_sessions: usize,
    pub max_sessions_per_user: usize,
    /// Items per page of the aggregated list results.
    pub page_size: usize,
    /// Deepest JSON nesting accepted in a request body.
    pub max_json_depth: usize,
    /// Events each session's GET stream keeps for `Last-Event-ID` replay, and for how long.
    pub replay_events: usize,
    pub replay_age: Duration,
    /// How far a GET stream's reader may fall behind before it is cut off.
    pub max_queued_events: usize,
    /// Relayed backend requests that may await the client's answer, per session.
    pub max_pending_requests: usize,
    /// How long a relayed backend request waits for the client's answer before it is forgotten.
    pub pending_request_timeout: Duration,
    /// POST answer streams kept per session for resumption after a disconnect.
    pub max_resumable_streams: usize,
    /// POST answer streams a session may have open (still being answered) at once.
    pub max_open_streams: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Every listener binds this address. Restart-only.
    pub host: String,
    /// Restart-only.
    pub port: u16,
    /// Issuer and base of every advertised URL; never derived from a request's Host header.
    pub public_url: url::Url,
    /// Peers whose `X-Forwarded-For` is believed. Empty: none.
    pub trusted_proxies: Vec<IpNet>,
    /// How long SIGTERM waits for in-flight requests.
    pub drain_timeout: Duration,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// HTTP worker threads (0 = one per core).
    pub workers: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (default `sqlite://<data_dir>/authmcp.db`) or `postgres://…`. Restart-only.
    pub url: String,
    pub pool_size: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuthConfig {
    /// `false` admits anonymous requests (development only).
    pub required: bool,
    /// HS256 signing secret; when absent, one is generated into `<data_dir>/jwt-secret` (0600).
    pub jwt_secret: Option<String>,
    /// HS256 (the secret above), RS256 or ES256 (the private key file below).
    pub jwt_algorithm: KeyAlgorithm,
    /// PEM private key for RS256/ES256; `None` with HS256.
    pub jwt_private_key_file: Option<PathBuf>,
    /// Earlier keys (private or public PEMs) whose tokens still verify until they expire.
    pub jwt_previous_key_files: Vec<PathBuf>,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub bcrypt_cost: u32,
    /// How many bcrypt hashes/verifications may run at once (each takes a blocking thread).
    pub max_concurrent_hashes: usize,
    pub password_policy: PasswordPolicy,
    /// What decides an item no policy of the user's matches: `deny` (default) or `allow`.
    pub default_policy: DefaultPolicy,
    /// A rotated refresh token presented again within this window gets a fresh pair (a retry)
    /// instead of revoking its family.
    pub refresh_reuse_grace: Duration,
    /// `POST /auth/register` creates `user` accounts. Off unless the operator turns it on.
    pub allow_registration: bool,
    /// A new login revokes the user's other sessions of the same client.
    pub enforce_single_session: bool,
    /// SHA-256 of each static bearer token: the tokens themselves are never kept.
    pub static_bearer_token_hashes: Vec<[u8; 32]>,
    /// The user every static bearer token acts as.
    pub static_bearer_tokens_user: Option<String>,
    /// `[[auth.external_issuers]]`: other issuers whose access tokens are accepted
    /// (resource-server mode). Reloadable.
    pub external_issuers: Vec<IssuerSpec>,
}

/// `[rate_limit]`: request limits, all reloadable (SIGHUP). The client IP honours
/// `X-Forwarded-For` only from `server.trusted_proxies`.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitConfig {
    /// Sign-in attempts per client IP per `login_window`: `POST /auth/login`, `/auth/register`,
    /// the `/authorize` login page and the password grant share one allowance.
    pub login_max: u32,
    pub login_window: Duration,
    /// `POST /oauth/token` requests (every grant) per client IP per `token_window`.
    pub token_max: u32,
    pub token_window: Duration,
    /// `/mcp` requests per user per `mcp_window` (admins included); 0 = off.
    pub mcp_max: u32,
    pub mcp_window: Duration,
    /// Calls of one tool per user per `tool_window`; 0 = off.
    pub tool_max: u32,
    pub tool_window: Duration,
    /// `[[rate_limit.backends]]`: requests forwarded to a backend (all users together).
    pub backends: BTreeMap<String, Quota>,
    /// `[[rate_limit.overrides]]`: per role or user `mcp_*`/`tool_*` limits.
    pub overrides: Vec<LimitOverride>,
}

/// `[metrics]`: `GET /metrics`. Reloadable.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsConfig {
    /// `false`: `/metrics` answers 404.
    pub enabled: bool,
    /// SHA-256 (hex) of `scrape_token` / the contents of `scrape_token_file`: a Prometheus
    /// server presenting it as a bearer token may scrape without an admin account.
    pub scrape_token_sha256: Option<String>,
}

/// `[secrets]`: the key that encrypts backend credentials at rest. Restart-only.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretsConfig {
    /// `key_file`, absolute; `None` means `<data_dir>/secret-key`. Generated (0600) on first
    /// start when absent. `AUTHMCP_SECRETS_KEY` (the key itself) wins over any file.
    pub key_file: Option<PathBuf>,
}

/// `[audit]`: the audit trail. Restart-only.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditConfig {
    pub enabled: bool,
    /// Records waiting to be written before new ones are dropped (counted and warned about).
    pub queue_capacity: usize,
    /// Records per transaction; a partial batch is written every `flush_interval`.
    pub batch_size: usize,
    pub flush_interval: Duration,
    /// Store request and response payloads (redacted by `redact_patterns`). Off by default.
    pub capture_payloads: bool,
    /// Regular expressions whose matches are replaced by `[REDACTED]` in captured payloads.
    pub redact_patterns: Vec<String>,
    /// Rows older than this many days are pruned; 0 keeps them forever.
    pub retention_days: u64,
    /// At most this many rows are kept; 0 means no limit.
    pub max_rows: u64,
    /// Also append every record to `<data_dir>/audit/audit.jsonl`, size-rotated.
    pub file: bool,
    pub file_max_bytes: u64,
    pub file_max_files: u32,
}

/// `[security]`: security events. Restart-only.
#[derive(Debug, Clone, PartialEq)]
pub struct SecurityConfig {
    pub enabled: bool,
    /// Events waiting to be written before new ones are dropped (counted).
    pub queue_capacity: usize,
    /// Events older than this many days are pruned; 0 keeps them forever.
    pub retention_days: u64,
    /// At most this many rows are kept; 0 means no limit.
    pub max_rows: u64,
    /// Failed sign-ins from one IP, or for one username, within `brute_force_window_s` that
    /// raise a `brute_force` event; 0 switches the detector off.
    pub brute_force_threshold: u32,
    pub brute_force_window_s: u64,
    /// At most one `unauthorized` event per (IP, endpoint) within this many seconds; the next
    /// one counts those left out. 0 records every one.
    pub unauthorized_window_s: u64,
    /// Scan MCP payloads (off the request path) for `suspicious_payload`: `tools/call`
    /// arguments and results, `prompts/get` and `resources/read` results.
    pub scan_payloads: bool,
    /// Payload copies waiting for the scanner before new ones are dropped (counted).
    pub scan_queue_capacity: usize,
    /// At most this many bytes of a payload are copied and scanned.
    pub scan_max_bytes: usize,
    /// A payload larger than this is itself suspicious.
    pub oversized_bytes: u64,
    /// Prompt-injection phrases, matched case-insensitively.
    pub injection_phrases: Vec<String>,
    /// Withhold a tool whose definition changed from `tools/list` and refuse calls to it until
    /// an administrator approves the change. The one reloadable key of `[security]`.
    pub hold_changed_tools: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoggingConfig {
    /// trace, debug, info, warning, error, critical.
    pub level: String,
    /// Rotate `<data_dir>/logs/gateway.log` when it reaches this size.
    pub max_file_bytes: u64,
    /// Rotated files kept.
    pub max_files: u32,
}

impl GatewayConfig {
    /// Where the key that encrypts backend credentials is kept (`secrets.key_file`, else
    /// `<data_dir>/secret-key`).
    pub fn secrets_key_file(&self) -> PathBuf {
        self.secrets
            .key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join(actors::secrets::KEY_FILE_NAME))
    }
}

impl ServerConfig {
    /// The public URL without a trailing slash, ready for `format!("{}/mcp", …)`.
    ///
    /// `url::Url` always renders a bare origin with a `/` path, so callers building advertised
    /// URLs should use this rather than `public_url.as_str()`.
    pub fn public_base(&self) -> &str {
        self.public_url.as_str().trim_end_matches('/')
    }
}
