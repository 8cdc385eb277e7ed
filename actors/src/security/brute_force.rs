//! Counts failed sign-ins per IP and per username over a sliding window. A key raises an event
//! when it reaches the threshold, and again each further threshold's worth of failures, so a
//! running attack keeps showing without one event per attempt.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys kept at most; past this the oldest-looking entries are dropped (a bounded map, so a
/// spray of addresses cannot grow memory without bound).
const MAX_KEYS: usize = 50_000;

pub(super) struct Tracker {
    threshold: u32,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Tracker {
    pub fn new(threshold: u32, window: Duration) -> Tracker {
        Tracker {
            threshold,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Notes one failure; returns the keys (`ip:…`, `user:…`) that just reached a multiple of
    /// the threshold, with their count in the window.
    pub fn failed(&self, ip: Option<IpAddr>, username: &str) -> Vec<(String, u64)> {
        if self.threshold == 0 {
            return Vec::new();
        }
        let now = Instant::now();
        let mut keys = Vec::new();
        if let Some(ip) = ip {
            keys.push(format!("ip:{ip}"));
        }
        if !username.is_empty() {
            keys.push(format!("user:{}", username.to_lowercase()));
        }
        let Ok(mut failures) = self.failures.lock() else {
            return Vec::new();
        };
        if failures.len() >= MAX_KEYS {
            failures.retain(|_, times| times.back().is_some_and(|t| now - *t < self.window));
        }
        let mut crossed = Vec::new();
        for key in keys {
            let times = failures.entry(key.clone()).or_default();
            while times.front().is_some_and(|t| now - *t >= self.window) {
                times.pop_front();
            }
            times.push_back(now);
            let count = times.len() as u64;
            if count.is_multiple_of(u64::from(self.threshold)) {
                crossed.push((key, count));
            }
        }
        crossed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_raises_once_per_multiple() {
        let tracker = Tracker::new(3, Duration::from_secs(60));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(tracker.failed(Some(ip), "alice").is_empty());
        assert!(tracker.failed(Some(ip), "bob").is_empty());
        let crossed = tracker.failed(Some(ip), "carol");
        assert_eq!(crossed, vec![("ip:10.0.0.1".to_string(), 3)]);
        assert!(tracker.failed(None, "alice").is_empty());
        assert_eq!(
            tracker.failed(None, "ALICE"),
            vec![("user:alice".to_string(), 3)]
        );
    }

    #[test]
    fn zero_threshold_is_off() {
        let tracker = Tracker::new(0, Duration::from_secs(60));
        for _ in 0..10 {
            assert!(tracker.failed(None, "alice").is_empty());
        }
    }
}
