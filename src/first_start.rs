//! What the first start creates and every later start reuses: the data directory, the JWT
//! signing secret and — while no administrator exists — a one-time setup token.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Creates `dir` (0750) and checks that we can write into it.
pub fn ensure_data_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(dir)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    }
    if !dir.is_dir() {
        bail!(
            "the data directory {} exists but is not a directory",
            dir.display()
        );
    }
    let probe = dir.join(".write-probe");
    fs::write(&probe, b"")
        .with_context(|| format!("the data directory {} is not writable", dir.display()))?;
    let _ = fs::remove_file(probe);
    Ok(())
}

/// Writes `contents` to a new file readable by the owner only.
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // `mode` applies only at creation; tighten a file that existed with looser bits.
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// The signing secret: the configured one, else `<data_dir>/jwt-secret`, generated on first start.
pub fn jwt_secret(
    configured: Option<&str>,
    data_dir: &Path,
) -> anyhow::Result<(String, SecretSource)> {
    if let Some(secret) = configured {
        return Ok((secret.to_string(), SecretSource::Configured));
    }
    let path = data_dir.join("jwt-secret");
    match fs::read_to_string(&path) {
        Ok(secret) if !secret.trim().is_empty() => {
            Ok((secret.trim().to_string(), SecretSource::File(path)))
        }
        Ok(_) => bail!(
            "{} is empty; delete it to generate a new secret (this signs out every user)",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = format!(
                "{}{}",
                actors::auth::tokens::random_id(),
                actors::auth::tokens::random_id()
            );
            write_private(&path, &secret)?;
            Ok((secret, SecretSource::Generated(path)))
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Configured,
    File(PathBuf),
    Generated(PathBuf),
}

/// Where the setup token lives: `<data_dir>/setup-token` (the setup wizard reads it there and
/// removes it once the first administrator exists).
pub fn setup_token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("setup-token")
}

/// While no administrator exists, a fresh one-time token in `<data_dir>/setup-token`; once one
/// exists, the file is removed. Returns the token when one was issued.
pub fn setup_token(data_dir: &Path, admin_exists: bool) -> anyhow::Result<Option<String>> {
    let path = setup_token_path(data_dir);
    if admin_exists {
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", path.display())),
        }
        return Ok(None);
    }
    let token = actors::auth::tokens::random_id();
    write_private(&path, &token)?;
    Ok(Some(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn secret_is_generated_once_with_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let (first, source) = jwt_secret(None, dir.path()).unwrap();
        assert!(matches!(source, SecretSource::Generated(_)));
        assert_eq!(mode(&dir.path().join("jwt-secret")), 0o600);
        let (again, source) = jwt_secret(None, dir.path()).unwrap();
        assert_eq!(first, again);
        assert!(matches!(source, SecretSource::File(_)));
        assert_eq!(jwt_secret(Some("given"), dir.path()).unwrap().0, "given");
    }

    #[test]
    fn setup_token_exists_only_without_admin() {
        let dir = tempfile::tempdir().unwrap();
        let token = setup_token(dir.path(), false).unwrap().unwrap();
        let path = dir.path().join("setup-token");
        assert_eq!(fs::read_to_string(&path).unwrap(), token);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(setup_token(dir.path(), true).unwrap(), None);
        assert!(!path.exists());
    }

    #[test]
    fn unwritable_data_dir_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain-file");
        fs::write(&file, b"x").unwrap();
        let error = ensure_data_dir(&file).unwrap_err().to_string();
        assert!(error.contains("not a directory"), "{error}");
    }
}
