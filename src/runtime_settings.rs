//! Runtime settings: the `runtime_settings` table's overrides as the configuration's top layer,
//! and [`web::config_control::ConfigControl`] for the admin API and the console.
//!
//! A change is validated by loading the configuration with it (the file's rules, every problem
//! reported), stored, and applied by asking the run loop for a reload — the SIGHUP path, so
//! there is one way configuration changes reach the running gateway. Another instance on the
//! same database sees `revisions('runtime_settings')` move and reloads too.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use actors::storage::{Database, StorageError, runtime_settings};
use web::config_control::{
    ChangeError, ConfigControl, Pending, ReloadOutcome, RuntimeSetting, StoredOverride,
};

use crate::config::{self, RUNTIME_KEYS, Sources};

/// A reload asked for by the admin API (or the revision poller); the run loop answers on it.
pub type ReloadRequest = oneshot::Sender<ReloadOutcome>;

/// Reads the settings view in force.
pub type ConfigView = Box<dyn Fn() -> Arc<serde_json::Value> + Send + Sync>;

/// How often another instance's change to the runtime settings is looked for.
const REVISION_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The stored overrides as the loader takes them (key → JSON value), with the table's revision.
/// A value that is not JSON (edited by hand) is passed on as a string, so validation names it.
pub async fn load_overrides(
    db: &Database,
) -> Result<(i64, BTreeMap<String, serde_json::Value>), StorageError> {
    db.run(|conn| {
        let revision = runtime_settings::revision(conn)?;
        let stored = runtime_settings::list(conn)?;
        let values = stored
            .into_iter()
            .map(|(key, s)| {
                let value = serde_json::from_str(&s.value_json)
                    .unwrap_or(serde_json::Value::String(s.value_json));
                (key, value)
            })
            .collect();
        Ok((revision, values))
    })
    .await
}

/// The binary's side of [`ConfigControl`].
pub struct RuntimeSettings {
    db: Database,
    /// The run's sources (file, dotenv, flags); `None` in tests that reload nothing.
    sources: Option<Sources>,
    reload: mpsc::Sender<ReloadRequest>,
    /// The effective configuration's view (`AppState::config_view`), for the values in force.
    view: ConfigView,
    /// The last revision this process loaded or wrote, so the poller reloads only on others'
    /// changes.
    seen_revision: Arc<AtomicI64>,
}

impl RuntimeSettings {
    pub fn new(
        db: Database,
        sources: Option<Sources>,
        reload: mpsc::Sender<ReloadRequest>,
        view: ConfigView,
        seen_revision: i64,
    ) -> Arc<RuntimeSettings> {
        Arc::new(RuntimeSettings {
            db,
            sources,
            reload,
            view,
            seen_revision: Arc::new(AtomicI64::new(seen_revision)),
        })
    }

    /// Polls the revision until `stop`; another process's change triggers a reload here.
    pub async fn follow_other_instances(
        self: Arc<Self>,
        log: slog::Logger,
        stop: watch::Receiver<bool>,
    ) {
        let this = self.clone();
        actors::storage::refresher::poll_revision(
            "runtime_settings",
            REVISION_POLL_INTERVAL,
            log,
            stop,
            move || {
                let this = this.clone();
                async move {
                    let revision = this.db.run(runtime_settings::revision).await?;
                    if this.seen_revision.swap(revision, Ordering::SeqCst) == revision {
                        return Ok::<_, StorageError>(false);
                    }
                    // Nobody waits for this answer; the outcome is logged and counted as usual.
                    let (answer, _) = oneshot::channel();
                    let _ = this.reload.send(answer).await;
                    Ok(true)
                }
            },
        )
        .await
    }

    async fn ask_reload(&self) -> ReloadOutcome {
        let (answer, outcome) = oneshot::channel();
        if self.reload.send(answer).await.is_err() {
            return ReloadOutcome::Failed(vec!["the gateway is shutting down".into()]);
        }
        outcome
            .await
            .unwrap_or_else(|_| ReloadOutcome::Failed(vec!["the gateway is shutting down".into()]))
    }

    /// Every problem `proposed` would cause, by loading the configuration with it.
    async fn check(
        &self,
        proposed: BTreeMap<String, serde_json::Value>,
    ) -> Result<(), ChangeError> {
        let mut sources = self.sources.clone().unwrap_or_default();
        sources.runtime = proposed;
        let checked = tokio::task::spawn_blocking(move || config::load(&sources).map(|_| ()))
            .await
            .map_err(|error| ChangeError::Storage(error.to_string()))?;
        checked.map_err(|report| {
            ChangeError::Invalid(report.errors.iter().map(ToString::to_string).collect())
        })
    }
}

fn effective(view: &serde_json::Value, key: &str) -> serde_json::Value {
    key.split('.')
        .try_fold(view, |node, part| node.get(part))
        .cloned()
        .unwrap_or(serde_json::Value::Null)
}

fn kind_of(key: &str) -> &'static str {
    if key == "auth.allow_registration" || key == "oauth.dcr_enabled" {
        "boolean"
    } else {
        "integer"
    }
}

impl ConfigControl for RuntimeSettings {
    fn runtime_settings(&self) -> Pending<'_, Result<Vec<RuntimeSetting>, String>> {
        Box::pin(async move {
            let stored = self
                .db
                .run(runtime_settings::list)
                .await
                .map_err(|e| e.to_string())?;
            let view = (self.view)();
            Ok(RUNTIME_KEYS
                .iter()
                .map(|k| RuntimeSetting {
                    key: k.key.to_string(),
                    description: k.description.to_string(),
                    kind: kind_of(k.key),
                    effective: effective(&view, k.key),
                    stored: stored.get(k.key).map(|s| StoredOverride {
                        value: serde_json::from_str(&s.value_json)
                            .unwrap_or_else(|_| serde_json::Value::String(s.value_json.clone())),
                        updated_at_ms: s.updated_at_ms,
                        updated_by: s.updated_by.clone(),
                    }),
                })
                .collect())
        })
    }

    fn change_runtime(
        &self,
        changes: BTreeMap<String, Option<serde_json::Value>>,
        by: String,
    ) -> Pending<'_, Result<ReloadOutcome, ChangeError>> {
        Box::pin(async move {
            let unknown: Vec<String> = changes
                .keys()
                .filter(|k| !config::is_runtime_key(k))
                .map(|k| format!("{k}: not a runtime setting (allowed: {})", allowed()))
                .collect();
            if !unknown.is_empty() {
                return Err(ChangeError::Invalid(unknown));
            }
            let (_, mut proposed) = load_overrides(&self.db)
                .await
                .map_err(|e| ChangeError::Storage(e.to_string()))?;
            for (key, value) in &changes {
                match value {
                    Some(v) => proposed.insert(key.clone(), v.clone()),
                    None => proposed.remove(key),
                };
            }
            self.check(proposed).await?;
            let rows: BTreeMap<String, Option<String>> = changes
                .into_iter()
                .map(|(k, v)| (k, v.map(|v| v.to_string())))
                .collect();
            let revision = self
                .db
                .run(move |conn| {
                    runtime_settings::apply(conn, &rows, &by)?;
                    runtime_settings::revision(conn)
                })
                .await
                .map_err(|e| ChangeError::Storage(e.to_string()))?;
            // Our own change: the poller must not reload a second time for it.
            self.seen_revision.store(revision, Ordering::SeqCst);
            Ok(self.ask_reload().await)
        })
    }

    fn reload(&self) -> Pending<'_, ReloadOutcome> {
        Box::pin(self.ask_reload())
    }
}

fn allowed() -> String {
    RUNTIME_KEYS
        .iter()
        .map(|k| k.key)
        .collect::<Vec<_>>()
        .join(", ")
}
