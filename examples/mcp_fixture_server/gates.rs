//! `--gates`: tools that wait on a signal the test controls instead of a timer, so a test can
//! act while a call is provably in progress (HTTP mode).
//!
//! Tools: `hold` (`key`; given a `progressToken`, sends progress "held", waits until `key` is
//! released, sends progress "released", then answers `released <key>`), `release` (`key`:
//! opens that gate for good), `await_held` (`key`: answers once something waits on that gate)
//! and `await_closed` (`count`: answers once that many backend sessions were ended with
//! `DELETE`). A client whose `clientInfo.name` is `hold-open` has its `initialize` wait on the
//! gate `open`: the test holds the opening of a backend session.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use serde_json::json;
use tokio::sync::watch;

/// One gate: how many wait on it, and whether it was released.
#[derive(Default)]
struct Gate {
    waiting: watch::Sender<usize>,
    released: watch::Sender<bool>,
}

#[derive(Default)]
pub struct Gates {
    gates: Mutex<HashMap<String, Arc<Gate>>>,
    /// Backend sessions ended with `DELETE`.
    closed: watch::Sender<usize>,
}

impl Gates {
    fn gate(&self, key: &str) -> Arc<Gate> {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        gates.entry(key.to_string()).or_default().clone()
    }

    /// Waits until `key` is released (at once if it already was).
    pub async fn wait(&self, key: &str) {
        let gate = self.gate(key);
        gate.waiting.send_modify(|n| *n += 1);
        let _ = gate.released.subscribe().wait_for(|open| *open).await;
    }

    pub fn tools() -> Vec<Tool> {
        let tool = |name: &str, description: &str| -> Tool {
            serde_json::from_value(json!({
                "name": name, "description": description, "inputSchema": {"type": "object"},
            }))
            .expect("a valid tool")
        };
        vec![
            tool(
                "hold",
                "Sends progress, waits until `key` is released, answers.",
            ),
            tool("release", "Releases the gate `key`."),
            tool(
                "await_held",
                "Answers once something waits on the gate `key`.",
            ),
            tool(
                "await_closed",
                "Answers once `count` backend sessions were deleted.",
            ),
        ]
    }

    /// The gate tools; `None` if `name` is not one of them.
    pub async fn call(
        &self,
        name: &str,
        arguments: Option<&JsonObject>,
        context: &RequestContext<RoleServer>,
    ) -> Option<Result<CallToolResult, ErrorData>> {
        let text = |key: &str| {
            arguments
                .and_then(|a| a.get(key))
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        let key = text("key");
        let done = |text: String| Some(Ok(CallToolResult::success(vec![ContentBlock::text(text)])));
        match name {
            "hold" => {
                let token = context.meta.get_progress_token();
                let progress = |n: u32, message: &str| {
                    token.clone().map(|token| {
                        serde_json::from_value(json!({"progressToken": token, "progress": n,
                            "total": 2, "message": message}))
                        .expect("valid progress")
                    })
                };
                if let Some(note) = progress(1, "held")
                    && let Err(error) = context.peer.notify_progress(note).await
                {
                    return Some(Err(ErrorData::internal_error(error.to_string(), None)));
                }
                self.wait(&key).await;
                if let Some(note) = progress(2, "released") {
                    let _ = context.peer.notify_progress(note).await;
                }
                done(format!("released {key}"))
            }
            "release" => {
                self.gate(&key).released.send_replace(true);
                done(format!("opened {key}"))
            }
            "await_held" => {
                let _ = self
                    .gate(&key)
                    .waiting
                    .subscribe()
                    .wait_for(|n| *n > 0)
                    .await;
                done(format!("{key} is held"))
            }
            "await_closed" => {
                let count = arguments
                    .and_then(|a| a.get("count"))
                    .and_then(|v| v.as_u64())
                    .unwrap_or(1) as usize;
                let _ = self.closed.subscribe().wait_for(|n| *n >= count).await;
                done(format!("{count} closed"))
            }
            _ => None,
        }
    }
}

/// Counts the `DELETE`s that end backend sessions.
pub fn layer(router: axum::Router, gates: Arc<Gates>) -> axum::Router {
    router.layer(axum::middleware::from_fn(
        move |req: Request, next: Next| {
            let gates = gates.clone();
            async move {
                let delete = req.method() == axum::http::Method::DELETE;
                let response: Response = next.run(req).await;
                if delete && response.status().is_success() {
                    gates.closed.send_modify(|n| *n += 1);
                }
                response
            }
        },
    ))
}
