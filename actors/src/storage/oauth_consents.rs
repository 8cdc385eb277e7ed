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
