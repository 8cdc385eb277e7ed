//! The `oauth_clients` table. Owned by the client registry (`crate::auth::clients`), which
//! validates metadata, hashes secrets and converts the JSON columns; this module only moves rows.

use diesel::prelude::*;

use super::schema::oauth_clients;
use super::{DbConn, StorageError, now_ms};

/// A stored client, column for column. Times are unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct ClientRow {
    pub client_id: String,
    pub client_secret_hash: Option<String>,
    pub client_secret_expires_at_ms: Option<i64>,
    pub registration_token_hash: Option<String>,
    pub client_name: Option<String>,
    pub redirect_uris_json: String,
    pub grant_types_json: String,
    pub response_types_json: String,
    pub token_endpoint_auth_method: String,
    pub scope: Option<String>,
    pub metadata_json: String,
    pub source: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub last_used_at_ms: Option<i64>,
}

/// Every column a registration or update writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientWrite {
    pub client_id: String,
    pub client_secret_hash: Option<String>,
    pub client_secret_expires_at_ms: Option<i64>,
    pub registration_token_hash: Option<String>,
    pub client_name: Option<String>,
    pub redirect_uris_json: String,
    pub grant_types_json: String,
    pub response_types_json: String,
    pub token_endpoint_auth_method: String,
    pub scope: Option<String>,
    pub metadata_json: String,
    pub source: String,
}

/// Inserts a client and returns it; `Ok(None)` without inserting when `max_clients` clients
/// already exist. A taken id is a [`StorageError::Conflict`].
///
/// The cap bounds growth rather than enforcing an exact quota: on PostgreSQL (read committed)
/// concurrent registrations from several instances may each see the count below the cap.
pub fn insert(
    conn: &mut DbConn,
    client: &ClientWrite,
    max_clients: Option<i64>,
) -> Result<Option<ClientRow>, StorageError> {
    super::in_transaction(conn, |conn| {
        if let Some(max) = max_clients
            && count(conn)? >= max
        {
            return Ok(None);
        }
        let now = now_ms();
        diesel::insert_into(oauth_clients::table)
            .values((
                oauth_clients::client_id.eq(&client.client_id),
                oauth_clients::client_secret_hash.eq(&client.client_secret_hash),
                oauth_clients::client_secret_expires_at.eq(client.client_secret_expires_at_ms),
                oauth_clients::registration_token_hash.eq(&client.registration_token_hash),
                oauth_clients::client_name.eq(&client.client_name),
                oauth_clients::redirect_uris_json.eq(&client.redirect_uris_json),
                oauth_clients::grant_types_json.eq(&client.grant_types_json),
                oauth_clients::response_types_json.eq(&client.response_types_json),
                oauth_clients::token_endpoint_auth_method.eq(&client.token_endpoint_auth_method),
                oauth_clients::scope.eq(&client.scope),
                oauth_clients::metadata_json.eq(&client.metadata_json),
                oauth_clients::source.eq(&client.source),
                oauth_clients::created_at.eq(now),
                oauth_clients::updated_at.eq(now),
            ))
            .execute(conn)
            .map_err(|err| {
                StorageError::conflict_or(err, || {
                    format!("an OAuth client `{}` already exists", client.client_id)
                })
            })?;
        find(conn, &client.client_id)
    })
}

pub fn find(conn: &mut DbConn, client_id: &str) -> Result<Option<ClientRow>, StorageError> {
    Ok(oauth_clients::table
        .find(client_id)
        .first::<ClientRow>(conn)
        .optional()?)
}

/// Every client, oldest first.
pub fn list(conn: &mut DbConn) -> Result<Vec<ClientRow>, StorageError> {
    Ok(oauth_clients::table
        .order((
            oauth_clients::created_at.asc(),
            oauth_clients::client_id.asc(),
        ))
        .load::<ClientRow>(conn)?)
}

pub fn count(conn: &mut DbConn) -> Result<i64, StorageError> {
    Ok(oauth_clients::table.count().get_result(conn)?)
}

/// Replaces every written column of an existing client (created time and last use stay).
/// `Ok(None)` when it does not exist.
pub fn replace(conn: &mut DbConn, client: &ClientWrite) -> Result<Option<ClientRow>, StorageError> {
    super::in_transaction(conn, |conn| {
        let changed = diesel::update(oauth_clients::table.find(&client.client_id))
            .set((
                oauth_clients::client_secret_hash.eq(&client.client_secret_hash),
                oauth_clients::client_secret_expires_at.eq(client.client_secret_expires_at_ms),
                oauth_clients::registration_token_hash.eq(&client.registration_token_hash),
                oauth_clients::client_name.eq(&client.client_name),
                oauth_clients::redirect_uris_json.eq(&client.redirect_uris_json),
                oauth_clients::grant_types_json.eq(&client.grant_types_json),
                oauth_clients::response_types_json.eq(&client.response_types_json),
                oauth_clients::token_endpoint_auth_method.eq(&client.token_endpoint_auth_method),
                oauth_clients::scope.eq(&client.scope),
                oauth_clients::metadata_json.eq(&client.metadata_json),
                oauth_clients::source.eq(&client.source),
                oauth_clients::updated_at.eq(now_ms()),
            ))
            .execute(conn)?;
        if changed == 0 {
            return Ok(None);
        }
        find(conn, &client.client_id)
    })
}

/// True when a client was removed.
pub fn delete(conn: &mut DbConn, client_id: &str) -> Result<bool, StorageError> {
    Ok(diesel::delete(oauth_clients::table.find(client_id)).execute(conn)? > 0)
}

/// Records that the client was used (an authorization or a token request) at `at_ms`.
pub fn touch(conn: &mut DbConn, client_id: &str, at_ms: i64) -> Result<(), StorageError> {
    diesel::update(oauth_clients::table.find(client_id))
        .set(oauth_clients::last_used_at.eq(at_ms))
        .execute(conn)?;
    Ok(())
}

/// Replaces a confidential client's secret digest (the admin API's rotation); the new secret
/// does not expire. Whether the client exists.
pub fn set_secret_hash(
    conn: &mut DbConn,
    client_id: &str,
    secret_hash: &str,
) -> Result<bool, StorageError> {
    let changed = diesel::update(oauth_clients::table.find(client_id))
        .set((
            oauth_clients::client_secret_hash.eq(Some(secret_hash)),
            oauth_clients::client_secret_expires_at.eq(None::<i64>),
            oauth_clients::updated_at.eq(now_ms()),
        ))
        .execute(conn)?;
    Ok(changed > 0)
}
