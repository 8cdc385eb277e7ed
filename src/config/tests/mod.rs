//! Tests of the configuration loader: layering, validation, and the files shipped in `config/`.
//!
//! Every test loads through the public entry points with an explicit environment map and a
//! temporary working directory, so none of them touches the process environment or cwd.

mod audit;
mod backend_auth;
mod external_issuers;
mod isolation;
mod layers;
mod metrics;
mod policies;
mod runtime_layer;
mod secrets;
mod shipped;
mod tokens;
mod validation;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{ConfigReport, GatewayConfig, Sources, load_in_dir};

pub(super) fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A scratch working directory.
pub(super) struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Scratch {
            dir: tempfile::tempdir().expect("create a temporary directory"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent directory");
        }
        std::fs::write(&path, text).expect("write a test file");
        path
    }

    pub fn load(
        &self,
        sources: &Sources,
        env: &HashMap<String, String>,
    ) -> Result<GatewayConfig, ConfigReport> {
        load_in_dir(sources, env, self.path())
    }

    /// Loads `text` as the `--config` file with an empty environment.
    pub fn load_toml(&self, text: &str) -> Result<GatewayConfig, ConfigReport> {
        let file = self.write("gateway.toml", text);
        self.load(&with_file(file), &HashMap::new())
    }
}

pub(super) fn with_file(file: PathBuf) -> Sources {
    Sources {
        config_file: Some(file),
        ..Sources::default()
    }
}

/// The built-in defaults alone: an empty `--config` file in an empty directory.
pub(super) fn defaults(scratch: &Scratch) -> GatewayConfig {
    scratch.load_toml("").expect("defaults are valid")
}

pub(super) fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The report's errors as `key: message` lines, for readable assertion failures.
pub(super) fn keys_of(report: &ConfigReport) -> Vec<String> {
    report.errors.iter().map(|e| e.key.clone()).collect()
}
