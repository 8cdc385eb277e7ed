//! Work the endpoint needs off the request path: keeping the routing table current, telling
//! users whose view a policy change altered, and closing the backend sessions of client
//! sessions that ended.

use std::collections::BTreeSet;
use std::sync::Arc;

use actix_web::web::Bytes;

use actors::auth::policy::PolicyService;
use actors::backend::{BackendCapabilities, BackendState};
use actors::routing::{ListKind, Listing, RoutingTable};
use actors::session::{ClientSession, SessionScope, TaskRegistry, UpstreamSlot, take_when_free};
use actors::spec::BackendSpec;
use actors::supervisor::GatewayHandle;
use actors::upstream::UpstreamSession;
use tokio::sync::{mpsc, watch};

use actors::security::{ServedTool, ToolApprovals};
use serde_json::value::RawValue;

use super::McpState;
use super::access::UserAccess;
use super::withheld::Withheld;

/// Rebuilds the routing table whenever a backend's capabilities, the set of usable backends, or
/// the configured backends (`desired`, in configuration order) change. Offline and starting
/// backends are left out (fail-open: one bad backend never hides the others' tools).
pub async fn maintain_routing(
    gateway: GatewayHandle,
    mcp: Arc<McpState>,
    mut desired: watch::Receiver<Arc<Vec<BackendSpec>>>,
    log: slog::Logger,
    mut stop: watch::Receiver<bool>,
    security: Option<actors::security::SecurityEvents>,
) {
    let mut statuses = gateway.subscribe();
    let mut capabilities = gateway.subscribe_capabilities();
    // Approvals and the hold switch change what is withheld: rebuild on them too.
    let mut approvals = match &security {
        Some(security) => security.tool_approvals().subscribe(),
        None => watch::channel(0).1,
    };
    let mut specs = desired.borrow_and_update().clone();
    let mut last_key = None;
    loop {
        let usable: BTreeSet<String> = gateway
            .statuses()
            .into_iter()
            .filter(|s| matches!(s.state, BackendState::Online | BackendState::Degraded))
            .map(|s| s.name)
            .collect();
        let key = (
            *capabilities.borrow_and_update(),
            Arc::as_ptr(&specs) as usize,
            usable.clone(),
            *approvals.borrow_and_update(),
        );
        if last_key.as_ref() != Some(&key) {
            let approvals = security.as_ref().map(|s| s.tool_approvals());
            let (table, withheld) = build(&gateway, &specs, &usable, approvals);
            if let Some(security) = &security {
                check_tool_definitions(&gateway, &specs, &usable, security, &log);
            }
            for c in &table.collisions {
                slog::warn!(log, "Name clash between backends: the first configured wins.";
                    "kind" => c.kind, "name" => &c.name, "winner" => &c.winner, "loser" => &c.loser);
            }
            let table = Arc::new(table);
            mcp.withheld.store(Arc::new(withheld));
            let previous = mcp.routing.swap(table.clone());
            announce_changes(&mcp, &previous, &table);
            last_key = Some(key);
        }
        tokio::select! {
            r = statuses.changed() => if r.is_err() { return },
            r = capabilities.changed() => if r.is_err() { return },
            r = approvals.changed() => if r.is_err() { return },
            r = desired.changed() => match r {
                Ok(()) => specs = desired.borrow_and_update().clone(),
                Err(_) => return,
            },
            _ = stop.changed() => return,
        }
    }
}

/// Tells every aggregated-endpoint session (on its GET stream) which lists changed: one
/// notification per list per rebuild, only when what clients would list is different.
fn announce_changes(mcp: &McpState, previous: &RoutingTable, current: &RoutingTable) {
    let mut methods: Vec<&'static str> = current
        .changed_lists(previous)
        .into_iter()
        .map(|k| k.list_changed())
        .collect();
    methods.dedup();
    if methods.is_empty() {
        return;
    }
    for session in mcp.sessions.all() {
        if session.scope != SessionScope::Aggregate {
            continue;
        }
        for method in &methods {
            let message = format!(r#"{{"jsonrpc":"2.0","method":"{method}"}}"#);
            session.outbox.push(Bytes::from(message));
        }
    }
}

/// After every policy rebuild: each user the endpoint has served gets their grants recomputed,
/// and their aggregated sessions a `…/list_changed` for each list whose content changed for
/// them. Users who never listed anything learn the new state on their first list.
pub async fn announce_policy_changes(
    mcp: Arc<McpState>,
    policies: Arc<PolicyService>,
    log: slog::Logger,
    mut stop: watch::Receiver<bool>,
) {
    let mut changes = policies.subscribe();
    changes.borrow_and_update();
    loop {
        tokio::select! {
            r = changes.changed() => if r.is_err() { return },
            _ = stop.wait_for(|s| *s) => return,
        }
        changes.borrow_and_update();
        let snapshot = policies.snapshot();
        let table = mcp.routing.load_full();
        for old in mcp.access.entries() {
            let s = &old.subject;
            let subject = snapshot.subject(s.user_id, &s.username, s.role, s.scopes.clone());
            let new = Arc::new(UserAccess::new(&snapshot, subject));
            let (before, after) = (old.view(&table), new.view(&table));
            let mut methods: Vec<&'static str> = [
                ListKind::Tools,
                ListKind::Prompts,
                ListKind::Resources,
                ListKind::ResourceTemplates,
            ]
            .into_iter()
            .filter(|&k| before.fingerprint(k) != after.fingerprint(k))
            .map(ListKind::list_changed)
            .collect();
            methods.dedup();
            mcp.access.insert(new);
            if methods.is_empty() {
                continue;
            }
            slog::debug!(log, "A policy change altered a user's lists."; "user_id" => s.user_id);
            for session in mcp.sessions.all() {
                if session.user_id != s.user_id || session.scope != SessionScope::Aggregate {
                    continue;
                }
                for method in &methods {
                    let message = format!(r#"{{"jsonrpc":"2.0","method":"{method}"}}"#);
                    session.outbox.push(Bytes::from(message));
                }
            }
        }
    }
}

/// The routing table of the usable backends, without the tools withheld (hold mode: their
/// definition changed since it was approved), and with the last-known items of the enabled
/// backends that are not running beside it; and those withheld.
fn build(
    gateway: &GatewayHandle,
    specs: &[BackendSpec],
    usable: &BTreeSet<String>,
    approvals: Option<&ToolApprovals>,
) -> (RoutingTable, Withheld) {
    let mut withheld = Withheld::default();
    let listings: Vec<Listing> = specs
        .iter()
        .filter(|spec| spec.enabled && usable.contains(&spec.name))
        .filter_map(|spec| {
            let caps = gateway.capabilities(&spec.name)?;
            let tools = match approvals {
                Some(a) if a.hold() && a.knows_backend(&spec.name) => {
                    let kept: Vec<Box<RawValue>> = caps
                        .tools
                        .iter()
                        .filter(|raw| {
                            let Some((name, hash, _)) = served(raw) else {
                                return true;
                            };
                            let held = a.is_withheld(&spec.name, &name, &hash);
                            if held {
                                withheld.add(&spec.name, &spec.tool_prefix, &name);
                            }
                            !held
                        })
                        .cloned()
                        .collect();
                    Arc::from(kept)
                }
                _ => caps.tools.clone(),
            };
            Some(listing(spec, tools, &caps))
        })
        .collect();
    // Capabilities outlive a backend's session (kept for its reconnection), so an offline
    // backend still has the lists it last served.
    let not_running: Vec<Listing> = specs
        .iter()
        .filter(|spec| spec.enabled && !usable.contains(&spec.name))
        .filter_map(|spec| {
            let caps = gateway.capabilities(&spec.name)?;
            Some(listing(spec, caps.tools.clone(), &caps))
        })
        .collect();
    let table = RoutingTable::build(&listings).with_not_running(RoutingTable::build(&not_running));
    (table, withheld)
}

fn listing(spec: &BackendSpec, tools: Arc<[Box<RawValue>]>, caps: &BackendCapabilities) -> Listing {
    Listing {
        backend: Arc::from(spec.name.as_str()),
        tool_prefix: spec.tool_prefix.clone(),
        tools,
        prompts: caps.prompts.clone(),
        resources: caps.resources.clone(),
        resource_templates: caps.resource_templates.clone(),
    }
}

/// A tool definition's name, hash and text.
fn served(raw: &RawValue) -> Option<(String, String, String)> {
    let tool = serde_json::from_str::<serde_json::Value>(raw.get()).ok()?;
    let name = tool.get("name")?.as_str()?.to_string();
    Some((
        name,
        actors::security::definition_hash(&tool),
        raw.get().to_string(),
    ))
}

/// Hashes every usable backend's tool definitions and hands them to the security sink, which
/// records `tool_definition_changed` for those that differ from the last seen, and to the
/// tool approvals, which pin new tools and keep changed ones pending. Spawned: the
/// comparison reads the database the first time a backend is seen.
fn check_tool_definitions(
    gateway: &GatewayHandle,
    specs: &[BackendSpec],
    usable: &BTreeSet<String>,
    security: &actors::security::SecurityEvents,
    log: &slog::Logger,
) {
    for spec in specs
        .iter()
        .filter(|spec| spec.enabled && usable.contains(&spec.name))
    {
        let Some(caps) = gateway.capabilities(&spec.name) else {
            continue;
        };
        let served: Vec<ServedTool> = caps
            .tools
            .iter()
            .filter_map(|raw| served(raw))
            .map(|(name, hash, definition)| ServedTool {
                name,
                hash,
                definition,
            })
            .collect();
        let hashes: Vec<(String, String)> = served
            .iter()
            .map(|t| (t.name.clone(), t.hash.clone()))
            .collect();
        let security = security.clone();
        let backend = spec.name.clone();
        let log = log.clone();
        tokio::spawn(async move {
            if let Err(error) = security.check_tool_definitions(&backend, hashes).await {
                slog::warn!(log, "Could not compare tool definitions."; "backend" => &backend, "error" => %error);
            }
            if let Err(error) = security.tool_approvals().review(&backend, served).await {
                slog::warn!(log, "Could not review tool definitions."; "backend" => &backend, "error" => %error);
            }
        });
    }
}

/// Closes ended sessions' backend sessions on a thread of its own: awc needs an actix runtime,
/// and the session actor that ends sessions has none. A backend session a task still needs
/// (`tasks`: the user may fetch its result from a new session) is closed once the task is
/// forgotten; the registry is swept here for that.
pub fn spawn_session_closer(
    gateway: GatewayHandle,
    mut ended: mpsc::UnboundedReceiver<Arc<ClientSession<UpstreamSession>>>,
    tasks: Arc<TaskRegistry<UpstreamSession>>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("mcp-session-closer".into())
        .spawn(move || {
            actix_rt::System::new().block_on(async move {
                let http = awc::Client::builder().disable_redirects().finish();
                // Backend sessions an answer still streams through, or a task still needs, when
                // their client session ended: retried until they are let go (answers are
                // bounded by the backend's timeout and tasks by their expiry, so this drains).
                let mut waiting: Vec<(String, UpstreamSlot<UpstreamSession>)> = Vec::new();
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
                loop {
                    tokio::select! {
                        next = ended.recv() => match next {
                            Some(session) => waiting.extend(session.take_upstream_slots()),
                            None => break,
                        },
                        _ = tick.tick(), if !waiting.is_empty() => tasks.sweep(),
                    }
                    let mut still = Vec::new();
                    for (backend, slot) in waiting.drain(..) {
                        match take_when_free(slot) {
                            Ok(Some(upstream_session)) => {
                                if let Some(upstream) = gateway.upstream(&backend) {
                                    upstream.close(&http, upstream_session).await;
                                }
                            }
                            Ok(None) => {}
                            Err(slot) => still.push((backend, slot)),
                        }
                    }
                    waiting = still;
                }
            });
        })
        .expect("spawning a thread")
}
