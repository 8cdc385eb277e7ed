//! `[rate_limit]` → [`RateLimitConfig`]: the per-IP quotas of the auth endpoints, the `/mcp`
//! per-user and per-user×tool quotas (0 = off), `[[rate_limit.backends]]` (a quota per named
//! backend) and `[[rate_limit.overrides]]` (per role or user). Every error of every table is
//! reported.

use std::collections::BTreeMap;
use std::time::Duration;

use actors::ratelimit::{LimitOverride, OverrideLimit, OverrideSubject, Quota};
use config::{Value, ValueKind};

use super::model::RateLimitConfig;
use super::reader::{TableReader, describe};

/// A day: the longest window any limit may have.
const MAX_WINDOW_S: u64 = 86_400;
const MAX_COUNT: u64 = 1_000_000_000;

pub(crate) fn read_rate_limit(mut r: TableReader<'_>) -> Option<RateLimitConfig> {
    let login_max = r.take_uint("login_max", 1, 1_000_000).map(|n| n as u32);
    let login_window = window(&mut r, "login_window_s");
    let token_max = r.take_uint("token_max", 1, MAX_COUNT).map(|n| n as u32);
    let token_window = window(&mut r, "token_window_s");
    let mcp_max = r.take_uint("mcp_max", 0, MAX_COUNT).map(|n| n as u32);
    let mcp_window = window(&mut r, "mcp_window_s");
    let tool_max = r.take_uint("tool_max", 0, MAX_COUNT).map(|n| n as u32);
    let tool_window = window(&mut r, "tool_window_s");
    let backends =
        read_list(&mut r, "backends", read_backend).and_then(|list| unique(&mut r, list));
    let overrides = match (mcp_window, tool_window) {
        (Some(mcp), Some(tool)) => read_list(&mut r, "overrides", |t| read_override(t, mcp, tool)),
        _ => {
            // Still mark the key as known: the window error is reported already.
            r.take("overrides");
            None
        }
    };
    r.finish();
    Some(RateLimitConfig {
        login_max: login_max?,
        login_window: login_window?,
        token_max: token_max?,
        token_window: token_window?,
        mcp_max: mcp_max?,
        mcp_window: mcp_window?,
        tool_max: tool_max?,
        tool_window: tool_window?,
        backends: backends?,
        overrides: overrides?,
    })
}

fn window(r: &mut TableReader<'_>, key: &'static str) -> Option<Duration> {
    r.take_uint(key, 1, MAX_WINDOW_S).map(Duration::from_secs)
}

/// `[[rate_limit.<key>]]`, each table read by `read`; `None` when any is invalid.
fn read_list<T>(
    r: &mut TableReader<'_>,
    key: &'static str,
    mut read: impl FnMut(TableReader<'_>) -> Option<T>,
) -> Option<Vec<T>> {
    let items = match r.take(key) {
        None => return Some(Vec::new()),
        Some(Value {
            kind: ValueKind::Array(items),
            ..
        }) => items,
        Some(value) => {
            let message = format!(
                "expected a list of [[rate_limit.{key}]] tables, found {}",
                describe(&value.kind)
            );
            r.error(key, Some(&value), message);
            return None;
        }
    };
    let mut all_ok = true;
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let prefix = format!("{}[{index}]", r.path(key));
        let source = r.source_of(&item);
        let ValueKind::Table(table) = item.kind else {
            let message = format!("expected a table, found {}", describe(&item.kind));
            r.report()
                .push(super::ConfigError::new(source, prefix, message));
            all_ok = false;
            continue;
        };
        match read(TableReader::new(prefix, source, table, r.report())) {
            Some(value) => out.push(value),
            None => all_ok = false,
        }
    }
    all_ok.then_some(out)
}

fn read_backend(mut r: TableReader<'_>) -> Option<(String, Quota)> {
    let name = required(&mut r, "name").and_then(|name| {
        if name.trim().is_empty() {
            r.error("name", None, "must name a backend");
            None
        } else {
            Some(name)
        }
    });
    let max = if r.has("max") {
        r.take_uint("max", 1, MAX_COUNT).map(|n| n as u32)
    } else {
        r.error("max", None, "missing required key");
        None
    };
    let window = if r.has("window_s") {
        window(&mut r, "window_s")
    } else {
        Some(Duration::from_secs(60))
    };
    r.finish();
    Some((
        name?,
        Quota {
            max: max?,
            window: window?,
        },
    ))
}

fn unique(r: &mut TableReader<'_>, list: Vec<(String, Quota)>) -> Option<BTreeMap<String, Quota>> {
    let mut map = BTreeMap::new();
    for (name, quota) in list {
        if map.insert(name.clone(), quota).is_some() {
            r.error(
                "backends",
                None,
                format!("backend {name:?} has more than one [[rate_limit.backends]] table"),
            );
            return None;
        }
    }
    Some(map)
}

/// `subject`, then `mcp_max`/`tool_max` (absent: inherit; 0: unlimited) with their windows
/// (absent: the global window).
fn read_override(
    mut r: TableReader<'_>,
    mcp_window: Duration,
    tool_window: Duration,
) -> Option<LimitOverride> {
    let subject = required(&mut r, "subject").and_then(|s| match s.parse::<OverrideSubject>() {
        Ok(subject) => Some(subject),
        Err(message) => {
            r.error("subject", None, message);
            None
        }
    });
    let mcp = override_limit(&mut r, "mcp_max", "mcp_window_s", mcp_window);
    let tool = override_limit(&mut r, "tool_max", "tool_window_s", tool_window);
    if mcp == Some(OverrideLimit::Inherit) && tool == Some(OverrideLimit::Inherit) {
        r.error(
            "mcp_max",
            None,
            "an override must set mcp_max or tool_max (0 = unlimited for this subject)",
        );
        return None;
    }
    r.finish();
    Some(LimitOverride {
        subject: subject?,
        mcp: mcp?,
        tool: tool?,
    })
}

fn override_limit(
    r: &mut TableReader<'_>,
    max_key: &'static str,
    window_key: &'static str,
    global_window: Duration,
) -> Option<OverrideLimit> {
    let window = if r.has(window_key) {
        if !r.has(max_key) {
            r.error(
                window_key,
                None,
                format!("needs {max_key} in the same table"),
            );
            return None;
        }
        window(r, window_key)?
    } else {
        global_window
    };
    if !r.has(max_key) {
        return Some(OverrideLimit::Inherit);
    }
    match r.take_uint(max_key, 0, MAX_COUNT)? {
        0 => Some(OverrideLimit::Unlimited),
        max => Some(OverrideLimit::Limited(Quota {
            max: max as u32,
            window,
        })),
    }
}

fn required(r: &mut TableReader<'_>, key: &'static str) -> Option<String> {
    if !r.has(key) {
        r.error(key, None, "missing required key");
        return None;
    }
    r.take_string(key)
}
