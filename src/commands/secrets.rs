//! `authmcp-gateway secrets rotate-key`: re-encrypts every stored backend secret (static tokens,
//! OAuth client secrets and refresh tokens, the latest rotated refresh tokens) under a new key
//! and swaps the key file (`secrets.key_file`, by default `<data_dir>/secret-key`: the same
//! configuration as the gateway's, so the same file).
//!
//! Order, so that no crash loses a credential: (1) the new key is written to `<key file>.new`
//! (0600); (2) one database transaction re-seals every row (all or nothing); (3) the key file
//! becomes `<key file>.old` and `<key file>.new` becomes the key file. A crash between (2) and
//! (3) leaves the rows under the key in `<key file>.new`: rename it by hand. Stop the gateway first (every instance, with a shared PostgreSQL): a
//! running one still holds the old key and would refuse the re-sealed rows on its next read.

use actors::secrets::{KeyRotation, SecretBox, new_key_file, old_key_file, reseal};
use actors::storage::backends;
use anyhow::Context as _;

use crate::config::GatewayConfig;

use super::database::{IfMissing, open_and_migrate};

/// `configured`: the key from `AUTHMCP_SECRETS_KEY`, if set (then there is no file to swap).
pub fn rotate_key(cfg: &GatewayConfig, configured: Option<&str>) -> anyhow::Result<usize> {
    if configured.is_some() {
        anyhow::bail!(
            "the secrets key comes from AUTHMCP_SECRETS_KEY, not from {}; to rotate it, unset \
             the variable and move the key into that file (0600), run this command, then \
             distribute the new file's content",
            cfg.secrets_key_file().display()
        );
    }
    let key_path = cfg.secrets_key_file();
    if !key_path.exists() {
        anyhow::bail!(
            "no key file at {}: nothing is sealed yet (the gateway creates it on first start)",
            key_path.display()
        );
    }
    let (old, _) = SecretBox::load_or_create(None, &key_path)
        .context("while loading the current secrets key")?;
    let (db, _) = open_and_migrate(cfg, IfMissing::Refuse)?;
    let rotation = KeyRotation::begin(&key_path).context("while writing the new key")?;
    let count = db
        .run_blocking(|c| {
            backends::reseal_credentials(c, |sealed| reseal(&old, &rotation.new_box, sealed))
        })
        .context(
            "while re-encrypting the stored credentials (nothing was changed; the current key \
             stays in use)",
        )?;
    let in_use = new_key_file(&key_path);
    rotation.finish().with_context(|| {
        format!(
            "while swapping the key files (the database already uses {})",
            in_use.display()
        )
    })?;
    eprintln!(
        "Re-encrypted {count} stored credential(s) under a new key in {}. The previous key is \
         in {}: delete it once the gateway runs with the new one.",
        key_path.display(),
        old_key_file(&key_path).display()
    );
    Ok(count)
}
