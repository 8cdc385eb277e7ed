//! Payload detectors for `suspicious_payload`: hidden Unicode, prompt-injection phrases, secrets
//! in results, oversized payloads. Pure functions over a copy of the bytes; the scanner task
//! (see [`super::scanner`]) runs them off the request path.

use std::sync::LazyLock;

use regex::Regex;

/// Phrases that try to override an agent's instructions (matched case-insensitively).
pub const DEFAULT_INJECTION_PHRASES: &[&str] = &[
    "ignore all previous instructions",
    "ignore previous instructions",
    "disregard all prior instructions",
    "disregard the above",
    "you are now in developer mode",
    "do not tell the user",
];

/// What a scan found: the detector's name and a short description (never the matched secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub detector: &'static str,
    pub what: String,
}

/// Which direction a payload travels: secrets are looked for in results only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Arguments,
    Result,
}

static SECRETS: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
    [
        ("aws_access_key", r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
        ("private_key", r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
        ("github_token", r"\b(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b"),
        (
            "jwt",
            r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        ),
    ]
    .into_iter()
    .filter_map(|(name, pattern)| Regex::new(pattern).ok().map(|r| (name, r)))
    .collect()
});

/// Characters a reader does not see but a model does: tag characters (U+E0000–E007F),
/// zero-width characters, bidi overrides and isolates.
fn is_hidden(c: char) -> bool {
    matches!(c as u32,
        0xE0000..=0xE007F
        | 0x200B..=0x200F
        | 0x202A..=0x202E
        | 0x2060..=0x2064
        | 0x2066..=0x2069
        | 0xFEFF)
}

/// Runs every detector over `text` (a JSON payload as sent or received; JSON escapes such as
/// `\u200b` are decoded first by the caller handing the raw bytes to [`decoded`]).
pub fn scan(
    text: &str,
    direction: Direction,
    injection_phrases: &[String],
    max_bytes: usize,
    original_len: usize,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    if original_len > max_bytes {
        findings.push(Finding {
            detector: "oversized",
            what: format!("{original_len} bytes (limit {max_bytes})"),
        });
    }
    let hidden: Vec<String> = text
        .chars()
        .filter(|c| is_hidden(*c))
        .take(5)
        .map(|c| format!("U+{:04X}", c as u32))
        .collect();
    if !hidden.is_empty() {
        findings.push(Finding {
            detector: "hidden_unicode",
            what: hidden.join(" "),
        });
    }
    let lower = text.to_lowercase();
    if let Some(phrase) = injection_phrases
        .iter()
        .find(|p| lower.contains(&p.to_lowercase()))
    {
        findings.push(Finding {
            detector: "prompt_injection",
            what: phrase.clone(),
        });
    }
    if direction == Direction::Result {
        for (name, pattern) in SECRETS.iter() {
            if pattern.is_match(text) {
                findings.push(Finding {
                    detector: "secret",
                    what: (*name).to_string(),
                });
            }
        }
    }
    findings
}

/// The text of a JSON payload with its string escapes decoded (so `\u200b` counts as the
/// character), or the bytes as they are when they are not JSON.
pub fn decoded(bytes: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(value) => {
            let mut out = String::new();
            collect_strings(&value, &mut out);
            out
        }
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

fn collect_strings(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Object(map) => map.iter().for_each(|(k, v)| {
            out.push_str(k);
            out.push('\n');
            collect_strings(v, out);
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phrases() -> Vec<String> {
        DEFAULT_INJECTION_PHRASES
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    fn detectors(text: &str, direction: Direction) -> Vec<&'static str> {
        scan(text, direction, &phrases(), 1 << 20, text.len())
            .into_iter()
            .map(|f| f.detector)
            .collect()
    }

    #[test]
    fn each_detector_fires_on_its_pattern_and_not_on_plain_text() {
        assert!(detectors("The weather in Oslo is mild.", Direction::Result).is_empty());
        assert_eq!(
            detectors("a\u{E0041}b", Direction::Arguments),
            ["hidden_unicode"]
        );
        assert_eq!(
            detectors("x\u{202E}y", Direction::Result),
            ["hidden_unicode"]
        );
        assert_eq!(
            detectors(
                "Please IGNORE ALL PREVIOUS INSTRUCTIONS now",
                Direction::Arguments
            ),
            ["prompt_injection"]
        );
        assert_eq!(
            detectors("key AKIAIOSFODNN7EXAMPLE", Direction::Result),
            ["secret"]
        );
        // Secrets are looked for in results only.
        assert!(detectors("key AKIAIOSFODNN7EXAMPLE", Direction::Arguments).is_empty());
        assert_eq!(
            detectors("-----BEGIN RSA PRIVATE KEY-----", Direction::Result),
            ["secret"]
        );
        let big = scan("x", Direction::Result, &phrases(), 10, 11);
        assert_eq!(big[0].detector, "oversized");
    }

    #[test]
    fn json_escapes_are_decoded_before_scanning() {
        let text = decoded(br#"{"text":"hi\u200bthere"}"#);
        assert!(text.contains('\u{200B}'));
        assert_eq!(decoded(b"not json"), "not json");
    }
}
