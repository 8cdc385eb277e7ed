//! The identity service: accounts, token issue and refresh, revocation, and the hot-path check.
//!
//! Request handlers must not wait on the database, yet a disabled user's token, a logged-out
//! session and a revoked API token have to stop working at once — even when the change was made
//! by `authmcp-gateway user disable` in another process. So the service keeps three immutable
//! snapshots that [`Identity::authenticate`] reads without waiting — the user directory (id →
//! enabled, role), the revoked token families, the active API tokens — and a refresher task that
//! polls their revision counters (bumped by database triggers) and reloads what moved. Changes
//! made through this process reload the snapshot they touch right after the write.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the service, `authenticate`, the refresher |
//! | `grants.rs` | `issue_tokens`, `refresh`, revocation, `introspect`, `logout` |
//! | `accounts.rs` | `login`, `register`, `me`, API token management |
//! | `management.rs` | administrators' account management: create, change, reset password, delete |
//! | `provisioning.rs` | local accounts for users of external issuers |

mod accounts;
mod grants;
mod management;
mod provisioning;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use accounts::{NewApiTokenRequest, Registration};
pub use grants::{Introspection, REFRESH_REUSED, TokenGrant, TokenResponse, UserRevocation};
pub use management::NewAccount;

use super::api_tokens::ApiTokens;
use super::keys::SigningKeys;
use super::passwords::{PasswordError, PasswordHasher, PasswordPolicy};
use super::revocation::Revocations;
use super::snapshot::Polled;
use super::tokens::{TokenError, TokenKeys};
use crate::storage::refresher::poll_revision;
use crate::storage::users::{self, Role, UserStatus};
use crate::storage::{Database, StorageError, tokens};

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// An access token from `POST /auth/login` (or `/auth/refresh`).
    Login,
    /// An access token issued to an OAuth client.
    OAuth,
    /// An API token (or a configured static bearer token).
    ApiToken,
    /// An access token from a configured external issuer (`[[auth.external_issuers]]`).
    External,
}

/// Who is making a request, as established from a verified credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
    /// The OAuth client the token was issued to (OAuth tokens only).
    pub client_id: Option<String>,
    /// Granted scopes; `None` means unrestricted (login and API tokens: the user's permissions).
    pub scopes: Option<Vec<String>>,
    /// The token family (login session / OAuth grant); `None` for API tokens.
    pub sid: Option<String>,
    pub credential: CredentialKind,
    /// The resource the access token is bound to (`aud`); `None` for API tokens.
    pub audience: Option<String>,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
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
    #[error("the token's session has been revoked")]
    Revoked,
    /// A refresh token that is unknown, expired, revoked, reused or bound to another client.
    #[error("invalid refresh token: {0}")]
    InvalidGrant(&'static str),
    /// Input that can never be valid (e.g. a resource that is not this gateway's).
    #[error("{0}")]
    InvalidRequest(String),
    /// A new account's fields break the rules (password policy, username, email); each listed.
    #[error("{}", .0.join("; "))]
    InvalidAccount(Vec<String>),
    #[error("{0}")]
    Conflict(String),
    /// The setup wizard came too late: an enabled administrator exists.
    #[error("an administrator already exists")]
    AdministratorExists,
    #[error("{0}")]
    NotFound(String),
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("password hashing: {0}")]
    Password(#[from] PasswordError),
}

/// The identity service's settings (from `[auth]`).
#[derive(Debug, Clone)]
pub struct IdentitySettings {
    pub refresh_ttl: Duration,
    /// A rotated refresh token presented again within this window gets a fresh pair instead of
    /// revoking its family (clients that retry after a lost response).
    pub refresh_reuse_grace: Duration,
    /// A new login / grant revokes the user's other families of the same client.
    pub enforce_single_session: bool,
    pub password_policy: PasswordPolicy,
    /// SHA-256 of each `auth.static_bearer_tokens` entry.
    pub static_token_hashes: Vec<[u8; 32]>,
    /// The user those tokens act as (required when there are any).
    pub static_tokens_user: Option<String>,
}

impl Default for IdentitySettings {
    fn default() -> Self {
        IdentitySettings {
            refresh_ttl: Duration::from_secs(7 * 24 * 3600),
            refresh_reuse_grace: Duration::from_secs(10),
            enforce_single_session: false,
            password_policy: PasswordPolicy::default(),
            static_token_hashes: Vec::new(),
            static_tokens_user: None,
        }
    }
}

pub struct Identity {
    db: Database,
    hasher: PasswordHasher,
    keys: TokenKeys,
    settings: IdentitySettings,
    /// id → (status, username).
    directory: Polled<HashMap<i64, (UserStatus, String)>>,
    revocations: Revocations,
    api_tokens: ApiTokens,
}

/// How often the refresher reloads the revocation snapshot regardless of the revision, to drop
/// entries that aged out, and prunes expired token rows.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(60);

impl Identity {
    /// Loads every snapshot once so the first request already sees them.
    pub async fn new(
        db: Database,
        hasher: PasswordHasher,
        keys: TokenKeys,
        settings: IdentitySettings,
    ) -> Result<Arc<Self>, AuthError> {
        let revocations = Revocations::new(keys.access_ttl());
        let api_tokens = ApiTokens::new(settings.static_token_hashes.clone());
        let identity = Arc::new(Identity {
            db,
            hasher,
            keys,
            settings,
            directory: Polled::new(HashMap::new()),
            revocations,
            api_tokens,
        });
        identity.refresh_directory().await?;
        identity.revocations.refresh(&identity.db, true).await?;
        identity.api_tokens.refresh(&identity.db, true).await?;
        Ok(identity)
    }

    /// The user static bearer tokens should act as, when configured but not (yet) a user: those
    /// tokens open nothing until it exists. For a warning at start.
    pub fn missing_static_tokens_user(&self) -> Option<&str> {
        let name = self.settings.static_tokens_user.as_deref()?;
        let exists = self.directory.load().values().any(|(_, n)| n == name);
        (self.api_tokens.has_static_tokens() && !exists).then_some(name)
    }

    pub fn keys(&self) -> &TokenKeys {
        &self.keys
    }

    /// The signing keys, for the JWKS and for ID tokens (`sign("JWT", &claims)`).
    pub fn signing_keys(&self) -> &Arc<SigningKeys> {
        self.keys.signing_keys()
    }

    pub fn settings(&self) -> &IdentitySettings {
        &self.settings
    }

    pub fn password_policy(&self) -> &PasswordPolicy {
        &self.settings.password_policy
    }

    /// The hot-path check: no I/O, no await. A JWT is verified (signature, claims, audience is
    /// one of ours), then its user and family are looked up in the snapshots; anything else is
    /// looked up as an API token.
    pub fn authenticate(&self, bearer: &str) -> Result<Principal, AuthError> {
        if bearer.bytes().filter(|b| *b == b'.').count() == 2 {
            let claims = self.keys.verify_access(bearer)?;
            let id = claims.user_id().ok_or(AuthError::UnknownUser)?;
            let status = self.user_status(id)?;
            if self.revocations.is_revoked(&claims.sid) {
                return Err(AuthError::Revoked);
            }
            let credential = if claims.client_id.is_some() {
                CredentialKind::OAuth
            } else {
                CredentialKind::Login
            };
            return Ok(Principal {
                user_id: id,
                username: claims.username,
                role: status.role,
                client_id: claims.client_id,
                scopes: claims
                    .scope
                    .map(|s| s.split_ascii_whitespace().map(str::to_string).collect()),
                sid: Some(claims.sid),
                credential,
                audience: Some(claims.aud),
            });
        }
        let entry = self
            .api_tokens
            .find(bearer)
            .ok_or_else(|| TokenError::Invalid("unknown token".into()))?;
        let status = self.user_status(entry.user_id)?;
        Ok(Principal {
            user_id: entry.user_id,
            username: self.username_of(entry.user_id),
            role: status.role,
            client_id: None,
            scopes: None,
            sid: None,
            credential: CredentialKind::ApiToken,
            audience: None,
        })
    }

    pub(crate) fn user_status(&self, id: i64) -> Result<UserStatus, AuthError> {
        let directory = self.directory.load();
        let (status, _) = directory.get(&id).ok_or(AuthError::UnknownUser)?;
        let status = *status;
        if !status.enabled {
            return Err(AuthError::AccountDisabled);
        }
        Ok(status)
    }

    /// API tokens carry no name; the directory's copy of the usernames supplies it.
    fn username_of(&self, id: i64) -> String {
        self.directory
            .load()
            .get(&id)
            .map(|(_, name)| name.clone())
            .unwrap_or_else(|| format!("user-{id}"))
    }

    /// A user created moments ago (e.g. by the CLI in another process) must be able to use a
    /// token issued for them at once, not after the refresher's next tick.
    pub(crate) async fn ensure_in_directory(&self, user_id: i64) -> Result<(), AuthError> {
        if !self.directory.load().contains_key(&user_id) {
            self.refresh_directory().await?;
        }
        Ok(())
    }

    /// Reloads the directory when the users table changed since the last load.
    pub async fn refresh_directory(&self) -> Result<bool, AuthError> {
        let changed = self
            .directory
            .refresh(&self.db, users::revision, load_directory, false)
            .await?;
        if changed && let Some(name) = &self.settings.static_tokens_user {
            let directory = self.directory.load();
            let id = directory
                .iter()
                .find_map(|(id, (_, n))| (n == name).then_some(*id));
            self.api_tokens.set_static_user(id);
        }
        Ok(changed)
    }

    /// Reloads the revoked families at once (after a revocation made in this process).
    pub async fn refresh_revocations(&self) -> Result<(), AuthError> {
        self.revocations.refresh(&self.db, false).await?;
        Ok(())
    }

    /// Polls the revision counters until `stop` turns true (the shared loop: errors are logged
    /// and retried, since a database hiccup must not take authentication down).
    pub async fn run_refresher(
        self: Arc<Self>,
        every: Duration,
        log: slog::Logger,
        stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut last_housekeeping = Instant::now();
        poll_revision("identity", every, log, stop, || {
            let housekeeping = last_housekeeping.elapsed() >= HOUSEKEEPING_EVERY;
            if housekeeping {
                last_housekeeping = Instant::now();
            }
            let service = self.clone();
            async move { service.poll_once(housekeeping).await.map(|()| false) }
        })
        .await
    }

    async fn poll_once(&self, housekeeping: bool) -> Result<(), AuthError> {
        self.refresh_directory().await?;
        self.revocations.refresh(&self.db, housekeeping).await?;
        self.api_tokens.refresh(&self.db, housekeeping).await?;
        self.api_tokens.flush_last_used(&self.db).await?;
        if housekeeping {
            let now = crate::storage::now_ms();
            self.db.run(move |c| tokens::prune(c, now)).await?;
        }
        Ok(())
    }
}

/// Every user's status and name.
fn load_directory(
    c: &mut crate::storage::DbConn,
) -> Result<HashMap<i64, (UserStatus, String)>, StorageError> {
    Ok(users::directory(c)?
        .into_iter()
        .map(|(s, name)| (s.id, (s, name)))
        .collect())
}
