//! Opening the configured database from a CLI command.
//!
//! The commands may run while the gateway serves from the same SQLite file: WAL lets both read
//! at once, and the busy timeout makes a write wait for the other process's write instead of
//! failing, so `create-admin` or `user disable` beside a running gateway just works.

use actors::storage::{Database, DatabaseUrl};
use anyhow::Context as _;

use crate::config::GatewayConfig;

/// A command needs one connection; more would only hold SQLite locks longer.
const CLI_POOL_SIZE: u32 = 1;

/// What to do when a SQLite database file does not exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IfMissing {
    /// `init-db` and `create-admin` set up a fresh install: create the directory and the file.
    Create,
    /// `user …` on a missing file means a wrong --data-dir/--config: say so, create nothing.
    Refuse,
}

/// Connects and applies pending migrations (printing and returning those it applied), so the
/// command sees the schema it was built for even if it runs before the gateway's first start.
pub(crate) fn open_and_migrate(
    cfg: &GatewayConfig,
    if_missing: IfMissing,
) -> anyhow::Result<(Database, Vec<String>)> {
    if let DatabaseUrl::Sqlite(path) = DatabaseUrl::parse(&cfg.database.url)?
        && path.as_os_str() != ":memory:"
        && !path.exists()
    {
        match if_missing {
            IfMissing::Refuse => anyhow::bail!(
                "no database at `{}`; run `authmcp-gateway init-db` first, or pass the --config / \
                 --data-dir the gateway uses",
                path.display()
            ),
            IfMissing::Create => create_parent_dir(&path)?,
        }
    }
    let db = Database::connect(&cfg.database.url, CLI_POOL_SIZE)?;
    let applied = db.migrate()?;
    for name in &applied {
        println!("Applied migration {name}.");
    }
    Ok((db, applied))
}

/// The data dir holds secrets too, so it is created private to the service user.
fn create_parent_dir(db_file: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    let Some(dir) = db_file.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    if dir.exists() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the data directory `{}`", dir.display()))?;
    println!("Created directory {}.", dir.display());
    Ok(())
}
