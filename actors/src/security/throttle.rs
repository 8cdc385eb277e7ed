//! Throttles `unauthorized` events: every client's OAuth discovery starts with a tokenless
//! request, so without a bound the table fills with noise. At most one event per (IP, endpoint)
//! per window is recorded; the next one recorded says how many were left out meanwhile.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys kept at most; past this, keys whose window has passed are forgotten (and, if that is
/// not enough, all of them), so a spray of addresses cannot grow memory without bound.
const MAX_KEYS: usize = 50_000;

struct Slot {
    recorded_at: Instant,
    suppressed: u64,
}

pub(super) struct Throttle {
    window: Duration,
    slots: Mutex<HashMap<(String, String), Slot>>,
}

impl Throttle {
    /// `window` zero: every event is admitted.
    pub fn new(window: Duration) -> Throttle {
        Throttle {
            window,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(n)`: record this event, `n` having been left out since the last one recorded for
    /// the same key; `None`: leave it out (counted for the next).
    pub fn admit(&self, ip: Option<&str>, endpoint: Option<&str>) -> Option<u64> {
        self.admit_at(ip, endpoint, Instant::now())
    }

    fn admit_at(&self, ip: Option<&str>, endpoint: Option<&str>, now: Instant) -> Option<u64> {
        if self.window.is_zero() {
            return Some(0);
        }
        let Ok(mut slots) = self.slots.lock() else {
            return Some(0);
        };
        let key = (
            ip.unwrap_or_default().to_string(),
            endpoint.unwrap_or_default().to_string(),
        );
        if let Some(slot) = slots.get_mut(&key) {
            if now.duration_since(slot.recorded_at) < self.window {
                slot.suppressed += 1;
                return None;
            }
            let suppressed = std::mem::take(&mut slot.suppressed);
            slot.recorded_at = now;
            return Some(suppressed);
        }
        if slots.len() >= MAX_KEYS {
            // Forgetting a key loses at most its count of left-out events, never an event.
            slots.retain(|_, slot| now.duration_since(slot.recorded_at) < self.window);
            if slots.len() >= MAX_KEYS {
                slots.clear();
            }
        }
        slots.insert(
            key,
            Slot {
                recorded_at: now,
                suppressed: 0,
            },
        );
        Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_per_key_per_window_and_the_next_counts_the_rest() {
        let throttle = Throttle::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let a = Some("10.0.0.1");
        assert_eq!(throttle.admit_at(a, Some("/mcp"), t0), Some(0));
        assert_eq!(throttle.admit_at(a, Some("/mcp"), t0), None);
        assert_eq!(
            throttle.admit_at(a, Some("/mcp"), t0 + Duration::from_secs(59)),
            None
        );
        // Another endpoint, another address: their own windows.
        assert_eq!(throttle.admit_at(a, Some("/admin/api/users"), t0), Some(0));
        assert_eq!(
            throttle.admit_at(Some("10.0.0.2"), Some("/mcp"), t0),
            Some(0)
        );
        // The window has passed: recorded, with the two left out.
        let t1 = t0 + Duration::from_secs(60);
        assert_eq!(throttle.admit_at(a, Some("/mcp"), t1), Some(2));
        assert_eq!(throttle.admit_at(a, Some("/mcp"), t1), None);
        assert_eq!(
            throttle.admit_at(a, Some("/mcp"), t1 + Duration::from_secs(61)),
            Some(1)
        );
    }

    #[test]
    fn a_zero_window_admits_everything() {
        let throttle = Throttle::new(Duration::ZERO);
        for _ in 0..3 {
            assert_eq!(throttle.admit(Some("10.0.0.1"), Some("/mcp")), Some(0));
        }
    }
}
