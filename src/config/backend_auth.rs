//! A `[[backends]]` table's credential: `auth_type`, one token source (`auth_token`,
//! `auth_token_file`, `auth_token_env`), `auth_header`, and custom `headers` (values inline, or
//! from files / environment variables through `header_files` / `header_envs`).
//!
//! File and environment sources keep secrets out of the config file; they are read at load and
//! at every reload, so rotating a token is "replace the file, send SIGHUP". Errors name the key,
//! the file or the variable, never the secret.

use std::collections::BTreeMap;
use std::path::Path;

use actors::registry::check_header_name;
use actors::spec::{BackendAuth, OAuthClientSpec, OAuthGrant, SecretString};

use super::checks;
use super::paths::absolutize;
use super::reader::TableReader;

/// The keys this module reads (an HTTP backend's only; a stdio backend refuses them).
pub(crate) const AUTH_KEYS: [&str; 18] = [
    "token_url",
    "client_id",
    "client_secret",
    "client_secret_file",
    "client_secret_env",
    "scope",
    "resource",
    "refresh_token",
    "refresh_token_file",
    "refresh_token_env",
    "auth_type",
    "auth_token",
    "auth_token_file",
    "auth_token_env",
    "auth_header",
    "headers",
    "header_files",
    "header_envs",
];

/// Where `_file` and `_env` sources are looked up.
pub(crate) struct SecretSources<'a> {
    pub env: &'a BTreeMap<String, String>,
    pub cwd: &'a Path,
}

impl SecretSources<'_> {
    fn read_file(&self, path: &str) -> Result<SecretString, String> {
        let path = absolutize(self.cwd, Path::new(path));
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        // A trailing newline is what editors and `echo` leave; it is never part of a token.
        let value = text.trim_end_matches(['\n', '\r']);
        if value.is_empty() {
            return Err(format!("{} is empty", path.display()));
        }
        Ok(SecretString::new(value))
    }

    fn read_env(&self, name: &str) -> Result<SecretString, String> {
        match self.env.get(name) {
            Some(value) if !value.is_empty() => Ok(SecretString::new(value.clone())),
            Some(_) => Err(format!("the environment variable {name} is empty")),
            None => Err(format!("the environment variable {name} is not set")),
        }
    }
}

/// How one table's values become secrets (inline, file, environment).
type Resolve = fn(&SecretSources<'_>, &str) -> Result<SecretString, String>;

/// The credential and custom headers; `None` when something is invalid (reported).
pub(crate) type ReadAuth = (Option<BackendAuth>, BTreeMap<String, SecretString>);

pub(crate) fn read_backend_auth(
    r: &mut TableReader<'_>,
    sources: &SecretSources<'_>,
) -> Option<ReadAuth> {
    let kind = if r.has("auth_type") {
        r.take_string_with("auth_type", |kind| match kind {
            "none"
            | "bearer"
            | "basic"
            | "header"
            | "oauth_client_credentials"
            | "oauth_refresh_token" => Ok(Some(kind.to_string())),
            other => Err(format!(
                "unknown auth_type {other:?}; use none, bearer, basic, header, \
                 oauth_client_credentials or oauth_refresh_token"
            )),
        })?
    } else {
        None
    };
    let oauth_kind = kind.as_deref().filter(|k| k.starts_with("oauth_"));
    let oauth = read_oauth(r, sources, oauth_kind)?;
    let token = read_token(r, sources)?;
    let header = if r.has("auth_header") {
        Some(r.take_string_with("auth_header", |name| {
            check_header_name(name).map(|()| name.to_string())
        })?)
    } else {
        None
    };
    // A token without a type means bearer, as in the admin API.
    let kind = kind.unwrap_or_else(|| if token.is_some() { "bearer" } else { "none" }.into());
    let auth = match (kind.as_str(), token, header) {
        (_, None, None) if oauth.is_some() => oauth.map(BackendAuth::OAuth),
        (_, _, _) if oauth.is_some() => {
            let message = "an OAuth backend's token comes from its token endpoint; remove \
                           auth_token / auth_header";
            r.error("auth_token", None, message);
            return None;
        }
        ("none", None, None) => None,
        ("none", _, header) => {
            let key = if header.is_some() {
                "auth_header"
            } else {
                "auth_token"
            };
            r.error(key, None, "given, but auth_type is \"none\"");
            return None;
        }
        (_, None, _) => {
            let message = format!(
                "auth_type {kind:?} needs a token: give auth_token, auth_token_file or auth_token_env"
            );
            r.error("auth_token", None, message);
            return None;
        }
        ("header", Some(token), Some(name)) => Some(BackendAuth::Header { name, value: token }),
        ("header", Some(_), None) => {
            let message = "required for auth_type \"header\" (the header name, e.g. X-API-Key)";
            r.error("auth_header", None, message);
            return None;
        }
        (_, Some(_), Some(_)) => {
            r.error("auth_header", None, "only applies to auth_type \"header\"");
            return None;
        }
        ("basic", Some(token), None) => Some(BackendAuth::basic(&token)),
        (_, Some(token), None) => Some(BackendAuth::Bearer(token)),
    };
    let headers = read_headers(r, sources)?;
    let auth_name = match &auth {
        Some(BackendAuth::Bearer(_)) => Some("authorization".to_string()),
        Some(BackendAuth::Header { name, .. }) => Some(name.to_ascii_lowercase()),
        Some(BackendAuth::OAuth(_)) => Some("authorization".to_string()),
        None => None,
    };
    if let Some(name) = auth_name
        && headers.keys().any(|h| h.to_ascii_lowercase() == name)
    {
        let message = format!("the header {name:?} is already set by the backend's auth_type");
        r.error("headers", None, message);
        return None;
    }
    Some((auth, headers))
}

fn read_token(
    r: &mut TableReader<'_>,
    sources: &SecretSources<'_>,
) -> Option<Option<SecretString>> {
    read_secret(
        r,
        sources,
        ["auth_token", "auth_token_file", "auth_token_env"],
    )
}

/// A secret from at most one of `<key>`, `<key>_file`, `<key>_env`; `Some(None)` when none is
/// given.
fn read_secret(
    r: &mut TableReader<'_>,
    sources: &SecretSources<'_>,
    keys: [&'static str; 3],
) -> Option<Option<SecretString>> {
    let given: Vec<&'static str> = keys.into_iter().filter(|k| r.has(k)).collect();
    if given.len() > 1 {
        let message = format!("give one source, not {}", given.join(" and "));
        for key in keys {
            r.take(key);
        }
        r.error(keys[0], None, message);
        return None;
    }
    match given.first().copied() {
        None => Some(None),
        Some(key) if key == keys[0] => r
            .take_string_with(key, |t| {
                if t.is_empty() {
                    Err("must not be empty".to_string())
                } else {
                    Ok(SecretString::new(t))
                }
            })
            .map(Some),
        Some(key) if key == keys[1] => r.take_string_with(key, |p| sources.read_file(p)).map(Some),
        Some(key) => r.take_string_with(key, |n| sources.read_env(n)).map(Some),
    }
}

const OAUTH_ONLY: [&str; 10] = [
    "token_url",
    "client_id",
    "client_secret",
    "client_secret_file",
    "client_secret_env",
    "scope",
    "resource",
    "refresh_token",
    "refresh_token_file",
    "refresh_token_env",
];

/// The OAuth keys: required with an `oauth_*` auth_type, refused without one.
fn read_oauth(
    r: &mut TableReader<'_>,
    sources: &SecretSources<'_>,
    kind: Option<&str>,
) -> Option<Option<OAuthClientSpec>> {
    let Some(kind) = kind else {
        let mut ok = true;
        for key in OAUTH_ONLY {
            if let Some(value) = r.take(key) {
                let message = "only applies to auth_type oauth_client_credentials or \
                               oauth_refresh_token";
                r.error(key, Some(&value), message);
                ok = false;
            }
        }
        return ok.then_some(None);
    };
    let token_url = if r.has("token_url") {
        Some(r.take_string_with("token_url", checks::parse_http_url)?)
    } else {
        None
    };
    let client_id = r.take_string_with("client_id", |id| {
        if id.is_empty() {
            Err("must not be empty".to_string())
        } else {
            Ok(id.to_string())
        }
    });
    if client_id.is_none() && !r.has("client_id") {
        r.error("client_id", None, "required for an OAuth backend");
    }
    let client_secret = read_secret(
        r,
        sources,
        ["client_secret", "client_secret_file", "client_secret_env"],
    );
    let scope = if r.has("scope") {
        r.take_string("scope").map(Some)
    } else {
        Some(None)
    };
    let resource = if r.has("resource") {
        r.take_string_with("resource", |t| {
            checks::parse_http_url(t).map(|u| Some(u.to_string()))
        })
    } else {
        Some(None)
    };
    let refresh = read_secret(
        r,
        sources,
        ["refresh_token", "refresh_token_file", "refresh_token_env"],
    );
    let grant = match (kind, refresh?) {
        ("oauth_refresh_token", Some(token)) => OAuthGrant::RefreshToken(token),
        ("oauth_refresh_token", None) => {
            let message = "required for auth_type \"oauth_refresh_token\": give refresh_token, \
                           refresh_token_file or refresh_token_env";
            r.error("refresh_token", None, message);
            return None;
        }
        (_, Some(_)) => {
            r.error(
                "refresh_token",
                None,
                "only applies to auth_type \"oauth_refresh_token\"",
            );
            return None;
        }
        (_, None) => OAuthGrant::ClientCredentials,
    };
    Some(Some(OAuthClientSpec {
        grant,
        token_url,
        client_id: client_id?,
        client_secret: client_secret?,
        scope: scope?,
        resource: resource?,
    }))
}

/// `headers` (inline values), `header_files` (value read from a file), `header_envs` (value
/// read from an environment variable); a name may appear in one of them only.
fn read_headers(
    r: &mut TableReader<'_>,
    sources: &SecretSources<'_>,
) -> Option<BTreeMap<String, SecretString>> {
    let mut all = BTreeMap::new();
    let mut ok = true;
    let tables: [(&'static str, Resolve); 3] = [
        ("headers", |_, v| Ok(SecretString::new(v))),
        ("header_files", |s, p| s.read_file(p)),
        ("header_envs", |s, n| s.read_env(n)),
    ];
    for (key, resolve) in tables {
        if !r.has(key) {
            continue;
        }
        let Some(map) = r.take_string_map(key) else {
            ok = false;
            continue;
        };
        for (name, source) in map {
            let path = format!("{key}.{name}");
            if let Err(message) = check_header_name(&name) {
                r.error(&path, None, message);
                ok = false;
                continue;
            }
            if all.keys().any(|h: &String| h.eq_ignore_ascii_case(&name)) {
                r.error(&path, None, "this header is already given");
                ok = false;
                continue;
            }
            match resolve(sources, &source) {
                Ok(value) => {
                    all.insert(name, value);
                }
                Err(message) => {
                    r.error(&path, None, message);
                    ok = false;
                }
            }
        }
    }
    ok.then_some(all)
}
