//! Boot, run and drain: the daemon's lifecycle, written as one function that takes a listener and
//! a control channel so tests can run the real thing in-process on port 0.
//!
//! Order: storage → identity → backend registry → supervisor tree (backends, sessions) → HTTP
//! server → READY. Reload and shutdown arrive
//! as [`Control`] messages (the signal task turns SIGHUP/SIGTERM/SIGINT into them).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web as aweb};
use anyhow::Context;
use tokio::sync::{mpsc, watch};

use actors::audit::{AuditEvent, AuditHandle, AuditSettings};
use actors::auth::authorization::signed::Signer;
use actors::auth::authorization::{AuthorizationService, AuthorizationSettings};
use actors::auth::cimd::{CimdSettings, ClientResolver, MAX_CACHED_DOCUMENTS};
use actors::auth::clients::{ClientRegistry, ConfiguredSecret};
use actors::auth::external::{ExternalIdentities, FIRST_FETCH_WAIT as EXTERNAL_FIRST_FETCH_WAIT};
use actors::auth::identity::{Identity, IdentitySettings};
use actors::auth::keys::SigningKeys;
use actors::auth::passwords::PasswordHasher;
use actors::auth::policy::{FilePolicies, PolicyService};
use actors::auth::tokens::TokenKeys;
use actors::ratelimit::{Quota, REAP_INTERVAL, RateLimitSettings, RateLimiter};
use actors::registry::BackendRegistry;
use actors::secrets::{KeySource, SecretBox};
use actors::session::SessionLimits;
use actors::storage::{Database, users};
use actors::supervisor::GatewayHandle;
use web::config_control::ReloadOutcome;
use web::mcp::{McpSettings, McpState};
use web::oauth::{OAuthSettings, OAuthState};
use web::{AppState, WebSettings};

use crate::config::{self, GatewayConfig, OAuthConfig, SecurityConfig, Sources};
use crate::first_start;
use crate::runtime_settings::{ReloadRequest, RuntimeSettings, load_overrides};
use crate::sd_notify::Notifier;

/// What the running daemon can be asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Reload,
    Shutdown,
}

/// Where the daemon is in its life, published for tests and the watchdog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lifecycle {
    pub phase: Phase,
    pub reloads_applied: u64,
    pub reloads_failed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    #[default]
    Starting,
    Ready,
    Reloading,
    Stopping,
    Stopped,
}

/// Everything `run` needs besides the configuration.
pub struct RunContext {
    /// Re-read on reload; `None` means reload re-applies the current config (tests).
    pub sources: Option<Sources>,
    pub listener: TcpListener,
    pub control: mpsc::Receiver<Control>,
    pub lifecycle: watch::Sender<Lifecycle>,
    pub notifier: Option<Notifier>,
    pub log: slog::Logger,
    /// Receives the application state once the gateway is ready (tests observe the actors).
    pub on_ready: Option<tokio::sync::oneshot::Sender<AppState>>,
    /// Changes the log level on reload (the real binary's logging pipeline).
    pub log_level: Option<crate::logging::LevelHandle>,
}

/// The parts that live for the whole run.
struct Running {
    /// Read on each reload for the runtime settings.
    db: Database,
    config: GatewayConfig,
    state: AppState,
    gateway: GatewayHandle,
    registry: Arc<BackendRegistry>,
    policies: Arc<PolicyService>,
    external: Arc<ExternalIdentities>,
}

/// How often the registry checks whether another process changed the database backends.
const BACKEND_REFRESH_INTERVAL: Duration = Duration::from_secs(1);
/// How often the policy service checks whether another process changed policies or groups.
const POLICY_REFRESH_INTERVAL: Duration = Duration::from_millis(500);
/// How often the approved tool definitions are checked for another instance's approvals.
const TOOL_APPROVAL_REFRESH_INTERVAL: Duration = Duration::from_millis(500);

/// Where the key that seals backend credentials may be given instead of the key file
/// (`secrets.key_file`, by default `<data_dir>/secret-key`; instances sharing one PostgreSQL
/// must share the key).
pub(crate) const SECRETS_KEY_ENV: &str = "AUTHMCP_SECRETS_KEY";

pub async fn run(config: GatewayConfig, mut ctx: RunContext) -> anyhow::Result<()> {
    let log = ctx.log.clone();
    let db = open_database(&config).await?;
    let (config, runtime_revision) = with_runtime_settings(config, &db, &ctx).await?;
    let (secret, secret_source) =
        first_start::jwt_secret(config.auth.jwt_secret.as_deref(), &config.data_dir)?;
    if let first_start::SecretSource::Generated(path) = &secret_source {
        slog::info!(log, "Generated a JWT signing secret."; "path" => %path.display());
    }
    announce_setup(&config, &db).await?;
    if let Some(dir) = &config.console.template_dir {
        let replaced = web::console::install_overrides(dir)
            .map_err(anyhow::Error::msg)
            .context("while loading the console template overrides")?;
        slog::info!(log, "Console templates overridden."; "dir" => %dir.display(),
            "templates" => replaced.join(","));
    }

    let auth = &config.auth;
    let signing = SigningKeys::load(
        auth.jwt_algorithm,
        secret.as_bytes(),
        auth.jwt_private_key_file.as_deref(),
        &auth.jwt_previous_key_files,
    )
    .context("while loading the JWT signing keys")?;
    slog::info!(log, "JWT signing key loaded."; "algorithm" => auth.jwt_algorithm.as_str(),
        "kid" => signing.active_kid(), "previous_keys" => auth.jwt_previous_key_files.len());
    let keys = TokenKeys::new(
        Arc::new(signing),
        config.server.public_base(),
        auth.access_token_ttl,
    );
    let hasher = PasswordHasher::new(auth.bcrypt_cost, auth.max_concurrent_hashes);
    let identity = Identity::new(db.clone(), hasher, keys, identity_settings(&config))
        .await
        .context("while loading users and tokens")?;
    if let Some(name) = identity.missing_static_tokens_user() {
        slog::warn!(log, "Static bearer tokens name a user that does not exist; they open nothing until it does."; "user" => name);
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(identity.clone().run_refresher(
        Duration::from_millis(500),
        log.clone(),
        stop_rx.clone(),
    ));

    let limits = SessionLimits {
        idle_timeout: config.mcp.session_idle_timeout,
        max_total: config.mcp.max_sessions,
        max_per_user: config.mcp.max_sessions_per_user,
        replay: actors::session::StreamLimits {
            events: config.mcp.replay_events,
            age: config.mcp.replay_age,
            queue: config.mcp.max_queued_events,
            pending: config.mcp.max_pending_requests,
            pending_timeout: config.mcp.pending_request_timeout,
            streams: config.mcp.max_resumable_streams,
            open_streams: config.mcp.max_open_streams,
        },
    };
    let policies = PolicyService::new(db.clone(), file_policies(&config), log.clone())
        .await
        .context("while loading the authorization policies")?;
    tokio::spawn(
        policies
            .clone()
            .run_refresher(POLICY_REFRESH_INTERVAL, stop_rx.clone()),
    );
    let external = external_identities(&config, &db, &identity, &policies, &log, &stop_rx).await?;
    let registry = backend_registry(&config, &db, &log).await?;
    // The tree comes first: the endpoint's sessions are served by its SessionActor.
    // `/health/ready` still answers 503 until `state.gateway` is set below.
    let audit = AuditHandle::new(
        db.clone(),
        audit_settings(&config),
        log.new(slog::o!("actor" => "audit")),
    );
    let security = actors::security::SecurityEvents::new(
        db.clone(),
        security_settings(&config),
        log.new(slog::o!("actor" => "security")),
    );
    // Pinned tool definitions first: the first routing table already withholds changed ones.
    security
        .tool_approvals()
        .load()
        .await
        .context("while loading the approved tool definitions")?;
    security
        .tool_approvals()
        .set_hold(config.security.hold_changed_tools);
    let (approvals, approvals_log, approvals_stop) =
        (security.clone(), log.clone(), stop_rx.clone());
    tokio::spawn(async move {
        approvals
            .tool_approvals()
            .run_refresher(
                TOOL_APPROVAL_REFRESH_INTERVAL,
                approvals_log,
                approvals_stop,
            )
            .await
    });
    // The RateLimitActor in the tree owns the limits (reloads) and reaps idle keys; the
    // SecurityActor and the AuditActor write their tables (stopped last at shutdown, after
    // their queues are written).
    let (gateway, ended_sessions, supervisor_task) = GatewayHandle::start_with_limits(
        registry.desired().await,
        limits,
        rate_limit_settings(&config),
        REAP_INTERVAL,
        actors::supervisor::Writers {
            audit: Some(audit.clone()),
            security: Some(security.clone()),
        },
        Some(registry.persisted_tokens()),
        log.clone(),
    )
    .await
    .context("while starting the supervisor tree")?;
    let rate_limiter = gateway.rate_limiter().clone();
    let mcp = McpState::new(
        gateway.sessions().clone(),
        rate_limiter.clone(),
        mcp_settings(&config),
    );
    let oauth = oauth_state(&config, &db, &identity, secret.as_bytes(), rate_limiter);
    let state = AppState::new(
        identity,
        web_settings(&config),
        mcp.clone(),
        oauth,
        log.clone(),
    );
    state
        .config_view
        .store(Arc::new(crate::config::settings_view(&config)));
    let _ = state.registry.set(registry.clone());
    let _ = state.console.set(web::console::ConsoleSettings {
        setup_token_file: first_start::setup_token_path(&config.data_dir),
        config_file: ctx.sources.as_ref().and_then(|s| s.config_file.clone()),
    });
    let _ = state.audit.set(audit.clone());
    let _ = state.security.set(security.clone());
    install_metrics(&state, &config, &ctx, &audit, &security);
    let _ = state.policies.set(policies.clone());
    let _ = state.external.set(external.clone());
    let (reload_tx, mut reload_rx) = mpsc::channel::<ReloadRequest>(8);
    let view = state.config_view.clone();
    let runtime_settings = RuntimeSettings::new(
        db.clone(),
        ctx.sources.clone(),
        reload_tx,
        Box::new(move || view.load_full()),
        runtime_revision,
    );
    let _ = state.config_control.set(runtime_settings.clone());
    tokio::spawn(runtime_settings.follow_other_instances(log.clone(), stop_rx.clone()));
    let server = http_server(&config, state.clone(), ctx.listener.try_clone()?)?;
    let server_handle = server.handle();
    let server_task = tokio::spawn(server);

    registry.attach(gateway.clone());
    let _ = state.gateway.set(gateway.clone());
    tokio::spawn(web::mcp::background::maintain_routing(
        gateway.clone(),
        mcp.clone(),
        registry.subscribe_desired(),
        log.clone(),
        stop_rx.clone(),
        Some(security.clone()),
    ));
    tokio::spawn(web::mcp::background::announce_policy_changes(
        mcp.clone(),
        policies.clone(),
        log.clone(),
        stop_rx.clone(),
    ));
    let closer = web::mcp::background::spawn_session_closer(
        gateway.clone(),
        ended_sessions,
        mcp.tasks.clone(),
    );
    tokio::spawn(
        registry
            .clone()
            .run_refresher(BACKEND_REFRESH_INTERVAL, stop_rx.clone()),
    );

    let address = ctx.listener.local_addr()?;
    slog::info!(log, "Gateway ready."; "listen" => %address, "public_url" => config.server.public_base(),
        "backends" => config.backends.len(), "database" => %db.kind());
    if let Some(n) = &ctx.notifier {
        // STATUS carries the bound address: `systemctl status` shows it, and tests that start the
        // binary on port 0 learn it from here.
        if let Err(error) = n.notify(&format!("READY=1\nSTATUS=Serving on {address}")) {
            slog::debug!(log, "sd_notify failed."; "error" => %error);
        }
    }
    ctx.lifecycle.send_modify(|l| l.phase = Phase::Ready);
    if let Some(on_ready) = ctx.on_ready.take() {
        let _ = on_ready.send(state.clone());
    }

    let mut running = Running {
        db,
        config,
        state,
        gateway,
        registry,
        policies,
        external,
    };
    let mut watchdog = crate::sd_notify::watchdog_interval().map(tokio::time::interval);
    loop {
        let tick = async {
            match watchdog.as_mut() {
                Some(interval) => {
                    interval.tick().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            message = ctx.control.recv() => match message {
                Some(Control::Reload) => {
                    reload(&mut running, &ctx).await;
                }
                Some(Control::Shutdown) | None => break,
            },
            // The admin API's reloads (a runtime setting changed, the reload button, another
            // instance's change): the same path as SIGHUP, answered with the outcome.
            Some(answer) = reload_rx.recv() => {
                let outcome = reload(&mut running, &ctx).await;
                let _ = answer.send(outcome);
            }
            _ = tick => if let Some(n) = &ctx.notifier { n.watchdog() },
        }
    }

    // Drain: stop accepting, let in-flight requests finish (bounded by drain_timeout), then stop
    // the actors (which kills stdio children) and the background tasks.
    slog::info!(log, "Shutting down: draining in-flight requests."; "drain_timeout_ms" => running.config.server.drain_timeout.as_millis() as u64);
    ctx.lifecycle.send_modify(|l| l.phase = Phase::Stopping);
    if let Some(n) = &ctx.notifier {
        n.stopping();
    }
    // Event streams end with `retry:` before the server cuts connections: GET streams now,
    // answers still running shortly before actix's own deadline (whole seconds, at least one).
    let drain = running.config.server.drain_timeout;
    let cut_off = drain.min(Duration::from_secs(drain.as_secs().max(1)));
    running
        .state
        .mcp
        .close_streams(tokio::time::Instant::now() + cut_off * 3 / 4);
    server_handle.stop(true).await;
    let _ = server_task.await;
    // Every request answered is in the audit and security queues by now: write them before
    // anything stops.
    if let Some(audit) = running.state.audit.get() {
        audit.flush().await;
    }
    if let Some(security) = running.state.security.get() {
        security.flush().await;
    }
    running.gateway.shutdown().await;
    drop(closer);
    let _ = supervisor_task.await;
    let _ = stop_tx.send(true);
    slog::info!(log, "Gateway stopped.");
    ctx.lifecycle.send_modify(|l| l.phase = Phase::Stopped);
    Ok(())
}

/// Trusted external issuers: their keys fetched off the request path (start-up waits a few
/// seconds for the first fetch so their tokens work as soon as the gateway is ready).
async fn external_identities(
    config: &GatewayConfig,
    db: &Database,
    identity: &Arc<Identity>,
    policies: &Arc<PolicyService>,
    log: &slog::Logger,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<Arc<ExternalIdentities>> {
    let issuers = &config.auth.external_issuers;
    let external = ExternalIdentities::new(
        db.clone(),
        identity.clone(),
        policies.clone(),
        config.server.public_base(),
        issuers.clone(),
        log.clone(),
        stop.clone(),
    )
    .await
    .context("while starting the external issuers")?;
    tokio::spawn(
        external
            .clone()
            .run_refresher(Duration::from_millis(500), stop.clone()),
    );
    if !issuers.is_empty() {
        external.wait_for_keys(EXTERNAL_FIRST_FETCH_WAIT).await;
        slog::info!(log, "External issuers configured."; "issuers" => issuers.len());
    }
    Ok(external)
}

/// The key that seals backend credentials, then every backend: the file's and the database's.
async fn backend_registry(
    config: &GatewayConfig,
    db: &Database,
    log: &slog::Logger,
) -> anyhow::Result<Arc<BackendRegistry>> {
    let configured = std::env::var(SECRETS_KEY_ENV)
        .ok()
        .filter(|k| !k.trim().is_empty());
    let (secrets, source) =
        SecretBox::load_or_create(configured.as_deref(), &config.secrets_key_file())
            .with_context(|| format!("while loading the secrets key (or set {SECRETS_KEY_ENV})"))?;
    match &source {
        KeySource::Generated(path) => {
            slog::info!(log, "Generated the key that encrypts backend credentials; back it up with the database."; "path" => %path.display())
        }
        KeySource::File(path) => {
            slog::debug!(log, "Loaded the backend credentials key."; "path" => %path.display())
        }
        KeySource::Configured => {
            slog::debug!(log, "Using the configured backend credentials key."; "env" => SECRETS_KEY_ENV)
        }
    }
    BackendRegistry::load(
        db.clone(),
        Arc::new(secrets),
        config.backends.clone(),
        log.clone(),
    )
    .await
    .context("while loading the backends")
}

async fn open_database(config: &GatewayConfig) -> anyhow::Result<Database> {
    let url = config.database.url.clone();
    let pool = config.database.pool_size;
    tokio::task::spawn_blocking(move || -> anyhow::Result<Database> {
        let db = Database::connect(&url, pool)?;
        db.migrate()?;
        Ok(db)
    })
    .await?
}

/// Prints the setup URL to the terminal (stderr) — never to the log files, which outlive it.
async fn announce_setup(config: &GatewayConfig, db: &Database) -> anyhow::Result<()> {
    let admins = db.run(users::count_admins).await?;
    if let Some(token) = first_start::setup_token(&config.data_dir, admins > 0)? {
        let base = config.server.public_base();
        eprintln!();
        eprintln!("  No administrator exists yet. Finish setup at:");
        eprintln!("    {base}/setup?token={token}");
        eprintln!("  or run: authmcp-gateway create-admin --username NAME --email EMAIL");
        eprintln!(
            "  (the token is also in {})",
            config.data_dir.join("setup-token").display()
        );
        eprintln!();
    }
    Ok(())
}

/// The config file's authorization rules and default policy.
pub fn file_policies(config: &GatewayConfig) -> FilePolicies {
    FilePolicies {
        default: config.auth.default_policy,
        rules: config.policies.clone(),
    }
}

/// The security events' settings from `[security]` (restart-only).
pub fn security_settings(config: &GatewayConfig) -> actors::security::SecuritySettings {
    let s = &config.security;
    actors::security::SecuritySettings {
        enabled: s.enabled,
        queue_capacity: s.queue_capacity,
        retention: (s.retention_days > 0)
            .then(|| std::time::Duration::from_secs(s.retention_days * 86_400)),
        max_rows: (s.max_rows > 0).then_some(s.max_rows),
        brute_force_threshold: s.brute_force_threshold,
        brute_force_window: std::time::Duration::from_secs(s.brute_force_window_s),
        unauthorized_window: std::time::Duration::from_secs(s.unauthorized_window_s),
        scan_payloads: s.scan_payloads,
        scan_queue_capacity: s.scan_queue_capacity,
        scan_max_bytes: s.scan_max_bytes,
        oversized_bytes: usize::try_from(s.oversized_bytes).unwrap_or(usize::MAX),
        injection_phrases: s.injection_phrases.clone(),
        ..actors::security::SecuritySettings::default()
    }
}

/// The audit trail's settings from `[audit]` (restart-only).
pub fn audit_settings(config: &GatewayConfig) -> AuditSettings {
    let a = &config.audit;
    let days = Duration::from_secs(86_400);
    AuditSettings {
        enabled: a.enabled,
        queue_capacity: a.queue_capacity,
        batch_size: a.batch_size,
        flush_interval: a.flush_interval,
        capture_payloads: a.capture_payloads,
        redact_patterns: a.redact_patterns.clone(),
        retention: (a.retention_days > 0).then(|| days * a.retention_days as u32),
        max_rows: (a.max_rows > 0).then_some(a.max_rows),
        file_dir: a.file.then(|| config.data_dir.join("audit")),
        file_max_bytes: a.file_max_bytes,
        file_max_files: a.file_max_files,
    }
}

pub fn mcp_settings(config: &GatewayConfig) -> McpSettings {
    let public_origin = config.server.public_url.origin().ascii_serialization();
    let mut allowed_origins = vec![public_origin];
    allowed_origins.extend(config.mcp.allowed_origins.iter().cloned());
    McpSettings {
        allowed_origins,
        page_size: config.mcp.page_size,
        max_json_depth: config.mcp.max_json_depth,
        max_body_bytes: config.server.max_body_bytes,
    }
}

/// The OAuth authorization server: client registry, metadata-document resolver, the grants
/// (codes, consent, token endpoint), the signer for its browser-facing values (keyed from the
/// gateway secret, so every instance sharing it accepts them) and the registration and login
/// per-IP rate limits (the tree's limiter), from the (restart-only) `[oauth]` settings.
pub fn oauth_state(
    config: &GatewayConfig,
    db: &Database,
    identity: &Arc<Identity>,
    secret: &[u8],
    rate_limiter: Arc<RateLimiter>,
) -> Arc<OAuthState> {
    let o = &config.oauth;
    let clients = Arc::new(ClientRegistry::new(db.clone(), o.max_clients));
    let resolver = Arc::new(ClientResolver::new(
        clients.clone(),
        CimdSettings {
            enabled: o.cimd_enabled,
            allow_private: o.cimd_allow_private,
            timeout: o.cimd_timeout,
            max_bytes: o.cimd_max_bytes,
            cache_ttl: o.cimd_cache,
            max_cache_entries: MAX_CACHED_DOCUMENTS,
        },
    ));
    let authorization = Arc::new(AuthorizationService::new(
        db.clone(),
        identity.clone(),
        clients.clone(),
        AuthorizationSettings {
            code_ttl: o.code_ttl,
            password_grant_enabled: o.password_grant_enabled,
        },
    ));
    Arc::new(OAuthState {
        settings: OAuthSettings {
            initial_access_token: o
                .dcr_initial_access_token
                .as_deref()
                .map(ConfiguredSecret::new),
            cimd_enabled: o.cimd_enabled,
            // ID tokens are signed with the same keys as access tokens.
            id_token_signing_alg: config.auth.jwt_algorithm.as_str().to_string(),
            login_session_ttl: o.login_session_ttl,
        },
        clients,
        resolver,
        authorization,
        signer: Signer::new(secret),
        rate_limiter,
    })
}

/// The limits the RateLimitActor enforces: `[rate_limit]` plus the registration quota of
/// `[oauth]` (reloadable, like the rest).
pub fn rate_limit_settings(config: &GatewayConfig) -> RateLimitSettings {
    let r = &config.rate_limit;
    let quota = |max: u32, window| (max > 0).then_some(Quota { max, window });
    RateLimitSettings {
        // One allowance per client IP for every way to sign in.
        login: Quota {
            max: r.login_max,
            window: r.login_window,
        },
        token: Quota {
            max: r.token_max,
            window: r.token_window,
        },
        register: Quota {
            max: config.oauth.dcr_max_per_ip,
            window: config.oauth.dcr_window,
        },
        mcp: quota(r.mcp_max, r.mcp_window),
        tool: quota(r.tool_max, r.tool_window),
        backends: r.backends.clone(),
        overrides: r.overrides.clone(),
    }
}

/// `[metrics]` as the web layer keeps it (the scrape token only as its digest).
pub fn metrics_settings(config: &GatewayConfig) -> web::metrics::MetricsSettings {
    web::metrics::MetricsSettings {
        enabled: config.metrics.enabled,
        scrape_token: config
            .metrics
            .scrape_token_sha256
            .clone()
            .map(ConfiguredSecret::from_digest),
    }
}

/// Applies `[metrics]` and registers what `/metrics` reads at scrape time: the gateway's
/// sessions, streams, backends and sign-in limiter, and the reload outcomes counted in
/// `Lifecycle`. Other parts' `stats()` are registered the same way (`add_collector`).
fn install_metrics(
    state: &AppState,
    config: &GatewayConfig,
    ctx: &RunContext,
    audit: &AuditHandle,
    security: &actors::security::SecurityEvents,
) {
    state.metrics.configure(metrics_settings(config));
    state
        .metrics
        .add_collector(web::metrics::gateway_collector(state));
    let lifecycle = ctx.lifecycle.subscribe();
    state
        .metrics
        .add_collector(web::metrics::FnCollector::new(move |out| {
            let l = *lifecycle.borrow();
            out.counters(
                "authmcp_config_reloads",
                "Configuration reloads (SIGHUP), by outcome: applied, or failed (the old configuration kept)",
                [
                    (vec![("outcome", "applied")], l.reloads_applied),
                    (vec![("outcome", "failed")], l.reloads_failed),
                ],
            )
        }));
    let audit = audit.clone();
    state
        .metrics
        .add_collector(web::metrics::FnCollector::new(move |out| {
            let stats = audit.stats();
            out.gauge(
                "authmcp_audit_queue_depth",
                "Audit records waiting to be written",
                stats.queued as i64,
            )?;
            out.counter(
                "authmcp_audit_records_written",
                "Audit records committed to the database",
                stats.written,
            )?;
            out.counter(
                "authmcp_audit_records_dropped",
                "Audit records refused because the queue was full (counted and logged, never silent)",
                stats.dropped,
            )
        }));
    let security = security.clone();
    state
        .metrics
        .add_collector(web::metrics::FnCollector::new(move |out| {
            let stats = security.stats();
            out.counters(
                "authmcp_security_events",
                "Security events recorded, by type",
                stats
                    .recorded_by_type
                    .iter()
                    .map(|(t, n)| (vec![("type", *t)], *n)),
            )?;
            out.counter(
                "authmcp_security_events_dropped",
                "Security events refused because the queue was full",
                stats.dropped,
            )?;
            out.counter(
                "authmcp_security_events_suppressed",
                "unauthorized events left out by the per-(IP, endpoint) throttle",
                stats.suppressed,
            )
        }));
}

pub fn identity_settings(config: &GatewayConfig) -> IdentitySettings {
    let auth = &config.auth;
    IdentitySettings {
        refresh_ttl: auth.refresh_token_ttl,
        refresh_reuse_grace: auth.refresh_reuse_grace,
        enforce_single_session: auth.enforce_single_session,
        password_policy: auth.password_policy.clone(),
        static_token_hashes: auth.static_bearer_token_hashes.clone(),
        static_tokens_user: auth.static_bearer_tokens_user.clone(),
    }
}

pub fn web_settings(config: &GatewayConfig) -> WebSettings {
    WebSettings {
        public_url: config.server.public_base().to_string(),
        auth_required: config.auth.required,
        allow_registration: config.auth.allow_registration,
        oauth_enabled: config.oauth.enabled,
        dcr_enabled: config.oauth.dcr_enabled,
        external_issuers: config
            .auth
            .external_issuers
            .iter()
            .map(|i| i.issuer.clone())
            .collect(),
        trusted_proxies: config.server.trusted_proxies.clone(),
        max_body_bytes: config.server.max_body_bytes,
    }
}

fn http_server(
    config: &GatewayConfig,
    state: AppState,
    listener: TcpListener,
) -> anyhow::Result<actix_web::dev::Server> {
    let max_body = config.server.max_body_bytes;
    let data = aweb::Data::new(state);
    let mut server = HttpServer::new(move || {
        // One backend HTTP client per worker: awc is !Send, and per-worker pools avoid locks.
        let backend_client = awc::Client::builder()
            // No pool cap: each open answer stream holds a backend connection, and awc's
            // default of 100 per client would queue the rest.
            .connector(awc::Connector::new().limit(0))
            .disable_timeout()
            // A backend's redirect must not carry our request (and its credential) elsewhere.
            .disable_redirects()
            .finish();
        App::new()
            .app_data(data.clone())
            .app_data(aweb::Data::new(backend_client))
            .app_data(web::json_config(max_body))
            .app_data(aweb::PayloadConfig::new(max_body))
            .wrap(from_fn(web::audit_events::admin_changes))
            .wrap(from_fn(web::authn::require_auth))
            // Outside authn: preflights carry no credentials.
            .wrap(from_fn(web::cors::cors))
            .wrap(from_fn(web::request_context::request_context))
            .configure(web::routes)
            .default_service(aweb::to(web::not_found))
    })
    // We own shutdown (signals arrive as Control messages), so actix must not install handlers.
    .disable_signals()
    // Streamed answers are many small writes: without TCP_NODELAY, Nagle + delayed ACK add ~40 ms.
    .tcp_nodelay(true)
    .shutdown_timeout(config.server.drain_timeout.as_secs().max(1));
    if config.server.workers > 0 {
        server = server.workers(config.server.workers);
    }
    Ok(server.listen(listener)?.run())
}

/// SIGHUP: load → validate → refuse restart-only changes → apply the backend diff → swap settings.
/// Any failure keeps the running configuration.
async fn reload(running: &mut Running, ctx: &RunContext) -> ReloadOutcome {
    let log = &ctx.log;
    ctx.lifecycle.send_modify(|l| l.phase = Phase::Reloading);
    if let Some(n) = &ctx.notifier {
        n.reloading();
    }
    let result = match load_for_reload(running, ctx).await {
        Err(reasons) => {
            for line in &reasons {
                slog::error!(log, "Reload refused: invalid configuration."; "error" => line);
            }
            Err(reasons)
        }
        Ok(new) => apply(running, new, ctx).await,
    };
    if result.is_err()
        && let Some(security) = running.state.security.get()
    {
        security.record(actors::security::SecurityEvent::new(
            actors::security::SecurityEventType::ConfigReloadFailed,
        ));
    }
    if let Some(audit) = running.state.audit.get() {
        audit.record(AuditEvent::auth(
            "config_reload",
            if result.is_ok() { "ok" } else { "failed" },
        ));
    }
    ctx.lifecycle.send_modify(|l| {
        l.phase = Phase::Ready;
        match &result {
            Ok(()) => l.reloads_applied += 1,
            Err(_) => l.reloads_failed += 1,
        }
    });
    if let Some(n) = &ctx.notifier {
        n.ready();
    }
    match result {
        Ok(()) => ReloadOutcome::Applied,
        Err(reasons) => ReloadOutcome::Failed(reasons),
    }
}

/// The file, dotenv and environment as they are now, with the database's runtime settings on
/// top; every problem as one line. Without sources (tests) the running configuration again.
async fn load_for_reload(
    running: &Running,
    ctx: &RunContext,
) -> Result<GatewayConfig, Vec<String>> {
    let Some(sources) = &ctx.sources else {
        return Ok(running.config.clone());
    };
    let (_, runtime) = load_overrides(&running.db)
        .await
        .map_err(|error| vec![format!("cannot read the runtime settings: {error}")])?;
    let sources = Sources {
        runtime,
        ..sources.clone()
    };
    config::load(&sources).map_err(|report| report.errors.iter().map(ToString::to_string).collect())
}

/// At start: the configuration with the database's runtime settings laid over it (they win over
/// the file), and the revision read. An override the rules refuse (the table edited by hand) is
/// logged and the file's configuration used, rather than refusing to start.
async fn with_runtime_settings(
    config: GatewayConfig,
    db: &Database,
    ctx: &RunContext,
) -> anyhow::Result<(GatewayConfig, i64)> {
    let (revision, runtime) = load_overrides(db)
        .await
        .context("while reading the runtime settings")?;
    let Some(sources) = ctx.sources.as_ref().filter(|_| !runtime.is_empty()) else {
        return Ok((config, revision));
    };
    let sources = Sources {
        runtime,
        ..sources.clone()
    };
    match config::load(&sources) {
        Ok(with_runtime) => {
            slog::info!(ctx.log, "Runtime settings from the database applied over the file.";
                "keys" => sources.runtime.keys().cloned().collect::<Vec<_>>().join(","));
            Ok((with_runtime, revision))
        }
        Err(report) => {
            for line in &report.errors {
                slog::error!(ctx.log, "Runtime settings ignored: invalid."; "error" => %line);
            }
            Ok((config, revision))
        }
    }
}

/// Applies `new` or keeps the running configuration; the reasons when it kept it.
async fn apply(
    running: &mut Running,
    new: GatewayConfig,
    ctx: &RunContext,
) -> Result<(), Vec<String>> {
    let log = &ctx.log;
    let refused = restart_only(&running.config, &new);
    if !refused.is_empty() {
        for field in &refused {
            slog::error!(log, "Reload refused: this setting only changes on restart; restart the gateway to apply it."; "field" => *field);
        }
        return Err(refused
            .iter()
            .map(|f| format!("{f}: only changes on restart"))
            .collect());
    }
    // The registry merges the file's backends with the database's and refuses a name on both.
    match running
        .registry
        .reload_file_backends(new.backends.clone())
        .await
    {
        Ok(outcome) => {
            slog::info!(log, "Configuration reloaded.";
                "added" => outcome.added.join(","), "removed" => outcome.removed.join(","),
                "restarted" => outcome.restarted.join(","), "unchanged" => outcome.unchanged.len());
        }
        Err(error @ actors::registry::RegistryError::Clash(_)) => {
            slog::error!(log, "Reload refused: a backend name is used by the config file and the database."; "error" => %error);
            return Err(vec![error.to_string()]);
        }
        Err(error) => {
            slog::error!(log, "Reload failed while applying backends."; "error" => %error);
            return Err(vec![format!("applying backends: {error}")]);
        }
    }
    if let Err(error) = running.policies.reload_file(file_policies(&new)).await {
        slog::error!(log, "Reload failed while applying policies."; "error" => %error);
        return Err(vec![format!("applying policies: {error}")]);
    }
    slog::info!(log, "Policies reloaded."; "file_policies" => new.policies.len(),
        "default_policy" => new.auth.default_policy.as_str());
    if new.auth.external_issuers != running.config.auth.external_issuers {
        running.external.reload(new.auth.external_issuers.clone());
        slog::info!(log, "External issuers reloaded."; "issuers" => new.auth.external_issuers.len());
    }
    if rate_limit_settings(&new) != rate_limit_settings(&running.config) {
        if let Err(error) = running
            .gateway
            .apply_rate_limits(rate_limit_settings(&new))
            .await
        {
            slog::error!(log, "Reload failed while applying rate limits."; "error" => %error);
            return Err(vec![format!("applying rate limits: {error}")]);
        }
        slog::info!(log, "Rate limits reloaded.");
    }
    if let Some(security) = running.state.security.get() {
        security
            .tool_approvals()
            .set_hold(new.security.hold_changed_tools);
    }
    running.state.settings.store(Arc::new(web_settings(&new)));
    running
        .state
        .config_view
        .store(Arc::new(crate::config::settings_view(&new)));
    running.state.metrics.configure(metrics_settings(&new));
    running
        .state
        .mcp
        .settings
        .store(Arc::new(mcp_settings(&new)));
    if let (Some(handle), Some(level)) = (
        &ctx.log_level,
        crate::logging::parse_level(&new.logging.level),
    ) {
        handle.set_level(level);
    }
    running.config = new;
    Ok(())
}

/// `[oauth]` with its reloadable keys blanked, for comparing the restart-only rest.
fn reloadable_oauth(o: &OAuthConfig) -> OAuthConfig {
    OAuthConfig {
        enabled: true,
        dcr_enabled: true,
        dcr_max_per_ip: 0,
        dcr_window: Duration::ZERO,
        ..o.clone()
    }
}

/// Settings that the running process cannot change: the config module's list plus what this
/// wiring builds once at boot (token keys, password hasher, log files, HTTP server).
fn restart_only(old: &GatewayConfig, new: &GatewayConfig) -> Vec<&'static str> {
    let mut refused = config::restart_only_changes(old, new);
    let (a, b) = (&old.auth, &new.auth);
    let checks = [
        (
            old.server.public_url != new.server.public_url,
            "server.public_url",
        ),
        (
            old.server.drain_timeout != new.server.drain_timeout,
            "server.drain_timeout_ms",
        ),
        (a.jwt_secret != b.jwt_secret, "auth.jwt_secret"),
        (a.jwt_algorithm != b.jwt_algorithm, "auth.jwt_algorithm"),
        (
            a.jwt_private_key_file != b.jwt_private_key_file,
            "auth.jwt_private_key_file",
        ),
        (
            a.jwt_previous_key_files != b.jwt_previous_key_files,
            "auth.jwt_previous_key_files",
        ),
        (
            a.refresh_reuse_grace != b.refresh_reuse_grace,
            "auth.refresh_reuse_grace_s",
        ),
        (
            a.enforce_single_session != b.enforce_single_session,
            "auth.enforce_single_session",
        ),
        (
            a.static_bearer_token_hashes != b.static_bearer_token_hashes,
            "auth.static_bearer_tokens",
        ),
        (
            a.static_bearer_tokens_user != b.static_bearer_tokens_user,
            "auth.static_bearer_tokens_user",
        ),
        (
            a.access_token_ttl != b.access_token_ttl,
            "auth.access_token_ttl_s",
        ),
        (
            a.refresh_token_ttl != b.refresh_token_ttl,
            "auth.refresh_token_ttl_s",
        ),
        (a.bcrypt_cost != b.bcrypt_cost, "auth.bcrypt_cost"),
        (
            a.max_concurrent_hashes != b.max_concurrent_hashes,
            "auth.max_concurrent_hashes",
        ),
        (
            a.password_policy != b.password_policy,
            "auth.password_policy",
        ),
        (
            old.mcp.session_idle_timeout != new.mcp.session_idle_timeout,
            "mcp.session_idle_timeout_s",
        ),
        (
            old.mcp.max_sessions != new.mcp.max_sessions,
            "mcp.max_sessions",
        ),
        (
            old.mcp.max_sessions_per_user != new.mcp.max_sessions_per_user,
            "mcp.max_sessions_per_user",
        ),
        (
            old.mcp.replay_events != new.mcp.replay_events,
            "mcp.replay_events",
        ),
        (old.mcp.replay_age != new.mcp.replay_age, "mcp.replay_age_s"),
        (
            old.mcp.max_queued_events != new.mcp.max_queued_events,
            "mcp.max_queued_events",
        ),
        (
            old.mcp.max_pending_requests != new.mcp.max_pending_requests,
            "mcp.max_pending_requests",
        ),
        (
            old.mcp.pending_request_timeout != new.mcp.pending_request_timeout,
            "mcp.pending_request_timeout_s",
        ),
        (
            old.mcp.max_resumable_streams != new.mcp.max_resumable_streams,
            "mcp.max_resumable_streams",
        ),
        (
            old.mcp.max_open_streams != new.mcp.max_open_streams,
            "mcp.max_open_streams",
        ),
        (
            old.logging.max_file_bytes != new.logging.max_file_bytes,
            "logging.max_file_bytes",
        ),
        // `oauth.enabled` (the advertised servers) and registration (on/off in WebSettings, its
        // quota in the rate limiter) are reloadable.
        (
            reloadable_oauth(&old.oauth) != reloadable_oauth(&new.oauth),
            "oauth",
        ),
        (old.audit != new.audit, "audit"),
        // `security.hold_changed_tools` is reloadable (it only changes what is withheld).
        (
            SecurityConfig {
                hold_changed_tools: false,
                ..old.security.clone()
            } != SecurityConfig {
                hold_changed_tools: false,
                ..new.security.clone()
            },
            "security",
        ),
        (old.console != new.console, "console"),
        (
            old.logging.max_files != new.logging.max_files,
            "logging.max_files",
        ),
    ];
    refused.extend(
        checks
            .iter()
            .filter(|(changed, _)| *changed)
            .map(|(_, name)| *name),
    );
    refused
}
