//! The command line, seed-compatible with the Python AuthMCP Gateway.
//!
//! Every command that reads configuration or the database takes the same [`SourceArgs`], with the
//! same defaults as `start`, so `create-admin` run beside a live gateway finds the same database.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "authmcp-gateway",
    version,
    about = "One authenticated, authorised, rate-limited and audited MCP endpoint in front of many MCP servers."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway in the foreground (systemd: Type=notify).
    Start(StartArgs),
    /// Create the database (if needed) and apply pending migrations.
    InitDb(SourceArgs),
    /// Create an administrator account. Works while the gateway runs.
    CreateAdmin(CreateAdminArgs),
    /// List, disable, enable users or set a user's password.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Create, list or revoke API tokens for machine clients.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Manage the key that encrypts stored backend credentials.
    Secrets {
        #[command(subcommand)]
        action: SecretsAction,
    },
    /// Print the version.
    Version,
    /// Validate the configuration; print every error and exit 1 if there is any.
    CheckConfig(SourceArgs),
    /// Exit 0 when a running instance answers GET /health.
    Healthcheck(HealthcheckArgs),
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Probe an MCP server (Streamable HTTP) for security weaknesses the way an attacker would;
    /// exit 1 when a finding is high or critical, 2 when the server cannot be scanned.
    Scan(ScanArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ScanArgs {
    /// The MCP endpoint, e.g. https://mcp.example.com/mcp.
    pub url: String,
    /// A valid bearer token for the server: enables the checks that need a session. Prefer
    /// --token-env, which keeps the token out of the process list.
    #[arg(long, conflicts_with = "token_env")]
    pub token: Option<String>,
    /// The name of an environment variable holding the bearer token.
    #[arg(long)]
    pub token_env: Option<String>,
    /// Also write the report as JSON to this file (`-` for stdout instead of the text report).
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
    /// Seconds to wait for each answer.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Walk the audit records' hash chain; report the first altered, inserted or deleted record
    /// and exit 1, or print how many records check out and exit 0.
    Verify(SourceArgs),
}

/// Where configuration and data come from. Defaults match `start`.
#[derive(Debug, Clone, Default, Args)]
pub struct SourceArgs {
    /// TOML configuration file [default: config/authmcp-gateway.toml if it exists].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A dotenv file whose variables apply on top of the configuration file.
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// Directory for the database, secrets and logs [default: ./data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// SQLite database file (the original's --db-path; same as AUTH_SQLITE_PATH).
    #[arg(long, value_name = "FILE")]
    pub db_path: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct StartArgs {
    #[command(flatten)]
    pub sources: SourceArgs,
    /// Address every listener binds [default: 0.0.0.0].
    #[arg(long, value_name = "H")]
    pub host: Option<String>,
    /// Port of the HTTP listener [default: 8000].
    #[arg(long, value_name = "P")]
    pub port: Option<u16>,
    /// trace, debug, info, warning or error [default: info].
    #[arg(long, value_name = "L")]
    pub log_level: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct CreateAdminArgs {
    #[command(flatten)]
    pub sources: SourceArgs,
    #[arg(long)]
    pub username: String,
    #[arg(long)]
    pub email: String,
    /// The password; prompted for (or read from stdin when it is not a terminal) when absent.
    #[arg(long)]
    pub password: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// List every user with role and status.
    List(SourceArgs),
    /// Disable a user: their tokens stop working at once.
    Disable(UserNameArgs),
    /// Enable a disabled user.
    Enable(UserNameArgs),
    /// Set a user's password (prompted, or read from stdin, when --password is absent).
    SetPassword(SetPasswordArgs),
}

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Create an API token for a user; it acts with exactly that user's permissions. The token
    /// is printed once and only its hash is stored.
    Create(TokenCreateArgs),
    /// List API tokens (never the tokens themselves).
    List(SourceArgs),
    /// Revoke an API token by id; it stops working at once, also in a running gateway.
    Revoke(TokenRevokeArgs),
}

#[derive(Debug, Subcommand)]
pub enum SecretsAction {
    /// Re-encrypt every stored backend credential under a new key (one transaction) and swap
    /// the key file (`secrets.key_file`, default `<data_dir>/secret-key`) for it, keeping the
    /// old one beside it with `.old` appended. Stop the gateway first (every instance sharing
    /// the database).
    RotateKey(SourceArgs),
}

#[derive(Debug, Clone, Args)]
pub struct TokenCreateArgs {
    #[command(flatten)]
    pub sources: SourceArgs,
    /// The user the token acts as.
    #[arg(long)]
    pub user: String,
    /// What the token is for (shown in lists).
    #[arg(long)]
    pub name: String,
    /// Days until it expires [default: never].
    #[arg(long, value_name = "D", value_parser = clap::value_parser!(u64).range(1..=3650))]
    pub expires_days: Option<u64>,
}

#[derive(Debug, Clone, Args)]
pub struct TokenRevokeArgs {
    #[command(flatten)]
    pub sources: SourceArgs,
    pub id: i64,
}

#[derive(Debug, Clone, Args)]
pub struct UserNameArgs {
    #[command(flatten)]
    pub sources: SourceArgs,
    pub username: String,
}

#[derive(Debug, Clone, Args)]
pub struct SetPasswordArgs {
    #[command(flatten)]
    pub sources: SourceArgs,
    pub username: String,
    #[arg(long)]
    pub password: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    #[command(flatten)]
    pub sources: SourceArgs,
    /// Full URL to probe [default: http://127.0.0.1:<port>/health from the configuration].
    #[arg(long)]
    pub url: Option<String>,
    /// Seconds to wait for an answer.
    #[arg(long, default_value_t = 5)]
    pub timeout: u64,
}
