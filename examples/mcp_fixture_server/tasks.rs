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
//!
//! `tasks/result` of a task still `working` blocks, as the spec has it: its event stream first
//! sends the task's status, then the result once the task finishes (or an error once it is
//! cancelled). A `notifications/cancelled` for that request on the same backend session
//! withdraws the wait: the stream ends without a response and the task's `statusMessage` says
//! so (recorded before the notification is answered), so a test learns the backend was told.
//!
//! A task-augmented call may name `arguments.key`; `POST /tasks/finish` with `{"key": K}`
//! (the test's own control, not MCP) completes the working tasks with that key and sends their
//! `notifications/tasks/status` on the GET stream of the backend session that owns each — an
//! out-of-request message, merged into rmcp's own GET stream — answering how many tasks it
//! finished and how many GET streams it wrote to.
//!
//! A task created with `arguments.elicit` = E needs input: its blocked `tasks/result` also
//! sends a URL-mode `elicitation/create` with `elicitationId` E (answers to it are accepted and
//! ignored), and `finish` sends `notifications/elicitation/complete` for E on the GET stream
//! before the task's status.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};

/// One task: its state, its result once completed, the `arguments.key` it was created with
/// and the URL elicitation (`arguments.elicit`) it waits on.
struct Task {
    task: Value,
    result: Option<Value>,
    key: Option<String>,
    elicit: Option<String>,
}

/// (backend session id, task id) → the task.
type TaskMap = HashMap<(String, String), Task>;

/// (backend session id, the request's id as JSON) of a blocked `tasks/result` → its task id
/// and the way to withdraw it.
type Waits = HashMap<(String, String), (String, oneshot::Sender<()>)>;

/// The path of the test's control: finish the working tasks with a key.
const FINISH: &str = "/tasks/finish";

#[derive(Default)]
struct Tasks {
    by_session: Mutex<TaskMap>,
    next: Mutex<u64>,
    /// Sessions this process opened and that were not closed.
    live: Mutex<HashSet<String>>,
    /// Bumped whenever a task changes: blocked `tasks/result`s look again.
    changed: watch::Sender<u64>,
    waits: Mutex<Waits>,
    /// Backend session id → its open GET streams, for messages sent outside any request.
    listeners: Mutex<HashMap<String, Vec<mpsc::UnboundedSender<Bytes>>>>,
}

pub fn layer(router: axum::Router) -> axum::Router {
    let tasks = Arc::new(Tasks::default());
    // The middleware answers it; the route only makes the path one the router has.
    let router = router.route(FINISH, axum::routing::post(|| async { "" }));
    router.layer(axum::middleware::from_fn(
        move |req: Request, next: Next| {
            let tasks = tasks.clone();
            async move { tasks.handle(req, next).await }
        },
    ))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Tasks {
    async fn handle(self: Arc<Self>, req: Request, next: Next) -> Response {
        let session = req
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if req.method() == axum::http::Method::DELETE && !session.is_empty() {
            self.live_sessions().remove(&session);
            lock(&self.listeners).remove(&session);
        }
        if req.method() == axum::http::Method::GET && !session.is_empty() {
            return self.listened(session, next.run(req).await);
        }
        if req.method() != axum::http::Method::POST {
            return next.run(req).await;
        }
        let finish = req.uri().path() == FINISH;
        let (parts, body) = req.into_parts();
        let Ok(bytes) = to_bytes(body, 16 << 20).await else {
            return plain(400, "unreadable body");
        };
        let message: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if finish {
            return self.finish(message["key"].as_str().unwrap_or(""));
        }
        let params = &message["params"];
        // The client's answer to an elicitation a task asked for: nothing to do with it.
        if message["method"].is_null()
            && message["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("fx-elicit-"))
        {
            return plain(202, "");
        }
        if message["method"] == "notifications/cancelled" {
            let request = (session.clone(), params["requestId"].to_string());
            let withdrawn = lock(&self.waits).remove(&request);
            if let Some((task_id, withdraw)) = withdrawn {
                // Noted before the notification is answered: the test reads it right after.
                let key = (session, task_id);
                if let Some(task) = lock(&self.by_session).get_mut(&key) {
                    task.task["statusMessage"] = json!("a tasks/result wait was withdrawn");
                }
                let _ = withdraw.send(());
                return plain(202, "");
            }
            return next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
        }
        if message["method"] == "tasks/result"
            && self.live_sessions().contains(&session)
            && self.status(&session, params) == Some(json!("working"))
        {
            return self.blocked_result(session, message["id"].clone(), params);
        }
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
            "tasks/result" => self.with_task(&session, params, result_of),
            "tasks/cancel" => {
                let cancelled = self.with_task(&session, params, |task, _| {
                    if task["status"] != "working" {
                        return Err(format!(
                            "Cannot cancel task: already in terminal status {}",
                            task["status"]
                        ));
                    }
                    task["status"] = json!("cancelled");
                    Ok(task.clone())
                });
                self.changed.send_modify(|n| *n += 1);
                cancelled
            }
            "tasks/list" => {
                let map = lock(&self.by_session);
                let tasks: Vec<&Value> = map
                    .iter()
                    .filter(|((owner, _), _)| *owner == session)
                    .map(|(_, task)| &task.task)
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
                return cancelled_stream(answer(id, Ok(result)));
            }
            outcome => answer(id, outcome),
        };
        Response::builder()
            .header("content-type", "application/json")
            .body(Body::from(reply.to_string()))
            .unwrap_or_else(|_| plain(500, "response"))
    }

    fn live_sessions(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        lock(&self.live)
    }

    fn status(&self, session: &str, params: &Value) -> Option<Value> {
        let task_id = params["taskId"].as_str().unwrap_or("").to_string();
        let map = lock(&self.by_session);
        let task = map.get(&(session.to_string(), task_id))?;
        Some(task.task["status"].clone())
    }

    /// `tasks/result` of a working task: its status now, its result (or error) once it is
    /// finished, or nothing more once the client withdraws the request.
    fn blocked_result(self: Arc<Self>, session: String, id: Value, params: &Value) -> Response {
        let task_id = params["taskId"].as_str().unwrap_or("").to_string();
        let (withdraw, withdrawn) = oneshot::channel();
        let request = (session.clone(), id.to_string());
        lock(&self.waits).insert(request.clone(), (task_id.clone(), withdraw));
        let key = (session, task_id);
        let (status, elicit) = lock(&self.by_session)
            .get(&key)
            .map(|t| (t.task.clone(), t.elicit.clone()))
            .unwrap_or_default();
        let status = json!({"jsonrpc": "2.0", "method": "notifications/tasks/status",
            "params": status});
        let mut first = event(&status);
        if let Some(elicit) = elicit {
            let ask = json!({"jsonrpc": "2.0", "id": format!("fx-elicit-{elicit}"),
                "method": "elicitation/create", "params": {"mode": "url",
                "message": "Sign in there.", "elicitationId": elicit,
                "url": format!("https://example.com/verify/{elicit}")}});
            first.push_str(&event(&ask));
        }
        let tasks = self.clone();
        let last = async move {
            let mut changed = tasks.changed.subscribe();
            let finished = async {
                loop {
                    let outcome = {
                        let mut map = lock(&tasks.by_session);
                        match map.get_mut(&key) {
                            Some(task) if task.task["status"] == "working" => None,
                            Some(task) => Some(result_of(&mut task.task, task.result.as_ref())),
                            None => Some(Err("Failed to retrieve task: Task not found".into())),
                        }
                    };
                    if let Some(outcome) = outcome {
                        return outcome;
                    }
                    if changed.changed().await.is_err() {
                        return Err("the server is stopping".into());
                    }
                }
            };
            let outcome = tokio::select! {
                _ = withdrawn => None,
                outcome = finished => Some(outcome),
            };
            lock(&tasks.waits).remove(&request);
            outcome.map(|outcome| event(&answer(id, outcome)))
        };
        let body = futures_util::stream::once(std::future::ready(Some(first)))
            .chain(futures_util::stream::once(last))
            .filter_map(std::future::ready)
            .map(Ok::<_, Infallible>);
        Response::builder()
            .header("content-type", "text/event-stream")
            .body(Body::from_stream(body))
            .unwrap_or_else(|_| plain(500, "response"))
    }

    /// A GET stream of backend session `session`: rmcp's, with what `finish` sends merged in.
    fn listened(&self, session: String, response: Response) -> Response {
        if !response.status().is_success() {
            return response;
        }
        let (sender, receiver) = mpsc::unbounded_channel::<Bytes>();
        lock(&self.listeners)
            .entry(session)
            .or_default()
            .push(sender);
        let (parts, body) = response.into_parts();
        // rmcp writes one event per frame, so an event of ours never lands inside one of its.
        let own = body
            .into_data_stream()
            .map(Some)
            .chain(futures_util::stream::once(std::future::ready(None)));
        let ours = futures_util::stream::unfold(receiver, |mut receiver| async move {
            let event = receiver.recv().await?;
            Some((Some(Ok(event)), receiver))
        });
        let merged = futures_util::stream::select(own, ours)
            .take_while(|item| std::future::ready(item.is_some()))
            .filter_map(std::future::ready);
        Response::from_parts(parts, Body::from_stream(merged))
    }

    /// `POST /tasks/finish`: completes the working tasks created with `key`, telling each
    /// owning backend session's GET streams.
    fn finish(&self, key: &str) -> Response {
        let mut finished = Vec::new();
        for ((session, _), task) in lock(&self.by_session).iter_mut() {
            if task.key.as_deref() == Some(key) && task.task["status"] == "working" {
                task.task["status"] = json!("completed");
                let text = format!("finished {key}");
                task.result = Some(json!({"content": [{"type": "text", "text": text}],
                    "isError": false}));
                finished.push((session.clone(), task.task.clone(), task.elicit.clone()));
            }
        }
        self.changed.send_modify(|n| *n += 1);
        let mut pushed = 0;
        let mut listeners = lock(&self.listeners);
        for (session, task, elicit) in &finished {
            let mut events = String::new();
            if let Some(elicit) = elicit {
                events.push_str(&event(&json!({"jsonrpc": "2.0",
                    "method": "notifications/elicitation/complete",
                    "params": {"elicitationId": elicit}})));
            }
            events.push_str(&event(&json!({"jsonrpc": "2.0",
                "method": "notifications/tasks/status", "params": task})));
            let streams = listeners.entry(session.clone()).or_default();
            streams.retain(|stream| stream.send(Bytes::from(events.clone())).is_ok());
            pushed += streams.len();
        }
        let body = json!({"finished": finished.len(), "pushed": pushed});
        Response::builder()
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap_or_else(|_| plain(500, "response"))
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
        let argument = |name: &str| params["arguments"][name].as_str().map(str::to_string);
        lock(&self.by_session).insert(
            (session.to_string(), task_id),
            Task {
                task: task.clone(),
                result,
                key: argument("key"),
                elicit: argument("elicit"),
            },
        );
        json!({ "task": task })
    }

    fn with_task(
        &self,
        session: &str,
        params: &Value,
        act: impl FnOnce(&mut Value, Option<&Value>) -> Result<Value, String>,
    ) -> Result<Value, String> {
        let task_id = params["taskId"].as_str().unwrap_or("").to_string();
        let mut map = lock(&self.by_session);
        match map.get_mut(&(session.to_string(), task_id)) {
            Some(task) => act(&mut task.task, task.result.as_ref()),
            None => Err("Failed to retrieve task: Task not found".into()),
        }
    }
}

/// What `tasks/result` answers for a task that is not working any more.
fn result_of(task: &mut Value, result: Option<&Value>) -> Result<Value, String> {
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
}

/// The JSON-RPC response to request `id`.
fn answer(id: Value, outcome: Result<Value, String>) -> Value {
    match outcome {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(text) => {
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32602, "message": text}})
        }
    }
}

/// One SSE event carrying `message`.
fn event(message: &Value) -> String {
    format!("event: message\ndata: {message}\n\n")
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
    let body: String = messages.iter().map(event).collect();
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
