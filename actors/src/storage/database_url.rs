//! Parsing and printing database URLs.
//!
//! diesel's `MultiConnection::establish` tries every backend in turn and hides why each failed
//! (and SQLite would happily create a file named `postgres:/…`), so the scheme is decided here,
//! before any connection is attempted, and errors can name it.

use std::fmt;
use std::path::PathBuf;

use super::StorageError;

/// Which database a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

impl fmt::Display for DatabaseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DatabaseKind::Sqlite => "sqlite",
            DatabaseKind::Postgres => "postgresql",
        })
    }
}

/// A database URL split by scheme, ready to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A file path (relative to the working directory unless absolute), or `:memory:`.
    Sqlite(PathBuf),
    /// A libpq connection URL as the operator wrote it ([`postgres_connect_url`] adds defaults).
    Postgres(String),
}

/// Gives up on an unreachable PostgreSQL host after this long instead of the TCP default (minutes).
const PG_CONNECT_TIMEOUT_S: u32 = 10;

impl DatabaseUrl {
    /// Accepts `sqlite://PATH` (also `sqlite:PATH`), `postgres://…` and `postgresql://…`.
    pub fn parse(url: &str) -> Result<DatabaseUrl, StorageError> {
        let url = url.trim();
        let Some((scheme, rest)) = url.split_once(':') else {
            return Err(unsupported(url, "it has no scheme"));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => {
                let path = rest.strip_prefix("//").unwrap_or(rest);
                if path.is_empty() {
                    return Err(StorageError::InvalidUrl {
                        url: mask_password(url),
                        reason: "the sqlite URL has no file path; write sqlite://PATH, \
                                 e.g. sqlite://data/authmcp.db or sqlite:///var/lib/authmcp-gateway/authmcp.db"
                            .into(),
                    });
                }
                Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
            }
            "postgres" | "postgresql" => {
                if !rest.starts_with("//") {
                    return Err(StorageError::InvalidUrl {
                        url: mask_password(url),
                        reason: "a postgresql URL looks like postgres://USER:PASSWORD@HOST:PORT/DATABASE".into(),
                    });
                }
                Ok(DatabaseUrl::Postgres(url.to_string()))
            }
            "" => Err(unsupported(url, "it has no scheme")),
            other => Err(unsupported(
                url,
                &format!("the scheme `{other}` is not supported"),
            )),
        }
    }

    pub fn kind(&self) -> DatabaseKind {
        match self {
            DatabaseUrl::Sqlite(_) => DatabaseKind::Sqlite,
            DatabaseUrl::Postgres(_) => DatabaseKind::Postgres,
        }
    }

    /// The URL as it may be printed or logged: any password replaced by `***`.
    pub fn display(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => mask_password(url),
        }
    }
}

fn unsupported(url: &str, why: &str) -> StorageError {
    StorageError::InvalidUrl {
        url: mask_password(url),
        reason: format!("{why}; use sqlite://PATH or postgres://USER@HOST/DATABASE"),
    }
}

/// The URL handed to libpq: `connect_timeout` and `application_name` added unless the operator
/// set them.
pub(crate) fn postgres_connect_url(url: &str) -> String {
    let mut out = url.to_string();
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    let has = |key: &str| query.split('&').any(|kv| kv.split('=').next() == Some(key));
    let mut extra = Vec::new();
    if !has("connect_timeout") {
        extra.push(format!("connect_timeout={PG_CONNECT_TIMEOUT_S}"));
    }
    if !has("application_name") {
        extra.push("application_name=authmcp-gateway".to_string());
    }
    if !extra.is_empty() {
        out.push(if url.contains('?') { '&' } else { '?' });
        out.push_str(&extra.join("&"));
    }
    out
}

/// Replaces the password in `scheme://user:password@host…` with `***`; other text is unchanged.
/// Works on malformed URLs too, since those are exactly the ones that end up in error messages.
pub fn mask_password(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let authority_end = url[start..]
        .find(['/', '?', '#'])
        .map(|i| start + i)
        .unwrap_or(url.len());
    let authority = &url[start..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    let userinfo = &authority[..at];
    match userinfo.split_once(':') {
        Some((user, _password)) => {
            format!("{}{}:***{}", &url[..start], user, &url[start + at..])
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_passwords_and_keeps_the_rest() {
        assert_eq!(
            mask_password("postgres://app:s3cr%40t@db:5432/gw?sslmode=require"),
            "postgres://app:***@db:5432/gw?sslmode=require"
        );
        assert_eq!(
            mask_password("postgres://app@db/gw"),
            "postgres://app@db/gw"
        );
        assert_eq!(mask_password("sqlite://data/x.db"), "sqlite://data/x.db");
        assert_eq!(mask_password("mysql://a:b@h"), "mysql://a:***@h");
    }

    #[test]
    fn parses_each_scheme() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/authmcp.db").unwrap(),
            DatabaseUrl::Sqlite("data/authmcp.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/x.db").unwrap(),
            DatabaseUrl::Sqlite("/var/lib/x.db".into())
        );
        let pg = DatabaseUrl::parse("postgresql://u@h/db?sslmode=disable").unwrap();
        assert_eq!(
            pg,
            DatabaseUrl::Postgres("postgresql://u@h/db?sslmode=disable".into())
        );
        assert_eq!(pg.kind().to_string(), "postgresql");
        assert_eq!(
            postgres_connect_url("postgresql://u@h/db?sslmode=disable"),
            "postgresql://u@h/db?sslmode=disable&connect_timeout=10&application_name=authmcp-gateway"
        );
        assert_eq!(
            postgres_connect_url("postgres://u@h/db?connect_timeout=3"),
            "postgres://u@h/db?connect_timeout=3&application_name=authmcp-gateway"
        );
    }

    #[test]
    fn rejects_unknown_schemes_naming_them() {
        let err = DatabaseUrl::parse("mysql://root:pw@h/db")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`mysql`"), "{err}");
        assert!(err.contains("root:***@"), "{err}");
        assert!(!err.contains("pw"), "{err}");
        let err = DatabaseUrl::parse("data/authmcp.db")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no scheme"), "{err}");
    }
}
