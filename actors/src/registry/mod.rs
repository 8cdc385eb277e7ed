//! `BackendRegistry`: the one place that knows every backend, from the config file and from the
//! database (admin API), and hands the merged list to the supervisor.
//!
//! - SIGHUP replaces the file backends ([`BackendRegistry::reload_file_backends`]); the admin API
//!   creates, changes and deletes database backends. Both end in
//!   [`GatewayHandle::apply_backends`] with the merged list, so unchanged backends (and their
//!   sessions) are left alone and only what changed restarts.
//! - A name may be used by one side only: the API answers 409, a reload is refused, boot fails.
//! - One async mutex serialises every change, so a reload and an API call never interleave
//!   between "write" and "apply".
//! - Another process changing the `backends` table (a second instance on the same PostgreSQL)
//!   bumps its revision; [`BackendRegistry::run_refresher`] notices and re-applies.
//!
//! Credentials are decrypted only here, to build `BackendSpec::auth`.

mod draft;
mod entry;
mod error;
mod merge;
mod name;
mod oauth;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{Mutex, watch};

pub use draft::{
    AuthKind, BackendDraft, DEFAULT_HEALTH_INTERVAL, DEFAULT_TIMEOUT, HttpTransport,
    MAX_HEALTH_INTERVAL_S, MAX_NAME_LEN, MAX_TIMEOUT_S, check_backend_name, check_header_name,
    check_tool_prefix, parse_backend_url,
};
pub use entry::{BackendEntry, BackendId};
pub use error::RegistryError;
pub use name::{GivenName, MAX_DISPLAY_NAME_LEN, check_display_name, identifier_from};
pub use oauth::OAuthView;

use crate::backend::PersistedTokens;
use crate::secrets::SecretBox;
use crate::spec::BackendSpec;
use crate::storage::backends::{self as store, StoredBackend};
use crate::storage::refresher::poll_revision;
use crate::storage::{Database, StorageError};
use crate::supervisor::{GatewayHandle, ReloadOutcome, SupervisorError};

/// What the registry holds between changes.
struct Known {
    file: Vec<BackendSpec>,
    stored: Vec<StoredBackend>,
    /// The `backends` revision `stored` was read at.
    revision: i64,
}

pub struct BackendRegistry {
    db: Database,
    secrets: Arc<SecretBox>,
    gateway: OnceLock<GatewayHandle>,
    known: Mutex<Known>,
    /// The merged list last handed to the supervisor, in order (the routing table's "first
    /// configured wins" follows it).
    desired: watch::Sender<Arc<Vec<BackendSpec>>>,
    log: slog::Logger,
}

impl BackendRegistry {
    /// Reads the database backends and checks them against the file's. A name on both sides
    /// fails with [`RegistryError::Clash`]: the operator must rename one before the gateway starts.
    pub async fn load(
        db: Database,
        secrets: Arc<SecretBox>,
        file: Vec<BackendSpec>,
        log: slog::Logger,
    ) -> Result<Arc<BackendRegistry>, RegistryError> {
        let (stored, revision) = read_stored(&db).await?;
        let registry = BackendRegistry {
            db,
            secrets,
            desired: watch::Sender::new(Arc::new(Vec::new())),
            gateway: OnceLock::new(),
            known: Mutex::new(Known {
                file,
                stored,
                revision,
            }),
            log,
        };
        let known = registry.known.lock().await;
        let merged = merge::merge(&known.file, &known.stored, &registry.secrets);
        if !merged.clashes.is_empty() {
            return Err(RegistryError::Clash(merged.clashes));
        }
        registry.log_problems(&known, &merged.problems);
        registry.desired.send_replace(Arc::new(merged.specs));
        drop(known);
        Ok(Arc::new(registry))
    }

    /// The merged list to start the supervisor with.
    pub async fn desired(&self) -> Vec<BackendSpec> {
        let known = self.known.lock().await;
        merge::merge(&known.file, &known.stored, &self.secrets).specs
    }

    /// Every change to the merged list, as applied.
    pub fn subscribe_desired(&self) -> watch::Receiver<Arc<Vec<BackendSpec>>> {
        self.desired.subscribe()
    }

    /// Where OAuth backends (file and database) keep their rotated refresh tokens: the same
    /// database, sealed with the same key as the stored credentials.
    pub fn persisted_tokens(&self) -> Arc<PersistedTokens> {
        PersistedTokens::new(self.db.clone(), self.secrets.clone())
    }

    /// Connects the registry to the running supervisor; changes before this only update state.
    pub fn attach(&self, gateway: GatewayHandle) {
        let _ = self.gateway.set(gateway);
    }

    /// SIGHUP: the file's new backends replace the old ones and the merged list is applied. A
    /// name the database also uses refuses the whole reload and keeps the running list.
    pub async fn reload_file_backends(
        &self,
        file: Vec<BackendSpec>,
    ) -> Result<ReloadOutcome, RegistryError> {
        let mut known = self.known.lock().await;
        let (stored, revision) = read_stored(&self.db).await?;
        let merged = merge::merge(&file, &stored, &self.secrets);
        if !merged.clashes.is_empty() {
            return Err(RegistryError::Clash(merged.clashes));
        }
        let outcome = match self.gateway.get() {
            Some(gateway) => gateway.apply_backends(merged.specs.clone()).await?,
            None => ReloadOutcome::default(),
        };
        self.desired.send_replace(Arc::new(merged.specs));
        *known = Known {
            file,
            stored,
            revision,
        };
        Ok(outcome)
    }

    /// Every backend, file ones first (in file order), then database ones by id.
    pub async fn list(&self) -> Vec<BackendEntry> {
        let known = self.known.lock().await;
        let merged = merge::merge(&known.file, &known.stored, &self.secrets);
        let statuses = self.gateway.get().map(|g| g.statuses()).unwrap_or_default();
        let status = |name: &str| statuses.iter().find(|s| s.name == name).cloned();
        let files = known
            .file
            .iter()
            .map(|s| entry::file_entry(s, status(&s.name)));
        let rows = known.stored.iter().map(|row| {
            let problem = merged.problems.get(&row.id).cloned();
            let live = problem
                .is_none()
                .then(|| status(&row.record.name))
                .flatten();
            entry::database_entry(row, live, problem)
        });
        files.chain(rows).collect()
    }

    /// One backend by id; `NotFound` when there is none.
    pub async fn get(&self, id: &BackendId) -> Result<BackendEntry, RegistryError> {
        self.list()
            .await
            .into_iter()
            .find(|e| &e.id == id)
            .ok_or_else(|| not_found(id))
    }

    /// The runnable spec behind `id` (credentials decrypted), for a connection test. A database
    /// backend that cannot run (its credential does not decrypt, a name clash) is `Invalid`
    /// with the reason.
    pub async fn spec(&self, id: &BackendId) -> Result<BackendSpec, RegistryError> {
        let known = self.known.lock().await;
        match id {
            BackendId::File(name) => known.file.iter().find(|s| &s.name == name).cloned(),
            BackendId::Database(row_id) => {
                let row = known.stored.iter().find(|r| r.id == *row_id);
                match row {
                    Some(row) if known.file.iter().any(|s| s.name == row.record.name) => {
                        return Err(RegistryError::Invalid(vec![format!(
                            "the config file also defines a backend named `{}`",
                            row.record.name
                        )]));
                    }
                    Some(row) => Some(
                        merge::to_spec(row, &self.secrets)
                            .map_err(|reason| RegistryError::Invalid(vec![reason]))?,
                    ),
                    None => None,
                }
            }
        }
        .ok_or_else(|| not_found(id))
    }

    /// The spec a create body would run, without storing anything (testing a connection
    /// before saving). Judged like [`BackendRegistry::create`].
    pub fn draft_spec(&self, draft: BackendDraft) -> Result<BackendSpec, RegistryError> {
        let record = draft::resolve(None, draft, &self.secrets).map_err(RegistryError::Invalid)?;
        let row = StoredBackend {
            id: 0,
            record,
            created_at_ms: 0,
            updated_at_ms: 0,
        };
        merge::to_spec(&row, &self.secrets).map_err(|reason| RegistryError::Invalid(vec![reason]))
    }

    /// Stores a new database backend and starts it.
    pub async fn create(
        &self,
        draft: BackendDraft,
        by: &str,
    ) -> Result<BackendEntry, RegistryError> {
        let mut known = self.known.lock().await;
        let record = draft::resolve(None, draft, &self.secrets).map_err(RegistryError::Invalid)?;
        self.check_file_name(&known, &record.name)?;
        let stored = self
            .db
            .run(move |c| store::create(c, &record))
            .await
            .map_err(name_taken)?;
        slog::info!(self.log, "Backend created through the admin API.";
            "by" => by, "backend" => &stored.record.name, "id" => stored.id,
            "url" => stored.record.url.as_deref().map(crate::storage::mask_password),
            "auth_type" => draft::stored_kind(Some(&stored.record)).as_str());
        self.refresh_and_apply(&mut known).await?;
        drop(known);
        self.get(&BackendId::Database(stored.id)).await
    }

    /// Applies a partial change to a database backend; it restarts only if its spec changed.
    pub async fn update(
        &self,
        id: &BackendId,
        draft: BackendDraft,
        by: &str,
    ) -> Result<BackendEntry, RegistryError> {
        let mut known = self.known.lock().await;
        let row_id = self.database_id(&known, id)?;
        let current = self
            .db
            .run(move |c| store::find(c, row_id))
            .await?
            .ok_or_else(|| not_found(id))?;
        let fields = draft.field_names().join(",");
        let record = draft::resolve(Some(&current.record), draft, &self.secrets)
            .map_err(RegistryError::Invalid)?;
        self.check_file_name(&known, &record.name)?;
        let stored = self
            .db
            .run(move |c| store::replace(c, row_id, &record))
            .await
            .map_err(name_taken)?;
        slog::info!(self.log, "Backend changed through the admin API.";
            "by" => by, "backend" => &stored.record.name, "id" => row_id,
            "previous_name" => &current.record.name, "fields" => fields);
        self.refresh_and_apply(&mut known).await?;
        drop(known);
        self.get(&BackendId::Database(row_id)).await
    }

    /// Removes a database backend and stops it; returns what it was.
    pub async fn delete(&self, id: &BackendId, by: &str) -> Result<BackendEntry, RegistryError> {
        let mut known = self.known.lock().await;
        let row_id = self.database_id(&known, id)?;
        let removed = self
            .db
            .run(move |c| store::delete(c, row_id))
            .await
            .map_err(|e| match e {
                StorageError::NotFound(_) => not_found(id),
                other => other.into(),
            })?;
        slog::info!(self.log, "Backend deleted through the admin API.";
            "by" => by, "backend" => &removed.record.name, "id" => row_id);
        self.refresh_and_apply(&mut known).await?;
        Ok(entry::database_entry(&removed, None, None))
    }

    /// Polls the `backends` revision every `every` and re-applies when another process changed
    /// the table. Ends when `stop` turns true.
    pub async fn run_refresher(self: Arc<Self>, every: Duration, stop: watch::Receiver<bool>) {
        let log = self.log.clone();
        poll_revision("backends", every, log, stop, || self.refresh_if_changed()).await
    }

    /// Re-applies when the `backends` revision moved since the last read; `true` if it did.
    async fn refresh_if_changed(&self) -> Result<bool, RegistryError> {
        let seen = self.known.lock().await.revision;
        if self.db.run(store::revision).await? == seen {
            return Ok(false);
        }
        let mut known = self.known.lock().await;
        self.refresh_and_apply(&mut known).await?;
        Ok(true)
    }

    /// Re-reads the database rows (picking up other processes' changes too) and applies the
    /// merged list. A clash found here (another instance added a name our file uses) keeps the
    /// file's backend and leaves the database one out, reported in `list`.
    async fn refresh_and_apply(&self, known: &mut Known) -> Result<(), RegistryError> {
        let (stored, revision) = read_stored(&self.db).await?;
        known.stored = stored;
        known.revision = revision;
        let merged = merge::merge(&known.file, &known.stored, &self.secrets);
        self.log_problems(known, &merged.problems);
        self.desired.send_replace(Arc::new(merged.specs.clone()));
        let Some(gateway) = self.gateway.get() else {
            return Ok(());
        };
        match gateway.apply_backends(merged.specs).await {
            Ok(outcome) => {
                slog::info!(self.log, "Backends applied.";
                    "added" => outcome.added.join(","), "removed" => outcome.removed.join(","),
                    "restarted" => outcome.restarted.join(","),
                    "unchanged" => outcome.unchanged.len());
                Ok(())
            }
            // The supervisor keeps the list and applies it once it is back.
            Err(SupervisorError::Restarting) => {
                slog::warn!(
                    self.log,
                    "Backend supervisor restarting; the change applies when it is back."
                );
                Ok(())
            }
            Err(error) => Err(error.into()),
        }
    }

    fn log_problems(&self, known: &Known, problems: &std::collections::BTreeMap<i64, String>) {
        for (id, reason) in problems {
            let name = known
                .stored
                .iter()
                .find(|r| r.id == *id)
                .map(|r| r.record.name.as_str());
            slog::error!(self.log, "Database backend left out."; "id" => id, "backend" => name,
                "error" => reason);
        }
    }

    fn check_file_name(&self, known: &Known, name: &str) -> Result<(), RegistryError> {
        if known.file.iter().any(|s| s.name == name) {
            return Err(RegistryError::NameTaken(format!(
                "a backend named `{name}` is defined in the config file; choose another name"
            )));
        }
        Ok(())
    }

    /// The row id behind `id`; file backends are read-only, unknown ids not found.
    fn database_id(&self, known: &Known, id: &BackendId) -> Result<i64, RegistryError> {
        match id {
            BackendId::Database(row) => Ok(*row),
            BackendId::File(name) if known.file.iter().any(|s| &s.name == name) => {
                Err(RegistryError::ReadOnly(name.clone()))
            }
            BackendId::File(_) => Err(not_found(id)),
        }
    }
}

async fn read_stored(db: &Database) -> Result<(Vec<StoredBackend>, i64), StorageError> {
    db.run(|c| {
        // Revision first: a change landing between the two reads is then seen again next poll.
        let revision = store::revision(c)?;
        Ok((store::list(c)?, revision))
    })
    .await
}

fn not_found(id: &BackendId) -> RegistryError {
    RegistryError::NotFound(format!("no backend with id `{id}`"))
}

fn name_taken(error: StorageError) -> RegistryError {
    match error {
        StorageError::Conflict(message) => RegistryError::NameTaken(message),
        StorageError::NotFound(message) => RegistryError::NotFound(message),
        other => other.into(),
    }
}
