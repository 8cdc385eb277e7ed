//! Backends defined through the admin API (`backends` table). Owned by the backend registry
//! (`crate::registry`), which validates every value before it reaches this module and merges these
//! rows with the config file's backends.
//!
//! Credentials live in `backend_credentials` (static ones) or `backend_oauth` (OAuth clients),
//! one row per backend that has one, secrets stored sealed ([`crate::secrets::Sealed`]); this
//! module never sees a secret in clear. Writes replace the whole row: the registry computes the new state (validation needs it
//! anyway), so there is exactly one update statement to keep correct on both databases.

use diesel::prelude::*;

pub use super::backend_oauth::StoredOAuth;
use super::schema::{backend_credentials, backends, revisions};
use super::{DbConn, StorageError, now_ms};
use super::{backend_oauth, backend_token_state};
use crate::secrets::Sealed;

/// A stored backend. Times are unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBackend {
    pub id: i64,
    pub record: BackendRecord,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Every column the registry writes. `transport` is `streamable-http` or `sse` (the table also
/// allows `stdio`, which the API refuses: commands stay in the operator's config file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendRecord {
    /// The identifier: `/mcp/<name>`, the default tool prefix, policies.
    pub name: String,
    /// What people read (e.g. "GitHub MCP" for `github-mcp`); `None`: shown by its name.
    pub display_name: Option<String>,
    pub transport: String,
    pub url: Option<String>,
    /// `None` means the default `"<name>_"`, which follows the name when it changes.
    pub tool_prefix: Option<String>,
    pub enabled: bool,
    pub timeout_ms: i64,
    pub health_interval_s: i64,
    /// A static credential; `None` with `oauth` also `None`: the gateway sends no credential
    /// (auth_type `none`).
    pub credential: Option<StoredCredential>,
    /// An OAuth client credential (never together with `credential`).
    pub oauth: Option<StoredOAuth>,
}

/// A credential as stored: the kind, the header name for `header`, the sealed token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredential {
    /// `bearer`, `basic` or `header`.
    pub auth_type: String,
    pub auth_header: Option<String>,
    pub token: Sealed,
}

type BackendRow = (
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    i32,
    i64,
    i64,
    i64,
    i64,
    Option<String>,
);
type CredentialRow = (String, Option<String>, String, String);

type BackendColumns = (
    backends::id,
    backends::name,
    backends::transport,
    backends::url,
    backends::tool_prefix,
    backends::enabled,
    backends::timeout_ms,
    backends::health_interval_s,
    backends::created_at,
    backends::updated_at,
    backends::display_name,
);

const BACKEND_COLUMNS: BackendColumns = (
    backends::id,
    backends::name,
    backends::transport,
    backends::url,
    backends::tool_prefix,
    backends::enabled,
    backends::timeout_ms,
    backends::health_interval_s,
    backends::created_at,
    backends::updated_at,
    backends::display_name,
);

type CredentialColumns = (
    backend_credentials::auth_type,
    backend_credentials::auth_header,
    backend_credentials::token_ciphertext,
    backend_credentials::token_nonce,
);

const CREDENTIAL_COLUMNS: CredentialColumns = (
    backend_credentials::auth_type,
    backend_credentials::auth_header,
    backend_credentials::token_ciphertext,
    backend_credentials::token_nonce,
);

fn from_rows(row: BackendRow, credential: Option<CredentialRow>) -> StoredBackend {
    let (id, name, transport, url, tool_prefix, enabled, timeout_ms, health_interval_s) =
        (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7);
    let credential =
        credential.map(
            |(auth_type, auth_header, ciphertext, nonce)| StoredCredential {
                auth_type,
                auth_header,
                token: Sealed { ciphertext, nonce },
            },
        );
    StoredBackend {
        id,
        record: BackendRecord {
            name,
            display_name: row.10,
            transport,
            url,
            tool_prefix,
            enabled: enabled != 0,
            timeout_ms,
            health_interval_s,
            credential,
            oauth: None,
        },
        created_at_ms: row.8,
        updated_at_ms: row.9,
    }
}

fn conflict(name: &str) -> impl FnOnce() -> String + '_ {
    move || format!("a backend named `{name}` already exists")
}

/// Fails with `Conflict("a backend named `x` already exists")` when the name is taken.
pub fn create(conn: &mut DbConn, record: &BackendRecord) -> Result<StoredBackend, StorageError> {
    super::in_transaction(conn, |conn| {
        let now = now_ms();
        let id = diesel::insert_into(backends::table)
            .values((
                backends::name.eq(&record.name),
                backends::display_name.eq(&record.display_name),
                backends::transport.eq(&record.transport),
                backends::url.eq(&record.url),
                backends::tool_prefix.eq(&record.tool_prefix),
                backends::enabled.eq(i32::from(record.enabled)),
                backends::timeout_ms.eq(record.timeout_ms),
                backends::health_interval_s.eq(record.health_interval_s),
                backends::created_at.eq(now),
                backends::updated_at.eq(now),
            ))
            .returning(backends::id)
            .get_result::<i64>(conn)
            .map_err(|err| StorageError::conflict_or(err, conflict(&record.name)))?;
        write_credential(conn, id, record)?;
        found(find(conn, id)?, id)
    })
}

/// Every stored backend, by id.
pub fn list(conn: &mut DbConn) -> Result<Vec<StoredBackend>, StorageError> {
    let mut oauth = backend_oauth::all(conn)?;
    let mut rows: Vec<StoredBackend> = backends::table
        .left_join(backend_credentials::table)
        .select((BACKEND_COLUMNS, CREDENTIAL_COLUMNS.nullable()))
        .order(backends::id.asc())
        .load::<(BackendRow, Option<CredentialRow>)>(conn)?
        .into_iter()
        .map(|(row, credential)| from_rows(row, credential))
        .collect();
    for row in &mut rows {
        row.record.oauth = oauth.remove(&row.id);
    }
    Ok(rows)
}

pub fn find(conn: &mut DbConn, id: i64) -> Result<Option<StoredBackend>, StorageError> {
    let Some(mut stored) = backends::table
        .left_join(backend_credentials::table)
        .filter(backends::id.eq(id))
        .select((BACKEND_COLUMNS, CREDENTIAL_COLUMNS.nullable()))
        .first::<(BackendRow, Option<CredentialRow>)>(conn)
        .optional()?
        .map(|(row, credential)| from_rows(row, credential))
    else {
        return Ok(None);
    };
    stored.record.oauth = backend_oauth::find(conn, id)?;
    Ok(Some(stored))
}

/// Replaces every written column of backend `id` and its credential. `NotFound` when absent,
/// `Conflict` when the new name is taken by another backend.
pub fn replace(
    conn: &mut DbConn,
    id: i64,
    record: &BackendRecord,
) -> Result<StoredBackend, StorageError> {
    super::in_transaction(conn, |conn| {
        let old_name: Option<String> = backends::table
            .find(id)
            .select(backends::name)
            .first(conn)
            .optional()?;
        let changed = diesel::update(backends::table.find(id))
            .set((
                backends::name.eq(&record.name),
                backends::display_name.eq(&record.display_name),
                backends::transport.eq(&record.transport),
                backends::url.eq(&record.url),
                backends::tool_prefix.eq(&record.tool_prefix),
                backends::enabled.eq(i32::from(record.enabled)),
                backends::timeout_ms.eq(record.timeout_ms),
                backends::health_interval_s.eq(record.health_interval_s),
                backends::updated_at.eq(now_ms()),
            ))
            .execute(conn)
            .map_err(|err| StorageError::conflict_or(err, conflict(&record.name)))?;
        if changed == 0 {
            return Err(not_found(id));
        }
        if let Some(old) = old_name.filter(|old| *old != record.name) {
            backend_token_state::rename(conn, &old, &record.name)?;
        }
        write_credential(conn, id, record)?;
        found(find(conn, id)?, id)
    })
}

/// Removes backend `id` (its credential goes with it) and returns what was stored.
pub fn delete(conn: &mut DbConn, id: i64) -> Result<StoredBackend, StorageError> {
    super::in_transaction(conn, |conn| {
        let stored = found(find(conn, id)?, id)?;
        // Explicit rather than relying on ON DELETE CASCADE, which SQLite honours only while
        // `PRAGMA foreign_keys` is on for this connection.
        diesel::delete(backend_credentials::table.find(id)).execute(conn)?;
        backend_oauth::write(conn, id, None)?;
        backend_token_state::delete(conn, &stored.record.name)?;
        diesel::delete(backends::table.find(id)).execute(conn)?;
        Ok(stored)
    })
}

/// Whether any stored credential exists (the secrets-key check only matters then).
pub fn has_credentials(conn: &mut DbConn) -> Result<bool, StorageError> {
    let count: i64 = backend_credentials::table.count().get_result(conn)?;
    Ok(count + backend_oauth::count(conn)? + backend_token_state::count(conn)? > 0)
}

fn write_credential(
    conn: &mut DbConn,
    id: i64,
    record: &BackendRecord,
) -> Result<(), StorageError> {
    backend_oauth::write(conn, id, record.oauth.as_ref())?;
    // Delete + insert: upsert does not compile through the MultiConnection.
    diesel::delete(backend_credentials::table.find(id)).execute(conn)?;
    if let Some(c) = &record.credential {
        diesel::insert_into(backend_credentials::table)
            .values((
                backend_credentials::backend_id.eq(id),
                backend_credentials::auth_type.eq(&c.auth_type),
                backend_credentials::auth_header.eq(&c.auth_header),
                backend_credentials::token_ciphertext.eq(&c.token.ciphertext),
                backend_credentials::token_nonce.eq(&c.token.nonce),
                backend_credentials::updated_at.eq(now_ms()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

fn not_found(id: i64) -> StorageError {
    StorageError::NotFound(format!("no backend with id {id}"))
}

fn found(stored: Option<StoredBackend>, id: i64) -> Result<StoredBackend, StorageError> {
    stored.ok_or_else(|| not_found(id))
}

/// Increases on every insert, update or delete (database triggers), whoever made it: another
/// instance on the same PostgreSQL included.
pub fn revision(conn: &mut DbConn) -> Result<i64, StorageError> {
    Ok(revisions::table
        .find("backends")
        .select(revisions::value)
        .first(conn)?)
}

/// Re-seals every stored secret with `reseal` (open under the old key, seal under the new) in one
/// transaction: static tokens, OAuth client secrets and configured refresh tokens, and the
/// latest (rotated) refresh tokens of `backend_token_state`. Either every value moves to the new
/// key or none does; one that does not open fails the whole rotation (`Corrupt`, naming the
/// backend, never the value). Returns how many values were re-sealed.
pub fn reseal_credentials(
    conn: &mut DbConn,
    reseal: impl Fn(&Sealed) -> Result<Sealed, String>,
) -> Result<usize, StorageError> {
    super::in_transaction(conn, |conn| {
        let rows: Vec<(i64, String, String)> = backend_credentials::table
            .select((
                backend_credentials::backend_id,
                backend_credentials::token_ciphertext,
                backend_credentials::token_nonce,
            ))
            .load(conn)?;
        for (id, ciphertext, nonce) in &rows {
            let sealed = Sealed {
                ciphertext: ciphertext.clone(),
                nonce: nonce.clone(),
            };
            let resealed = reseal(&sealed)
                .map_err(|e| StorageError::Corrupt(format!("backend {id}'s credential: {e}")))?;
            diesel::update(backend_credentials::table.find(*id))
                .set((
                    backend_credentials::token_ciphertext.eq(&resealed.ciphertext),
                    backend_credentials::token_nonce.eq(&resealed.nonce),
                    backend_credentials::updated_at.eq(now_ms()),
                ))
                .execute(conn)?;
        }
        let oauth = backend_oauth::reseal(conn, &reseal)?;
        let rotated = backend_token_state::reseal(conn, &reseal)?;
        Ok(rows.len() + oauth + rotated)
    })
}
