//! One trusted external issuer as the operator configured it (`[[auth.external_issuers]]`),
//! and the checks its fields must pass. The config module reads the file into [`IssuerSpec`]
//! with these checks, so `check-config`, start and SIGHUP refuse the same mistakes.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use jsonwebtoken::Algorithm;

/// A configured external OpenID Connect / OAuth issuer whose access tokens the gateway accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerSpec {
    /// The exact `iss` of its tokens (compared byte for byte, trailing slash included).
    pub issuer: String,
    /// Where its keys are; `None`: discovered from `<issuer>/.well-known/openid-configuration`,
    /// then RFC 8414 `/.well-known/oauth-authorization-server`.
    pub jwks_uri: Option<String>,
    /// Accepted `aud` values; `None`: this gateway's resources (`<p>/mcp`, `<p>/mcp/<server>`),
    /// each token then bound to the path exactly like the gateway's own OAuth tokens.
    pub audiences: Option<Vec<String>>,
    /// Signature algorithms accepted (asymmetric only: never HS*, never `none`).
    pub algorithms: Vec<Algorithm>,
    /// Claim naming the local user; `sub` when the token lacks it.
    pub username_claim: String,
    /// Claim with the user's email, used to match a local user when the username does not.
    pub email_claim: String,
    /// Claim listing the user's groups at the issuer (dotted paths reach nested claims).
    pub groups_claim: String,
    /// Claim whose values decide the role; `None`: the local user's role is kept.
    pub role_claim: Option<String>,
    /// Values of `role_claim` that make the user an admin.
    pub admin_values: Vec<String>,
    /// Create a local user on first sight instead of refusing the token.
    pub auto_provision: bool,
    /// External group → local group. The local groups named here are managed by the issuer:
    /// a user's membership in them follows the token's groups.
    pub group_mapping: BTreeMap<String, String>,
    /// Claim with the token's scopes (`scope`: space-separated, `scp`: list or string);
    /// `None`: the token is not scope-restricted.
    pub scopes_claim: Option<String>,
    /// How often the keys are fetched again.
    pub jwks_refresh: Duration,
    /// The least time between two fetches: an unknown `kid` asks for a refetch, and a flood of
    /// bogus kids must not make the gateway hammer the issuer.
    pub jwks_cooldown: Duration,
}

/// The algorithms an external issuer may sign with, by their JOSE names.
pub const ASYMMETRIC_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

pub const DEFAULT_ALGORITHMS: &[&str] = &["RS256", "ES256"];

/// A JOSE algorithm name an external issuer may use.
pub fn parse_algorithm(text: &str) -> Result<Algorithm, String> {
    let trimmed = text.trim();
    if trimmed.eq_ignore_ascii_case("none") || trimmed.to_ascii_uppercase().starts_with("HS") {
        return Err(format!(
            "{trimmed:?} is never accepted from an external issuer (a shared secret or no signature \
             at all); use one of {}",
            ASYMMETRIC_ALGORITHMS.join(", ")
        ));
    }
    ASYMMETRIC_ALGORITHMS
        .iter()
        .find(|name| name.eq_ignore_ascii_case(trimmed))
        .and_then(|name| Algorithm::from_str(name).ok())
        .ok_or_else(|| {
            format!(
                "unknown algorithm {trimmed:?}; use one of {}",
                ASYMMETRIC_ALGORITHMS.join(", ")
            )
        })
}

/// An issuer or key URL: `https://…`, or `http://` to a loopback host (tests, a local IdP).
/// No credentials, query or fragment.
pub fn check_issuer_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text).map_err(|e| format!("not a URL ({e})"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err("needs a host".into()),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(
                "must use https (plain http is allowed only to a loopback host): keys fetched \
                 over plain http could be replaced on the way"
                    .into(),
            );
        }
        other => return Err(format!("must be an https URL, not {other}:")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    Ok(text.to_string())
}

/// A claim name: a JSON member name, or a dotted path into nested objects
/// (`realm_access.roles`).
pub fn check_claim_name(text: &str) -> Result<String, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.split('.').any(str::is_empty) || trimmed.len() > 200 {
        return Err("must be a claim name such as \"groups\" or \"realm_access.roles\"".into());
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
impl IssuerSpec {
    /// An RS256 issuer with the usual claim names and nothing else configured, for unit tests.
    pub(crate) fn for_tests(issuer: &str) -> IssuerSpec {
        IssuerSpec {
            issuer: issuer.into(),
            jwks_uri: None,
            audiences: None,
            algorithms: vec![jsonwebtoken::Algorithm::RS256],
            username_claim: "preferred_username".into(),
            email_claim: "email".into(),
            groups_claim: "groups".into(),
            role_claim: None,
            admin_values: vec![],
            auto_provision: false,
            group_mapping: BTreeMap::new(),
            scopes_claim: Some("scope".into()),
            jwks_refresh: std::time::Duration::from_secs(300),
            jwks_cooldown: std::time::Duration::from_secs(10),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_and_none_are_never_accepted() {
        assert!(parse_algorithm("HS256").unwrap_err().contains("never"));
        assert!(parse_algorithm("hs512").unwrap_err().contains("never"));
        assert!(parse_algorithm("none").unwrap_err().contains("never"));
        assert_eq!(parse_algorithm("es256").unwrap(), Algorithm::ES256);
        assert_eq!(parse_algorithm("EdDSA").unwrap(), Algorithm::EdDSA);
        assert!(parse_algorithm("XY1").unwrap_err().contains("unknown"));
    }

    #[test]
    fn issuer_urls_need_https_unless_loopback() {
        assert!(check_issuer_url("https://idp.example.com/realms/x").is_ok());
        assert!(check_issuer_url("http://127.0.0.1:8080").is_ok());
        assert!(check_issuer_url("http://localhost/x").is_ok());
        assert!(check_issuer_url("http://idp.example.com").is_err());
        assert!(check_issuer_url("https://u:p@idp.example.com").is_err());
        assert!(check_issuer_url("https://idp.example.com/?a=b").is_err());
        assert!(check_issuer_url("ftp://idp.example.com").is_err());
        assert!(check_issuer_url("idp").is_err());
    }

    #[test]
    fn claim_names() {
        assert_eq!(check_claim_name(" groups ").unwrap(), "groups");
        assert!(check_claim_name("realm_access.roles").is_ok());
        assert!(check_claim_name("").is_err());
        assert!(check_claim_name("a..b").is_err());
    }
}
