//! `[[backends]]` tables → [`BackendSpec`]s, with every per-backend and cross-backend error.
//!
//! A backend is either remote (`url`, transport `streamable-http` or `sse`) or a child process
//! (`command`, transport `stdio`); the transport is inferred when omitted. Fields that only make
//! sense for the other kind are errors rather than silently ignored (`isolation` and
//! `max_processes` are stdio settings; `max_processes` needs `isolation = "per-session"`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use actors::spec::{
    BackendAuth, BackendSpec, BackendTransport, SecretString, SpecOrigin, StdioIsolation,
};
use config::{Value, ValueKind};

use super::backend_auth::{AUTH_KEYS, SecretSources, read_backend_auth};
use super::checks;
use super::keys::{DEFAULT_BACKEND_TIMEOUT_MS, DEFAULT_HEALTH_INTERVAL_S, DEFAULT_MAX_PROCESSES};
use super::reader::{TableReader, describe};

const STDIO_ONLY: [&str; 5] = ["args", "env", "cwd", "isolation", "max_processes"];

/// More children than this per backend is a typo, not a plan (each is a whole process).
const MAX_PROCESSES_LIMIT: u64 = 10_000;

/// Reads `backends`; `None` when any backend is invalid (all of them are still checked).
pub(crate) fn read_backends(
    root: &mut TableReader<'_>,
    sources: &SecretSources<'_>,
) -> Option<Vec<BackendSpec>> {
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
        match read_backend(reader, name, sources) {
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

fn read_backend(
    mut r: TableReader<'_>,
    name: Option<String>,
    sources: &SecretSources<'_>,
) -> Option<BackendSpec> {
    let transport = read_transport(&mut r);
    let credential = if matches!(transport, Some(BackendTransport::Stdio { .. })) {
        refuse_auth_keys(&mut r)
    } else {
        read_backend_auth(&mut r, sources)
    };
    let tool_prefix = if r.has("tool_prefix") {
        r.take_string_with("tool_prefix", |prefix| {
            checks::check_tool_prefix(prefix).map(|()| prefix.to_string())
        })
    } else {
        name.as_ref().map(|n| format!("{n}_"))
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
    // A remote backend's isolation keys were already reported (and taken) by `read_remote`.
    let isolation = read_isolation(&mut r);
    r.finish();
    Some(BackendSpec {
        name: name?,
        transport: transport?,
        tool_prefix: tool_prefix?,
        enabled: enabled?,
        timeout: timeout?,
        health_interval: health_interval?,
        auth: credential.as_ref()?.0.clone(),
        headers: credential?.1,
        isolation: isolation?,
        origin: SpecOrigin::ConfigFile,
    })
}

/// A stdio child gets its secrets through `env`; HTTP credentials make no sense for it.
fn refuse_auth_keys(
    r: &mut TableReader<'_>,
) -> Option<(Option<BackendAuth>, BTreeMap<String, SecretString>)> {
    let mut ok = true;
    for key in AUTH_KEYS {
        if let Some(value) = r.take(key) {
            let message = "only applies to HTTP backends (a stdio child gets secrets through env)";
            r.error(key, Some(&value), message);
            ok = false;
        }
    }
    ok.then(|| (None, BTreeMap::new()))
}

/// `isolation` (`"shared"`, the default, or `"per-session"`) and `max_processes` (per-session
/// only; default [`DEFAULT_MAX_PROCESSES`]).
fn read_isolation(r: &mut TableReader<'_>) -> Option<StdioIsolation> {
    let per_session = if r.has("isolation") {
        r.take_string_with("isolation", |mode| match mode {
            "shared" => Ok(false),
            "per-session" => Ok(true),
            other => Err(format!(
                "unknown isolation {other:?}; use \"shared\" (one child for every session) or \"per-session\" (one child per client session)"
            )),
        })
    } else {
        Some(false)
    };
    let max_processes = if r.has("max_processes") {
        if per_session == Some(false) {
            let value = r.take("max_processes");
            let message =
                "only applies with isolation = \"per-session\" (a shared backend runs one child)";
            r.error("max_processes", value.as_ref(), message);
            return None;
        }
        r.take_uint("max_processes", 1, MAX_PROCESSES_LIMIT)
    } else {
        Some(DEFAULT_MAX_PROCESSES)
    };
    match per_session? {
        false => Some(StdioIsolation::Shared),
        true => Some(StdioIsolation::PerSession {
            max_processes: usize::try_from(max_processes?).unwrap_or(usize::MAX),
        }),
    }
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
    let declared = read_declared_transport(r);
    match (r.has("url"), r.has("command")) {
        (true, false) => read_remote(r, declared?),
        (false, true) => read_stdio(r, declared?),
        (true, true) => {
            let command = r.take("command");
            let message = "give either url (remote backend) or command (stdio backend), not both";
            r.error("command", command.as_ref(), message);
            mark_known(r);
            None
        }
        (false, false) => {
            let message = if declared == Some(Some("stdio")) {
                "transport \"stdio\" needs a command"
            } else {
                "missing url or command: give url for an HTTP backend or command for a stdio backend"
            };
            r.error("command", None, message);
            mark_known(r);
            None
        }
    }
}

/// `Some(None)` when absent, `None` when invalid (already reported).
fn read_declared_transport(r: &mut TableReader<'_>) -> Option<Option<&'static str>> {
    if !r.has("transport") {
        return Some(None);
    }
    r.take_string_with("transport", |t| match t {
        "streamable-http" => Ok(Some("streamable-http")),
        "sse" => Ok(Some("sse")),
        "stdio" => Ok(Some("stdio")),
        other => Err(format!(
            "unknown transport {other:?}; use streamable-http, sse or stdio"
        )),
    })
}

/// Takes the keys a malformed backend may still hold, so they are not also called unknown.
fn mark_known(r: &mut TableReader<'_>) {
    for key in ["url", "command"].into_iter().chain(STDIO_ONLY) {
        r.take(key);
    }
}

fn read_remote(r: &mut TableReader<'_>, declared: Option<&str>) -> Option<BackendTransport> {
    let url = r.take_string_with("url", checks::parse_http_url);
    let mut ok = true;
    for field in STDIO_ONLY {
        if let Some(value) = r.take(field) {
            let message = "only applies to stdio backends (those with a command)";
            r.error(field, Some(&value), message);
            ok = false;
        }
    }
    let transport = match declared {
        None | Some("streamable-http") => url.map(|url| BackendTransport::StreamableHttp { url }),
        Some("sse") => url.map(|url| BackendTransport::Sse { url }),
        Some(_) => {
            let message = "transport \"stdio\" runs a command; it cannot have a url";
            r.error("transport", None, message);
            None
        }
    };
    transport.filter(|_| ok)
}

fn read_stdio(r: &mut TableReader<'_>, declared: Option<&str>) -> Option<BackendTransport> {
    let command = r.take_string_with("command", |c| {
        if c.trim().is_empty() {
            Err("must not be empty".to_string())
        } else {
            Ok(c.to_string())
        }
    });
    let args = if r.has("args") {
        r.take_string_list("args")
    } else {
        Some(Vec::new())
    };
    let env = if r.has("env") {
        r.take_string_map("env")
            .and_then(|env| check_env_names(r, env))
    } else {
        Some(BTreeMap::new())
    };
    let cwd = if r.has("cwd") {
        r.take_string("cwd").map(|dir| Some(PathBuf::from(dir)))
    } else {
        Some(None)
    };
    if let Some(kind) = declared
        && kind != "stdio"
    {
        let message =
            format!("transport {kind:?} needs a url; a backend with a command uses stdio");
        r.error("transport", None, message);
        return None;
    }
    Some(BackendTransport::Stdio {
        command: command?,
        args: args?,
        env: env?,
        cwd: cwd?,
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
