//! What a reload may not change: fields read once at start-up.
//!
//! The listener is bound, the worker threads are spawned, the database pool is open and the data
//! directory holds the secret and the logs (the backend credentials' key is loaded once); changing any of these means a restart. A reload that
//! changes one of them is refused as a whole, naming the keys.

use super::model::GatewayConfig;

/// The restart-only keys that differ between `old` and `new`, in a fixed order.
pub fn restart_only_changes(old: &GatewayConfig, new: &GatewayConfig) -> Vec<&'static str> {
    let checks: [(&'static str, bool); 7] = [
        ("server.host", old.server.host != new.server.host),
        ("server.port", old.server.port != new.server.port),
        ("server.workers", old.server.workers != new.server.workers),
        ("data_dir", old.data_dir != new.data_dir),
        ("database.url", old.database.url != new.database.url),
        (
            "database.pool_size",
            old.database.pool_size != new.database.pool_size,
        ),
        (
            "secrets.key_file",
            old.secrets.key_file != new.secrets.key_file,
        ),
    ];
    checks
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect()
}
