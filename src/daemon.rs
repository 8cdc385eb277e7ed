//! Runs each subcommand: loads configuration the same way for all of them, then either starts the
//! daemon (logging, runtime, signals, sd_notify) or performs a one-shot command.

use std::net::TcpListener;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{mpsc, watch};

use crate::app::{self, RunContext};
use crate::cli::{AuditAction, Command, SecretsAction, StartArgs, TokenAction, UserAction};
use crate::config::{self, GatewayConfig, Sources};
use crate::{commands, first_start, logging, sd_notify, signals};

pub fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Start(args) => start(&args).map(|()| ExitCode::SUCCESS),
        Command::InitDb(sources) => {
            let cfg = load_for_data(&Sources::from_args(&sources))?;
            commands::init_db::run(&cfg)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::CreateAdmin(args) => {
            let cfg = load_for_data(&Sources::from_args(&args.sources))?;
            commands::create_admin::run(&cfg, &args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Secrets {
            action: SecretsAction::RotateKey(sources),
        } => {
            let cfg = load_for_data(&Sources::from_args(&sources))?;
            let configured = std::env::var(app::SECRETS_KEY_ENV)
                .ok()
                .filter(|k| !k.trim().is_empty());
            commands::secrets::rotate_key(&cfg, configured.as_deref())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::User { action } => {
            let sources = match &action {
                UserAction::List(s) => s,
                UserAction::Disable(a) | UserAction::Enable(a) => &a.sources,
                UserAction::SetPassword(a) => &a.sources,
            };
            let cfg = load_for_data(&Sources::from_args(sources))?;
            commands::users::run(&cfg, &action)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Token { action } => {
            let sources = match &action {
                TokenAction::Create(a) => &a.sources,
                TokenAction::List(s) => s,
                TokenAction::Revoke(a) => &a.sources,
            };
            let cfg = load_for_data(&Sources::from_args(sources))?;
            commands::tokens::run(&cfg, &action)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Version => {
            println!("authmcp-gateway {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig(sources) => Ok(
            if commands::check_config::run(&Sources::from_args(&sources)) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            },
        ),
        Command::Audit {
            action: AuditAction::Verify(sources),
        } => {
            let cfg = load_for_data(&Sources::from_args(&sources))?;
            Ok(if commands::audit::verify(&cfg)? {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Scan(args) => commands::scan::run(&args),
        Command::Healthcheck(args) => {
            let url = match &args.url {
                Some(url) => url.clone(),
                None => {
                    commands::healthcheck::default_url(&load(&Sources::from_args(&args.sources))?)
                }
            };
            commands::healthcheck::run(&url, Duration::from_secs(args.timeout))?;
            println!("healthy: {url}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Loads and validates, turning the report into one error listing every problem.
fn load(sources: &Sources) -> anyhow::Result<GatewayConfig> {
    config::load(sources).map_err(|report| anyhow::anyhow!("invalid configuration:\n{report}"))
}

/// Commands that touch the database need the data directory too.
fn load_for_data(sources: &Sources) -> anyhow::Result<GatewayConfig> {
    let cfg = load(sources)?;
    first_start::ensure_data_dir(&cfg.data_dir)?;
    Ok(cfg)
}

fn start(args: &StartArgs) -> anyhow::Result<()> {
    crate::memory::use_one_c_heap_arena();
    let sources = Sources::from_start(args);
    let cfg = load_for_data(&sources)?;
    let level = logging::parse_level(&cfg.logging.level).context("invalid log level")?;
    let guard = logging::init(&logging::LogSettings {
        level,
        dir: Some(cfg.data_dir.join("logs")),
        max_file_bytes: cfg.logging.max_file_bytes,
        max_files: cfg.logging.max_files,
    })?;
    let log = guard.logger();
    let address = format!("{}:{}", cfg.server.host, cfg.server.port);
    let listener = TcpListener::bind(&address).with_context(|| {
        format!("cannot listen on {address} (is another gateway or program using the port? change --port or server.port)")
    })?;
    listener.set_nonblocking(true)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("authmcp-main")
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(async {
        let (control_tx, control_rx) = mpsc::channel(8);
        signals::forward_signals(control_tx, log.clone())?;
        let (lifecycle, _) = watch::channel(app::Lifecycle::default());
        app::run(
            cfg,
            RunContext {
                sources: Some(sources),
                listener,
                control: control_rx,
                lifecycle,
                notifier: sd_notify::Notifier::from_env(),
                log: log.clone(),
                on_ready: None,
                log_level: Some(guard.level_handle()),
            },
        )
        .await
    });
    if let Err(error) = &result {
        slog::crit!(log, "The gateway stopped on an error."; "error" => format!("{error:#}"));
    }
    runtime.shutdown_timeout(Duration::from_secs(2));
    drop(guard);
    result
}
