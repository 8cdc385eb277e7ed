//! Unix signals become typed [`Control`] messages: SIGHUP → reload, SIGTERM/SIGINT → shutdown.
//! A second SIGTERM/SIGINT while draining exits at once, for operators who really mean it.

use futures_util::StreamExt;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_tokio::Signals;
use tokio::sync::mpsc;

use crate::app::Control;

/// Registers the handlers now (so no signal is lost during boot) and forwards them from a task.
pub fn forward_signals(control: mpsc::Sender<Control>, log: slog::Logger) -> anyhow::Result<()> {
    let mut signals = Signals::new([SIGHUP, SIGTERM, SIGINT])?;
    tokio::spawn(async move {
        let mut stopping = false;
        while let Some(signal) = signals.next().await {
            match signal {
                SIGHUP => {
                    slog::info!(log, "SIGHUP received: reloading configuration.");
                    let _ = control.send(Control::Reload).await;
                }
                _ if stopping => {
                    slog::warn!(log, "Second stop signal: exiting without draining.");
                    std::process::exit(1);
                }
                _ => {
                    slog::info!(log, "Stop signal received."; "signal" => signal);
                    stopping = true;
                    let _ = control.send(Control::Shutdown).await;
                }
            }
        }
    });
    Ok(())
}
