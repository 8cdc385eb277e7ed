//! Token families (`token_families`) and opaque refresh tokens (`refresh_tokens`), owned by the
//! identity service (`actors::auth::identity`); the CLI revokes through [`revoke_user_families`].
//!
//! A family is one login session or OAuth grant: every access token issued under it carries its
//! id as `sid`, and every refresh token of the chain points at it. Revoking a family sets
//! `revoked_at`, which a database trigger turns into a bump of `revisions('revocations')` that every
//! running gateway polls. Refresh tokens are stored as the hex SHA-256 of the token only.

use diesel::prelude::*;

use super::schema::{refresh_tokens, revisions, token_families};
use super::{DbConn, StorageError, now_ms};

/// Which of a user's families [`revoke_user_families`] revokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FamilyFilter<'a> {
    Every,
    /// Only those issued to this client (`None`: login tokens), except `keep`.
    SameClient {
        client_id: Option<&'a str>,
        keep: &'a str,
    },
}

#[derive(Debug, Clone)]
pub struct NewFamily<'a> {
    pub sid: &'a str,
    pub user_id: i64,
    pub client_id: Option<&'a str>,
    pub expires_at_ms: i64,
}

#[derive(Debug, Clone)]
pub struct NewRefreshToken<'a> {
    /// Hex SHA-256 of the token.
    pub token_hash: &'a str,
    pub family_id: &'a str,
    pub user_id: i64,
    pub client_id: Option<&'a str>,
    pub scope: Option<&'a str>,
    pub resource: &'a str,
    pub expires_at_ms: i64,
}

/// A stored refresh token with its family's revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub id: i64,
    pub family_id: String,
    pub user_id: i64,
    pub client_id: Option<String>,
    pub scope: Option<String>,
    pub resource: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub used_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
    pub replaced_by: Option<i64>,
    pub family_revoked_at_ms: Option<i64>,
}

type RefreshRow = (
    i64,
    String,
    i64,
    Option<String>,
    Option<String>,
    String,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

/// Starts a family. Its `expires_at` is moved forward by [`extend_family`] on each rotation.
pub fn create_family(conn: &mut DbConn, new: &NewFamily<'_>) -> Result<(), StorageError> {
    diesel::insert_into(token_families::table)
        .values((
            token_families::sid.eq(new.sid),
            token_families::user_id.eq(new.user_id),
            token_families::client_id.eq(new.client_id),
            token_families::created_at.eq(now_ms()),
            token_families::expires_at.eq(new.expires_at_ms),
        ))
        .execute(conn)
        .map_err(|err| StorageError::conflict_or(err, || "token family already exists".into()))?;
    Ok(())
}

/// A family's owner, client and revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    pub user_id: i64,
    pub client_id: Option<String>,
    pub revoked_at_ms: Option<i64>,
    pub created_at_ms: i64,
}

pub fn find_family(conn: &mut DbConn, sid: &str) -> Result<Option<Family>, StorageError> {
    Ok(token_families::table
        .find(sid)
        .select((
            token_families::user_id,
            token_families::client_id,
            token_families::revoked_at,
            token_families::created_at,
        ))
        .first::<(i64, Option<String>, Option<i64>, i64)>(conn)
        .optional()?
        .map(
            |(user_id, client_id, revoked_at_ms, created_at_ms)| Family {
                user_id,
                client_id,
                revoked_at_ms,
                created_at_ms,
            },
        ))
}

/// Moves the family's end forward (never back): a rotated refresh token outlives the old one.
pub fn extend_family(conn: &mut DbConn, sid: &str, expires_at_ms: i64) -> Result<(), StorageError> {
    diesel::update(
        token_families::table
            .filter(token_families::sid.eq(sid))
            .filter(token_families::expires_at.lt(expires_at_ms)),
    )
    .set(token_families::expires_at.eq(expires_at_ms))
    .execute(conn)?;
    Ok(())
}

pub fn insert_refresh_token(
    conn: &mut DbConn,
    new: &NewRefreshToken<'_>,
) -> Result<i64, StorageError> {
    Ok(diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::token_hash.eq(new.token_hash),
            refresh_tokens::family_id.eq(new.family_id),
            refresh_tokens::user_id.eq(new.user_id),
            refresh_tokens::client_id.eq(new.client_id),
            refresh_tokens::scope.eq(new.scope),
            refresh_tokens::resource.eq(new.resource),
            refresh_tokens::created_at.eq(now_ms()),
            refresh_tokens::expires_at.eq(new.expires_at_ms),
        ))
        .returning(refresh_tokens::id)
        .get_result(conn)?)
}

pub fn find_refresh_token(
    conn: &mut DbConn,
    token_hash: &str,
) -> Result<Option<RefreshToken>, StorageError> {
    let row = refresh_tokens::table
        .inner_join(token_families::table)
        .filter(refresh_tokens::token_hash.eq(token_hash))
        .select((
            refresh_tokens::id,
            refresh_tokens::family_id,
            refresh_tokens::user_id,
            refresh_tokens::client_id,
            refresh_tokens::scope,
            refresh_tokens::resource,
            refresh_tokens::created_at,
            refresh_tokens::expires_at,
            refresh_tokens::used_at,
            refresh_tokens::revoked_at,
            refresh_tokens::replaced_by,
            token_families::revoked_at,
        ))
        .first::<RefreshRow>(conn)
        .optional()?;
    Ok(row.map(|r| RefreshToken {
        id: r.0,
        family_id: r.1,
        user_id: r.2,
        client_id: r.3,
        scope: r.4,
        resource: r.5,
        created_at_ms: r.6,
        expires_at_ms: r.7,
        used_at_ms: r.8,
        revoked_at_ms: r.9,
        replaced_by: r.10,
        family_revoked_at_ms: r.11,
    }))
}

/// Marks the token used, only if nobody has yet: `true` for the one caller that wins a race
/// between two uses of the same token, `false` for every other (a reuse).
pub fn claim_refresh_token(conn: &mut DbConn, id: i64) -> Result<bool, StorageError> {
    let changed = diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::id.eq(id))
            .filter(refresh_tokens::used_at.is_null()),
    )
    .set(refresh_tokens::used_at.eq(now_ms()))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Records which token replaced `id` (the rotation chain, for audits).
pub fn set_replaced_by(conn: &mut DbConn, id: i64, successor: i64) -> Result<(), StorageError> {
    diesel::update(refresh_tokens::table.find(id))
        .set(refresh_tokens::replaced_by.eq(successor))
        .execute(conn)?;
    Ok(())
}

/// Revokes one refresh token (RFC 7009 for a refresh token revokes its whole family; callers
/// that want that use [`revoke_family`]).
pub fn revoke_refresh_token(conn: &mut DbConn, id: i64) -> Result<(), StorageError> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::id.eq(id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now_ms()))
    .execute(conn)?;
    Ok(())
}

/// Revokes the family and its refresh tokens; `false` when it was unknown or already revoked.
pub fn revoke_family(conn: &mut DbConn, sid: &str) -> Result<bool, StorageError> {
    super::in_transaction(conn, |conn| {
        let now = now_ms();
        let changed = diesel::update(
            token_families::table
                .filter(token_families::sid.eq(sid))
                .filter(token_families::revoked_at.is_null()),
        )
        .set(token_families::revoked_at.eq(now))
        .execute(conn)?;
        diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::family_id.eq(sid))
                .filter(refresh_tokens::revoked_at.is_null()),
        )
        .set(refresh_tokens::revoked_at.eq(now))
        .execute(conn)?;
        Ok(changed > 0)
    })
}

/// Revokes a user's live families (all, or those of one client but `keep`); returns how many.
pub fn revoke_user_families(
    conn: &mut DbConn,
    user_id: i64,
    filter: FamilyFilter<'_>,
) -> Result<usize, StorageError> {
    super::in_transaction(conn, |conn| {
        let now = now_ms();
        let mut query = token_families::table
            .filter(token_families::user_id.eq(user_id))
            .filter(token_families::revoked_at.is_null())
            .filter(token_families::expires_at.gt(now))
            .select(token_families::sid)
            .into_boxed();
        if let FamilyFilter::SameClient { client_id, keep } = filter {
            query = query.filter(token_families::sid.ne(keep.to_string()));
            query = match client_id {
                Some(client) => query.filter(token_families::client_id.eq(client.to_string())),
                None => query.filter(token_families::client_id.is_null()),
            };
        }
        let sids: Vec<String> = query.load(conn)?;
        if sids.is_empty() {
            return Ok(0);
        }
        diesel::update(token_families::table.filter(token_families::sid.eq_any(&sids)))
            .set(token_families::revoked_at.eq(now))
            .execute(conn)?;
        diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::family_id.eq_any(&sids))
                .filter(refresh_tokens::revoked_at.is_null()),
        )
        .set(refresh_tokens::revoked_at.eq(now))
        .execute(conn)?;
        Ok(sids.len())
    })
}

/// Families revoked after `since_ms` whose tokens may still be presented (not yet expired).
pub fn revoked_families(conn: &mut DbConn, since_ms: i64) -> Result<Vec<String>, StorageError> {
    Ok(token_families::table
        .filter(token_families::revoked_at.gt(since_ms))
        .filter(token_families::expires_at.gt(since_ms))
        .select(token_families::sid)
        .load(conn)?)
}

/// Deletes families (and, by cascade, their refresh tokens) that ended before `before_ms`, and
/// refresh tokens that expired on their own; returns how many rows went.
pub fn prune(conn: &mut DbConn, before_ms: i64) -> Result<usize, StorageError> {
    super::in_transaction(conn, |conn| {
        let tokens =
            diesel::delete(refresh_tokens::table.filter(refresh_tokens::expires_at.lt(before_ms)))
                .execute(conn)?;
        let families =
            diesel::delete(token_families::table.filter(token_families::expires_at.lt(before_ms)))
                .execute(conn)?;
        Ok(tokens + families)
    })
}

/// Increases whenever a family is revoked (database trigger), whoever revoked it.
pub fn revocations_revision(conn: &mut DbConn) -> Result<i64, StorageError> {
    Ok(revisions::table
        .find("revocations")
        .select(revisions::value)
        .first(conn)?)
}

/// Revokes every live family issued to `client_id`, whoever's (the client is being deleted);
/// returns how many.
pub fn revoke_client_families(conn: &mut DbConn, client_id: &str) -> Result<usize, StorageError> {
    super::in_transaction(conn, |conn| {
        let now = now_ms();
        let sids: Vec<String> = token_families::table
            .filter(token_families::client_id.eq(client_id))
            .filter(token_families::revoked_at.is_null())
            .filter(token_families::expires_at.gt(now))
            .select(token_families::sid)
            .load(conn)?;
        if sids.is_empty() {
            return Ok(0);
        }
        diesel::update(token_families::table.filter(token_families::sid.eq_any(&sids)))
            .set(token_families::revoked_at.eq(now))
            .execute(conn)?;
        diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::family_id.eq_any(&sids))
                .filter(refresh_tokens::revoked_at.is_null()),
        )
        .set(refresh_tokens::revoked_at.eq(now))
        .execute(conn)?;
        Ok(sids.len())
    })
}

/// Live (unrevoked, unexpired) families: signed-in sessions and OAuth grants.
pub fn count_live_families(conn: &mut DbConn) -> Result<i64, StorageError> {
    Ok(token_families::table
        .filter(token_families::revoked_at.is_null())
        .filter(token_families::expires_at.gt(now_ms()))
        .count()
        .get_result(conn)?)
}
