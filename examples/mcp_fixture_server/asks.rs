//! `--asks`: tools that send the client requests of the server's own while they run, so the
//! gateway's relaying of server→client traffic can be tested over any transport.
//!
//! Tools: `ping_client` (pings the client; answers `pong`, or the error), `roots` (asks the
//! client for `roots/list`; answers the roots as JSON text), `ask_then_cancel` (sends an
//! `elicitation/create`, withdraws it at once with `notifications/cancelled`, answers
//! `withdrawn`), `roots_changes` (how many `notifications/roots/list_changed` this session
//! received), `ask_form` (a form-mode elicitation; answers the action and content),
//! `ask_url` (a URL-mode elicitation with `elicitationId` = argument `id`; once accepted it
//! sends `notifications/elicitation/complete` for that id) and `touch` (sends
//! `notifications/resources/updated` for argument `uri` to every session subscribed to it).
//! `require_url` answers with error `-32042` (URL elicitation required) naming the URL
//! elicitation `id`, and `complete` sends `notifications/elicitation/complete` for `id` (on the
//! calling session) and answers `sent`.
//! `ask_raw` sends the client the request `method` with `params` (arguments) as they are — e.g.
//! a task-augmented elicitation or `tasks/get` — and answers its result as JSON text.
//! `resources/subscribe` and `resources/unsubscribe` are remembered per backend session.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rmcp::model::{
    CallToolResult, ClientResult, ContentBlock, CustomNotification, CustomRequest, JsonObject,
    ResourceUpdatedNotificationParam, ServerNotification, ServerRequest, Tool,
};
use rmcp::service::{Peer, PeerRequestOptions, RequestContext};
use rmcp::{ErrorData, RoleServer};
use serde_json::json;

#[derive(Default)]
pub struct Asks {
    /// `notifications/roots/list_changed` received (all sessions of this process).
    pub roots_changes: Arc<AtomicUsize>,
    /// (backend session id, resource URI) → the subscribed session's peer.
    subscriptions: Mutex<HashMap<(String, String), Peer<RoleServer>>>,
}

/// The backend session (`Mcp-Session-Id`) a request came on; empty over stdio.
fn session_of(context: &RequestContext<RoleServer>) -> String {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|p| p.headers.get("mcp-session-id"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

impl Asks {
    pub fn tools() -> Vec<Tool> {
        let tool = |name: &str, description: &str| -> Tool {
            serde_json::from_value(json!({
                "name": name, "description": description, "inputSchema": {"type": "object"},
            }))
            .expect("a valid tool")
        };
        vec![
            tool("ping_client", "Pings the client; answers `pong`."),
            tool("roots", "Asks the client for its roots and returns them."),
            tool(
                "ask_then_cancel",
                "Sends the client an elicitation and withdraws it at once.",
            ),
            tool(
                "roots_changes",
                "How many roots/list_changed notifications arrived.",
            ),
            tool("ask_form", "Asks the client to fill in a form."),
            tool(
                "ask_url",
                "Sends the client to a URL; tells it when the interaction completed.",
            ),
            tool(
                "touch",
                "Tells the sessions subscribed to `uri` that it changed.",
            ),
            tool(
                "ask_raw",
                "Sends the client request `method` with `params`.",
            ),
            tool(
                "require_url",
                "Fails with -32042: the client must first open URL elicitation `id`.",
            ),
            tool(
                "complete",
                "Tells the client URL elicitation `id` completed.",
            ),
        ]
    }

    pub fn subscribe(&self, uri: &str, context: &RequestContext<RoleServer>) {
        self.lock()
            .insert((session_of(context), uri.to_string()), context.peer.clone());
    }

    pub fn unsubscribe(&self, uri: &str, context: &RequestContext<RoleServer>) {
        self.lock().remove(&(session_of(context), uri.to_string()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Peer<RoleServer>>> {
        self.subscriptions.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn elicit(
        &self,
        params: serde_json::Value,
        context: &RequestContext<RoleServer>,
    ) -> Result<serde_json::Value, String> {
        let params = serde_json::from_value(params).map_err(|e| e.to_string())?;
        let ask = ServerRequest::ElicitRequest(rmcp::model::ElicitRequest::new(params));
        match context.peer.send_request(ask).await {
            Ok(ClientResult::ElicitResult(result)) => {
                serde_json::to_value(result).map_err(|e| e.to_string())
            }
            Ok(other) => Err(format!("unexpected answer {other:?}")),
            Err(error) => Err(error.to_string()),
        }
    }

    /// The asking tools; `None` if `name` is not one of them.
    pub async fn call(
        &self,
        name: &str,
        arguments: Option<&JsonObject>,
        context: &RequestContext<RoleServer>,
    ) -> Option<Result<CallToolResult, ErrorData>> {
        let argument = |key: &str| {
            arguments
                .and_then(|a| a.get(key))
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        let text = match name {
            "ask_form" => {
                let params = json!({
                    "message": "Who are you?",
                    "requestedSchema": {"type": "object",
                        "properties": {"name": {"type": "string"}}},
                });
                match self.elicit(params, context).await {
                    Ok(result) => {
                        format!("action={} content={}", result["action"], result["content"])
                    }
                    Err(error) => format!("ask failed: {error}"),
                }
            }
            "ask_url" => {
                let id = argument("id");
                let params = json!({
                    "mode": "url", "message": "Sign in there.", "elicitationId": id,
                    "url": format!("https://example.com/verify/{id}"),
                });
                match self.elicit(params, context).await {
                    Ok(result) => {
                        if result["action"] == "accept" {
                            let complete = CustomNotification::new(
                                "notifications/elicitation/complete",
                                Some(json!({"elicitationId": id})),
                            );
                            let complete = ServerNotification::CustomNotification(complete);
                            if let Err(error) = context.peer.send_notification(complete).await {
                                return Some(Ok(CallToolResult::success(vec![
                                    ContentBlock::text(format!("complete failed: {error}")),
                                ])));
                            }
                        }
                        format!("action={}", result["action"])
                    }
                    Err(error) => format!("ask failed: {error}"),
                }
            }
            "ask_raw" => {
                let params = arguments.and_then(|a| a.get("params")).cloned();
                let ask =
                    ServerRequest::CustomRequest(CustomRequest::new(argument("method"), params));
                match context.peer.send_request(ask).await {
                    Ok(result) => serde_json::to_string(&result).unwrap_or_default(),
                    Err(error) => format!("ask failed: {error}"),
                }
            }
            "touch" => {
                let uri = argument("uri");
                let peers: Vec<Peer<RoleServer>> = self
                    .lock()
                    .iter()
                    .filter(|((_, subscribed), _)| *subscribed == uri)
                    .map(|(_, peer)| peer.clone())
                    .collect();
                for peer in &peers {
                    let _ = peer
                        .notify_resource_updated(ResourceUpdatedNotificationParam::new(uri.clone()))
                        .await;
                }
                format!("touched {}", peers.len())
            }
            "ping_client" => {
                let ping = ServerRequest::PingRequest(Default::default());
                match context.peer.send_request(ping).await {
                    Ok(_) => "pong".to_owned(),
                    Err(error) => format!("ping failed: {error}"),
                }
            }
            #[allow(deprecated)]
            "roots" => match context.peer.list_roots().await {
                Ok(result) => serde_json::to_string(&result.roots).unwrap_or_default(),
                Err(error) => format!("roots failed: {error}"),
            },
            "ask_then_cancel" => {
                let params = serde_json::from_value(json!({
                    "message": "Never mind.",
                    "requestedSchema": {"type": "object", "properties": {}},
                }))
                .expect("valid elicitation params");
                let ask = ServerRequest::ElicitRequest(rmcp::model::ElicitRequest::new(params));
                let sent = context
                    .peer
                    .send_cancellable_request(ask, PeerRequestOptions::no_options())
                    .await;
                match sent {
                    Ok(handle) => match handle.cancel(Some("changed my mind".into())).await {
                        Ok(()) => "withdrawn".to_owned(),
                        Err(error) => format!("cancel failed: {error}"),
                    },
                    Err(error) => format!("ask failed: {error}"),
                }
            }
            "roots_changes" => self.roots_changes.load(Ordering::SeqCst).to_string(),
            "require_url" => {
                let id = argument("id");
                let elicitation = json!({
                    "mode": "url", "elicitationId": id, "message": "Authorize first.",
                    "url": format!("https://example.com/authorize/{id}"),
                });
                return Some(Err(ErrorData::new(
                    rmcp::model::ErrorCode(-32042),
                    "This request requires more information.",
                    Some(json!({"elicitations": [elicitation]})),
                )));
            }
            "complete" => {
                let complete = CustomNotification::new(
                    "notifications/elicitation/complete",
                    Some(json!({"elicitationId": argument("id")})),
                );
                let complete = ServerNotification::CustomNotification(complete);
                match context.peer.send_notification(complete).await {
                    Ok(()) => "sent".to_owned(),
                    Err(error) => format!("complete failed: {error}"),
                }
            }
            _ => return None,
        };
        Some(Ok(CallToolResult::success(vec![ContentBlock::text(text)])))
    }
}
