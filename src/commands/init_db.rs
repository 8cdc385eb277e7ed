//! `authmcp-gateway init-db`: create the database if needed and apply pending migrations.
//! The gateway also migrates on start; this exists for installs that prepare the database first
//! (e.g. a PostgreSQL shared by several instances).

use actors::storage::mask_password;

use crate::config::GatewayConfig;

use super::database::{IfMissing, open_and_migrate};

pub fn run(cfg: &GatewayConfig) -> anyhow::Result<()> {
    println!("Database: {}", mask_password(&cfg.database.url));
    let (db, applied) = open_and_migrate(cfg, IfMissing::Create)?;
    if applied.is_empty() {
        println!("Database up to date ({}).", db.kind());
    } else {
        println!("Database ready ({}).", db.kind());
    }
    Ok(())
}
