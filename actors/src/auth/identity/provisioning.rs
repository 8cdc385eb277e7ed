//! Local accounts for users who sign in through an external issuer (`auto_provision = true`).
//!
//! The account exists so policies, groups, sessions and the console can name the user like any
//! other. Its password is a bcrypt hash of 256 random bits that were never shown to anyone, so
//! the account cannot log in with a password; an operator may still set one
//! (`authmcp-gateway user set-password`).

use base64::Engine as _;
use rand::RngCore;

use super::{AuthError, Identity};
use crate::storage::users::{self, NewUser, Role, User};

impl Identity {
    /// Creates the account and makes it visible to [`Identity::authenticate`] at once.
    pub async fn provision_external_user(
        &self,
        username: &str,
        email: Option<&str>,
        role: Role,
    ) -> Result<User, AuthError> {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let unusable = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
        let hash = self.hasher.hash(&unusable).await?;
        let (name, email) = (username.to_string(), email.unwrap_or("").trim().to_string());
        let user = self
            .db
            .run(move |c| {
                crate::storage::in_transaction(c, |c| {
                    // An address another account already has is not taken over: the account is
                    // created without one. Refusing would lock an issuer's user out because of a
                    // local account (or another issuer's claim) they cannot change.
                    users::lock_emails(c)?;
                    let taken = !email.is_empty() && users::email_owner(c, &email, None)?.is_some();
                    let email = if taken { String::new() } else { email };
                    users::create(
                        c,
                        NewUser {
                            username: &name,
                            email: &email,
                            password_hash: &hash,
                            role,
                        },
                    )
                })
            })
            .await?;
        self.refresh_directory().await?;
        Ok(user)
    }
}
