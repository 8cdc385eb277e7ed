//! Path resolution: relative paths resolve against the working directory at load time and are
//! stored absolute, so a later `chdir` (or a systemd unit with another `WorkingDirectory`) cannot
//! move the database out from under a running gateway.

use std::path::{Component, Path, PathBuf};

pub(crate) const SQLITE_PREFIX: &str = "sqlite://";

/// `path` made absolute against `cwd`, without `.` components.
pub(crate) fn absolutize(cwd: &Path, path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.join(path)
    };
    joined
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// `sqlite://<absolute path>` for a SQLite file.
pub(crate) fn sqlite_url_for(cwd: &Path, file: &Path) -> String {
    format!("{SQLITE_PREFIX}{}", absolutize(cwd, file).display())
}

/// The default database: `authmcp.db` inside the data directory.
pub(crate) fn default_database_url(data_dir: &Path) -> String {
    format!("{SQLITE_PREFIX}{}", data_dir.join("authmcp.db").display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_resolve_against_cwd_without_dot_components() {
        let cwd = Path::new("/srv/gw");
        assert_eq!(
            absolutize(cwd, Path::new("./data")),
            Path::new("/srv/gw/data")
        );
        assert_eq!(
            absolutize(cwd, Path::new("/var/lib/x")),
            Path::new("/var/lib/x")
        );
        assert_eq!(
            sqlite_url_for(cwd, Path::new("db/users.db")),
            "sqlite:///srv/gw/db/users.db"
        );
    }
}
