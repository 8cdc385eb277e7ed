//! Request handling of the fast backend without any HTTP plumbing, so it is testable directly.
//!
//! Sessions follow Streamable HTTP: `initialize` issues an `Mcp-Session-Id`, every later request
//! must carry a known one (400 without, 404 for an unknown or deleted one), DELETE ends it.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Mutex;

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
}

impl Reply {
    fn json(status: StatusCode, body: String) -> Self {
        Reply {
            status,
            session_id: None,
            body: Bytes::from(body),
        }
    }

    fn empty(status: StatusCode) -> Self {
        Reply {
            status,
            session_id: None,
            body: Bytes::new(),
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
        }
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
    fn unsupported_versions_get_the_latest() {
        let app = App::new("fast", 1);
        let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"1999-01-01"}}"#;
        assert_eq!(
            post(&app, None, init).2["result"]["protocolVersion"],
            SUPPORTED_VERSIONS[0]
        );
    }
}
