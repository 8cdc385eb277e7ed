//! The `authorization_codes` table, owned by the authorization server's code service
//! (`crate::auth::authorization::codes`), which mints the codes and checks PKCE; this module only
//! moves rows. Codes are stored as the hex SHA-256 of the code.

use diesel::prelude::*;

use super::schema::authorization_codes;
use super::{DbConn, StorageError, now_ms};

/// How long a spent or expired code is kept so that a replay is still recognised.
const KEEP_AFTER_EXPIRY_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, Clone)]
pub struct NewCode<'a> {
    pub code_hash: &'a str,
    pub client_id: &'a str,
    pub user_id: i64,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    pub resource: &'a str,
    pub code_challenge: &'a str,
    pub nonce: Option<&'a str>,
    /// Unix seconds.
    pub auth_time: i64,
    pub expires_at_ms: i64,
}

/// A stored code, column for column (the hash aside).
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct CodeRow {
    pub code_hash: String,
    pub client_id: String,
    pub user_id: i64,
    pub redirect_uri: String,
    pub scope: String,
    pub resource: String,
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub auth_time: i64,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub used_at_ms: Option<i64>,
    pub replayed_at_ms: Option<i64>,
    pub family_sid: Option<String>,
}

/// What presenting a code did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// First use of a live code: it is now spent and the caller may issue tokens.
    Claimed(Box<CodeRow>),
    /// The code was spent before: it is now marked replayed. `family_sid` is the grant issued
    /// from it, when already recorded (otherwise [`record_family`] reports the replay).
    Replayed {
        family_sid: Option<String>,
    },
    Expired,
    Unknown,
}

/// Stores a new code, and drops rows long past their expiry (the table stays small without a
/// separate housekeeping task).
pub fn insert(conn: &mut DbConn, new: &NewCode<'_>) -> Result<(), StorageError> {
    let now = now_ms();
    diesel::delete(
        authorization_codes::table
            .filter(authorization_codes::expires_at.lt(now - KEEP_AFTER_EXPIRY_MS)),
    )
    .execute(conn)?;
    diesel::insert_into(authorization_codes::table)
        .values((
            authorization_codes::code_hash.eq(new.code_hash),
            authorization_codes::client_id.eq(new.client_id),
            authorization_codes::user_id.eq(new.user_id),
            authorization_codes::redirect_uri.eq(new.redirect_uri),
            authorization_codes::scope.eq(new.scope),
            authorization_codes::resource.eq(new.resource),
            authorization_codes::code_challenge.eq(new.code_challenge),
            authorization_codes::nonce.eq(new.nonce),
            authorization_codes::auth_time.eq(new.auth_time),
            authorization_codes::created_at.eq(now),
            authorization_codes::expires_at.eq(new.expires_at_ms),
        ))
        .execute(conn)
        .map_err(|e| StorageError::conflict_or(e, || "authorization code collision".into()))?;
    Ok(())
}

fn find(conn: &mut DbConn, code_hash: &str) -> Result<Option<CodeRow>, StorageError> {
    Ok(authorization_codes::table
        .find(code_hash)
        .first::<CodeRow>(conn)
        .optional()?)
}

fn mark_replayed(conn: &mut DbConn, code_hash: &str) -> Result<Option<String>, StorageError> {
    diesel::update(authorization_codes::table.find(code_hash))
        .set(authorization_codes::replayed_at.eq(now_ms()))
        .execute(conn)?;
    Ok(find(conn, code_hash)?.and_then(|row| row.family_sid))
}

/// Spends a code. Of two concurrent uses exactly one gets [`Claim::Claimed`] (a conditional
/// update on `used_at IS NULL`); the other is a replay.
pub fn claim(conn: &mut DbConn, code_hash: &str) -> Result<Claim, StorageError> {
    let Some(row) = find(conn, code_hash)? else {
        return Ok(Claim::Unknown);
    };
    if row.used_at_ms.is_some() {
        let family_sid = mark_replayed(conn, code_hash)?;
        return Ok(Claim::Replayed { family_sid });
    }
    let now = now_ms();
    if row.expires_at_ms <= now {
        return Ok(Claim::Expired);
    }
    let won = diesel::update(
        authorization_codes::table
            .filter(authorization_codes::code_hash.eq(code_hash))
            .filter(authorization_codes::used_at.is_null()),
    )
    .set(authorization_codes::used_at.eq(now))
    .execute(conn)?
        == 1;
    if !won {
        let family_sid = mark_replayed(conn, code_hash)?;
        return Ok(Claim::Replayed { family_sid });
    }
    Ok(Claim::Claimed(Box::new(CodeRow {
        used_at_ms: Some(now),
        ..row
    })))
}

/// Records the grant issued from a claimed code; `true` when the code was replayed meanwhile
/// (the caller must then revoke that grant: the replay could not, it had no family to revoke).
pub fn record_family(conn: &mut DbConn, code_hash: &str, sid: &str) -> Result<bool, StorageError> {
    diesel::update(authorization_codes::table.find(code_hash))
        .set(authorization_codes::family_sid.eq(sid))
        .execute(conn)?;
    Ok(find(conn, code_hash)?.is_some_and(|row| row.replayed_at_ms.is_some()))
}
