//! One module per CLI subcommand that is more than a line of wiring. The database commands run
//! beside (or without) a live gateway.

pub mod audit;
pub mod check_config;
pub mod create_admin;
pub mod healthcheck;
pub mod init_db;
pub mod scan;
pub mod secrets;
pub mod tokens;
pub mod users;

mod database;
mod password_input;

#[cfg(test)]
mod tests;
