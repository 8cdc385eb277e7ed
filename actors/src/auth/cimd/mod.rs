//! OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, MCP
//! 2025-11-25): a client whose `client_id` is an https URL publishes its metadata at that URL,
//! and the authorization server fetches it instead of requiring a registration.
//!
//! [`ClientResolver::resolve`] is what the authorization endpoint calls with a `client_id`: a
//! registered client comes from the registry; an https URL is fetched (guarded against SSRF, see
//! `fetch`), checked — the document must name itself as `client_id`, list redirect URIs, and be a
//! public client (`token_endpoint_auth_method` `none`; it cannot hold a secret) — stored in the
//! registry with source `cimd`, and cached for `oauth.cimd_cache_s`.

mod addresses;
mod fetch;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use url::Url;

pub use addresses::blocked_range;
pub use fetch::{FetchLimits, fetch_document};

use super::client_metadata::{self, ClientMetadata, MAX_URI_LEN, MetadataError};
use super::clients::{Client, ClientError, ClientRegistry};

/// Documents kept in the cache at most; beyond it the stalest entries go first.
pub const MAX_CACHED_DOCUMENTS: usize = 1000;

#[derive(Debug, Clone, PartialEq)]
pub struct CimdSettings {
    /// `oauth.cimd_enabled`: URL client ids are fetched at all.
    pub enabled: bool,
    /// `oauth.cimd_allow_private`: tests and development only.
    pub allow_private: bool,
    pub timeout: Duration,
    pub max_bytes: usize,
    /// How long a fetched document is trusted before it is fetched again.
    pub cache_ttl: Duration,
    pub max_cache_entries: usize,
}

/// Why a metadata document could not be used; each message names the rule that failed.
#[derive(Debug, thiserror::Error)]
pub enum CimdError {
    #[error("the client_id is not a usable metadata document URL: {0}")]
    InvalidUrl(String),
    #[error("cannot resolve the client_id's host: {0}")]
    Resolve(String),
    #[error(
        "refused to fetch the client metadata document: {host} resolves to {address}, a {range} \
         address (only oauth.cimd_allow_private = true, for tests, permits that)"
    )]
    Blocked {
        host: String,
        address: IpAddr,
        range: &'static str,
    },
    #[error("the client metadata document must be served over https")]
    PlainHttp,
    #[error("cannot connect to the client metadata document's host: {0}")]
    Connect(String),
    #[error("TLS with the client metadata document's host failed: {0}")]
    Tls(String),
    #[error("fetching the client metadata document took longer than {0:?} (oauth.cimd_timeout_ms)")]
    Timeout(Duration),
    #[error(
        "the client metadata document URL answered with a redirect ({0}); redirects are not followed"
    )]
    Redirect(u16),
    #[error("the client metadata document URL answered HTTP {0}, not 200")]
    Status(u16),
    #[error("the client metadata document is served as {0:?}, not as JSON")]
    ContentType(String),
    #[error("the client metadata document is larger than {0} bytes (oauth.cimd_max_bytes)")]
    TooLarge(usize),
    #[error("the client metadata document is not a JSON object: {0}")]
    NotJson(String),
    #[error("the client metadata document's client_id {found:?} is not its own URL {expected:?}")]
    ClientIdMismatch { expected: String, found: String },
    #[error(
        "the client metadata document must not contain {0}: a published document cannot hold a secret"
    )]
    SecretNotAllowed(&'static str),
    #[error(
        "the client metadata document's token_endpoint_auth_method is {0:?}; a document client is \
         public and must use \"none\""
    )]
    AuthMethod(String),
    #[error("the client metadata document is invalid: {0}")]
    Metadata(MetadataError),
}

impl CimdError {
    /// The OAuth error code the authorization endpoint should answer with.
    pub fn error_code(&self) -> &'static str {
        match self {
            CimdError::Metadata(e) => e.error_code(),
            _ => "invalid_client",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(
        "unknown client_id {0:?}: register the client first (or use a client metadata document URL)"
    )]
    UnknownClient(String),
    #[error(
        "the client_id {0:?} is a URL, but client metadata documents are switched off \
         (oauth.cimd_enabled = false)"
    )]
    CimdDisabled(String),
    #[error(transparent)]
    Cimd(#[from] CimdError),
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// Whether `client_id` names a metadata document rather than a registered client.
pub fn is_document_url(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

/// The URL rules of the draft: https, a path, no fragment, no user information, no dot
/// segments. The URL must also be canonical (as the WHATWG parser writes it back), because the
/// document's `client_id` is compared with it as a plain string.
pub fn parse_client_id_url(client_id: &str, allow_private: bool) -> Result<Url, CimdError> {
    let invalid = |reason: &str| Err(CimdError::InvalidUrl(reason.to_string()));
    if client_id.len() > MAX_URI_LEN {
        return invalid("it is too long");
    }
    let Ok(url) = Url::parse(client_id) else {
        return invalid("it is not an absolute URL");
    };
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err(CimdError::PlainHttp),
    }
    if url.fragment().is_some() {
        return invalid("it has a fragment");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return invalid("it contains user information");
    }
    if url.path() == "/" || url.path().is_empty() {
        return invalid("it has no path (the document lives at a path, e.g. /client.json)");
    }
    if url.as_str() != client_id {
        return invalid(
            "it is not in canonical form (dot segments, an upper-case host, a default port or \
             unescaped characters)",
        );
    }
    Ok(url)
}

/// Checks a fetched document against the URL it was fetched from.
pub fn validate_document(client_id: &str, body: &[u8]) -> Result<ClientMetadata, CimdError> {
    let mut document = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(CimdError::NotJson("it is not an object".into())),
        Err(e) => return Err(CimdError::NotJson(e.to_string())),
    };
    match document.get("client_id") {
        Some(Value::String(found)) if found == client_id => {}
        Some(Value::String(found)) => {
            return Err(CimdError::ClientIdMismatch {
                expected: client_id.to_string(),
                found: found.clone(),
            });
        }
        _ => {
            return Err(CimdError::ClientIdMismatch {
                expected: client_id.to_string(),
                found: String::new(),
            });
        }
    }
    for field in ["client_secret", "client_secret_expires_at"] {
        if document.contains_key(field) {
            return Err(CimdError::SecretNotAllowed(field));
        }
    }
    match document.get("token_endpoint_auth_method") {
        // Absent: a document cannot carry a secret, so the only possible method is none.
        None | Some(Value::Null) => {
            document.insert("token_endpoint_auth_method".into(), "none".into());
        }
        Some(Value::String(m)) if m == "none" => {}
        Some(other) => {
            let shown = other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_string);
            return Err(CimdError::AuthMethod(shown));
        }
    }
    let has_uris = document
        .get("redirect_uris")
        .and_then(Value::as_array)
        .is_some_and(|uris| !uris.is_empty());
    if !has_uris {
        return Err(CimdError::Metadata(MetadataError::InvalidRedirectUri(
            "the document must list its redirect_uris".into(),
        )));
    }
    client_metadata::validate(&Value::Object(document), false).map_err(CimdError::Metadata)
}

struct Cached {
    client: Client,
    fetched: Instant,
}

/// Turns a `client_id` into a client: the registry's, or a metadata document's.
pub struct ClientResolver {
    registry: Arc<ClientRegistry>,
    settings: CimdSettings,
    /// Never held across an await.
    cache: Mutex<HashMap<String, Cached>>,
}

impl ClientResolver {
    pub fn new(registry: Arc<ClientRegistry>, settings: CimdSettings) -> Self {
        ClientResolver {
            registry,
            settings,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn registry(&self) -> &Arc<ClientRegistry> {
        &self.registry
    }

    pub fn settings(&self) -> &CimdSettings {
        &self.settings
    }

    pub async fn resolve(&self, client_id: &str) -> Result<Client, ResolveError> {
        if !is_document_url(client_id) {
            return self
                .registry
                .get(client_id)
                .await?
                .ok_or_else(|| ResolveError::UnknownClient(client_id.to_string()));
        }
        if !self.settings.enabled {
            return Err(ResolveError::CimdDisabled(client_id.to_string()));
        }
        if let Some(client) = self.cached(client_id) {
            return Ok(client);
        }
        let url = parse_client_id_url(client_id, self.settings.allow_private)?;
        let limits = FetchLimits {
            timeout: self.settings.timeout,
            max_bytes: self.settings.max_bytes,
            allow_private: self.settings.allow_private,
        };
        let body = fetch_document(&url, limits).await?;
        let metadata = validate_document(client_id, &body)?;
        let client = self
            .registry
            .upsert_document_client(client_id, metadata)
            .await?;
        self.remember(client.clone());
        Ok(client)
    }

    /// Drops a cached document so the next resolve fetches it again.
    pub fn forget(&self, client_id: &str) {
        self.lock().remove(client_id);
    }

    fn cached(&self, client_id: &str) -> Option<Client> {
        let cache = self.lock();
        let entry = cache.get(client_id)?;
        (entry.fetched.elapsed() < self.settings.cache_ttl).then(|| entry.client.clone())
    }

    fn remember(&self, client: Client) {
        if self.settings.cache_ttl.is_zero() || self.settings.max_cache_entries == 0 {
            return;
        }
        let mut cache = self.lock();
        if cache.len() >= self.settings.max_cache_entries {
            let ttl = self.settings.cache_ttl;
            cache.retain(|_, c| c.fetched.elapsed() < ttl);
        }
        while cache.len() >= self.settings.max_cache_entries {
            let Some(stalest) = cache
                .iter()
                .min_by_key(|(_, c)| c.fetched)
                .map(|(id, _)| id.clone())
            else {
                break;
            };
            cache.remove(&stalest);
        }
        cache.insert(
            client.client_id.clone(),
            Cached {
                client,
                fetched: Instant::now(),
            },
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        // A panic while holding the lock cannot leave the map half-updated in a way that
        // matters: every entry is inserted or removed whole.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ID: &str = "https://app.example.com/oauth/client.json";

    #[test]
    fn client_id_url_rules() {
        assert!(parse_client_id_url(ID, false).is_ok());
        assert!(parse_client_id_url("https://app.example.com/c?v=2", false).is_ok());
        for (bad, why) in [
            ("http://app.example.com/c.json", "https"),
            ("https://app.example.com/", "no path"),
            ("https://app.example.com", "no path"),
            ("https://app.example.com/c#x", "fragment"),
            ("https://u:p@app.example.com/c", "user information"),
            ("https://app.example.com/a/../c", "canonical"),
            ("https://app.example.com/./c", "canonical"),
            ("https://App.Example.com/c", "canonical"),
            ("https://app.example.com:443/c", "canonical"),
            ("not a url", "absolute"),
        ] {
            let err = parse_client_id_url(bad, false).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
        // Plain http only when private hosts are allowed (tests); the fetch checks the host.
        assert!(parse_client_id_url("http://127.0.0.1:8080/c.json", true).is_ok());
    }

    fn doc(extra: Value) -> Vec<u8> {
        let mut d = json!({
            "client_id": ID,
            "client_name": "Example",
            "redirect_uris": ["http://127.0.0.1/callback"],
        });
        for (k, v) in extra.as_object().unwrap() {
            d[k] = v.clone();
        }
        d.to_string().into_bytes()
    }

    #[test]
    fn a_valid_document_is_a_public_client() {
        let m = validate_document(ID, &doc(json!({}))).unwrap();
        assert_eq!(m.client_name.as_deref(), Some("Example"));
        assert!(!m.token_endpoint_auth_method.is_confidential());
        let m = validate_document(ID, &doc(json!({"token_endpoint_auth_method": "none"}))).unwrap();
        assert_eq!(m.redirect_uris, ["http://127.0.0.1/callback"]);
    }

    #[test]
    fn document_rules_name_what_failed() {
        let cases = [
            (
                doc(json!({"client_id": "https://evil.example.com/c.json"})),
                "is not its own URL",
            ),
            (doc(json!({"client_id": null})), "is not its own URL"),
            (
                doc(json!({"client_secret": "s"})),
                "must not contain client_secret",
            ),
            (
                doc(json!({"token_endpoint_auth_method": "client_secret_basic"})),
                "must use \"none\"",
            ),
            (doc(json!({"redirect_uris": []})), "redirect_uris"),
            (
                doc(json!({"redirect_uris": ["http://evil.example.com/cb"]})),
                "non-loopback",
            ),
            (b"[1]".to_vec(), "not a JSON object"),
            (b"{".to_vec(), "not a JSON object"),
        ];
        for (body, why) in cases {
            let err = validate_document(ID, &body).unwrap_err().to_string();
            assert!(err.contains(why), "{why}: {err}");
        }
    }
}
