//! Account management for administrators (the admin API's users, the console's users page):
//! create, change, disable, reset a password, delete. Every change that takes access away
//! (disable, password reset, delete) signs the user's sessions out and reaches the request
//! path's snapshots before the call returns; none may leave the gateway without an enabled
//! administrator.

use super::accounts::{account_problems, password_problems, valid_email};
use super::{AuthError, Identity, Registration};
use crate::storage::users::{self, AccountChange, NewUser, Role, User};
use crate::storage::{StorageError, in_transaction, policies, tokens};

/// A new account's fields (self-registration creates `user`s; administrators choose the role).
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub username: String,
    pub email: String,
    pub password: String,
    pub role: Role,
}

/// Who may be created: anyone (a taken name or email aside), or only the first administrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Creation {
    Any,
    FirstAdmin,
}

impl Identity {
    /// Every account, oldest first.
    pub async fn users(&self) -> Result<Vec<User>, AuthError> {
        Ok(self.db.run(users::list).await?)
    }

    /// Live sessions: unrevoked, unexpired token families (logins and OAuth grants).
    pub async fn live_sessions(&self) -> Result<i64, AuthError> {
        Ok(self.db.run(tokens::count_live_families).await?)
    }

    /// One account; `NotFound` when there is none with that id.
    pub async fn user(&self, id: i64) -> Result<User, AuthError> {
        self.db
            .run(move |c| users::find_by_id(c, id))
            .await?
            .ok_or_else(|| no_user(id))
    }

    /// Creates an account after checking username, email and the password policy. Refused
    /// (`Conflict`) when the username is taken or another account has the email (compared
    /// without regard to case).
    pub async fn create_account(&self, new: NewAccount) -> Result<User, AuthError> {
        self.insert_account(new, Creation::Any).await
    }

    /// The setup wizard's first administrator: the same rules, created only while no enabled
    /// administrator exists — checked and written in one transaction (on PostgreSQL under an
    /// advisory lock, so two concurrent wizards cannot both win); `AdministratorExists` when one
    /// does, `Conflict` for a taken username or email.
    pub async fn create_first_admin(&self, new: Registration) -> Result<User, AuthError> {
        let account = NewAccount {
            username: new.username,
            email: new.email,
            password: new.password,
            role: Role::Admin,
        };
        self.insert_account(account, Creation::FirstAdmin).await
    }

    async fn insert_account(&self, new: NewAccount, creation: Creation) -> Result<User, AuthError> {
        let (username, email) = (
            new.username.trim().to_string(),
            new.email.trim().to_string(),
        );
        let problems = account_problems(
            &username,
            &email,
            &new.password,
            &self.settings.password_policy,
        );
        if !problems.is_empty() {
            return Err(AuthError::InvalidAccount(problems));
        }
        let hash = self.hasher.hash(&new.password).await?;
        let role = new.role;
        // `None`: the wizard lost to an administrator created meanwhile.
        let created = self
            .db
            .run(move |c| {
                in_transaction(c, |c| {
                    if creation == Creation::FirstAdmin {
                        if let crate::storage::DbConn::Postgres(pg) = c {
                            use diesel::RunQueryDsl as _;
                            diesel::sql_query("SELECT pg_advisory_xact_lock(7101)").execute(pg)?;
                        }
                        if users::count_admins(c)? > 0 {
                            return Ok(None);
                        }
                    }
                    users::create_with_unused_email(
                        c,
                        NewUser {
                            username: &username,
                            email: &email,
                            password_hash: &hash,
                            role,
                        },
                    )
                    .map(Some)
                })
            })
            .await
            .map_err(conflict_as_auth)?
            .ok_or(AuthError::AdministratorExists)?;
        self.refresh_directory().await?;
        Ok(created)
    }

    /// Changes email, role or status of account `id` on behalf of administrator `by`. Disabling
    /// signs the user out everywhere. Refused: changing one's own role or status (an admin
    /// locking themselves out by accident), leaving no enabled administrator, and an email
    /// another account already has (compared without regard to case).
    pub async fn change_account(
        &self,
        id: i64,
        change: AccountChange,
        by: i64,
    ) -> Result<User, AuthError> {
        if let Some(email) = &change.email
            && !valid_email(email.trim())
        {
            return Err(AuthError::InvalidAccount(vec![
                "email must be an address like name@example.com".into(),
            ]));
        }
        let current = self.user(id).await?;
        // Only a new address must be free: an existing duplicate does not block a role change.
        let new_email = change
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.eq_ignore_ascii_case(&current.email))
            .map(str::to_string);
        let demoted = change.role.is_some_and(|r| r != current.role);
        let disabled = change.enabled == Some(false) && current.enabled;
        if id == by && (demoted || disabled) {
            return Err(AuthError::Conflict(
                "you cannot change your own role or disable your own account; ask another \
                 administrator"
                    .into(),
            ));
        }
        let change = AccountChange {
            email: change.email.map(|e| e.trim().to_string()),
            ..change
        };
        let updated = self
            .db
            .run(move |c| {
                in_transaction(c, |c| {
                    users::lock_emails(c)?;
                    if let Some(email) = &new_email
                        && let Some(owner) = users::email_owner(c, email, Some(id))?
                    {
                        return Err(StorageError::Conflict(format!(
                            "email `{email}` is already the address of user {owner}"
                        )));
                    }
                    let updated = users::change(c, id, &change)?;
                    if users::count_admins(c)? == 0 {
                        return Err(StorageError::Conflict(
                            "the gateway must keep at least one enabled administrator".into(),
                        ));
                    }
                    if disabled {
                        tokens::revoke_user_families(c, id, tokens::FamilyFilter::Every)?;
                    }
                    Ok(updated)
                })
            })
            .await
            .map_err(conflict_as_auth)?;
        self.refresh_directory().await?;
        self.refresh_revocations().await?;
        Ok(updated)
    }

    /// Sets a new password for account `id` (policy checked) and signs the user out everywhere;
    /// returns how many sessions ended.
    pub async fn reset_password(&self, id: i64, password: &str) -> Result<usize, AuthError> {
        let problems = password_problems(password, &self.settings.password_policy);
        if !problems.is_empty() {
            return Err(AuthError::InvalidAccount(problems));
        }
        let user = self.user(id).await?;
        let hash = self.hasher.hash(password).await?;
        let revoked = self
            .db
            .run(move |c| {
                in_transaction(c, |c| {
                    users::set_password_hash(c, &user.username, &hash)?;
                    tokens::revoke_user_families(c, id, tokens::FamilyFilter::Every)
                })
            })
            .await?;
        self.refresh_revocations().await?;
        Ok(revoked)
    }

    /// Deletes account `id` with its sessions, tokens and its own `user:<name>` policies (so a
    /// later account with the same name inherits nothing). Refused for one's own account and for
    /// the last enabled administrator.
    pub async fn delete_account(&self, id: i64, by: i64) -> Result<User, AuthError> {
        if id == by {
            return Err(AuthError::Conflict(
                "you cannot delete your own account; ask another administrator".into(),
            ));
        }
        let removed = self
            .db
            .run(move |c| {
                in_transaction(c, |c| {
                    let removed = users::delete(c, id)?;
                    if users::count_admins(c)? == 0 {
                        return Err(StorageError::Conflict(
                            "the gateway must keep at least one enabled administrator".into(),
                        ));
                    }
                    policies::delete_subject(c, &format!("user:{}", removed.username))?;
                    Ok(removed)
                })
            })
            .await
            .map_err(conflict_as_auth)?;
        self.refresh_directory().await?;
        self.refresh_revocations().await?;
        Ok(removed)
    }
}

fn no_user(id: i64) -> AuthError {
    AuthError::NotFound(format!("no user with id {id}"))
}

fn conflict_as_auth(error: StorageError) -> AuthError {
    match error {
        StorageError::Conflict(message) => AuthError::Conflict(message),
        StorageError::NotFound(message) => AuthError::NotFound(message),
        other => other.into(),
    }
}
