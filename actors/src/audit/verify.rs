//! Walks the stored chain and names the first break: `authmcp-gateway audit verify`.

use crate::storage::audit_records::{self, AuditRow};
use crate::storage::{DbConn, StorageError};

use super::chain::{GENESIS, row_hash};

/// Rows read per query while walking.
const PAGE: i64 = 5000;

/// What the walk found first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// The row's fields no longer match its hash.
    Altered { id: i64 },
    /// Rows `from..=to` are missing (ids are assigned without gaps).
    Deleted { from: i64, to: i64 },
    /// The row was added outside the chain: its id repeats or runs backwards, or the next row
    /// links past it to the row before.
    Inserted { id: i64 },
    /// The row does not link to the row before it (its `prev_hash` differs).
    Unlinked { id: i64 },
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainBreak::Altered { id } => {
                write!(
                    f,
                    "record {id} was altered: its fields do not match its hash"
                )
            }
            ChainBreak::Deleted { from, to } if from == to => {
                write!(
                    f,
                    "record {from} was deleted: the chain skips from {} to {}",
                    from - 1,
                    to + 1
                )
            }
            ChainBreak::Deleted { from, to } => {
                write!(
                    f,
                    "records {from} to {to} were deleted: the chain skips from {} to {}",
                    from - 1,
                    to + 1
                )
            }
            ChainBreak::Inserted { id } => write!(
                f,
                "record {id} was inserted: it is not part of the chain the gateway wrote"
            ),
            ChainBreak::Unlinked { id } => write!(
                f,
                "record {id} does not link to the record before it (that record or this one was altered)"
            ),
        }
    }
}

/// The outcome of a walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Rows checked before the first break (all of them when there is none).
    pub checked: u64,
    /// The id the chain starts after (the prune anchor), 0 when nothing was pruned.
    pub anchor_id: i64,
    pub first_break: Option<ChainBreak>,
}

/// Walks every row from the prune anchor on. Blocking: run it with `Database::run[_blocking]`.
pub fn verify(conn: &mut DbConn) -> Result<VerifyReport, StorageError> {
    let anchor = audit_records::anchor(conn)?;
    let (anchor_id, anchor_hash) = anchor
        .map(|a| (a.id, a.hash))
        .unwrap_or((0, GENESIS.to_string()));
    let mut walk = Walk {
        expected_id: anchor_id + 1,
        expected_prev: anchor_hash,
        previous: None,
        checked: 0,
    };
    let mut after = i64::MIN;
    loop {
        let rows = audit_records::page(conn, after, PAGE)?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        for row in &rows {
            if let Some(found) = walk.step(row) {
                return Ok(VerifyReport {
                    checked: walk.checked,
                    anchor_id,
                    first_break: Some(found),
                });
            }
        }
    }
    Ok(VerifyReport {
        checked: walk.checked,
        anchor_id,
        first_break: None,
    })
}

struct Walk {
    expected_id: i64,
    expected_prev: String,
    /// The previous row's id and `prev_hash`: a row linking to that instead means the previous
    /// row was slipped in.
    previous: Option<(i64, String)>,
    checked: u64,
}

impl Walk {
    fn step(&mut self, row: &AuditRow) -> Option<ChainBreak> {
        if row.id < self.expected_id {
            return Some(ChainBreak::Inserted { id: row.id });
        }
        if row.prev_hash != self.expected_prev {
            if let Some((prev_id, prev_prev)) = &self.previous
                && *prev_prev == row.prev_hash
            {
                return Some(ChainBreak::Inserted { id: *prev_id });
            }
            if row.id > self.expected_id {
                return Some(ChainBreak::Deleted {
                    from: self.expected_id,
                    to: row.id - 1,
                });
            }
            return Some(ChainBreak::Unlinked { id: row.id });
        }
        if row.id > self.expected_id {
            // Linked, yet ids skip: renumbered rows (the id is covered by the hash).
            return Some(ChainBreak::Altered { id: row.id });
        }
        if row_hash(row) != row.hash {
            return Some(ChainBreak::Altered { id: row.id });
        }
        self.previous = Some((row.id, row.prev_hash.clone()));
        self.expected_prev = row.hash.clone();
        self.expected_id = row.id + 1;
        self.checked += 1;
        None
    }
}
