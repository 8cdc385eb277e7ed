//! The identity service: login, token verification and the live user directory.
//!
//! Request handlers must not wait on the database, yet a disabled user's token has to stop working
//! at once — even when the user was disabled by `authmcp-gateway user disable` in another process.
//! So the service keeps an immutable snapshot of every user's status (id → enabled, role) that
//! handlers read without waiting, and a refresher task that polls the users table's revision
//! counter (bumped by database triggers on every change) and reloads the snapshot when it moves.
//! Changes made through this process call [`Identity::refresh_directory`] directly.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;

use super::passwords::{PasswordError, PasswordHasher};
use super::tokens::{Claims, IssuedToken, TokenError, TokenKeys, TokenKind};
use crate::storage::refresher::poll_revision;
use crate::storage::users::{self, Role, UserStatus};
use crate::storage::{Database, StorageError};

/// Who is making a request, as established from a verified access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// The tokens a successful login returns.
#[derive(Debug, Clone)]
pub struct LoginTokens {
    pub access: IssuedToken,
    pub refresh: IssuedToken,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Same answer for unknown user and wrong password: no account enumeration.
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("this account is disabled")]
    AccountDisabled,
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("the token's user no longer exists")]
    UnknownUser,
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("password hashing: {0}")]
    Password(#[from] PasswordError),
}

pub struct Identity {
    db: Database,
    hasher: PasswordHasher,
    keys: TokenKeys,
    directory: ArcSwap<HashMap<i64, UserStatus>>,
    revision: AtomicI64,
}

impl Identity {
    /// Loads the user directory once so the first request already sees it.
    pub async fn new(
        db: Database,
        hasher: PasswordHasher,
        keys: TokenKeys,
    ) -> Result<Arc<Self>, AuthError> {
        let identity = Arc::new(Identity {
            db,
            hasher,
            keys,
            directory: ArcSwap::from_pointee(HashMap::new()),
            revision: AtomicI64::new(i64::MIN),
        });
        identity.refresh_directory().await?;
        Ok(identity)
    }

    pub fn keys(&self) -> &TokenKeys {
        &self.keys
    }

    /// Verifies a password off the async threads and issues an access/refresh pair.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(Principal, LoginTokens), AuthError> {
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
        self.db.run(move |c| users::record_login(c, id)).await?;
        // A user created moments ago (e.g. by `create-admin` in another process) must be able to
        // use the token at once, not after the refresher's next tick.
        if !self.directory.load().contains_key(&id) {
            self.refresh_directory().await?;
        }
        let tokens = LoginTokens {
            access: self
                .keys
                .issue(TokenKind::Access, user.id, &user.username)?,
            refresh: self
                .keys
                .issue(TokenKind::Refresh, user.id, &user.username)?,
        };
        Ok((
            Principal {
                user_id: user.id,
                username: user.username,
                role: user.role,
            },
            tokens,
        ))
    }

    /// The hot-path check: signature and claims, then the directory snapshot. No I/O, no await.
    pub fn authenticate(&self, bearer: &str) -> Result<Principal, AuthError> {
        let claims: Claims = self.keys.verify(bearer, TokenKind::Access)?;
        let id = claims.user_id().ok_or(AuthError::UnknownUser)?;
        let directory = self.directory.load();
        let status = directory.get(&id).ok_or(AuthError::UnknownUser)?;
        if !status.enabled {
            return Err(AuthError::AccountDisabled);
        }
        Ok(Principal {
            user_id: id,
            username: claims.username,
            role: status.role,
        })
    }

    /// Reloads the directory when the users table changed since the last load.
    pub async fn refresh_directory(&self) -> Result<bool, AuthError> {
        let current = self.db.run(users::revision).await?;
        if current == self.revision.load(Ordering::Acquire) {
            return Ok(false);
        }
        let statuses = self.db.run(users::statuses).await?;
        let map: HashMap<i64, UserStatus> = statuses.into_iter().map(|s| (s.id, s)).collect();
        self.directory.store(Arc::new(map));
        self.revision.store(current, Ordering::Release);
        Ok(true)
    }

    /// Polls the revision counter until `stop` resolves (see [`poll_revision`]).
    pub async fn run_directory_refresher(
        self: Arc<Self>,
        every: Duration,
        log: slog::Logger,
        stop: tokio::sync::watch::Receiver<bool>,
    ) {
        poll_revision("user directory", every, log, stop, || {
            self.refresh_directory()
        })
        .await
    }
}
