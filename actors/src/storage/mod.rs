//! Storage: diesel over SQLite (default, one file in the data dir) or PostgreSQL (several
//! instances), through one `MultiConnection` so every query is written once.
//!
//! A [`Database`] is a cheap-to-clone handle on an r2d2 pool. Async code calls [`Database::run`],
//! which moves the blocking diesel work onto tokio's blocking threads; the CLI calls
//! [`Database::run_blocking`]. Each table has one owning module/actor (see migrations/README.md).
//!
//! SQLite connections run in WAL mode with a busy timeout, so the CLI (`create-admin`, `user …`)
//! can write to the same file while the gateway runs: readers never block, and a writer waits up
//! to the busy timeout for the other process's write to finish before reporting
//! [`StorageError::Locked`].

pub mod api_tokens;
pub mod audit_records;
pub mod authorization_codes;
pub mod backend_oauth;
pub mod backend_token_state;
pub mod backends;
mod connection;
mod database_url;
mod error;
pub mod groups;
mod migrations;
pub mod oauth_clients;
pub mod oauth_consents;
pub mod policies;
pub mod refresher;
pub mod runtime_settings;
mod schema;
pub mod security_events;
pub mod settings;
pub mod tokens;
pub mod tool_approvals;
pub mod users;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diesel::r2d2::{ManageConnection, Pool};
use scheduled_thread_pool::ScheduledThreadPool;

pub use connection::DbConn;
pub use database_url::{DatabaseKind, DatabaseUrl, mask_password};
pub use error::StorageError;
pub use migrations::embedded_names as embedded_migration_names;

use connection::ConnectionManager;

/// Tuning for [`Database::connect_with`]; [`Database::connect`] uses the defaults.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Most connections open at once (at least 1).
    pub pool_size: u32,
    /// SQLite only: how long a write waits for another writer before failing with `Locked`.
    pub busy_timeout: Duration,
    /// How long a caller waits for a free pooled connection.
    pub checkout_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            pool_size: 8,
            busy_timeout: Duration::from_secs(5),
            checkout_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Clone)]
pub struct Database {
    pool: Pool<ConnectionManager>,
    url: Arc<DatabaseUrl>,
}

impl Database {
    /// Opens `sqlite://PATH`, `postgres://…` or `postgresql://…`. One connection is made at once,
    /// so a wrong URL, an unreachable server or a missing directory fails here with its cause.
    pub fn connect(url: &str, pool_size: u32) -> Result<Database, StorageError> {
        Database::connect_with(
            url,
            ConnectOptions {
                pool_size,
                ..ConnectOptions::default()
            },
        )
    }

    pub fn connect_with(url: &str, options: ConnectOptions) -> Result<Database, StorageError> {
        let url = DatabaseUrl::parse(url)?;
        let manager = ConnectionManager::new(url.clone(), options.busy_timeout);
        // r2d2 would only report "timed out waiting for connection"; this surfaces the real cause.
        drop(manager.connect()?);
        let in_memory = matches!(&url, DatabaseUrl::Sqlite(p) if p.as_os_str() == ":memory:");
        let mut builder = Pool::builder()
            .max_size(options.pool_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(options.checkout_timeout)
            // A SQLite file cannot go away under us; a PostgreSQL connection can (server restart).
            .test_on_check_out(url.kind() == DatabaseKind::Postgres)
            // r2d2 opens and reaps connections on a pool of its own threads (three unless told).
            // One is enough for a pool of a few connections and saves two idle threads, each
            // with its own allocator pages (idle RSS, bench/README.md).
            .thread_pool(Arc::new(
                ScheduledThreadPool::builder()
                    .num_threads(1)
                    .thread_name_pattern("r2d2-worker-{}")
                    .build(),
            ));
        if in_memory {
            // Every SQLite `:memory:` connection is its own database: keep exactly one, forever.
            builder = builder.max_size(1).idle_timeout(None).max_lifetime(None);
        }
        Ok(Database {
            pool: builder.build_unchecked(manager),
            url: Arc::new(url),
        })
    }

    /// Applies pending migrations; returns the names of those applied (empty when up to date).
    pub fn migrate(&self) -> Result<Vec<String>, StorageError> {
        self.run_blocking(migrations::run_pending)
    }

    pub fn kind(&self) -> DatabaseKind {
        self.url.kind()
    }

    /// The URL with any password masked, for log lines and messages.
    pub fn display_url(&self) -> String {
        self.url.display()
    }

    /// Runs `f` with a pooled connection on tokio's blocking threads.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut DbConn) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.run_blocking(f))
            .await
            .map_err(|err| StorageError::Task(err.to_string()))?
    }

    /// Runs `f` with a pooled connection on the calling thread (CLI commands, tests).
    pub fn run_blocking<T>(
        &self,
        f: impl FnOnce(&mut DbConn) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut conn = self
            .pool
            .get()
            .map_err(|err| StorageError::Pool(err.to_string()))?;
        f(&mut conn)
    }
}

/// Shows the kind and the masked URL only; the pool's internals say nothing useful.
impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("kind", &self.kind())
            .field("url", &self.display_url())
            .finish()
    }
}

/// Runs `f` in one transaction that may write.
///
/// On SQLite the write lock is taken first, by a write that changes nothing. A deferred
/// transaction that reads before it writes would otherwise fail at once with `SQLITE_BUSY`
/// (not wait out the busy timeout) whenever another writer — the audit or security-event
/// writer, another process — committed after its read: SQLite cannot upgrade a stale read
/// snapshot. Taking the lock first makes it wait its turn instead.
pub fn in_transaction<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, StorageError>,
) -> Result<T, StorageError> {
    use diesel::Connection as _;
    use diesel::RunQueryDsl as _;
    conn.transaction(|conn| {
        if let DbConn::Sqlite(sqlite) = conn {
            diesel::sql_query("UPDATE revisions SET value = value WHERE 0").execute(sqlite)?;
        }
        f(conn)
    })
}

/// Unix time in milliseconds, as the timestamp columns hold it (for callers outside the crate).
pub fn unix_ms_now() -> i64 {
    now_ms()
}

/// Unix time in milliseconds, the representation of every timestamp column.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
