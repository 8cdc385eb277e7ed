//! Query-string helpers shared by the admin API's record listings (audit trail, security events).

use std::collections::HashMap;

use actix_web::web;
use serde::Serialize;
use serde_json::Value;

use super::AdminApiError;

pub(crate) type Query = web::Query<HashMap<String, String>>;

/// Most records a listing returns when the caller names no `limit`, and at most.
const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 10_000;

pub(super) fn bad(message: String) -> AdminApiError {
    AdminApiError::InvalidInput("query", vec![message])
}

/// A non-empty text parameter.
pub(super) fn text(q: &Query, key: &str) -> Option<String> {
    q.get(key).filter(|v| !v.is_empty()).cloned()
}

pub(super) fn number<T: std::str::FromStr>(
    q: &Query,
    key: &str,
) -> Result<Option<T>, AdminApiError> {
    q.get(key)
        .map(|v| {
            v.parse()
                .map_err(|_| bad(format!("{key}: `{v}` is not a number")))
        })
        .transpose()
}

/// `limit`, 1..=MAX_LIMIT, default DEFAULT_LIMIT.
pub(super) fn limit(q: &Query) -> Result<i64, AdminApiError> {
    let limit = number::<i64>(q, "limit")?.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad(format!("limit: must be between 1 and {MAX_LIMIT}")));
    }
    Ok(limit)
}

/// A stored row for people and scripts: its `details` JSON text shown as an object.
pub(crate) fn with_details_object<R: Serialize>(row: &R, details: Option<&str>) -> Value {
    let mut v = serde_json::to_value(row).unwrap_or(Value::Null);
    if let Some(parsed) = details.and_then(|d| serde_json::from_str::<Value>(d).ok()) {
        v["details"] = parsed;
    }
    v
}
