//! authmcp-gateway: the daemon's wiring — command line, configuration, boot, signals.
#![forbid(unsafe_code)]

pub mod cli;
pub mod commands;
pub mod config;
