//! Runtime settings (`runtime_settings` table): administrator overrides for an allow-list of
//! configuration keys, stored as JSON text. Owned by the gateway's configuration wiring (the root
//! crate's `runtime_settings`), which validates every value with the file's rules before it
//! reaches this module. Every change bumps `revisions('runtime_settings')` (database triggers), so
//! another instance on the same database notices and reloads.

use std::collections::BTreeMap;

use diesel::prelude::*;

use super::schema::{revisions, runtime_settings};
use super::{DbConn, StorageError, in_transaction, now_ms};

/// One stored override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSetting {
    /// The configuration key, e.g. `rate_limit.mcp_max`.
    pub key: String,
    /// The value as JSON text (`60`, `true`).
    pub value_json: String,
    pub updated_at_ms: i64,
    /// The administrator who set it.
    pub updated_by: String,
}

/// Every stored override, by key.
pub fn list(conn: &mut DbConn) -> Result<BTreeMap<String, StoredSetting>, StorageError> {
    let rows: Vec<(String, String, i64, String)> = runtime_settings::table
        .select((
            runtime_settings::key,
            runtime_settings::value_json,
            runtime_settings::updated_at,
            runtime_settings::updated_by,
        ))
        .order(runtime_settings::key)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(key, value_json, updated_at_ms, updated_by)| {
            let setting = StoredSetting {
                key: key.clone(),
                value_json,
                updated_at_ms,
                updated_by,
            };
            (key, setting)
        })
        .collect())
}

/// Applies one change set in one transaction: `Some(json)` sets a key, `None` clears it.
pub fn apply(
    conn: &mut DbConn,
    changes: &BTreeMap<String, Option<String>>,
    updated_by: &str,
) -> Result<(), StorageError> {
    let now = now_ms();
    in_transaction(conn, |conn| {
        for (key, value) in changes {
            // Delete then insert: upsert does not compile through the MultiConnection, and the
            // transaction makes the pair one change.
            diesel::delete(runtime_settings::table.find(key)).execute(conn)?;
            if let Some(json) = value {
                diesel::insert_into(runtime_settings::table)
                    .values((
                        runtime_settings::key.eq(key),
                        runtime_settings::value_json.eq(json),
                        runtime_settings::updated_at.eq(now),
                        runtime_settings::updated_by.eq(updated_by),
                    ))
                    .execute(conn)?;
            }
        }
        Ok(())
    })
}

/// Increases on every change to `runtime_settings` (database triggers).
pub fn revision(conn: &mut DbConn) -> Result<i64, StorageError> {
    Ok(revisions::table
        .find("runtime_settings")
        .select(revisions::value)
        .first(conn)?)
}
