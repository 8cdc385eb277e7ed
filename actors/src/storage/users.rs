//! User accounts (`users` table). Written by the auth core and the `create-admin` / `user`
//! commands; the gateway keeps an in-memory snapshot of [`statuses`] and refreshes it when
//! [`revision`] changes, which is how a change made by the CLI in another process reaches it.

use std::fmt;
use std::str::FromStr;

use diesel::prelude::*;

use super::schema::{revisions, users};
use super::{DbConn, StorageError, now_ms};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    User,
}

impl Role {
    /// The value stored in `users.role`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = StorageError;

    fn from_str(s: &str) -> Result<Role, StorageError> {
        match s {
            "admin" => Ok(Role::Admin),
            "user" => Ok(Role::User),
            other => Err(StorageError::Corrupt(format!(
                "unknown user role `{other}`"
            ))),
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub role: Role,
    pub enabled: bool,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub last_login_at_ms: Option<i64>,
}

/// Hand-written so the password hash never reaches a log line through `{:?}`.
impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("password_hash", &"<redacted>")
            .field("role", &self.role)
            .field("enabled", &self.enabled)
            .field("created_at_ms", &self.created_at_ms)
            .field("updated_at_ms", &self.updated_at_ms)
            .field("last_login_at_ms", &self.last_login_at_ms)
            .finish()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: &'a str,
    /// A bcrypt hash, never the password itself.
    pub password_hash: &'a str,
    pub role: Role,
}

/// What the gateway needs per user on every request: enough to refuse a disabled user's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserStatus {
    pub id: i64,
    pub enabled: bool,
    pub role: Role,
}

/// The row as stored: flags are 0/1 integers and roles text (portable MultiConnection types).
type UserRow = (
    i64,
    String,
    String,
    String,
    String,
    i32,
    i64,
    i64,
    Option<i64>,
);

type UserColumns = (
    users::id,
    users::username,
    users::email,
    users::password_hash,
    users::role,
    users::enabled,
    users::created_at,
    users::updated_at,
    users::last_login_at,
);

const USER_COLUMNS: UserColumns = (
    users::id,
    users::username,
    users::email,
    users::password_hash,
    users::role,
    users::enabled,
    users::created_at,
    users::updated_at,
    users::last_login_at,
);

fn from_row(row: UserRow) -> Result<User, StorageError> {
    let (id, username, email, password_hash, role, enabled, created, updated, last_login) = row;
    Ok(User {
        id,
        username,
        email,
        password_hash,
        role: role.parse()?,
        enabled: enabled != 0,
        created_at_ms: created,
        updated_at_ms: updated,
        last_login_at_ms: last_login,
    })
}

/// Fails with `Conflict("user `x` already exists")` when the username is taken.
pub fn create(conn: &mut DbConn, new: NewUser<'_>) -> Result<User, StorageError> {
    let now = now_ms();
    let row = diesel::insert_into(users::table)
        .values((
            users::username.eq(new.username),
            users::email.eq(new.email),
            users::password_hash.eq(new.password_hash),
            users::role.eq(new.role.as_str()),
            users::enabled.eq(1),
            users::created_at.eq(now),
            users::updated_at.eq(now),
        ))
        .returning(USER_COLUMNS)
        .get_result::<UserRow>(conn)
        .map_err(|err| {
            StorageError::conflict_or(err, || format!("user `{}` already exists", new.username))
        })?;
    from_row(row)
}

pub fn find_by_username(conn: &mut DbConn, name: &str) -> Result<Option<User>, StorageError> {
    users::table
        .filter(users::username.eq(name))
        .select(USER_COLUMNS)
        .first::<UserRow>(conn)
        .optional()?
        .map(from_row)
        .transpose()
}

pub fn find_by_id(conn: &mut DbConn, id: i64) -> Result<Option<User>, StorageError> {
    users::table
        .find(id)
        .select(USER_COLUMNS)
        .first::<UserRow>(conn)
        .optional()?
        .map(from_row)
        .transpose()
}

/// Every user, oldest first.
pub fn list(conn: &mut DbConn) -> Result<Vec<User>, StorageError> {
    users::table
        .select(USER_COLUMNS)
        .order(users::id.asc())
        .load::<UserRow>(conn)?
        .into_iter()
        .map(from_row)
        .collect()
}

/// `NotFound("no user named `x`")` when absent.
pub fn set_enabled(conn: &mut DbConn, username: &str, enabled: bool) -> Result<(), StorageError> {
    let changed = diesel::update(users::table.filter(users::username.eq(username)))
        .set((
            users::enabled.eq(i32::from(enabled)),
            users::updated_at.eq(now_ms()),
        ))
        .execute(conn)?;
    found(changed, username)
}

/// `NotFound("no user named `x`")` when absent.
pub fn set_password_hash(
    conn: &mut DbConn,
    username: &str,
    hash: &str,
) -> Result<(), StorageError> {
    let changed = diesel::update(users::table.filter(users::username.eq(username)))
        .set((
            users::password_hash.eq(hash),
            users::updated_at.eq(now_ms()),
        ))
        .execute(conn)?;
    found(changed, username)
}

pub fn record_login(conn: &mut DbConn, id: i64) -> Result<(), StorageError> {
    let changed = diesel::update(users::table.find(id))
        .set(users::last_login_at.eq(now_ms()))
        .execute(conn)?;
    if changed == 0 {
        return Err(StorageError::NotFound(format!("no user with id {id}")));
    }
    Ok(())
}

/// What an administrator may change about an account (absent = unchanged).
#[derive(Debug, Clone, Default)]
pub struct AccountChange {
    pub email: Option<String>,
    pub role: Option<Role>,
    pub enabled: Option<bool>,
}

/// Applies `change` to user `id`; `NotFound` when absent.
pub fn change(conn: &mut DbConn, id: i64, change: &AccountChange) -> Result<User, StorageError> {
    let now = now_ms();
    let target = users::table.find(id);
    let mut changed = diesel::update(target)
        .set(users::updated_at.eq(now))
        .execute(conn)?;
    if let Some(email) = &change.email {
        changed = diesel::update(target)
            .set(users::email.eq(email))
            .execute(conn)?;
    }
    if let Some(role) = change.role {
        changed = diesel::update(target)
            .set(users::role.eq(role.as_str()))
            .execute(conn)?;
    }
    if let Some(enabled) = change.enabled {
        changed = diesel::update(target)
            .set(users::enabled.eq(i32::from(enabled)))
            .execute(conn)?;
    }
    if changed == 0 {
        return Err(StorageError::NotFound(format!("no user with id {id}")));
    }
    find_by_id(conn, id)?.ok_or_else(|| StorageError::NotFound(format!("no user with id {id}")))
}

/// Removes user `id` (their tokens, sessions, codes and group memberships go with it: foreign
/// keys cascade) and returns what it was.
pub fn delete(conn: &mut DbConn, id: i64) -> Result<User, StorageError> {
    let existing = find_by_id(conn, id)?
        .ok_or_else(|| StorageError::NotFound(format!("no user with id {id}")))?;
    diesel::delete(users::table.find(id)).execute(conn)?;
    Ok(existing)
}

/// Enabled administrators: a disabled admin cannot log in, so it does not count (first-start
/// setup stays open until an admin who can log in exists).
pub fn count_admins(conn: &mut DbConn) -> Result<i64, StorageError> {
    Ok(users::table
        .filter(users::role.eq(Role::Admin.as_str()))
        .filter(users::enabled.eq(1))
        .count()
        .get_result(conn)?)
}

pub fn statuses(conn: &mut DbConn) -> Result<Vec<UserStatus>, StorageError> {
    users::table
        .select((users::id, users::enabled, users::role))
        .order(users::id.asc())
        .load::<(i64, i32, String)>(conn)?
        .into_iter()
        .map(|(id, enabled, role)| {
            Ok(UserStatus {
                id,
                enabled: enabled != 0,
                role: role.parse()?,
            })
        })
        .collect()
}

/// Every user's status with their username (the gateway's in-memory directory).
pub fn directory(conn: &mut DbConn) -> Result<Vec<(UserStatus, String)>, StorageError> {
    users::table
        .select((users::id, users::enabled, users::role, users::username))
        .order(users::id.asc())
        .load::<(i64, i32, String, String)>(conn)?
        .into_iter()
        .map(|(id, enabled, role, name)| {
            Ok((
                UserStatus {
                    id,
                    enabled: enabled != 0,
                    role: role.parse()?,
                },
                name,
            ))
        })
        .collect()
}

/// Every user's id, username and email: how tokens from an external issuer find their local
/// user (by username, else by email).
pub fn logins(conn: &mut DbConn) -> Result<Vec<(i64, String, String)>, StorageError> {
    Ok(users::table
        .select((users::id, users::username, users::email))
        .order(users::id.asc())
        .load::<(i64, String, String)>(conn)?)
}

/// The other account (not `except`) whose email is `email`, compared without regard to case:
/// an email identifies one account (external issuers' tokens find their user by it). Call it
/// after [`lock_emails`] in the transaction that writes the address.
pub fn email_owner(
    conn: &mut DbConn,
    email: &str,
    except: Option<i64>,
) -> Result<Option<String>, StorageError> {
    let wanted = email.to_lowercase();
    Ok(logins(conn)?
        .into_iter()
        .find(|(id, _, e)| Some(*id) != except && e.to_lowercase() == wanted)
        .map(|(_, username, _)| username))
}

/// Advisory lock key serialising email checks with the writes they guard on PostgreSQL.
const PG_EMAIL_LOCK: i64 = 7102;

/// Serialises "is this email free?" with the write that follows, until the transaction ends.
/// There is no unique index on emails: databases written before the rule may hold two accounts
/// with one address (in different case, too), and migrating must not fail on them; so the rule
/// is checked in code, and two concurrent creations must not both pass the check. SQLite needs
/// nothing here: `in_transaction` takes its write lock before the check.
pub fn lock_emails(conn: &mut DbConn) -> Result<(), StorageError> {
    if let DbConn::Postgres(pg) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({PG_EMAIL_LOCK})")).execute(pg)?;
    }
    Ok(())
}

/// [`create`], refused with `Conflict` when another account already has the email (compared
/// without regard to case; an empty email is no address and never conflicts). Run it inside
/// `in_transaction`: the check and the insert must be one.
pub fn create_with_unused_email(conn: &mut DbConn, new: NewUser<'_>) -> Result<User, StorageError> {
    lock_emails(conn)?;
    if !new.email.is_empty() && email_owner(conn, new.email, None)?.is_some() {
        return Err(StorageError::Conflict(email_in_use(new.email)));
    }
    create(conn, new)
}

/// The refusal of an address already in use. It does not name the owner: self-registration
/// answers with it, and must not tell a stranger which account holds an address.
pub fn email_in_use(email: &str) -> String {
    format!("email `{email}` is already the address of another account")
}

/// Replaces the hash of user `id` (a bcrypt cost upgrade at login: same password, so the user's
/// sessions stay valid, unlike [`set_password_hash`] by an operator).
pub fn rehash(conn: &mut DbConn, id: i64, hash: &str) -> Result<(), StorageError> {
    diesel::update(users::table.find(id))
        .set(users::password_hash.eq(hash))
        .execute(conn)?;
    Ok(())
}

/// Increases on every insert, update or delete of a user (database triggers), whoever made it.
pub fn revision(conn: &mut DbConn) -> Result<i64, StorageError> {
    Ok(revisions::table
        .find("users")
        .select(revisions::value)
        .first(conn)?)
}

fn found(changed: usize, username: &str) -> Result<(), StorageError> {
    if changed == 0 {
        return Err(StorageError::NotFound(format!(
            "no user named `{username}`"
        )));
    }
    Ok(())
}
