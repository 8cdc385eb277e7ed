//! API tokens for machine clients (`api_tokens`), owned by the identity service; the CLI
//! (`authmcp-gateway token …`) and the admin API write through it.
//!
//! Only the hex SHA-256 of a token is stored. Inserting, revoking or deleting a token bumps
//! `revisions('api_tokens')` (database triggers); the gateway reloads its snapshot of active tokens
//! when that moves, so a token revoked by the CLI stops working without a restart.

use diesel::prelude::*;

use super::schema::{api_tokens, revisions, users};
use super::{DbConn, StorageError, now_ms};

#[derive(Debug, Clone)]
pub struct NewApiToken<'a> {
    pub user_id: i64,
    pub name: &'a str,
    /// Hex SHA-256 of the token.
    pub token_hash: &'a str,
    pub prefix: &'a str,
    pub expires_at_ms: Option<i64>,
}

/// What lists show: never the hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenInfo {
    pub id: i64,
    pub user_id: i64,
    pub username: String,
    pub name: String,
    pub prefix: String,
    pub created_at_ms: i64,
    pub last_used_at_ms: Option<i64>,
    pub expires_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
}

/// An unrevoked token, as the snapshot needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveApiToken {
    pub id: i64,
    pub user_id: i64,
    pub token_hash: String,
    pub expires_at_ms: Option<i64>,
}

type InfoRow = (
    i64,
    i64,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

fn info(r: InfoRow) -> ApiTokenInfo {
    ApiTokenInfo {
        id: r.0,
        user_id: r.1,
        username: r.2,
        name: r.3,
        prefix: r.4,
        created_at_ms: r.5,
        last_used_at_ms: r.6,
        expires_at_ms: r.7,
        revoked_at_ms: r.8,
    }
}

pub fn create(conn: &mut DbConn, new: &NewApiToken<'_>) -> Result<ApiTokenInfo, StorageError> {
    let id: i64 = diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::user_id.eq(new.user_id),
            api_tokens::name.eq(new.name),
            api_tokens::token_hash.eq(new.token_hash),
            api_tokens::prefix.eq(new.prefix),
            api_tokens::created_at.eq(now_ms()),
            api_tokens::expires_at.eq(new.expires_at_ms),
        ))
        .returning(api_tokens::id)
        .get_result(conn)?;
    find(conn, id)?.ok_or_else(|| StorageError::NotFound(format!("no API token with id {id}")))
}

/// Every token (revoked ones too, for the record), oldest first; one user's when `user_id` is set.
pub fn list(conn: &mut DbConn, user_id: Option<i64>) -> Result<Vec<ApiTokenInfo>, StorageError> {
    let mut query = api_tokens::table
        .inner_join(users::table)
        .select((
            api_tokens::id,
            api_tokens::user_id,
            users::username,
            api_tokens::name,
            api_tokens::prefix,
            api_tokens::created_at,
            api_tokens::last_used_at,
            api_tokens::expires_at,
            api_tokens::revoked_at,
        ))
        .order(api_tokens::id.asc())
        .into_boxed();
    if let Some(user_id) = user_id {
        query = query.filter(api_tokens::user_id.eq(user_id));
    }
    Ok(query.load::<InfoRow>(conn)?.into_iter().map(info).collect())
}

pub fn find(conn: &mut DbConn, id: i64) -> Result<Option<ApiTokenInfo>, StorageError> {
    Ok(api_tokens::table
        .inner_join(users::table)
        .filter(api_tokens::id.eq(id))
        .select((
            api_tokens::id,
            api_tokens::user_id,
            users::username,
            api_tokens::name,
            api_tokens::prefix,
            api_tokens::created_at,
            api_tokens::last_used_at,
            api_tokens::expires_at,
            api_tokens::revoked_at,
        ))
        .first::<InfoRow>(conn)
        .optional()?
        .map(info))
}

/// `NotFound` for an unknown id; revoking a revoked token again changes nothing.
pub fn revoke(conn: &mut DbConn, id: i64) -> Result<ApiTokenInfo, StorageError> {
    diesel::update(
        api_tokens::table
            .filter(api_tokens::id.eq(id))
            .filter(api_tokens::revoked_at.is_null()),
    )
    .set(api_tokens::revoked_at.eq(now_ms()))
    .execute(conn)?;
    find(conn, id)?.ok_or_else(|| StorageError::NotFound(format!("no API token with id {id}")))
}

/// Revokes every unrevoked token of user `user_id`; returns how many.
pub fn revoke_for_user(conn: &mut DbConn, user_id: i64) -> Result<usize, StorageError> {
    Ok(diesel::update(
        api_tokens::table
            .filter(api_tokens::user_id.eq(user_id))
            .filter(api_tokens::revoked_at.is_null()),
    )
    .set(api_tokens::revoked_at.eq(now_ms()))
    .execute(conn)?)
}

/// Tokens that are not revoked and not expired at `now_ms`.
pub fn active(conn: &mut DbConn, now_ms: i64) -> Result<Vec<ActiveApiToken>, StorageError> {
    Ok(api_tokens::table
        .filter(api_tokens::revoked_at.is_null())
        .filter(
            api_tokens::expires_at
                .is_null()
                .or(api_tokens::expires_at.gt(now_ms)),
        )
        .select((
            api_tokens::id,
            api_tokens::user_id,
            api_tokens::token_hash,
            api_tokens::expires_at,
        ))
        .load::<(i64, i64, String, Option<i64>)>(conn)?
        .into_iter()
        .map(|(id, user_id, token_hash, expires_at_ms)| ActiveApiToken {
            id,
            user_id,
            token_hash,
            expires_at_ms,
        })
        .collect())
}

/// Records the last use (batched by the caller: the request path never writes).
pub fn touch(conn: &mut DbConn, id: i64, at_ms: i64) -> Result<(), StorageError> {
    diesel::update(api_tokens::table.find(id))
        .set(api_tokens::last_used_at.eq(at_ms))
        .execute(conn)?;
    Ok(())
}

/// Increases when a token is created, revoked or deleted (database triggers).
pub fn revision(conn: &mut DbConn) -> Result<i64, StorageError> {
    Ok(revisions::table
        .find("api_tokens")
        .select(revisions::value)
        .first(conn)?)
}
