//! Request handling of the fast backend without any HTTP plumbing, so it is testable directly.
//!
//! Sessions follow Streamable HTTP: `initialize` issues an `Mcp-Session-Id`, every later request
//! must carry a known one (400 without, 404 for an unknown or deleted one), DELETE ends it.
//! With [`App::with_progress_tool`] a `progress` tool answers as an event stream: the plan is
//! returned in [`Reply::progress`] and the HTTP layer sends the timed events.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Versions answered as asked; anything else is answered with the first (latest).
const SUPPORTED_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// What the HTTP layer sends back.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub session_id: Option<String>,
    pub body: Bytes,
    /// Set for a `progress` tool call: answer `text/event-stream` following this plan.
    pub progress: Option<Box<ProgressPlan>>,
}

/// The event stream answering one `progress` call: `events` `notifications/progress` events
/// `interval` apart (each stamped when sent), then the result.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressPlan {
    /// The request id, raw JSON.
    pub id: String,
    /// The caller's `_meta.progressToken`, raw JSON.
    pub token: String,
    pub events: u32,
    pub interval: Duration,
}

/// Name of the streaming tool enabled by [`App::with_progress_tool`].
pub const PROGRESS_TOOL: &str = "progress";
/// Upper bounds on a progress call's arguments, so one call cannot hold the backend for long.
const MAX_PROGRESS_EVENTS: u32 = 10_000;
const MAX_PROGRESS_INTERVAL_MS: u64 = 10_000;

impl Reply {
    fn json(status: StatusCode, body: String) -> Self {
        Reply {
            status,
            session_id: None,
            body: Bytes::from(body),
            progress: None,
        }
    }

    fn empty(status: StatusCode) -> Self {
        Reply {
            status,
            session_id: None,
            body: Bytes::new(),
            progress: None,
        }
    }
}

#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct CallParams<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    arguments: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "_meta")]
    meta: Option<CallMeta<'a>>,
}

#[derive(Deserialize)]
struct CallMeta<'a> {
    #[serde(borrow, default, rename = "progressToken")]
    progress_token: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ProgressArguments {
    #[serde(default = "default_progress_events")]
    events: u32,
    #[serde(default = "default_progress_interval_ms")]
    interval_ms: u64,
}

fn default_progress_events() -> u32 {
    10
}

fn default_progress_interval_ms() -> u64 {
    100
}

#[derive(Deserialize)]
struct InitializeParams<'a> {
    #[serde(borrow, rename = "protocolVersion")]
    protocol_version: Cow<'a, str>,
}

/// One backend: its tools and its open sessions.
pub struct App {
    server_name: String,
    tool_names: HashSet<String>,
    /// The whole `tools/list` result, serialized once.
    tools_list_result: String,
    sessions: Mutex<HashSet<String>>,
    progress_tool: bool,
    /// Answer requests as a one-event `text/event-stream`, as the SDK servers do by default.
    pub event_stream_answers: bool,
}

impl App {
    /// A backend named `server_name` with `tools` echo tools: `echo`, `tool_001`, `tool_002`, …
    pub fn new(server_name: &str, tools: usize) -> Self {
        let names: Vec<String> = (0..tools)
            .map(|i| {
                if i == 0 {
                    "echo".to_owned()
                } else {
                    format!("tool_{i:03}")
                }
            })
            .collect();
        let listed: Vec<serde_json::Value> = names
            .iter()
            .map(|name| {
                serde_json::json!({
                    "name": name,
                    "description": format!("Echoes its arguments back as text ({name})."),
                    "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}},
                    "annotations": {"readOnlyHint": true},
                })
            })
            .collect();
        let tools_list_result = serde_json::json!({ "tools": listed }).to_string();
        App {
            server_name: server_name.to_owned(),
            tool_names: names.into_iter().collect(),
            tools_list_result,
            sessions: Mutex::new(HashSet::new()),
            progress_tool: false,
            event_stream_answers: false,
        }
    }

    /// Also lists and answers the streaming `progress` tool (arguments `events`, `interval_ms`;
    /// the call must carry `_meta.progressToken`).
    pub fn with_progress_tool(mut self) -> Self {
        let mut list: serde_json::Value =
            serde_json::from_str(&self.tools_list_result).expect("built above");
        list["tools"]
            .as_array_mut()
            .expect("built above")
            .push(serde_json::json!({
                "name": PROGRESS_TOOL,
                "description": "Streams `events` progress notifications `interval_ms` apart, then a result.",
                "inputSchema": {"type": "object", "properties": {
                    "events": {"type": "integer"}, "interval_ms": {"type": "integer"}}},
            }));
        self.tools_list_result = list.to_string();
        self.progress_tool = true;
        self
    }

    /// Open sessions right now.
    pub fn session_count(&self) -> usize {
        self.sessions.lock().expect("never poisoned").len()
    }

    pub fn handle(
        &self,
        method: &Method,
        path: &str,
        session: Option<&[u8]>,
        body: &[u8],
    ) -> Reply {
        if path != "/mcp" {
            return Reply::empty(StatusCode::NOT_FOUND);
        }
        match *method {
            Method::POST => self.post(session, body),
            Method::DELETE => match self.check_session(session) {
                Ok(id) => {
                    self.sessions.lock().expect("never poisoned").remove(id);
                    Reply::empty(StatusCode::OK)
                }
                Err(reply) => reply,
            },
            _ => Reply::empty(StatusCode::METHOD_NOT_ALLOWED),
        }
    }

    fn post(&self, session: Option<&[u8]>, body: &[u8]) -> Reply {
        if body.first() == Some(&b'[') {
            return error_reply(
                StatusCode::BAD_REQUEST,
                "null",
                -32600,
                "batches are not supported",
            );
        }
        let Ok(message) = serde_json::from_slice::<Incoming<'_>>(body) else {
            return error_reply(StatusCode::BAD_REQUEST, "null", -32700, "parse error");
        };
        if message.method.as_deref() == Some("initialize") {
            return self.initialize(&message);
        }
        if let Err(reply) = self.check_session(session) {
            return reply;
        }
        let (Some(method), Some(id)) = (message.method.as_deref(), message.id) else {
            return Reply::empty(StatusCode::ACCEPTED); // a notification or a response
        };
        let id = id.get();
        match method {
            "ping" => result_reply(id, "{}"),
            "tools/list" => result_reply(id, &self.tools_list_result),
            "tools/call" => self.call(id, message.params),
            _ => error_reply(StatusCode::OK, id, -32601, "method not found"),
        }
    }

    fn initialize(&self, message: &Incoming<'_>) -> Reply {
        let Some(id) = message.id else {
            return error_reply(
                StatusCode::BAD_REQUEST,
                "null",
                -32600,
                "initialize needs an id",
            );
        };
        let asked = message
            .params
            .and_then(|p| serde_json::from_str::<InitializeParams<'_>>(p.get()).ok());
        let version = asked
            .as_ref()
            .and_then(|a| {
                SUPPORTED_VERSIONS
                    .iter()
                    .find(|v| **v == a.protocol_version)
            })
            .unwrap_or(&SUPPORTED_VERSIONS[0]);
        let session_id = format!("{:032x}", rand::random::<u128>());
        self.sessions
            .lock()
            .expect("never poisoned")
            .insert(session_id.clone());
        let name = serde_json::to_string(&self.server_name).expect("strings serialize");
        let result = format!(
            r#"{{"protocolVersion":"{version}","capabilities":{{"tools":{{"listChanged":false}}}},"serverInfo":{{"name":{name},"version":"{}"}}}}"#,
            env!("CARGO_PKG_VERSION")
        );
        let mut reply = result_reply(id.get(), &result);
        reply.session_id = Some(session_id);
        reply
    }

    fn check_session<'s>(&self, session: Option<&'s [u8]>) -> Result<&'s str, Reply> {
        let Some(session) = session else {
            return Err(error_reply(
                StatusCode::BAD_REQUEST,
                "null",
                -32600,
                "missing Mcp-Session-Id",
            ));
        };
        match std::str::from_utf8(session) {
            Ok(id) if self.sessions.lock().expect("never poisoned").contains(id) => Ok(id),
            _ => Err(error_reply(
                StatusCode::NOT_FOUND,
                "null",
                -32001,
                "session not found",
            )),
        }
    }

    fn call(&self, id: &str, params: Option<&RawValue>) -> Reply {
        let Some(call) = params.and_then(|p| serde_json::from_str::<CallParams<'_>>(p.get()).ok())
        else {
            return error_reply(StatusCode::OK, id, -32602, "tools/call needs params.name");
        };
        if self.progress_tool && call.name == PROGRESS_TOOL {
            return progress_call(id, &call);
        }
        if !self.tool_names.contains(call.name.as_ref()) {
            return error_reply(StatusCode::OK, id, -32602, "unknown tool");
        }
        let echoed = call.arguments.map_or("{}", RawValue::get);
        let text = serde_json::to_string(echoed).expect("strings serialize");
        result_reply(
            id,
            &format!(r#"{{"content":[{{"type":"text","text":{text}}}],"isError":false}}"#),
        )
    }
}

fn progress_call(id: &str, call: &CallParams<'_>) -> Reply {
    let Some(token) = call.meta.as_ref().and_then(|m| m.progress_token) else {
        return error_reply(
            StatusCode::OK,
            id,
            -32602,
            "the progress tool needs _meta.progressToken",
        );
    };
    let arguments = call.arguments.map_or("{}", RawValue::get);
    let Ok(args) = serde_json::from_str::<ProgressArguments>(arguments) else {
        return error_reply(
            StatusCode::OK,
            id,
            -32602,
            "progress arguments: events and interval_ms must be non-negative integers",
        );
    };
    if args.events > MAX_PROGRESS_EVENTS || args.interval_ms > MAX_PROGRESS_INTERVAL_MS {
        return error_reply(
            StatusCode::OK,
            id,
            -32602,
            "progress arguments: at most 10000 events and 10000 ms apart",
        );
    }
    let mut reply = Reply::empty(StatusCode::OK);
    reply.progress = Some(Box::new(ProgressPlan {
        id: id.to_owned(),
        token: token.get().to_owned(),
        events: args.events,
        interval: Duration::from_millis(args.interval_ms),
    }));
    reply
}

/// One `notifications/progress` message; `sent_ns` (CLOCK_MONOTONIC) goes in `message`.
pub fn progress_notification(token: &str, progress: u32, total: u32, sent_ns: u64) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","method":"notifications/progress","params":{{"progressToken":{token},"progress":{progress},"total":{total},"message":"sent_ns={sent_ns}"}}}}"#
    )
}

/// The final result of a progress call.
pub fn progress_result(id: &str, events: u32) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":"{events} progress events sent"}}],"isError":false}}}}"#
    )
}

fn result_reply(id: &str, result: &str) -> Reply {
    Reply::json(
        StatusCode::OK,
        format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#),
    )
}

fn error_reply(status: StatusCode, id: &str, code: i64, message: &str) -> Reply {
    Reply::json(
        status,
        format!(r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":{code},"message":"{message}"}}}}"#),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn post(app: &App, session: Option<&str>, body: &str) -> (StatusCode, Option<String>, Value) {
        let reply = app.handle(
            &Method::POST,
            "/mcp",
            session.map(str::as_bytes),
            body.as_bytes(),
        );
        let json = if reply.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&reply.body).unwrap()
        };
        (reply.status, reply.session_id, json)
    }

    fn open(app: &App) -> String {
        let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
        let (status, session, json) = post(app, None, init);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json["result"]["protocolVersion"], "2025-03-26");
        session.unwrap()
    }

    #[test]
    fn initialize_opens_a_session_and_calls_echo_on_it() {
        let app = App::new("fast", 3);
        let session = open(&app);
        let (status, _, _) = post(
            &app,
            Some(&session),
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        );
        assert_eq!(status, StatusCode::ACCEPTED);
        let call = r#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#;
        let (status, _, json) = post(&app, Some(&session), call);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json["id"], "a");
        assert_eq!(json["result"]["content"][0]["text"], r#"{"text":"hi"}"#);
        let (_, _, pong) = post(
            &app,
            Some(&session),
            r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#,
        );
        assert_eq!(pong["result"], serde_json::json!({}));
    }

    #[test]
    fn tools_list_has_the_requested_number_of_tools() {
        let app = App::new("fast", 50);
        let session = open(&app);
        let (_, _, json) = post(
            &app,
            Some(&session),
            r#"{"jsonrpc":"2.0","id":9,"method":"tools/list"}"#,
        );
        let tools = json["result"]["tools"].as_array().unwrap();
        assert_eq!(tools.len(), 50);
        assert_eq!(tools[0]["name"], "echo");
        assert_eq!(tools[49]["name"], "tool_049");
    }

    #[test]
    fn sessions_are_required_known_and_deletable() {
        let app = App::new("fast", 1);
        let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
        assert_eq!(post(&app, None, ping).0, StatusCode::BAD_REQUEST);
        assert_eq!(post(&app, Some("nope"), ping).0, StatusCode::NOT_FOUND);
        let session = open(&app);
        assert_eq!(app.session_count(), 1);
        let deleted = app.handle(&Method::DELETE, "/mcp", Some(session.as_bytes()), b"");
        assert_eq!(deleted.status, StatusCode::OK);
        assert_eq!(post(&app, Some(&session), ping).0, StatusCode::NOT_FOUND);
        assert_eq!(app.session_count(), 0);
    }

    #[test]
    fn client_mistakes_get_json_rpc_errors_not_crashes() {
        let app = App::new("fast", 1);
        let session = open(&app);
        assert_eq!(
            post(&app, Some(&session), "{oops").2["error"]["code"],
            -32700
        );
        assert_eq!(post(&app, Some(&session), "[]").2["error"]["code"], -32600);
        let unknown = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"nope"}}"#;
        assert_eq!(
            post(&app, Some(&session), unknown).2["error"]["code"],
            -32602
        );
        let method = r#"{"jsonrpc":"2.0","id":4,"method":"resources/list"}"#;
        assert_eq!(
            post(&app, Some(&session), method).2["error"]["code"],
            -32601
        );
        let get = app.handle(&Method::GET, "/mcp", Some(session.as_bytes()), b"");
        assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            app.handle(&Method::POST, "/other", None, b"{}").status,
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn the_progress_tool_is_opt_in_and_needs_a_token() {
        let plain = App::new("fast", 1);
        let session = open(&plain);
        let call = r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"progress","arguments":{"events":3,"interval_ms":7},"_meta":{"progressToken":"t-1"}}}"#;
        assert_eq!(
            post(&plain, Some(&session), call).2["error"]["code"],
            -32602
        );

        let app = App::new("fast", 1).with_progress_tool();
        let session = open(&app);
        let (_, _, list) = post(
            &app,
            Some(&session),
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        );
        assert_eq!(list["result"]["tools"][1]["name"], "progress");
        let reply = app.handle(
            &Method::POST,
            "/mcp",
            Some(session.as_bytes()),
            call.as_bytes(),
        );
        assert_eq!(
            reply.progress.map(|p| *p),
            Some(ProgressPlan {
                id: "5".into(),
                token: r#""t-1""#.into(),
                events: 3,
                interval: Duration::from_millis(7),
            })
        );
        let no_token =
            r#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"progress"}}"#;
        assert_eq!(
            post(&app, Some(&session), no_token).2["error"]["code"],
            -32602
        );
    }

    #[test]
    fn progress_messages_are_json_rpc_with_the_send_time() {
        let note: Value = serde_json::from_str(&progress_notification(r#""t""#, 2, 5, 42)).unwrap();
        assert_eq!(note["params"]["progressToken"], "t");
        assert_eq!(note["params"]["message"], "sent_ns=42");
        let result: Value = serde_json::from_str(&progress_result("7", 5)).unwrap();
        assert_eq!(result["id"], 7);
    }

    #[test]
    fn unsupported_versions_get_the_latest() {
        let app = App::new("fast", 1);
        let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"1999-01-01"}}"#;
        assert_eq!(
            post(&app, None, init).2["result"]["protocolVersion"],
            SUPPORTED_VERSIONS[0]
        );
    }
}
