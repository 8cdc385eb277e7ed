//! `authmcp-gateway audit verify`: walks the audit trail's hash chain from the prune anchor and
//! names the first record that was altered, inserted or deleted. Read-only; safe beside a
//! running gateway (it checks what was committed when it reads each page).

use actors::storage::mask_password;

use crate::config::GatewayConfig;

use super::database::{IfMissing, open_and_migrate};

/// True when the chain is intact (exit 0); false after printing the first break (exit 1).
pub fn verify(cfg: &GatewayConfig) -> anyhow::Result<bool> {
    println!("Database: {}", mask_password(&cfg.database.url));
    let (db, _) = open_and_migrate(cfg, IfMissing::Refuse)?;
    let report = db.run_blocking(actors::audit::verify::verify)?;
    let start = if report.anchor_id > 0 {
        format!(
            " (the chain starts after pruned record {})",
            report.anchor_id
        )
    } else {
        String::new()
    };
    match report.first_break {
        None => {
            println!(
                "Audit trail intact: {} records verified{start}.",
                report.checked
            );
            Ok(true)
        }
        Some(found) => {
            println!(
                "Audit trail broken: {found}. {} records before it verified{start}.",
                report.checked
            );
            Ok(false)
        }
    }
}
