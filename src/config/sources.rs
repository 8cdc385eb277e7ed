//! Where a configuration comes from: the file, the dotenv file, the command-line flags and the
//! database's runtime settings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cli::{SourceArgs, StartArgs};

/// The file read when `--config` is not given, relative to the working directory; skipped when it
/// does not exist.
pub const DEFAULT_CONFIG_FILE: &str = "config/authmcp-gateway.toml";

/// Every input of `load` besides the process environment. Command-line flags win over everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    /// `--config`: must exist. `None`: [`DEFAULT_CONFIG_FILE`] when it exists.
    pub config_file: Option<PathBuf>,
    /// `--env-file`: a dotenv file whose variables count as environment variables, below the real
    /// environment. Must exist when given.
    pub env_file: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    /// `--db-path`: a SQLite file; sets the database to `sqlite://<path>`.
    pub db_path: Option<PathBuf>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub log_level: Option<String>,
    /// Runtime settings from the database (key → JSON value), laid over everything else. Only
    /// keys in [`super::RUNTIME_KEYS`]; the binary fills this from `runtime_settings`.
    pub runtime: BTreeMap<String, serde_json::Value>,
}

impl Sources {
    pub fn from_args(args: &SourceArgs) -> Self {
        Sources {
            config_file: args.config.clone(),
            env_file: args.env_file.clone(),
            data_dir: args.data_dir.clone(),
            db_path: args.db_path.clone(),
            host: None,
            port: None,
            log_level: None,
            runtime: BTreeMap::new(),
        }
    }

    pub fn from_start(args: &StartArgs) -> Self {
        Sources {
            host: args.host.clone(),
            port: args.port,
            log_level: args.log_level.clone(),
            ..Sources::from_args(&args.sources)
        }
    }

    /// The configuration file `load` reads, if any: `--config` as given, else the default file
    /// when it exists in `cwd`.
    pub fn config_file_in(&self, cwd: &Path) -> Option<PathBuf> {
        match &self.config_file {
            Some(path) => Some(path.clone()),
            None => {
                let default = PathBuf::from(DEFAULT_CONFIG_FILE);
                cwd.join(&default).is_file().then_some(default)
            }
        }
    }
}
