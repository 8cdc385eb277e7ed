//! `[[policies]]` tables → [`PolicyRule`]s, with every error of every table reported.
//!
//! The checks are the policy engine's own (`actors::auth::policy`), so a rule accepted here is
//! exactly one the admin API would accept. Lists absent from a table mean "every item of that
//! kind" (`backends` absent means every backend); an empty list means none.

use actors::auth::policy::{Effect, PolicyRule, PolicySubject, check_description, check_patterns};
use config::ValueKind;

use super::reader::{TableReader, describe};

/// Reads `policies`; `None` when any table is invalid (all of them are still checked).
pub(crate) fn read_policies(root: &mut TableReader<'_>) -> Option<Vec<PolicyRule>> {
    let items = match root.take("policies") {
        None => return Some(Vec::new()),
        Some(value) => match value.kind {
            ValueKind::Array(items) => items,
            ref other => {
                let message = format!(
                    "expected a list of [[policies]] tables, found {}",
                    describe(other)
                );
                root.error("policies", Some(&value), message);
                return None;
            }
        },
    };
    let fallback = root.fallback_source().to_string();
    let mut rules = Vec::with_capacity(items.len());
    let mut all_ok = true;
    for (index, item) in items.into_iter().enumerate() {
        let prefix = format!("policies[{index}]");
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
        match read_policy(TableReader::new(prefix, source, table, root.report())) {
            Some(rule) => rules.push(rule),
            None => all_ok = false,
        }
    }
    all_ok.then_some(rules)
}

fn read_policy(mut r: TableReader<'_>) -> Option<PolicyRule> {
    let subject = required_string(&mut r, "subject", |s| s.parse::<PolicySubject>());
    let effect = required_string(&mut r, "effect", |s| s.parse::<Effect>());
    let backends = if r.has("backends") {
        patterns(&mut r, "backends").and_then(|list| {
            if list.is_empty() {
                r.error(
                    "backends",
                    None,
                    "must name at least one backend, or \"*\" for all",
                );
                None
            } else {
                Some(list)
            }
        })
    } else {
        Some(vec!["*".to_string()])
    };
    let tools = optional_patterns(&mut r, "tools");
    let prompts = optional_patterns(&mut r, "prompts");
    let resources = optional_patterns(&mut r, "resources");
    let description = if r.has("description") {
        r.take_string_with("description", |d| {
            check_description(d).map(|()| d.to_string())
        })
    } else {
        Some(String::new())
    };
    r.finish();
    Some(PolicyRule {
        subject: subject?,
        effect: effect?,
        backends: backends?,
        tools: tools?,
        prompts: prompts?,
        resources: resources?,
        description: description?,
    })
}

fn required_string<T>(
    r: &mut TableReader<'_>,
    key: &'static str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Option<T> {
    if !r.has(key) {
        r.error(key, None, "missing required key");
        return None;
    }
    r.take_string_with(key, parse)
}

/// A list of names or patterns, each checked; problems are reported as `key[i]`.
fn patterns(r: &mut TableReader<'_>, key: &'static str) -> Option<Vec<String>> {
    let list = r.take_string_list(key)?;
    let problems = check_patterns(key, &list);
    for problem in &problems {
        let (at, message) = problem.split_once(": ").unwrap_or((key, problem));
        r.error(at, None, message.to_string());
    }
    problems.is_empty().then_some(list)
}

/// Absent: every item of the kind (`Some(None)`); otherwise the checked list.
fn optional_patterns(r: &mut TableReader<'_>, key: &'static str) -> Option<Option<Vec<String>>> {
    if r.has(key) {
        patterns(r, key).map(Some)
    } else {
        Some(None)
    }
}
