//! The `security_events` and `tool_definition_hashes` tables. Only the security events writer
//! (`actors::security`) writes them; the admin API reads events through [`list`].

use diesel::prelude::*;

use super::schema::{security_events, tool_definition_hashes};
use super::{DbConn, StorageError};

/// One stored security event, exactly as in the table.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, serde::Serialize)]
#[diesel(table_name = security_events)]
pub struct SecurityEventRow {
    pub id: i64,
    pub at_ms: i64,
    pub event_type: String,
    pub severity: String,
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub ip: Option<String>,
    pub endpoint: Option<String>,
    pub details: Option<String>,
}

/// What the admin API filters on; every field optional.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub event_type: Option<String>,
    pub severity: Option<String>,
    /// Matches the username.
    pub user: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Only events with a smaller id: the next page after a page ending at this id.
    pub before_id: Option<i64>,
    pub limit: i64,
}

impl EventFilter {
    /// Whether `row` passes the filter (the live stream applies the same rules as [`list`]).
    pub fn matches(&self, row: &SecurityEventRow) -> bool {
        self.event_type
            .as_ref()
            .is_none_or(|t| *t == row.event_type)
            && self.severity.as_ref().is_none_or(|s| *s == row.severity)
            && self
                .user
                .as_ref()
                .is_none_or(|u| row.username.as_deref() == Some(u))
            && self.since_ms.is_none_or(|t| row.at_ms >= t)
            && self.until_ms.is_none_or(|t| row.at_ms < t)
            && self.before_id.is_none_or(|id| row.id < id)
    }
}

/// Inserts `rows` in one transaction.
pub fn insert_batch(conn: &mut DbConn, rows: &[SecurityEventRow]) -> Result<(), StorageError> {
    // 9 columns: 1000 rows stay well under SQLite's bound-variable limit.
    const ROWS_PER_STATEMENT: usize = 1000;
    macro_rules! insert {
        ($conn:expr) => {
            $conn.transaction::<_, diesel::result::Error, _>(|c| {
                for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                    diesel::insert_into(security_events::table)
                        .values(chunk)
                        .execute(c)?;
                }
                Ok(())
            })
        };
    }
    // Multi-row insert does not compile through the MultiConnection: built per variant.
    match conn {
        DbConn::Sqlite(conn) => insert!(conn)?,
        DbConn::Postgres(conn) => insert!(conn)?,
    }
    Ok(())
}

/// The highest id written so far (0 for an empty table).
pub fn max_id(conn: &mut DbConn) -> Result<i64, StorageError> {
    Ok(security_events::table
        .select(diesel::dsl::max(security_events::id))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

/// Events matching `filter`, newest first, at most `filter.limit`.
pub fn list(
    conn: &mut DbConn,
    filter: &EventFilter,
) -> Result<Vec<SecurityEventRow>, StorageError> {
    let mut query = security_events::table.into_boxed();
    if let Some(t) = &filter.event_type {
        query = query.filter(security_events::event_type.eq(t.clone()));
    }
    if let Some(s) = &filter.severity {
        query = query.filter(security_events::severity.eq(s.clone()));
    }
    if let Some(u) = &filter.user {
        query = query.filter(security_events::username.eq(u.clone()));
    }
    if let Some(t) = filter.since_ms {
        query = query.filter(security_events::at_ms.ge(t));
    }
    // Half-open like the audit trail's: since ≤ at < until.
    if let Some(t) = filter.until_ms {
        query = query.filter(security_events::at_ms.lt(t));
    }
    if let Some(id) = filter.before_id {
        query = query.filter(security_events::id.lt(id));
    }
    Ok(query
        .order(security_events::id.desc())
        .limit(filter.limit)
        .select(SecurityEventRow::as_select())
        .load(conn)?)
}

/// Deletes events older than `older_than_ms` and beyond the newest `keep_rows`; returns how many.
pub fn prune(
    conn: &mut DbConn,
    older_than_ms: Option<i64>,
    keep_rows: Option<i64>,
) -> Result<usize, StorageError> {
    let mut deleted = 0;
    if let Some(at) = older_than_ms {
        deleted += diesel::delete(security_events::table.filter(security_events::at_ms.lt(at)))
            .execute(conn)?;
    }
    if let Some(keep) = keep_rows {
        let newest = max_id(conn)?;
        if newest - keep > 0 {
            deleted += diesel::delete(
                security_events::table.filter(security_events::id.le(newest - keep)),
            )
            .execute(conn)?;
        }
    }
    Ok(deleted)
}

/// Every known tool definition hash of `backend`: tool → hash.
pub fn tool_hashes(
    conn: &mut DbConn,
    backend: &str,
) -> Result<std::collections::HashMap<String, String>, StorageError> {
    Ok(tool_definition_hashes::table
        .filter(tool_definition_hashes::backend.eq(backend))
        .select((tool_definition_hashes::tool, tool_definition_hashes::hash))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}

/// Remembers `hash` as `backend`'s `tool` definition (insert or replace).
pub fn put_tool_hash(
    conn: &mut DbConn,
    backend: &str,
    tool: &str,
    hash: &str,
    at_ms: i64,
) -> Result<(), StorageError> {
    let updated = diesel::update(
        tool_definition_hashes::table
            .filter(tool_definition_hashes::backend.eq(backend))
            .filter(tool_definition_hashes::tool.eq(tool)),
    )
    .set((
        tool_definition_hashes::hash.eq(hash),
        tool_definition_hashes::updated_at_ms.eq(at_ms),
    ))
    .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(tool_definition_hashes::table)
            .values((
                tool_definition_hashes::backend.eq(backend),
                tool_definition_hashes::tool.eq(tool),
                tool_definition_hashes::hash.eq(hash),
                tool_definition_hashes::updated_at_ms.eq(at_ms),
            ))
            .execute(conn)?;
    }
    Ok(())
}
