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
    /// Per backend, busiest first (requests no backend answered, such as `initialize`, are left
    /// out).
    pub backends: Vec<BackendStats>,
    /// True when the window held more than the rows read.
    pub truncated: bool,
    /// The window cut into [`SERIES_POINTS`] equal slices, oldest first (the console's chart).
    pub series: Vec<SeriesPoint>,
}

/// One backend's requests in the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BackendStats {
    pub backend: String,
    pub total: u64,
    pub errors: u64,
    pub p50_latency_ms: Option<f64>,
    pub p95_latency_ms: Option<f64>,
}

/// How many slices [`WindowStats::series`] has.
pub const SERIES_POINTS: usize = 24;

/// Requests in one slice of the window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SeriesPoint {
    /// Unix milliseconds where the slice starts.
    pub start_ms: i64,
    pub total: u64,
    pub errors: u64,
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

    /// One row by id.
    pub async fn get(&self, id: i64) -> Result<Option<AuditRow>, StorageError> {
        self.db.run(move |conn| audit_records::get(conn, id)).await
    }

    /// Walks the hash chain like `authmcp-gateway audit verify`, on the blocking threads.
    pub async fn verify(&self) -> Result<super::verify::VerifyReport, StorageError> {
        self.db.run(super::verify::verify).await
    }

    /// Numbers over the MCP requests of the last `window_minutes`, `top` names per list.
    pub async fn window_stats(
        &self,
        window_minutes: u64,
        top: usize,
    ) -> Result<WindowStats, StorageError> {
        self.window_stats_of(AuditFilter::default(), window_minutes, top)
            .await
    }

    /// [`Self::window_stats`] over the MCP requests that also pass `filter` (its user,
    /// backend, tool and outcome; its kind and times are replaced by the window's).
    pub async fn window_stats_of(
        &self,
        filter: AuditFilter,
        window_minutes: u64,
        top: usize,
    ) -> Result<WindowStats, StorageError> {
        let since_ms = super::now_ms() - (window_minutes as i64) * 60_000;
        let filter = AuditFilter {
            kind: Some("mcp".into()),
            since_ms: Some(since_ms),
            until_ms: None,
            before_id: None,
            ..filter
        };
        let rows = self.search(filter, STATS_MAX_ROWS + 1).await?;
        Ok(summarise(&rows, since_ms, window_minutes, top))
    }
}

/// The `p` percentile (0–1, nearest rank) of sorted latencies in µs, in milliseconds.
fn percentile_ms(sorted_us: &[i64], p: f64) -> Option<f64> {
    (!sorted_us.is_empty()).then(|| {
        let rank = ((p * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
        sorted_us[rank - 1] as f64 / 1000.0
    })
}

fn per_backend(rows: &[AuditRow]) -> Vec<BackendStats> {
    let mut groups: HashMap<&str, (u64, u64, Vec<i64>)> = HashMap::new();
    for row in rows {
        let Some(backend) = row.backend.as_deref() else {
            continue;
        };
        let (total, errors, latencies) = groups.entry(backend).or_default();
        *total += 1;
        if row.outcome != "ok" {
            *errors += 1;
        }
        latencies.extend(row.latency_us);
    }
    let mut list: Vec<BackendStats> = groups
        .into_iter()
        .map(|(backend, (total, errors, mut latencies))| {
            latencies.sort_unstable();
            BackendStats {
                backend: backend.to_string(),
                total,
                errors,
                p50_latency_ms: percentile_ms(&latencies, 0.50),
                p95_latency_ms: percentile_ms(&latencies, 0.95),
            }
        })
        .collect();
    list.sort_by(|a, b| {
        b.total
            .cmp(&a.total)
            .then_with(|| a.backend.cmp(&b.backend))
    });
    list
}

/// Counts per slice of the window starting at `since_ms`.
fn series(rows: &[AuditRow], since_ms: i64, window_minutes: u64) -> Vec<SeriesPoint> {
    let slice_ms = ((window_minutes as i64) * 60_000 / SERIES_POINTS as i64).max(1);
    let mut points: Vec<SeriesPoint> = (0..SERIES_POINTS)
        .map(|i| SeriesPoint {
            start_ms: since_ms + i as i64 * slice_ms,
            ..SeriesPoint::default()
        })
        .collect();
    for row in rows {
        let index = ((row.at_ms - since_ms).max(0) / slice_ms) as usize;
        let point = &mut points[index.min(SERIES_POINTS - 1)];
        point.total += 1;
        if row.outcome != "ok" {
            point.errors += 1;
        }
    }
    points
}

fn summarise(rows: &[AuditRow], since_ms: i64, window_minutes: u64, top: usize) -> WindowStats {
    let truncated = rows.len() as i64 > STATS_MAX_ROWS;
    let rows = &rows[..rows.len().min(STATS_MAX_ROWS as usize)];
    let total = rows.len() as u64;
    let ok = rows.iter().filter(|r| r.outcome == "ok").count() as u64;
    let mut latencies: Vec<i64> = rows.iter().filter_map(|r| r.latency_us).collect();
    latencies.sort_unstable();
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
        p50_latency_ms: percentile_ms(&latencies, 0.50),
        p95_latency_ms: percentile_ms(&latencies, 0.95),
        requests_per_minute: total as f64 / window_minutes.max(1) as f64,
        top_tools: ranked(|r| {
            (r.method.as_deref() == Some("tools/call"))
                .then_some(r.item.as_ref())
                .flatten()
        }),
        top_users: ranked(|r| r.username.as_ref()),
        backends: per_backend(rows),
        truncated,
        series: series(rows, since_ms, window_minutes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(at_ms: i64, outcome: &str) -> AuditRow {
        AuditRow {
            id: at_ms,
            at_ms,
            kind: "mcp".into(),
            event: None,
            user_id: None,
            username: Some("alice".into()),
            method: Some("tools/call".into()),
            backend: Some(if outcome == "ok" { "a" } else { "b" }.into()),
            item: Some("echo".into()),
            outcome: outcome.into(),
            error_code: None,
            latency_us: Some(1000),
            ip: None,
            details: None,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn the_series_cuts_the_window_into_equal_slices() {
        // 24 minutes from t = 0: one slice per minute.
        let rows = [
            row(0, "ok"),
            row(59_999, "error"),
            row(60_000, "ok"),
            row(24 * 60_000, "ok"),
        ];
        let stats = summarise(&rows, 0, 24, 5);
        assert_eq!(stats.series.len(), SERIES_POINTS);
        assert_eq!((stats.series[0].total, stats.series[0].errors), (2, 1));
        assert_eq!(stats.series[1].start_ms, 60_000);
        assert_eq!(stats.series[1].total, 1);
        // A row stamped at the very end falls in the last slice.
        assert_eq!(stats.series[23].total, 1);
        assert_eq!(stats.top_tools, vec![("echo".to_string(), 4)]);
        let backends: Vec<(&str, u64, u64)> = stats
            .backends
            .iter()
            .map(|b| (b.backend.as_str(), b.total, b.errors))
            .collect();
        assert_eq!(backends, vec![("a", 3, 0), ("b", 1, 1)]);
        assert_eq!(stats.backends[0].p95_latency_ms, Some(1.0));
    }
}
