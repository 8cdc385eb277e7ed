//! A dotenv (`--env-file`) reader: `KEY=VALUE` lines, `export` prefixes, comments and quotes.
//!
//! Written here rather than pulled in because the format is small and the gateway needs line
//! numbers in its errors, which the common crates do not give.

use std::collections::BTreeMap;

/// A malformed line, 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DotenvError {
    pub line: usize,
    pub message: String,
}

/// Parses dotenv text. Later assignments of the same name win, as in a shell.
pub(crate) fn parse(text: &str) -> Result<BTreeMap<String, String>, Vec<DotenvError>> {
    let mut vars = BTreeMap::new();
    let mut errors = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, raw)) = lines.next() {
        let line_no = index + 1;
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((name, rest)) = line.split_once('=') else {
            errors.push(DotenvError {
                line: line_no,
                message: "expected NAME=VALUE".to_string(),
            });
            continue;
        };
        let name = name.trim();
        if !is_valid_name(name) {
            errors.push(DotenvError {
                line: line_no,
                message: format!(
                    "{name:?} is not a variable name (letters, digits and _, not starting with a digit)"
                ),
            });
            continue;
        }
        match parse_value(rest.trim_start(), &mut lines) {
            Ok(value) => {
                vars.insert(name.to_string(), value);
            }
            Err(message) => errors.push(DotenvError {
                line: line_no,
                message,
            }),
        }
    }
    if errors.is_empty() {
        Ok(vars)
    } else {
        Err(errors)
    }
}

fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A value: `'literal'`, `"with \n escapes"` (may span lines), or bare text up to a ` #` comment.
fn parse_value<'a>(
    rest: &str,
    following: &mut impl Iterator<Item = (usize, &'a str)>,
) -> Result<String, String> {
    if let Some(body) = rest.strip_prefix('\'') {
        let Some(end) = body.find('\'') else {
            return Err("unterminated single quote".to_string());
        };
        ensure_only_comment(&body[end + 1..])?;
        return Ok(body[..end].to_string());
    }
    if let Some(body) = rest.strip_prefix('"') {
        let mut text = body.to_string();
        loop {
            if let Some((value, after)) = unescape_until_quote(&text) {
                ensure_only_comment(after)?;
                return Ok(value);
            }
            // An unclosed double quote continues on the next line, as python-dotenv allows.
            match following.next() {
                Some((_, next)) => {
                    text.push('\n');
                    text.push_str(next);
                }
                None => return Err("unterminated double quote".to_string()),
            }
        }
    }
    let value = match rest.find(" #").or_else(|| rest.find("\t#")) {
        Some(comment) => &rest[..comment],
        None => rest,
    };
    Ok(value.trim_end().to_string())
}

/// Returns the unescaped text before the closing quote and what follows it, or `None` when the
/// quote is not closed in `text`.
fn unescape_until_quote(text: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &text[i + 1..])),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, other)) => out.push(other),
                None => out.push('\\'),
            },
            other => out.push(other),
        }
    }
    None
}

fn ensure_only_comment(after: &str) -> Result<(), String> {
    let after = after.trim();
    if after.is_empty() || after.starts_with('#') {
        Ok(())
    } else {
        Err(format!(
            "unexpected text after the closing quote: {after:?}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_plain_quoted_exported_and_commented_lines() {
        let text = "# comment\n\nPORT=9000\nexport HOST = 127.0.0.1 # trailing\n\
                    JWT_SECRET_KEY='a#b c'\nMULTI=\"line1\\nline2\"\nEMPTY=\nURL=http://x/#frag\n";
        let vars = parse(text).expect("valid dotenv");
        assert_eq!(vars["PORT"], "9000");
        assert_eq!(vars["HOST"], "127.0.0.1");
        assert_eq!(vars["JWT_SECRET_KEY"], "a#b c");
        assert_eq!(vars["MULTI"], "line1\nline2");
        assert_eq!(vars["EMPTY"], "");
        assert_eq!(vars["URL"], "http://x/#frag");
    }

    #[test]
    fn double_quotes_may_span_lines() {
        let vars = parse("KEY=\"a\nb\"\nNEXT=1\n").expect("valid dotenv");
        assert_eq!(vars["KEY"], "a\nb");
        assert_eq!(vars["NEXT"], "1");
    }

    #[test]
    fn reports_every_bad_line_with_its_number() {
        let errors = parse("GOOD=1\nno equals sign\n1BAD=2\nQ='open\n").unwrap_err();
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 3, 4]);
    }
}
