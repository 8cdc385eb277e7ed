//! Routes panics into the log.
//!
//! ractor catches a panicking actor and its supervisor restarts it, so without this hook the only
//! trace of the bug is the default hook's line on stderr — missing from `gateway.log` and without
//! the structured fields operators search on. The hook is installed once per process; while no
//! [`super::LoggingGuard`] is alive it defers to the hook it replaced, so a panic during late
//! shutdown is still printed.

use std::backtrace::{Backtrace, BacktraceStatus};
use std::panic::{self, PanicHookInfo};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

static INSTALL: Once = Once::new();
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Installs the hook (first call only) and sends panics to slog until [`deactivate`].
pub fn activate() {
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if ACTIVE.load(Ordering::Acquire) {
                log_panic(info);
            } else {
                previous(info);
            }
        }));
    });
    ACTIVE.store(true, Ordering::Release);
}

/// Hands panics back to the previous hook (the logging pipeline is about to close).
pub fn deactivate() {
    ACTIVE.store(false, Ordering::Release);
}

fn log_panic(info: &PanicHookInfo<'_>) {
    let message = info
        .payload_as_str()
        .unwrap_or("(non-string panic payload)");
    let location = info
        .location()
        .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
        .unwrap_or_else(|| "unknown".to_owned());
    let thread = std::thread::current();
    let thread = thread.name().unwrap_or("unnamed");
    // Honours RUST_BACKTRACE like the default hook; capturing is free when it is off.
    let backtrace = Backtrace::capture();
    let backtrace =
        (backtrace.status() == BacktraceStatus::Captured).then(|| backtrace.to_string());
    slog_scope::with_logger(|logger| {
        slog::crit!(logger, "A thread panicked.";
            "message" => message,
            "location" => &location,
            "thread" => thread,
            "backtrace" => backtrace.as_deref(),
        )
    });
}
