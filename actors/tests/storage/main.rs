//! Storage tests. Every behaviour runs on both SQLite (temp file) and PostgreSQL (a fresh
//! database on 127.0.0.1:5432 per test), through the same public API the gateway uses.

mod audit;
mod authorization_codes;
mod backends;
mod connect;
mod fixture;
mod identity;
mod oauth_clients;
mod policies;
mod registry;
mod runtime_settings;
mod schema;
mod security;
mod sqlite_only;
mod tool_approvals;
mod users;
