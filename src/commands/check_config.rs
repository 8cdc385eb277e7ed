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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::summary;
    use crate::config::{Sources, load_in_dir};

    #[test]
    fn summary_counts_backends_and_enabled_ones() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gw.toml");
        let text = "[[backends]]\nname = \"a\"\nurl = \"http://a/mcp\"\n\n\
                    [[backends]]\nname = \"b\"\ncommand = \"srv\"\nenabled = false\n";
        std::fs::write(&file, text).unwrap();
        let sources = Sources {
            config_file: Some(file),
            ..Sources::default()
        };
        let cfg = load_in_dir(&sources, &HashMap::new(), dir.path()).unwrap();
        assert_eq!(
            summary("gw.toml", &cfg),
            "Configuration OK: gw.toml, 2 backends (1 enabled)"
        );
    }
}
