//! Logging for the daemon: human-readable lines on stderr, JSON lines in `<data_dir>/logs/`.
//!
//! One slog pipeline serves everything: our own records, `log` records from actix and ractor
//! (ractor's `tracing` events arrive as `log` records through tracing's `log` feature, then reach
//! slog through slog-stdlog) and panics (a hook logs them). Records pass a level filter that a
//! SIGHUP reload can change, then an async queue, so a slow disk never stalls a request.
//!
//! [`init`] makes the pipeline process-wide and returns a [`LoggingGuard`]; keep it alive until
//! the actors have stopped. Dropping it points the global logger at a discard drain (slog-scope's
//! own guard would install one that panics on the next record — DESIGN.md's pitfall) and then
//! flushes the queue.

mod level;
mod panic_hook;
mod pipeline;
mod rotating_file;
#[cfg(test)]
mod tests;

use std::io;
use std::path::PathBuf;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use slog::{Logger, o};

pub use level::{LevelHandle, level_name, parse_level};
pub use pipeline::LOG_FILE_NAME;

/// How to log; built by the wiring from `[logging]` in the configuration and the data dir.
#[derive(Debug, Clone, PartialEq)]
pub struct LogSettings {
    pub level: slog::Level,
    /// `<data_dir>/logs`; `None` logs to the terminal only (one-shot CLI commands).
    pub dir: Option<PathBuf>,
    /// `gateway.log` is rotated before a record would take it past this size.
    pub max_file_bytes: u64,
    /// Rotated files kept (`gateway.log.1` … `gateway.log.<max_files>`).
    pub max_files: u32,
}

impl LogSettings {
    /// Terminal-only logging, for one-shot commands (`create-admin`, `check-config`, …) that must
    /// not write into the service's log files.
    pub fn terminal_only(level: slog::Level) -> Self {
        Self {
            level,
            dir: None,
            max_file_bytes: 10 * 1024 * 1024,
            max_files: 5,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("cannot create log directory {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("cannot open log file {}: {source}", path.display())]
    OpenFile { path: PathBuf, source: io::Error },
}

/// Keeps the process-wide logging alive; see the module docs for what dropping it does.
pub struct LoggingGuard {
    logger: Logger,
    level: LevelHandle,
    flush_guard: Option<slog_async::AsyncGuard>,
}

impl LoggingGuard {
    /// The root logger; handlers and actors take children of it (`logger.new(o!(...))`).
    pub fn logger(&self) -> Logger {
        self.logger.clone()
    }

    /// Changes the level of every record, ours and bridged ones, from now on.
    pub fn set_level(&self, level: slog::Level) {
        self.level.set_level(level);
    }

    pub fn level(&self) -> slog::Level {
        self.level.level()
    }

    /// A clonable handle for code that outlives a borrow of the guard (the SIGHUP task).
    pub fn level_handle(&self) -> LevelHandle {
        self.level.clone()
    }
}

impl Drop for LoggingGuard {
    fn drop(&mut self) {
        panic_hook::deactivate();
        // Late records (an actor still winding down, a `log` call) go nowhere instead of into
        // the closed queue or slog-scope's panicking placeholder.
        slog_scope::set_global_logger(Logger::root(slog::Discard, o!())).cancel_reset();
        drop(self.flush_guard.take());
    }
}

/// Builds the pipeline and makes it global: slog-scope's logger, the `log` backend, the panic hook.
pub fn init(settings: &LogSettings) -> Result<LoggingGuard, LoggingError> {
    let pipeline = pipeline::Pipeline::build(settings, true)?;
    Ok(install(pipeline))
}

fn install(pipeline: pipeline::Pipeline) -> LoggingGuard {
    // Replaced, not reset, on drop: cancel the reset-to-panicking-drain behaviour now.
    slog_scope::set_global_logger(pipeline.logger.clone()).cancel_reset();
    install_log_bridge(&pipeline.logger);
    panic_hook::activate();
    LoggingGuard {
        logger: pipeline.logger,
        level: pipeline.level.govern_log_crate(),
        flush_guard: Some(pipeline.flush_guard),
    }
}

/// slog-stdlog forwards every `log` record to slog-scope's current logger, so installing it once
/// per process is enough even if logging is initialised again (tests do).
fn install_log_bridge(logger: &Logger) {
    static INSTALL: Once = Once::new();
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    INSTALL.call_once(|| {
        INSTALLED.store(slog_stdlog::init().is_ok(), Ordering::Release);
    });
    if !INSTALLED.load(Ordering::Acquire) {
        slog::warn!(
            logger,
            "Another `log` backend was installed first; records from actix and ractor will not reach this log."
        );
    }
}
