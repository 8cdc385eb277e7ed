//! The `tool_approvals` table: per backend tool, the approved definition (pinned when first
//! seen) and a changed one awaiting approval. Only `actors::security::ToolApprovals` writes it;
//! every change bumps `revisions('tool_approvals')` (triggers), which other instances poll.

use diesel::prelude::*;

use super::schema::{revisions, tool_approvals};
use super::{DbConn, StorageError};

/// One row, exactly as in the table.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, serde::Serialize)]
#[diesel(table_name = tool_approvals)]
pub struct ToolApprovalRow {
    pub backend: String,
    pub tool: String,
    pub approved_hash: String,
    pub approved_definition: String,
    pub approved_by: Option<String>,
    pub approved_at_ms: i64,
    pub pending_hash: Option<String>,
    pub pending_definition: Option<String>,
    pub changed_at_ms: Option<i64>,
}

/// Every row (the table holds one row per backend tool ever seen: small).
/// Increases on every change to `tool_approvals` (database triggers), whoever made it.
pub fn revision(conn: &mut DbConn) -> Result<i64, StorageError> {
    Ok(revisions::table
        .find("tool_approvals")
        .select(revisions::value)
        .first(conn)?)
}

pub fn all(conn: &mut DbConn) -> Result<Vec<ToolApprovalRow>, StorageError> {
    Ok(tool_approvals::table
        .select(ToolApprovalRow::as_select())
        .load(conn)?)
}

/// `backend`'s rows with a change awaiting approval, by tool name.
pub fn pending(conn: &mut DbConn, backend: &str) -> Result<Vec<ToolApprovalRow>, StorageError> {
    Ok(tool_approvals::table
        .filter(tool_approvals::backend.eq(backend))
        .filter(tool_approvals::pending_hash.is_not_null())
        .order(tool_approvals::tool.asc())
        .select(ToolApprovalRow::as_select())
        .load(conn)?)
}

/// Pins a tool seen for the first time.
pub fn pin(conn: &mut DbConn, row: &ToolApprovalRow) -> Result<(), StorageError> {
    diesel::insert_into(tool_approvals::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Sets (or, with `None`, clears) the definition awaiting approval.
pub fn set_pending(
    conn: &mut DbConn,
    backend: &str,
    tool: &str,
    pending: Option<(&str, &str)>,
    at_ms: i64,
) -> Result<(), StorageError> {
    let target = tool_approvals::table
        .filter(tool_approvals::backend.eq(backend))
        .filter(tool_approvals::tool.eq(tool));
    diesel::update(target)
        .set((
            tool_approvals::pending_hash.eq(pending.map(|(hash, _)| hash)),
            tool_approvals::pending_definition.eq(pending.map(|(_, definition)| definition)),
            tool_approvals::changed_at_ms.eq(pending.map(|_| at_ms)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Makes the pending definition with `hash` the approved one; `false` when the tool has no
/// pending definition with that hash (approved already, or changed again meanwhile).
pub fn approve(
    conn: &mut DbConn,
    backend: &str,
    tool: &str,
    hash: &str,
    by: &str,
    at_ms: i64,
) -> Result<bool, StorageError> {
    let target = tool_approvals::table
        .filter(tool_approvals::backend.eq(backend))
        .filter(tool_approvals::tool.eq(tool))
        .filter(tool_approvals::pending_hash.eq(hash));
    let row: Option<ToolApprovalRow> = target
        .select(ToolApprovalRow::as_select())
        .first(conn)
        .optional()?;
    let Some(definition) = row.and_then(|r| r.pending_definition) else {
        return Ok(false);
    };
    let updated = diesel::update(target)
        .set((
            tool_approvals::approved_hash.eq(hash),
            tool_approvals::approved_definition.eq(definition),
            tool_approvals::approved_by.eq(Some(by)),
            tool_approvals::approved_at_ms.eq(at_ms),
            tool_approvals::pending_hash.eq(None::<String>),
            tool_approvals::pending_definition.eq(None::<String>),
            tool_approvals::changed_at_ms.eq(None::<i64>),
        ))
        .execute(conn)?;
    Ok(updated == 1)
}
