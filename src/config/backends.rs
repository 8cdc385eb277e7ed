//! `[[backends]]` tables → [`BackendSpec`]s, with every per-backend and cross-backend error.
//!
//! A backend is either remote (`url`, transport `streamable-http` or `sse`) or a child process
//! (`command`, transport `stdio`); the transport is inferred when omitted. Fields that only make
//! sense for the other kind are errors rather than silently ignored.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use actors::spec::{BackendSpec, BackendTransport};
use config::{Value, ValueKind};

use super::checks;
use super::keys::{DEFAULT_BACKEND_TIMEOUT_MS, DEFAULT_HEALTH_INTERVAL_S};
use super::reader::{TableReader, describe};

const STDIO_ONLY: [&str; 3] = ["args", "env", "cwd"];

/// Reads `backends`; `None` when any backend is invalid (all of them are still checked).
pub(crate) fn read_backends(root: &mut TableReader<'_>) -> Option<Vec<BackendSpec>> {
    let items = match root.take("backends") {
        None => return Some(Vec::new()),
        Some(value) => match value.kind {
            ValueKind::Array(items) => items,
            ref other => {
                let message = format!(
                    "expected a list of [[backends]] tables, found {}",
                    describe(other)
                );
                root.error("backends", Some(&value), message);
                return None;
            }
        },
    };
    let fallback = root.fallback_source().to_string();
    let mut specs = Vec::with_capacity(items.len());
    let mut all_ok = true;
    let mut first_index_of: BTreeMap<String, usize> = BTreeMap::new();
    for (index, item) in items.into_iter().enumerate() {
        let prefix = format!("backends[{index}]");
        let source = item
            .origin()
            .map_or_else(|| fallback.clone(), str::to_string);
        let ValueKind::Table(table) = item.kind else {
            let message = format!("expected a table, found {}", describe(&item.kind));
            root.report()
                .push(super::ConfigError::new(source, prefix, message));
            all_ok = false;
            continue;
        };
        let mut reader = TableReader::new(prefix, source, table, root.report());
        let name_value = reader.take("name");
        let name = read_name(&mut reader, name_value.as_ref());
        if let Some(name) = &name {
            if let Some(first) = first_index_of.get(name) {
                let message =
                    format!("duplicate backend name {name:?} (first used by backends[{first}])");
                reader.error("name", name_value.as_ref(), message);
                all_ok = false;
            } else {
                first_index_of.insert(name.clone(), index);
            }
        }
        match read_backend(reader, name) {
            Some(spec) => specs.push(spec),
            None => all_ok = false,
        }
    }
    all_ok.then_some(specs)
}

fn read_name(r: &mut TableReader<'_>, value: Option<&Value>) -> Option<String> {
    let Some(value) = value else {
        r.error("name", None, "missing required key");
        return None;
    };
    let ValueKind::String(name) = &value.kind else {
        let message = format!("expected a string, found {}", describe(&value.kind));
        r.error("name", Some(value), message);
        return None;
    };
    match checks::check_backend_name(name) {
        Ok(()) => Some(name.clone()),
        Err(message) => {
            r.error("name", Some(value), message);
            None
        }
    }
}

fn read_backend(mut r: TableReader<'_>, name: Option<String>) -> Option<BackendSpec> {
    let transport = read_transport(&mut r);
    let tool_prefix = match r.take("tool_prefix") {
        None => name.as_ref().map(|n| format!("{n}_")),
        Some(value) => match &value.kind {
            ValueKind::String(prefix) => checks::check_tool_prefix(prefix)
                .map(|()| prefix.clone())
                .map_err(|message| r.error("tool_prefix", Some(&value), message))
                .ok(),
            other => {
                let message = format!("expected a string, found {}", describe(other));
                r.error("tool_prefix", Some(&value), message);
                None
            }
        },
    };
    let enabled = if r.has("enabled") {
        r.take_bool("enabled")
    } else {
        Some(true)
    };
    let timeout =
        uint_or(&mut r, "timeout_ms", DEFAULT_BACKEND_TIMEOUT_MS).map(Duration::from_millis);
    let health_interval =
        uint_or(&mut r, "health_interval_s", DEFAULT_HEALTH_INTERVAL_S).map(Duration::from_secs);
    r.finish();
    Some(BackendSpec {
        name: name?,
        transport: transport?,
        tool_prefix: tool_prefix?,
        enabled: enabled?,
        timeout: timeout?,
        health_interval: health_interval?,
    })
}

/// A positive integer that defaults when absent (zero would mean "never wait" / "spin").
fn uint_or(r: &mut TableReader<'_>, key: &'static str, default: u64) -> Option<u64> {
    if r.has(key) {
        r.take_uint(key, 1, u64::MAX)
    } else {
        Some(default)
    }
}

fn read_transport(r: &mut TableReader<'_>) -> Option<BackendTransport> {
    let declared = match r.take("transport") {
        None => Some(None),
        Some(value) => match &value.kind {
            ValueKind::String(t) if matches!(t.as_str(), "streamable-http" | "sse" | "stdio") => {
                Some(Some(t.clone()))
            }
            ValueKind::String(t) => {
                let message = format!("unknown transport {t:?}; use streamable-http, sse or stdio");
                r.error("transport", Some(&value), message);
                None
            }
            other => {
                let message = format!("expected a string, found {}", describe(other));
                r.error("transport", Some(&value), message);
                None
            }
        },
    };
    let url_value = r.take("url");
    let command_value = r.take("command");
    let stdio_fields: Vec<&str> = STDIO_ONLY.into_iter().filter(|k| r.has(k)).collect();
    let args = if r.has("args") {
        r.take_string_list("args")
    } else {
        Some(Vec::new())
    };
    let env = if r.has("env") {
        r.take_string_map("env")
    } else {
        Some(BTreeMap::new())
    };
    let cwd = if r.has("cwd") {
        r.take_string("cwd").map(Some)
    } else {
        Some(None)
    };

    match (&url_value, &command_value) {
        (Some(_), Some(_)) => {
            r.error(
                "command",
                command_value.as_ref(),
                "give either url (remote backend) or command (stdio backend), not both",
            );
            return None;
        }
        (None, None) => {
            let message = if declared
                .as_ref()
                .is_some_and(|d| d.as_deref() == Some("stdio"))
            {
                "transport \"stdio\" needs a command"
            } else {
                "missing url or command: give url for an HTTP backend or command for a stdio backend"
            };
            r.error("command", None, message);
            return None;
        }
        _ => {}
    }
    if let Some(value) = url_value {
        let url = match &value.kind {
            ValueKind::String(text) => checks::parse_http_url(text)
                .map_err(|message| r.error("url", Some(&value), message))
                .ok(),
            other => {
                let message = format!("expected a string, found {}", describe(other));
                r.error("url", Some(&value), message);
                None
            }
        };
        for field in &stdio_fields {
            r.error(
                field,
                None,
                "only applies to stdio backends (those with a command)",
            );
        }
        let transport = match declared?.as_deref() {
            None | Some("streamable-http") => {
                url.map(|url| BackendTransport::StreamableHttp { url })
            }
            Some("sse") => url.map(|url| BackendTransport::Sse { url }),
            Some(_) => {
                r.error(
                    "transport",
                    Some(&value),
                    "transport \"stdio\" runs a command; it cannot have a url",
                );
                None
            }
        };
        return if stdio_fields.is_empty() {
            transport
        } else {
            None
        };
    }

    let value = command_value?;
    let command = match &value.kind {
        ValueKind::String(c) if !c.trim().is_empty() => Some(c.clone()),
        ValueKind::String(_) => {
            r.error("command", Some(&value), "must not be empty");
            None
        }
        other => {
            let message = format!("expected a string, found {}", describe(other));
            r.error("command", Some(&value), message);
            None
        }
    };
    if let Some(Some(kind)) = &declared
        && kind != "stdio"
    {
        let message =
            format!("transport {kind:?} needs a url; a backend with a command uses stdio");
        r.error("transport", Some(&value), message);
        return None;
    }
    let env = env.and_then(|env| check_env_names(r, env));
    Some(BackendTransport::Stdio {
        command: command?,
        args: args?,
        env: env?,
        cwd: cwd?.map(PathBuf::from),
    })
}

/// Names a child environment can actually hold.
fn check_env_names(
    r: &mut TableReader<'_>,
    env: BTreeMap<String, String>,
) -> Option<BTreeMap<String, String>> {
    let mut ok = true;
    for name in env.keys() {
        if name.is_empty() || name.contains(['=', '\0']) {
            r.error(
                &format!("env.{name}"),
                None,
                "not a valid environment variable name",
            );
            ok = false;
        }
    }
    ok.then_some(env)
}
