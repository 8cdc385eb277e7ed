//! Tool poisoning and unmarked destructive tools: what the server's `tools/list` tells a model.

use serde_json::{Value, json};

use super::probe::{self, Probe, Session};
use super::{Finding, Report, Severity};
use crate::security::detectors::{self, DEFAULT_INJECTION_PHRASES, Direction};

/// Pages of `tools/list` read at most (a server that paginates forever is not scanned forever).
const MAX_PAGES: usize = 50;
/// Tool names listed in one finding.
const NAMES_SHOWN: usize = 10;

/// Instructions aimed at the model rather than the user, beyond the payload detectors' phrases.
const POISONING_MARKERS: &[&str] = &[
    "<important>",
    "<system>",
    "do not mention",
    "don't tell the user",
    "without telling the user",
    "~/.ssh",
    "id_rsa",
    "before using this tool, read",
    "otherwise the tool will not work",
];

/// Words in a tool's name that announce irreversible effects.
const DESTRUCTIVE_WORDS: &[&str] = &[
    "delete",
    "remove",
    "drop",
    "destroy",
    "erase",
    "wipe",
    "purge",
    "truncate",
    "kill",
    "terminate",
    "shutdown",
    "reset",
    "format",
    "rm",
    "exec",
    "execute",
    "shell",
    "overwrite",
];

/// Whether a word of `name` (split at `_ - . /`, spaces and camelCase humps) is destructive.
fn is_destructive_name(name: &str) -> bool {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            words.push(std::mem::take(&mut word));
            previous_lower = false;
            continue;
        }
        if c.is_uppercase() && previous_lower {
            words.push(std::mem::take(&mut word));
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        word.extend(c.to_lowercase());
    }
    words.push(word);
    words
        .iter()
        .any(|w| DESTRUCTIVE_WORDS.contains(&w.as_str()))
}

pub async fn check(probe: &Probe, session: &Session, report: &mut Report) {
    report.ran("tools.poisoning");
    report.ran("tools.annotations");
    let tools = list_tools(probe, session).await;
    let phrases: Vec<&str> = DEFAULT_INJECTION_PHRASES
        .iter()
        .chain(POISONING_MARKERS)
        .copied()
        .collect();
    let phrases = detectors::Phrases::new(&phrases);
    let (mut hidden, mut instructions, mut destructive) = (Vec::new(), Vec::new(), Vec::new());
    for tool in &tools {
        let name = tool.get("name").and_then(Value::as_str).unwrap_or("?");
        let text = detectors::decoded(tool.to_string().as_bytes());
        for finding in detectors::scan(&text, Direction::Arguments, &phrases, usize::MAX, 0) {
            match finding.detector {
                "hidden_unicode" => hidden.push(format!("{name} ({})", finding.what)),
                "prompt_injection" => instructions.push(format!("{name} (\"{}\")", finding.what)),
                _ => {}
            }
        }
        let annotated = tool
            .get("annotations")
            .is_some_and(|a| a.get("destructiveHint").is_some() || a.get("readOnlyHint").is_some());
        if !annotated && is_destructive_name(name) {
            destructive.push(name.to_string());
        }
    }
    if !hidden.is_empty() {
        report.add(Finding::new(
            "tools.hidden_unicode",
            Severity::Critical,
            "Tool definitions contain invisible characters",
            format!(
                "A model reads text the user cannot see: {}.",
                shown(&hidden)
            ),
            "Remove zero-width, tag and bidi-control characters from tool names, descriptions \
             and schemas; find out who put them there.",
        ));
    }
    if !instructions.is_empty() {
        report.add(Finding::new(
            "tools.hidden_instructions",
            Severity::High,
            "Tool descriptions carry instructions for the model",
            format!("Tool poisoning: {}.", shown(&instructions)),
            "Tool descriptions should describe the tool; remove directives to the model.",
        ));
    }
    if !destructive.is_empty() {
        report.add(Finding::new(
            "tools.destructive_unannotated",
            Severity::Medium,
            "Destructive-sounding tools without annotations",
            format!(
                "No destructiveHint/readOnlyHint on: {}. Clients cannot ask for confirmation.",
                shown(&destructive)
            ),
            "Annotate every tool (`destructiveHint`, `readOnlyHint`, `idempotentHint`) so clients \
             can warn before irreversible calls.",
        ));
    }
}

/// Every tool the session lists, following cursors.
async fn list_tools(probe: &Probe, session: &Session) -> Vec<Value> {
    let mut tools = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0..MAX_PAGES {
        let params = match &cursor {
            Some(c) => json!({"cursor": c}),
            None => json!({}),
        };
        let Ok(answer) = probe
            .post(
                probe::request(100 + page as u64, "tools/list", params),
                session.send(),
            )
            .await
        else {
            break;
        };
        let Some(result) = answer.result() else {
            break;
        };
        if let Some(page) = result.get("tools").and_then(Value::as_array) {
            tools.extend(page.iter().cloned());
        }
        cursor = result
            .get("nextCursor")
            .and_then(Value::as_str)
            .map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    tools
}

fn shown(items: &[String]) -> String {
    let mut text = items
        .iter()
        .take(NAMES_SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > NAMES_SHOWN {
        text.push_str(&format!(" and {} more", items.len() - NAMES_SHOWN));
    }
    text
}

#[cfg(test)]
pub(super) fn destructive(name: &str) -> bool {
    is_destructive_name(name)
}
