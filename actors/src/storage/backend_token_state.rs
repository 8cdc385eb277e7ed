//! The latest refresh token each OAuth backend's token endpoint issued (`backend_token_state`),
//! file and database backends alike, keyed by backend name. Written only by the backends' token
//! loops (through `crate::backend::PersistedTokens`), read when a loop starts, re-sealed by
//! `secrets rotate-key`. Tokens arrive sealed; the fingerprint says which configured token the
//! stored one grew from.

use diesel::prelude::*;

use super::schema::backend_token_state;
use super::{DbConn, StorageError, now_ms};
use crate::secrets::Sealed;

/// One backend's latest refresh token and the fingerprint of the configured token behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTokenState {
    pub configured_fingerprint: String,
    pub refresh_token: Sealed,
}

pub fn find(conn: &mut DbConn, backend: &str) -> Result<Option<StoredTokenState>, StorageError> {
    Ok(backend_token_state::table
        .find(backend)
        .select((
            backend_token_state::configured_fingerprint,
            backend_token_state::refresh_token_ciphertext,
            backend_token_state::refresh_token_nonce,
        ))
        .first::<(String, String, String)>(conn)
        .optional()?
        .map(
            |(configured_fingerprint, ciphertext, nonce)| StoredTokenState {
                configured_fingerprint,
                refresh_token: Sealed { ciphertext, nonce },
            },
        ))
}

/// Replaces `backend`'s state (delete + insert in one transaction: upsert does not compile
/// through the MultiConnection).
pub fn save(
    conn: &mut DbConn,
    backend: &str,
    state: &StoredTokenState,
) -> Result<(), StorageError> {
    super::in_transaction(conn, |conn| {
        diesel::delete(backend_token_state::table.find(backend)).execute(conn)?;
        diesel::insert_into(backend_token_state::table)
            .values((
                backend_token_state::backend_name.eq(backend),
                backend_token_state::configured_fingerprint.eq(&state.configured_fingerprint),
                backend_token_state::refresh_token_ciphertext.eq(&state.refresh_token.ciphertext),
                backend_token_state::refresh_token_nonce.eq(&state.refresh_token.nonce),
                backend_token_state::updated_at.eq(now_ms()),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// A backend renamed through the admin API keeps its latest token (inside the caller's
/// transaction); a leftover row under the new name is replaced.
pub(crate) fn rename(conn: &mut DbConn, from: &str, to: &str) -> Result<(), StorageError> {
    diesel::delete(backend_token_state::table.find(to)).execute(conn)?;
    diesel::update(backend_token_state::table.find(from))
        .set(backend_token_state::backend_name.eq(to))
        .execute(conn)?;
    Ok(())
}

/// A deleted backend's latest token goes with it (it is still a live credential).
pub(crate) fn delete(conn: &mut DbConn, backend: &str) -> Result<(), StorageError> {
    diesel::delete(backend_token_state::table.find(backend)).execute(conn)?;
    Ok(())
}

pub(crate) fn count(conn: &mut DbConn) -> Result<i64, StorageError> {
    Ok(backend_token_state::table.count().get_result(conn)?)
}

/// Re-seals every stored refresh token with `reseal`, inside the caller's transaction.
pub(crate) fn reseal(
    conn: &mut DbConn,
    reseal: &impl Fn(&Sealed) -> Result<Sealed, String>,
) -> Result<usize, StorageError> {
    let rows: Vec<(String, String, String)> = backend_token_state::table
        .select((
            backend_token_state::backend_name,
            backend_token_state::refresh_token_ciphertext,
            backend_token_state::refresh_token_nonce,
        ))
        .load(conn)?;
    for (name, ciphertext, nonce) in &rows {
        let sealed = Sealed {
            ciphertext: ciphertext.clone(),
            nonce: nonce.clone(),
        };
        let resealed = reseal(&sealed).map_err(|e| {
            StorageError::Corrupt(format!("backend `{name}`'s latest refresh token: {e}"))
        })?;
        diesel::update(backend_token_state::table.find(name))
            .set((
                backend_token_state::refresh_token_ciphertext.eq(&resealed.ciphertext),
                backend_token_state::refresh_token_nonce.eq(&resealed.nonce),
                backend_token_state::updated_at.eq(now_ms()),
            ))
            .execute(conn)?;
    }
    Ok(rows.len())
}
