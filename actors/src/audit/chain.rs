//! The hash chain: `hash = SHA-256(prev_hash ‖ canonical(row))`, hex-encoded.
//!
//! The canonical encoding covers every column but `hash` itself, each as a tag byte and a
//! length-prefixed value, so no two different rows encode alike (a value can never spill into
//! the next field) and a missing value differs from an empty one.

use sha2::{Digest, Sha256};

use crate::auth::opaque::hex;
use crate::storage::audit_records::AuditRow;

/// The `prev_hash` of the very first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash `row` must carry, given its `prev_hash` and every other field.
pub fn row_hash(row: &AuditRow) -> String {
    let mut h = Sha256::new();
    text(&mut h, Some(&row.prev_hash));
    int(&mut h, Some(row.id));
    int(&mut h, Some(row.at_ms));
    text(&mut h, Some(&row.kind));
    text(&mut h, row.event.as_deref());
    int(&mut h, row.user_id);
    text(&mut h, row.username.as_deref());
    text(&mut h, row.method.as_deref());
    text(&mut h, row.backend.as_deref());
    text(&mut h, row.item.as_deref());
    text(&mut h, Some(&row.outcome));
    int(&mut h, row.error_code);
    int(&mut h, row.latency_us);
    text(&mut h, row.ip.as_deref());
    text(&mut h, row.details.as_deref());
    hex(&h.finalize())
}

fn text(h: &mut Sha256, value: Option<&str>) {
    match value {
        None => h.update([0u8]),
        Some(v) => {
            h.update([1u8]);
            h.update((v.len() as u64).to_be_bytes());
            h.update(v.as_bytes());
        }
    }
}

fn int(h: &mut Sha256, value: Option<i64>) {
    match value {
        None => h.update([0u8]),
        Some(v) => {
            h.update([2u8]);
            h.update(v.to_be_bytes());
        }
    }
}
