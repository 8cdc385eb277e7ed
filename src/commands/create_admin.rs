//! `authmcp-gateway create-admin --username U --email E [--password P]`.
//!
//! Refuses a username or an email (compared without regard to case) another account has.
//! Safe beside a running gateway: the account is written in one transaction (waiting on SQLite's
//! busy timeout if the gateway is mid-write), and the gateway sees the new user on its next read,
//! so the administrator can log in at once.

use actors::auth::passwords::PasswordHasher;
use actors::storage::users::{self, NewUser, Role};
use actors::storage::{StorageError, in_transaction};

use crate::cli::CreateAdminArgs;
use crate::config::GatewayConfig;

use super::database::{IfMissing, open_and_migrate};
use super::password_input;

/// Longest accepted username, generous for email-like names and short enough for a table.
const MAX_USERNAME_CHARS: usize = 64;

pub fn run(cfg: &GatewayConfig, args: &CreateAdminArgs) -> anyhow::Result<()> {
    let username = args.username.trim();
    let email = args.email.trim();
    check_username(username)?;
    check_email(email)?;
    let (db, _) = open_and_migrate(cfg, IfMissing::Create)?;
    // Before asking for a password, so the operator doesn't type one for nothing.
    if db
        .run_blocking(|conn| users::find_by_username(conn, username))?
        .is_some()
    {
        anyhow::bail!("{}", already_exists(username));
    }
    if let Some(owner) = db.run_blocking(|conn| users::email_owner(conn, email, None))? {
        anyhow::bail!(
            "email `{email}` is already the address of user `{owner}`; choose another --email"
        );
    }
    let password =
        password_input::new_password(args.password.as_deref(), &cfg.auth.password_policy)?;
    let hash = PasswordHasher::new(cfg.auth.bcrypt_cost, 1).hash_blocking(&password)?;
    let created = db.run_blocking(|conn| {
        in_transaction(conn, |conn| {
            users::create_with_unused_email(
                conn,
                NewUser {
                    username,
                    email,
                    password_hash: &hash,
                    role: Role::Admin,
                },
            )
        })
    });
    let user = match created {
        Ok(user) => user,
        // Someone took the name or the address between our checks and the insert.
        Err(StorageError::Conflict(message)) => anyhow::bail!("{message}"),
        Err(err) => return Err(err.into()),
    };
    println!(
        "Created administrator `{}` <{}> (id {}). They can log in now.",
        user.username, user.email, user.id
    );
    Ok(())
}

fn already_exists(username: &str) -> String {
    format!(
        "user `{username}` already exists; choose another --username, or reset its password with \
         `authmcp-gateway user set-password {username}`"
    )
}

pub(crate) fn check_username(username: &str) -> anyhow::Result<()> {
    if username.is_empty() {
        anyhow::bail!("--username must not be empty");
    }
    if username.chars().count() > MAX_USERNAME_CHARS {
        anyhow::bail!("--username must be at most {MAX_USERNAME_CHARS} characters");
    }
    if username
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        anyhow::bail!("--username must not contain spaces or control characters");
    }
    Ok(())
}

fn check_email(email: &str) -> anyhow::Result<()> {
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if !valid {
        anyhow::bail!("--email `{email}` is not an email address (expected NAME@DOMAIN)");
    }
    Ok(())
}
