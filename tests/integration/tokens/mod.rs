//! The token core over HTTP, on SQLite and on PostgreSQL: signing keys and JWKS, audience binding
//! per path, refresh rotation and reuse, logout, registration, API and static tokens, single
//! session; and the CLI acting on a running gateway from another process.

mod api_tokens;
mod binding;
mod cli;
mod keys;
mod sessions;

use actors::storage::users::Role;
use diesel::{Connection, PgConnection, RunQueryDsl};

use authmcp_gateway::config::GatewayConfig;

use crate::harness::TestGateway;
use crate::users::{create_user, login};

/// Which database a test gateway runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh PostgreSQL database for one test, dropped afterwards.
pub struct PgDatabase {
    name: String,
    pub url: String,
}

fn pg_admin_url() -> String {
    std::env::var("AUTHMCP_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

impl PgDatabase {
    pub fn create() -> PgDatabase {
        let name = format!("authmcp_it_{:016x}", rand::random::<u64>());
        let admin = pg_admin_url();
        let mut conn =
            PgConnection::establish(&admin).expect("connect to the PostgreSQL test server");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .expect("create the test database");
        let (server, _) = admin
            .rsplit_once('/')
            .expect("AUTHMCP_TEST_PG_URL ends in /DATABASE");
        PgDatabase {
            url: format!("{server}/{name}"),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&pg_admin_url()) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn);
        }
    }
}

/// A running gateway on `backend`, its config changed by `tweak`; the PostgreSQL database (if
/// any) lives as long as the returned guard.
pub struct Running {
    pub gw: TestGateway,
    _pg: Option<PgDatabase>,
}

pub async fn start(backend: Backend, tweak: impl FnOnce(&mut GatewayConfig)) -> Running {
    let pg = (backend == Backend::Postgres).then(PgDatabase::create);
    let extra = match &pg {
        Some(db) => format!("[database]\nurl = {:?}\n", db.url),
        None => String::new(),
    };
    let gw = TestGateway::start_with(&extra, tweak).await;
    Running { gw, _pg: pg }
}

impl Running {
    /// An administrator `root` and its login token.
    pub async fn admin(&self) -> String {
        create_user(&self.gw, "root", Role::Admin);
        login(&self.gw, "root").await
    }

    pub async fn stop(self) {
        self.gw.stop().await.unwrap();
    }
}

/// Runs each `async fn(Backend)` once per database.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[actix_rt::test] async fn $name() {
                super::$name($crate::tokens::Backend::Sqlite).await;
            })*
        }
        mod postgres {
            $(#[actix_rt::test] async fn $name() {
                super::$name($crate::tokens::Backend::Postgres).await;
            })*
        }
    };
}
