//! The storage layer's errors. Each message is one line an operator can act on; the web crate maps
//! the variants to HTTP statuses and the CLI prints them as they are.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::DatabaseKind;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The URL names no database we support, or is malformed.
    #[error("invalid database URL `{url}`: {reason}")]
    InvalidUrl { url: String, reason: String },

    /// The database could not be opened or reached. `url` has its password masked.
    #[error("cannot open the {kind} database at {url}: {cause}")]
    Connect {
        kind: DatabaseKind,
        url: String,
        cause: String,
    },

    #[error("database migration failed: {0}")]
    Migration(String),

    /// The row the caller named does not exist; the message names it.
    #[error("{0}")]
    NotFound(String),

    /// A unique constraint refused the write; the message names the clashing value.
    #[error("{0}")]
    Conflict(String),

    /// SQLite stayed locked by another writer for longer than the busy timeout.
    #[error(
        "the SQLite database is locked: another process kept a write lock open for longer than the \
         busy timeout; retry, or find the process holding it"
    )]
    Locked,

    #[error("database query failed: {0}")]
    Query(String),

    /// No pooled connection became free in time, or a new one could not be opened.
    #[error("no database connection available: {0}")]
    Pool(String),

    /// A row holds a value this version does not understand (e.g. an unknown role).
    #[error("unexpected data in the database: {0}")]
    Corrupt(String),

    /// The blocking task running the query panicked or was cancelled.
    #[error("database task failed: {0}")]
    Task(String),
}

impl StorageError {
    /// Maps a unique violation to `Conflict` with the caller's wording; other errors as `From`.
    pub fn conflict_or(err: DieselError, conflict: impl FnOnce() -> String) -> StorageError {
        match err {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                StorageError::Conflict(conflict())
            }
            other => other.into(),
        }
    }
}

impl From<DieselError> for StorageError {
    fn from(err: DieselError) -> StorageError {
        match &err {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StorageError::Conflict(info.message().to_string())
            }
            DieselError::DatabaseError(_, info) if is_locked_message(info.message()) => {
                StorageError::Locked
            }
            DieselError::NotFound => StorageError::NotFound("no such row".into()),
            _ => StorageError::Query(err.to_string()),
        }
    }
}

/// SQLite reports both SQLITE_BUSY and SQLITE_LOCKED with these texts.
pub(crate) fn is_locked_message(message: &str) -> bool {
    message.contains("database is locked") || message.contains("database table is locked")
}
