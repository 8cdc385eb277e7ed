//! What each method does: answered locally (ping, lists from the routing table) or routed to
//! the backend that owns the tool, prompt or resource.
//!
//! Authorization: lists show only what the caller's policy grants allow (their own pages and
//! cursors), and a call on an item they may not use gets exactly the error an unknown item gets,
//! so a refusal reveals nothing about what exists; the refusal is logged (no payloads).

use actix_web::HttpResponse;
use actix_web::web::Bytes;
use actors::auth::policy::{BackendAccess, ItemKind};
use actors::mcp::envelope::{Envelope, Kind, ParseFailure};
use actors::mcp::errors::{error_response, result_response};
use actors::mcp::{ErrorCode, json};
use actors::routing::{ListKind, Retry, RoutingTable};
use actors::session::{InFlight, SessionScope};
use actors::upstream::UpstreamSession;
use futures_util::StreamExt;
use serde_json::value::RawValue;

use super::access::Access;
use super::audit_hook::PendingRecord;
use super::forward::{self, Answer, error};
use super::post::Session;
use super::scan_hook::PayloadScan;
use super::{limits, not_running, one_backend, reply, tasks};
use crate::state::AppState;

#[allow(clippy::too_many_arguments)]
pub async fn single(
    state: &AppState,
    http: &awc::Client,
    session: &Session,
    access: &Access,
    message: Envelope<'_>,
    body: &Bytes,
    in_flight: InFlight<UpstreamSession>,
    record: Option<PendingRecord>,
    scan: Option<PayloadScan>,
) -> HttpResponse {
    // Boxed: the request's handling is most of this future; inline, it would be copied each
    // time the handler's future moves (actix moves it between its layers).
    let answering = Box::pin(answer(state, http, session, access, &message, body));
    let (answer, routed) = super::measured::measured(state, message.method(), answering).await;
    let record = record.map(|record| record.routed_to(routed, &session.scope));
    match answer {
        Answer::Json(body) => {
            if let Some(record) = record {
                record.answered(&body);
            }
            if let Some(scan) = scan {
                scan.answered(&body);
            }
            reply::json(body)
        }
        Answer::JsonParts(parts) => {
            if let Some(record) = record {
                record.finished("ok", parts.iter().map(Bytes::len).sum());
            }
            reply::json_parts(parts)
        }
        Answer::Stream(stream) => {
            let stream = match record {
                Some(record) => record.watch_stream(stream),
                None => stream,
            };
            let stream = match scan {
                Some(scan) => scan.watch_stream(stream),
                None => stream,
            };
            super::answer_stream::serve(state, session, stream, in_flight)
        }
        Answer::Accepted => reply::accepted(),
        Answer::InsufficientScope(scope) => {
            if let Some(record) = record {
                record.finished("denied", 0);
            }
            step_up(state, &session.scope, message.id(), &scope)
        }
    }
}

/// HTTP 403 with the step-up challenge (RFC 6750 §3.1, MCP authorization "scope challenge"),
/// the JSON-RPC error in the body for clients that only read that.
pub(super) fn step_up(
    state: &AppState,
    scope: &SessionScope,
    id: Option<&RawValue>,
    needed: &str,
) -> HttpResponse {
    let settings = state.settings.load();
    let metadata = match scope {
        SessionScope::Aggregate => settings.resource_metadata_url(),
        SessionScope::Backend(server) => settings.server_metadata_url(server),
    };
    let mut response = reply::error(
        actix_web::http::StatusCode::FORBIDDEN,
        id,
        ErrorCode::InvalidRequest,
        &format!(
            "Your token lacks a scope this request needs; re-authorize with scope `{needed}`."
        ),
    );
    let challenge = format!(
        "Bearer error=\"insufficient_scope\", scope=\"{needed}\", resource_metadata=\"{metadata}\""
    );
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(actix_web::http::header::WWW_AUTHENTICATE, value);
    }
    response
}

/// 2025-03-26 batches: every request answered, in one JSON array; notifications only → 202.
pub async fn batch(
    state: &AppState,
    http: &awc::Client,
    session: &Session,
    access: &Access,
    items: Vec<Result<Envelope<'_>, ParseFailure<'_>>>,
    body: &Bytes,
    audit: super::audit_hook::BatchAudit<'_>,
) -> HttpResponse {
    let mut responses: Vec<Bytes> = Vec::new();
    for item in items {
        match item {
            Err(failure) => {
                let (id, reason) = match &failure {
                    ParseFailure::Invalid { id, reason } => (*id, reason.clone()),
                    other => (None, format!("{other:?}")),
                };
                responses.push(error_response(
                    id,
                    ErrorCode::InvalidRequest,
                    &format!("Not a valid JSON-RPC message: {reason}."),
                    None,
                ));
            }
            Ok(message) if message.method() == Some("initialize") => {
                responses.push(error_response(
                    message.id(),
                    ErrorCode::InvalidRequest,
                    "`initialize` cannot be part of a batch.",
                    None,
                ));
            }
            Ok(message) => {
                // Each request of a batch is one audit record, with its own answer's outcome.
                let record = audit.begin(state, session, &message);
                let scan = PayloadScan::begin(audit.req, state, &message, body);
                let before = responses.len();
                let answering = Box::pin(answer(state, http, session, access, &message, body));
                let (answer, routed) =
                    super::measured::measured(state, message.method(), answering).await;
                let record = record.map(|record| record.routed_to(routed, &session.scope));
                match answer {
                    Answer::Json(body) => responses.push(body),
                    Answer::JsonParts(parts) => responses.push(parts.concat().into()),
                    // In a batch only the final response of a stream is kept.
                    Answer::Stream(stream) => {
                        if let Some(last) = stream.collect::<Vec<_>>().await.pop() {
                            responses.push(last);
                        }
                    }
                    Answer::Accepted => {}
                    // One HTTP status answers a whole batch: here the step-up is a JSON-RPC error.
                    Answer::InsufficientScope(scope) => responses.push(error_response(
                        message.id(),
                        ErrorCode::InvalidRequest,
                        &format!("Your token lacks a scope this request needs (`{scope}`)."),
                        None,
                    )),
                }
                if let Some(record) = record {
                    match responses.get(before) {
                        Some(answer) => record.answered(answer),
                        None => record.finished("failed", 0),
                    }
                }
                if let (Some(scan), Some(answer)) = (scan, responses.get(before)) {
                    scan.answered(answer);
                }
            }
        }
    }
    if responses.is_empty() {
        return reply::accepted();
    }
    let mut body = Vec::with_capacity(responses.iter().map(|r| r.len() + 1).sum::<usize>() + 2);
    body.push(b'[');
    for (i, r) in responses.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(r);
    }
    body.push(b']');
    reply::json(Bytes::from(body))
}

async fn answer(
    state: &AppState,
    http: &awc::Client,
    session: &Session,
    access: &Access,
    message: &Envelope<'_>,
    body: &Bytes,
) -> Answer {
    let (id, method) = match &message.kind {
        Kind::Request { id, method } => (*id, method.as_ref()),
        // The client answering a request a backend sent it (sampling, elicitation, roots).
        Kind::Response { id } => {
            return forward::client_response(state, http, session, message.raw, id).await;
        }
        Kind::Notification { method } => {
            forward::client_notification(state, http, session, message.raw, method, message.params)
                .await;
            return Answer::Accepted;
        }
    };
    if method == "ping" {
        return Answer::Json(result_response(id, "{}"));
    }
    if let Some(answer) = tasks::answer(
        state,
        http,
        session,
        message.raw,
        id,
        method,
        message.params,
    )
    .await
    {
        return answer;
    }
    match &session.scope {
        SessionScope::Backend(backend) => {
            // A backend with a withheld tool has its lists and calls judged here too.
            let judge = access.backend_access(backend) != BackendAccess::Full
                || state.mcp.withheld.load().has_backend(backend);
            if judge
                && let Some(answer) =
                    one_backend::screen(state, access, backend, id, method, message.params)
            {
                return answer;
            }
            if method == "tools/call"
                && let Some(refused) = tool_limited(state, access, id, message.params)
            {
                return refused;
            }
            let task_call = tasks::is_task_call(method, message.params);
            if task_call && let Err(refused) = tasks::check_room(state, session, id) {
                return refused;
            }
            let bytes = shared(body, message.raw);
            if task_call {
                return tasks::create(state, http, session, backend, bytes, id).await;
            }
            forward::forward(state, http, session, backend, bytes, id, Retry::Never).await
        }
        SessionScope::Aggregate => {
            aggregate(state, http, session, access, message, body, id, method).await
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn aggregate(
    state: &AppState,
    http: &awc::Client,
    session: &Session,
    access: &Access,
    message: &Envelope<'_>,
    body: &Bytes,
    id: &RawValue,
    method: &str,
) -> Answer {
    let table = state.mcp.routing.load_full();
    let params = message.params;
    let param = |key: &str| params.and_then(|p| json::member(p, key));
    let list = |kind| list_page(state, &table, access, kind, id, param("cursor"));
    match method {
        "tools/list" => list(ListKind::Tools),
        "prompts/list" => list(ListKind::Prompts),
        "resources/list" => list(ListKind::Resources),
        "resources/templates/list" => list(ListKind::ResourceTemplates),
        "tools/call" | "prompts/get" => {
            let (catalog, what, kind) = if method == "tools/call" {
                (&table.tools, "tool", ItemKind::Tool)
            } else {
                (&table.prompts, "prompt", ItemKind::Prompt)
            };
            let Some(name) = param("name").and_then(json::as_str) else {
                return error(
                    Some(id),
                    ErrorCode::InvalidParams,
                    &format!("`params.name` must name a {what}."),
                );
            };
            let unknown = || {
                error(
                    Some(id),
                    ErrorCode::InvalidParams,
                    &format!("Unknown {what} `{name}`."),
                )
            };
            let Some(route) = catalog.route(&name) else {
                if kind == ItemKind::Tool
                    && let Some(refusal) =
                        state
                            .mcp
                            .withheld
                            .load()
                            .refuse_exposed(id, &name, |backend| {
                                access.allows(backend, ItemKind::Tool, &name)
                            })
                {
                    return refusal;
                }
                return not_running::refuse(&table, access, kind, &name, id)
                    .unwrap_or_else(unknown);
            };
            crate::metrics::note_route(&route.backend);
            if let Some(step_up) = access.step_up(&route.backend, kind, &name) {
                return step_up;
            }
            if !access.allows(&route.backend, kind, &name) {
                access.refused(method, &route.backend, &name);
                return unknown();
            }
            if kind == ItemKind::Tool
                && let Err(rejection) = limits::check_tool(state, access, &name)
            {
                return Answer::Json(limits::rate_limited(&rejection, Some(id)));
            }
            let task_call = tasks::is_task_call(method, params);
            if task_call && let Err(refused) = tasks::check_room(state, session, id) {
                return refused;
            }
            let keyed = with_idempotency_key(params, route.retry)
                .and_then(|p| RawValue::from_string(p).ok());
            let Some(rewritten) = rewrite(
                id,
                method,
                keyed.as_deref().or(params),
                "name",
                &route.original,
            ) else {
                return error(
                    Some(id),
                    ErrorCode::InvalidParams,
                    "`params` must be an object whose keys are valid strings.",
                );
            };
            if task_call {
                return tasks::create(state, http, session, &route.backend, rewritten, id).await;
            }
            forward::forward(
                state,
                http,
                session,
                &route.backend,
                rewritten,
                id,
                route.retry,
            )
            .await
        }
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
            let Some(uri) = param("uri").and_then(json::as_str) else {
                return error(
                    Some(id),
                    ErrorCode::InvalidParams,
                    "`params.uri` is required.",
                );
            };
            let route = table.route_uri(&uri);
            if let Some(route) = &route {
                crate::metrics::note_route(&route.backend);
            } else if let Some(refusal) =
                not_running::refuse(&table, access, ItemKind::Resource, &uri, id)
            {
                return refusal;
            }
            if let Some(step_up) = route
                .as_ref()
                .and_then(|r| access.step_up(&r.backend, ItemKind::Resource, &uri))
            {
                return step_up;
            }
            let Some(route) =
                route.filter(|r| allowed(access, method, r, ItemKind::Resource, &uri))
            else {
                return error(
                    Some(id),
                    ErrorCode::InvalidParams,
                    &format!("No backend serves resource `{uri}`."),
                );
            };
            let bytes = shared(body, message.raw);
            forward::forward(
                state,
                http,
                session,
                &route.backend,
                bytes,
                id,
                Retry::Never,
            )
            .await
        }
        "completion/complete" => complete(state, http, session, access, &table, id, params).await,
        "logging/setLevel" => {
            let Some(level) = param("level").filter(|l| json::as_str(l).is_some()) else {
                return error(
                    Some(id),
                    ErrorCode::InvalidParams,
                    "`params.level` must be a logging level such as \"info\".",
                );
            };
            super::listen::set_level_everywhere(state, http, session, level.get()).await;
            Answer::Json(result_response(id, "{}"))
        }
        // Codex sends a tool's name as the method (openai/codex#2264): treat it as tools/call.
        // A tool the caller may not use is an unknown method, like one that does not exist.
        other
            if !other.contains('/')
                && table
                    .tools
                    .route(other)
                    .is_some_and(|r| allowed(access, "tools/call", r, ItemKind::Tool, other)) =>
        {
            let route = table.tools.route(other).expect("checked");
            crate::metrics::note_route(&route.backend);
            if let Err(rejection) = limits::check_tool(state, access, other) {
                return Answer::Json(limits::rate_limited(&rejection, Some(id)));
            }
            let arguments = params.map(RawValue::get).unwrap_or("{}");
            let name = serde_json::to_string(&route.original).unwrap_or_default();
            let call = format!(
                r#"{{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":{name},"arguments":{arguments}}}}}"#,
                id.get()
            );
            forward::forward(
                state,
                http,
                session,
                &route.backend,
                Bytes::from(call),
                id,
                route.retry,
            )
            .await
        }
        other => error(
            Some(id),
            ErrorCode::MethodNotFound,
            &format!("Method not found: `{other}`."),
        ),
    }
}

/// The per-user×tool limit of a `tools/call` on a backend's own endpoint; the tool is named by
/// `params.name` (a call without one is left for the backend to refuse).
fn tool_limited(
    state: &AppState,
    access: &Access,
    id: &RawValue,
    params: Option<&RawValue>,
) -> Option<Answer> {
    let tool = params
        .and_then(|p| json::member(p, "name"))
        .and_then(json::as_str)?;
    let rejection = limits::check_tool(state, access, &tool).err()?;
    Some(Answer::Json(limits::rate_limited(&rejection, Some(id))))
}

/// Whether the caller may use `name` routed by `route`; a refusal is logged.
fn allowed(
    access: &Access,
    method: &str,
    route: &actors::routing::Route,
    kind: ItemKind,
    name: &str,
) -> bool {
    let allowed = access.allows(&route.backend, kind, name);
    if !allowed {
        access.refused(method, &route.backend, name);
    }
    allowed
}

fn list_page(
    state: &AppState,
    table: &std::sync::Arc<RoutingTable>,
    access: &Access,
    kind: ListKind,
    id: &RawValue,
    cursor: Option<&RawValue>,
) -> Answer {
    list_answer(state, id, cursor, |cursor, page_size| {
        match access.view(table) {
            Some(view) => table.filtered_page(&view, kind, cursor, page_size),
            None => table.page(kind, cursor, page_size),
        }
    })
}

/// A list result from `pager(cursor, page size)`, with the cursor checked first.
pub(super) fn list_answer(
    state: &AppState,
    id: &RawValue,
    cursor: Option<&RawValue>,
    pager: impl FnOnce(Option<&str>, usize) -> Result<Bytes, actors::routing::BadCursor>,
) -> Answer {
    let page_size = state.mcp.settings.load().page_size;
    let cursor = match cursor.map(|c| json::as_str(c).ok_or(())) {
        None => None,
        Some(Ok(c)) => Some(c),
        Some(Err(())) => {
            return error(
                Some(id),
                ErrorCode::InvalidParams,
                "`cursor` must be a string from a previous page.",
            );
        }
    };
    match pager(cursor.as_deref(), page_size) {
        // The page is shared, not copied: the response is written as three pieces.
        Ok(page) => {
            let head = format!(r#"{{"jsonrpc":"2.0","id":{},"result":"#, id.get());
            Answer::JsonParts(vec![Bytes::from(head), page, Bytes::from_static(b"}")])
        }
        Err(_) => error(
            Some(id),
            ErrorCode::InvalidParams,
            "Invalid cursor: pass `nextCursor` from a previous page unchanged.",
        ),
    }
}

/// Routes `completion/complete` by its `ref`: a prompt (by name) or a resource (by URI).
async fn complete(
    state: &AppState,
    http: &awc::Client,
    session: &Session,
    access: &Access,
    table: &RoutingTable,
    id: &RawValue,
    params: Option<&RawValue>,
) -> Answer {
    let Some(reference) = params.and_then(|p| json::member(p, "ref")) else {
        return error(
            Some(id),
            ErrorCode::InvalidParams,
            "`params.ref` is required.",
        );
    };
    let kind = json::member(reference, "type").and_then(json::as_str);
    let (backend, new_ref) = match kind.as_deref() {
        Some("ref/prompt") => {
            let name = json::member(reference, "name")
                .and_then(json::as_str)
                .unwrap_or_default();
            let Some(route) = table
                .prompts
                .route(&name)
                .filter(|r| allowed(access, "completion/complete", r, ItemKind::Prompt, &name))
            else {
                return error(
                    Some(id),
                    ErrorCode::InvalidParams,
                    &format!("Unknown prompt `{name}`."),
                );
            };
            let original = serde_json::to_string(&route.original).unwrap_or_default();
            (
                route.backend.clone(),
                json::with_member(reference, "name", &original).ok(),
            )
        }
        Some("ref/resource") => {
            let uri = json::member(reference, "uri")
                .and_then(json::as_str)
                .unwrap_or_default();
            let Some(route) = table
                .route_uri(&uri)
                .filter(|r| allowed(access, "completion/complete", r, ItemKind::Resource, &uri))
            else {
                return error(
                    Some(id),
                    ErrorCode::InvalidParams,
                    &format!("No backend serves resource `{uri}`."),
                );
            };
            (route.backend, Some(reference.get().to_string()))
        }
        _ => {
            return error(
                Some(id),
                ErrorCode::InvalidParams,
                "`ref.type` must be `ref/prompt` or `ref/resource`.",
            );
        }
    };
    let Some(new_ref) =
        new_ref.and_then(|r| params.and_then(|p| json::with_member(p, "ref", &r).ok()))
    else {
        return error(
            Some(id),
            ErrorCode::InvalidParams,
            "`params` must be an object.",
        );
    };
    let call = format!(
        r#"{{"jsonrpc":"2.0","id":{},"method":"completion/complete","params":{new_ref}}}"#,
        id.get()
    );
    forward::forward(
        state,
        http,
        session,
        &backend,
        Bytes::from(call),
        id,
        Retry::Never,
    )
    .await
}

/// For an idempotent tool, `params` with `arguments.idempotency_key` set (kept when the client
/// sent one) so a repeat after a transport failure carries the same key. `None`: unchanged.
fn with_idempotency_key(params: Option<&RawValue>, retry: Retry) -> Option<String> {
    if retry != Retry::Idempotent {
        return None;
    }
    let params = params?;
    let arguments = json::member(params, "arguments")
        .map(|a| a.get().to_string())
        .unwrap_or_else(|| "{}".into());
    let arguments = RawValue::from_string(arguments).ok()?;
    if json::member(&arguments, "idempotency_key").is_some() {
        return None;
    }
    let key = format!("\"{}\"", actors::auth::tokens::random_id());
    let arguments = json::with_member(&arguments, "idempotency_key", &key).ok()?;
    json::with_member(params, "arguments", &arguments).ok()
}

/// The request with `params.<key>` replaced by the backend's own name; everything else in
/// `params` keeps its bytes and order. `None` when `params` cannot be rewritten (not an object,
/// or a key that is no string): sending `{"<key>": …}` alone would drop the rest silently.
fn rewrite(
    id: &RawValue,
    method: &str,
    params: Option<&RawValue>,
    key: &str,
    value: &str,
) -> Option<Bytes> {
    let mut value_json = String::with_capacity(value.len() + 2);
    json::push_string_literal(&mut value_json, value);
    let params = match params {
        Some(p) => Some(json::with_member(p, key, &value_json).ok()?),
        None => None,
    };
    let params_len = params
        .as_ref()
        .map_or(key.len() + value_json.len() + 5, String::len);
    let mut out = String::with_capacity(48 + id.get().len() + method.len() + params_len);
    out.push_str(r#"{"jsonrpc":"2.0","id":"#);
    out.push_str(id.get());
    out.push_str(r#","method":"#);
    json::push_string_literal(&mut out, method);
    out.push_str(r#","params":"#);
    match params {
        Some(params) => out.push_str(&params),
        None => {
            out.push('{');
            json::push_string_literal(&mut out, key);
            out.push(':');
            out.push_str(&value_json);
            out.push('}');
        }
    }
    out.push('}');
    Some(Bytes::from(out))
}

/// `raw` (a message read from `body`) as bytes sharing `body`'s buffer: forwarding a message
/// unchanged copies nothing, however large. A `raw` from elsewhere is copied.
pub(super) fn shared(body: &Bytes, raw: &RawValue) -> Bytes {
    let bytes = raw.get().as_bytes();
    let inside = body.as_ptr_range();
    if inside.contains(&bytes.as_ptr()) && bytes.as_ptr_range().end <= inside.end {
        body.slice_ref(bytes)
    } else {
        Bytes::copy_from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_that_cannot_be_rewritten_are_refused_not_trimmed() {
        let id = RawValue::from_string("1".into()).unwrap();
        let raw = |s: &str| RawValue::from_string(s.to_string()).unwrap();
        // A key that is no string (a lone surrogate): nothing is sent, rather than the name alone.
        let bad = raw(r#"{"name":"p_echo","arguments":{},"\ud800":0}"#);
        assert!(rewrite(&id, "tools/call", Some(&bad), "name", "echo").is_none());
        let good = raw(r#"{"name":"p_echo","arguments":{"a":1}}"#);
        let out = rewrite(&id, "tools/call", Some(&good), "name", "echo").unwrap();
        assert_eq!(
            &out[..],
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"a":1}}}"#
        );
        let bare = rewrite(&id, "tools/call", None, "name", "echo").unwrap();
        assert_eq!(
            &bare[..],
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#
        );
    }

    #[test]
    fn a_message_from_the_body_shares_its_buffer() {
        let body = Bytes::from_static(br#"  {"jsonrpc":"2.0","id":1,"method":"ping"}  "#);
        let raw: &RawValue = serde_json::from_slice(&body).unwrap();
        let bytes = shared(&body, raw);
        assert_eq!(&bytes[..], raw.get().as_bytes());
        assert!(body.as_ptr_range().contains(&bytes.as_ptr()), "no copy");
        let elsewhere = RawValue::from_string("{}".into()).unwrap();
        assert_eq!(&shared(&body, &elsewhere)[..], b"{}");
    }
}
