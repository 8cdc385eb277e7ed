//! The OAuth credential of an admin-API backend (`backend_oauth`), one row per backend whose
//! auth_type is `oauth_client_credentials` or `oauth_refresh_token`. Written only through
//! [`super::backends`] (the backend registry owns both tables); secrets arrive sealed.

use std::collections::BTreeMap;

use diesel::prelude::*;

use super::schema::backend_oauth;
use super::{DbConn, StorageError, now_ms};
use crate::secrets::Sealed;

/// An OAuth credential as stored. `grant` is `client_credentials` or `refresh_token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOAuth {
    pub grant: String,
    /// `None`: discovered from the backend's metadata.
    pub token_url: Option<String>,
    pub client_id: String,
    /// `None`: a public client.
    pub client_secret: Option<Sealed>,
    pub scope: Option<String>,
    pub resource: Option<String>,
    /// The configured refresh token (the refresh-token grant only); rotated ones are kept in
    /// `backend_token_state`.
    pub refresh_token: Option<Sealed>,
}

type Row = (
    i64,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

type Columns = (
    backend_oauth::backend_id,
    backend_oauth::grant_type,
    backend_oauth::token_url,
    backend_oauth::client_id,
    backend_oauth::client_secret_ciphertext,
    backend_oauth::client_secret_nonce,
    backend_oauth::scope,
    backend_oauth::resource,
    backend_oauth::refresh_token_ciphertext,
    backend_oauth::refresh_token_nonce,
);

const COLUMNS: Columns = (
    backend_oauth::backend_id,
    backend_oauth::grant_type,
    backend_oauth::token_url,
    backend_oauth::client_id,
    backend_oauth::client_secret_ciphertext,
    backend_oauth::client_secret_nonce,
    backend_oauth::scope,
    backend_oauth::resource,
    backend_oauth::refresh_token_ciphertext,
    backend_oauth::refresh_token_nonce,
);

fn sealed(ciphertext: Option<String>, nonce: Option<String>) -> Option<Sealed> {
    Some(Sealed {
        ciphertext: ciphertext?,
        nonce: nonce?,
    })
}

fn from_row(row: Row) -> (i64, StoredOAuth) {
    let (
        id,
        grant,
        token_url,
        client_id,
        secret_c,
        secret_n,
        scope,
        resource,
        refresh_c,
        refresh_n,
    ) = row;
    (
        id,
        StoredOAuth {
            grant,
            token_url,
            client_id,
            client_secret: sealed(secret_c, secret_n),
            scope,
            resource,
            refresh_token: sealed(refresh_c, refresh_n),
        },
    )
}

/// Every stored OAuth credential, by backend id.
pub(crate) fn all(conn: &mut DbConn) -> Result<BTreeMap<i64, StoredOAuth>, StorageError> {
    Ok(backend_oauth::table
        .select(COLUMNS)
        .load::<Row>(conn)?
        .into_iter()
        .map(from_row)
        .collect())
}

pub(crate) fn find(conn: &mut DbConn, id: i64) -> Result<Option<StoredOAuth>, StorageError> {
    Ok(backend_oauth::table
        .find(id)
        .select(COLUMNS)
        .first::<Row>(conn)
        .optional()?
        .map(|row| from_row(row).1))
}

/// Replaces backend `id`'s OAuth credential (`None` removes it). Delete + insert: upsert does
/// not compile through the MultiConnection.
pub(crate) fn write(
    conn: &mut DbConn,
    id: i64,
    oauth: Option<&StoredOAuth>,
) -> Result<(), StorageError> {
    diesel::delete(backend_oauth::table.find(id)).execute(conn)?;
    if let Some(o) = oauth {
        diesel::insert_into(backend_oauth::table)
            .values((
                backend_oauth::backend_id.eq(id),
                backend_oauth::grant_type.eq(&o.grant),
                backend_oauth::token_url.eq(&o.token_url),
                backend_oauth::client_id.eq(&o.client_id),
                backend_oauth::client_secret_ciphertext
                    .eq(o.client_secret.as_ref().map(|s| &s.ciphertext)),
                backend_oauth::client_secret_nonce.eq(o.client_secret.as_ref().map(|s| &s.nonce)),
                backend_oauth::scope.eq(&o.scope),
                backend_oauth::resource.eq(&o.resource),
                backend_oauth::refresh_token_ciphertext
                    .eq(o.refresh_token.as_ref().map(|s| &s.ciphertext)),
                backend_oauth::refresh_token_nonce.eq(o.refresh_token.as_ref().map(|s| &s.nonce)),
                backend_oauth::updated_at.eq(now_ms()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub(crate) fn count(conn: &mut DbConn) -> Result<i64, StorageError> {
    Ok(backend_oauth::table.count().get_result(conn)?)
}

/// Re-seals every client secret and configured refresh token with `reseal`, inside the
/// caller's transaction; returns how many values moved.
pub(crate) fn reseal(
    conn: &mut DbConn,
    reseal: &impl Fn(&Sealed) -> Result<Sealed, String>,
) -> Result<usize, StorageError> {
    let mut count = 0;
    for (id, oauth) in all(conn)? {
        let failed =
            |what: &str, e: String| StorageError::Corrupt(format!("backend {id}'s {what}: {e}"));
        let client_secret = match &oauth.client_secret {
            Some(s) => Some(reseal(s).map_err(|e| failed("OAuth client secret", e))?),
            None => None,
        };
        let refresh_token = match &oauth.refresh_token {
            Some(s) => Some(reseal(s).map_err(|e| failed("OAuth refresh token", e))?),
            None => None,
        };
        count += usize::from(client_secret.is_some()) + usize::from(refresh_token.is_some());
        diesel::update(backend_oauth::table.find(id))
            .set((
                backend_oauth::client_secret_ciphertext
                    .eq(client_secret.as_ref().map(|s| &s.ciphertext)),
                backend_oauth::client_secret_nonce.eq(client_secret.as_ref().map(|s| &s.nonce)),
                backend_oauth::refresh_token_ciphertext
                    .eq(refresh_token.as_ref().map(|s| &s.ciphertext)),
                backend_oauth::refresh_token_nonce.eq(refresh_token.as_ref().map(|s| &s.nonce)),
                backend_oauth::updated_at.eq(now_ms()),
            ))
            .execute(conn)?;
    }
    Ok(count)
}
