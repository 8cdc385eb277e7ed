//! Name patterns of policies: `*` matches any run of characters (none included, `/` included),
//! `?` exactly one character, everything else itself. Matching is case-sensitive, like the names
//! and URIs it is applied to.

/// A compiled pattern. Plain names and the lone `*` (the common cases) skip the matcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Glob {
    Any,
    Exact(String),
    Pattern(Vec<char>),
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        if pattern == "*" {
            Glob::Any
        } else if pattern.contains(['*', '?']) {
            Glob::Pattern(pattern.chars().collect())
        } else {
            Glob::Exact(pattern.to_string())
        }
    }

    pub fn matches(&self, text: &str) -> bool {
        match self {
            Glob::Any => true,
            Glob::Exact(name) => name == text,
            Glob::Pattern(pattern) => wildcard_match(pattern, text),
        }
    }
}

/// Iterative matching with one backtrack point (the last `*`): linear in practice and never
/// exponential, whatever the pattern — patterns come from administrators, names from backends.
fn wildcard_match(pattern: &[char], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                // Let the last `*` swallow one more character and retry from there.
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::Glob;

    #[test]
    fn stars_and_question_marks() {
        let cases = [
            ("*", "anything/at all", true),
            ("*", "", true),
            ("github_*", "github_create_issue", true),
            ("github_*", "gitlab_create_issue", false),
            ("*_delete_*", "db_delete_row", true),
            ("*_delete_*", "db_deleterow", false),
            ("file://docs/*", "file://docs/a/b.md", true),
            ("fixture://item/?", "fixture://item/7", true),
            ("fixture://item/?", "fixture://item/77", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("echo", "echo", true),
            ("echo", "Echo", false),
            ("echo", "echo2", false),
            ("**x", "x", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(
                Glob::new(pattern).matches(text),
                expected,
                "{pattern:?} vs {text:?}"
            );
        }
    }

    #[test]
    fn a_hostile_pattern_stays_fast() {
        let pattern = Glob::new(&"*a".repeat(40));
        let text = "a".repeat(2000) + "b";
        assert!(!pattern.matches(&text));
    }
}
