//! Authorization on the MCP endpoint: what the caller of one request may list and use.
//!
//! The caller's [`Grants`] come from the policy snapshot (an `ArcSwap` load) and are cached per
//! user against the snapshot generation, with the [`FilteredView`] of the routing table they
//! see, so a request pays a map lookup — no database query, no actor call. A cached entry is
//! replaced when the snapshot, the user's role or name, or the token's scopes differ.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{HttpMessage, HttpRequest};
use actors::auth::identity::Principal;
use actors::auth::policy::{
    BackendAccess, DefaultPolicy, Grants, ItemKind, PolicySnapshot, Subject,
};
use actors::auth::scopes::{Scope, ScopeSet};
use actors::routing::{FilteredView, ListKind, RoutingTable};

use super::forward::Answer;
use crate::authn::Caller;
use crate::request_context::RequestContext;
use crate::state::AppState;

const SHARDS: usize = 16;
/// Entries per shard before the shard is emptied: bounded memory, rebuilt on demand.
const MAX_PER_SHARD: usize = 4096;

/// One user's grants under one snapshot generation, and the view of the last routing table.
pub struct UserAccess {
    pub user_id: i64,
    generation: u64,
    pub subject: Subject,
    pub grants: Grants,
    view: Mutex<Option<(Arc<RoutingTable>, Arc<FilteredView>)>>,
}

impl UserAccess {
    pub fn new(snapshot: &PolicySnapshot, subject: Subject) -> UserAccess {
        UserAccess {
            user_id: subject.user_id,
            generation: snapshot.generation(),
            grants: snapshot.grants(&subject),
            subject,
            view: Mutex::new(None),
        }
    }

    fn is_current(
        &self,
        generation: u64,
        principal: &Principal,
        scopes: &Option<Vec<String>>,
    ) -> bool {
        self.generation == generation
            && self.subject.role == principal.role
            && self.subject.username == principal.username
            && self.subject.scopes == *scopes
    }

    /// What these grants show of `table`; built once per table.
    pub fn view(&self, table: &Arc<RoutingTable>) -> Arc<FilteredView> {
        let mut cached = self.view.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((seen, view)) = cached.as_ref()
            && Arc::ptr_eq(seen, table)
        {
            return view.clone();
        }
        let view = Arc::new(
            table.filtered(|kind, backend, key| self.grants.allows(backend, item_kind(kind), key)),
        );
        *cached = Some((table.clone(), view.clone()));
        view
    }
}

/// Per-user [`UserAccess`], sharded so workers rarely meet on a lock.
pub struct AccessCache {
    shards: Vec<Mutex<HashMap<i64, Arc<UserAccess>>>>,
}

impl Default for AccessCache {
    fn default() -> Self {
        AccessCache {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl AccessCache {
    fn shard(&self, user_id: i64) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<UserAccess>>> {
        self.shards[user_id.unsigned_abs() as usize % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, user_id: i64) -> Option<Arc<UserAccess>> {
        self.shard(user_id).get(&user_id).cloned()
    }

    pub fn insert(&self, access: Arc<UserAccess>) {
        let mut shard = self.shard(access.user_id);
        if shard.len() >= MAX_PER_SHARD {
            shard.clear();
        }
        shard.insert(access.user_id, access);
    }

    /// Every cached entry (for telling users whose view a policy change altered).
    pub fn entries(&self) -> Vec<Arc<UserAccess>> {
        self.shards
            .iter()
            .flat_map(|s| {
                s.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .values()
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

enum Who {
    /// Authentication is switched off (`auth.required = false`): no user, no restriction.
    Anyone,
    User(Arc<UserAccess>),
}

/// One request's authorization.
pub struct Access {
    who: Who,
    /// The caller, kept for the rate limits' per-user and per-role quotas.
    principal: Option<Arc<Principal>>,
    log: slog::Logger,
    /// Where policy refusals are reported (`forbidden`), with the request's IP and path.
    security: Option<(
        actors::security::SecurityEvents,
        Option<std::net::IpAddr>,
        actix_web::http::Uri,
    )>,
}

impl Access {
    pub fn of(req: &HttpRequest, state: &AppState) -> Access {
        let log = req
            .extensions()
            .get::<RequestContext>()
            .map_or_else(|| state.log.clone(), |c| c.log.clone());
        let caller = req.extensions().get::<Caller>().cloned();
        let (who, principal) = match caller {
            Some(Caller::User(principal)) => {
                (Who::User(user_access(state, &principal)), Some(principal))
            }
            Some(Caller::Anonymous) | None => (Who::Anyone, None),
        };
        // The address and path are only written out if an event is recorded (rarely): kept as
        // they are here (a `Uri` clone shares its bytes).
        let security = state.security.get().map(|sink| {
            let ip = req
                .extensions()
                .get::<RequestContext>()
                .and_then(|c| c.client_ip);
            (sink.clone(), ip, req.uri().clone())
        });
        Access {
            who,
            principal,
            log,
            security,
        }
    }

    /// Whom the rate limits count this request against (anonymous callers share user 0).
    pub fn limit_subject(&self) -> actors::ratelimit::Subject<'_> {
        match &self.principal {
            Some(p) => actors::ratelimit::Subject {
                user_id: p.user_id,
                username: &p.username,
                role: Some(p.role),
            },
            None => actors::ratelimit::Subject {
                user_id: 0,
                username: "",
                role: None,
            },
        }
    }

    /// The request's logger.
    pub fn log(&self) -> &slog::Logger {
        &self.log
    }

    pub fn grants(&self) -> Option<&Grants> {
        match &self.who {
            Who::Anyone => None,
            Who::User(access) => Some(&access.grants),
        }
    }

    pub fn allows(&self, backend: &str, kind: ItemKind, name: &str) -> bool {
        self.grants().is_none_or(|g| g.allows(backend, kind, name))
    }

    pub fn backend_access(&self, backend: &str) -> BackendAccess {
        self.grants()
            .map_or(BackendAccess::Full, |g| g.backend_access(backend))
    }

    /// The caller's view of `table`; `None` when they see all of it.
    pub fn view(&self, table: &Arc<RoutingTable>) -> Option<Arc<FilteredView>> {
        match &self.who {
            Who::Anyone => None,
            Who::User(access) if access.grants.unrestricted() => None,
            Who::User(access) => Some(access.view(table)),
        }
    }

    /// The step-up answer when the token's scopes are the one reason `name` is refused: the
    /// scopes to ask for are the token's own plus the missing one (MCP 2025-11-25 recommends
    /// both, so a client that replaces its scopes with the challenge's keeps what it had).
    pub fn step_up(&self, backend: &str, kind: ItemKind, name: &str) -> Option<Answer> {
        let Who::User(access) = &self.who else {
            return None;
        };
        let needed = access.grants.missing_scope(backend, kind, name)?;
        slog::info!(self.log, "Request needs a wider token scope (step-up).";
            "user" => &access.subject.username, "backend" => backend, "scope" => needed);
        Some(Answer::InsufficientScope(with_token_scopes(
            &access.subject,
            needed,
        )))
    }

    /// As [`Access::step_up`] for a whole backend (`/mcp/{server}` with a token that reaches
    /// no kind of item).
    pub fn backend_step_up(&self, backend: &str) -> Option<String> {
        let Who::User(access) = &self.who else {
            return None;
        };
        let needed = access.grants.missing_backend_scope(backend)?;
        Some(with_token_scopes(&access.subject, needed))
    }

    /// Logs a refusal: who, what and where — never the request's arguments.
    /// Records a security event about this request (its user, IP and path filled in).
    pub fn security_event(
        &self,
        event_type: actors::security::SecurityEventType,
        details: &[(&str, serde_json::Value)],
    ) {
        if let Some((sink, ip, uri)) = &self.security {
            let mut event = actors::security::SecurityEvent::new(event_type)
                .endpoint(uri.path())
                .ip(*ip)
                .user(
                    self.principal.as_ref().map(|p| p.user_id),
                    self.principal.as_ref().map(|p| p.username.clone()),
                );
            for (key, value) in details {
                event = event.detail(key, value.clone());
            }
            sink.record(event);
        }
    }

    pub fn refused(&self, method: &str, backend: &str, item: &str) {
        let user = match &self.who {
            Who::User(access) => access.subject.username.as_str(),
            Who::Anyone => "",
        };
        slog::info!(self.log, "Request refused by policy.";
            "user" => user, "method" => method, "backend" => backend, "item" => item);
        self.security_event(
            actors::security::SecurityEventType::Forbidden,
            &[
                ("method", method.into()),
                ("backend", backend.into()),
                ("item", item.into()),
            ],
        );
    }
}

/// The token's known scopes plus `needed`, in canonical order.
fn with_token_scopes(subject: &Subject, needed: &str) -> String {
    let held = subject
        .scopes
        .iter()
        .flatten()
        .filter_map(|s| Scope::parse(s));
    ScopeSet::new(held.chain(Scope::parse(needed))).to_string()
}

/// The token's scopes: `None` (not scope-restricted) for login and API tokens, the granted
/// scopes for OAuth tokens.
fn scopes_of(principal: &Principal) -> Option<Vec<String>> {
    principal.scopes.clone()
}

fn user_access(state: &AppState, principal: &Principal) -> Arc<UserAccess> {
    let snapshot = match state.policies.get() {
        Some(policies) => policies.snapshot(),
        // Not wired yet (only during start-up): fail closed.
        None => Arc::new(PolicySnapshot::build(0, DefaultPolicy::Deny, &[], vec![])),
    };
    let scopes = scopes_of(principal);
    let cache = &state.mcp.access;
    if let Some(access) = cache.get(principal.user_id)
        && access.is_current(snapshot.generation(), principal, &scopes)
    {
        return access;
    }
    let subject = snapshot.subject(
        principal.user_id,
        &principal.username,
        principal.role,
        scopes,
    );
    let access = Arc::new(UserAccess::new(&snapshot, subject));
    cache.insert(access.clone());
    access
}

pub fn item_kind(kind: ListKind) -> ItemKind {
    match kind {
        ListKind::Tools => ItemKind::Tool,
        ListKind::Prompts => ItemKind::Prompt,
        ListKind::Resources => ItemKind::Resource,
        ListKind::ResourceTemplates => ItemKind::ResourceTemplate,
    }
}
