//! A fresh database per test: a SQLite file in a temp dir, or a PostgreSQL database with a random
//! name created through the `test` database and dropped afterwards.

use actors::storage::Database;
use diesel::{Connection, PgConnection, RunQueryDsl};

/// Override with AUTHMCP_TEST_PG_URL; the default is the development machine's trust-auth server.
pub fn pg_admin_url() -> String {
    std::env::var("AUTHMCP_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestDb {
    pub url: String,
    pub db: Database,
    /// Keeps the SQLite directory alive for the test's duration.
    _dir: Option<tempfile::TempDir>,
    pg_database: Option<String>,
}

impl TestDb {
    /// A connected, not yet migrated, empty database.
    pub fn fresh(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("create a temp dir");
                let url = format!("sqlite://{}", dir.path().join("authmcp.db").display());
                let db = Database::connect(&url, 4).expect("open the SQLite test database");
                TestDb {
                    url,
                    db,
                    _dir: Some(dir),
                    pg_database: None,
                }
            }
            Backend::Postgres => {
                let name = format!("authmcp_test_{:016x}", rand::random::<u64>());
                let mut admin = pg_admin();
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .expect("create the PostgreSQL test database");
                let base = pg_admin_url();
                let url = match base.rsplit_once('/') {
                    Some((server, _)) => format!("{server}/{name}"),
                    None => panic!("AUTHMCP_TEST_PG_URL must end in /DATABASE"),
                };
                let db = Database::connect(&url, 4).expect("open the PostgreSQL test database");
                TestDb {
                    url,
                    db,
                    _dir: None,
                    pg_database: Some(name),
                }
            }
        }
    }

    /// A fresh database with the schema applied.
    pub fn migrated(backend: Backend) -> TestDb {
        let t = TestDb::fresh(backend);
        t.db.migrate().expect("migrate the test database");
        t
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_database {
            // FORCE ends the pool's connections, which are still open at this point.
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut pg_admin());
        }
    }
}

fn pg_admin() -> PgConnection {
    let url = pg_admin_url();
    PgConnection::establish(&url).unwrap_or_else(|err| {
        panic!(
            "PostgreSQL is not reachable at {url}: {err}\nThe storage tests need it. Start it with:\n  \
             pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        )
    })
}

/// Generates `sqlite::NAME` and `postgres::NAME` tests calling `NAME(&TestDb)` on a migrated DB.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() {
                super::$name(&$crate::fixture::TestDb::migrated($crate::fixture::Backend::Sqlite));
            })*
        }
        mod postgres {
            $(#[test] fn $name() {
                super::$name(&$crate::fixture::TestDb::migrated($crate::fixture::Backend::Postgres));
            })*
        }
    };
}
