//! Client metadata (RFC 7591 §2) as a client sends it — validated into [`ClientMetadata`] — and
//! the redirect-URI rules the authorization endpoint relies on.
//!
//! The rules, each refused with the RFC 7591 error code a client understands:
//! - redirect URIs (`invalid_redirect_uri`): absolute, no fragment, no user information, no
//!   wildcards, no whitespace; `https`, `http` only on a loopback host (RFC 8252 §7.3), or a
//!   private-use scheme in reverse-domain form such as `com.example.app:/cb` (RFC 8252 §7.1);
//! - the rest (`invalid_client_metadata`): grant types within `authorization_code`,
//!   `refresh_token`, `client_credentials`; response type `code` exactly when the
//!   authorization-code grant is used; `client_credentials` only for a confidential client; a
//!   token endpoint auth method of `none` (public), `client_secret_basic` or
//!   `client_secret_post`; size limits on every list and string.
//!
//! Matching a redirect URI at authorization time is an exact string comparison, except that a
//! registered loopback URI matches the same URI on any port, because native apps listen on
//! whatever port the OS gives them (RFC 8252 §7.3).

use serde_json::{Map, Value};
use url::Url;

use super::scopes::ScopeSet;

/// Most redirect URIs one client may register.
pub const MAX_REDIRECT_URIS: usize = 10;
/// Longest URI accepted (redirect URIs, logo and policy links, CIMD client ids).
pub const MAX_URI_LEN: usize = 2000;
/// Longest client name and other short strings.
pub const MAX_NAME_LEN: usize = 200;
/// Largest metadata document accepted, serialised.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
const MAX_CONTACTS: usize = 10;

/// Fields the authorization server sets; a client's values for them are never stored.
pub const SERVER_MANAGED_FIELDS: [&str; 6] = [
    "client_id",
    "client_secret",
    "client_id_issued_at",
    "client_secret_expires_at",
    "registration_access_token",
    "registration_client_uri",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    pub const ALL: [GrantType; 3] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
        }
    }

    pub fn parse(text: &str) -> Option<GrantType> {
        GrantType::ALL.into_iter().find(|g| g.as_str() == text)
    }
}

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// A public client: no secret (PKCE protects its codes).
    None,
    ClientSecretBasic,
    ClientSecretPost,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 3] = [
        AuthMethod::None,
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
        }
    }

    pub fn parse(text: &str) -> Option<AuthMethod> {
        AuthMethod::ALL.into_iter().find(|m| m.as_str() == text)
    }

    /// Confidential clients hold a secret; public ones don't.
    pub fn is_confidential(self) -> bool {
        self != AuthMethod::None
    }
}

/// Where a client registration came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientSource {
    /// RFC 7591 dynamic registration.
    Dcr,
    /// A Client ID Metadata Document fetched from the client's URL.
    Cimd,
    /// Created by an operator (console or CLI, later).
    Admin,
}

impl ClientSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientSource::Dcr => "dcr",
            ClientSource::Cimd => "cimd",
            ClientSource::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<ClientSource> {
        [ClientSource::Dcr, ClientSource::Cimd, ClientSource::Admin]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// Why metadata was refused; the variant is the RFC 7591 §3.2.2 error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("{0}")]
    InvalidRedirectUri(String),
    #[error("{0}")]
    InvalidClientMetadata(String),
}

impl MetadataError {
    pub fn error_code(&self) -> &'static str {
        match self {
            MetadataError::InvalidRedirectUri(_) => "invalid_redirect_uri",
            MetadataError::InvalidClientMetadata(_) => "invalid_client_metadata",
        }
    }
}

fn bad(message: impl Into<String>) -> MetadataError {
    MetadataError::InvalidClientMetadata(message.into())
}

/// Validated client metadata: what the registry stores.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientMetadata {
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    /// `["code"]` for authorization-code clients, empty otherwise.
    pub response_types: Vec<String>,
    pub token_endpoint_auth_method: AuthMethod,
    /// The registered scope in canonical form; `None` when the client asked for none (or only
    /// for scopes this server does not know, which RFC 7591 lets it drop).
    pub scope: Option<String>,
    /// The document as sent, minus the server-managed fields.
    pub document: Map<String, Value>,
}

impl ClientMetadata {
    pub fn has_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
}

/// Validates a registration document. `client_credentials` is accepted only when
/// `allow_client_credentials` (the caller decides who may register machine clients).
pub fn validate(
    document: &Value,
    allow_client_credentials: bool,
) -> Result<ClientMetadata, MetadataError> {
    let Value::Object(object) = document else {
        return Err(bad("the client metadata must be a JSON object"));
    };
    if document.to_string().len() > MAX_METADATA_BYTES {
        return Err(bad(format!(
            "the client metadata is larger than {MAX_METADATA_BYTES} bytes"
        )));
    }
    let mut stored = object.clone();
    for field in SERVER_MANAGED_FIELDS {
        stored.remove(field);
    }

    let auth_method = match object.get("token_endpoint_auth_method") {
        // RFC 7591 §2: the default is client_secret_basic.
        None | Some(Value::Null) => AuthMethod::ClientSecretBasic,
        Some(Value::String(text)) => AuthMethod::parse(text).ok_or_else(|| {
            bad(format!(
                "token_endpoint_auth_method {text:?} is not supported; use none, \
                 client_secret_basic or client_secret_post"
            ))
        })?,
        Some(_) => return Err(bad("token_endpoint_auth_method must be a string")),
    };

    let grant_types = match string_list(object, "grant_types", GrantType::ALL.len() * 2)? {
        None => vec![GrantType::AuthorizationCode],
        Some(names) => {
            let mut grants = Vec::new();
            for name in names {
                let grant = GrantType::parse(&name).ok_or_else(|| {
                    bad(format!(
                        "grant type {name:?} is not supported; use authorization_code, \
                         refresh_token or client_credentials"
                    ))
                })?;
                if !grants.contains(&grant) {
                    grants.push(grant);
                }
            }
            if grants.is_empty() {
                return Err(bad("grant_types must name at least one grant type"));
            }
            grants
        }
    };
    let code_flow = grant_types.contains(&GrantType::AuthorizationCode);
    if grant_types.contains(&GrantType::ClientCredentials) {
        if !auth_method.is_confidential() {
            return Err(bad(
                "the client_credentials grant needs a confidential client: set \
                 token_endpoint_auth_method to client_secret_basic or client_secret_post",
            ));
        }
        if !allow_client_credentials {
            return Err(bad(
                "registering a client_credentials client needs the initial access token \
                 (oauth.dcr_initial_access_token)",
            ));
        }
    }

    let response_types = match string_list(object, "response_types", 4)? {
        None if code_flow => vec!["code".to_string()],
        None => Vec::new(),
        Some(types) => {
            if let Some(other) = types.iter().find(|t| t.as_str() != "code") {
                return Err(bad(format!(
                    "response type {other:?} is not supported; only \"code\" is"
                )));
            }
            match (types.is_empty(), code_flow) {
                (false, false) => {
                    return Err(bad(
                        "response type \"code\" needs the authorization_code grant",
                    ));
                }
                (true, true) => {
                    return Err(bad(
                        "the authorization_code grant needs response type \"code\"",
                    ));
                }
                _ => {}
            }
            if types.is_empty() {
                Vec::new()
            } else {
                vec!["code".to_string()]
            }
        }
    };

    let redirect_uris =
        string_list(object, "redirect_uris", MAX_REDIRECT_URIS)?.unwrap_or_default();
    if code_flow && redirect_uris.is_empty() {
        return Err(MetadataError::InvalidRedirectUri(
            "redirect_uris must list at least one URI for the authorization_code grant".into(),
        ));
    }
    for uri in &redirect_uris {
        check_redirect_uri(uri).map_err(|reason| {
            MetadataError::InvalidRedirectUri(format!("redirect URI {uri:?} {reason}"))
        })?;
    }

    let client_name = short_string(object, "client_name")?;
    let scope = match object.get("scope") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => {
            let set = ScopeSet::parse_known(text).map_err(|e| bad(e.to_string()))?;
            (!set.is_empty()).then(|| set.to_string())
        }
        Some(_) => return Err(bad("scope must be a space-separated string")),
    };
    for field in [
        "client_uri",
        "logo_uri",
        "tos_uri",
        "policy_uri",
        "jwks_uri",
    ] {
        web_link(object, field)?;
    }
    for field in ["software_id", "software_version"] {
        short_string(object, field)?;
    }
    string_list(object, "contacts", MAX_CONTACTS)?;
    match object.get("application_type") {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if t == "web" || t == "native" => {}
        Some(_) => return Err(bad("application_type must be \"web\" or \"native\"")),
    }

    Ok(ClientMetadata {
        client_name,
        redirect_uris,
        grant_types,
        response_types,
        token_endpoint_auth_method: auth_method,
        scope,
        document: stored,
    })
}

/// A list of strings, each at most [`MAX_URI_LEN`] long; `None` when absent or null.
fn string_list(
    object: &Map<String, Value>,
    field: &str,
    max_items: usize,
) -> Result<Option<Vec<String>>, MetadataError> {
    let items = match object.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(bad(format!("{field} must be a list of strings"))),
    };
    if items.len() > max_items {
        return Err(bad(format!(
            "{field} has {} entries; at most {max_items} are accepted",
            items.len()
        )));
    }
    items
        .iter()
        .map(|item| match item {
            Value::String(s) if s.len() <= MAX_URI_LEN => Ok(s.clone()),
            Value::String(_) => Err(bad(format!(
                "an entry of {field} is longer than {MAX_URI_LEN} characters"
            ))),
            _ => Err(bad(format!("{field} must be a list of strings"))),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn short_string(object: &Map<String, Value>, field: &str) -> Result<Option<String>, MetadataError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() > MAX_NAME_LEN => Err(bad(format!(
            "{field} is longer than {MAX_NAME_LEN} characters"
        ))),
        Some(Value::String(s)) if s.chars().any(char::is_control) => {
            Err(bad(format!("{field} contains control characters")))
        }
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad(format!("{field} must be a string"))),
    }
}

/// Links shown to users (logo, policy, terms) must be plain web URLs: never `javascript:`.
fn web_link(object: &Map<String, Value>, field: &str) -> Result<(), MetadataError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) => {
            let ok = s.len() <= MAX_URI_LEN
                && Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "https" | "http"));
            if ok {
                Ok(())
            } else {
                Err(bad(format!("{field} must be an http or https URL")))
            }
        }
        Some(_) => Err(bad(format!("{field} must be a string"))),
    }
}

/// The reason a redirect URI is refused, phrased to follow the URI in a message.
pub fn check_redirect_uri(uri: &str) -> Result<(), String> {
    if uri.len() > MAX_URI_LEN {
        return Err(format!("is longer than {MAX_URI_LEN} characters"));
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains whitespace or control characters".into());
    }
    if uri.contains('*') {
        return Err("contains a wildcard; register each URI exactly".into());
    }
    if uri.contains('#') {
        return Err("must not contain a fragment".into());
    }
    let url = Url::parse(uri).map_err(|_| "is not an absolute URI".to_string())?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain user information".into());
    }
    match url.scheme() {
        "https" if url.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        "https" => Err("has no host".into()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err(
            "uses http on a non-loopback host; use https, or http://127.0.0.1, \
             http://[::1] or http://localhost for native apps"
                .into(),
        ),
        scheme if scheme.contains('.') => Ok(()),
        _ => Err(
            "must use https, http on a loopback host, or a private-use scheme in \
             reverse-domain form (com.example.app:/callback)"
                .into(),
        ),
    }
}

/// `http://127.0.0.1`, `http://[::1]` or `http://localhost`, any port.
fn is_loopback(url: &Url) -> bool {
    url.scheme() == "http" && matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"))
}

/// Whether `requested` may be used as the redirect of a client that registered `registered`:
/// the exact string, or — for a loopback registration — the same URI on another port.
pub fn redirect_uri_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(r), Ok(q)) = (Url::parse(registered), Url::parse(requested)) else {
        return false;
    };
    // Only canonical requested URIs: `/cb/../cb` must not sneak past by normalising.
    q.as_str() == requested
        && is_loopback(&r)
        && is_loopback(&q)
        && r.host_str() == q.host_str()
        && r.path() == q.path()
        && r.query() == q.query()
        && q.fragment().is_none()
        && q.username().is_empty()
        && q.password().is_none()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ok(doc: Value) -> ClientMetadata {
        validate(&doc, false).unwrap_or_else(|e| panic!("{doc} refused: {e}"))
    }

    fn refused(doc: Value) -> MetadataError {
        validate(&doc, false).expect_err("should be refused")
    }

    #[test]
    fn a_typical_public_client_gets_the_defaults() {
        let m = ok(json!({
            "client_name": "Claude Code",
            "redirect_uris": ["http://localhost:53682/callback"],
            "token_endpoint_auth_method": "none",
            "scope": "mcp unknown-scope",
            "client_id": "ignored",
            "extra": {"kept": true}
        }));
        assert_eq!(m.grant_types, [GrantType::AuthorizationCode]);
        assert_eq!(m.response_types, ["code"]);
        assert_eq!(m.token_endpoint_auth_method, AuthMethod::None);
        assert_eq!(m.scope.as_deref(), Some("mcp"));
        assert!(!m.document.contains_key("client_id"));
        assert_eq!(m.document["extra"], json!({"kept": true}));
    }

    #[test]
    fn omitted_auth_method_means_a_confidential_client() {
        let m = ok(json!({"redirect_uris": ["https://app.example.com/cb"]}));
        assert_eq!(m.token_endpoint_auth_method, AuthMethod::ClientSecretBasic);
    }

    #[test]
    fn redirect_uri_rules() {
        for good in [
            "https://app.example.com/cb?x=1",
            "http://127.0.0.1/cb",
            "http://127.0.0.1:8080/cb",
            "http://[::1]:9/cb",
            "http://localhost:3000/oauth/callback",
            "com.example.app:/oauth2redirect",
            "cursor.app://callback",
        ] {
            assert_eq!(check_redirect_uri(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("/relative/cb", "absolute"),
            ("https://app.example.com/cb#frag", "fragment"),
            ("https://*.example.com/cb", "wildcard"),
            ("https://app.example.com/*", "wildcard"),
            ("http://app.example.com/cb", "non-loopback"),
            ("http://10.0.0.1/cb", "non-loopback"),
            ("javascript:alert(1)", "private-use"),
            ("data:text/html,hi", "private-use"),
            ("myapp:/cb", "private-use"),
            ("https://user:pw@app.example.com/cb", "user information"),
            ("https://app.example.com/a b", "whitespace"),
        ] {
            let reason = check_redirect_uri(bad).expect_err(bad);
            assert!(reason.contains(why), "{bad}: {reason}");
        }
    }

    #[test]
    fn bad_redirect_uris_are_invalid_redirect_uri() {
        let err = refused(
            json!({"redirect_uris": ["https://a.example/cb#x"], "token_endpoint_auth_method": "none"}),
        );
        assert_eq!(err.error_code(), "invalid_redirect_uri");
        let err = refused(json!({"token_endpoint_auth_method": "none"}));
        assert_eq!(err.error_code(), "invalid_redirect_uri");
        let many: Vec<String> = (0..=MAX_REDIRECT_URIS)
            .map(|i| format!("https://a.example/{i}"))
            .collect();
        let err = refused(json!({"redirect_uris": many}));
        assert!(err.to_string().contains("at most 10"), "{err}");
    }

    #[test]
    fn grant_and_response_type_rules() {
        let uris = json!(["https://a.example/cb"]);
        let err = refused(json!({"redirect_uris": uris, "grant_types": ["password"]}));
        assert_eq!(err.error_code(), "invalid_client_metadata");
        assert!(err.to_string().contains("password"), "{err}");
        let err = refused(json!({"redirect_uris": uris, "grant_types": ["implicit"]}));
        assert_eq!(err.error_code(), "invalid_client_metadata");
        let err = refused(json!({"redirect_uris": uris, "response_types": ["token"]}));
        assert!(err.to_string().contains("token"), "{err}");
        let err = refused(json!({"grant_types": ["refresh_token"], "response_types": ["code"]}));
        assert!(
            err.to_string().contains("needs the authorization_code"),
            "{err}"
        );
        let err = refused(json!({"redirect_uris": uris, "grant_types": []}));
        assert!(err.to_string().contains("at least one"), "{err}");
        let m = ok(
            json!({"redirect_uris": uris, "grant_types": ["authorization_code", "refresh_token", "refresh_token"], "token_endpoint_auth_method": "none"}),
        );
        assert_eq!(
            m.grant_types,
            [GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
    }

    #[test]
    fn client_credentials_needs_a_secret_and_permission() {
        let public =
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"});
        assert!(
            validate(&public, true)
                .unwrap_err()
                .to_string()
                .contains("confidential")
        );
        let machine = json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_post"});
        let err = validate(&machine, false).unwrap_err();
        assert!(err.to_string().contains("initial access token"), "{err}");
        let m = validate(&machine, true).unwrap();
        assert!(m.redirect_uris.is_empty());
        assert!(m.response_types.is_empty());
        assert!(m.has_grant(GrantType::ClientCredentials));
    }

    #[test]
    fn types_sizes_and_links_are_checked() {
        let uris = json!(["https://a.example/cb"]);
        assert!(matches!(
            refused(json!([1, 2])),
            MetadataError::InvalidClientMetadata(_)
        ));
        refused(json!({"redirect_uris": "https://a.example/cb"}));
        refused(json!({"redirect_uris": uris, "client_name": "x".repeat(MAX_NAME_LEN + 1)}));
        refused(json!({"redirect_uris": uris, "client_name": 7}));
        refused(json!({"redirect_uris": uris, "logo_uri": "javascript:alert(1)"}));
        refused(json!({"redirect_uris": uris, "token_endpoint_auth_method": "private_key_jwt"}));
        refused(json!({"redirect_uris": uris, "application_type": "desktop"}));
        refused(json!({"redirect_uris": uris, "scope": ["mcp"]}));
        refused(json!({"redirect_uris": uris, "padding": "x".repeat(MAX_METADATA_BYTES)}));
    }

    #[test]
    fn loopback_redirects_match_on_any_port_only() {
        let reg = "http://127.0.0.1/callback";
        assert!(redirect_uri_matches(reg, reg));
        assert!(redirect_uri_matches(reg, "http://127.0.0.1:51234/callback"));
        assert!(redirect_uri_matches(
            "http://[::1]:8080/cb",
            "http://[::1]:9999/cb"
        ));
        assert!(redirect_uri_matches(
            "http://localhost:1/cb?a=1",
            "http://localhost:2/cb?a=1"
        ));
        // Host, path and query must still match; loopback spellings are not interchangeable.
        assert!(!redirect_uri_matches(reg, "http://localhost:5000/callback"));
        assert!(!redirect_uri_matches(reg, "http://127.0.0.1:5000/other"));
        assert!(!redirect_uri_matches(
            reg,
            "http://127.0.0.1:5000/callback?x=1"
        ));
        assert!(!redirect_uri_matches(
            reg,
            "http://127.0.0.1:5000/callback#f"
        ));
        assert!(!redirect_uri_matches(
            reg,
            "http://127.0.0.1:5000/x/../callback"
        ));
        assert!(!redirect_uri_matches(
            reg,
            "https://127.0.0.1:5000/callback"
        ));
        // Non-loopback URIs match exactly or not at all.
        let web = "https://app.example.com/cb";
        assert!(redirect_uri_matches(web, web));
        assert!(!redirect_uri_matches(
            web,
            "https://app.example.com:8443/cb"
        ));
        assert!(!redirect_uri_matches(web, "https://app.example.com/cb/"));
    }
}
