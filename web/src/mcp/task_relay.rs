//! Task ids in what is relayed between backends and the client outside the task calls
//! themselves (see `tasks.rs` for those): a backend's requests and notifications get the
//! gateway's ids for the user's tasks, the client's responses the backend's again; and tasks the
//! *client* runs for a backend (task-augmented sampling or elicitation) stay that backend's.

use actix_web::web::Bytes;
use actors::mcp::envelope::{Envelope, Kind};
use actors::mcp::{ErrorCode, json};
use actors::session::{TaskRegistry, UpstreamSlot};
use actors::upstream::UpstreamSession;
use serde_json::Value;
use serde_json::value::RawValue;

use super::forward::Relay;
use super::tasks::{RELATED_TASK, quoted};

/// What the task ids in a backend's message become for the client.
pub(crate) enum TaskIds {
    /// No task id in it (or one of no task we know: left as it is).
    Unchanged,
    Rewritten(Bytes),
    /// A status of a task this user did not create through the gateway.
    ForNobody,
}

/// A backend's request or notification with its task ids made the gateway's: the `taskId` of
/// `notifications/tasks/status`, and a related-task `_meta` (a request the backend sends while a
/// task needs input, its progress). Responses are translated by the call that awaits them.
pub(crate) fn to_client_ids(relay: &Relay, envelope: &Envelope<'_>) -> TaskIds {
    let (Some(method), Some(params)) = (envelope.method(), envelope.params) else {
        return TaskIds::Unchanged;
    };
    let user = relay.session.user_id;
    let raw = envelope.raw;
    if method == "notifications/tasks/status" {
        return match status_for_user(&relay.mcp.tasks, user, &relay.slot, raw, params) {
            Some((_, rewritten)) => TaskIds::Rewritten(rewritten),
            None => TaskIds::ForNobody,
        };
    }
    let known = |backend_id: &RawValue| {
        json::as_str(backend_id).and_then(|t| relay.mcp.tasks.gateway_id(user, &relay.slot, &t))
    };
    let rewrite = |path: &[&str], gateway_id: &str| {
        json::with_member_at(raw, path, &quoted(gateway_id))
            .map_or(TaskIds::Unchanged, |m| TaskIds::Rewritten(Bytes::from(m)))
    };
    // Cheap test first: most messages (progress, logging) have no related task.
    if !params.get().contains(RELATED_TASK) {
        return TaskIds::Unchanged;
    }
    let path = ["params", "_meta", RELATED_TASK, "taskId"];
    match json::member_at(raw, &path).and_then(known) {
        Some(gateway_id) => rewrite(&path, &gateway_id),
        None => TaskIds::Unchanged,
    }
}

/// A backend's `notifications/tasks/status` (`raw`, its `params`) from backend session `slot`,
/// for `user`: the task's gateway id and the notification carrying it. `None` when the task is
/// not one this user created there through the gateway (nobody is told). A terminal status is
/// noted.
pub(crate) fn status_for_user(
    tasks: &TaskRegistry<UpstreamSession>,
    user: i64,
    slot: &UpstreamSlot<UpstreamSession>,
    raw: &RawValue,
    params: &RawValue,
) -> Option<(String, Bytes)> {
    let backend_id = json::member(params, "taskId").and_then(json::as_str)?;
    let gateway_id = tasks.gateway_id(user, slot, &backend_id)?;
    if let Some(status) = json::member(params, "status").and_then(json::as_str) {
        tasks.observe(user, &gateway_id, &status);
    }
    let rewritten = json::with_member_at(raw, &["params", "taskId"], &quoted(&gateway_id))?;
    Some((gateway_id, Bytes::from(rewritten)))
}

/// The client's response to a backend's request, with a related-task `_meta` naming a gateway
/// task id given the backend's id again (only for a task of this backend session).
pub(crate) fn to_backend_ids(relay: &Relay, response: Bytes) -> Bytes {
    let Ok(raw) = serde_json::from_slice::<&RawValue>(&response) else {
        return response;
    };
    if !matches!(
        actors::mcp::envelope::parse_message(raw).map(|e| e.kind),
        Ok(Kind::Response { .. })
    ) || !raw.get().contains(RELATED_TASK)
    {
        return response;
    }
    let path = ["result", "_meta", RELATED_TASK, "taskId"];
    let route = json::member_at(raw, &path)
        .and_then(json::as_str)
        .and_then(|gateway_id| relay.mcp.tasks.route(relay.session.user_id, &gateway_id))
        .filter(|route| {
            actors::session::slot_key(&route.slot) == actors::session::slot_key(&relay.slot)
        });
    match route.and_then(|r| json::with_member_at(raw, &path, &quoted(&r.backend_task_id))) {
        Some(rewritten) => Bytes::from(rewritten),
        None => response,
    }
}

/// A backend's `tasks/get`, `tasks/result` or `tasks/cancel` about a client task that does not
/// run for it: answered to the backend as unknown, never sent to the client.
pub(crate) fn not_this_backends_client_task(
    relay: &Relay,
    id: &RawValue,
    method: &str,
    params: Option<&RawValue>,
) -> Option<Bytes> {
    if !matches!(method, "tasks/get" | "tasks/result" | "tasks/cancel") {
        return None;
    }
    let task_id = params
        .and_then(|p| json::member(p, "taskId"))
        .and_then(json::as_str);
    if task_id.is_some_and(|t| relay.session.client_tasks.runs_for(&relay.backend, &t)) {
        return None;
    }
    Some(actors::mcp::errors::error_response(
        Some(id),
        ErrorCode::InvalidParams,
        "Unknown task: the client runs no task with this `taskId` for you.",
        None,
    ))
}

/// The client's answer to a backend's request, on its way back: a `CreateTaskResult` (the
/// client runs the request as a task) notes the task as this backend's; a `tasks/list` answer
/// keeps only this backend's tasks.
pub(crate) fn client_tasks_answer(relay: &Relay, method: &str, response: Bytes) -> Bytes {
    // Cheap test first: most answers (sampling, elicitation, roots) name no task.
    let names_a_task = std::str::from_utf8(&response).is_ok_and(|t| t.contains("\"taskId\""));
    if method != "tasks/list" && !names_a_task {
        return response;
    }
    let Ok(mut message) = serde_json::from_slice::<Value>(&response) else {
        return response;
    };
    let tasks = &relay.session.client_tasks;
    if let Some(task_id) = message["result"]["task"]["taskId"].as_str() {
        tasks.note(&relay.backend, task_id);
        return response;
    }
    if method != "tasks/list" {
        return response;
    }
    let Some(listed) = message["result"]["tasks"].as_array_mut() else {
        return response;
    };
    listed.retain(|task| {
        task["taskId"]
            .as_str()
            .is_some_and(|t| tasks.runs_for(&relay.backend, t))
    });
    Bytes::from(message.to_string())
}
