//! JSON bodies of `POST` and `PATCH /admin/api/mcp-servers` → [`BackendDraft`], collecting every
//! problem so one 400 lists them all.
//!
//! Fields are the original gateway's (`name`, `url`, `tool_prefix`, `enabled`, `auth_type`,
//! `auth_token`, `timeout` in seconds) plus `transport`, `timeout_ms`, `health_interval_s` and
//! `auth_header`. The original's README spelled the token `backend_token`: accepted as an alias.
//! OAuth backends (`auth_type` `oauth_client_credentials` / `oauth_refresh_token`) take the
//! config file's keys: `token_url` (absent: discovered), `client_id`, `client_secret`, `scope`,
//! `resource`, `refresh_token`; secrets are write-only and never echoed in a problem.
//! `description` and `routing_strategy`, which its console sends, are accepted and ignored.
//!
//! A create's `name` may be free text, as in the original ("GitHub MCP"): the identifier is made
//! from it (`github-mcp`, see `actors::registry::identifier_from`) and the text kept as
//! `display_name`, unless the body sets that too. A PATCH's `name` must already be an identifier
//! (renaming changes `/mcp/<name>`, so it is never guessed); `display_name` changes the text.

use std::time::Duration;

use serde_json::{Map, Value};

use actors::registry::{
    AuthKind, BackendDraft, GivenName, HttpTransport, MAX_HEALTH_INTERVAL_S, MAX_TIMEOUT_S,
    RegistryError, check_backend_name, check_display_name, check_header_name, check_tool_prefix,
    identifier_from, parse_backend_url,
};
use actors::spec::SecretString;

const IGNORED: [&str; 2] = ["description", "routing_strategy"];
const STDIO_FIELDS: [&str; 4] = ["command", "args", "env", "cwd"];
const STDIO_ONLY: &str = "stdio backends run a command on the gateway host, so they can only be \
                          defined in the config file ([[backends]] with command = ...); the API \
                          creates HTTP backends (url)";

/// Parses a create (`creating`: `name` and `url` required) or a partial update.
pub fn parse(body: &Value, creating: bool) -> Result<BackendDraft, Vec<String>> {
    let Value::Object(fields) = body else {
        return Err(vec!["body: must be a JSON object".into()]);
    };
    let mut p = Parser {
        fields,
        problems: Vec::new(),
    };
    let given = p.required_string("name", creating, |v| given_name(v, creating));
    // "" clears it like null: a form's empty field.
    let display_name = p
        .nullable_string("display_name", |v| match v.trim() {
            "" => Ok(None),
            _ => check_display_name(v).map(Some),
        })
        .map(Option::flatten);
    let mut draft = BackendDraft {
        display_name: display_name.or_else(|| given.as_ref()?.display_name.clone().map(Some)),
        name: given.map(|g| g.identifier),
        url: p.required_string("url", creating, parse_backend_url),
        transport: p.transport(),
        tool_prefix: p.nullable_string("tool_prefix", |v| {
            check_tool_prefix(v).map(|()| v.to_string())
        }),
        enabled: p.boolean("enabled"),
        timeout: p.timeout(),
        health_interval: p
            .seconds("health_interval_s", 1, MAX_HEALTH_INTERVAL_S)
            .flatten()
            .map(Duration::from_secs),
        auth_type: p.auth_type(),
        auth_header: p.nullable_string("auth_header", |v| {
            check_header_name(v).map(|()| v.to_string())
        }),
        auth_token: None,
        token_url: p.nullable_string("token_url", parse_backend_url),
        client_id: p.required_string("client_id", false, check_client_id),
        client_secret: p.secret("client_secret"),
        scope: p.nullable_string("scope", check_scope),
        resource: p.nullable_string("resource", |v| parse_backend_url(v).map(|u| u.to_string())),
        refresh_token: p.secret("refresh_token"),
    };
    draft.auth_token = p.token();
    p.unknown_fields();
    if p.problems.is_empty() {
        Ok(draft)
    } else {
        Err(p.problems)
    }
}

/// The name as sent when the identifier was made from it (`None`: it was used as it is).
pub fn name_made_from(body: &Value, draft: &BackendDraft) -> Option<String> {
    let sent = body.get("name")?.as_str()?;
    (draft.name.as_deref() != Some(sent)).then(|| sent.to_string())
}

/// A taken identifier that was made from a free-text name says so: the 409 then names both.
pub fn explain_taken(error: RegistryError, made_from: Option<&str>) -> RegistryError {
    match (error, made_from) {
        (RegistryError::NameTaken(message), Some(sent)) => RegistryError::NameTaken(format!(
            "{message} (made from the name {sent:?}; to choose another identifier, send it \
             as name and the text as display_name)"
        )),
        (error, _) => error,
    }
}

/// What a create answers besides the backend: which identifier it goes by.
pub fn created_message(name: &str, made_from: Option<&str>) -> String {
    match made_from {
        Some(sent) => format!(
            "Backend created as `{name}`, the identifier made from the name {sent:?} (kept as its \
             display_name); use `{name}` in /mcp/{name}, its tools' prefix and policies."
        ),
        None => format!("Backend `{name}` created."),
    }
}

/// A create's name becomes an identifier if it is not one; a PATCH's must be one already.
fn given_name(text: &str, creating: bool) -> Result<GivenName, String> {
    if creating {
        return identifier_from(text);
    }
    check_backend_name(text).map_err(|e| {
        format!("{e} (a rename changes /mcp/<name>; free text goes in display_name)")
    })?;
    Ok(GivenName {
        identifier: text.to_string(),
        display_name: None,
    })
}

struct Parser<'a> {
    fields: &'a Map<String, Value>,
    problems: Vec<String>,
}

impl Parser<'_> {
    fn problem(&mut self, field: &str, reason: impl std::fmt::Display) {
        self.problems.push(format!("{field}: {reason}"));
    }

    fn required_string<T>(
        &mut self,
        field: &str,
        required: bool,
        check: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        match self.fields.get(field) {
            None if required => {
                self.problem(field, "required");
                None
            }
            None => None,
            Some(Value::String(text)) => check(text).map_err(|e| self.problem(field, e)).ok(),
            Some(Value::Null) => {
                self.problem(field, "cannot be null");
                None
            }
            Some(_) => {
                self.problem(field, "must be a string");
                None
            }
        }
    }

    fn nullable_string<T>(
        &mut self,
        field: &str,
        check: impl Fn(&str) -> Result<T, String>,
    ) -> Option<Option<T>> {
        match self.fields.get(field)? {
            Value::Null => Some(None),
            Value::String(text) => match check(text) {
                Ok(value) => Some(Some(value)),
                Err(e) => {
                    self.problem(field, e);
                    None
                }
            },
            _ => {
                self.problem(field, "must be a string or null");
                None
            }
        }
    }

    fn boolean(&mut self, field: &str) -> Option<bool> {
        match self.fields.get(field)? {
            Value::Bool(b) => Some(*b),
            _ => {
                self.problem(field, "must be true or false");
                None
            }
        }
    }

    /// A whole number in `min..=max`; `Some(None)` for null, 0 or "" (the original's "use the
    /// default"). Numeric strings are accepted because the original's console sent them.
    fn seconds(&mut self, field: &str, min: u64, max: u64) -> Option<Option<u64>> {
        let value = self.fields.get(field)?;
        let number = match value {
            Value::Null => return Some(None),
            Value::Number(n) => n.as_u64(),
            Value::String(s) if s.trim().is_empty() => return Some(None),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        match number {
            Some(0) => Some(None),
            Some(n) if (min..=max).contains(&n) => Some(Some(n)),
            _ => {
                self.problem(field, format!("must be a whole number from {min} to {max}"));
                None
            }
        }
    }

    /// `timeout` is in seconds, as in the original; `timeout_ms` gives milliseconds.
    fn timeout(&mut self) -> Option<Duration> {
        let seconds = self.seconds("timeout", 1, MAX_TIMEOUT_S);
        let millis = self.seconds("timeout_ms", 1, MAX_TIMEOUT_S * 1000);
        let default = || actors::registry::DEFAULT_TIMEOUT;
        match (seconds, millis) {
            (Some(s), Some(m)) if s.map(|s| s * 1000) != m => {
                self.problem(
                    "timeout_ms",
                    "disagrees with timeout (seconds); send only one",
                );
                None
            }
            (_, Some(m)) => Some(m.map_or_else(default, Duration::from_millis)),
            (Some(s), None) => Some(s.map_or_else(default, Duration::from_secs)),
            (None, None) => None,
        }
    }

    fn transport(&mut self) -> Option<HttpTransport> {
        let stdio_fields: Vec<&str> = STDIO_FIELDS
            .into_iter()
            .filter(|f| self.fields.contains_key(*f))
            .collect();
        for field in stdio_fields {
            self.problem(field, STDIO_ONLY);
        }
        match self.fields.get("transport")? {
            Value::String(t) if t == "streamable-http" || t == "http" => {
                Some(HttpTransport::StreamableHttp)
            }
            Value::String(t) if t == "sse" => Some(HttpTransport::Sse),
            Value::String(t) if t == "stdio" => {
                self.problem("transport", STDIO_ONLY);
                None
            }
            _ => {
                self.problem("transport", "must be \"streamable-http\" or \"sse\"");
                None
            }
        }
    }

    fn auth_type(&mut self) -> Option<AuthKind> {
        match self.fields.get("auth_type")? {
            Value::Null => Some(AuthKind::None),
            Value::String(t) => match AuthKind::parse(t) {
                Some(kind) => Some(kind),
                None => {
                    self.problem(
                        "auth_type",
                        "must be \"none\", \"bearer\", \"basic\", \"header\", \
                         \"oauth_client_credentials\" or \"oauth_refresh_token\"",
                    );
                    None
                }
            },
            _ => {
                self.problem("auth_type", "must be a string");
                None
            }
        }
    }

    /// Never echoes the value: a wrongly typed token is still a secret.
    fn token(&mut self) -> Option<Option<SecretString>> {
        if self.fields.contains_key("auth_token") && self.fields.contains_key("backend_token") {
            self.problem("backend_token", "is an alias of auth_token; send only one");
            return None;
        }
        let field = if self.fields.contains_key("backend_token") {
            "backend_token"
        } else {
            "auth_token"
        };
        self.secret(field)
    }

    /// A write-only value (`null` clears it); never echoed.
    fn secret(&mut self, field: &str) -> Option<Option<SecretString>> {
        match self.fields.get(field)? {
            Value::Null => Some(None),
            Value::String(t) if t.contains(['\r', '\n', '\0']) => {
                self.problem(field, "must not contain line breaks or NUL characters");
                None
            }
            Value::String(t) => Some(Some(SecretString::new(t.trim()))),
            _ => {
                self.problem(field, "must be a string or null");
                None
            }
        }
    }

    fn unknown_fields(&mut self) {
        let known = [
            "name",
            "display_name",
            "url",
            "transport",
            "tool_prefix",
            "enabled",
            "timeout",
            "timeout_ms",
            "health_interval_s",
            "auth_type",
            "auth_header",
            "auth_token",
            "backend_token",
            "token_url",
            "client_id",
            "client_secret",
            "scope",
            "resource",
            "refresh_token",
        ];
        let unknown: Vec<String> = self
            .fields
            .keys()
            .filter(|k| {
                !known.contains(&k.as_str())
                    && !IGNORED.contains(&k.as_str())
                    && !STDIO_FIELDS.contains(&k.as_str())
            })
            .cloned()
            .collect();
        for field in unknown {
            self.problem(&field, "unknown field");
        }
    }
}

fn check_client_id(id: &str) -> Result<String, String> {
    if id.is_empty() || id.len() > 512 || id.chars().any(char::is_control) {
        return Err("must be 1 to 512 characters without control characters".into());
    }
    Ok(id.to_string())
}

/// Space-separated scope tokens (RFC 6749 §3.3).
fn check_scope(scope: &str) -> Result<String, String> {
    let bad = |c: char| c.is_control() || c == '"' || c == '\\' || !c.is_ascii();
    if scope.len() > 1024 || scope.chars().any(bad) {
        return Err(
            "must be space-separated scope tokens (printable ASCII without \" or \\, at most 1024)"
                .into(),
        );
    }
    Ok(scope.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_seed_style_create_parses() {
        let draft = parse(
            &json!({ "name": "github", "url": "http://github-mcp:8000/mcp",
                     "backend_token": "t0k", "timeout": 45, "description": "ignored" }),
            true,
        )
        .unwrap();
        assert_eq!(draft.name.as_deref(), Some("github"));
        assert_eq!(draft.timeout, Some(Duration::from_secs(45)));
        assert_eq!(draft.auth_token, Some(Some(SecretString::new("t0k"))));
    }

    #[test]
    fn every_problem_is_listed_and_no_token_is_echoed() {
        let problems = parse(
            &json!({ "name": "!!!", "url": "ftp://x", "enabled": "yes", "timeout": 99999,
                     "auth_type": "oauth", "auth_token": 5, "command": "rm", "colour": 1 }),
            true,
        )
        .unwrap_err();
        let text = problems.join("\n");
        for expected in [
            "name: \"!!!\" has no ASCII letters or digits",
            "url: uses the scheme \"ftp\"",
            "enabled: must be true or false",
            "timeout: must be a whole number from 1 to 3600",
            "auth_type: must be",
            "auth_token: must be a string or null",
            "command: stdio backends run a command",
            "colour: unknown field",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
    }

    #[test]
    fn a_free_text_name_is_made_an_identifier_on_create_only() {
        let body = json!({ "name": "GitHub MCP", "url": "http://github-mcp:8000/mcp" });
        let draft = parse(&body, true).unwrap();
        assert_eq!(draft.name.as_deref(), Some("github-mcp"));
        assert_eq!(draft.display_name, Some(Some("GitHub MCP".into())));
        let named = json!({ "name": "GitHub MCP", "display_name": "GitHub (work)",
                            "url": "http://github-mcp:8000/mcp" });
        let draft = parse(&named, true).unwrap();
        assert_eq!(draft.display_name, Some(Some("GitHub (work)".into())));
        let plain = parse(&json!({ "name": "github", "url": "http://g/mcp" }), true).unwrap();
        assert_eq!(
            plain.display_name, None,
            "a valid name has no display name of its own"
        );
        let problems = parse(&json!({ "name": "GitHub MCP" }), false).unwrap_err();
        assert!(
            problems[0].contains("free text goes in display_name"),
            "{problems:?}"
        );
        for clear in [json!(null), json!(" ")] {
            let cleared = parse(&json!({ "display_name": clear }), false).unwrap();
            assert_eq!(cleared.display_name, Some(None));
        }
        let problems = parse(&json!({ "display_name": "a\tb" }), false).unwrap_err();
        assert!(
            problems[0].starts_with("display_name: must not contain"),
            "{problems:?}"
        );
    }

    #[test]
    fn patches_need_nothing_and_zero_timeout_means_default() {
        let draft = parse(&json!({ "timeout": 0, "tool_prefix": null }), false).unwrap();
        assert_eq!(draft.timeout, Some(actors::registry::DEFAULT_TIMEOUT));
        assert_eq!(draft.tool_prefix, Some(None));
        assert!(draft.name.is_none());
        let problems = parse(&json!({ "name": null }), false).unwrap_err();
        assert_eq!(problems, ["name: cannot be null"]);
        let problems = parse(&json!({ "timeout": 2, "timeout_ms": 3000 }), false).unwrap_err();
        assert!(problems[0].starts_with("timeout_ms: disagrees"));
        assert!(parse(&json!([]), false).is_err());
    }

    #[test]
    fn oauth_fields_parse_and_secrets_are_never_echoed() {
        let draft = parse(
            &json!({ "name": "remote", "url": "https://mcp.example/mcp",
                     "auth_type": "oauth_refresh_token", "client_id": "gw",
                     "client_secret": "s3cret", "refresh_token": "rt-1", "scope": "mcp:tools",
                     "resource": "https://mcp.example/mcp", "token_url": null }),
            true,
        )
        .unwrap();
        assert_eq!(draft.auth_type, Some(AuthKind::OAuthRefreshToken));
        assert_eq!(draft.client_id.as_deref(), Some("gw"));
        assert_eq!(draft.client_secret, Some(Some(SecretString::new("s3cret"))));
        assert_eq!(draft.refresh_token, Some(Some(SecretString::new("rt-1"))));
        assert_eq!(draft.token_url, Some(None));
        let problems = parse(
            &json!({ "client_secret": 7, "refresh_token": ["rt-x"], "client_id": "",
                     "token_url": "ftp://x/token", "scope": "a\"b" }),
            false,
        )
        .unwrap_err();
        let text = problems.join("\n");
        for expected in [
            "client_secret: must be a string or null",
            "refresh_token: must be a string or null",
            "client_id: must be 1 to 512",
            "token_url: uses the scheme",
            "scope: must be space-separated",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        assert!(!text.contains("rt-x"), "{text}");
    }

    #[test]
    fn urls_with_credentials_are_refused_without_echoing_them() {
        let problems = parse(
            &json!({ "name": "x", "url": "http://user:hunter2@host/mcp" }),
            true,
        )
        .unwrap_err();
        assert!(problems[0].contains("auth_token"));
        assert!(!problems[0].contains("hunter2"));
    }
}
