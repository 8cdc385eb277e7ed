//! `authmcp-gateway secrets rotate-key`: re-encrypts every stored backend secret (static tokens,
//! OAuth client secrets and refresh tokens, the latest rotated refresh tokens) under a new key
//! and swaps the key file.
//!
//! Order, so that no crash loses a credential: (1) the new key is written to
//! `<data_dir>/secret-key.new` (0600); (2) one database transaction re-seals every row (all or
//! nothing); (3) `secret-key` becomes `secret-key.old` and `secret-key.new` becomes
//! `secret-key`. A crash between (2) and (3) leaves the rows under the key in `secret-key.new`:
//! rename it by hand. Stop the gateway first (every instance, with a shared PostgreSQL): a
//! running one still holds the old key and would refuse the re-sealed rows on its next read.

use actors::secrets::{KEY_FILE_NAME, KeyRotation, OLD_KEY_FILE_NAME, SecretBox, reseal};
use actors::storage::backends;
use anyhow::Context as _;

use crate::config::GatewayConfig;

use super::database::{IfMissing, open_and_migrate};

/// `configured`: the key from `AUTHMCP_SECRETS_KEY`, if set (then there is no file to swap).
pub fn rotate_key(cfg: &GatewayConfig, configured: Option<&str>) -> anyhow::Result<usize> {
    if configured.is_some() {
        anyhow::bail!(
            "the secrets key comes from AUTHMCP_SECRETS_KEY, not from {}/{KEY_FILE_NAME}; to \
             rotate it, unset the variable and move the key into that file (0600), run this \
             command, then distribute the new file's content",
            cfg.data_dir.display()
        );
    }
    let key_path = cfg.data_dir.join(KEY_FILE_NAME);
    if !key_path.exists() {
        anyhow::bail!(
            "no key file at {}: nothing is sealed yet (the gateway creates it on first start)",
            key_path.display()
        );
    }
    let (old, _) = SecretBox::load_or_create(None, &cfg.data_dir)
        .context("while loading the current secrets key")?;
    let (db, _) = open_and_migrate(cfg, IfMissing::Refuse)?;
    let rotation = KeyRotation::begin(&cfg.data_dir).context("while writing the new key")?;
    let count = db
        .run_blocking(|c| {
            backends::reseal_credentials(c, |sealed| reseal(&old, &rotation.new_box, sealed))
        })
        .context(
            "while re-encrypting the stored credentials (nothing was changed; the current key \
             stays in use)",
        )?;
    rotation
        .finish()
        .context("while swapping the key files (the database already uses secret-key.new)")?;
    eprintln!(
        "Re-encrypted {count} stored credential(s) under a new key in {}. The previous key is \
         in {}: delete it once the gateway runs with the new one.",
        key_path.display(),
        cfg.data_dir.join(OLD_KEY_FILE_NAME).display()
    );
    Ok(count)
}
