//! One-shot subcommands that work on the database, run beside (or without) a live gateway.

pub mod create_admin;
pub mod init_db;
pub mod users;

mod database;
mod password_input;

#[cfg(test)]
mod tests;
