//! Finding a backend's token endpoint from metadata, never from its URL's shape: the
//! backend's RFC 9728 Protected Resource Metadata names its authorization server; that
//! server's RFC 8414 metadata (or OpenID discovery) names the token endpoint.

use serde::Deserialize;

/// Metadata documents are small; anything bigger is refused.
const MAX_METADATA: usize = 64 * 1024;

#[derive(Deserialize)]
struct ResourceMetadata {
    #[serde(default)]
    authorization_servers: Vec<String>,
}

#[derive(Deserialize)]
struct ServerMetadata {
    issuer: Option<String>,
    token_endpoint: Option<String>,
}

/// `<origin>/.well-known/<name><path>`, the RFC 8414 / RFC 9728 insertion rule.
fn well_known(base: &url::Url, name: &str) -> Option<url::Url> {
    let path = base.path().trim_end_matches('/');
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.set_path(&format!("/.well-known/{name}{path}"));
    Some(url)
}

async fn get_json<T: for<'de> Deserialize<'de>>(
    client: &awc::Client,
    url: &url::Url,
) -> Result<T, String> {
    let mut response = client
        .get(url.as_str())
        .insert_header(("Accept", "application/json"))
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("GET {url}: HTTP {}", response.status().as_u16()));
    }
    response
        .json::<T>()
        .limit(MAX_METADATA)
        .await
        .map_err(|e| format!("GET {url}: not the expected JSON ({e})"))
}

/// The token endpoint for the backend at `resource_url`.
pub(crate) async fn token_endpoint(
    client: &awc::Client,
    resource_url: &url::Url,
) -> Result<url::Url, String> {
    let prm_url = well_known(resource_url, "oauth-protected-resource")
        .ok_or("the backend URL cannot carry metadata")?;
    let prm: ResourceMetadata = get_json(client, &prm_url)
        .await
        .map_err(|e| format!("discovering the token endpoint (set token_url to skip this): {e}"))?;
    let issuer_text = prm
        .authorization_servers
        .first()
        .ok_or_else(|| format!("{prm_url} names no authorization_servers"))?;
    let issuer = url::Url::parse(issuer_text)
        .map_err(|_| format!("{prm_url} names an authorization server that is not a URL"))?;
    let mut last_error = String::new();
    for name in ["oauth-authorization-server", "openid-configuration"] {
        let Some(url) = well_known(&issuer, name) else {
            continue;
        };
        match get_json::<ServerMetadata>(client, &url).await {
            Ok(metadata) => {
                // RFC 8414 §3.3: the document must be the issuer's own.
                if metadata.issuer.as_deref().map(|i| i.trim_end_matches('/'))
                    != Some(issuer_text.trim_end_matches('/'))
                {
                    last_error = format!("{url} is for another issuer");
                    continue;
                }
                let endpoint = metadata
                    .token_endpoint
                    .ok_or_else(|| format!("{url} has no token_endpoint"))?;
                let endpoint = url::Url::parse(&endpoint)
                    .map_err(|_| format!("{url}: token_endpoint is not a URL"))?;
                if !matches!(endpoint.scheme(), "http" | "https") {
                    return Err(format!("{url}: token_endpoint is not http(s)"));
                }
                return Ok(endpoint);
            }
            Err(error) => last_error = error,
        }
    }
    Err(format!(
        "discovering the token endpoint (set token_url to skip this): {last_error}"
    ))
}

#[cfg(test)]
mod tests {
    use super::well_known;

    #[test]
    fn well_known_urls_insert_the_name_before_the_path() {
        let url = |s: &str| url::Url::parse(s).unwrap();
        assert_eq!(
            well_known(
                &url("https://b.example/api/mcp?x=1"),
                "oauth-protected-resource"
            )
            .unwrap()
            .as_str(),
            "https://b.example/.well-known/oauth-protected-resource/api/mcp"
        );
        assert_eq!(
            well_known(&url("https://as.example"), "oauth-authorization-server")
                .unwrap()
                .as_str(),
            "https://as.example/.well-known/oauth-authorization-server"
        );
    }
}
