//! Authorization codes and remembered consent.
//!
//! A code is 256 random bits, handed to the client once in the redirect and stored only as its
//! SHA-256 with everything the token request must match: client, redirect URI, user, scope,
//! resource, PKCE challenge, OIDC nonce, and a short expiry (`oauth.code_ttl_s`). It is spent
//! on first presentation, whatever happens next; presenting a spent code again revokes the
//! tokens issued from it (RFC 6749 §4.1.2: the code may have been stolen).

use super::{AuthorizationService, GrantError, GrantResponse, id_token, pkce};
use crate::auth::clients::Client;
use crate::auth::identity::TokenGrant;
use crate::auth::opaque;
use crate::auth::scopes::{Scope, ScopeSet};
use crate::storage::authorization_codes::{self, Claim, NewCode};
use crate::storage::{now_ms, oauth_consents};

/// An approved authorization request, ready to become a code.
#[derive(Debug, Clone)]
pub struct CodeRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub user_id: i64,
    pub scope: ScopeSet,
    pub resource: String,
    pub code_challenge: String,
    pub nonce: Option<String>,
    /// Unix seconds of the user's login.
    pub auth_time: i64,
}

/// The token request of the `authorization_code` grant (the client already authenticated).
#[derive(Debug, Clone)]
pub struct CodeExchange<'a> {
    pub code: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
    pub resource: Option<&'a str>,
}

/// Codes carry their own prefix, like the other opaque secrets, so a leaked one is recognisable.
const CODE_PREFIX: &str = "amc_";

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl AuthorizationService {
    /// Stores a new code for an approved request and returns it (the only time it exists in
    /// clear).
    pub async fn issue_code(&self, request: CodeRequest) -> Result<String, GrantError> {
        let code = opaque::new_token(CODE_PREFIX);
        let hash = opaque::sha256_hex(&code);
        let expires_at_ms = now_ms() + ms(self.settings.code_ttl);
        let client_id = request.client_id.clone();
        self.db
            .run(move |c| {
                authorization_codes::insert(
                    c,
                    &NewCode {
                        code_hash: &hash,
                        client_id: &request.client_id,
                        user_id: request.user_id,
                        redirect_uri: &request.redirect_uri,
                        scope: &request.scope.to_string(),
                        resource: &request.resource,
                        code_challenge: &request.code_challenge,
                        nonce: request.nonce.as_deref(),
                        auth_time: request.auth_time,
                        expires_at_ms,
                    },
                )
            })
            .await?;
        // Last use is bookkeeping for the console: its failure must not fail the login.
        let _ = self.clients.touch_last_used(&client_id).await;
        Ok(code)
    }

    /// Whether the user already approved at least these scopes for this client and resource.
    pub async fn consent_covers(
        &self,
        user_id: i64,
        client_id: &str,
        resource: &str,
        scopes: &ScopeSet,
    ) -> Result<bool, GrantError> {
        let (client, resource) = (client_id.to_string(), resource.to_string());
        let stored = self
            .db
            .run(move |c| oauth_consents::find(c, user_id, &client, &resource))
            .await?;
        Ok(stored
            .and_then(|s| ScopeSet::parse_known(&s).ok())
            .is_some_and(|granted| scopes.is_subset_of(&granted)))
    }

    /// Remembers an approval: the scopes approved now join those approved before.
    pub async fn remember_consent(
        &self,
        user_id: i64,
        client_id: &str,
        resource: &str,
        scopes: &ScopeSet,
    ) -> Result<(), GrantError> {
        let (client, resource) = (client_id.to_string(), resource.to_string());
        let scopes = scopes.clone();
        self.db
            .run(move |c| {
                let before = oauth_consents::find(c, user_id, &client, &resource)?
                    .and_then(|s| ScopeSet::parse_known(&s).ok())
                    .unwrap_or_default();
                let union = ScopeSet::new(before.iter().chain(scopes.iter()));
                oauth_consents::store(c, user_id, &client, &resource, &union.to_string())
            })
            .await?;
        Ok(())
    }

    /// The `authorization_code` grant: spends the code, checks that it was issued to this client
    /// for this redirect URI (and resource, when sent) and that the PKCE verifier answers its
    /// challenge, then issues tokens (and an ID token for `openid`).
    pub async fn exchange_code(
        &self,
        client: &Client,
        exchange: CodeExchange<'_>,
    ) -> Result<GrantResponse, GrantError> {
        let verifier = exchange.code_verifier.ok_or_else(|| {
            GrantError::InvalidRequest(
                "code_verifier is required: this server requires PKCE (S256) for every code".into(),
            )
        })?;
        let redirect_uri = exchange.redirect_uri.ok_or_else(|| {
            GrantError::InvalidRequest(
                "redirect_uri is required and must equal the one of the authorization request"
                    .into(),
            )
        })?;
        let hash = opaque::sha256_hex(exchange.code);
        let claim = {
            let hash = hash.clone();
            self.db
                .run(move |c| authorization_codes::claim(c, &hash))
                .await?
        };
        let row = match claim {
            Claim::Claimed(row) => *row,
            Claim::Unknown => {
                return Err(GrantError::InvalidGrant(
                    "unknown authorization code".into(),
                ));
            }
            Claim::Expired => {
                return Err(GrantError::InvalidGrant(
                    "the authorization code has expired".into(),
                ));
            }
            Claim::Replayed { family_sid } => {
                if let Some(sid) = family_sid {
                    self.identity.revoke_family(&sid).await?;
                }
                return Err(GrantError::InvalidGrant(
                    "the authorization code was already used; the tokens issued from it have \
                     been revoked"
                        .into(),
                ));
            }
        };
        if row.client_id != client.client_id {
            return Err(GrantError::InvalidGrant(
                "the authorization code was issued to another client".into(),
            ));
        }
        if row.redirect_uri != redirect_uri {
            return Err(GrantError::InvalidGrant(
                "redirect_uri does not match the authorization request's".into(),
            ));
        }
        if exchange.resource.is_some_and(|r| r != row.resource) {
            return Err(GrantError::InvalidTarget(format!(
                "resource must be the one the code was issued for ({})",
                row.resource
            )));
        }
        if !pkce::verify_s256(verifier, &row.code_challenge) {
            return Err(GrantError::InvalidGrant(
                "code_verifier does not match the code_challenge (PKCE S256)".into(),
            ));
        }
        let scopes = ScopeSet::parse_known(&row.scope).unwrap_or_default();
        let tokens = self
            .identity
            .issue_tokens(TokenGrant {
                user_id: row.user_id,
                client_id: Some(client.client_id.clone()),
                scope: Some(row.scope.clone()),
                resource: row.resource.clone(),
                with_refresh: Self::gets_refresh_tokens(client),
                family: None,
            })
            .await?;
        let sid = tokens.sid.clone();
        let replayed = self
            .db
            .run(move |c| authorization_codes::record_family(c, &hash, &sid))
            .await?;
        if replayed {
            // A replay raced this exchange before the grant was recorded: revoke it now.
            self.identity.revoke_family(&tokens.sid).await?;
            return Err(GrantError::InvalidGrant(
                "the authorization code was used twice; the tokens issued from it have been \
                 revoked"
                    .into(),
            ));
        }
        let id_token = if scopes.contains(Scope::OpenId) {
            Some(
                self.id_token(
                    client,
                    row.user_id,
                    &scopes,
                    u64::try_from(row.auth_time).unwrap_or(0),
                    row.nonce.as_deref(),
                    &tokens.access_token,
                )
                .await?,
            )
        } else {
            None
        };
        Ok(GrantResponse { tokens, id_token })
    }

    pub(super) async fn id_token(
        &self,
        client: &Client,
        user_id: i64,
        scopes: &ScopeSet,
        auth_time: u64,
        nonce: Option<&str>,
        access_token: &str,
    ) -> Result<String, GrantError> {
        let user = self.identity.me(user_id).await?;
        let keys = self.identity.keys();
        id_token::mint(
            keys.signing_keys(),
            &id_token::IdTokenInput {
                issuer: keys.issuer(),
                client_id: &client.client_id,
                user: &user,
                scopes,
                auth_time,
                nonce,
                access_token,
                lifetime_s: keys.access_ttl().as_secs(),
            },
        )
        .map_err(|e| GrantError::Server(e.to_string()))
    }
}
