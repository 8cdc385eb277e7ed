//! Opening connections: the `DbConn` enum over SQLite and PostgreSQL, per-connection SQLite
//! pragmas, and the r2d2 manager that builds the right variant for the configured URL.
//!
//! We open the concrete connection ourselves instead of calling `DbConn::establish`, which tries
//! each backend in turn and reports only "invalid connection url for multiconnection".

use std::path::Path;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ManageConnection, R2D2Connection};
use diesel::{Connection, PgConnection, SqliteConnection};

use super::database_url::{DatabaseUrl, mask_password, postgres_connect_url};
use super::{DatabaseKind, StorageError};

/// One connection to whichever database the gateway is configured for. Queries written against
/// it run on both; backend-specific code matches the variant.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// Builds pooled connections for one URL.
pub(crate) struct ConnectionManager {
    url: DatabaseUrl,
    /// How long a SQLite writer waits for another writer (this process or another) to finish.
    busy_timeout: Duration,
}

impl ConnectionManager {
    pub(crate) fn new(url: DatabaseUrl, busy_timeout: Duration) -> Self {
        ConnectionManager { url, busy_timeout }
    }
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConn;
    type Error = StorageError;

    fn connect(&self) -> Result<DbConn, StorageError> {
        match &self.url {
            DatabaseUrl::Sqlite(path) => open_sqlite(path, self.busy_timeout).map(DbConn::Sqlite),
            DatabaseUrl::Postgres(url) => open_postgres(url).map(DbConn::Postgres),
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), StorageError> {
        conn.ping().map_err(StorageError::from)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        conn.is_broken()
    }
}

fn open_sqlite(path: &Path, busy_timeout: Duration) -> Result<SqliteConnection, StorageError> {
    let fail = |cause: String| StorageError::Connect {
        kind: DatabaseKind::Sqlite,
        url: format!("sqlite://{}", path.display()),
        cause,
    };
    let in_memory = path.as_os_str() == ":memory:";
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !in_memory {
        // The gateway creates its data dir on start; anything else is a configuration mistake.
        if !dir.exists() {
            return Err(fail(format!(
                "the directory `{}` does not exist; create it, or point database.url or --data-dir at \
                 an existing directory",
                dir.display()
            )));
        }
        if !dir.is_dir() {
            return Err(fail(format!("`{}` is not a directory", dir.display())));
        }
    }
    let Some(path_str) = path.to_str() else {
        return Err(fail("the path is not valid UTF-8".into()));
    };
    let mut conn = SqliteConnection::establish(path_str)
        .map_err(|err| fail(diagnose_sqlite(path, dir, &err.to_string())))?;
    // busy_timeout first: switching to WAL may itself need to wait for another process's lock.
    let pragmas = format!(
        "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
         PRAGMA foreign_keys = ON;",
        busy_timeout.as_millis()
    );
    conn.batch_execute(&pragmas).map_err(|err| {
        let message = err.to_string();
        if super::error::is_locked_message(&message) {
            StorageError::Locked
        } else {
            fail(diagnose_sqlite(path, dir, &message))
        }
    })?;
    Ok(conn)
}

/// Turns SQLite's terse "unable to open database file" into the reason an operator can fix.
fn diagnose_sqlite(path: &Path, dir: &Path, cause: &str) -> String {
    if let Err(err) = probe_writable(dir) {
        return format!(
            "the directory `{}` is not writable by this user ({err}); SQLite must create the \
             database and its -wal/-shm files there",
            dir.display()
        );
    }
    match std::fs::metadata(path) {
        Ok(meta) if meta.permissions().readonly() => {
            format!("the file `{}` is read-only ({cause})", path.display())
        }
        Ok(meta) if meta.is_dir() => format!("`{}` is a directory, not a file", path.display()),
        _ => cause.trim().to_string(),
    }
}

/// Only called after a failure, so the short-lived probe file costs nothing on the normal path.
fn probe_writable(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".authmcp-write-probe-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}

fn open_postgres(url: &str) -> Result<PgConnection, StorageError> {
    PgConnection::establish(&postgres_connect_url(url)).map_err(|err| StorageError::Connect {
        kind: DatabaseKind::Postgres,
        url: mask_password(url),
        cause: one_line(&hide_password(url, &err.to_string())),
    })
}

/// libpq errors span several tab-indented lines; an error report wants one.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// libpq does not echo passwords today; this keeps it that way if it ever does.
fn hide_password(url: &str, message: &str) -> String {
    let masked = mask_password(url);
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split(['/', '?', '#']).next())
        .and_then(|authority| authority.rsplit_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password)
        .filter(|p| !p.is_empty() && masked != url);
    match password {
        Some(p) => message.replace(p, "***"),
        None => message.to_string(),
    }
}
