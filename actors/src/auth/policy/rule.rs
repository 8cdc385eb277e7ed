//! A policy as written by an operator (`[[policies]]`) or an administrator (admin API), and the
//! checks both sources share, so a rule means the same thing wherever it was written.

use std::fmt;
use std::str::FromStr;

use crate::storage::users::Role;

/// Longest pattern, description and list accepted: generous for real use, small enough that a
/// policy can never become a memory or CPU problem on the request path.
pub const MAX_PATTERN_LEN: usize = 512;
pub const MAX_PATTERNS: usize = 1000;
pub const MAX_DESCRIPTION_LEN: usize = 1000;
pub const MAX_GROUP_NAME_LEN: usize = 64;

/// Who a rule is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PolicySubject {
    Role(Role),
    Group(String),
    User(String),
}

impl fmt::Display for PolicySubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicySubject::Role(role) => write!(f, "role:{role}"),
            PolicySubject::Group(name) => write!(f, "group:{name}"),
            PolicySubject::User(name) => write!(f, "user:{name}"),
        }
    }
}

impl FromStr for PolicySubject {
    type Err = String;

    fn from_str(text: &str) -> Result<PolicySubject, String> {
        let hint = "use \"role:admin\", \"role:user\", \"group:<name>\" or \"user:<username>\"";
        let Some((kind, name)) = text.split_once(':') else {
            return Err(format!("{text:?} is not a subject; {hint}"));
        };
        match kind {
            "role" => match name {
                "admin" => Ok(PolicySubject::Role(Role::Admin)),
                "user" => Ok(PolicySubject::Role(Role::User)),
                other => Err(format!("unknown role {other:?}; {hint}")),
            },
            "group" => check_group_name(name).map(|()| PolicySubject::Group(name.to_string())),
            "user" if is_plain_name(name, 128) => Ok(PolicySubject::User(name.to_string())),
            "user" => Err(format!("{name:?} is not a username")),
            other => Err(format!("unknown subject kind {other:?}; {hint}")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    Allow,
    Deny,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
        }
    }
}

impl FromStr for Effect {
    type Err = String;

    fn from_str(text: &str) -> Result<Effect, String> {
        match text {
            "allow" => Ok(Effect::Allow),
            "deny" => Ok(Effect::Deny),
            other => Err(format!(
                "unknown effect {other:?}; use \"allow\" or \"deny\""
            )),
        }
    }
}

/// One rule. For `tools`, `prompts` and `resources`, `None` means every item of that kind on the
/// matching backends and `Some(vec![])` none of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRule {
    pub subject: PolicySubject,
    pub effect: Effect,
    /// Backend names or patterns; `["*"]` is every backend.
    pub backends: Vec<String>,
    /// Client-visible tool names (with the backend's tool prefix) or patterns.
    pub tools: Option<Vec<String>>,
    /// Client-visible prompt names (with the prefix) or patterns.
    pub prompts: Option<Vec<String>>,
    /// Resource URIs (and URI templates) or patterns.
    pub resources: Option<Vec<String>>,
    pub description: String,
}

impl PolicyRule {
    /// The one-click grant: every item of every backend for one user.
    pub fn all_backends_for(username: &str) -> PolicyRule {
        PolicyRule {
            subject: PolicySubject::User(username.to_string()),
            effect: Effect::Allow,
            backends: vec!["*".into()],
            tools: None,
            prompts: None,
            resources: None,
            description: "All backends (one-click grant).".into(),
        }
    }

    /// Every problem with the rule's lists and description, each as `field: reason`.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.backends.is_empty() {
            problems.push("backends: must name at least one backend, or \"*\" for all".into());
        }
        problems.extend(check_patterns("backends", &self.backends));
        for (field, list) in [
            ("tools", &self.tools),
            ("prompts", &self.prompts),
            ("resources", &self.resources),
        ] {
            if let Some(list) = list {
                problems.extend(check_patterns(field, list));
            }
        }
        if let Err(message) = check_description(&self.description) {
            problems.push(format!("description: {message}"));
        }
        problems
    }
}

/// Each entry of a pattern list: non-empty, bounded, printable. Returns `field[i]: reason`.
pub fn check_patterns(field: &str, patterns: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    if patterns.len() > MAX_PATTERNS {
        problems.push(format!("{field}: at most {MAX_PATTERNS} entries"));
    }
    for (i, pattern) in patterns.iter().enumerate() {
        if let Err(message) = check_pattern(pattern) {
            problems.push(format!("{field}[{i}]: {message}"));
        }
    }
    problems
}

pub fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(format!("longer than {MAX_PATTERN_LEN} bytes"));
    }
    if pattern.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

pub fn check_description(text: &str) -> Result<(), String> {
    if text.len() > MAX_DESCRIPTION_LEN {
        return Err(format!("longer than {MAX_DESCRIPTION_LEN} bytes"));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// Group names appear in subjects (`group:<name>`) and URLs: letters, digits, `_`, `-`, `.`.
pub fn check_group_name(name: &str) -> Result<(), String> {
    if is_plain_name(name, MAX_GROUP_NAME_LEN)
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a group name: use 1 to {MAX_GROUP_NAME_LEN} letters, digits, '_', '-' or '.'"
        ))
    }
}

fn is_plain_name(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && !name.chars().any(|c| c.is_control() || c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_parse_and_print_back() {
        for text in ["role:admin", "role:user", "group:ops-team", "user:alice"] {
            let subject: PolicySubject = text.parse().unwrap();
            assert_eq!(subject.to_string(), text);
        }
        for bad in [
            "admin",
            "role:root",
            "group:",
            "group:a b",
            "user:",
            "team:x",
        ] {
            assert!(bad.parse::<PolicySubject>().is_err(), "{bad}");
        }
    }

    #[test]
    fn problems_name_every_bad_field() {
        let rule = PolicyRule {
            subject: PolicySubject::User("a".into()),
            effect: Effect::Allow,
            backends: vec![],
            tools: Some(vec!["ok".into(), " ".into()]),
            prompts: None,
            resources: Some(vec!["x".repeat(MAX_PATTERN_LEN + 1)]),
            description: "\u{7}".into(),
        };
        let problems = rule.problems();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].starts_with("backends:"));
        assert!(problems[1].starts_with("tools[1]:"));
        assert!(problems[2].starts_with("resources[0]:"));
        assert!(problems[3].starts_with("description:"));
    }
}
