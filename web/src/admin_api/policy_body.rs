//! JSON bodies of the policy and group routes → the policy service's inputs, collecting every
//! problem so one 400 lists them all. Unknown fields are problems, not silently dropped: a
//! typo in `tools` must not turn into "every tool".

use serde_json::{Map, Value};

use actors::auth::policy::PolicyChange;

const POLICY_FIELDS: [&str; 7] = [
    "subject",
    "effect",
    "backends",
    "tools",
    "prompts",
    "resources",
    "description",
];

/// A policy create or partial update. For the item lists, `null` means "every item" and an
/// absent field keeps the current value (or, on create, every item).
pub fn policy(body: &Value) -> Result<PolicyChange, Vec<String>> {
    let mut r = Reader::new(body)?;
    let change = PolicyChange {
        subject: r.string("subject"),
        effect: r.string("effect"),
        backends: r.list("backends", false).flatten(),
        tools: r.list("tools", true),
        prompts: r.list("prompts", true),
        resources: r.list("resources", true),
        description: r.string("description"),
    };
    r.finish(&POLICY_FIELDS)?;
    Ok(change)
}

/// `{"name", "description"}`, both optional here (the service checks what it needs).
pub fn group(body: &Value) -> Result<(Option<String>, Option<String>), Vec<String>> {
    let mut r = Reader::new(body)?;
    let fields = (r.string("name"), r.string("description"));
    r.finish(&["name", "description"])?;
    Ok(fields)
}

/// A list of user ids: `[1, 2]` or `{"user_ids": [1, 2]}`.
pub fn members(body: &Value) -> Result<Vec<i64>, Vec<String>> {
    let (list, field) = match body {
        Value::Array(items) => (items, "body"),
        Value::Object(fields) => {
            if let Some(extra) = fields.keys().find(|k| *k != "user_ids") {
                return Err(vec![format!("{extra}: unknown field")]);
            }
            match fields.get("user_ids") {
                Some(Value::Array(items)) => (items, "user_ids"),
                _ => return Err(vec!["user_ids: required, a list of user ids".into()]),
            }
        }
        _ => return Err(vec!["body: must be a list of user ids".into()]),
    };
    let mut ids = Vec::with_capacity(list.len());
    let mut problems = Vec::new();
    for (i, item) in list.iter().enumerate() {
        match item.as_i64().filter(|n| *n > 0) {
            Some(id) => ids.push(id),
            None => problems.push(format!(
                "{field}[{i}]: must be a user id (a positive integer)"
            )),
        }
    }
    if problems.is_empty() {
        Ok(ids)
    } else {
        Err(problems)
    }
}

struct Reader<'a> {
    fields: &'a Map<String, Value>,
    problems: Vec<String>,
}

impl<'a> Reader<'a> {
    fn new(body: &'a Value) -> Result<Reader<'a>, Vec<String>> {
        match body {
            Value::Object(fields) => Ok(Reader {
                fields,
                problems: Vec::new(),
            }),
            _ => Err(vec!["body: must be a JSON object".into()]),
        }
    }

    fn string(&mut self, field: &str) -> Option<String> {
        match self.fields.get(field)? {
            Value::String(text) => Some(text.clone()),
            _ => {
                self.problems.push(format!("{field}: must be a string"));
                None
            }
        }
    }

    /// `Some(None)` for `null` when `nullable`; the list's entries must be strings.
    fn list(&mut self, field: &str, nullable: bool) -> Option<Option<Vec<String>>> {
        match self.fields.get(field)? {
            Value::Null if nullable => Some(None),
            Value::Array(items) => {
                let strings: Vec<String> = items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
                if strings.len() == items.len() {
                    Some(Some(strings))
                } else {
                    self.problems
                        .push(format!("{field}: must be a list of strings"));
                    None
                }
            }
            _ => {
                let expected = if nullable {
                    "a list of strings, or null for every item"
                } else {
                    "a list of strings"
                };
                self.problems.push(format!("{field}: must be {expected}"));
                None
            }
        }
    }

    fn finish(mut self, known: &[&str]) -> Result<(), Vec<String>> {
        for field in self.fields.keys() {
            if !known.contains(&field.as_str()) {
                self.problems.push(format!("{field}: unknown field"));
            }
        }
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(self.problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn null_means_every_item_and_absent_keeps() {
        let change = policy(&json!({"subject": "user:a", "tools": null, "prompts": []})).unwrap();
        assert_eq!(change.tools, Some(None));
        assert_eq!(change.prompts, Some(Some(vec![])));
        assert_eq!(change.resources, None);
    }

    #[test]
    fn every_problem_is_reported() {
        let problems = policy(&json!({"subject": 1, "backends": null, "tools": [1], "toolz": []}))
            .unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert_eq!(members(&json!([1, 2])).unwrap(), vec![1, 2]);
        assert_eq!(members(&json!({"user_ids": [3]})).unwrap(), vec![3]);
        assert!(members(&json!([0, "x"])).unwrap_err().len() == 2);
    }
}
