//! Validated, immutable descriptions of what the runtime should run.
//!
//! The root crate turns configuration files into these; the actors only ever see validated specs,
//! so nothing below this line re-checks user input. `PartialEq` is what reload diffs compare.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How the gateway talks to one backend MCP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendTransport {
    /// MCP Streamable HTTP (2025-03-26 and later): POST JSON-RPC, answers as JSON or an SSE stream.
    StreamableHttp { url: url::Url },
    /// The 2024-11-05 HTTP+SSE transport: GET an event stream, POST to the endpoint it announces.
    Sse { url: url::Url },
    /// A child process speaking newline-delimited JSON-RPC on stdin/stdout.
    Stdio {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
        cwd: Option<PathBuf>,
    },
}

impl BackendTransport {
    /// The name used in config files, logs and `/health/ready`.
    pub fn kind(&self) -> &'static str {
        match self {
            BackendTransport::StreamableHttp { .. } => "streamable-http",
            BackendTransport::Sse { .. } => "sse",
            BackendTransport::Stdio { .. } => "stdio",
        }
    }
}

/// One configured backend MCP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendSpec {
    /// Unique, URL-safe name (`/mcp/{name}` exposes it alone).
    pub name: String,
    pub transport: BackendTransport,
    /// Prepended to this backend's tool names on the aggregated `/mcp` (default `"<name>_"`).
    pub tool_prefix: String,
    pub enabled: bool,
    /// Upper bound for one request to the backend, `initialize` and health checks included.
    pub timeout: Duration,
    /// Time between health checks.
    pub health_interval: Duration,
    /// The gateway's own credential for this backend (never the client's token).
    pub auth: Option<BackendAuth>,
    /// Extra headers sent on every request to an HTTP backend (`headers = { "X-Api-Key" = … }`),
    /// treated as secrets: they often carry API keys.
    pub headers: BTreeMap<String, SecretString>,
    /// How client sessions share a stdio backend's process; always `Shared` for HTTP backends.
    pub isolation: StdioIsolation,
    /// Where the spec came from: the config file (SIGHUP reloads these) or the database (the
    /// admin API changes these at once).
    pub origin: SpecOrigin,
}

/// How client sessions share a stdio backend's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StdioIsolation {
    /// One child serves every client session; request ids are rewritten so they never collide.
    #[default]
    Shared,
    /// Each client session gets a child of its own (opened on its first request to the backend,
    /// killed when the session ends), at most `max_processes` at once. The backend actor keeps
    /// its own child besides them for health checks and the capability cache.
    PerSession { max_processes: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpecOrigin {
    #[default]
    ConfigFile,
    Database,
}

/// How the gateway authenticates to an HTTP backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendAuth {
    /// `Authorization: Bearer <token>`.
    Bearer(SecretString),
    /// Any other header, e.g. `X-API-Key: <value>` (also `Authorization: Basic …`).
    Header { name: String, value: SecretString },
    /// An OAuth 2.0 access token the backend actor obtains and refreshes itself, sent as
    /// `Authorization: Bearer <token>`.
    OAuth(OAuthClientSpec),
}

/// How the gateway obtains access tokens for a backend from the backend's authorization server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClientSpec {
    pub grant: OAuthGrant,
    /// The token endpoint; `None`: discovered from the backend's RFC 9728 metadata and its
    /// authorization server's RFC 8414 / OpenID metadata.
    pub token_url: Option<url::Url>,
    pub client_id: String,
    /// `None`: a public client (`client_id` in the body, no authentication).
    pub client_secret: Option<SecretString>,
    pub scope: Option<String>,
    /// RFC 8707 `resource`; `None` sends the backend's URL.
    pub resource: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthGrant {
    ClientCredentials,
    /// The refresh-token grant, starting from this configured token (rotated ones replace it
    /// and are persisted, see `backend::PersistedTokens`).
    RefreshToken(SecretString),
}

impl BackendAuth {
    /// `Authorization: Basic <token>`, the token being `base64(user:password)` already, as the
    /// original gateway sent it.
    pub fn basic(token: &SecretString) -> BackendAuth {
        BackendAuth::Header {
            name: "Authorization".into(),
            value: SecretString::new(format!("Basic {}", token.expose())),
        }
    }
}

/// A secret that never shows in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        SecretString(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretString(***)")
    }
}

/// An address with a prefix length, e.g. `10.0.0.0/8` or `::1/128`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
            if prefix == 0 {
                0
            } else {
                bits >> (width - prefix)
            }
        }
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net) as u128, self.prefix, 32)
                    == masked(u32::from(ip) as u128, self.prefix, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), self.prefix, 128)
                    == masked(u128::from(ip), self.prefix, 128)
            }
            (IpAddr::V6(_), IpAddr::V4(ip)) => self.contains(IpAddr::V6(ip.to_ipv6_mapped())),
            (IpAddr::V4(_), IpAddr::V6(ip)) => match ip.to_ipv4_mapped() {
                Some(v4) => self.contains(IpAddr::V4(v4)),
                None => false,
            },
        }
    }
}
