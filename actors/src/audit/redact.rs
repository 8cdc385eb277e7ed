//! Redaction of captured payloads (`audit.capture_payloads`): every match of a configured
//! pattern is replaced before the payload is stored.

use regex::Regex;

/// The defaults cover bearer tokens, JWTs, API-key shaped strings and password/secret/token
/// members of JSON objects.
pub const DEFAULT_PATTERNS: &[&str] = &[
    r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+",
    r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*",
    r"\b(?:sk|pk|rk|ghp|gho|ghs|xox[abp])[-_][A-Za-z0-9_-]{12,}",
    r#"(?i)"[^"]*(?:password|passwd|secret|token|api_?key|authorization)[^"]*"\s*:\s*"(?:[^"\\]|\\.)*""#,
];

const MASK: &str = "[REDACTED]";

#[derive(Debug, Clone, Default)]
pub struct Redactor {
    patterns: Vec<Regex>,
}

impl Redactor {
    /// Compiles `patterns`; the error names the first one that is not a valid regex.
    pub fn new(patterns: &[String]) -> Result<Redactor, String> {
        let patterns = patterns
            .iter()
            .map(|p| Regex::new(p).map_err(|e| format!("`{p}`: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(Redactor { patterns })
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for pattern in &self.patterns {
            if pattern.is_match(&out) {
                out = pattern.replace_all(&out, MASK).into_owned();
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Redactor {
        let patterns: Vec<String> = DEFAULT_PATTERNS.iter().map(|p| p.to_string()).collect();
        Redactor::new(&patterns).unwrap()
    }

    #[test]
    fn default_patterns_mask_tokens_keys_and_passwords() {
        let r = defaults();
        let out = r.redact(
            r#"{"password":"hunter2","q":"Bearer abc.def","k":"sk-abcdefghijklmnop","jwt":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig","city":"Oslo"}"#,
        );
        for secret in ["hunter2", "abc.def", "sk-abcdefghijklmnop", "eyJhbGci"] {
            assert!(!out.contains(secret), "{secret} leaked: {out}");
        }
        assert!(out.contains("Oslo"), "{out}");
    }

    #[test]
    fn a_bad_pattern_is_named() {
        let err = Redactor::new(&["(".to_string()]).unwrap_err();
        assert!(err.starts_with("`(`"), "{err}");
    }
}
