//! Accounts: login, self-registration, the caller's profile, and API tokens.

use std::time::Duration;

use super::management::NewAccount;
use super::{AuthError, Identity, TokenGrant, TokenResponse};
use crate::auth::opaque;
use crate::storage::api_tokens::{self, ApiTokenInfo, NewApiToken};
use crate::storage::users::{self, Role, User};
use crate::storage::{StorageError, now_ms};

/// `POST /auth/register`'s fields.
#[derive(Debug, Clone)]
pub struct Registration {
    pub username: String,
    pub email: String,
    pub password: String,
}

/// A new API token's fields.
#[derive(Debug, Clone)]
pub struct NewApiTokenRequest {
    pub user_id: i64,
    pub name: String,
    pub expires_in: Option<Duration>,
}

/// Everything wrong with a new account's fields (username, email, password policy), each as a
/// sentence fragment; empty when it may be created.
pub(super) fn account_problems(
    username: &str,
    email: &str,
    password: &str,
    policy: &crate::auth::passwords::PasswordPolicy,
) -> Vec<String> {
    let mut problems = Vec::new();
    if username.is_empty() || username.chars().count() > 64 {
        problems.push("username must be 1 to 64 characters long".to_string());
    } else if !username
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        problems.push("username may only contain letters, digits and . _ - @".to_string());
    }
    if !valid_email(email) {
        problems.push("email must be an address like name@example.com".to_string());
    }
    problems.extend(password_problems(password, policy));
    problems
}

pub(super) fn valid_email(email: &str) -> bool {
    email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !email.chars().any(char::is_whitespace)
}

pub(super) fn password_problems(
    password: &str,
    policy: &crate::auth::passwords::PasswordPolicy,
) -> Vec<String> {
    match policy.check(password) {
        Ok(()) => Vec::new(),
        Err(rules) => rules.into_iter().map(|r| format!("password {r}")).collect(),
    }
}

/// The cost a bcrypt hash was made with (`$2b$12$…`).
fn bcrypt_cost_of(hash: &str) -> Option<u32> {
    hash.split('$').nth(2)?.parse().ok()
}

impl Identity {
    /// Verifies a password off the async threads and issues a login token pair (audience
    /// `<public_url>/mcp`, no client, no scope).
    pub async fn login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(User, TokenResponse), AuthError> {
        let user = self.verify_login(username, password).await?;
        let tokens = self
            .issue_tokens(TokenGrant {
                user_id: user.id,
                client_id: None,
                scope: None,
                resource: self.keys.access_audience().to_string(),
                with_refresh: true,
                family: None,
            })
            .await?;
        Ok((user, tokens))
    }

    /// The login check shared by `/auth/login` and the authorization server's login page: the
    /// password verified off the async threads (a dummy verification for unknown users, so both
    /// failures take as long and answer alike), then the account's state. Rehashes the password
    /// when the configured bcrypt cost changed since it was stored, and records the login.
    pub async fn verify_login(&self, username: &str, password: &str) -> Result<User, AuthError> {
        let name = username.to_string();
        let user = self
            .db
            .run(move |c| users::find_by_username(c, &name))
            .await?;
        let Some(user) = user else {
            self.hasher.verify_dummy(password).await;
            return Err(AuthError::InvalidCredentials);
        };
        if !self.hasher.verify(password, &user.password_hash).await? {
            return Err(AuthError::InvalidCredentials);
        }
        // Only after the password matched, so the answer reveals nothing to a guesser.
        if !user.enabled {
            return Err(AuthError::AccountDisabled);
        }
        let id = user.id;
        if bcrypt_cost_of(&user.password_hash) != Some(self.hasher.cost()) {
            let hash = self.hasher.hash(password).await?;
            self.db.run(move |c| users::rehash(c, id, &hash)).await?;
        }
        self.db.run(move |c| users::record_login(c, id)).await?;
        Ok(user)
    }

    /// Creates a `user`-role account after checking the password policy. The caller decides
    /// whether registration is open.
    pub async fn register(&self, new: Registration) -> Result<User, AuthError> {
        self.create_account(NewAccount {
            username: new.username,
            email: new.email,
            password: new.password,
            role: Role::User,
        })
        .await
    }

    /// Whether an enabled administrator exists, from the directory snapshot (no I/O; another
    /// process's `create-admin` shows within one refresher tick).
    pub fn admin_exists(&self) -> bool {
        self.directory
            .load()
            .values()
            .any(|(status, _)| status.enabled && status.role == Role::Admin)
    }

    /// The caller's account (`GET /auth/me`).
    pub async fn me(&self, user_id: i64) -> Result<User, AuthError> {
        self.db
            .run(move |c| users::find_by_id(c, user_id))
            .await?
            .ok_or(AuthError::UnknownUser)
    }

    /// A user by name (the admin API and CLI name users that way).
    pub async fn user_by_name(&self, username: &str) -> Result<Option<User>, AuthError> {
        let name = username.to_string();
        Ok(self
            .db
            .run(move |c| users::find_by_username(c, &name))
            .await?)
    }

    /// Creates an API token for a user; the token is returned once and only its hash is kept.
    pub async fn create_api_token(
        &self,
        request: NewApiTokenRequest,
    ) -> Result<(String, ApiTokenInfo), AuthError> {
        let name = request.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AuthError::InvalidRequest(
                "name must be 1 to 100 characters long".into(),
            ));
        }
        let user_id = request.user_id;
        if self
            .db
            .run(move |c| users::find_by_id(c, user_id))
            .await?
            .is_none()
        {
            return Err(AuthError::NotFound(format!("no user with id {user_id}")));
        }
        let opaque::MintedApiToken {
            token,
            hash_hex: hash,
            display_prefix: prefix,
        } = opaque::mint_api_token();
        let expires_at_ms = request
            .expires_in
            .map(|d| now_ms().saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)));
        let info = self
            .db
            .run(move |c| {
                api_tokens::create(
                    c,
                    &NewApiToken {
                        user_id,
                        name: &name,
                        token_hash: &hash,
                        prefix: &prefix,
                        expires_at_ms,
                    },
                )
            })
            .await?;
        self.api_tokens.refresh(&self.db, false).await?;
        self.ensure_in_directory(user_id).await?;
        Ok((token, info))
    }

    pub async fn list_api_tokens(
        &self,
        user_id: Option<i64>,
    ) -> Result<Vec<ApiTokenInfo>, AuthError> {
        Ok(self.db.run(move |c| api_tokens::list(c, user_id)).await?)
    }

    /// Revokes at once; `NotFound` for an unknown id.
    pub async fn revoke_api_token(&self, id: i64) -> Result<ApiTokenInfo, AuthError> {
        let info = self
            .db
            .run(move |c| api_tokens::revoke(c, id))
            .await
            .map_err(|e| match e {
                StorageError::NotFound(m) => AuthError::NotFound(m),
                other => other.into(),
            })?;
        self.api_tokens.refresh(&self.db, false).await?;
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bcrypt_cost_is_read_from_the_hash() {
        assert_eq!(
            super::bcrypt_cost_of("$2b$12$abcdefghijklmnopqrstuu5Y6bV3e2lFv2KxQvJ7w5d7h5O0b1nUy"),
            Some(12)
        );
        assert_eq!(super::bcrypt_cost_of("$2y$04$x"), Some(4));
        assert_eq!(super::bcrypt_cost_of("plain"), None);
    }
}
