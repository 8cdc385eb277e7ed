//! Log levels: parsing the operator's spelling, and a filter whose level can change while running.
//!
//! The level lives in an atomic shared by the drain and every [`LevelHandle`], so a SIGHUP reload can
//! lower or raise verbosity without rebuilding the drain chain (which would drop queued records).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use slog::{Drain, Level, OwnedKVList, Record};

/// Parses a level as the seed and our config spell it: `trace`, `debug`, `info`, `warning`/`warn`,
/// `error`, `critical`/`crit`, in any case (the seed used `DEBUG`, `INFO`, `WARNING`).
pub fn parse_level(s: &str) -> Option<Level> {
    match s.trim().to_ascii_lowercase().as_str() {
        "trace" => Some(Level::Trace),
        "debug" => Some(Level::Debug),
        "info" => Some(Level::Info),
        "warning" | "warn" => Some(Level::Warning),
        "error" => Some(Level::Error),
        "critical" | "crit" => Some(Level::Critical),
        _ => None,
    }
}

/// The lowercase name written in JSON lines; the same words [`parse_level`] accepts.
pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warning => "warning",
        Level::Error => "error",
        Level::Critical => "critical",
    }
}

/// The `log` crate's filter matching a slog level, so records from actix and ractor are cut off
/// before they are even formatted.
pub fn log_filter(level: Level) -> log::LevelFilter {
    match level {
        Level::Critical | Level::Error => log::LevelFilter::Error,
        Level::Warning => log::LevelFilter::Warn,
        Level::Info => log::LevelFilter::Info,
        Level::Debug => log::LevelFilter::Debug,
        Level::Trace => log::LevelFilter::Trace,
    }
}

/// A cheap, clonable handle to change the running log level (e.g. from the SIGHUP handler).
#[derive(Clone, Debug)]
pub struct LevelHandle {
    level: Arc<AtomicUsize>,
    /// Only the process-wide pipeline may move the `log` crate's global maximum; a pipeline
    /// built for a test must not change what its neighbours see.
    governs_log_crate: bool,
}

impl LevelHandle {
    pub fn new(level: Level) -> Self {
        Self {
            level: Arc::new(AtomicUsize::new(level.as_usize())),
            governs_log_crate: false,
        }
    }

    /// This handle's level now also sets `log::max_level()`; done once, by `init`.
    pub(super) fn govern_log_crate(mut self) -> Self {
        self.governs_log_crate = true;
        log::set_max_level(log_filter(self.level()));
        self
    }

    pub fn level(&self) -> Level {
        Level::from_usize(self.level.load(Ordering::Relaxed)).unwrap_or(Level::Info)
    }

    /// Changes the level for slog records and for `log` records bridged from dependencies.
    pub fn set_level(&self, level: Level) {
        self.level.store(level.as_usize(), Ordering::Relaxed);
        if self.governs_log_crate {
            log::set_max_level(log_filter(level));
        }
    }

    fn allows(&self, level: Level) -> bool {
        level.as_usize() <= self.level.load(Ordering::Relaxed)
    }
}

/// Passes records at or above the handle's current level to the inner drain.
pub struct DynamicLevelFilter<D> {
    inner: D,
    handle: LevelHandle,
}

impl<D> DynamicLevelFilter<D> {
    pub fn new(inner: D, handle: LevelHandle) -> Self {
        Self { inner, handle }
    }
}

impl<D: Drain> Drain for DynamicLevelFilter<D> {
    type Ok = Option<D::Ok>;
    type Err = D::Err;

    fn log(&self, record: &Record, values: &OwnedKVList) -> Result<Self::Ok, Self::Err> {
        if self.handle.allows(record.level()) {
            self.inner.log(record, values).map(Some)
        } else {
            Ok(None)
        }
    }

    fn is_enabled(&self, level: Level) -> bool {
        self.handle.allows(level) && self.inner.is_enabled(level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spelling_case_insensitively() {
        assert_eq!(parse_level("DEBUG"), Some(Level::Debug));
        assert_eq!(parse_level("Info"), Some(Level::Info));
        assert_eq!(parse_level("WARNING"), Some(Level::Warning));
        assert_eq!(parse_level("warn"), Some(Level::Warning));
        assert_eq!(parse_level(" error "), Some(Level::Error));
        assert_eq!(parse_level("critical"), Some(Level::Critical));
        assert_eq!(parse_level("trace"), Some(Level::Trace));
        assert_eq!(parse_level("verbose"), None);
        assert_eq!(parse_level(""), None);
    }

    #[test]
    fn level_names_round_trip_through_the_parser() {
        for level in [
            Level::Trace,
            Level::Debug,
            Level::Info,
            Level::Warning,
            Level::Error,
            Level::Critical,
        ] {
            assert_eq!(parse_level(level_name(level)), Some(level));
        }
    }

    #[test]
    fn handle_allows_levels_at_or_above_its_own() {
        let handle = LevelHandle::new(Level::Warning);
        assert!(handle.allows(Level::Critical));
        assert!(handle.allows(Level::Warning));
        assert!(!handle.allows(Level::Info));
        handle.set_level(Level::Debug);
        assert_eq!(handle.level(), Level::Debug);
        assert!(handle.allows(Level::Debug));
        assert!(!handle.allows(Level::Trace));
    }
}
