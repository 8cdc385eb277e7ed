//! The loop behind every snapshot that follows a table another process may change: poll a
//! revision counter (bumped by database triggers), rebuild when it moved.
//!
//! Polling one cheap row is what lets a change made by the CLI, or by another instance on the
//! same PostgreSQL, reach this process's snapshots without a restart; changes made in-process
//! refresh their snapshot at once and never wait for a tick.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

/// Calls `refresh` every `every` until `stop` turns true (or its sender goes away). `refresh`
/// answers whether it rebuilt. Errors are logged and retried on the next tick: a database
/// hiccup must not take the snapshot's readers down, it only delays noticing changes.
pub async fn poll_revision<F, Fut, E>(
    snapshot: &'static str,
    every: Duration,
    log: slog::Logger,
    mut stop: watch::Receiver<bool>,
    mut refresh: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, E>>,
    E: Display,
{
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        match refresh().await {
            Ok(true) => {
                slog::debug!(log, "Snapshot reloaded from the database."; "snapshot" => snapshot)
            }
            Ok(false) => {}
            Err(error) => {
                slog::warn!(log, "Cannot refresh a snapshot from the database."; "snapshot" => snapshot, "error" => %error)
            }
        }
    }
}
