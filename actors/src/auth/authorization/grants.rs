//! The token endpoint's other grants, revocation (RFC 7009) and introspection (RFC 7662).
//!
//! - `refresh_token`: rotation through [`Identity::refresh`] (reuse detection, client binding);
//!   `scope` may only narrow (the access token gets the narrower scope, the new refresh token
//!   keeps the grant's), `resource` may only repeat the grant's.
//! - `client_credentials`: least privilege. Only a confidential client registered with that
//!   grant (which needs the operator's initial access token) and a `service_user` in its
//!   metadata naming an enabled, non-admin user; the token acts as that user under their
//!   policies, limited to MCP scopes within the client's registered scope. No refresh token.
//! - `password`: only when `oauth.password_grant_enabled` (off by default).

use serde_json::Value;

use super::{AuthorizationService, GrantError, GrantResponse, requested_scope};
use crate::auth::client_metadata::GrantType;
use crate::auth::clients::Client;
use crate::auth::identity::{Introspection, TokenGrant};
use crate::auth::opaque::REFRESH_PREFIX;
use crate::auth::scopes::{Scope, ScopeSet};
use crate::auth::tokens::AccessGrant;
use crate::storage::users::Role;

/// Who asks the introspection endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntrospectionCaller {
    /// An authenticated confidential client: it learns only about its own tokens.
    Client(String),
    /// An administrator's login or API token: every token.
    Admin,
}

/// The metadata field naming the user a `client_credentials` client acts as.
pub const SERVICE_USER_FIELD: &str = "service_user";

impl AuthorizationService {
    /// The `refresh_token` grant.
    pub async fn refresh(
        &self,
        client: &Client,
        refresh_token: &str,
        scope: Option<&str>,
        resource: Option<&str>,
    ) -> Result<GrantResponse, GrantError> {
        if !client.has_grant(GrantType::RefreshToken) {
            return Err(GrantError::UnauthorizedClient(
                "this client is not registered for the refresh_token grant".into(),
            ));
        }
        let stored = self
            .identity
            .find_refresh_token(refresh_token)
            .await?
            .filter(|s| s.client_id.as_deref() == Some(client.client_id.as_str()))
            .ok_or_else(|| GrantError::InvalidGrant("unknown refresh token".into()))?;
        if resource.is_some_and(|r| r != stored.resource) {
            return Err(GrantError::InvalidTarget(format!(
                "resource must be the one the grant was issued for ({})",
                stored.resource
            )));
        }
        let granted =
            ScopeSet::parse_known(stored.scope.as_deref().unwrap_or("")).unwrap_or_default();
        let narrowed = match scope.map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(text) => {
                let asked = requested_scope(Some(text))?;
                if !asked.is_subset_of(&granted) {
                    return Err(GrantError::InvalidScope(format!(
                        "a refresh may only narrow the scope; this grant has `{granted}`"
                    )));
                }
                Some(asked)
            }
        };
        let mut tokens = self
            .identity
            .refresh(refresh_token, Some(&client.client_id))
            .await?;
        if let Some(asked) = narrowed.filter(|a| *a != granted) {
            // The rotated refresh token keeps the grant's scope (RFC 6749 §6); only this
            // access token is narrower.
            let user = self.identity.me(tokens.user_id).await?;
            let scope = asked.to_string();
            let access = self
                .identity
                .keys()
                .issue_access(&AccessGrant {
                    user_id: tokens.user_id,
                    username: &user.username,
                    audience: &stored.resource,
                    scope: Some(&scope),
                    client_id: Some(&client.client_id),
                    sid: &tokens.sid,
                })
                .map_err(|e| GrantError::Server(e.to_string()))?;
            tokens.access_token = access.token;
            tokens.scope = Some(scope);
        }
        Ok(GrantResponse {
            tokens,
            id_token: None,
        })
    }

    /// The `client_credentials` grant (see the module documentation for who may use it).
    pub async fn client_credentials(
        &self,
        client: &Client,
        scope: Option<&str>,
        resource: &str,
    ) -> Result<GrantResponse, GrantError> {
        if client.is_public() || !client.has_grant(GrantType::ClientCredentials) {
            return Err(GrantError::UnauthorizedClient(
                "client_credentials needs a confidential client registered for that grant (with \
                 the operator's initial access token)"
                    .into(),
            ));
        }
        let Some(Value::String(service_user)) = client.metadata.get(SERVICE_USER_FIELD) else {
            return Err(GrantError::UnauthorizedClient(format!(
                "this client names no `{SERVICE_USER_FIELD}` to act as; the operator must \
                 register it with one"
            )));
        };
        let user = self
            .identity
            .user_by_name(service_user)
            .await?
            .filter(|u| u.enabled && u.role != Role::Admin)
            .ok_or_else(|| {
                GrantError::UnauthorizedClient(format!(
                    "the client's service user `{service_user}` does not exist, is disabled or \
                     is an administrator (machine clients never act as one)"
                ))
            })?;
        let asked = requested_scope(scope)?;
        if asked.iter().any(|s| !s.is_mcp()) {
            return Err(GrantError::InvalidScope(
                "client_credentials grants MCP scopes only (no user signs in)".into(),
            ));
        }
        if let Some(registered) = client.scope.as_deref() {
            let registered = ScopeSet::parse_known(registered).unwrap_or_default();
            if !asked.is_subset_of(&registered) {
                return Err(GrantError::InvalidScope(format!(
                    "this client is registered for `{registered}` only"
                )));
            }
        }
        let tokens = self
            .identity
            .issue_tokens(TokenGrant {
                user_id: user.id,
                client_id: Some(client.client_id.clone()),
                scope: Some(asked.to_string()),
                resource: resource.to_string(),
                with_refresh: false,
                family: None,
            })
            .await?;
        Ok(GrantResponse {
            tokens,
            id_token: None,
        })
    }

    /// The resource owner password grant, when the operator enabled it.
    pub async fn password(
        &self,
        client: &Client,
        username: &str,
        password: &str,
        scope: Option<&str>,
        resource: &str,
    ) -> Result<GrantResponse, GrantError> {
        if !self.settings.password_grant_enabled {
            return Err(GrantError::UnsupportedGrantType(
                "the password grant is switched off (oauth.password_grant_enabled)".into(),
            ));
        }
        let asked = requested_scope(scope)?;
        let user = self.identity.verify_login(username, password).await?;
        let tokens = self
            .identity
            .issue_tokens(TokenGrant {
                user_id: user.id,
                client_id: Some(client.client_id.clone()),
                scope: Some(asked.to_string()),
                resource: resource.to_string(),
                with_refresh: Self::gets_refresh_tokens(client),
                family: None,
            })
            .await?;
        let id_token = if asked.contains(Scope::OpenId) {
            let now = crate::auth::tokens::unix_now();
            Some(
                self.id_token(client, user.id, &asked, now, None, &tokens.access_token)
                    .await?,
            )
        } else {
            None
        };
        Ok(GrantResponse { tokens, id_token })
    }

    /// RFC 7009: revokes the grant (token family) a refresh or access token of this client
    /// belongs to. Unknown, expired and other clients' tokens are left alone and still answered
    /// with success, so the endpoint reveals nothing about tokens the caller does not own.
    /// Returns the user whose grant was revoked (for the audit trail; never for the client),
    /// `None` when nothing of this client's was named.
    pub async fn revoke(&self, client: &Client, token: &str) -> Result<Option<i64>, GrantError> {
        if token.starts_with(REFRESH_PREFIX) {
            return match self
                .identity
                .revoke_refresh_token(token, Some(&client.client_id))
                .await
            {
                Ok(user) => Ok(user),
                Err(crate::auth::identity::AuthError::InvalidGrant(_)) => Ok(None),
                Err(other) => Err(other.into()),
            };
        }
        if let Ok(claims) = self.identity.keys().verify_access(token)
            && claims.client_id.as_deref() == Some(client.client_id.as_str())
        {
            self.identity.revoke_family(&claims.sid).await?;
            return Ok(claims.user_id());
        }
        Ok(None)
    }

    /// RFC 7662: what an active token says, for callers allowed to know; `None` (answered as
    /// `{"active": false}`) for anything inactive or not the caller's to see.
    pub async fn introspect(
        &self,
        token: &str,
        caller: &IntrospectionCaller,
    ) -> Option<Introspection> {
        let info = self.identity.introspect(token).await?;
        match caller {
            IntrospectionCaller::Admin => Some(info),
            IntrospectionCaller::Client(id) if info.client_id.as_deref() == Some(id.as_str()) => {
                Some(info)
            }
            IntrospectionCaller::Client(_) => None,
        }
    }
}
