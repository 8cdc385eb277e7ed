//! A keyed GCRA (generic cell rate algorithm) limiter: `max` events per `window` for each key,
//! spread evenly, with a burst of up to `max`.
//!
//! Each key keeps one number, its theoretical arrival time (TAT): the moment at which the key
//! would be back to a full allowance. An event at `now` is allowed when pushing the TAT one
//! emission interval (`window / max`) further stays within `now + window`. This needs no timers
//! and no per-event history, and a key whose TAT is in the past is indistinguishable from an
//! absent one — which is what makes pruning idle keys safe.
//!
//! Entries live in a sharded concurrent map, so checks on different keys rarely contend and no
//! check ever waits for an actor.

use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;

/// How many events a key may have per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub max: u32,
    pub window: Duration,
}

impl Quota {
    /// The steady spacing between events: `window / max`.
    fn emission_interval(&self) -> Duration {
        self.window / self.max.max(1)
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Refused; the next event for this key would be allowed after this long.
    Limited {
        retry_after: Duration,
    },
}

pub struct KeyedGcra<K: Eq + Hash> {
    quota: Quota,
    /// Times are kept as offsets from `origin` so an entry is one plain number.
    origin: Instant,
    tats: DashMap<K, Duration>,
    /// Checks refused since start (read by `/metrics`).
    rejections: AtomicU64,
}

impl<K: Eq + Hash + Clone> KeyedGcra<K> {
    pub fn new(quota: Quota) -> Self {
        KeyedGcra {
            quota,
            origin: Instant::now(),
            tats: DashMap::new(),
            rejections: AtomicU64::new(0),
        }
    }

    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// Counts one event for `key` now.
    pub fn check(&self, key: &K) -> Decision {
        self.check_at(key, Instant::now())
    }

    /// Counts one event for `key` at `now` (tests pass their own clock).
    pub fn check_at(&self, key: &K, now: Instant) -> Decision {
        let now = now.saturating_duration_since(self.origin);
        let interval = self.quota.emission_interval();
        // The entry lock is held across read-modify-write, so two concurrent checks for the same
        // key can never both take the last slot.
        let mut tat = self.tats.entry(key.clone()).or_insert(now);
        let start = (*tat).max(now);
        let next = start + interval;
        let limit = now + self.quota.window;
        if next > limit {
            self.rejections.fetch_add(1, Ordering::Relaxed);
            Decision::Limited {
                retry_after: next - limit,
            }
        } else {
            *tat = next;
            Decision::Allowed
        }
    }

    /// Forgets keys that are back to a full allowance at `now`; returns how many were removed.
    pub fn prune_at(&self, now: Instant) -> usize {
        let now = now.saturating_duration_since(self.origin);
        let before = self.tats.len();
        self.tats.retain(|_, tat| *tat > now);
        before.saturating_sub(self.tats.len())
    }

    /// How many checks were refused since the limiter was built.
    pub fn rejections(&self) -> u64 {
        self.rejections.load(Ordering::Relaxed)
    }

    /// Keys currently tracked.
    pub fn len(&self) -> usize {
        self.tats.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tats.is_empty()
    }
}

impl<K: Eq + Hash + Clone + Send + Sync + 'static> KeyedGcra<K> {
    /// Prunes idle keys every `every` until `stop` flips, so a stream of one-off clients cannot
    /// grow the map without bound.
    pub async fn run_pruner(
        self: Arc<Self>,
        every: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            self.prune_at(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(max: u32, window_s: u64) -> KeyedGcra<&'static str> {
        KeyedGcra::new(Quota {
            max,
            window: Duration::from_secs(window_s),
        })
    }

    #[test]
    fn a_burst_of_max_is_allowed_then_refused_with_the_wait() {
        let gcra = limiter(3, 60);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(gcra.check_at(&"a", t0), Decision::Allowed);
        }
        // Three slots of 20 s each are used; the first frees up 20 s from now.
        assert_eq!(
            gcra.check_at(&"a", t0),
            Decision::Limited {
                retry_after: Duration::from_secs(20)
            }
        );
        // Other keys are independent.
        assert_eq!(gcra.check_at(&"b", t0), Decision::Allowed);
    }

    #[test]
    fn allowance_comes_back_at_the_steady_rate() {
        let gcra = limiter(2, 60);
        let t0 = Instant::now();
        assert_eq!(gcra.check_at(&"a", t0), Decision::Allowed);
        assert_eq!(gcra.check_at(&"a", t0), Decision::Allowed);
        let almost = t0 + Duration::from_secs(29);
        assert!(matches!(
            gcra.check_at(&"a", almost),
            Decision::Limited { retry_after } if retry_after == Duration::from_secs(1)
        ));
        // A refused event does not count: after the wait exactly one more fits.
        let later = t0 + Duration::from_secs(30);
        assert_eq!(gcra.check_at(&"a", later), Decision::Allowed);
        assert!(matches!(
            gcra.check_at(&"a", later),
            Decision::Limited { .. }
        ));
        // After a full idle window the whole burst is available again.
        let idle = later + Duration::from_secs(60);
        assert_eq!(gcra.check_at(&"a", idle), Decision::Allowed);
        assert_eq!(gcra.check_at(&"a", idle), Decision::Allowed);
    }

    #[test]
    fn pruning_forgets_only_recovered_keys() {
        let gcra = limiter(2, 60);
        let t0 = Instant::now();
        gcra.check_at(&"old", t0);
        gcra.check_at(&"busy", t0 + Duration::from_secs(50));
        gcra.check_at(&"busy", t0 + Duration::from_secs(50));
        assert_eq!(gcra.len(), 2);
        // At t0+40 s "old" (TAT t0+30 s) is idle; "busy" (TAT t0+110 s) is not.
        assert_eq!(gcra.prune_at(t0 + Duration::from_secs(40)), 1);
        assert_eq!(gcra.len(), 1);
        assert!(matches!(
            gcra.check_at(&"busy", t0 + Duration::from_secs(50)),
            Decision::Limited { .. }
        ));
    }

    #[test]
    fn concurrent_checks_never_exceed_the_quota() {
        let gcra = Arc::new(KeyedGcra::new(Quota {
            max: 50,
            window: Duration::from_secs(3600),
        }));
        let now = Instant::now();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let gcra = gcra.clone();
                std::thread::spawn(move || {
                    (0..20)
                        .filter(|_| gcra.check_at(&"k", now) == Decision::Allowed)
                        .count()
                })
            })
            .collect();
        let allowed: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(allowed, 50);
    }
}
