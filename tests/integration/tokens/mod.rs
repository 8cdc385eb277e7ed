//! The token core over HTTP, on SQLite and on PostgreSQL: signing keys and JWKS, audience binding
//! per path, refresh rotation and reuse, logout, registration, API and static tokens, single
//! session; and the CLI acting on a running gateway from another process.

mod api_tokens;
mod binding;
mod cli;
mod keys;
mod sessions;

use actors::storage::users::Role;

use authmcp_gateway::config::GatewayConfig;

use crate::harness::TestGateway;
use crate::users::{create_user, login};

pub use crate::postgres::Db as Backend;
use crate::postgres::PgDatabase;

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
