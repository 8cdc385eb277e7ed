//! The schema migrations, embedded at build time from `migrations/sqlite` and
//! `migrations/postgres` (parallel folders with the same version names; see migrations/README.md).

use diesel::backend::Backend;
use diesel::migration::MigrationSource;
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::{DbConn, StorageError};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// Serialises migrations across gateway instances sharing one PostgreSQL database
/// (an arbitrary constant: "authmcp" in ASCII).
const PG_MIGRATION_LOCK: i64 = 0x61_75_74_68_6d_63_70;

/// Applies every pending migration in one transaction and returns their names, oldest first.
///
/// One transaction means two processes migrating at once (the gateway starting while `init-db`
/// runs) serialise: the second one finds nothing pending instead of failing halfway.
pub(crate) fn run_pending(conn: &mut DbConn) -> Result<Vec<String>, StorageError> {
    match conn {
        DbConn::Sqlite(conn) => conn.immediate_transaction(|conn| apply(conn, SQLITE_MIGRATIONS)),
        DbConn::Postgres(conn) => conn.transaction(|conn| {
            diesel::sql_query(format!("SELECT pg_advisory_xact_lock({PG_MIGRATION_LOCK})"))
                .execute(conn)?;
            apply(conn, POSTGRES_MIGRATIONS)
        }),
    }
}

fn apply<DB, C>(conn: &mut C, source: EmbeddedMigrations) -> Result<Vec<String>, StorageError>
where
    DB: Backend,
    C: MigrationHarness<DB>,
    EmbeddedMigrations: MigrationSource<DB>,
{
    let pending = conn.pending_migrations(source).map_err(migration_error)?;
    let mut applied = Vec::with_capacity(pending.len());
    for migration in pending {
        conn.run_migration(&migration).map_err(migration_error)?;
        applied.push(migration.name().to_string());
    }
    Ok(applied)
}

fn migration_error(err: Box<dyn std::error::Error + Send + Sync>) -> StorageError {
    let message = err.to_string();
    if super::error::is_locked_message(&message) {
        StorageError::Locked
    } else {
        StorageError::Migration(message)
    }
}

/// Names of the embedded migrations for each dialect, for the parallel-folders check.
pub fn embedded_names() -> (Vec<String>, Vec<String>) {
    fn names<DB: Backend>(source: EmbeddedMigrations) -> Vec<String>
    where
        EmbeddedMigrations: MigrationSource<DB>,
    {
        let mut names: Vec<String> = MigrationSource::<DB>::migrations(&source)
            .map(|list| list.iter().map(|m| m.name().to_string()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }
    (
        names::<diesel::sqlite::Sqlite>(SQLITE_MIGRATIONS),
        names::<diesel::pg::Pg>(POSTGRES_MIGRATIONS),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn migration_folders_are_parallel() {
        let (sqlite, postgres) = super::embedded_names();
        assert!(!sqlite.is_empty());
        assert_eq!(
            sqlite, postgres,
            "migrations/sqlite and migrations/postgres must match"
        );
    }
}
