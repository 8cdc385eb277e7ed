//! `initialize`: negotiate the version, open a session bound to the user, and advertise only the
//! capabilities the gateway actually serves for this scope.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actors::mcp::envelope::Envelope;
use actors::mcp::errors::result_response;
use actors::mcp::{ErrorCode, json, versions};
use actors::session::{NewSession, SessionError, SessionScope};
use serde_json::value::RawValue;

use super::reply::{self, SESSION_HEADER};
use crate::state::AppState;

pub async fn handle(
    state: &AppState,
    message: &Envelope<'_>,
    id: &RawValue,
    user_id: i64,
    scope: SessionScope,
) -> HttpResponse {
    let params = message.params;
    let member = |key| params.and_then(|p| json::member(p, key));
    let requested = member("protocolVersion").and_then(json::as_str);
    let version = versions::negotiate(requested.as_deref());
    let raw = |value: Option<&RawValue>, fallback: &str| {
        value
            .map(|v| v.to_owned())
            .unwrap_or_else(|| RawValue::from_string(fallback.to_string()).expect("valid JSON"))
    };
    let Some(gateway) = state.gateway.get() else {
        return reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            Some(id),
            ErrorCode::InternalError,
            "The gateway is starting; retry shortly.",
        );
    };
    let backends: Vec<String> = match &scope {
        SessionScope::Aggregate => gateway.statuses().into_iter().map(|s| s.name).collect(),
        SessionScope::Backend(name) => {
            if !gateway.statuses().iter().any(|s| &s.name == name) {
                return reply::error(
                    StatusCode::NOT_FOUND,
                    Some(id),
                    ErrorCode::InvalidParams,
                    &format!("No backend named `{name}` is configured."),
                );
            }
            vec![name.clone()]
        }
    };
    let new = NewSession {
        user_id,
        scope: scope.clone(),
        protocol_version: version,
        client_capabilities: raw(member("capabilities"), "{}"),
        client_info: raw(member("clientInfo"), "{}"),
    };
    let session = match state.mcp.sessions.create(new).await {
        Ok(session) => session,
        Err(e @ (SessionError::UserLimit(_) | SessionError::TotalLimit(_))) => {
            return reply::error(
                StatusCode::SERVICE_UNAVAILABLE,
                Some(id),
                ErrorCode::InternalError,
                &e.to_string(),
            );
        }
        Err(e) => {
            return reply::error(
                StatusCode::SERVICE_UNAVAILABLE,
                Some(id),
                ErrorCode::InternalError,
                &e.to_string(),
            );
        }
    };

    let mut serves = Served::default();
    let mut instructions = Vec::new();
    for name in &backends {
        if let Some(caps) = gateway.capabilities(name) {
            serves.add(&caps.capabilities);
            if let Some(text) = &caps.instructions {
                instructions.push(match scope {
                    SessionScope::Aggregate => format!("[{name}] {text}"),
                    SessionScope::Backend(_) => text.clone(),
                });
            }
        }
    }
    let mut result = serde_json::json!({
        "protocolVersion": version,
        "capabilities": serves.render(),
        "serverInfo": {
            "name": "authmcp-gateway",
            "title": match &scope {
                SessionScope::Aggregate => "AuthMCP Gateway".to_string(),
                SessionScope::Backend(name) => format!("AuthMCP Gateway: {name}"),
            },
            "version": env!("CARGO_PKG_VERSION"),
        },
    });
    if !instructions.is_empty() {
        result["instructions"] = serde_json::Value::String(instructions.join("\n\n"));
    }
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((SESSION_HEADER, session.id.to_string()))
        .body(result_response(id, &result.to_string()))
}

/// Which server capabilities at least one backend offers and the gateway relays.
#[derive(Default)]
struct Served {
    prompts: bool,
    resources: bool,
    subscribe: bool,
    completions: bool,
    logging: bool,
    tasks: TasksServed,
}

/// The 2025-11-25 `tasks` capability: which parts at least one backend offers.
#[derive(Default)]
struct TasksServed {
    list: bool,
    cancel: bool,
    tool_calls: bool,
}

impl Served {
    fn add(&mut self, capabilities: &RawValue) {
        let has = |key| json::member(capabilities, key).is_some_and(|v| v.get() != "null");
        self.prompts |= has("prompts");
        self.resources |= has("resources");
        self.subscribe |= json::member(capabilities, "resources")
            .and_then(|r| json::member(r, "subscribe"))
            .is_some_and(|v| v.get() == "true");
        self.completions |= has("completions");
        self.logging |= has("logging");
        if let Some(tasks) = json::member(capabilities, "tasks").filter(|t| t.get() != "null") {
            let has = |key| json::member(tasks, key).is_some_and(|v| v.get() != "null");
            self.tasks.list |= has("list");
            self.tasks.cancel |= has("cancel");
            self.tasks.tool_calls |= json::member(tasks, "requests")
                .and_then(|r| json::member(r, "tools"))
                .and_then(|t| json::member(t, "call"))
                .is_some_and(|v| v.get() != "null");
        }
    }

    /// Tools always (the list may be empty). The gateway tells clients on their GET stream when
    /// an aggregated list changes (`listChanged`); subscriptions are forwarded to the owning
    /// backend and its updates relayed (`subscribe`, when a backend offers it).
    fn render(&self) -> serde_json::Value {
        let mut caps = serde_json::json!({ "tools": { "listChanged": true } });
        if self.prompts {
            caps["prompts"] = serde_json::json!({ "listChanged": true });
        }
        if self.resources {
            caps["resources"] =
                serde_json::json!({ "listChanged": true, "subscribe": self.subscribe });
        }
        if self.completions {
            caps["completions"] = serde_json::json!({});
        }
        // Log messages come only from backends (the gateway relays their
        // `notifications/message` and sends `logging/setLevel` on to them), so logging is
        // declared when one of them declares it. `logging/setLevel` itself is answered in every
        // case: a client that sends it anyway is not refused.
        if self.logging {
            caps["logging"] = serde_json::json!({});
        }
        // Tasks are relayed to the backend that created them (`tasks.rs`).
        let tasks = &self.tasks;
        if tasks.list || tasks.cancel || tasks.tool_calls {
            let mut served = serde_json::json!({});
            if tasks.list {
                served["list"] = serde_json::json!({});
            }
            if tasks.cancel {
                served["cancel"] = serde_json::json!({});
            }
            if tasks.tool_calls {
                served["requests"] = serde_json::json!({ "tools": { "call": {} } });
            }
            caps["tasks"] = served;
        }
        caps
    }
}
