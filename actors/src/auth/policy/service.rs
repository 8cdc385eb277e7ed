//! `PolicyService`: owns the policy snapshot the request path reads, and every change to
//! policies, groups and memberships (admin API, SIGHUP).
//!
//! The snapshot is rebuilt — never patched — from the config file's rules (first) and the
//! database's, with the group memberships: at once after an in-process change, on SIGHUP, and
//! when the `policies` revision moves (another process or instance changed the tables; see
//! [`poll_revision`]). Readers load it from an `ArcSwap` without waiting; each rebuild has the
//! next generation and is announced on a `watch` so the endpoint can tell sessions whose view
//! changed.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use super::engine::{DefaultPolicy, PolicySnapshot};
use super::rule::{PolicyRule, PolicySubject, check_description, check_group_name};
use crate::storage::groups::{self, Group};
use crate::storage::policies::{self, StoredPolicy};
use crate::storage::refresher::poll_revision;
use crate::storage::{Database, StorageError, users};

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// One entry per problem, each `field: reason`.
    #[error("invalid: {}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Config-file policies change only in the file.
    #[error("policy `{0}` is defined in the config file; change it there and reload")]
    ReadOnly(String),
    #[error("storage: {0}")]
    Storage(StorageError),
}

/// Storage's `NotFound` and `Conflict` already name what is missing or taken.
impl From<StorageError> for PolicyError {
    fn from(error: StorageError) -> PolicyError {
        match error {
            StorageError::NotFound(m) => PolicyError::NotFound(m),
            StorageError::Conflict(m) => PolicyError::Conflict(m),
            other => PolicyError::Storage(other),
        }
    }
}

/// Where a policy lives: the config file (by position) or the database (by row id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyId {
    File(usize),
    Database(i64),
}

impl PolicyId {
    /// `12` or `file:0`.
    pub fn parse(text: &str) -> Option<PolicyId> {
        match text.strip_prefix("file:") {
            Some(index) => index.parse().ok().map(PolicyId::File),
            None => text.parse().ok().filter(|n| *n > 0).map(PolicyId::Database),
        }
    }
}

impl fmt::Display for PolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyId::File(index) => write!(f, "file:{index}"),
            PolicyId::Database(id) => write!(f, "{id}"),
        }
    }
}

/// A policy as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyEntry {
    pub id: PolicyId,
    pub rule: PolicyRule,
    pub created_at_ms: Option<i64>,
    pub updated_at_ms: Option<i64>,
}

impl From<StoredPolicy> for PolicyEntry {
    fn from(p: StoredPolicy) -> PolicyEntry {
        PolicyEntry {
            id: PolicyId::Database(p.id),
            rule: p.rule,
            created_at_ms: Some(p.created_at_ms),
            updated_at_ms: Some(p.updated_at_ms),
        }
    }
}

/// A partial change: `None` keeps a field; for the item lists `Some(None)` means "every item".
#[derive(Debug, Clone, Default)]
pub struct PolicyChange {
    pub subject: Option<String>,
    pub effect: Option<String>,
    pub backends: Option<Vec<String>>,
    pub tools: Option<Option<Vec<String>>>,
    pub prompts: Option<Option<Vec<String>>>,
    pub resources: Option<Option<Vec<String>>>,
    pub description: Option<String>,
}

impl PolicyChange {
    /// The changed rule, or every problem. Creation starts from no rule and needs `subject`
    /// and `effect`; `backends` defaults to every backend.
    pub fn apply(self, current: Option<&PolicyRule>) -> Result<PolicyRule, Vec<String>> {
        let mut problems = Vec::new();
        let subject = match (self.subject, current) {
            (Some(text), _) => text
                .parse()
                .map_err(|e| problems.push(format!("subject: {e}")))
                .ok(),
            (None, Some(rule)) => Some(rule.subject.clone()),
            (None, None) => {
                problems.push("subject: required, e.g. \"user:alice\" or \"group:ops\"".into());
                None
            }
        };
        let effect = match (self.effect, current) {
            (Some(text), _) => text
                .parse()
                .map_err(|e| problems.push(format!("effect: {e}")))
                .ok(),
            (None, Some(rule)) => Some(rule.effect),
            (None, None) => {
                problems.push("effect: required, \"allow\" or \"deny\"".into());
                None
            }
        };
        let keep = |field: Option<Option<Vec<String>>>, old: Option<&Option<Vec<String>>>| {
            field.unwrap_or_else(|| old.cloned().flatten())
        };
        let (Some(subject), Some(effect)) = (subject, effect) else {
            return Err(problems);
        };
        let rule = PolicyRule {
            subject,
            effect,
            backends: self
                .backends
                .or_else(|| current.map(|r| r.backends.clone()))
                .unwrap_or_else(|| vec!["*".into()]),
            tools: keep(self.tools, current.map(|r| &r.tools)),
            prompts: keep(self.prompts, current.map(|r| &r.prompts)),
            resources: keep(self.resources, current.map(|r| &r.resources)),
            description: self
                .description
                .or_else(|| current.map(|r| r.description.clone()))
                .unwrap_or_default(),
        };
        problems.extend(rule.problems());
        if problems.is_empty() {
            Ok(rule)
        } else {
            Err(problems)
        }
    }
}

/// What the config file says about authorization; replaced as a whole on SIGHUP.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilePolicies {
    pub default: DefaultPolicy,
    pub rules: Vec<PolicyRule>,
}

pub struct PolicyService {
    db: Database,
    file: Mutex<Arc<FilePolicies>>,
    snapshot: ArcSwap<PolicySnapshot>,
    /// The `policies` revision the snapshot was read at.
    revision: AtomicI64,
    /// Serialises rebuilds so generations and revisions only move forward together.
    rebuilding: tokio::sync::Mutex<u64>,
    changes: watch::Sender<u64>,
    log: slog::Logger,
}

impl PolicyService {
    /// Loads the database's rules once so the first request already sees them.
    pub async fn new(
        db: Database,
        file: FilePolicies,
        log: slog::Logger,
    ) -> Result<Arc<PolicyService>, PolicyError> {
        let service = Arc::new(PolicyService {
            db,
            snapshot: ArcSwap::from_pointee(PolicySnapshot::build(0, file.default, &[], vec![])),
            file: Mutex::new(Arc::new(file)),
            revision: AtomicI64::new(i64::MIN),
            rebuilding: tokio::sync::Mutex::new(0),
            changes: watch::Sender::new(0),
            log,
        });
        service.rebuild().await?;
        Ok(service)
    }

    /// The current snapshot: a pointer load, no waiting.
    pub fn snapshot(&self) -> Arc<PolicySnapshot> {
        self.snapshot.load_full()
    }

    /// The generation of every rebuild, as it happens.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// SIGHUP: the file's rules and default policy replace the old ones.
    pub async fn reload_file(&self, file: FilePolicies) -> Result<(), PolicyError> {
        let changed = {
            let mut current = self.file.lock().unwrap_or_else(|e| e.into_inner());
            let changed = **current != file;
            *current = Arc::new(file);
            changed
        };
        if changed {
            self.rebuild().await?;
        }
        Ok(())
    }

    /// Rebuilds when the `policies` revision moved since the last build.
    pub async fn refresh(&self) -> Result<bool, PolicyError> {
        let current = self.db.run(policies::revision).await?;
        if current == self.revision.load(Ordering::Acquire) {
            return Ok(false);
        }
        self.rebuild().await?;
        Ok(true)
    }

    /// Polls the `policies` revision until `stop` turns true.
    pub async fn run_refresher(self: Arc<Self>, every: Duration, stop: watch::Receiver<bool>) {
        let log = self.log.clone();
        poll_revision("policies", every, log, stop, || self.refresh()).await
    }

    async fn rebuild(&self) -> Result<(), PolicyError> {
        let mut generation = self.rebuilding.lock().await;
        let (revision, stored, memberships) = self
            .db
            .run(|c| {
                // Revision first: a change landing between the reads is seen again next poll.
                let revision = policies::revision(c)?;
                Ok((revision, policies::list(c)?, groups::memberships(c)?))
            })
            .await?;
        let file = self.file_policies();
        let rules: Vec<PolicyRule> = file
            .rules
            .iter()
            .cloned()
            .chain(stored.into_iter().map(|p| p.rule))
            .collect();
        *generation += 1;
        let snapshot = PolicySnapshot::build(*generation, file.default, &rules, memberships);
        self.snapshot.store(Arc::new(snapshot));
        self.revision.store(revision, Ordering::Release);
        self.changes.send_replace(*generation);
        Ok(())
    }

    fn file_policies(&self) -> Arc<FilePolicies> {
        self.file.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Every policy: the config file's first (read-only), then the database's by id.
    pub async fn list(&self) -> Result<Vec<PolicyEntry>, PolicyError> {
        let stored = self.db.run(policies::list).await?;
        let file = self.file_policies();
        let files = file.rules.iter().enumerate().map(|(i, rule)| PolicyEntry {
            id: PolicyId::File(i),
            rule: rule.clone(),
            created_at_ms: None,
            updated_at_ms: None,
        });
        Ok(files.chain(stored.into_iter().map(Into::into)).collect())
    }

    pub async fn get(&self, id: &PolicyId) -> Result<PolicyEntry, PolicyError> {
        match id {
            PolicyId::File(i) => self
                .file_policies()
                .rules
                .get(*i)
                .map(|rule| PolicyEntry {
                    id: id.clone(),
                    rule: rule.clone(),
                    created_at_ms: None,
                    updated_at_ms: None,
                })
                .ok_or_else(|| policy_not_found(id)),
            PolicyId::Database(row) => {
                let row = *row;
                self.db
                    .run(move |c| policies::find(c, row))
                    .await?
                    .map(Into::into)
                    .ok_or_else(|| policy_not_found(id))
            }
        }
    }

    pub async fn create(&self, rule: PolicyRule, by: &str) -> Result<PolicyEntry, PolicyError> {
        let problems = rule.problems();
        if !problems.is_empty() {
            return Err(PolicyError::Invalid(problems));
        }
        let stored = self.db.run(move |c| policies::create(c, &rule)).await?;
        slog::info!(self.log, "Policy created through the admin API.";
            "by" => by, "id" => stored.id, "subject" => %stored.rule.subject,
            "effect" => stored.rule.effect.as_str());
        self.rebuild().await?;
        Ok(stored.into())
    }

    pub async fn update(
        &self,
        id: &PolicyId,
        change: PolicyChange,
        by: &str,
    ) -> Result<PolicyEntry, PolicyError> {
        let row = self.database_id(id)?;
        let current = self.get(id).await?;
        let rule = change
            .apply(Some(&current.rule))
            .map_err(PolicyError::Invalid)?;
        let stored = self
            .db
            .run(move |c| policies::replace(c, row, &rule))
            .await?;
        slog::info!(self.log, "Policy changed through the admin API.";
            "by" => by, "id" => row, "subject" => %stored.rule.subject,
            "effect" => stored.rule.effect.as_str());
        self.rebuild().await?;
        Ok(stored.into())
    }

    pub async fn delete(&self, id: &PolicyId, by: &str) -> Result<PolicyEntry, PolicyError> {
        let row = self.database_id(id)?;
        let removed = self
            .db
            .run(move |c| policies::delete(c, row))
            .await
            .map_err(|e| not_found_as(e, || policy_not_found(id)))?;
        slog::info!(self.log, "Policy deleted through the admin API.";
            "by" => by, "id" => row, "subject" => %removed.rule.subject);
        self.rebuild().await?;
        Ok(removed.into())
    }

    /// The policies naming `user:<username>`: the config file's (read-only) then the database's.
    pub async fn user_policies(&self, username: &str) -> Result<Vec<PolicyEntry>, PolicyError> {
        let subject = PolicySubject::User(username.to_string());
        Ok(self
            .list()
            .await?
            .into_iter()
            .filter(|e| e.rule.subject == subject)
            .collect())
    }

    /// Replaces the database policies of `user:<username>` with `rules` in one transaction (the
    /// console's per-user permissions); the file's stay as they are.
    pub async fn replace_user_policies(
        &self,
        username: &str,
        rules: Vec<PolicyRule>,
        by: &str,
    ) -> Result<Vec<PolicyEntry>, PolicyError> {
        let subject = PolicySubject::User(username.to_string());
        let mut problems = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            if rule.subject != subject {
                problems.push(format!("permissions[{i}]: must be about user:{username}"));
            }
            problems.extend(
                rule.problems()
                    .into_iter()
                    .map(|p| format!("permissions[{i}].{p}")),
            );
        }
        if !problems.is_empty() {
            return Err(PolicyError::Invalid(problems));
        }
        let key = subject.to_string();
        let count = rules.len();
        let stored = self
            .db
            .run(move |c| policies::replace_subject(c, &key, &rules))
            .await?;
        slog::info!(self.log, "A user's permissions were replaced through the admin API.";
            "by" => by, "subject" => %subject, "policies" => count);
        self.rebuild().await?;
        Ok(stored.into_iter().map(Into::into).collect())
    }

    /// The one-click grant: `user:<name>` may use every item of every backend.
    pub async fn grant_all_backends(
        &self,
        user_id: i64,
        by: &str,
    ) -> Result<PolicyEntry, PolicyError> {
        let user = self
            .db
            .run(move |c| users::find_by_id(c, user_id))
            .await?
            .ok_or_else(|| PolicyError::NotFound(format!("no user with id {user_id}")))?;
        self.create(PolicyRule::all_backends_for(&user.username), by)
            .await
    }

    pub async fn groups(&self) -> Result<Vec<Group>, PolicyError> {
        Ok(self.db.run(groups::list).await?)
    }

    pub async fn group(&self, id: i64) -> Result<Group, PolicyError> {
        self.db
            .run(move |c| groups::find(c, id))
            .await?
            .ok_or_else(|| group_not_found(id))
    }

    pub async fn create_group(
        &self,
        name: String,
        description: String,
        by: &str,
    ) -> Result<Group, PolicyError> {
        check_group(Some(&name), Some(&description))?;
        let group = self
            .db
            .run(move |c| groups::create(c, &name, &description))
            .await?;
        slog::info!(self.log, "Group created through the admin API.";
            "by" => by, "id" => group.id, "group" => &group.name);
        self.rebuild().await?;
        Ok(group)
    }

    /// Renames and/or redescribes a group. Policies name groups, so a rename leaves rules for
    /// the old name without members until they are changed too (documented in the README).
    pub async fn update_group(
        &self,
        id: i64,
        name: Option<String>,
        description: Option<String>,
        by: &str,
    ) -> Result<Group, PolicyError> {
        check_group(name.as_deref(), description.as_deref())?;
        let group = self
            .db
            .run(move |c| groups::update(c, id, name.as_deref(), description.as_deref()))
            .await?;
        slog::info!(self.log, "Group changed through the admin API.";
            "by" => by, "id" => id, "group" => &group.name);
        self.rebuild().await?;
        Ok(group)
    }

    pub async fn delete_group(&self, id: i64, by: &str) -> Result<Group, PolicyError> {
        let group = self.db.run(move |c| groups::delete(c, id)).await?;
        slog::info!(self.log, "Group deleted through the admin API.";
            "by" => by, "id" => id, "group" => &group.name);
        self.rebuild().await?;
        Ok(group)
    }

    /// Makes `members` exactly the group's members; unknown user ids are refused as a whole.
    pub async fn set_members(
        &self,
        id: i64,
        members: Vec<i64>,
        by: &str,
    ) -> Result<Group, PolicyError> {
        self.group(id).await?;
        let group = self
            .db
            .run(move |c| groups::set_members(c, id, &members))
            .await
            .map_err(|e| match e {
                StorageError::NotFound(m) => PolicyError::Invalid(vec![format!("members: {m}")]),
                other => other.into(),
            })?;
        slog::info!(self.log, "Group members replaced through the admin API.";
            "by" => by, "id" => id, "group" => &group.name, "members" => group.members.len());
        self.rebuild().await?;
        Ok(group)
    }

    /// Makes `groups` exactly the groups of `user` in one transaction (the console's membership
    /// checkboxes): a group (or the user) deleted meanwhile refuses the whole save as invalid,
    /// and nothing changes.
    pub async fn set_user_groups(
        &self,
        user: i64,
        groups: Vec<i64>,
        by: &str,
    ) -> Result<bool, PolicyError> {
        let changed = self
            .db
            .run(move |c| groups::set_user_groups(c, user, &groups))
            .await
            .map_err(|e| match e {
                StorageError::NotFound(m) => {
                    PolicyError::Invalid(vec![format!("groups: {m}; nothing was changed")])
                }
                other => other.into(),
            })?;
        if changed {
            slog::info!(self.log, "A user's group memberships were replaced.";
                "by" => by, "user_id" => user);
            self.rebuild().await?;
        }
        Ok(changed)
    }

    pub async fn add_member(&self, id: i64, user: i64, by: &str) -> Result<Group, PolicyError> {
        self.group(id).await?;
        let group = self
            .db
            .run(move |c| groups::add_member(c, id, user))
            .await?;
        slog::info!(self.log, "Group member added through the admin API.";
            "by" => by, "id" => id, "group" => &group.name, "user_id" => user);
        self.rebuild().await?;
        Ok(group)
    }

    /// An external issuer's view of `user`'s groups: their memberships among `managed` become
    /// exactly `wanted` (missing groups are created). Rebuilds the snapshot when anything
    /// changed, so the caller's next grants already see it.
    pub async fn sync_external_memberships(
        &self,
        user: i64,
        managed: Vec<String>,
        wanted: Vec<String>,
    ) -> Result<bool, PolicyError> {
        let changed = self
            .db
            .run(move |c| groups::sync_memberships(c, user, &managed, &wanted))
            .await?;
        if changed {
            slog::info!(self.log, "Group memberships synchronised from an external issuer."; "user_id" => user);
            self.rebuild().await?;
        }
        Ok(changed)
    }

    pub async fn remove_member(&self, id: i64, user: i64, by: &str) -> Result<Group, PolicyError> {
        let group = self
            .db
            .run(move |c| groups::remove_member(c, id, user))
            .await?;
        slog::info!(self.log, "Group member removed through the admin API.";
            "by" => by, "id" => id, "group" => &group.name, "user_id" => user);
        self.rebuild().await?;
        Ok(group)
    }

    fn database_id(&self, id: &PolicyId) -> Result<i64, PolicyError> {
        match id {
            PolicyId::Database(row) => Ok(*row),
            PolicyId::File(i) if *i < self.file_policies().rules.len() => {
                Err(PolicyError::ReadOnly(id.to_string()))
            }
            PolicyId::File(_) => Err(policy_not_found(id)),
        }
    }
}

fn check_group(name: Option<&str>, description: Option<&str>) -> Result<(), PolicyError> {
    let mut problems = Vec::new();
    if let Some(Err(e)) = name.map(check_group_name) {
        problems.push(format!("name: {e}"));
    }
    if let Some(Err(e)) = description.map(check_description) {
        problems.push(format!("description: {e}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(PolicyError::Invalid(problems))
    }
}

fn not_found_as(error: StorageError, not_found: impl FnOnce() -> PolicyError) -> PolicyError {
    match error {
        StorageError::NotFound(_) => not_found(),
        other => other.into(),
    }
}

fn policy_not_found(id: &PolicyId) -> PolicyError {
    PolicyError::NotFound(format!("no policy with id `{id}`"))
}

fn group_not_found(id: i64) -> PolicyError {
    PolicyError::NotFound(format!("no group with id {id}"))
}
