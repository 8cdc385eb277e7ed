//! The `oauth_consents` table: which scopes a user approved for a client on a resource. Owned by
//! the authorization server's consent service (`crate::auth::authorization::consents`).

use diesel::prelude::*;

use super::schema::oauth_consents;
use super::{DbConn, StorageError, now_ms};

/// The scopes `user_id` approved for `client_id` on `resource`, if any.
pub fn find(
    conn: &mut DbConn,
    user_id: i64,
    client_id: &str,
    resource: &str,
) -> Result<Option<String>, StorageError> {
    Ok(oauth_consents::table
        .find((user_id, client_id, resource))
        .select(oauth_consents::scope)
        .first::<String>(conn)
        .optional()?)
}

/// Records (or replaces) the approved scopes. Upserts do not compile through the
/// MultiConnection, so: update, else insert, and when a concurrent insert won, update again.
pub fn store(
    conn: &mut DbConn,
    user_id: i64,
    client_id: &str,
    resource: &str,
    scope: &str,
) -> Result<(), StorageError> {
    let now = now_ms();
    let update = |conn: &mut DbConn| {
        diesel::update(oauth_consents::table.find((user_id, client_id, resource)))
            .set((
                oauth_consents::scope.eq(scope),
                oauth_consents::updated_at.eq(now),
            ))
            .execute(conn)
    };
    if update(conn)? > 0 {
        return Ok(());
    }
    let inserted = diesel::insert_into(oauth_consents::table)
        .values((
            oauth_consents::user_id.eq(user_id),
            oauth_consents::client_id.eq(client_id),
            oauth_consents::resource.eq(resource),
            oauth_consents::scope.eq(scope),
            oauth_consents::created_at.eq(now),
            oauth_consents::updated_at.eq(now),
        ))
        .execute(conn)
        .map_err(|e| StorageError::conflict_or(e, || "consent stored concurrently".into()));
    match inserted {
        Ok(_) => Ok(()),
        Err(StorageError::Conflict(_)) => update(conn).map(|_| ()).map_err(Into::into),
        Err(other) => Err(other),
    }
}

/// Forgets every consent of a user (e.g. from the console, later).
pub fn delete_for_user(conn: &mut DbConn, user_id: i64) -> Result<usize, StorageError> {
    Ok(
        diesel::delete(oauth_consents::table.filter(oauth_consents::user_id.eq(user_id)))
            .execute(conn)?,
    )
}

/// One remembered consent of a client, for the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct ConsentRow {
    pub user_id: i64,
    pub resource: String,
    pub scope: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Every consent remembered for `client_id`, by user then resource.
pub fn list_for_client(
    conn: &mut DbConn,
    client_id: &str,
) -> Result<Vec<ConsentRow>, StorageError> {
    Ok(oauth_consents::table
        .filter(oauth_consents::client_id.eq(client_id))
        .order((oauth_consents::user_id, oauth_consents::resource))
        .select((
            oauth_consents::user_id,
            oauth_consents::resource,
            oauth_consents::scope,
            oauth_consents::created_at,
            oauth_consents::updated_at,
        ))
        .load(conn)?)
}

/// How many consents each client holds (clients without any are absent), for the console's
/// list: one grouped query instead of one per client.
pub fn count_by_client(conn: &mut DbConn) -> Result<Vec<(String, i64)>, StorageError> {
    Ok(oauth_consents::table
        .group_by(oauth_consents::client_id)
        .select((oauth_consents::client_id, diesel::dsl::count_star()))
        .load(conn)?)
}

/// Forgets every consent given to `client_id`: its next authorization asks again.
pub fn delete_for_client(conn: &mut DbConn, client_id: &str) -> Result<usize, StorageError> {
    Ok(
        diesel::delete(oauth_consents::table.filter(oauth_consents::client_id.eq(client_id)))
            .execute(conn)?,
    )
}
