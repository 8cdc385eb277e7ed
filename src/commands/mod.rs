//! One module per CLI subcommand that is more than a line of wiring.

pub mod check_config;
pub mod healthcheck;
