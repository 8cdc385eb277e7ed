//! Issuing token pairs, rotating refresh tokens, revoking, introspecting.
//!
//! Refresh tokens rotate on every use. Presenting a rotated token again means it was copied: the
//! whole family (every refresh token and, through the revocation snapshot, every access token of
//! that session) is revoked — unless it comes back within `refresh_reuse_grace` of its first use,
//! which is a client retrying after a lost response; that client gets a fresh pair.

/// The refusal of a reused refresh token (its family is revoked): callers report it as
/// `token_reuse`.
pub const REFRESH_REUSED: &str = "already used; the session has been revoked";

use serde::Serialize;

use super::{AuthError, Identity, Principal};
use crate::auth::opaque::{self, REFRESH_PREFIX};
use crate::auth::tokens::{AccessGrant, random_id};
use crate::storage::tokens::{self, FamilyFilter, NewFamily, NewRefreshToken, RefreshToken};
use crate::storage::{api_tokens, in_transaction, now_ms, users};

/// What [`Identity::revoke_user`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserRevocation {
    /// Token families: login and OAuth sessions with their refresh tokens.
    pub sessions: usize,
    pub api_tokens: usize,
}

/// What to issue (the OAuth endpoints' and the login's common path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub user_id: i64,
    /// `None` for login tokens.
    pub client_id: Option<String>,
    /// Space-separated scopes; `None` for login tokens (unrestricted).
    pub scope: Option<String>,
    /// The audience: `<public_url>/mcp` or `<public_url>/mcp/<server>`.
    pub resource: String,
    pub with_refresh: bool,
    /// Continue this family (e.g. a refresh); `None` starts a new one.
    pub family: Option<String>,
}

/// A token endpoint's answer (RFC 6749 §5.1); `sid` and `user_id` are for the caller only.
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip)]
    pub sid: String,
    #[serde(skip)]
    pub user_id: i64,
}

/// What RFC 7662 introspection reports about an active token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Introspection {
    /// `access_token` or `refresh_token`.
    pub token_type: &'static str,
    pub sub: String,
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub aud: String,
    pub iss: String,
    pub exp: u64,
    pub iat: u64,
    pub sid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Identity {
    /// Issues an access token (and a refresh token when asked) for an enabled user. A new family
    /// is recorded; with `enforce_single_session`, the user's other families of the same client
    /// are revoked.
    pub async fn issue_tokens(&self, grant: TokenGrant) -> Result<TokenResponse, AuthError> {
        if !self.keys.is_resource(&grant.resource) {
            return Err(AuthError::InvalidRequest(format!(
                "`{}` is not a resource of this gateway (use {}/mcp or {}/mcp/<server>)",
                grant.resource,
                self.keys.issuer(),
                self.keys.issuer()
            )));
        }
        let user_id = grant.user_id;
        let user = self
            .db
            .run(move |c| users::find_by_id(c, user_id))
            .await?
            .ok_or(AuthError::UnknownUser)?;
        if !user.enabled {
            return Err(AuthError::AccountDisabled);
        }
        let access_ttl = self.keys.access_ttl();
        let refresh_ttl = self.settings.refresh_ttl;
        let ends_at = now_ms()
            + ms(if grant.with_refresh {
                access_ttl.max(refresh_ttl)
            } else {
                access_ttl
            });
        let (sid, new_family) = match grant.family.clone() {
            Some(sid) => {
                let lookup = sid.clone();
                let family = self
                    .db
                    .run(move |c| tokens::find_family(c, &lookup))
                    .await?;
                match family {
                    Some(f)
                        if f.revoked_at_ms.is_none()
                            && f.user_id == user_id
                            && f.client_id == grant.client_id =>
                    {
                        (sid, false)
                    }
                    _ => return Err(AuthError::InvalidGrant("unknown or revoked session")),
                }
            }
            None => (random_id(), true),
        };
        let refresh_token = grant
            .with_refresh
            .then(|| opaque::new_token(REFRESH_PREFIX));
        {
            let (sid, grant, refresh) = (sid.clone(), grant.clone(), refresh_token.clone());
            self.db
                .run(move |c| {
                    crate::storage::in_transaction(c, |c| {
                        if new_family {
                            tokens::create_family(
                                c,
                                &NewFamily {
                                    sid: &sid,
                                    user_id,
                                    client_id: grant.client_id.as_deref(),
                                    expires_at_ms: ends_at,
                                },
                            )?;
                        } else {
                            tokens::extend_family(c, &sid, ends_at)?;
                        }
                        if let Some(token) = &refresh {
                            tokens::insert_refresh_token(
                                c,
                                &NewRefreshToken {
                                    token_hash: &opaque::sha256_hex(token),
                                    family_id: &sid,
                                    user_id,
                                    client_id: grant.client_id.as_deref(),
                                    scope: grant.scope.as_deref(),
                                    resource: &grant.resource,
                                    expires_at_ms: now_ms() + ms(refresh_ttl),
                                },
                            )?;
                        }
                        Ok(())
                    })
                })
                .await?;
        }
        if new_family && self.settings.enforce_single_session {
            let (keep, client) = (sid.clone(), grant.client_id.clone());
            let revoked = self
                .db
                .run(move |c| {
                    tokens::revoke_user_families(
                        c,
                        user_id,
                        FamilyFilter::SameClient {
                            client_id: client.as_deref(),
                            keep: &keep,
                        },
                    )
                })
                .await?;
            if revoked > 0 {
                self.refresh_revocations().await?;
            }
        }
        self.ensure_in_directory(user_id).await?;
        let access = self.keys.issue_access(&AccessGrant {
            user_id,
            username: &user.username,
            audience: &grant.resource,
            scope: grant.scope.as_deref(),
            client_id: grant.client_id.as_deref(),
            sid: &sid,
        })?;
        Ok(TokenResponse {
            access_token: access.token,
            token_type: "Bearer",
            expires_in: access.expires_in.as_secs(),
            refresh_token,
            scope: grant.scope,
            sid,
            user_id,
        })
    }

    /// Renews a login session (the console's): a new access token in family `sid`, unless the
    /// family began more than `max_age` before the new token would expire — then `None`, and
    /// the session ends with its current token. Refused like a refresh when the family is
    /// revoked or belongs to someone else.
    pub async fn renew_login(
        &self,
        user_id: i64,
        sid: &str,
        max_age: std::time::Duration,
    ) -> Result<Option<TokenResponse>, AuthError> {
        let lookup = sid.to_string();
        let family = self
            .db
            .run(move |c| tokens::find_family(c, &lookup))
            .await?
            .ok_or(AuthError::InvalidGrant("unknown or revoked session"))?;
        if now_ms() + ms(self.keys.access_ttl()) > family.created_at_ms + ms(max_age) {
            return Ok(None);
        }
        self.issue_tokens(TokenGrant {
            user_id,
            client_id: None,
            scope: None,
            resource: self.keys.access_audience().to_string(),
            with_refresh: false,
            family: Some(sid.to_string()),
        })
        .await
        .map(Some)
    }

    /// The refresh-token lifetime, which also bounds how long a renewed login session lasts.
    pub fn refresh_ttl(&self) -> std::time::Duration {
        self.settings.refresh_ttl
    }

    /// Rotates a refresh token: a new pair in the same family, same scope and resource.
    /// `client_id` is the authenticated client (`None` for `/auth/refresh`); a token issued to
    /// another client is refused as if unknown.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        client_id: Option<&str>,
    ) -> Result<TokenResponse, AuthError> {
        let stored = self.find_refresh_token(refresh_token).await?;
        let stored = stored.ok_or(AuthError::InvalidGrant("unknown refresh token"))?;
        if stored.client_id.as_deref() != client_id {
            return Err(AuthError::InvalidGrant("issued to another client"));
        }
        if stored.family_revoked_at_ms.is_some() || stored.revoked_at_ms.is_some() {
            return Err(AuthError::InvalidGrant("revoked"));
        }
        if stored.expires_at_ms <= now_ms() {
            return Err(AuthError::InvalidGrant("expired"));
        }
        let id = stored.id;
        let first_use = self
            .db
            .run(move |c| tokens::claim_refresh_token(c, id))
            .await?;
        if !first_use {
            let grace = ms(self.settings.refresh_reuse_grace);
            // A race lost just now has no used_at in our copy: that is a retry, too.
            let used_at = stored.used_at_ms.unwrap_or_else(now_ms);
            // A zero grace turns the window off: every reuse revokes.
            if grace == 0 || now_ms() - used_at > grace {
                self.revoke_family(&stored.family_id).await?;
                return Err(AuthError::InvalidGrant(REFRESH_REUSED));
            }
        }
        let response = self
            .issue_tokens(TokenGrant {
                user_id: stored.user_id,
                client_id: stored.client_id.clone(),
                scope: stored.scope.clone(),
                resource: stored.resource.clone(),
                with_refresh: true,
                family: Some(stored.family_id.clone()),
            })
            .await?;
        if let Some(new) = &response.refresh_token {
            let hash = opaque::sha256_hex(new);
            self.db
                .run(move |c| {
                    if let Some(successor) = tokens::find_refresh_token(c, &hash)? {
                        tokens::set_replaced_by(c, id, successor.id)?;
                    }
                    Ok(())
                })
                .await?;
        }
        Ok(response)
    }

    /// The stored state of a refresh token (hash lookup); `None` when it is not one of ours.
    /// For checks that must happen before a rotation (e.g. the token endpoint's `resource`).
    pub async fn find_refresh_token(&self, token: &str) -> Result<Option<RefreshToken>, AuthError> {
        if !token.starts_with(REFRESH_PREFIX) {
            return Ok(None);
        }
        let hash = opaque::sha256_hex(token);
        Ok(self
            .db
            .run(move |c| tokens::find_refresh_token(c, &hash))
            .await?)
    }

    /// RFC 7009 for a refresh token: revokes its whole family. An unknown token is not an
    /// error (the spec's answer is 200 either way); one issued to another client is. Returns
    /// the user the token was issued to, when it was known.
    pub async fn revoke_refresh_token(
        &self,
        token: &str,
        client_id: Option<&str>,
    ) -> Result<Option<i64>, AuthError> {
        let Some(stored) = self.find_refresh_token(token).await? else {
            return Ok(None);
        };
        if stored.client_id.as_deref() != client_id {
            return Err(AuthError::InvalidGrant("issued to another client"));
        }
        self.revoke_family(&stored.family_id).await?;
        Ok(Some(stored.user_id))
    }

    /// Revokes one family (its refresh tokens now, its access tokens through the snapshot).
    pub async fn revoke_family(&self, sid: &str) -> Result<bool, AuthError> {
        let sid = sid.to_string();
        let revoked = self.db.run(move |c| tokens::revoke_family(c, &sid)).await?;
        self.refresh_revocations().await?;
        Ok(revoked)
    }

    /// Revokes every live family of the user (logins, OAuth grants, their refresh tokens) and
    /// every API token of theirs, in one transaction; both reach the request path before this
    /// returns.
    pub async fn revoke_user(&self, user_id: i64) -> Result<UserRevocation, AuthError> {
        let revoked = self
            .db
            .run(move |c| {
                in_transaction(c, |c| {
                    Ok(UserRevocation {
                        sessions: tokens::revoke_user_families(c, user_id, FamilyFilter::Every)?,
                        api_tokens: api_tokens::revoke_for_user(c, user_id)?,
                    })
                })
            })
            .await?;
        self.refresh_revocations().await?;
        self.api_tokens.refresh(&self.db, false).await?;
        Ok(revoked)
    }

    /// `POST /auth/logout`: the caller's own family, and the family of `refresh_token` when it
    /// belongs to the same user.
    pub async fn logout(
        &self,
        principal: &Principal,
        refresh_token: Option<&str>,
    ) -> Result<(), AuthError> {
        if let Some(token) = refresh_token
            && let Some(stored) = self.find_refresh_token(token).await?
            && stored.user_id == principal.user_id
        {
            self.revoke_family(&stored.family_id).await?;
        }
        if let Some(sid) = &principal.sid {
            self.revoke_family(sid).await?;
        }
        Ok(())
    }

    /// What an active access token (JWT) or refresh token says; `None` for anything inactive
    /// (unknown, expired, revoked, used, disabled user) — RFC 7662 answers those alike.
    pub async fn introspect(&self, token: &str) -> Option<Introspection> {
        if token.starts_with(REFRESH_PREFIX) {
            let stored = self.find_refresh_token(token).await.ok()??;
            let live = stored.used_at_ms.is_none()
                && stored.revoked_at_ms.is_none()
                && stored.family_revoked_at_ms.is_none()
                && stored.expires_at_ms > now_ms();
            let (status, username) = self.directory.load().get(&stored.user_id).cloned()?;
            if !live || !status.enabled {
                return None;
            }
            return Some(Introspection {
                token_type: "refresh_token",
                sub: stored.user_id.to_string(),
                username,
                client_id: stored.client_id,
                scope: stored.scope,
                aud: stored.resource,
                iss: self.keys.issuer().to_string(),
                exp: u64::try_from(stored.expires_at_ms / 1000).unwrap_or(0),
                iat: u64::try_from(stored.created_at_ms / 1000).unwrap_or(0),
                sid: stored.family_id,
                jti: None,
            });
        }
        let claims = self.keys.verify_access(token).ok()?;
        let principal = self.authenticate(token).ok()?;
        debug_assert_eq!(principal.sid.as_deref(), Some(claims.sid.as_str()));
        Some(Introspection {
            token_type: "access_token",
            sub: claims.sub,
            username: claims.username,
            client_id: claims.client_id,
            scope: claims.scope,
            aud: claims.aud,
            iss: claims.iss,
            exp: claims.exp,
            iat: claims.iat,
            sid: claims.sid,
            jti: Some(claims.jti),
        })
    }
}
