//! Tasks (MCP 2025-11-25, experimental) through the gateway. A task-augmented `tools/call` is
//! forwarded like any call; the `CreateTaskResult` it returns is remembered in the session's
//! [`TaskBook`](actors::session::TaskBook) (task id → owning backend). `tasks/get`,
//! `tasks/result` and `tasks/cancel` go to that backend on the session's own backend session;
//! a task id the session did not create — another user's, or made up — gets the same
//! "unknown task" error, so nothing tells the caller that it exists elsewhere.
//!
//! `tasks/list` asks each backend owning one of the session's tasks and keeps only those
//! tasks: statuses are fresh (the backend's), and a backend that lists every task of its own
//! auth context (which gateway users may share) cannot leak another user's.

use actix_web::web::Bytes;
use actors::mcp::errors::result_response;
use actors::mcp::{ErrorCode, json};
use actors::routing::Retry;
use futures_util::StreamExt;
use serde_json::Value;
use serde_json::value::RawValue;

use super::forward::{self, Answer, error};
use super::post::Session;
use crate::state::AppState;

/// Pages of `tasks/list` read from one backend at most (a misbehaving cursor cannot loop).
const MAX_LIST_PAGES: usize = 20;

/// Whether a `tools/call` asks to run as a task (`params.task` present).
pub fn is_task_call(method: &str, params: Option<&RawValue>) -> bool {
    method == "tools/call"
        && params
            .and_then(|p| json::member(p, "task"))
            .is_some_and(|t| t.get() != "null")
}

/// Refuses a task-augmented call when the session cannot remember another task.
pub fn check_room(session: &Session, id: &RawValue) -> Result<(), Answer> {
    if session.tasks.has_room() {
        return Ok(());
    }
    Err(error(
        Some(id),
        ErrorCode::InvalidRequest,
        &format!(
            "This session has {} tasks still running; wait for one to finish or cancel one.",
            actors::session::MAX_TASKS_PER_SESSION
        ),
    ))
}

/// Remembers the task a task-augmented call created on `backend`, as its answer passes.
pub fn remember_created(session: &Session, backend: &str, answer: Answer) -> Answer {
    let (session, backend) = (session.clone(), backend.to_string());
    inspect(answer, move |message| {
        let task = &message["result"]["task"];
        if let Some(task_id) = task["taskId"].as_str() {
            session.tasks.remember(task_id, &backend);
            if let Some(status) = task["status"].as_str() {
                session.tasks.observe(task_id, status);
            }
        }
    })
}

/// `tasks/get`, `tasks/result`, `tasks/cancel` and `tasks/list`; `None` for other methods.
pub async fn answer(
    state: &AppState,
    http: &awc::Client,
    session: &Session,
    message: Bytes,
    id: &RawValue,
    method: &str,
    params: Option<&RawValue>,
) -> Option<Answer> {
    match method {
        "tasks/get" | "tasks/result" | "tasks/cancel" => {
            Some(one_task(state, http, session, message, id, params).await)
        }
        "tasks/list" => Some(list(state, http, session, id, params).await),
        _ => None,
    }
}

async fn one_task(
    state: &AppState,
    http: &awc::Client,
    session: &Session,
    message: Bytes,
    id: &RawValue,
    params: Option<&RawValue>,
) -> Answer {
    let Some(task_id) = params
        .and_then(|p| json::member(p, "taskId"))
        .and_then(json::as_str)
    else {
        return error(
            Some(id),
            ErrorCode::InvalidParams,
            "`params.taskId` must be the id of a task this session created.",
        );
    };
    let Some(backend) = session.tasks.owner(&task_id) else {
        return unknown_task(id);
    };
    let answer = forward::forward(state, http, session, &backend, message, id, Retry::Never).await;
    let session = session.clone();
    let task_id = task_id.into_owned();
    // `tasks/get` and `tasks/cancel` answer with the task itself: note a terminal status.
    inspect(answer, move |message| {
        if let Some(status) = message["result"]["status"].as_str()
            && message["result"]["taskId"].as_str() == Some(task_id.as_str())
        {
            session.tasks.observe(&task_id, status);
        }
    })
}

fn unknown_task(id: &RawValue) -> Answer {
    error(
        Some(id),
        ErrorCode::InvalidParams,
        "Unknown task: no task with this `taskId` was created in this session.",
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
            "Invalid cursor: the gateway lists every task of this session in one page.",
        );
    }
    let mut tasks: Vec<Value> = Vec::new();
    for backend in session.tasks.backends() {
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_LIST_PAGES {
            let params = match &cursor {
                Some(c) => serde_json::json!({ "cursor": c }),
                None => serde_json::json!({}),
            };
            let request = serde_json::json!({
                "jsonrpc": "2.0", "id": "gw-tasks-list", "method": "tasks/list", "params": params,
            });
            let wire_id = RawValue::from_string("\"gw-tasks-list\"".into()).expect("valid JSON");
            let answer = forward::forward(
                state,
                http,
                session,
                &backend,
                Bytes::from(request.to_string()),
                &wire_id,
                Retry::Never,
            )
            .await;
            // A backend that cannot list is left out: its tasks are still reachable one by one.
            let Some(page) = final_message(answer).await else {
                break;
            };
            let result = &page["result"];
            for task in result["tasks"].as_array().into_iter().flatten() {
                let Some(task_id) = task["taskId"].as_str() else {
                    continue;
                };
                if session.tasks.owned_by(task_id, &backend) {
                    if let Some(status) = task["status"].as_str() {
                        session.tasks.observe(task_id, status);
                    }
                    tasks.push(task.clone());
                }
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

/// Calls `look` on every response in the answer as it passes (bytes unchanged).
fn inspect(answer: Answer, look: impl Fn(&Value) + 'static) -> Answer {
    let seen = move |bytes: &[u8]| {
        if let Ok(message) = serde_json::from_slice::<Value>(bytes)
            && message.get("result").is_some()
        {
            look(&message);
        }
    };
    match answer {
        Answer::Json(body) => {
            seen(&body);
            Answer::Json(body)
        }
        Answer::JsonParts(parts) => {
            seen(&parts.concat());
            Answer::JsonParts(parts)
        }
        Answer::Stream(stream) => Answer::Stream(
            stream
                .map(move |message| {
                    seen(&message);
                    message
                })
                .boxed_local(),
        ),
        Answer::Accepted => Answer::Accepted,
        Answer::InsufficientScope(scope) => Answer::InsufficientScope(scope),
    }
}
