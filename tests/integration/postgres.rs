//! A fresh PostgreSQL database per test (127.0.0.1:5432, user postgres, trust — override with
//! AUTHMCP_TEST_PG_URL), so a `TestGateway` can run on PostgreSQL exactly as on SQLite.

use diesel::{Connection, PgConnection, RunQueryDsl};

/// Which database a test gateway runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// The `[database]` section for `db`, and the guard that drops a PostgreSQL database afterwards.
pub fn database_toml(db: Db) -> (String, Option<PgDatabase>) {
    match db {
        // The harness's default: `<data_dir>/authmcp.db`.
        Db::Sqlite => (String::new(), None),
        Db::Postgres => {
            let pg = PgDatabase::create();
            (format!("[database]\nurl = {:?}\n", pg.url), Some(pg))
        }
    }
}

fn admin_url() -> String {
    std::env::var("AUTHMCP_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

fn admin() -> PgConnection {
    let url = admin_url();
    PgConnection::establish(&url).unwrap_or_else(|err| {
        panic!(
            "PostgreSQL is not reachable at {url}: {err}\nStart it with:\n  \
             pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        )
    })
}

pub struct PgDatabase {
    pub url: String,
    name: String,
}

impl PgDatabase {
    pub fn create() -> PgDatabase {
        let name = format!("authmcp_it_{:016x}", rand::random::<u64>());
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin())
            .expect("create the PostgreSQL test database");
        let base = admin_url();
        let (server, _) = base
            .rsplit_once('/')
            .expect("AUTHMCP_TEST_PG_URL must end in /DATABASE");
        PgDatabase {
            url: format!("{server}/{name}"),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // FORCE ends the gateway's pooled connections if it is still running.
        let _ = diesel::sql_query(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut admin());
    }
}

/// Generates `<name>_sqlite` and `<name>_postgres` tests calling `async fn name(db: Db)`.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[actix_rt::test] async fn $name() { super::$name($crate::postgres::Db::Sqlite).await; })*
        }
        mod on_postgres {
            $(#[actix_rt::test] async fn $name() { super::$name($crate::postgres::Db::Postgres).await; })*
        }
    };
}
