//! RFC 6570 URI template matching, for routing `resources/read` of templated resources.
//!
//! Templates are matched, never expanded: `{var}` matches one segment (no `/`, `?`, `#`),
//! `{+var}` and `{#var}` match anything, `{?a,b}` / `{&a}` match an optional query tail.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Segment,
    Anything,
    Query,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriTemplate {
    parts: Vec<Part>,
}

impl UriTemplate {
    pub fn parse(template: &str) -> Option<UriTemplate> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_string()));
            }
            let close = rest[open..].find('}')? + open;
            let expr = &rest[open + 1..close];
            parts.push(match expr.chars().next()? {
                '+' | '#' => Part::Anything,
                '?' | '&' => Part::Query,
                _ => Part::Segment,
            });
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Some(UriTemplate { parts })
    }

    pub fn matches(&self, uri: &str) -> bool {
        match_from(&self.parts, uri)
    }
}

fn match_from(parts: &[Part], input: &str) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return input.is_empty();
    };
    match first {
        Part::Literal(lit) => input
            .strip_prefix(lit.as_str())
            .is_some_and(|tail| match_from(rest, tail)),
        Part::Query => {
            (input.is_empty() || input.starts_with('?') || input.starts_with('&'))
                && (match_from(rest, "") || rest.is_empty())
        }
        Part::Segment | Part::Anything => {
            let stop = |c: char| matches!(first, Part::Segment) && matches!(c, '/' | '?' | '#');
            // Try every non-empty prefix the variable could take (templates are short).
            let mut end = 0;
            for (i, c) in input.char_indices() {
                if stop(c) {
                    break;
                }
                end = i + c.len_utf8();
                if match_from(rest, &input[end..]) {
                    return true;
                }
            }
            let _ = end;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(t: &str, uri: &str) -> bool {
        UriTemplate::parse(t).unwrap().matches(uri)
    }

    #[test]
    fn templates_match_like_rfc_6570_expansions() {
        assert!(m("fixture://item/{id}", "fixture://item/42"));
        assert!(!m("fixture://item/{id}", "fixture://item/"));
        assert!(!m("fixture://item/{id}", "fixture://item/4/2"));
        assert!(m("file:///{+path}", "file:///srv/a/b.txt"));
        assert!(m("test://{a}/x/{b}", "test://one/x/two"));
        assert!(m("search://q{?term,limit}", "search://q?term=a&limit=2"));
        assert!(m("search://q{?term}", "search://q"));
        assert!(!m("a://{x}", "b://y"));
        assert!(UriTemplate::parse("bad://{open").is_none());
    }
}
