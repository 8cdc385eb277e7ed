//! From a verified token's claims to who the caller is here: the username and email that match
//! a local user, the role, the local groups and the scopes. Pure functions over JSON; the
//! signature, issuer, audience and lifetime were checked before.

use serde_json::{Map, Value};

use super::spec::IssuerSpec;
use crate::storage::users::Role;

/// Longest username or email taken from a token (longer ones are refused, not cut).
const MAX_NAME_LEN: usize = 255;
/// Most groups or scopes read from one token.
const MAX_LIST_ITEMS: usize = 256;

/// What a token says about its user, mapped through the issuer's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedClaims {
    pub username: String,
    /// Lower-cased; `None` when absent or explicitly unverified (`email_verified: false`).
    pub email: Option<String>,
    /// `Some` only when the issuer has a `role_claim`: then the token decides the role.
    pub role: Option<Role>,
    /// The local groups the token's groups map to (sorted, unique); `None` without a mapping.
    pub groups: Option<Vec<String>>,
    /// `None` when the issuer has no `scopes_claim` or the token carries none.
    pub scopes: Option<Vec<String>>,
    /// The client the token was issued to (`client_id`, else `azp`), for logs.
    pub client_id: Option<String>,
}

/// A claim by name, or by a dotted path into nested objects when no top-level claim has that
/// exact name (`realm_access.roles`).
pub fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let mut parts = name.split('.');
    let mut current = claims.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

/// A string claim, or each string of a list claim (other members are ignored).
fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .take(MAX_LIST_ITEMS)
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn text(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claim(claims, name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn usable_name(name: &str) -> Result<(), String> {
    if name.chars().count() > MAX_NAME_LEN {
        return Err(format!("longer than {MAX_NAME_LEN} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("contains control characters".into());
    }
    Ok(())
}

pub fn map(spec: &IssuerSpec, claims: &Map<String, Value>) -> Result<MappedClaims, String> {
    let username = text(claims, &spec.username_claim)
        .or_else(|| text(claims, "sub"))
        .ok_or_else(|| format!("no `{}` or `sub` claim", spec.username_claim))?;
    usable_name(&username).map_err(|e| format!("the username claim is {e}"))?;
    let verified = claim(claims, "email_verified").and_then(Value::as_bool);
    let email = text(claims, &spec.email_claim)
        .filter(|e| usable_name(e).is_ok() && e.contains('@'))
        .filter(|_| verified != Some(false))
        .map(|e| e.to_lowercase());
    let role = spec.role_claim.as_ref().map(|name| {
        let values = strings(claim(claims, name));
        if values.iter().any(|v| spec.admin_values.contains(v)) {
            Role::Admin
        } else {
            Role::User
        }
    });
    let groups = (!spec.group_mapping.is_empty()).then(|| {
        let mut local: Vec<String> = strings(claim(claims, &spec.groups_claim))
            .iter()
            .filter_map(|external| spec.group_mapping.get(external).cloned())
            .collect();
        local.sort_unstable();
        local.dedup();
        local
    });
    let scopes = spec.scopes_claim.as_ref().and_then(|name| {
        let value = claim(claims, name)?;
        let list: Vec<String> = match value {
            Value::String(s) => s.split_ascii_whitespace().map(str::to_string).collect(),
            other => strings(Some(other)),
        };
        Some(list.into_iter().take(MAX_LIST_ITEMS).collect())
    });
    let client_id = text(claims, "client_id").or_else(|| text(claims, "azp"));
    Ok(MappedClaims {
        username,
        email,
        role,
        groups,
        scopes,
        client_id,
    })
}

/// The token's `aud` values (a string or a list of strings).
pub fn audiences(claims: &Map<String, Value>) -> Vec<String> {
    strings(claims.get("aud"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    fn spec() -> IssuerSpec {
        IssuerSpec::for_tests("https://idp.example.com")
    }

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn username_falls_back_to_sub_and_email_needs_verification() {
        let m = map(
            &spec(),
            &claims(json!({"sub": "u-1", "email": "A@X.org", "email_verified": true})),
        )
        .unwrap();
        assert_eq!(m.username, "u-1");
        assert_eq!(m.email.as_deref(), Some("a@x.org"));
        assert_eq!(m.role, None);
        assert_eq!(m.groups, None);
        let m = map(
            &spec(),
            &claims(json!({"preferred_username": "alice", "sub": "u-1",
                "email": "a@x.org", "email_verified": false})),
        )
        .unwrap();
        assert_eq!(m.username, "alice");
        assert_eq!(m.email, None, "an unverified email never matches a user");
        assert!(map(&spec(), &claims(json!({"email": "a@x.org"}))).is_err());
        assert!(map(&spec(), &claims(json!({"sub": "a\u{0}b"}))).is_err());
    }

    #[test]
    fn roles_groups_and_scopes_are_mapped() {
        let mut s = spec();
        s.role_claim = Some("realm_access.roles".into());
        s.admin_values = vec!["gw-admin".into()];
        s.group_mapping = BTreeMap::from([
            ("/devs".to_string(), "developers".to_string()),
            ("ops".to_string(), "operators".to_string()),
            ("ops-eu".to_string(), "operators".to_string()),
        ]);
        let m = map(
            &s,
            &claims(
                json!({"sub": "u", "realm_access": {"roles": ["x", "gw-admin"]},
                "groups": ["ops-eu", "/devs", "unmapped", "ops", 7], "scope": "mcp openid"}),
            ),
        )
        .unwrap();
        assert_eq!(m.role, Some(Role::Admin));
        assert_eq!(
            m.groups,
            Some(vec!["developers".to_string(), "operators".to_string()])
        );
        assert_eq!(
            m.scopes,
            Some(vec!["mcp".to_string(), "openid".to_string()])
        );
        let m = map(
            &s,
            &claims(json!({"sub": "u", "realm_access": {"roles": "x"}})),
        )
        .unwrap();
        assert_eq!(m.role, Some(Role::User));
        assert_eq!(m.groups, Some(vec![]));
        assert_eq!(m.scopes, None);
        s.scopes_claim = Some("scp".into());
        let m = map(&s, &claims(json!({"sub": "u", "scp": ["mcp:tools"]}))).unwrap();
        assert_eq!(m.scopes, Some(vec!["mcp:tools".to_string()]));
    }

    #[test]
    fn audiences_are_a_string_or_a_list() {
        assert_eq!(audiences(&claims(json!({"aud": "a"}))), vec!["a"]);
        assert_eq!(
            audiences(&claims(json!({"aud": ["a", "b"]}))),
            vec!["a", "b"]
        );
        assert!(audiences(&claims(json!({}))).is_empty());
    }
}
