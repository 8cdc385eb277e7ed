//! The client-facing MCP endpoint: `POST|GET|DELETE /mcp` (every backend, aggregated) and
//! `/mcp/{server}` (one backend, its raw names), Streamable HTTP, legacy era.
//!
//! A request is: checks on headers (Origin, Accept, protocol version) → the JSON-RPC envelope read
//! from the bytes → a session lookup (a map read, no actor) → the caller's policy grants (a
//! snapshot read, cached per user; `access.rs`) → a routing-table lookup (a snapshot read),
//! lists filtered and calls checked by those grants → at most one exchange with the owning backend, its answer streamed back. Only
//! `initialize` and `DELETE` make an actor call.

// Checks return `Result<_, HttpResponse>`: the error *is* the answer to send. Those paths are
// the rare ones, so the size of the `Err` variant costs nothing worth boxing for.
#![allow(clippy::result_large_err)]

mod access;
mod answer_stream;
mod audit_hook;
pub mod background;
mod checks;
pub(crate) use checks::is_loopback_origin;
mod dispatch;
mod forward;
mod initialize;
mod limits;
mod listen;
mod measured;
mod not_running;
mod one_backend;
mod post;
mod reply;
mod scan_hook;
mod task_relay;
mod tasks;
mod to_user;
pub mod withheld;

use std::sync::Arc;

use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use actors::ratelimit::RateLimiter;
use actors::routing::RoutingTable;
use actors::session::{SessionHandle, SessionScope};
use actors::upstream::UpstreamSession;
use arc_swap::ArcSwap;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::authn::Caller;
use crate::state::AppState;

/// Reloadable settings of the endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct McpSettings {
    /// Every Origin allowed besides loopback ones: the public URL's origin and `allowed_origins`.
    pub allowed_origins: Vec<String>,
    pub page_size: usize,
    pub max_json_depth: usize,
    pub max_body_bytes: usize,
}

/// What the endpoint shares across workers.
pub struct McpState {
    pub sessions: SessionHandle<UpstreamSession>,
    /// Rebuilt off the request path when backends' capabilities or states change; carries the
    /// last-known items of the backends that are not running (`RoutingTable::not_running`).
    pub routing: ArcSwap<RoutingTable>,
    pub settings: ArcSwap<McpSettings>,
    /// Set when the gateway drains: GET streams end at once and answer streams still running
    /// at the instant given, each with `retry:` (before the server cuts connections itself).
    pub closing: watch::Sender<Option<Instant>>,
    /// Each user's policy grants and view of the routing table, per snapshot generation.
    pub access: access::AccessCache,
    /// The per-user, per-tool and per-backend limits (owned by the RateLimitActor).
    pub rate_limiter: Arc<RateLimiter>,
    /// Tools left out of `routing` until an administrator approves their changed definition;
    /// published with it (`background.rs`).
    pub withheld: ArcSwap<withheld::Withheld>,
    /// Every user's tasks (2025-11-25): gateway task id → backend, its id, its backend session.
    pub tasks: Arc<actors::session::TaskRegistry<UpstreamSession>>,
    /// URL elicitations relayed to each user's sessions, awaiting the backend's completion.
    pub elicitations: actors::session::UrlElicitations,
}

impl McpState {
    pub fn new(
        sessions: SessionHandle<UpstreamSession>,
        rate_limiter: Arc<RateLimiter>,
        settings: McpSettings,
    ) -> Arc<Self> {
        Arc::new(McpState {
            rate_limiter,
            sessions,
            routing: ArcSwap::from_pointee(RoutingTable::default()),
            settings: ArcSwap::from_pointee(settings),
            closing: watch::Sender::new(None),
            access: access::AccessCache::default(),
            withheld: ArcSwap::from_pointee(withheld::Withheld::default()),
            tasks: Default::default(),
            elicitations: Default::default(),
        })
    }

    /// Starts closing the event streams for a drain; answer streams get until `answers_by`.
    pub fn close_streams(&self, answers_by: Instant) {
        self.closing.send_replace(Some(answers_by));
    }
}

/// The user a request acts for; 0 when authentication is switched off.
pub(crate) fn user_id(req: &HttpRequest) -> i64 {
    match req.extensions().get::<Caller>() {
        Some(Caller::User(p)) => p.user_id,
        _ => 0,
    }
}

async fn post_aggregate(
    req: HttpRequest,
    state: web::Data<AppState>,
    http: web::Data<awc::Client>,
    body: web::Payload,
) -> HttpResponse {
    post::handle(req, state, http, body, SessionScope::Aggregate).await
}

/// `/mcp/{server}` for a backend the caller may not use at all: 403 before anything else, the
/// same for a backend that does not exist (a refusal must not reveal which backends exist).
fn refuse_backend(req: &HttpRequest, state: &AppState, server: &str) -> Option<HttpResponse> {
    let access = access::Access::of(req, state);
    if access.backend_access(server) != actors::auth::policy::BackendAccess::None {
        return None;
    }
    if let Some(scope) = access.backend_step_up(server) {
        return Some(dispatch::step_up(
            state,
            &SessionScope::Backend(server.to_string()),
            None,
            &scope,
        ));
    }
    access.refused("/mcp/{server}", server, "");
    Some(reply::error(
        actix_web::http::StatusCode::FORBIDDEN,
        None,
        actors::mcp::ErrorCode::InvalidRequest,
        &format!(
            "You may not use backend `{server}`: no policy grants it to you (or to your token's scopes). Ask an administrator for access."
        ),
    ))
}

async fn post_backend(
    req: HttpRequest,
    state: web::Data<AppState>,
    http: web::Data<awc::Client>,
    body: web::Payload,
    server: web::Path<String>,
) -> HttpResponse {
    if let Some(refusal) = refuse_backend(&req, &state, &server) {
        return refusal;
    }
    post::handle(
        req,
        state,
        http,
        body,
        SessionScope::Backend(server.into_inner()),
    )
    .await
}

async fn delete_aggregate(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    post::end_session(req, state, SessionScope::Aggregate).await
}

async fn delete_backend(
    req: HttpRequest,
    state: web::Data<AppState>,
    server: web::Path<String>,
) -> HttpResponse {
    post::end_session(req, state, SessionScope::Backend(server.into_inner())).await
}

async fn get_aggregate(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    listen::get_stream(req, state, SessionScope::Aggregate).await
}

async fn get_backend(
    req: HttpRequest,
    state: web::Data<AppState>,
    server: web::Path<String>,
) -> HttpResponse {
    if let Some(refusal) = refuse_backend(&req, &state, &server) {
        return refusal;
    }
    listen::get_stream(req, state, SessionScope::Backend(server.into_inner())).await
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/mcp")
            .route(web::post().to(post_aggregate))
            .route(web::get().to(get_aggregate))
            .route(web::delete().to(delete_aggregate)),
    )
    .service(
        web::resource("/mcp/{server}")
            .route(web::post().to(post_backend))
            .route(web::get().to(get_backend))
            .route(web::delete().to(delete_backend)),
    );
}
