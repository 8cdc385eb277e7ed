//! `--tasks`: MCP 2025-11-25 tasks for the fixture's HTTP mode. rmcp 3.11 speaks only the
//! 2026-07-28 tasks extension (SEP-2663: no `tasks/result`, no `tasks/list`, no `tasks`
//! capability), so this layer answers the 2025-11-25 methods itself before rmcp sees them:
//! a `tools/call` with `params.task` returns a `CreateTaskResult`; `echo` tasks complete at
//! once (their result is echo's), every other tool's task keeps `working` until cancelled.
//! Tasks are bound to the `Mcp-Session-Id` that created them, as a real server binds them to
//! its auth context, and reachable only while that session lives: a task request on a session
//! this process did not open, or that was closed (`DELETE`), gets 404 as rmcp answers for any
//! unknown session. `initialize` answers gain the `tasks` capability. A successful
//! `tasks/cancel` is answered as an event stream that first sends what a server may send about
//! a task: `notifications/tasks/status` for it, one for a task nobody has (`task-0`), and a log
//! message carrying the `io.modelcontextprotocol/related-task` `_meta`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Value, json};

/// (backend session id, task id) → the task and, once completed, its result.
type TaskMap = HashMap<(String, String), (Value, Option<Value>)>;

#[derive(Default)]
struct Tasks {
    by_session: Mutex<TaskMap>,
    next: Mutex<u64>,
    /// Sessions this process opened and that were not closed.
    live: Mutex<HashSet<String>>,
}

pub fn layer(router: axum::Router) -> axum::Router {
    let tasks = Arc::new(Tasks::default());
    router.layer(axum::middleware::from_fn(
        move |req: Request, next: Next| {
            let tasks = tasks.clone();
            async move { tasks.handle(req, next).await }
        },
    ))
}

impl Tasks {
    async fn handle(&self, req: Request, next: Next) -> Response {
        if req.method() == axum::http::Method::DELETE
            && let Some(session) = req.headers().get("mcp-session-id")
        {
            let session = session.to_str().unwrap_or("").to_string();
            self.live_sessions().remove(&session);
        }
        if req.method() != axum::http::Method::POST {
            return next.run(req).await;
        }
        let (parts, body) = req.into_parts();
        let Ok(bytes) = to_bytes(body, 16 << 20).await else {
            return plain(400, "unreadable body");
        };
        let message: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let session = parts
            .headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let params = &message["params"];
        let outcome = match message["method"].as_str().unwrap_or("") {
            "initialize" => {
                let reply = next
                    .run(Request::from_parts(parts, Body::from(bytes)))
                    .await;
                if let Some(opened) = reply.headers().get("mcp-session-id") {
                    let opened = opened.to_str().unwrap_or("").to_string();
                    self.live_sessions().insert(opened);
                }
                return advertise(reply).await;
            }
            method
                if (method.starts_with("tasks/") || params["task"].is_object())
                    && !self.live_sessions().contains(&session) =>
            {
                return plain(404, "session not found");
            }
            "tools/call" if params["task"].is_object() => Ok(self.create(&session, params)),
            "tasks/get" => self.with_task(&session, params, |task, _| Ok(task.clone())),
            "tasks/result" => self.with_task(&session, params, |task, result| {
                let task_id = task["taskId"].clone();
                match result {
                    Some(result) => {
                        let mut result = result.clone();
                        result["_meta"] = json!({
                            "io.modelcontextprotocol/related-task": {"taskId": task_id}
                        });
                        Ok(result)
                    }
                    None => Err(format!(
                        "Task {task_id} has no result: it is {}",
                        task["status"]
                    )),
                }
            }),
            "tasks/cancel" => self.with_task(&session, params, |task, _| {
                if task["status"] != "working" {
                    return Err(format!(
                        "Cannot cancel task: already in terminal status {}",
                        task["status"]
                    ));
                }
                task["status"] = json!("cancelled");
                Ok(task.clone())
            }),
            "tasks/list" => {
                let map = self.by_session.lock().unwrap_or_else(|e| e.into_inner());
                let tasks: Vec<&Value> = map
                    .iter()
                    .filter(|((owner, _), _)| *owner == session)
                    .map(|(_, (task, _))| task)
                    .collect();
                Ok(json!({ "tasks": tasks }))
            }
            _ => {
                return next
                    .run(Request::from_parts(parts, Body::from(bytes)))
                    .await;
            }
        };
        let id = message["id"].clone();
        let reply = match outcome {
            Ok(result) if message["method"] == "tasks/cancel" => {
                return cancelled_stream(json!({"jsonrpc": "2.0", "id": id, "result": result}));
            }
            Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
            Err(text) => {
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32602, "message": text}})
            }
        };
        Response::builder()
            .header("content-type", "application/json")
            .body(Body::from(reply.to_string()))
            .unwrap_or_else(|_| plain(500, "response"))
    }

    fn live_sessions(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn create(&self, session: &str, params: &Value) -> Value {
        let number = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            *next += 1;
            *next
        };
        let task_id = format!("task-{number}");
        let echo = params["name"] == "echo";
        let result = echo.then(|| {
            let text = params["arguments"]["text"]
                .as_str()
                .unwrap_or("")
                .to_string();
            json!({"content": [{"type": "text", "text": text}], "isError": false})
        });
        let task = json!({
            "taskId": task_id,
            "status": if echo { "completed" } else { "working" },
            "createdAt": "2025-11-25T00:00:00Z",
            "lastUpdatedAt": "2025-11-25T00:00:00Z",
            "ttl": params["task"]["ttl"].as_u64().unwrap_or(60_000),
            "pollInterval": 100,
        });
        self.by_session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((session.to_string(), task_id), (task.clone(), result));
        json!({ "task": task })
    }

    fn with_task(
        &self,
        session: &str,
        params: &Value,
        act: impl FnOnce(&mut Value, Option<&Value>) -> Result<Value, String>,
    ) -> Result<Value, String> {
        let task_id = params["taskId"].as_str().unwrap_or("").to_string();
        let mut map = self.by_session.lock().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(&(session.to_string(), task_id)) {
            Some((task, result)) => act(task, result.as_ref()),
            None => Err("Failed to retrieve task: Task not found".into()),
        }
    }
}

/// The answer to a successful `tasks/cancel` as an event stream: the task's status, a status
/// of a task nobody has, a log line related to the task, then the response.
fn cancelled_stream(response: Value) -> Response {
    let task = response["result"].clone();
    let related = json!({"io.modelcontextprotocol/related-task": {"taskId": task["taskId"]}});
    let messages = [
        json!({"jsonrpc": "2.0", "method": "notifications/tasks/status", "params": task}),
        json!({"jsonrpc": "2.0", "method": "notifications/tasks/status",
               "params": {"taskId": "task-0", "status": "failed"}}),
        json!({"jsonrpc": "2.0", "method": "notifications/message",
               "params": {"level": "info", "data": "cancelling", "_meta": related}}),
        response,
    ];
    let body: String = messages
        .iter()
        .map(|m| format!("event: message\ndata: {m}\n\n"))
        .collect();
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from(body))
        .unwrap_or_else(|_| plain(500, "response"))
}

/// Adds the 2025-11-25 `tasks` capability to an `initialize` answer (JSON or SSE).
async fn advertise(reply: Response) -> Response {
    let (mut parts, body) = reply.into_parts();
    let Ok(bytes) = to_bytes(body, 16 << 20).await else {
        return plain(502, "unreadable initialize answer");
    };
    let text = String::from_utf8_lossy(&bytes).replacen(
        "\"capabilities\":{",
        r#""capabilities":{"tasks":{"list":{},"cancel":{},"requests":{"tools":{"call":{}}}},"#,
        1,
    );
    parts.headers.remove("content-length");
    Response::from_parts(parts, Body::from(text))
}

fn plain(status: u16, text: &'static str) -> Response {
    Response::builder()
        .status(status)
        .body(Body::from(text))
        .unwrap_or_default()
}
