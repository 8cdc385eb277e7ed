//! Small, allocation-light JSON helpers for raw messages: nesting depth, reading a string, and
//! replacing one member of an object while keeping every other member's bytes and order.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

/// `Some(depth)` as soon as nesting exceeds `max` (checked before parsing, so a hostile body
/// cannot make the parser recurse deeply). Strings are skipped, escapes honoured.
pub fn depth_exceeding(body: &[u8], max: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            // A string: jump to its closing quote (strings are most of a large payload's bytes,
            // and `memchr` crosses them many bytes at a time).
            b'"' => {
                i += 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', &body[i..]) {
                        None => return None,
                        Some(at) if body[i + at] == b'\\' => i += at + 2,
                        Some(at) => {
                            i += at + 1;
                            break;
                        }
                    }
                    if i >= body.len() {
                        return None;
                    }
                }
                continue;
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return Some(depth);
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The value of a raw JSON string (`"abc"` → `abc`), `None` for anything else.
pub fn as_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    // Fast path: no escapes, so the bytes between the quotes are the string.
    if text.len() >= 2 && text.starts_with('"') && text.ends_with('"') && !text.contains('\\') {
        return Some(Cow::Borrowed(&text[1..text.len() - 1]));
    }
    serde_json::from_str::<String>(text).ok().map(Cow::Owned)
}

/// An object's members in order, values raw.
pub fn members(object: &RawValue) -> Result<Vec<(Cow<'_, str>, &RawValue)>, serde_json::Error> {
    struct Members;
    impl<'de> Visitor<'de> for Members {
        type Value = Vec<(Cow<'de, str>, &'de RawValue)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
            while let Some((key, value)) = map.next_entry::<Cow<'de, str>, &'de RawValue>()? {
                out.push((key, value));
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(object.get());
    de.deserialize_map(Members)
}

/// One member of `object` as raw JSON (the first, if the key repeats). Read in one pass
/// without collecting the members: every forwarded request looks up a few. `object` is valid
/// JSON already (a `RawValue` cannot be anything else), so once the member is found, a long
/// rest — a tool's large arguments after its `name` — is not read to its end.
pub fn member<'a>(object: &'a RawValue, key: &str) -> Option<&'a RawValue> {
    /// Below this many bytes left, reading on to the end is cheaper than stopping the parser
    /// (which builds an error to do so).
    const STOP_EARLY_ABOVE: usize = 512;
    struct Find<'k, 'de> {
        key: &'k str,
        text: &'de str,
        found: &'k std::cell::Cell<Option<&'de RawValue>>,
        /// Set when the visitor itself stopped the parser, found member in hand.
        stopped: &'k std::cell::Cell<bool>,
    }
    impl<'de> Visitor<'de> for Find<'_, 'de> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                if self.found.get().is_none() && key == self.key {
                    let value = map.next_value::<&'de RawValue>()?;
                    self.found.set(Some(value));
                    let read = value.get().as_ptr() as usize + value.get().len()
                        - self.text.as_ptr() as usize;
                    if self.text.len() - read > STOP_EARLY_ABOVE {
                        self.stopped.set(true);
                        return Err(serde::de::Error::custom("found"));
                    }
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(())
        }
    }
    let text = object.get();
    let found = std::cell::Cell::new(None);
    let stopped = std::cell::Cell::new(false);
    let mut de = serde_json::Deserializer::from_str(text);
    let read = de.deserialize_map(Find {
        key,
        text,
        found: &found,
        stopped: &stopped,
    });
    // Any other error (not an object; a key that is no string, such as a lone surrogate
    // escape) means no member, as when every member was read, even after the one wanted.
    (read.is_ok() || stopped.get())
        .then(|| found.get())
        .flatten()
}

/// Whether `object` has any of `keys` more than once. The gateway judges a request by the first
/// of a repeated key (see [`member`]) while a backend's parser may keep the last: a request
/// forwarded as it is must not carry two of what it is judged by. Not an object: `false`.
pub fn repeats_any(object: &RawValue, keys: &[&str]) -> bool {
    struct Repeats<'k>(&'k [&'k str]);
    impl<'de> Visitor<'de> for Repeats<'_> {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut seen = vec![false; self.0.len()];
            let mut repeated = false;
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                if let Some(i) = self.0.iter().position(|k| *k == key) {
                    repeated |= std::mem::replace(&mut seen[i], true);
                }
                map.next_value::<IgnoredAny>()?;
            }
            Ok(repeated)
        }
    }
    let mut de = serde_json::Deserializer::from_str(object.get());
    de.deserialize_map(Repeats(keys)).unwrap_or(false)
}

/// Appends `text` as a JSON string literal, escaped exactly as `serde_json` escapes it (no
/// separate allocation: the request path builds forwarded messages with it).
pub fn push_string_literal(out: &mut String, text: &str) {
    out.push('"');
    let mut plain = 0;
    // Every byte to escape is ASCII, so each `i` below is a character boundary.
    for (i, &b) in text.as_bytes().iter().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&text[plain..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        plain = i + 1;
    }
    out.push_str(&text[plain..]);
    out.push('"');
}

/// `object` with member `key` set to `value_json` (added at the end when absent); every other
/// member keeps its exact bytes and position.
pub fn with_member(
    object: &RawValue,
    key: &str,
    value_json: &str,
) -> Result<String, serde_json::Error> {
    let members = members(object)?;
    let mut out = String::with_capacity(object.get().len() + value_json.len() + key.len() + 4);
    out.push('{');
    let mut replaced = false;
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_string_literal(&mut out, k);
        out.push(':');
        if k == key {
            out.push_str(value_json);
            replaced = true;
        } else {
            out.push_str(v.get());
        }
    }
    if !replaced {
        if !members.is_empty() {
            out.push(',');
        }
        push_string_literal(&mut out, key);
        out.push(':');
        out.push_str(value_json);
    }
    out.push('}');
    Ok(out)
}

/// The member at `path` (`["params", "taskId"]`) as raw JSON.
pub fn member_at<'a>(object: &'a RawValue, path: &[&str]) -> Option<&'a RawValue> {
    path.iter()
        .try_fold(object, |inside, key| member(inside, key))
}

/// `object` with the member at `path` replaced by `value_json`; `None` unless every object on
/// the way exists. Every other byte is kept, as [`with_member`] keeps it.
pub fn with_member_at(object: &RawValue, path: &[&str], value_json: &str) -> Option<String> {
    let (first, rest) = path.split_first()?;
    if rest.is_empty() {
        member(object, first)?;
        return with_member(object, first, value_json).ok();
    }
    let inner = with_member_at(member(object, first)?, rest, value_json)?;
    with_member(object, first, &inner).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn string_literals_are_escaped_as_serde_json_escapes_them() {
        for text in [
            "",
            "plain",
            "quote \" and backslash \\",
            "lines\n\r\ttab",
            "\u{8}\u{c}\u{0}\u{1f}\u{7f}",
            "ünïcødé ✓ \u{2028}",
        ] {
            let mut out = String::from("x");
            push_string_literal(&mut out, text);
            assert_eq!(out, format!("x{}", serde_json::to_string(text).unwrap()));
        }
    }

    #[test]
    fn member_finds_the_first_of_a_key_and_reads_past_the_rest() {
        let object = raw(r#"{"a":1,"b":{"c":[1,2]},"a":2,"d\u0041":"x"}"#);
        assert_eq!(member(&object, "a").unwrap().get(), "1");
        assert_eq!(member(&object, "b").unwrap().get(), r#"{"c":[1,2]}"#);
        assert_eq!(member(&object, "dA").unwrap().get(), r#""x""#);
        assert!(member(&object, "z").is_none());
        assert!(member(&raw("[1]"), "a").is_none(), "not an object");
        // A member before a long rest is found without reading the rest (and still exactly).
        let long = format!(
            r#"{{"name":"t","arguments":{{"text":"{}"}},"name":"u"}}"#,
            "x".repeat(4096)
        );
        let object = raw(&long);
        assert_eq!(member(&object, "name").unwrap().get(), r#""t""#);
        assert_eq!(
            member(&object, "arguments").unwrap().get().len(),
            4096 + r#"{"text":""}"#.len()
        );
        assert!(member(&object, "missing").is_none());
        // A key that is no string (a lone surrogate) after the member: none, as before.
        let bad_key = raw(r#"{"name":"echo","arguments":{"x":1},"\ud800":0}"#);
        assert!(member(&bad_key, "name").is_none());
    }

    #[test]
    fn repeated_keys_are_found_escaped_or_not() {
        let twice = raw(r#"{"name":"a","arguments":{},"name":"b"}"#);
        assert!(repeats_any(&twice, &["name", "uri"]));
        assert!(!repeats_any(&twice, &["uri", "arguments"]));
        let escaped = raw(r#"{"name":"a","na\u006de":"b"}"#);
        assert!(repeats_any(&escaped, &["name"]));
        let nested = raw(r#"{"name":"a","arguments":{"name":"b","name":"c"}}"#);
        assert!(
            !repeats_any(&nested, &["name"]),
            "only the object's own keys"
        );
        assert!(!repeats_any(&raw("[1,1]"), &["name"]));
    }

    #[test]
    fn depth_ignores_brackets_in_strings() {
        assert_eq!(depth_exceeding(br#"{"a":"[[[[[[["}"#, 2), None);
        assert_eq!(depth_exceeding(br#"{"a":"\"[[[["}"#, 2), None);
        assert_eq!(depth_exceeding(b"[[[1]]]", 2), Some(3));
        // Escapes at the end of strings and of the body, brackets right after strings.
        assert_eq!(depth_exceeding(br#"["\\",["x"],[[1]]]"#, 2), Some(3));
        assert_eq!(depth_exceeding(br#"["\\"]"#, 1), None);
        assert_eq!(
            depth_exceeding(br#"["a\"#, 1),
            None,
            "unterminated: the parser refuses it"
        );
        assert_eq!(depth_exceeding(br#"[""#, 1), None);
        assert_eq!(
            depth_exceeding(br#"["\"]]]"#, 1),
            None,
            "all inside the string"
        );
    }

    #[test]
    fn with_member_keeps_other_bytes_and_order() {
        let o =
            raw(r#"{"z":12345678901234567890,"name":"a_echo","arguments":{"y":1,"x":[1.0e5]}}"#);
        let out = with_member(&o, "name", "\"echo\"").unwrap();
        assert_eq!(
            out,
            r#"{"z":12345678901234567890,"name":"echo","arguments":{"y":1,"x":[1.0e5]}}"#
        );
        let out = with_member(&raw("{}"), "cursor", "\"c\"").unwrap();
        assert_eq!(out, r#"{"cursor":"c"}"#);
        assert_eq!(member(&o, "name").unwrap().get(), "\"a_echo\"");
        assert_eq!(
            as_str(member(&o, "name").unwrap()).as_deref(),
            Some("a_echo")
        );
        assert_eq!(as_str(&raw(r#""a\u0041""#)).as_deref(), Some("aA"));
    }

    #[test]
    fn with_member_at_replaces_one_nested_member() {
        let o = raw(
            r#"{"id":1,"result":{"n":12345678901234567890,"task":{"taskId":"t-1","status":"working"}}}"#,
        );
        let path = ["result", "task", "taskId"];
        assert_eq!(member_at(&o, &path).unwrap().get(), r#""t-1""#);
        assert_eq!(
            with_member_at(&o, &path, r#""gw""#).unwrap(),
            r#"{"id":1,"result":{"n":12345678901234567890,"task":{"taskId":"gw","status":"working"}}}"#
        );
        assert_eq!(with_member_at(&o, &["result", "nope", "taskId"], "1"), None);
        assert_eq!(with_member_at(&o, &["result", "absent"], "1"), None);
    }
}
