//! authmcp-gateway: the daemon's wiring — command line, configuration, boot, signals.
// `deny`, not `forbid`: `memory` alone needs `unsafe` (one mallopt call) and says why.
#![deny(unsafe_code)]

pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod first_start;
pub mod logging;
pub mod memory;
pub mod runtime_settings;
pub mod sd_notify;
pub mod signals;
