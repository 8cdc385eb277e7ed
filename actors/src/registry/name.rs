//! Backend names as people write them and as the gateway uses them.
//!
//! The name is an identifier: it is the `<server>` of `/mcp/<server>`, the default tool prefix
//! and what policies name, so it keeps to `[A-Za-z0-9_-]` ([`check_backend_name`]). The original
//! gateway took any text ("GitHub MCP"), and its users' scripts still send such names, so a
//! create derives the identifier from them ([`identifier_from`]) and keeps what was written as the
//! display name ([`check_display_name`]).
//!
//! [`check_backend_name`]: super::check_backend_name

use super::draft::{MAX_NAME_LEN, check_backend_name};

/// Longest display name.
pub const MAX_DISPLAY_NAME_LEN: usize = 128;

/// A name given on create: the identifier to use and the display name to keep (`None` when the
/// name was already an identifier, which is then used unchanged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GivenName {
    pub identifier: String,
    pub display_name: Option<String>,
}

/// Judges a create's `name`: a valid identifier is kept as it is; anything else becomes one —
/// lowercase, every run of other characters one `-`, no `-` at either end, at most
/// [`MAX_NAME_LEN`] — and the text itself (trimmed) becomes the display name. `Err` says why
/// no identifier can be made (nothing left, or the text is unfit to display).
pub fn identifier_from(text: &str) -> Result<GivenName, String> {
    if check_backend_name(text).is_ok() {
        return Ok(GivenName {
            identifier: text.to_string(),
            display_name: None,
        });
    }
    if text.trim().is_empty() {
        return Err("must not be empty".into());
    }
    let display_name = check_display_name(text)?;
    let mut identifier = String::with_capacity(text.len());
    for c in text.trim().chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            identifier.push(c.to_ascii_lowercase());
        } else if !identifier.ends_with('-') {
            // A run of spaces, punctuation, '-' or non-ASCII letters: one separator.
            identifier.push('-');
        }
    }
    identifier.truncate(MAX_NAME_LEN);
    let identifier = identifier.trim_matches('-').to_string();
    if identifier.is_empty() {
        return Err(format!(
            "{text:?} has no ASCII letters or digits to make an identifier from (the name is \
             used in /mcp/<name> and tool prefixes: letters, digits, '_' and '-'); add some, \
             and put the rest in display_name"
        ));
    }
    Ok(GivenName {
        identifier,
        display_name: Some(display_name),
    })
}

/// A display name: trimmed, 1 to [`MAX_DISPLAY_NAME_LEN`] characters, no control characters.
pub fn check_display_name(text: &str) -> Result<String, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_DISPLAY_NAME_LEN {
        return Err(format!(
            "must be 1 to {MAX_DISPLAY_NAME_LEN} characters long (not counting spaces at the ends)"
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err("must not contain control characters (line breaks, tabs, NUL)".into());
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn derived(text: &str) -> (String, Option<String>) {
        let given = identifier_from(text).unwrap();
        (given.identifier, given.display_name)
    }

    #[test]
    fn the_original_readme_name_becomes_github_mcp() {
        assert_eq!(
            derived("GitHub MCP"),
            ("github-mcp".into(), Some("GitHub MCP".into()))
        );
    }

    #[test]
    fn valid_identifiers_are_kept_unchanged() {
        assert_eq!(derived("GitHub_MCP-2"), ("GitHub_MCP-2".into(), None));
    }

    #[test]
    fn runs_collapse_and_ends_are_trimmed() {
        assert_eq!(derived("  Jira  /  Confluence!! ").0, "jira-confluence");
        assert_eq!(derived("--Café au lait--").0, "caf-au-lait");
        assert_eq!(derived("a - b").0, "a-b");
        let long = format!("{} x", "y".repeat(70));
        assert_eq!(derived(&long).0, "y".repeat(MAX_NAME_LEN));
    }

    #[test]
    fn nothing_to_keep_is_refused_with_the_reason() {
        for text in ["!!!", "   ", "日本語", ""] {
            assert!(identifier_from(text).is_err(), "{text:?}");
        }
        assert!(
            identifier_from("日本語")
                .unwrap_err()
                .contains("no ASCII letters")
        );
        assert!(
            identifier_from("a\nb")
                .unwrap_err()
                .contains("control characters")
        );
    }
}
