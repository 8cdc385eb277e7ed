//! The clock both benchmark processes stamp progress events with: CLOCK_MONOTONIC in
//! nanoseconds. It is one system-wide clock on Linux (shared by every process on the machine,
//! unlike a per-process `Instant` origin) and never steps with NTP, unlike CLOCK_REALTIME, so a
//! receive time minus a send time from another process is a valid latency.

use nix::time::{ClockId, clock_gettime};

/// CLOCK_MONOTONIC now, in nanoseconds.
pub fn monotonic_ns() -> u64 {
    let now = clock_gettime(ClockId::CLOCK_MONOTONIC).expect("CLOCK_MONOTONIC is always readable");
    (now.tv_sec() as u64) * 1_000_000_000 + now.tv_nsec() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_does_not_go_backwards() {
        let a = monotonic_ns();
        let b = monotonic_ns();
        assert!(b >= a && a > 0);
    }
}
