//! The OAuth client registry: clients registered dynamically (RFC 7591/7592), resolved from a
//! Client ID Metadata Document, or created by an operator, stored in `oauth_clients`.
//!
//! Secrets are high-entropy random values, shown to the client once and stored only as SHA-256
//! digests (a slow password hash would buy nothing against 256 random bits and would cost every
//! token request). Every comparison of a presented secret hashes it first and compares digests in
//! constant time, and an unknown client id costs the same work as a known one.
//!
//! The authorization and token endpoints use [`ClientRegistry::authenticate_client`] and
//! [`Client::redirect_uri_allowed`]; the registration endpoints use the rest. None of this is
//! on the `/mcp` request path.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;

use super::client_metadata::{
    AuthMethod, ClientMetadata, ClientSource, GrantType, MetadataError, redirect_uri_matches,
};
use crate::storage::oauth_clients::{self, ClientRow, ClientWrite};
use crate::storage::oauth_consents::{self, ConsentRow};
use crate::storage::{Database, StorageError, now_ms};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("the gateway already has its maximum of {0} OAuth clients (oauth.max_clients)")]
    TooManyClients(usize),
    #[error("no OAuth client `{0}` is registered")]
    NotFound(String),
    /// Unknown client, wrong or missing secret, another auth method, or an expired secret: one
    /// answer for all, so a caller cannot tell which.
    #[error("client authentication failed")]
    InvalidClient,
    /// RFC 7592: a missing or wrong registration access token, or an unknown client.
    #[error("the registration access token is not valid for this client")]
    InvalidRegistrationToken,
    #[error("the stored OAuth client `{client_id}` is unreadable: {reason}")]
    Corrupt { client_id: String, reason: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A registered client. The secret and registration-token digests stay private to this module.
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    /// A random id, or the metadata document's https URL for CIMD clients.
    pub client_id: String,
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub response_types: Vec<String>,
    pub token_endpoint_auth_method: AuthMethod,
    pub scope: Option<String>,
    /// The metadata document as sent (server-managed fields removed).
    pub metadata: Map<String, Value>,
    pub source: ClientSource,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub last_used_at_ms: Option<i64>,
    /// `None`: the secret never expires (also for public clients, which have none).
    pub client_secret_expires_at_ms: Option<i64>,
    secret_hash: Option<String>,
    registration_token_hash: Option<String>,
}

impl Client {
    pub fn is_public(&self) -> bool {
        !self.token_endpoint_auth_method.is_confidential()
    }

    pub fn has_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Whether `uri` may receive this client's authorization response: one of its registered
    /// URIs exactly, or a registered loopback URI on any port (RFC 8252 §7.3).
    pub fn redirect_uri_allowed(&self, uri: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| redirect_uri_matches(registered, uri))
    }

    /// The RFC 7591 §3.2.1 / RFC 7592 §3 view: the metadata as sent, overlaid with the values
    /// actually registered, plus `client_id` and `client_id_issued_at`. Never a secret.
    pub fn registration_document(&self) -> Map<String, Value> {
        let mut doc = self.metadata.clone();
        doc.insert("client_id".into(), json!(self.client_id));
        doc.insert(
            "client_id_issued_at".into(),
            json!(self.created_at_ms / 1000),
        );
        doc.insert("redirect_uris".into(), json!(self.redirect_uris));
        let grants: Vec<&str> = self.grant_types.iter().map(|g| g.as_str()).collect();
        doc.insert("grant_types".into(), json!(grants));
        doc.insert("response_types".into(), json!(self.response_types));
        doc.insert(
            "token_endpoint_auth_method".into(),
            json!(self.token_endpoint_auth_method.as_str()),
        );
        match &self.client_name {
            Some(name) => doc.insert("client_name".into(), json!(name)),
            None => doc.remove("client_name"),
        };
        match &self.scope {
            Some(scope) => doc.insert("scope".into(), json!(scope)),
            None => doc.remove("scope"),
        };
        if !self.is_public() {
            // RFC 7591: 0 means the secret does not expire.
            let expires = self.client_secret_expires_at_ms.map_or(0, |ms| ms / 1000);
            doc.insert("client_secret_expires_at".into(), json!(expires));
        }
        doc
    }
}

/// What a registration returns: the client and the credentials shown only this once.
#[derive(Debug, Clone)]
pub struct Registration {
    pub client: Client,
    /// Confidential clients only.
    pub client_secret: Option<String>,
    /// For RFC 7592 management; `None` for CIMD clients (their document is the source of truth).
    pub registration_access_token: Option<String>,
}

pub struct ClientRegistry {
    db: Database,
    max_clients: usize,
}

impl ClientRegistry {
    pub fn new(db: Database, max_clients: usize) -> Self {
        ClientRegistry { db, max_clients }
    }

    /// Registers a new client under a fresh random id, with a secret when it is confidential
    /// and, unless it comes from a metadata document, a registration access token.
    pub async fn register(
        &self,
        metadata: ClientMetadata,
        source: ClientSource,
    ) -> Result<Registration, ClientError> {
        self.insert(random_token(16), metadata, source).await
    }

    /// Stores (or refreshes) the client described by the metadata document at `client_id`.
    pub async fn upsert_document_client(
        &self,
        client_id: &str,
        metadata: ClientMetadata,
    ) -> Result<Client, ClientError> {
        match self.get(client_id).await? {
            None => Ok(self
                .insert(client_id.to_string(), metadata, ClientSource::Cimd)
                .await?
                .client),
            Some(current) if current.source == ClientSource::Cimd => {
                let write = write_for(client_id, &metadata, ClientSource::Cimd, None, None, None)?;
                self.replace(write).await
            }
            // Only an operator could have created a URL-shaped id; their registration wins.
            Some(current) => Ok(current),
        }
    }

    async fn insert(
        &self,
        client_id: String,
        metadata: ClientMetadata,
        source: ClientSource,
    ) -> Result<Registration, ClientError> {
        let client_secret = metadata
            .token_endpoint_auth_method
            .is_confidential()
            .then(|| random_token(32));
        let registration_access_token = (source != ClientSource::Cimd).then(|| random_token(32));
        let write = write_for(
            &client_id,
            &metadata,
            source,
            client_secret.as_deref().map(sha256_hex),
            None,
            registration_access_token.as_deref().map(sha256_hex),
        )?;
        let max = i64::try_from(self.max_clients).unwrap_or(i64::MAX);
        let row = self
            .db
            .run(move |c| oauth_clients::insert(c, &write, Some(max)))
            .await?
            .ok_or(ClientError::TooManyClients(self.max_clients))?;
        Ok(Registration {
            client: from_row(row)?,
            client_secret,
            registration_access_token,
        })
    }

    pub async fn get(&self, client_id: &str) -> Result<Option<Client>, ClientError> {
        let id = client_id.to_string();
        self.db
            .run(move |c| oauth_clients::find(c, &id))
            .await?
            .map(from_row)
            .transpose()
    }

    /// RFC 7592 update: the new metadata replaces the old; the secret and the registration
    /// token stay. A client cannot switch between public and confidential (a secret would have
    /// to appear or vanish): it registers anew instead.
    pub async fn update(
        &self,
        client_id: &str,
        metadata: ClientMetadata,
    ) -> Result<Client, ClientError> {
        let current = self
            .get(client_id)
            .await?
            .ok_or_else(|| ClientError::NotFound(client_id.to_string()))?;
        let was_confidential = !current.is_public();
        if was_confidential != metadata.token_endpoint_auth_method.is_confidential() {
            return Err(MetadataError::InvalidClientMetadata(format!(
                "token_endpoint_auth_method cannot change from {} to {}: a client is either \
                 public or confidential for life; register a new client instead",
                current.token_endpoint_auth_method.as_str(),
                metadata.token_endpoint_auth_method.as_str()
            ))
            .into());
        }
        let write = write_for(
            client_id,
            &metadata,
            current.source,
            current.secret_hash.clone(),
            current.client_secret_expires_at_ms,
            current.registration_token_hash.clone(),
        )?;
        self.replace(write).await
    }

    async fn replace(&self, write: ClientWrite) -> Result<Client, ClientError> {
        let id = write.client_id.clone();
        self.db
            .run(move |c| oauth_clients::replace(c, &write))
            .await?
            .map(from_row)
            .transpose()?
            .ok_or(ClientError::NotFound(id))
    }

    /// Removes the client; `NotFound` when there was none.
    pub async fn delete(&self, client_id: &str) -> Result<(), ClientError> {
        let id = client_id.to_string();
        if self.db.run(move |c| oauth_clients::delete(c, &id)).await? {
            Ok(())
        } else {
            Err(ClientError::NotFound(client_id.to_string()))
        }
    }

    /// Revokes every token family issued to the client, then deletes it; its authorization
    /// codes and remembered consents go with it (`ON DELETE CASCADE`). Returns how many
    /// families were revoked; the caller refreshes the identity service's revocation list.
    pub async fn delete_with_grants(&self, client_id: &str) -> Result<usize, ClientError> {
        if self.get(client_id).await?.is_none() {
            return Err(ClientError::NotFound(client_id.to_string()));
        }
        let id = client_id.to_string();
        let revoked = self
            .db
            .run(move |c| crate::storage::tokens::revoke_client_families(c, &id))
            .await?;
        self.delete(client_id).await?;
        Ok(revoked)
    }

    /// Gives a confidential client a new secret (returned once, stored as its digest); the old
    /// one stops working at once. `Ok(None)`: the client is public and has no secret.
    pub async fn rotate_secret(&self, client_id: &str) -> Result<Option<String>, ClientError> {
        let client = self
            .get(client_id)
            .await?
            .ok_or_else(|| ClientError::NotFound(client_id.to_string()))?;
        if client.is_public() {
            return Ok(None);
        }
        let secret = random_token(32);
        let (id, digest) = (client_id.to_string(), sha256_hex(&secret));
        let found = self
            .db
            .run(move |c| oauth_clients::set_secret_hash(c, &id, &digest))
            .await?;
        if !found {
            return Err(ClientError::NotFound(client_id.to_string()));
        }
        Ok(Some(secret))
    }

    /// The consents users remembered for the client.
    pub async fn consents(&self, client_id: &str) -> Result<Vec<ConsentRow>, ClientError> {
        let id = client_id.to_string();
        Ok(self
            .db
            .run(move |c| oauth_consents::list_for_client(c, &id))
            .await?)
    }

    /// How many consents each client holds; a client without any is absent.
    pub async fn consent_counts(
        &self,
    ) -> Result<std::collections::HashMap<String, usize>, ClientError> {
        let counts = self.db.run(oauth_consents::count_by_client).await?;
        Ok(counts
            .into_iter()
            .map(|(id, n)| (id, usize::try_from(n).unwrap_or(0)))
            .collect())
    }

    /// Forgets the client's remembered consents (its next authorization asks again).
    pub async fn forget_consents(&self, client_id: &str) -> Result<usize, ClientError> {
        let id = client_id.to_string();
        Ok(self
            .db
            .run(move |c| oauth_consents::delete_for_client(c, &id))
            .await?)
    }

    /// Every client, oldest first (for the console).
    pub async fn list(&self) -> Result<Vec<Client>, ClientError> {
        self.db
            .run(oauth_clients::list)
            .await?
            .into_iter()
            .map(from_row)
            .collect()
    }

    /// Authenticates a client at the token endpoint: `method` is how it authenticated and must
    /// be the one it registered; confidential clients must present their secret (compared in
    /// constant time, not expired), public ones must present none.
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        secret: Option<&str>,
        method: AuthMethod,
    ) -> Result<Client, ClientError> {
        let client = self.get(client_id).await?;
        let presented = secret.map(sha256_hex);
        let stored = client.as_ref().and_then(|c| c.secret_hash.as_deref());
        // Always one digest comparison, whatever is missing, so timing says nothing.
        let secret_matches = digests_equal(presented.as_deref(), stored);
        let Some(client) = client else {
            return Err(ClientError::InvalidClient);
        };
        if client.token_endpoint_auth_method != method {
            return Err(ClientError::InvalidClient);
        }
        match method {
            AuthMethod::None if secret.is_none() => Ok(client),
            AuthMethod::None => Err(ClientError::InvalidClient),
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => {
                let expired = client
                    .client_secret_expires_at_ms
                    .is_some_and(|at| at <= now_ms());
                if secret_matches && !expired {
                    Ok(client)
                } else {
                    Err(ClientError::InvalidClient)
                }
            }
        }
    }

    /// Whether `uri` may receive `client`'s authorization response (see
    /// [`Client::redirect_uri_allowed`]); here for callers that hold the registry.
    pub fn redirect_uri_allowed(client: &Client, uri: &str) -> bool {
        client.redirect_uri_allowed(uri)
    }

    /// RFC 7592: the client whose registration access token `token` is. Unknown clients and
    /// clients without a token (CIMD) get the same refusal as a wrong token.
    pub async fn check_registration_token(
        &self,
        client_id: &str,
        token: Option<&str>,
    ) -> Result<Client, ClientError> {
        let client = self.get(client_id).await?;
        let presented = token.map(sha256_hex);
        let stored = client
            .as_ref()
            .and_then(|c| c.registration_token_hash.as_deref());
        if digests_equal(presented.as_deref(), stored) {
            client.ok_or(ClientError::InvalidRegistrationToken)
        } else {
            Err(ClientError::InvalidRegistrationToken)
        }
    }

    /// Records a use of the client (authorization or token request).
    pub async fn touch_last_used(&self, client_id: &str) -> Result<(), ClientError> {
        let id = client_id.to_string();
        Ok(self
            .db
            .run(move |c| oauth_clients::touch(c, &id, now_ms()))
            .await?)
    }
}

/// A secret the operator configured (e.g. the DCR initial access token), held only as its
/// digest and compared in constant time.
#[derive(Clone, PartialEq, Eq)]
pub struct ConfiguredSecret {
    digest: String,
}

impl ConfiguredSecret {
    pub fn new(secret: &str) -> Self {
        ConfiguredSecret {
            digest: sha256_hex(secret),
        }
    }

    /// From an already computed [`sha256_hex`] digest (the configuration keeps only that).
    pub fn from_digest(digest: String) -> Self {
        ConfiguredSecret { digest }
    }

    pub fn matches(&self, presented: &str) -> bool {
        digests_equal(Some(&sha256_hex(presented)), Some(&self.digest))
    }
}

impl std::fmt::Debug for ConfiguredSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConfiguredSecret(***)")
    }
}

/// Lower-case hex SHA-256, the stored form of every client secret and token.
pub use super::opaque::sha256_hex;

/// Constant-time equality of two hex digests; absent on either side is unequal (after doing
/// the same comparison against a dummy, so the time taken does not depend on what is absent).
fn digests_equal(presented: Option<&str>, stored: Option<&str>) -> bool {
    const DUMMY: &str = "0000000000000000000000000000000000000000000000000000000000000000";
    let both = presented.is_some() && stored.is_some();
    let a = presented.unwrap_or(DUMMY).as_bytes();
    let b = stored.unwrap_or(DUMMY).as_bytes();
    let equal: bool = a.ct_eq(b).into();
    both && equal
}

/// `bytes` random bytes, base64url without padding.
fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

fn write_for(
    client_id: &str,
    metadata: &ClientMetadata,
    source: ClientSource,
    secret_hash: Option<String>,
    secret_expires_at_ms: Option<i64>,
    registration_token_hash: Option<String>,
) -> Result<ClientWrite, ClientError> {
    let grants: Vec<&str> = metadata.grant_types.iter().map(|g| g.as_str()).collect();
    Ok(ClientWrite {
        client_id: client_id.to_string(),
        client_secret_hash: secret_hash,
        client_secret_expires_at_ms: secret_expires_at_ms,
        registration_token_hash,
        client_name: metadata.client_name.clone(),
        redirect_uris_json: to_json(&metadata.redirect_uris),
        grant_types_json: to_json(&grants),
        response_types_json: to_json(&metadata.response_types),
        token_endpoint_auth_method: metadata.token_endpoint_auth_method.as_str().to_string(),
        scope: metadata.scope.clone(),
        metadata_json: Value::Object(metadata.document.clone()).to_string(),
        source: source.as_str().to_string(),
    })
}

/// A list of strings as a JSON column; serialising one cannot fail.
fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".to_string())
}

fn from_row(row: ClientRow) -> Result<Client, ClientError> {
    let corrupt = |reason: String| ClientError::Corrupt {
        client_id: row.client_id.clone(),
        reason,
    };
    let list = |text: &str, column: &str| {
        serde_json::from_str::<Vec<String>>(text)
            .map_err(|e| corrupt(format!("{column} is not a JSON list of strings: {e}")))
    };
    let redirect_uris = list(&row.redirect_uris_json, "redirect_uris_json")?;
    let response_types = list(&row.response_types_json, "response_types_json")?;
    let grant_types = list(&row.grant_types_json, "grant_types_json")?
        .iter()
        .map(|g| GrantType::parse(g).ok_or_else(|| corrupt(format!("unknown grant type {g:?}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let token_endpoint_auth_method = AuthMethod::parse(&row.token_endpoint_auth_method)
        .ok_or_else(|| {
            corrupt(format!(
                "unknown auth method {:?}",
                row.token_endpoint_auth_method
            ))
        })?;
    let source = ClientSource::parse(&row.source)
        .ok_or_else(|| corrupt(format!("unknown source {:?}", row.source)))?;
    let metadata = match serde_json::from_str::<Value>(&row.metadata_json) {
        Ok(Value::Object(map)) => map,
        _ => return Err(corrupt("metadata_json is not a JSON object".into())),
    };
    Ok(Client {
        client_id: row.client_id,
        client_name: row.client_name,
        redirect_uris,
        grant_types,
        response_types,
        token_endpoint_auth_method,
        scope: row.scope,
        metadata,
        source,
        created_at_ms: row.created_at_ms,
        updated_at_ms: row.updated_at_ms,
        last_used_at_ms: row.last_used_at_ms,
        client_secret_expires_at_ms: row.client_secret_expires_at_ms,
        secret_hash: row.client_secret_hash,
        registration_token_hash: row.registration_token_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_hex_sha256() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn digest_comparison_needs_both_sides() {
        let d = sha256_hex("s");
        assert!(digests_equal(Some(&d), Some(&d)));
        assert!(!digests_equal(Some(&d), Some(&sha256_hex("t"))));
        assert!(!digests_equal(None, Some(&d)));
        assert!(!digests_equal(Some(&d), None));
        assert!(!digests_equal(None, None));
    }

    #[test]
    fn configured_secret_matches_only_itself_and_hides_in_debug() {
        let s = ConfiguredSecret::new("initial-token-0123456789");
        assert!(s.matches("initial-token-0123456789"));
        assert!(!s.matches("initial-token-012345678"));
        assert!(!format!("{s:?}").contains("initial"));
    }

    #[test]
    fn random_tokens_are_long_and_distinct() {
        let a = random_token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token(32));
    }
}
