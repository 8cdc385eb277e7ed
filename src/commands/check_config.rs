//! `authmcp-gateway check-config`: validate without starting (systemd `ExecStartPre`, CI, and
//! before `systemctl reload`).

use crate::config::{self, Sources};

/// Loads the configuration as `start` would. On success prints one summary line to stdout; on
/// failure prints every error to stderr, one per line. Returns whether it is valid.
pub fn run(sources: &Sources) -> bool {
    let shown = match std::env::current_dir() {
        Ok(cwd) => sources.config_file_in(&cwd).map_or_else(
            || "built-in defaults".to_string(),
            |p| p.display().to_string(),
        ),
        Err(_) => "built-in defaults".to_string(),
    };
    match config::load(sources) {
        Ok(cfg) => {
            println!("{}", summary(&shown, &cfg));
            true
        }
        Err(report) => {
            let count = report.errors.len();
            eprintln!("{report}");
            let noun = if count == 1 { "error" } else { "errors" };
            eprintln!("Configuration invalid: {count} {noun}.");
            false
        }
    }
}

/// `Configuration OK: <file or defaults>, N backends (M enabled)`.
pub fn summary(shown: &str, cfg: &config::GatewayConfig) -> String {
    let total = cfg.backends.len();
    let enabled = cfg.backends.iter().filter(|b| b.enabled).count();
    let noun = if total == 1 { "backend" } else { "backends" };
    format!("Configuration OK: {shown}, {total} {noun} ({enabled} enabled)")
}
