//! Layering: built-in defaults → configuration file → `--env-file` → environment → flags →
//! runtime settings from the database (`Sources::runtime`).
//!
//! The `config` crate merges the layers; every value carries its origin (file path, variable name,
//! flag) so validation can say where a bad value came from. Overrides are resolved here, in layer
//! order, before they reach the builder, because the builder keeps overrides in a hash map and
//! would not preserve our precedence between two spellings of one key.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use config::{Config, FileFormat, Format, Map, Source, Value, ValueKind};

use super::dotenv;
use super::env::{Override, overrides_from_vars};
use super::error::{ConfigError, ConfigReport};
use super::keys::{BuiltIn, SCALAR_KEYS};
use super::model::GatewayConfig;
use super::paths::sqlite_url_for;
use super::runtime;
use super::sources::Sources;
use super::validate::validate;
use super::value_sources;

pub(crate) const DEFAULTS_SOURCE: &str = "built-in defaults";
/// Origins of environment values: `environment variable PORT`, `variable PORT in .env`.
pub(crate) const ENV_PREFIX: &str = "environment variable ";
pub(crate) const DOTENV_PREFIX: &str = "variable ";

/// A TOML text already parsed, handed to the `config` builder with its path as origin.
#[derive(Debug, Clone)]
struct ParsedFile {
    table: Map<String, Value>,
}

impl Source for ParsedFile {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, config::ConfigError> {
        Ok(self.table.clone())
    }
}

pub(crate) fn load_in(
    sources: &Sources,
    process_env: &HashMap<String, String>,
    cwd: &Path,
) -> Result<GatewayConfig, ConfigReport> {
    let mut report = ConfigReport::default();
    let file_path = sources.config_file_in(cwd);
    let file_source = file_path.as_ref().map(|p| p.display().to_string());
    let file = file_path
        .as_ref()
        .and_then(|path| read_toml(&cwd.join(path), &path.display().to_string(), &mut report));

    let mut overrides = Vec::new();
    if let Some(env_file) = &sources.env_file {
        let shown = env_file.display().to_string();
        if let Some(vars) = read_dotenv(&cwd.join(env_file), &shown, &mut report) {
            let describe = |name: &str| format!("{DOTENV_PREFIX}{name} in {shown}");
            overrides.extend(overrides_from_vars(&vars, &describe, cwd, &mut report));
        }
    }
    let env: BTreeMap<String, String> = process_env.clone().into_iter().collect();
    let describe = |name: &str| format!("{ENV_PREFIX}{name}");
    overrides.extend(overrides_from_vars(&env, &describe, cwd, &mut report));
    overrides.extend(flag_overrides(sources, cwd));
    // Last, so the database's runtime settings win over the file and the environment.
    overrides.extend(runtime::overrides(&sources.runtime, &mut report));

    // A file that cannot be read or parsed would make every later error misleading.
    if file_path.is_some() && file.is_none() {
        return Err(report);
    }
    let root = match build_tree(file, overrides) {
        Ok(root) => root,
        Err(error) => {
            report.push(ConfigError::new(DEFAULTS_SOURCE, "", error.to_string()));
            return Err(report);
        }
    };
    let fallback = file_source.as_deref().unwrap_or(DEFAULTS_SOURCE);
    let origins = value_sources::collect(&root);
    let config = validate(root, fallback, cwd, &env, &mut report);
    match config {
        Some(mut config) if report.is_empty() => {
            config.sources = origins;
            Ok(config)
        }
        _ => {
            if report.is_empty() {
                // Every read that yields nothing records why; this guards that invariant.
                report.push(ConfigError::new(
                    fallback,
                    "",
                    "the configuration is incomplete",
                ));
            }
            Err(report)
        }
    }
}

fn build_tree(
    file: Option<Map<String, Value>>,
    overrides: Vec<Override>,
) -> Result<Map<String, Value>, config::ConfigError> {
    let defaults_origin = DEFAULTS_SOURCE.to_string();
    let mut builder = Config::builder();
    for key in SCALAR_KEYS {
        let Some(default) = key.default else { continue };
        let kind = match default {
            BuiltIn::Str(s) => ValueKind::String(s.to_string()),
            BuiltIn::Bool(b) => ValueKind::Boolean(b),
            BuiltIn::UInt(n) => ValueKind::I64(n as i64),
            BuiltIn::StrList(items) => ValueKind::Array(
                items
                    .iter()
                    .map(|s| Value::new(Some(&defaults_origin), *s))
                    .collect(),
            ),
        };
        builder = builder.set_default(key.path, Value::new(Some(&defaults_origin), kind))?;
    }
    if let Some(table) = file {
        builder = builder.add_source(ParsedFile { table });
    }
    // Last writer wins: the list is in layer order.
    let mut winners: BTreeMap<String, Override> = BTreeMap::new();
    for o in overrides {
        winners.insert(o.path.clone(), o);
    }
    for (path, o) in winners {
        let value = Value::new(Some(&o.source), retag(o.value, &o.source));
        builder = builder.set_override(path, value)?;
    }
    builder.build()?.collect()
}

/// Gives list elements the origin of their list, so element errors name the variable.
fn retag(kind: ValueKind, origin: &String) -> ValueKind {
    match kind {
        ValueKind::Array(items) => ValueKind::Array(
            items
                .into_iter()
                .map(|v| Value::new(Some(origin), v.kind))
                .collect(),
        ),
        other => other,
    }
}

fn flag_overrides(sources: &Sources, cwd: &Path) -> Vec<Override> {
    let mut flags = Vec::new();
    let mut push = |flag: &str, path: &str, value: ValueKind| {
        flags.push(Override {
            path: path.to_string(),
            value,
            source: flag.to_string(),
        })
    };
    if let Some(dir) = &sources.data_dir {
        push(
            "--data-dir",
            "data_dir",
            ValueKind::String(dir.display().to_string()),
        );
    }
    if let Some(file) = &sources.db_path {
        push(
            "--db-path",
            "database.url",
            ValueKind::String(sqlite_url_for(cwd, file)),
        );
    }
    if let Some(host) = &sources.host {
        push("--host", "server.host", ValueKind::String(host.clone()));
    }
    if let Some(port) = sources.port {
        push("--port", "server.port", ValueKind::I64(port.into()));
    }
    if let Some(level) = &sources.log_level {
        push(
            "--log-level",
            "logging.level",
            ValueKind::String(level.clone()),
        );
    }
    flags
}

fn read_toml(path: &Path, shown: &str, report: &mut ConfigReport) -> Option<Map<String, Value>> {
    let text = read_text(path, shown, "configuration file", report)?;
    let origin = shown.to_string();
    match FileFormat::Toml.parse(Some(&origin), &text) {
        Ok(table) => Some(table),
        Err(error) => {
            report.push(ConfigError::new(shown, "", one_line(&error.to_string())));
            None
        }
    }
}

fn read_dotenv(
    path: &Path,
    shown: &str,
    report: &mut ConfigReport,
) -> Option<BTreeMap<String, String>> {
    let text = read_text(path, shown, "env file", report)?;
    match dotenv::parse(&text) {
        Ok(vars) => Some(vars),
        Err(errors) => {
            for e in errors {
                report.push(ConfigError::new(
                    format!("{shown}:{}", e.line),
                    "",
                    e.message,
                ));
            }
            None
        }
    }
}

fn read_text(path: &Path, shown: &str, what: &str, report: &mut ConfigReport) -> Option<String> {
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Some(
                text.strip_prefix('\u{feff}')
                    .map_or(text.clone(), str::to_string),
            ),
            Err(_) => {
                report.push(ConfigError::new(
                    shown,
                    "",
                    format!("the {what} is not UTF-8 text"),
                ));
                None
            }
        },
        Err(error) => {
            let message = match error.kind() {
                std::io::ErrorKind::NotFound => format!("{what} not found"),
                std::io::ErrorKind::PermissionDenied => {
                    format!("permission denied reading the {what}")
                }
                _ => format!("cannot read the {what}: {error}"),
            };
            report.push(ConfigError::new(shown, "", message));
            None
        }
    }
}

/// toml's errors span several lines (a source excerpt with a caret); the report wants one line.
fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with('|')
                && !l.chars().next().is_some_and(|c| c.is_ascii_digit())
        })
        .collect();
    lines.join(": ")
}
