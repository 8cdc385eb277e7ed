//! `[[auth.external_issuers]]` tables → [`IssuerSpec`]s, every problem of every table reported.
//!
//! The field checks are the auth core's own (`actors::auth::external`), so what passes here is
//! exactly what the gateway can use. Each issuer is reloadable on SIGHUP.

use std::collections::BTreeMap;
use std::time::Duration;

use actors::auth::external::{
    DEFAULT_ALGORITHMS, IssuerSpec, check_claim_name, check_issuer_url, parse_algorithm,
};
use actors::auth::policy::check_group_name;
use config::ValueKind;

use super::reader::{TableReader, describe};

/// The keys an `[[auth.external_issuers]]` table may hold, with their defaults where the file
/// documents them.
#[cfg(test)]
pub(crate) const EXTERNAL_ISSUER_KEYS: &[&str] = &[
    "issuer",
    "jwks_uri",
    "audiences",
    "algorithms",
    "username_claim",
    "email_claim",
    "groups_claim",
    "role_claim",
    "admin_values",
    "auto_provision",
    "group_mapping",
    "scopes_claim",
    "jwks_refresh_s",
    "jwks_cooldown_s",
];

pub(crate) const DEFAULT_JWKS_REFRESH_S: u64 = 300;
pub(crate) const DEFAULT_JWKS_COOLDOWN_S: u64 = 10;

/// Reads `external_issuers` from the `[auth]` table; `None` when any table is invalid.
pub(crate) fn read_external_issuers(
    auth: &mut TableReader<'_>,
    public_base: Option<&str>,
) -> Option<Vec<IssuerSpec>> {
    let items = match auth.take("external_issuers") {
        None => return Some(Vec::new()),
        Some(value) => match value.kind {
            ValueKind::Array(items) => items,
            ref other => {
                let message = format!(
                    "expected a list of [[auth.external_issuers]] tables, found {}",
                    describe(other)
                );
                auth.error("external_issuers", Some(&value), message);
                return None;
            }
        },
    };
    let fallback = auth.fallback_source().to_string();
    let mut specs: Vec<IssuerSpec> = Vec::with_capacity(items.len());
    let mut all_ok = true;
    for (index, item) in items.into_iter().enumerate() {
        let prefix = auth.path(&format!("external_issuers[{index}]"));
        let source = item
            .origin()
            .map_or_else(|| fallback.clone(), str::to_string);
        let ValueKind::Table(table) = item.kind else {
            let message = format!("expected a table, found {}", describe(&item.kind));
            auth.report()
                .push(super::ConfigError::new(source, prefix, message));
            all_ok = false;
            continue;
        };
        let mut r = TableReader::new(prefix, source, table, auth.report());
        match read_issuer(&mut r, public_base) {
            Some(spec) if specs.iter().any(|s| s.issuer == spec.issuer) => {
                r.error("issuer", None, "the same issuer is configured twice");
                all_ok = false;
            }
            Some(spec) => specs.push(spec),
            None => all_ok = false,
        }
        r.finish();
    }
    all_ok.then_some(specs)
}

fn read_issuer(r: &mut TableReader<'_>, public_base: Option<&str>) -> Option<IssuerSpec> {
    let issuer = if r.has("issuer") {
        r.take_string_with("issuer", |text| {
            let checked = check_issuer_url(text)?;
            if public_base.is_some_and(|own| own == text.trim_end_matches('/')) {
                return Err(
                    "is this gateway's own issuer (server.public_url), which is always \
                            trusted; list other issuers only"
                        .into(),
                );
            }
            Ok(checked)
        })
    } else {
        r.error(
            "issuer",
            None,
            "missing required key (the exact `iss` of the tokens)",
        );
        None
    };
    let jwks_uri = optional(r, "jwks_uri", check_issuer_url);
    let audiences = if r.has("audiences") {
        r.take_string_list("audiences").and_then(|list| {
            if list.is_empty() || list.iter().any(|a| a.trim().is_empty()) {
                r.error(
                    "audiences",
                    None,
                    "must list at least one non-empty audience; remove the key for the default \
                     (this gateway's resources)",
                );
                None
            } else {
                Some(Some(list))
            }
        })
    } else {
        Some(None)
    };
    let algorithms = if r.has("algorithms") {
        r.take_string_list("algorithms").and_then(|list| {
            let mut parsed = Vec::new();
            let mut ok = !list.is_empty();
            if list.is_empty() {
                r.error("algorithms", None, "must name at least one algorithm");
            }
            for (i, name) in list.iter().enumerate() {
                match parse_algorithm(name) {
                    Ok(a) => parsed.push(a),
                    Err(message) => {
                        ok = false;
                        r.error(&format!("algorithms[{i}]"), None, message);
                    }
                }
            }
            ok.then_some(parsed)
        })
    } else {
        Some(
            DEFAULT_ALGORITHMS
                .iter()
                .filter_map(|a| parse_algorithm(a).ok())
                .collect(),
        )
    };
    let username_claim = claim_or(r, "username_claim", "preferred_username");
    let email_claim = claim_or(r, "email_claim", "email");
    let groups_claim = claim_or(r, "groups_claim", "groups");
    let role_claim = optional(r, "role_claim", check_claim_name);
    let admin_values = if r.has("admin_values") {
        r.take_string_list("admin_values")
    } else {
        Some(Vec::new())
    };
    let auto_provision = if r.has("auto_provision") {
        r.take_bool("auto_provision")
    } else {
        Some(false)
    };
    let group_mapping = read_group_mapping(r);
    // "" turns scopes off: the issuer's tokens are then not scope-restricted.
    let scopes_claim = if r.has("scopes_claim") {
        r.take_string_with("scopes_claim", |text| {
            if text.trim().is_empty() {
                Ok(None)
            } else {
                check_claim_name(text).map(Some)
            }
        })
    } else {
        Some(Some("scope".to_string()))
    };
    let refresh = seconds(r, "jwks_refresh_s", DEFAULT_JWKS_REFRESH_S, 10, 86_400);
    let cooldown = seconds(r, "jwks_cooldown_s", DEFAULT_JWKS_COOLDOWN_S, 1, 3_600);
    if let (Some(None), Some(values)) = (&role_claim, &admin_values)
        && !values.is_empty()
    {
        r.error(
            "admin_values",
            None,
            "needs role_claim: the claim whose values are compared with these",
        );
        return None;
    }
    Some(IssuerSpec {
        issuer: issuer?,
        jwks_uri: jwks_uri?,
        audiences: audiences?,
        algorithms: algorithms?,
        username_claim: username_claim?,
        email_claim: email_claim?,
        groups_claim: groups_claim?,
        role_claim: role_claim?,
        admin_values: admin_values?,
        auto_provision: auto_provision?,
        group_mapping: group_mapping?,
        scopes_claim: scopes_claim?,
        jwks_refresh: refresh?,
        jwks_cooldown: cooldown?,
    })
}

fn optional(
    r: &mut TableReader<'_>,
    key: &'static str,
    check: fn(&str) -> Result<String, String>,
) -> Option<Option<String>> {
    if r.has(key) {
        r.take_string_with(key, check).map(Some)
    } else {
        Some(None)
    }
}

fn claim_or(r: &mut TableReader<'_>, key: &'static str, default: &str) -> Option<String> {
    if r.has(key) {
        r.take_string_with(key, check_claim_name)
    } else {
        Some(default.to_string())
    }
}

fn seconds(
    r: &mut TableReader<'_>,
    key: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Option<Duration> {
    if r.has(key) {
        r.take_uint(key, min, max).map(Duration::from_secs)
    } else {
        Some(Duration::from_secs(default))
    }
}

/// External group names as the issuer spells them → local group names (checked like the admin
/// API checks them).
fn read_group_mapping(r: &mut TableReader<'_>) -> Option<BTreeMap<String, String>> {
    if !r.has("group_mapping") {
        return Some(BTreeMap::new());
    }
    let map = r.take_string_map("group_mapping")?;
    let mut ok = true;
    for (external, local) in &map {
        if let Err(message) = check_group_name(local) {
            ok = false;
            r.error(&format!("group_mapping.{external}"), None, message);
        }
    }
    ok.then_some(map)
}
