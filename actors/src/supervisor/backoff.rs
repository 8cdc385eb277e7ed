//! Exponential backoff for restarts and reconnects: 100 ms doubling to 30 s, back to the start
//! once the thing being retried has stayed up for a stable period.

use std::time::{Duration, Instant};

pub(crate) const FIRST_DELAY: Duration = Duration::from_millis(100);
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(30);
/// Up this long → the next failure is treated as a first failure again.
pub(crate) const STABLE_PERIOD: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Default)]
pub(crate) struct Backoff {
    attempt: u32,
    up_since: Option<Instant>,
}

impl Backoff {
    /// Records that the retried thing is up (actor started, session established).
    pub fn mark_up(&mut self) {
        self.up_since = Some(Instant::now());
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        if self
            .up_since
            .take()
            .is_some_and(|t| t.elapsed() >= STABLE_PERIOD)
        {
            self.attempt = 0;
        }
        let delay = FIRST_DELAY
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(MAX_DELAY);
        self.attempt = self.attempt.saturating_add(1);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap() {
        let mut backoff = Backoff::default();
        let delays: Vec<_> = (0..12).map(|_| backoff.next_delay()).collect();
        assert_eq!(delays[0], Duration::from_millis(100));
        assert_eq!(delays[1], Duration::from_millis(200));
        assert_eq!(delays[4], Duration::from_millis(1600));
        assert_eq!(delays[11], MAX_DELAY);
    }

    #[test]
    fn a_short_uptime_does_not_reset() {
        let mut backoff = Backoff::default();
        backoff.next_delay();
        backoff.mark_up();
        assert_eq!(backoff.next_delay(), Duration::from_millis(200));
    }
}
