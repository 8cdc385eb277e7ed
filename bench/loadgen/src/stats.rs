//! Latency summaries (nearest-rank percentiles) over recorded samples.
//!
//! Samples are kept raw (nanoseconds) rather than in a histogram: runs are short (at most a few
//! million calls), and exact percentiles avoid bucket-width arguments when comparing direct and
//! gateway figures that differ by tens of microseconds.

use serde::Serialize;

/// Percentiles and mean of one set of latency samples, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: usize,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
}

/// The nearest-rank `p`-th percentile (0 < p ≤ 100) of ascending `sorted` samples.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() || !(p > 0.0 && p <= 100.0) {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Sorts `samples_ns` in place and summarizes them; `None` when there are none.
pub fn summarize(samples_ns: &mut [u64]) -> Option<LatencySummary> {
    samples_ns.sort_unstable();
    let us = |ns: u64| ns as f64 / 1000.0;
    let total: u128 = samples_ns.iter().map(|&s| u128::from(s)).sum();
    Some(LatencySummary {
        count: samples_ns.len(),
        p50_us: us(percentile(samples_ns, 50.0)?),
        p90_us: us(percentile(samples_ns, 90.0)?),
        p99_us: us(percentile(samples_ns, 99.0)?),
        max_us: us(*samples_ns.last()?),
        mean_us: total as f64 / samples_ns.len() as f64 / 1000.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles_of_one_to_a_hundred() {
        let samples: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&samples, 50.0), Some(50));
        assert_eq!(percentile(&samples, 99.0), Some(99));
        assert_eq!(percentile(&samples, 100.0), Some(100));
        assert_eq!(percentile(&samples, 0.5), Some(1));
    }

    #[test]
    fn percentile_rounds_rank_up_on_small_sets() {
        let samples = [10, 20, 30];
        assert_eq!(percentile(&samples, 50.0), Some(20));
        assert_eq!(percentile(&samples, 99.0), Some(30));
        assert_eq!(percentile(&[7], 50.0), Some(7));
    }

    #[test]
    fn percentile_rejects_empty_input_and_out_of_range_ranks() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[1, 2], 0.0), None);
        assert_eq!(percentile(&[1, 2], 101.0), None);
        assert_eq!(percentile(&[1, 2], f64::NAN), None);
    }

    #[test]
    fn summary_sorts_and_reports_microseconds() {
        let mut samples = vec![3_000, 1_000, 2_000, 4_000];
        let summary = summarize(&mut samples).unwrap();
        assert_eq!(samples, vec![1_000, 2_000, 3_000, 4_000]);
        assert_eq!(summary.count, 4);
        assert_eq!(summary.p50_us, 2.0);
        assert_eq!(summary.p99_us, 4.0);
        assert_eq!(summary.max_us, 4.0);
        assert_eq!(summary.mean_us, 2.5);
        assert!(summarize(&mut []).is_none());
    }
}
