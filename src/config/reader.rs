//! A typed reader over one table of the merged configuration tree.
//!
//! Every `take_*` removes the key it reads, so whatever is left when the reader finishes is an
//! unknown key. Type and range problems go into the shared report and the read yields `None`, so
//! validation continues and one pass finds every error.

use std::collections::{BTreeMap, BTreeSet};

use config::{Map, Value, ValueKind};

use super::error::{ConfigError, ConfigReport};

pub(crate) struct TableReader<'r> {
    /// Key path of this table (`""` at the root, `server`, `backends[2]`).
    prefix: String,
    /// Where to point errors about keys that are missing or have no origin of their own.
    fallback_source: String,
    entries: Map<String, Value>,
    known: BTreeSet<&'static str>,
    report: &'r mut ConfigReport,
}

impl<'r> TableReader<'r> {
    pub fn new(
        prefix: impl Into<String>,
        fallback_source: impl Into<String>,
        entries: Map<String, Value>,
        report: &'r mut ConfigReport,
    ) -> Self {
        TableReader {
            prefix: prefix.into(),
            fallback_source: fallback_source.into(),
            entries,
            known: BTreeSet::new(),
            report,
        }
    }

    pub fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    pub fn fallback_source(&self) -> &str {
        &self.fallback_source
    }

    pub fn source_of(&self, value: &Value) -> String {
        value
            .origin()
            .map_or_else(|| self.fallback_source.clone(), str::to_string)
    }

    /// Records an error about `key`; `value` (when known) names the source.
    pub fn error(&mut self, key: &str, value: Option<&Value>, message: impl Into<String>) {
        let source = value.map_or_else(|| self.fallback_source.clone(), |v| self.source_of(v));
        let path = self.path(key);
        self.report.push(ConfigError::new(source, path, message));
    }

    pub fn report(&mut self) -> &mut ConfigReport {
        self.report
    }

    pub fn has(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// Removes `key` and returns it, marking the key as known.
    pub fn take(&mut self, key: &'static str) -> Option<Value> {
        self.known.insert(key);
        self.entries.remove(key)
    }

    pub fn take_string(&mut self, key: &'static str) -> Option<String> {
        let value = self.take(key)?;
        match &value.kind {
            ValueKind::String(s) => Some(s.clone()),
            _ => self.type_error(key, &value, "a string"),
        }
    }

    /// A string that must also pass `check`; either failure is reported against the value's source.
    pub fn take_string_with<T>(
        &mut self,
        key: &'static str,
        check: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let value = self.take(key)?;
        let ValueKind::String(text) = &value.kind else {
            return self.type_error(key, &value, "a string");
        };
        match check(text) {
            Ok(checked) => Some(checked),
            Err(message) => {
                self.error(key, Some(&value), message);
                None
            }
        }
    }

    pub fn take_bool(&mut self, key: &'static str) -> Option<bool> {
        let value = self.take(key)?;
        match value.kind {
            ValueKind::Boolean(b) => Some(b),
            _ => self.type_error(key, &value, "a boolean (true or false)"),
        }
    }

    /// A non-negative integer in `min..=max`.
    pub fn take_uint(&mut self, key: &'static str, min: u64, max: u64) -> Option<u64> {
        let value = self.take(key)?;
        let number: Option<i128> = match value.kind {
            ValueKind::I64(n) => Some(n.into()),
            ValueKind::U64(n) => Some(n.into()),
            ValueKind::I128(n) => Some(n),
            ValueKind::U128(n) => i128::try_from(n).ok(),
            _ => return self.type_error(key, &value, "an integer"),
        };
        match number.and_then(|n| u64::try_from(n).ok()) {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                let shown = number.map_or_else(|| "a huge number".to_string(), |n| n.to_string());
                let range = if max == u64::MAX {
                    format!("at least {min}")
                } else {
                    format!("between {min} and {max}")
                };
                self.error(key, Some(&value), format!("must be {range}, got {shown}"));
                None
            }
        }
    }

    pub fn take_string_list(&mut self, key: &'static str) -> Option<Vec<String>> {
        let value = self.take(key)?;
        let ValueKind::Array(items) = &value.kind else {
            return self.type_error(key, &value, "a list of strings");
        };
        let mut strings = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match &item.kind {
                ValueKind::String(s) => strings.push(s.clone()),
                other => {
                    ok = false;
                    let message = format!("expected a string, found {}", describe(other));
                    self.error(&format!("{key}[{i}]"), Some(item), message);
                }
            }
        }
        ok.then_some(strings)
    }

    /// A table of string values (e.g. a child process's environment).
    pub fn take_string_map(&mut self, key: &'static str) -> Option<BTreeMap<String, String>> {
        let value = self.take(key)?;
        let ValueKind::Table(table) = &value.kind else {
            return self.type_error(key, &value, "a table of strings");
        };
        let mut map = BTreeMap::new();
        let mut ok = true;
        for (name, item) in sorted(table) {
            match &item.kind {
                ValueKind::String(s) => {
                    map.insert(name.clone(), s.clone());
                }
                other => {
                    ok = false;
                    let message = format!("expected a string, found {}", describe(other));
                    self.error(&format!("{key}.{name}"), Some(item), message);
                }
            }
        }
        ok.then_some(map)
    }

    /// A sub-table; absent gives an empty one, so its defaults (if any) still apply.
    pub fn take_table(&mut self, key: &'static str) -> Option<TableReader<'_>> {
        let path = self.path(key);
        let fallback = self.fallback_source.clone();
        let entries = match self.take(key) {
            None => Map::new(),
            Some(value) => match value.kind {
                ValueKind::Table(table) => table,
                ref other => {
                    let message = format!("expected a table, found {}", describe(other));
                    self.error(key, Some(&value), message);
                    return None;
                }
            },
        };
        Some(TableReader::new(path, fallback, entries, self.report))
    }

    /// Reports every key nobody asked for, with the closest known key as a hint.
    pub fn finish(self) {
        let TableReader {
            prefix,
            fallback_source,
            entries,
            known,
            report,
        } = self;
        for (key, value) in sorted(&entries) {
            let mut message = "unknown key".to_string();
            if let Some(near) = closest(key, &known) {
                message.push_str(&format!(" (did you mean {near:?}?)"));
            }
            let source = value
                .origin()
                .map_or_else(|| fallback_source.clone(), str::to_string);
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            report.push(ConfigError::new(source, path, message));
        }
    }

    fn type_error<T>(&mut self, key: &str, value: &Value, expected: &str) -> Option<T> {
        let message = format!("expected {expected}, found {}", describe(&value.kind));
        self.error(key, Some(value), message);
        None
    }
}

/// Table entries in key order: the underlying map is a `HashMap`, and reports must be stable.
pub(crate) fn sorted(table: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

pub(crate) fn describe(kind: &ValueKind) -> String {
    match kind {
        ValueKind::Nil => "nothing".to_string(),
        ValueKind::Boolean(b) => format!("the boolean {b}"),
        ValueKind::I64(n) => format!("the integer {n}"),
        ValueKind::I128(n) => format!("the integer {n}"),
        ValueKind::U64(n) => format!("the integer {n}"),
        ValueKind::U128(n) => format!("the integer {n}"),
        ValueKind::Float(n) => format!("the float {n}"),
        ValueKind::String(s) => format!("the string {s:?}"),
        ValueKind::Table(_) => "a table".to_string(),
        ValueKind::Array(_) => "a list".to_string(),
    }
}

/// The known key within edit distance 2, if any: catches `prot` for `port`.
fn closest<'k>(key: &str, known: &BTreeSet<&'k str>) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}
