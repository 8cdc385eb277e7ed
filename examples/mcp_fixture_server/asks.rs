//! `--asks`: tools that send the client requests of the server's own while they run, so the
//! gateway's relaying of server→client traffic can be tested over any transport.
//!
//! Tools: `ping_client` (pings the client; answers `pong`, or the error), `roots` (asks the
//! client for `roots/list`; answers the roots as JSON text), `ask_then_cancel` (sends an
//! `elicitation/create`, withdraws it at once with `notifications/cancelled`, answers
//! `withdrawn`) and `roots_changes` (how many `notifications/roots/list_changed` this session
//! received).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rmcp::model::{CallToolResult, ContentBlock, ServerRequest, Tool};
use rmcp::service::{PeerRequestOptions, RequestContext};
use rmcp::{ErrorData, RoleServer};
use serde_json::json;

#[derive(Default)]
pub struct Asks {
    /// `notifications/roots/list_changed` received (all sessions of this process).
    pub roots_changes: Arc<AtomicUsize>,
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
        ]
    }

    /// The asking tools; `None` if `name` is not one of them.
    pub async fn call(
        &self,
        name: &str,
        context: &RequestContext<RoleServer>,
    ) -> Option<Result<CallToolResult, ErrorData>> {
        let text = match name {
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
            _ => return None,
        };
        Some(Ok(CallToolResult::success(vec![ContentBlock::text(text)])))
    }
}
