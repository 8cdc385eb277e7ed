//! OAuth discovery: the protected-resource metadata (RFC 9728) and the authorization server's
//! metadata (RFC 8414 / OpenID discovery) must exist and agree, or clients cannot log in.

use serde_json::Value;

use super::auth::Access;
use super::probe::Probe;
use super::{Finding, Report, Severity, is_loopback};

pub async fn check(probe: &Probe, access: &Access, report: &mut Report) {
    if !access.requires_auth() {
        report.skipped("metadata", "the server needs no token");
        return;
    }
    report.ran("metadata.protected_resource");
    let candidates = prm_urls(&probe.url, access.anonymous.www_authenticate.as_deref());
    let mut prm = None;
    for url in &candidates {
        if let Ok(Some(document)) = probe.get_json(url).await {
            prm = Some((url.clone(), document));
            break;
        }
    }
    let Some((prm_url, prm)) = prm else {
        report.add(Finding::new(
            "metadata.prm_missing",
            Severity::Medium,
            "No protected-resource metadata",
            format!(
                "None of these answered with a JSON document: {}.",
                candidates.join(", ")
            ),
            "Publish RFC 9728 metadata at /.well-known/oauth-protected-resource<path> naming \
             the resource and its authorization servers, and point WWW-Authenticate at it.",
        ));
        return;
    };
    let resource = prm.get("resource").and_then(Value::as_str).unwrap_or("");
    if !resource_matches(resource, &prm_url, &probe.url) {
        report.add(Finding::new(
            "metadata.resource_mismatch",
            Severity::Medium,
            "The protected-resource metadata names another resource",
            format!(
                "{prm_url} says resource `{resource}`, the endpoint is {}.",
                probe.url
            ),
            "Set `resource` to the endpoint's exact URL: clients request tokens for it.",
        ));
    }
    let issuer = prm
        .get("authorization_servers")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .map(str::to_string);
    let Some(issuer) = issuer else {
        report.add(Finding::new(
            "metadata.no_authorization_server",
            Severity::Medium,
            "The protected-resource metadata lists no authorization server",
            format!("{prm_url} has no `authorization_servers`."),
            "List the issuer URL of the authorization server that issues tokens for it.",
        ));
        return;
    };
    authorization_server(probe, &issuer, report).await;
}

async fn authorization_server(probe: &Probe, issuer: &str, report: &mut Report) {
    report.ran("metadata.authorization_server");
    let candidates = as_urls(issuer);
    if candidates.is_empty() {
        report.add(Finding::new(
            "metadata.as_missing",
            Severity::Medium,
            "The authorization server is not a URL",
            format!(
                "The protected-resource metadata names `{issuer}` as its authorization server."
            ),
            "List the issuer URL of the authorization server that issues tokens for it.",
        ));
        return;
    }
    let mut found = None;
    for url in &candidates {
        if let Ok(Some(document)) = probe.get_json(url).await {
            found = Some((url.clone(), document));
            break;
        }
    }
    let Some((as_url, metadata)) = found else {
        report.add(Finding::new(
            "metadata.as_missing",
            Severity::Medium,
            "The authorization server publishes no metadata",
            format!("None of these answered: {}.", candidates.join(", ")),
            "Publish RFC 8414 (or OpenID discovery) metadata for the issuer.",
        ));
        return;
    };
    let published = metadata.get("issuer").and_then(Value::as_str).unwrap_or("");
    if published.trim_end_matches('/') != issuer.trim_end_matches('/') {
        report.add(Finding::new(
            "metadata.issuer_mismatch",
            Severity::Medium,
            "The authorization server's metadata names another issuer",
            format!("{as_url} says issuer `{published}`, the resource names `{issuer}`."),
            "The metadata's `issuer` must equal the URL it was discovered from (RFC 8414 §3.3).",
        ));
    }
    let s256 = metadata
        .get("code_challenge_methods_supported")
        .and_then(Value::as_array)
        .is_some_and(|m| m.iter().any(|v| v == "S256"));
    if !s256 {
        report.add(Finding::new(
            "metadata.no_pkce",
            Severity::Medium,
            "The authorization server does not advertise PKCE S256",
            format!(
                "{as_url} lacks `code_challenge_methods_supported: [\"S256\"]`; MCP clients \
                     must refuse to log in there."
            ),
            "Support PKCE with S256 and advertise it.",
        ));
    }
    for key in [
        "authorization_endpoint",
        "token_endpoint",
        "registration_endpoint",
    ] {
        let Some(endpoint) = metadata.get(key).and_then(Value::as_str) else {
            continue;
        };
        let plain =
            url::Url::parse(endpoint).is_ok_and(|u| u.scheme() == "http" && !is_loopback(&u));
        if plain {
            report.add(Finding::new(
                "metadata.plain_http_endpoint",
                Severity::High,
                format!("The {key} is plain HTTP"),
                format!("{endpoint}: passwords, codes and tokens cross the network unencrypted."),
                "Serve every authorization-server endpoint over HTTPS.",
            ));
        }
    }
    let registration = metadata.get("registration_endpoint").is_some()
        || metadata
            .get("client_id_metadata_document_supported")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    if !registration {
        report.add(Finding::new(
            "metadata.no_client_registration",
            Severity::Info,
            "No way for clients to register themselves",
            "Neither dynamic client registration nor client ID metadata documents are offered, \
             so every MCP client needs a pre-registered client id.",
            "Offer RFC 7591 registration or client ID metadata documents if clients you do not \
             know in advance should connect.",
        ));
    }
}

/// Where the protected-resource metadata may be: the 401's `resource_metadata`, then the
/// path-suffixed and root well-known URLs.
fn prm_urls(endpoint: &url::Url, www_authenticate: Option<&str>) -> Vec<String> {
    let mut urls = Vec::new();
    if let Some(url) = www_authenticate.and_then(|h| parameter(h, "resource_metadata")) {
        urls.push(url);
    }
    let origin = endpoint.origin().ascii_serialization();
    let path = endpoint.path().trim_end_matches('/');
    if !path.is_empty() {
        urls.push(format!(
            "{origin}/.well-known/oauth-protected-resource{path}"
        ));
    }
    urls.push(format!("{origin}/.well-known/oauth-protected-resource"));
    urls.dedup();
    urls
}

/// RFC 8414 path insertion, then OpenID discovery (inserted and appended).
fn as_urls(issuer: &str) -> Vec<String> {
    let Ok(url) = url::Url::parse(issuer) else {
        return Vec::new();
    };
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    let mut urls = vec![
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!("{origin}/.well-known/openid-configuration{path}"),
    ];
    if !path.is_empty() {
        urls.push(format!("{origin}{path}/.well-known/openid-configuration"));
    }
    urls
}

/// A quoted `name="value"` parameter of an auth header.
pub(super) fn parameter(header: &str, name: &str) -> Option<String> {
    let start = header.find(&format!("{name}=\""))? + name.len() + 2;
    let rest = &header[start..];
    Some(rest[..rest.find('"')?].to_string())
}

/// RFC 9728 §3.3: `resource` is the identifier the metadata URL was built from — the endpoint
/// for the path-suffixed URL (and the one a 401 names), the origin for the root one, where the
/// endpoint itself is accepted too (clients fall back to the root and request tokens for either).
pub(super) fn resource_matches(resource: &str, prm_url: &str, endpoint: &url::Url) -> bool {
    if same_resource(resource, endpoint.as_str()) {
        return true;
    }
    let origin = endpoint.origin().ascii_serialization();
    prm_url == format!("{origin}/.well-known/oauth-protected-resource")
        && same_resource(resource, &origin)
}

fn same_resource(a: &str, b: &str) -> bool {
    !a.is_empty() && a.trim_end_matches('/') == b.trim_end_matches('/')
}
