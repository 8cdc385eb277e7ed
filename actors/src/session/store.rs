//! Client sessions of the legacy era (`Mcp-Session-Id`), readable from any HTTP worker without
//! waiting: a sharded map of `Arc<ClientSession>`. Only the SessionActor inserts and removes
//! (it enforces the caps); handlers look up and touch.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::value::RawValue;

const SHARDS: usize = 16;

/// What a session is for: the aggregated `/mcp`, or one backend at `/mcp/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SessionScope {
    Aggregate,
    Backend(String),
}

/// One client's session. `U` is the per-backend upstream session (opened lazily).
pub struct ClientSession<U> {
    pub id: Arc<str>,
    pub user_id: i64,
    pub scope: SessionScope,
    pub protocol_version: &'static str,
    /// What the client declared in `initialize` (raw): passed on to backends.
    pub client_capabilities: Box<RawValue>,
    pub client_info: Box<RawValue>,
    pub created_ms: i64,
    last_used_ms: AtomicI64,
    /// Strictly increasing use order (milliseconds tie): the oldest idle session is evicted first.
    last_used_tick: AtomicU64,
    in_flight: AtomicU32,
    /// Backend name → its session for this client, opened on first use.
    pub upstreams: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<U>>>>,
    /// Requests backends sent this client (sampling, elicitation, roots) awaiting its answer:
    /// the id the client saw → which backend asked, with which id.
    pending: Mutex<HashMap<String, PendingRequest<U>>>,
    next_pending: AtomicU64,
    /// Requests of this client being answered by a backend, keyed by the id's raw JSON, so a
    /// `notifications/cancelled` reaches the backend working on it, or stops the request before
    /// it is sent; plus cancellations that arrived before their request was routed.
    requests: Mutex<Requests<U>>,
    /// Set when the session ends: no backend session may be opened for it afterwards (one
    /// opened by a late request would never be closed).
    ended: AtomicBool,
    /// The GET stream's queue and what backend sessions opened later must be told.
    pub outbox: super::outbox::Outbox,
    /// The streams answering this session's POSTs, kept so a dropped one can be resumed.
    pub post_streams: super::post_streams::PostStreams,
    /// Tasks the client runs for its backends, each with the backend it runs for.
    pub client_tasks: super::client_tasks::ClientTasks,
}

/// A backend's request relayed to the client, waiting for the client's response.
pub struct PendingRequest<U> {
    pub backend: String,
    /// The backend's own id, restored byte for byte on the response.
    pub original_id: Box<RawValue>,
    /// The backend session that asked: the response goes back there, even when it is not the
    /// session's current one for that backend (a task's, created in an earlier session).
    /// Weak: a pending request never keeps a backend session from being closed.
    pub slot: std::sync::Weak<tokio::sync::OnceCell<U>>,
    /// The backend's method (its `tasks/list` answer is narrowed to its own tasks).
    pub method: String,
    /// When it was relayed: past `mcp.pending_request_timeout_s` it is forgotten.
    since: std::time::Instant,
}

impl<U> ClientSession<U> {
    pub fn new(
        id: Arc<str>,
        user_id: i64,
        scope: SessionScope,
        protocol_version: &'static str,
        client_capabilities: Box<RawValue>,
        client_info: Box<RawValue>,

        replay: super::outbox::StreamLimits,
    ) -> Self {
        let now = now_ms();
        ClientSession {
            id,
            user_id,
            scope,
            protocol_version,
            client_capabilities,
            client_info,
            created_ms: now,
            last_used_ms: AtomicI64::new(now),
            last_used_tick: AtomicU64::new(next_tick()),
            in_flight: AtomicU32::new(0),
            upstreams: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            next_pending: AtomicU64::new(1),
            ended: AtomicBool::new(false),
            requests: Mutex::new(Requests::default()),
            outbox: super::outbox::Outbox::new(replay),
            post_streams: super::post_streams::PostStreams::new(replay),
            client_tasks: Default::default(),
        }
    }

    pub fn last_used_ms(&self) -> i64 {
        self.last_used_ms.load(Ordering::Relaxed)
    }

    /// Use order across all sessions; smaller = used longer ago.
    pub fn last_used_tick(&self) -> u64 {
        self.last_used_tick.load(Ordering::Relaxed)
    }

    pub fn is_busy(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 0
    }

    /// Marks the session in use until the guard drops: busy sessions are never evicted.
    pub fn begin(self: &Arc<Self>) -> InFlight<U> {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.last_used_ms.store(now_ms(), Ordering::Relaxed);
        self.last_used_tick.store(next_tick(), Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// As [`Self::begin`] for a request, unless `cap` requests of this session are already
    /// being answered (`mcp.max_open_streams`): `None` then, and nothing is counted.
    pub fn try_begin(self: &Arc<Self>, cap: usize) -> Option<InFlight<U>> {
        let cap = u32::try_from(cap).unwrap_or(u32::MAX);
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < cap).then_some(n + 1)
            })
            .ok()?;
        self.last_used_ms.store(now_ms(), Ordering::Relaxed);
        self.last_used_tick.store(next_tick(), Ordering::Relaxed);
        Some(InFlight(self.clone()))
    }

    /// The slot for `backend`'s upstream session (created empty on first call).
    pub fn upstream_slot(&self, backend: &str) -> Arc<tokio::sync::OnceCell<U>> {
        let mut map = self.upstreams.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(backend.to_string()).or_default().clone()
    }

    /// Notes that `backend` is answering the client's request `id` until the guard drops.
    pub fn track_request(self: &Arc<Self>, id: &RawValue, backend: &str) -> RequestGuard<U> {
        let key = id.get().to_string();
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let cancelled = requests.take_early_cancel(&key);
        requests.active.insert(
            key.clone(),
            Tracked {
                backend: backend.to_string(),
                cancelled,
                delivered_on: None,
            },
        );
        RequestGuard {
            session: self.clone(),
            key,
        }
    }

    /// The backend answering the client's request whose id is `id` (raw JSON), if any.
    pub fn backend_of_request(&self, id: &RawValue) -> Option<String> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .active
            .get(id.get())
            .map(|t| t.backend.clone())
    }

    /// Records the client's cancellation of request `id` and returns the backend session to
    /// tell, if the request has reached it: the one it was delivered on, which for a task's
    /// follow-up is the task's, not this session's own for that backend. A cancellation that
    /// overtakes its request (the client may cancel as soon as it has sent the POST) is
    /// remembered, so the request is never sent; one that arrives while the request is on its
    /// way is left to the forwarder, which tells the backend once the request has arrived
    /// ([`Self::mark_delivered`]): sent any earlier, over another connection, it could reach
    /// the backend first and be ignored there.
    pub fn cancel_request(&self, id: &RawValue) -> Option<CancelTarget<U>> {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        match requests.active.get_mut(id.get()) {
            Some(tracked) => {
                tracked.cancelled = true;
                let slot = tracked.delivered_on.clone()?;
                Some(CancelTarget {
                    backend: tracked.backend.clone(),
                    slot,
                })
            }
            None => {
                requests.remember_early_cancel(id.get().to_string());
                None
            }
        }
    }

    /// Whether the client cancelled request `id` (checked just before it is sent upstream).
    pub fn is_cancelled(&self, id: &RawValue) -> bool {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .active
            .get(id.get())
            .is_some_and(|t| t.cancelled)
    }

    /// Records that the backend session in `slot` has accepted request `id`; from now on a
    /// cancellation goes straight to it. Returns whether the client cancelled while the request
    /// was on its way (the caller then tells the backend itself).
    pub fn mark_delivered(&self, id: &RawValue, slot: &UpstreamSlot<U>) -> bool {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        match requests.active.get_mut(id.get()) {
            Some(tracked) => {
                tracked.delivered_on = Some(Arc::downgrade(slot));
                tracked.cancelled
            }
            None => false,
        }
    }

    /// Every backend whose session for this client is open, with its slot.
    pub fn opened_upstreams(&self) -> Vec<(String, Arc<tokio::sync::OnceCell<U>>)> {
        let map = self.upstreams.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .filter(|(_, slot)| slot.initialized())
            .map(|(name, slot)| (name.clone(), slot.clone()))
            .collect()
    }

    pub fn is_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    pub(crate) fn mark_ended(&self) {
        self.ended.store(true, Ordering::Release);
        self.outbox.detach();
    }

    /// Records a backend's request relayed to this client; returns the id the client sees
    /// (unique in the session, never the backend's), or `None` at the cap.
    /// Requests older than `mcp.pending_request_timeout_s` are forgotten first: a client that
    /// never answers cannot hold the cap for ever.
    pub fn register_pending(
        &self,
        backend: &str,
        slot: &UpstreamSlot<U>,
        method: &str,
        original_id: Box<RawValue>,
    ) -> Option<String> {
        let limits = self.outbox.limits();
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.len() >= limits.pending {
            pending.retain(|_, p| p.since.elapsed() < limits.pending_timeout);
        }
        if pending.len() >= limits.pending {
            return None;
        }
        let id = format!("gw-{}", self.next_pending.fetch_add(1, Ordering::Relaxed));
        pending.insert(
            id.clone(),
            PendingRequest {
                backend: backend.to_string(),
                original_id,
                slot: Arc::downgrade(slot),
                method: method.to_string(),
                since: std::time::Instant::now(),
            },
        );
        Some(id)
    }

    /// The relayed request the client answers with `id` (removed: each is answered once);
    /// `None` once it timed out.
    pub fn take_pending(&self, id: &str) -> Option<PendingRequest<U>> {
        let timeout = self.outbox.limits().pending_timeout;
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id)
            .filter(|p| p.since.elapsed() < timeout)
    }

    /// `backend` withdrew its request `original_id` (`notifications/cancelled`): forgets it and
    /// returns the id the client saw, if it is still waiting.
    pub fn cancel_pending(&self, backend: &str, original_id: &RawValue) -> Option<String> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let client_id = pending
            .iter()
            .find(|(_, p)| p.backend == backend && p.original_id.get() == original_id.get())
            .map(|(id, _)| id.clone())?;
        pending.remove(&client_id);
        Some(client_id)
    }

    /// How many relayed requests await the client's answer.
    pub fn pending_count(&self) -> usize {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether the client declared `capability` (e.g. `sampling`) in `initialize`.
    pub fn client_declared(&self, capability: &str) -> bool {
        crate::mcp::json::member(&self.client_capabilities, capability)
            .is_some_and(|v| v.get() != "null")
    }

    /// Forgets `backend`'s upstream session (it expired at the backend); the next use reopens.
    pub fn reset_upstream(&self, backend: &str) {
        let mut map = self.upstreams.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(backend);
    }

    /// Takes every upstream slot, to close their backend sessions when the client session ends.
    /// A slot an answer still streams through is closed once that answer lets go of it
    /// ([`take_when_free`]).
    pub fn take_upstream_slots(&self) -> Vec<(String, UpstreamSlot<U>)> {
        let mut map = self.upstreams.lock().unwrap_or_else(|e| e.into_inner());
        map.drain().collect()
    }
}

/// One backend session of a client session, opened on first use.
pub type UpstreamSlot<U> = Arc<tokio::sync::OnceCell<U>>;

/// The backend session in `slot` once nothing else holds the slot: `Ok(None)` if it was never
/// opened, `Err(slot)` while an answer still uses it.
pub fn take_when_free<U>(slot: UpstreamSlot<U>) -> Result<Option<U>, UpstreamSlot<U>> {
    Arc::try_unwrap(slot).map(|cell| cell.into_inner())
}

/// The client's requests in progress, and cancellations that came before their request.
struct Requests<U> {
    active: HashMap<String, Tracked<U>>,
    /// Bounded: ids are never reused within a session, so an entry whose request never comes
    /// (it had already finished) is harmless and eventually pushed out.
    early_cancels: std::collections::VecDeque<String>,
}

struct Tracked<U> {
    backend: String,
    cancelled: bool,
    /// The backend session that accepted the request (a cancellation may now be sent there).
    /// Weak: a request in progress holds its backend session through its answer already.
    delivered_on: Option<std::sync::Weak<tokio::sync::OnceCell<U>>>,
}

/// Where a client's cancellation must go: the backend session its request was delivered on.
pub struct CancelTarget<U> {
    pub backend: String,
    pub slot: std::sync::Weak<tokio::sync::OnceCell<U>>,
}

/// How many cancellations of not-yet-routed requests a session remembers.
const EARLY_CANCELS: usize = 32;

impl<U> Default for Requests<U> {
    fn default() -> Self {
        Requests {
            active: HashMap::new(),
            early_cancels: Default::default(),
        }
    }
}

impl<U> Requests<U> {
    fn remember_early_cancel(&mut self, key: String) {
        if self.early_cancels.len() == EARLY_CANCELS {
            self.early_cancels.pop_front();
        }
        self.early_cancels.push_back(key);
    }

    fn take_early_cancel(&mut self, key: &str) -> bool {
        match self.early_cancels.iter().position(|k| k == key) {
            Some(i) => {
                self.early_cancels.remove(i);
                true
            }
            None => false,
        }
    }
}

/// Forgets a tracked request when its answer is complete.
pub struct RequestGuard<U> {
    session: Arc<ClientSession<U>>,
    key: String,
}

impl<U> Drop for RequestGuard<U> {
    fn drop(&mut self) {
        let mut requests = self
            .session
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        requests.active.remove(&self.key);
    }
}

/// Keeps a session marked busy while a request runs.
pub struct InFlight<U>(Arc<ClientSession<U>>);

impl<U> Drop for InFlight<U> {
    fn drop(&mut self) {
        self.0.last_used_ms.store(now_ms(), Ordering::Relaxed);
        self.0.last_used_tick.store(next_tick(), Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why a lookup failed; both answer 404 so a session id of another user reveals nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupError {
    Unknown,
    OtherUser,
}

type Shard<U> = RwLock<HashMap<Arc<str>, Arc<ClientSession<U>>>>;

pub struct SessionStore<U> {
    shards: Vec<Shard<U>>,
    hasher: std::collections::hash_map::RandomState,
    /// Live sessions per user, kept with every insert and remove: creating a session checks
    /// the per-user limit without walking every session (which made opening n sessions cost
    /// n² steps in the one SessionActor).
    per_user: std::sync::Mutex<HashMap<i64, usize>>,
}

impl<U> Default for SessionStore<U> {
    fn default() -> Self {
        SessionStore {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            hasher: Default::default(),
            per_user: Default::default(),
        }
    }
}

impl<U> SessionStore<U> {
    fn shard(&self, id: &str) -> &Shard<U> {
        &self.shards[(self.hasher.hash_one(id) as usize) % SHARDS]
    }

    /// The session `id` if it exists and belongs to `user_id`.
    pub fn get(&self, id: &str, user_id: i64) -> Result<Arc<ClientSession<U>>, LookupError> {
        let shard = self.shard(id).read().unwrap_or_else(|e| e.into_inner());
        let session = shard.get(id).ok_or(LookupError::Unknown)?;
        if session.user_id != user_id {
            return Err(LookupError::OtherUser);
        }
        Ok(session.clone())
    }

    pub(crate) fn insert(&self, session: Arc<ClientSession<U>>) {
        let user_id = session.user_id;
        let mut shard = self
            .shard(&session.id)
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let replaced = shard.insert(session.id.clone(), session);
        let mut counts = self.counts();
        *counts.entry(user_id).or_default() += 1;
        // Ids are 256 random bits, so this never happens; if it did, the count stays true.
        if let Some(old) = replaced {
            decrement(&mut counts, old.user_id);
        }
    }

    pub(crate) fn remove(&self, id: &str) -> Option<Arc<ClientSession<U>>> {
        let mut shard = self.shard(id).write().unwrap_or_else(|e| e.into_inner());
        let removed = shard.remove(id)?;
        decrement(&mut self.counts(), removed.user_id);
        Some(removed)
    }

    /// How many sessions `user_id` has.
    pub fn count_for(&self, user_id: i64) -> usize {
        self.counts().get(&user_id).copied().unwrap_or(0)
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<i64, usize>> {
        self.per_user.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every session (for reaping and eviction; O(n), never on the request path).
    pub(crate) fn all(&self) -> Vec<Arc<ClientSession<U>>> {
        let mut out = Vec::new();
        for shard in &self.shards {
            out.extend(
                shard
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .values()
                    .cloned(),
            );
        }
        out
    }
}

fn decrement(counts: &mut HashMap<i64, usize>, user_id: i64) {
    if let Some(count) = counts.get_mut(&user_id) {
        *count -= 1;
        if *count == 0 {
            counts.remove(&user_id);
        }
    }
}

fn next_tick() -> u64 {
    static TICK: AtomicU64 = AtomicU64::new(0);
    TICK.fetch_add(1, Ordering::Relaxed)
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
