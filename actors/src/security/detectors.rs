//! Payload detectors for `suspicious_payload`: hidden Unicode, prompt-injection phrases, secrets
//! in results, oversized payloads. Pure functions over a copy of the bytes; the scanner task
//! (see [`super::scanner`]) runs them off the request path.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, MatchKind};
use regex::Regex;
use serde::de::DeserializeSeed;

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

/// Prompt-injection phrases compiled once (settings are read at start) into one automaton, so a
/// payload is searched once for all of them (SIMD-accelerated), in its lowercase form. A phrase
/// is found exactly when the lowercased text contains the lowercased phrase.
#[derive(Debug, Clone)]
pub struct Phrases {
    phrases: Vec<String>,
    lowered: Vec<String>,
    /// Over `lowered`; `None` only if the automaton could not be built (then every payload
    /// takes the plain search).
    matcher: Option<AhoCorasick>,
}

impl Phrases {
    pub fn new<S: AsRef<str>>(phrases: &[S]) -> Phrases {
        let phrases: Vec<String> = phrases.iter().map(|p| p.as_ref().to_string()).collect();
        let lowered: Vec<String> = phrases.iter().map(|p| p.to_lowercase()).collect();
        // Leftmost-first and case-sensitive: only then may the search use its SIMD prefilter
        // (Teddy; which match it reports does not matter, `find` only asks whether there is
        // one), so payloads are lowercased first. Building fails only past the automaton's size
        // limits (no sane phrase list gets there).
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .build(&lowered)
            .ok();
        Phrases {
            phrases,
            lowered,
            matcher,
        }
    }

    /// The first phrase (in configured order) that `text` contains, case-insensitively.
    pub fn find(&self, text: &str) -> Option<&str> {
        let lowered = if text.is_ascii() {
            ascii_lowercase(text)
        } else {
            text.to_lowercase()
        };
        if let Some(matcher) = &self.matcher
            && !matcher.is_match(&lowered)
        {
            return None;
        }
        // Something matched (rare): which phrase comes first in the configured order.
        let found = self
            .lowered
            .iter()
            .position(|p| lowered.contains(p.as_str()));
        found.map(|i| self.phrases[i].as_str())
    }
}

/// `text.to_ascii_lowercase()`, eight bytes at a time: this crate is built for size, where the
/// byte-by-byte loop is not vectorised, and payloads reach hundreds of kilobytes. Only ASCII
/// capitals change (bytes of other characters have their top bit set and are left as they are).
fn ascii_lowercase(text: &str) -> String {
    const LSB: u64 = 0x0101_0101_0101_0101;
    const MSB: u64 = 0x8080_8080_8080_8080;
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let low7 = x & !MSB;
        // Per byte, no carries (each sum stays below 0x100): the top bit says `>= 'A'`, `> 'Z'`.
        let at_least_a = low7 + LSB * u64::from(0x80 - b'A');
        let beyond_z = low7 + LSB * u64::from(0x80 - b'Z' - 1);
        let capital = at_least_a & !beyond_z & !x & MSB;
        out.extend_from_slice(&(x | (capital >> 2)).to_le_bytes());
    }
    out.extend(chunks.remainder().iter().map(u8::to_ascii_lowercase));
    String::from_utf8(out).unwrap_or_else(|_| text.to_ascii_lowercase())
}

/// Runs every detector over `text` (a JSON payload as sent or received; JSON escapes such as
/// `\u200b` are decoded first by the caller handing the raw bytes to [`decoded`]).
pub fn scan(
    text: &str,
    direction: Direction,
    injection_phrases: &Phrases,
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
    // Every hidden character is outside ASCII.
    if !text.is_ascii() {
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
    }
    if let Some(phrase) = injection_phrases.find(text) {
        findings.push(Finding {
            detector: "prompt_injection",
            what: phrase.to_string(),
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
/// character): every key and string value, one per line, in document order — or the bytes as
/// they are when they are not JSON. The strings are taken as the parser meets them, without
/// building a `serde_json::Value` tree (every relayed payload passes here).
pub fn decoded(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut parser = serde_json::Deserializer::from_slice(bytes);
    match Strings(&mut out)
        .deserialize(&mut parser)
        .and_then(|()| parser.end())
    {
        Ok(()) => out,
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Appends every string (keys included) of the JSON value it deserializes, each followed by a
/// newline; numbers, booleans and nulls add nothing.
struct Strings<'a>(&'a mut String);

impl<'de> serde::de::DeserializeSeed<'de> for Strings<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Strings<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E>(self, s: &str) -> Result<(), E> {
        self.0.push_str(s);
        self.0.push('\n');
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        while items.next_element_seed(Strings(&mut *self.0))?.is_some() {}
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(Strings(&mut *self.0))?.is_some() {
            map.next_value_seed(Strings(&mut *self.0))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phrases() -> Phrases {
        Phrases::new(DEFAULT_INJECTION_PHRASES)
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
    fn phrases_match_as_lowercased_text_contains_lowercased_phrase() {
        let phrases = Phrases::new(&["Do Not Tell", "ÜBER ALLES", "zeta", "\u{212A}elvin"]);
        // ASCII text, any case; the first phrase in configured order wins.
        assert_eq!(
            phrases.find("zeta: DO NOT TELL anyone"),
            Some("Do Not Tell")
        );
        assert_eq!(phrases.find("only ZeTa here"), Some("zeta"));
        // Non-ASCII text and phrases, Unicode case.
        assert_eq!(phrases.find("deutschland über alles"), Some("ÜBER ALLES"));
        assert_eq!(phrases.find("DEUTSCHLAND ÜBER ALLES"), Some("ÜBER ALLES"));
        // A phrase whose lowercase is ASCII (the Kelvin sign lowers to `k`) matches ASCII text.
        assert_eq!(phrases.find("KELVIN scale"), Some("\u{212A}elvin"));
        assert_eq!(phrases.find("nothing to see"), None);
        assert_eq!(Phrases::new::<&str>(&[]).find("anything"), None);
        // Agrees with the plain definition on a mix of cases.
        let list = ["ignore previous instructions", "Straße", "ǅemal"];
        let compiled = Phrases::new(&list);
        for text in [
            "IGNORE PREVIOUS INSTRUCTIONS",
            "große STRASSE",
            "die STRASSE",
            "straße",
            "ǄEMAL",
            "ǆemal ok",
            "plain",
        ] {
            let lowered = text.to_lowercase();
            let expected = list.iter().find(|p| lowered.contains(&p.to_lowercase()));
            assert_eq!(compiled.find(text), expected.copied(), "{text}");
        }
    }

    #[test]
    fn ascii_lowercasing_by_words_agrees_with_the_standard_one() {
        let all: String = (0u8..128).map(char::from).collect();
        for text in [
            all.as_str(),
            "",
            "AZ@[`{az",
            "Mixed CASE with ÜNICODE ǅ and a tail",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        ] {
            assert_eq!(ascii_lowercase(text), text.to_ascii_lowercase(), "{text:?}");
        }
    }

    #[test]
    fn json_escapes_are_decoded_before_scanning() {
        let text = decoded(br#"{"text":"hi\u200bthere"}"#);
        assert!(text.contains('\u{200B}'));
        assert_eq!(decoded(b"not json"), "not json");
        assert_eq!(decoded(b"{\"a\":1} trailing"), "{\"a\":1} trailing");
        let nested = decoded(br#"{"k":[true,null,2.5,{"deep":"v\n"}],"n":-1}"#);
        assert_eq!(nested, "k\ndeep\nv\n\nn\n");
    }
}
