//! Reading the trail back for the admin API: filtered rows, and summary numbers over a window.

use std::collections::HashMap;

use serde::Serialize;

use super::AuditHandle;
use crate::storage::StorageError;
use crate::storage::audit_records::{self, AuditFilter, AuditRow};

/// The most rows one summary reads; a busier window is summarised over its newest rows.
const STATS_MAX_ROWS: i64 = 200_000;

/// `GET /admin/api/mcp-stats`: MCP requests in a window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WindowStats {
    pub window_minutes: u64,
    pub total: u64,
    pub ok: u64,
    pub errors: u64,
    /// ok / total, 1.0 for an empty window.
    pub success_rate: f64,
    pub p50_latency_ms: Option<f64>,
    pub p95_latency_ms: Option<f64>,
    pub requests_per_minute: f64,
    /// `[name, count]`, busiest first.
    pub top_tools: Vec<(String, u64)>,
    pub top_users: Vec<(String, u64)>,
    /// True when the window held more than the rows read.
    pub truncated: bool,
}

impl AuditHandle {
    /// The newest rows matching `filter`, at most `limit`.
    pub async fn search(
        &self,
        filter: AuditFilter,
        limit: i64,
    ) -> Result<Vec<AuditRow>, StorageError> {
        self.db
            .run(move |conn| audit_records::search(conn, &filter, limit))
            .await
    }

    /// Numbers over the MCP requests of the last `window_minutes`, `top` names per list.
    pub async fn window_stats(
        &self,
        window_minutes: u64,
        top: usize,
    ) -> Result<WindowStats, StorageError> {
        let filter = AuditFilter {
            kind: Some("mcp".into()),
            since_ms: Some(super::now_ms() - (window_minutes as i64) * 60_000),
            ..AuditFilter::default()
        };
        let rows = self.search(filter, STATS_MAX_ROWS + 1).await?;
        Ok(summarise(&rows, window_minutes, top))
    }
}

fn summarise(rows: &[AuditRow], window_minutes: u64, top: usize) -> WindowStats {
    let truncated = rows.len() as i64 > STATS_MAX_ROWS;
    let rows = &rows[..rows.len().min(STATS_MAX_ROWS as usize)];
    let total = rows.len() as u64;
    let ok = rows.iter().filter(|r| r.outcome == "ok").count() as u64;
    let mut latencies: Vec<i64> = rows.iter().filter_map(|r| r.latency_us).collect();
    latencies.sort_unstable();
    let percentile = |p: f64| {
        (!latencies.is_empty()).then(|| {
            let rank = ((p * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
            latencies[rank - 1] as f64 / 1000.0
        })
    };
    let ranked = |key: fn(&AuditRow) -> Option<&String>| {
        let mut counts: HashMap<&str, u64> = HashMap::new();
        for row in rows {
            if let Some(k) = key(row) {
                *counts.entry(k.as_str()).or_default() += 1;
            }
        }
        let mut list: Vec<(String, u64)> = counts
            .into_iter()
            .map(|(k, n)| (k.to_string(), n))
            .collect();
        list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        list.truncate(top);
        list
    };
    WindowStats {
        window_minutes,
        total,
        ok,
        errors: total - ok,
        success_rate: if total == 0 {
            1.0
        } else {
            ok as f64 / total as f64
        },
        p50_latency_ms: percentile(0.50),
        p95_latency_ms: percentile(0.95),
        requests_per_minute: total as f64 / window_minutes.max(1) as f64,
        top_tools: ranked(|r| {
            (r.method.as_deref() == Some("tools/call"))
                .then_some(r.item.as_ref())
                .flatten()
        }),
        top_users: ranked(|r| r.username.as_ref()),
        truncated,
    }
}
