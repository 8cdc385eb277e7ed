//! The systemd notification protocol (`sd_notify(3)`), spoken over `$NOTIFY_SOCKET`.
//!
//! With `Type=notify` systemd waits for `READY=1` before it calls the service started, tracks
//! `RELOADING=1` … `READY=1` around a SIGHUP reload, learns of a shutdown from `STOPPING=1`, and
//! restarts the service when `WATCHDOG=1` stops arriving. The protocol is one datagram of
//! newline-separated `KEY=VALUE` pairs, small enough to implement here without `unsafe` or a crate.
//!
//! Notifying is best effort: a failure is logged at debug and never stops the gateway — outside
//! systemd there is simply no socket. Child processes (stdio backends) should not inherit
//! `NOTIFY_SOCKET`, `WATCHDOG_USEC` or `WATCHDOG_PID`: remove them from the child's environment
//! (`Command::env_remove`); `NotifyAccess=main` in the unit makes systemd ignore them anyway.

use std::ffi::OsStr;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use nix::time::{ClockId, clock_gettime};

/// Sends state changes to the service manager. Cheap to clone; share it between the boot code,
/// the signal handler and the watchdog task.
#[derive(Clone, Debug)]
pub struct Notifier {
    socket: Arc<UnixDatagram>,
    target: SocketAddr,
}

impl Notifier {
    /// The notifier systemd asked for, or `None` when `NOTIFY_SOCKET` is unset or empty (not
    /// started by systemd, or not `Type=notify`), or names a socket kind we do not speak.
    pub fn from_env() -> Option<Notifier> {
        let value = std::env::var_os("NOTIFY_SOCKET")?;
        if value.is_empty() {
            return None;
        }
        match Notifier::connect(&value) {
            Ok(notifier) => Some(notifier),
            Err(error) => {
                slog_scope::debug!("Cannot use NOTIFY_SOCKET; systemd will not hear from us.";
                    "notify_socket" => value.to_string_lossy().into_owned(), "error" => %error);
                None
            }
        }
    }

    /// A notifier for an explicit `NOTIFY_SOCKET` value: an absolute path, or `@name` for a
    /// socket in the abstract namespace (what systemd itself passes).
    pub fn connect(notify_socket: &OsStr) -> io::Result<Notifier> {
        let bytes = notify_socket.as_bytes();
        let target = match bytes.first() {
            Some(b'/') => SocketAddr::from_pathname(Path::new(notify_socket))?,
            Some(b'@') => SocketAddr::from_abstract_name(&bytes[1..])?,
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "NOTIFY_SOCKET must be an absolute path or an @abstract name",
                ));
            }
        };
        Ok(Notifier {
            socket: Arc::new(UnixDatagram::unbound()?),
            target,
        })
    }

    /// Sends one datagram of `KEY=VALUE` lines.
    pub fn notify(&self, state: &str) -> io::Result<()> {
        let sent = self.socket.send_to_addr(state.as_bytes(), &self.target)?;
        if sent == state.len() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "notification datagram truncated",
            ))
        }
    }

    /// The gateway serves requests (also ends a reload).
    pub fn ready(&self) {
        self.best_effort("READY=1");
    }

    /// A reload started; systemd counts it done at the next `READY=1`. `MONOTONIC_USEC` lets it
    /// tell this reload from an earlier one.
    pub fn reloading(&self) {
        match monotonic_usec() {
            Ok(now) => self.best_effort(&format!("RELOADING=1\nMONOTONIC_USEC={now}")),
            Err(error) => {
                slog_scope::debug!("Cannot read CLOCK_MONOTONIC for RELOADING=1."; "error" => %error);
                self.best_effort("RELOADING=1");
            }
        }
    }

    /// Shutdown has begun (draining).
    pub fn stopping(&self) {
        self.best_effort("STOPPING=1");
    }

    /// Still alive; send at [`watchdog_interval`].
    pub fn watchdog(&self) {
        self.best_effort("WATCHDOG=1");
    }

    /// A one-line status shown by `systemctl status`.
    pub fn status(&self, msg: &str) {
        // A newline would start a new KEY=VALUE pair.
        self.best_effort(&format!("STATUS={}", msg.replace(['\n', '\r'], " ")));
    }

    fn best_effort(&self, state: &str) {
        if let Err(error) = self.notify(state) {
            slog_scope::debug!("Cannot notify systemd."; "state" => state, "error" => %error);
        }
    }
}

/// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, as sd_watchdog_enabled(3) advises.
/// `None` when the watchdog is off, the value is invalid, or `WATCHDOG_PID` names another process.
pub fn watchdog_interval() -> Option<Duration> {
    let usec = std::env::var("WATCHDOG_USEC").ok();
    let pid = std::env::var("WATCHDOG_PID").ok();
    watchdog_interval_from(usec.as_deref(), pid.as_deref(), std::process::id())
}

/// [`watchdog_interval`] on explicit values, so it can be tested without touching the environment.
pub fn watchdog_interval_from(
    watchdog_usec: Option<&str>,
    watchdog_pid: Option<&str>,
    own_pid: u32,
) -> Option<Duration> {
    if let Some(pid) = watchdog_pid
        && pid.trim().parse::<u32>().ok()? != own_pid
    {
        return None;
    }
    let usec: u64 = watchdog_usec?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// Sends `WATCHDOG=1` every `interval` until the task is aborted or the runtime stops.
pub async fn run_watchdog(notifier: Notifier, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        notifier.watchdog();
    }
}

fn monotonic_usec() -> nix::Result<u64> {
    let now = clock_gettime(ClockId::CLOCK_MONOTONIC)?;
    // CLOCK_MONOTONIC is never negative.
    let secs = u64::try_from(now.tv_sec()).unwrap_or(0);
    let nanos = u64::try_from(now.tv_nsec()).unwrap_or(0);
    Ok(secs * 1_000_000 + nanos / 1_000)
}

#[cfg(test)]
mod tests;
