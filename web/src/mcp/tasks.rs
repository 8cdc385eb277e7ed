//! Tasks (MCP 2025-11-25, experimental) through the gateway, bound to the user who created
//! them ([`TaskRegistry`](actors::session::TaskRegistry)): a client that reconnects reaches its
//! tasks from its new session; another user's task id gets the same "unknown task" error as a
//! made-up one, so nothing tells the caller that it exists elsewhere.
//!
//! Clients see only gateway task ids. Every place a task id crosses the gateway is translated:
//! the `CreateTaskResult` of a task-augmented `tools/call` (a new id is issued), `params.taskId`
//! of `tasks/get`, `tasks/result` and `tasks/cancel` (back to the backend's), the `taskId` of
//! their results and of `tasks/list`'s, `notifications/tasks/status`, and the
//! `io.modelcontextprotocol/related-task` `_meta` of results, requests and notifications
//! (`task_relay::to_client_ids`) and of the client's responses (`task_relay::to_backend_ids`).
//!
//! Follow-up calls go to the backend session the task was created on, which the registry keeps
//! open while it remembers the task, even after the creating session ended. When that backend
//! session is gone all the same (the backend restarted or expired it), the task cannot be
//! reached any more: the caller gets a clear error and the task is forgotten.
//!
//! `tasks/list` asks each backend session holding one of the user's tasks and keeps only those
//! tasks: statuses are fresh (the backend's), and a backend that lists every task of its own
//! auth context (which gateway users may share) cannot leak another user's.

use std::collections::HashMap;
use std::time::Duration;

use actix_web::web::Bytes;
use actors::mcp::errors::result_response;
use actors::mcp::{ErrorCode, json};
use actors::routing::Retry;
use actors::session::{SessionScope, TaskRoute, UpstreamSlot};
use actors::upstream::UpstreamSession;
use futures_util::StreamExt;
use serde_json::Value;
use serde_json::value::RawValue;

use super::forward::{self, Answer, error};
use super::post::Session;
use crate::state::AppState;

/// Pages of `tasks/list` read from one backend session at most (a misbehaving cursor cannot loop).
const MAX_LIST_PAGES: usize = 20;
/// The `_meta` key associating a message with a task (2025-11-25).
pub(super) const RELATED_TASK: &str = "io.modelcontextprotocol/related-task";

/// Whether a `tools/call` asks to run as a task (`params.task` present).
pub fn is_task_call(method: &str, params: Option<&RawValue>) -> bool {
    method == "tools/call"
        && params
            .and_then(|p| json::member(p, "task"))
            .is_some_and(|t| t.get() != "null")
}

/// Refuses a task-augmented call when the user cannot have another task remembered.
pub fn check_room(state: &AppState, session: &Session, id: &RawValue) -> Result<(), Answer> {
    if state.mcp.tasks.has_room(session.user_id) {
        return Ok(());
    }
    Err(error(
        Some(id),
        ErrorCode::InvalidRequest,
        &format!(
            "You have {} tasks still running; wait for one to finish or cancel one.",
            actors::session::MAX_TASKS_PER_USER
        ),
    ))
}

/// A task-augmented call: sent once (a repeat would start a second task the client never
/// hears of), and the task it creates registered under a gateway id the client gets instead.
pub async fn create(
    state: &AppState,
    http: &awc::Client,
    session: &Session,
    backend: &str,
    message: Bytes,
    id: &RawValue,
) -> Answer {
    let (answer, slot) =
        forward::forward_with_slot(state, http, session, backend, message, id, Retry::Never).await;
    let Some(slot) = slot else {
        return answer;
    };
    let (registry, user, backend, session_id) = (
        state.mcp.tasks.clone(),
        session.user_id,
        backend.to_string(),
        session.id.clone(),
    );
    map_responses(answer, move |raw| {
        let path = ["result", "task", "taskId"];
        let backend_id = json::member_at(raw, &path).and_then(json::as_str)?;
        let ttl = json::member_at(raw, &["result", "task", "ttl"])
            .and_then(|t| t.get().parse::<u64>().ok())
            .map(Duration::from_millis);
        let gateway_id = registry.register(user, &backend, &slot, &backend_id, ttl);
        registry.touch(user, &gateway_id, &session_id);
        if let Some(status) = json::member_at(raw, &["result", "task", "status"]) {
            registry.observe(user, &gateway_id, &json::as_str(status).unwrap_or_default());
        }
        json::with_member_at(raw, &path, &quoted(&gateway_id))
    })
}

/// `tasks/get`, `tasks/result`, `tasks/cancel` and `tasks/list`; `None` for other methods.
pub async fn answer(
    state: &AppState,
    http: &awc::Client,
    session: &Session,
    raw: &RawValue,
    id: &RawValue,
    method: &str,
    params: Option<&RawValue>,
) -> Option<Answer> {
    match method {
        "tasks/get" | "tasks/result" | "tasks/cancel" => {
            Some(one_task(state, http, session, raw, id, params).await)
        }
        "tasks/list" => Some(list(state, http, session, id, params).await),
        _ => None,
    }
}

/// The user's task `gateway_id`, if this session may reach it (a one-backend endpoint reaches
/// only that backend's tasks).
fn find(state: &AppState, session: &Session, gateway_id: &str) -> Option<Route> {
    state
        .mcp
        .tasks
        .route(session.user_id, gateway_id)
        .filter(|route| in_scope(session, route))
}

type Route = TaskRoute<UpstreamSession>;

fn in_scope(session: &Session, route: &Route) -> bool {
    match &session.scope {
        SessionScope::Aggregate => true,
        SessionScope::Backend(backend) => route.backend == *backend,
    }
}

async fn one_task(
    state: &AppState,
    http: &awc::Client,
    session: &Session,
    raw: &RawValue,
    id: &RawValue,
    params: Option<&RawValue>,
) -> Answer {
    let Some(gateway_id) = params
        .and_then(|p| json::member(p, "taskId"))
        .and_then(json::as_str)
    else {
        return error(
            Some(id),
            ErrorCode::InvalidParams,
            "`params.taskId` must be the id of one of your tasks.",
        );
    };
    let Some(route) = find(state, session, &gateway_id) else {
        return unknown_task(id);
    };
    state
        .mcp
        .tasks
        .touch(session.user_id, &route.gateway_id, &session.id);
    let Some(message) =
        json::with_member_at(raw, &["params", "taskId"], &quoted(&route.backend_task_id))
    else {
        return unknown_task(id);
    };
    let sent = forward::forward_on(
        state,
        http,
        session,
        &route.backend,
        &route.slot,
        Bytes::from(message),
        id,
    )
    .await;
    let Ok(answer) = sent else {
        state.mcp.tasks.forget(session.user_id, &route.gateway_id);
        return error(
            Some(id),
            ErrorCode::InvalidParams,
            &format!(
                "Task `{}` can no longer be reached: the backend session it was created on has \
                 ended (backend `{}` restarted or expired it), so the gateway forgot the task.",
                route.gateway_id, route.backend
            ),
        );
    };
    let (registry, user) = (state.mcp.tasks.clone(), session.user_id);
    map_responses(answer, move |raw| {
        // `tasks/get` and `tasks/cancel` answer with the task; note a terminal status.
        let status = json::member_at(raw, &["result", "status"]).and_then(json::as_str);
        if let Some(status) = status {
            registry.observe(user, &route.gateway_id, &status);
        }
        [
            &["result", "taskId"][..],
            &["result", "_meta", RELATED_TASK, "taskId"][..],
        ]
        .into_iter()
        .find(|path| {
            json::member_at(raw, path).and_then(json::as_str).as_deref()
                == Some(route.backend_task_id.as_str())
        })
        .and_then(|path| json::with_member_at(raw, path, &quoted(&route.gateway_id)))
    })
}

fn unknown_task(id: &RawValue) -> Answer {
    error(
        Some(id),
        ErrorCode::InvalidParams,
        "Unknown task: you have no task with this `taskId`.",
    )
}

async fn list(
    state: &AppState,
    http: &awc::Client,
    session: &Session,
    id: &RawValue,
    params: Option<&RawValue>,
) -> Answer {
    // The merged list is one page: a cursor can only be one the gateway never gave out.
    if params.and_then(|p| json::member(p, "cursor")).is_some() {
        return error(
            Some(id),
            ErrorCode::InvalidParams,
            "Invalid cursor: the gateway lists all your tasks in one page.",
        );
    }
    let user = session.user_id;
    let registry = &state.mcp.tasks;
    // One `tasks/list` per backend session holding tasks of this user.
    let mut by_session: Vec<(UpstreamSlot<UpstreamSession>, String)> = Vec::new();
    let mut seen: HashMap<usize, ()> = HashMap::new();
    for route in registry.of_user(user) {
        if in_scope(session, &route)
            && seen
                .insert(actors::session::slot_key(&route.slot), ())
                .is_none()
        {
            by_session.push((route.slot, route.backend));
        }
    }
    let mut tasks: Vec<Value> = Vec::new();
    for (slot, backend) in by_session {
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_LIST_PAGES {
            let params = match &cursor {
                Some(c) => serde_json::json!({ "cursor": c }),
                None => serde_json::json!({}),
            };
            // Its own id: it is tracked (for cancellation) in the session like any request.
            let wire_id = quoted(&format!(
                "gw-tasks-list-{}",
                actors::auth::tokens::random_id()
            ));
            let request = format!(
                r#"{{"jsonrpc":"2.0","id":{wire_id},"method":"tasks/list","params":{params}}}"#
            );
            let wire_id = RawValue::from_string(wire_id).expect("a JSON string");
            let sent = forward::forward_on(
                state,
                http,
                session,
                &backend,
                &slot,
                Bytes::from(request),
                &wire_id,
            )
            .await;
            let Ok(answer) = sent else {
                // The backend session is gone: so are its tasks.
                for route in registry.of_user(user) {
                    if actors::session::slot_key(&route.slot) == actors::session::slot_key(&slot) {
                        registry.forget(user, &route.gateway_id);
                    }
                }
                break;
            };
            // A backend that cannot list is left out: its tasks are still reachable one by one.
            let Some(page) = final_message(answer).await else {
                break;
            };
            let result = &page["result"];
            for task in result["tasks"].as_array().into_iter().flatten() {
                let Some(gateway_id) = task["taskId"]
                    .as_str()
                    .and_then(|t| registry.gateway_id(user, &slot, t))
                else {
                    continue;
                };
                if let Some(status) = task["status"].as_str() {
                    registry.observe(user, &gateway_id, status);
                }
                let mut task = task.clone();
                task["taskId"] = Value::String(gateway_id);
                tasks.push(task);
            }
            cursor = result["nextCursor"].as_str().map(str::to_string);
            if cursor.is_none() {
                break;
            }
        }
    }
    let result = serde_json::json!({ "tasks": tasks });
    Answer::Json(result_response(id, &result.to_string()))
}

pub(super) fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// The response an answer ends with, parsed (`None` when there is none, or it is not JSON).
async fn final_message(answer: Answer) -> Option<Value> {
    let bytes = match answer {
        Answer::Json(body) => body,
        Answer::JsonParts(parts) => Bytes::from(parts.concat()),
        Answer::Stream(stream) => stream.collect::<Vec<_>>().await.pop()?,
        Answer::Accepted | Answer::InsufficientScope(_) => return None,
    };
    serde_json::from_slice(&bytes).ok()
}

/// Passes every result response in the answer through `rewrite` (`None`: unchanged); other
/// messages — and every other byte of a response — pass as they are.
fn map_responses(
    answer: Answer,
    rewrite: impl Fn(&RawValue) -> Option<String> + 'static,
) -> Answer {
    let apply = move |bytes: Bytes| -> Bytes {
        let Ok(raw) = serde_json::from_slice::<&RawValue>(&bytes) else {
            return bytes;
        };
        if json::member(raw, "result").is_none() {
            return bytes;
        }
        match rewrite(raw) {
            Some(rewritten) => Bytes::from(rewritten),
            None => bytes,
        }
    };
    match answer {
        Answer::Json(body) => Answer::Json(apply(body)),
        Answer::JsonParts(parts) => Answer::Json(apply(Bytes::from(parts.concat()))),
        Answer::Stream(stream) => Answer::Stream(stream.map(apply).boxed_local()),
        Answer::Accepted => Answer::Accepted,
        Answer::InsufficientScope(scope) => Answer::InsufficientScope(scope),
    }
}
