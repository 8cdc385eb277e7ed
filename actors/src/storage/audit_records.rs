//! The `audit_records` table. Only the AuditActor writes it (in batches, one transaction each);
//! the admin API and `audit verify` read it.

use diesel::prelude::*;

use super::schema::audit_records;
use super::{DbConn, StorageError, settings};

/// Where the chain starts after pruning: the id and hash of the last pruned row.
const ANCHOR_KEY: &str = "audit_anchor";

/// One stored audit row, exactly as in the table.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, serde::Serialize)]
#[diesel(table_name = audit_records)]
// `None` is bound as NULL (the columns have no defaults), so every row has the same statement
// shape and SQLite's prepared insert is cached instead of rebuilt per row.
#[diesel(treat_none_as_default_value = false)]
pub struct AuditRow {
    pub id: i64,
    pub at_ms: i64,
    pub kind: String,
    pub event: Option<String>,
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub method: Option<String>,
    pub backend: Option<String>,
    pub item: Option<String>,
    pub outcome: String,
    pub error_code: Option<i64>,
    pub latency_us: Option<i64>,
    pub ip: Option<String>,
    pub details: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// The chain's starting point: the last pruned row, or nothing pruned yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub id: i64,
    pub hash: String,
}

/// Inserts `rows` in one transaction: single-row statements on SQLite, one `COPY` on PostgreSQL
/// (the statement is built per variant: neither compiles through the MultiConnection).
pub fn insert_batch(conn: &mut DbConn, rows: &[AuditRow]) -> Result<(), StorageError> {
    match conn {
        // SQLite: a single-row insert is prepared once and reused (diesel caches it); a
        // multi-row one has a new shape for every batch size, so each batch re-built and
        // re-parsed a statement of up to 23,000 placeholders. In-process, there are no round
        // trips to save.
        DbConn::Sqlite(conn) => conn.transaction::<_, diesel::result::Error, _>(|c| {
            for row in rows {
                diesel::insert_into(audit_records::table)
                    .values(row)
                    .execute(c)?;
            }
            Ok(())
        })?,
        // PostgreSQL: one `COPY … FROM STDIN` (binary format) per batch. The writer alone: about
        // 46,000 records/s with multi-row inserts, 113,000 with COPY (bench/audit.py --writer).
        DbConn::Postgres(conn) => conn.transaction::<_, diesel::result::Error, _>(|c| {
            diesel::copy_from(audit_records::table)
                .from_insertable(rows)
                .execute(c)?;
            Ok(())
        })?,
    }
    Ok(())
}

/// The newest row's id and hash, else the prune anchor, else `None` (an empty trail).
pub fn chain_head(conn: &mut DbConn) -> Result<Option<Anchor>, StorageError> {
    let last = audit_records::table
        .order(audit_records::id.desc())
        .select((audit_records::id, audit_records::hash))
        .first::<(i64, String)>(conn)
        .optional()?;
    match last {
        Some((id, hash)) => Ok(Some(Anchor { id, hash })),
        None => anchor(conn),
    }
}

/// The last pruned row's id and hash, if anything was ever pruned.
pub fn anchor(conn: &mut DbConn) -> Result<Option<Anchor>, StorageError> {
    let Some(value) = settings::get(conn, ANCHOR_KEY)? else {
        return Ok(None);
    };
    let parsed = value
        .split_once(':')
        .and_then(|(id, hash)| Some((id.parse().ok()?, hash.to_string())));
    match parsed {
        Some((id, hash)) => Ok(Some(Anchor { id, hash })),
        None => Err(StorageError::Corrupt(format!(
            "settings({ANCHOR_KEY}) is not `<id>:<hash>`"
        ))),
    }
}

/// Rows with `id > after`, oldest first, at most `limit`.
pub fn page(conn: &mut DbConn, after: i64, limit: i64) -> Result<Vec<AuditRow>, StorageError> {
    Ok(audit_records::table
        .filter(audit_records::id.gt(after))
        .order(audit_records::id.asc())
        .limit(limit)
        .select(AuditRow::as_select())
        .load(conn)?)
}

pub fn count(conn: &mut DbConn) -> Result<i64, StorageError> {
    Ok(audit_records::table.count().get_result(conn)?)
}

/// Deletes the oldest rows so that none is older than `older_than_ms` (if given) and at most
/// `keep_rows` remain (if given), recording the last deleted row as the anchor in the same
/// transaction. Returns how many rows went.
pub fn prune(
    conn: &mut DbConn,
    older_than_ms: Option<i64>,
    keep_rows: Option<i64>,
) -> Result<usize, StorageError> {
    conn.transaction::<_, StorageError, _>(|conn| {
        let mut cutoff: Option<i64> = None;
        if let Some(at) = older_than_ms {
            cutoff = audit_records::table
                .filter(audit_records::at_ms.lt(at))
                .select(diesel::dsl::max(audit_records::id))
                .first::<Option<i64>>(conn)?;
        }
        if let Some(keep) = keep_rows {
            let newest = audit_records::table
                .select(diesel::dsl::max(audit_records::id))
                .first::<Option<i64>>(conn)?;
            if let Some(newest) = newest {
                let by_rows = newest - keep;
                if by_rows > 0 {
                    cutoff = Some(cutoff.map_or(by_rows, |c| c.max(by_rows)));
                }
            }
        }
        let Some(cutoff) = cutoff else {
            return Ok(0);
        };
        let last = audit_records::table
            .filter(audit_records::id.le(cutoff))
            .order(audit_records::id.desc())
            .select((audit_records::id, audit_records::hash))
            .first::<(i64, String)>(conn)
            .optional()?;
        let Some((id, hash)) = last else {
            return Ok(0);
        };
        let deleted =
            diesel::delete(audit_records::table.filter(audit_records::id.le(id))).execute(conn)?;
        settings::put(conn, ANCHOR_KEY, &format!("{id}:{hash}"))?;
        Ok(deleted)
    })
}

/// Filters for reading the trail back (admin API); every one optional.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub kind: Option<String>,
    pub username: Option<String>,
    pub backend: Option<String>,
    pub item: Option<String>,
    pub outcome: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Only rows with a smaller id: the next page after a page ending at this id.
    pub before_id: Option<i64>,
}

/// One row by id.
pub fn get(conn: &mut DbConn, id: i64) -> Result<Option<AuditRow>, StorageError> {
    Ok(audit_records::table
        .find(id)
        .select(AuditRow::as_select())
        .first(conn)
        .optional()?)
}

/// The newest matching rows first, at most `limit`.
pub fn search(
    conn: &mut DbConn,
    filter: &AuditFilter,
    limit: i64,
) -> Result<Vec<AuditRow>, StorageError> {
    let mut query = audit_records::table.into_boxed();
    if let Some(kind) = &filter.kind {
        query = query.filter(audit_records::kind.eq(kind.clone()));
    }
    if let Some(user) = &filter.username {
        query = query.filter(audit_records::username.eq(user.clone()));
    }
    if let Some(backend) = &filter.backend {
        query = query.filter(audit_records::backend.eq(backend.clone()));
    }
    if let Some(item) = &filter.item {
        query = query.filter(audit_records::item.eq(item.clone()));
    }
    if let Some(outcome) = &filter.outcome {
        query = query.filter(audit_records::outcome.eq(outcome.clone()));
    }
    if let Some(since) = filter.since_ms {
        query = query.filter(audit_records::at_ms.ge(since));
    }
    if let Some(until) = filter.until_ms {
        query = query.filter(audit_records::at_ms.lt(until));
    }
    if let Some(before) = filter.before_id {
        query = query.filter(audit_records::id.lt(before));
    }
    Ok(query
        .order(audit_records::id.desc())
        .limit(limit)
        .select(AuditRow::as_select())
        .load(conn)?)
}
