//! A raw MCP-over-HTTP client for tests that need to see (or break) the wire: headers, status
//! codes, batches, SSE bodies. Protocol-level tests use rmcp's real client instead.

use awc::http::header::HeaderMap;
use serde_json::{Value, json};

pub struct Raw {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Raw {
    /// The JSON-RPC messages in the body, parsed.
    pub fn messages(&self) -> Vec<Value> {
        self.messages_raw()
            .iter()
            .filter(|m| !m.is_empty())
            .map(|m| serde_json::from_str(m).unwrap_or_else(|e| panic!("{e}: {m}")))
            .collect()
    }

    /// The JSON-RPC messages exactly as sent (no parsing: to check bytes survive).
    pub fn messages_raw(&self) -> Vec<String> {
        let content_type = self
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if content_type.starts_with("text/event-stream") {
            self.body
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.trim().to_string())
                .filter(|d| !d.is_empty())
                .collect()
        } else {
            vec![self.body.clone()]
        }
    }

    /// The last message (the response, for a request).
    pub fn json(&self) -> Value {
        self.messages().pop().unwrap_or(Value::Null)
    }
}

pub struct McpClient {
    pub url: String,
    pub token: Option<String>,
    pub session: Option<String>,
    pub version: String,
    pub http: awc::Client,
}

impl McpClient {
    pub fn new(url: &str, token: Option<&str>) -> Self {
        McpClient {
            url: url.to_string(),
            token: token.map(str::to_string),
            session: None,
            version: "2025-06-18".into(),
            http: awc::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .finish(),
        }
    }

    /// POSTs `body` with the usual headers plus `extra` (a header with an empty value is removed).
    pub async fn post(&self, body: &str, extra: &[(&str, &str)]) -> Raw {
        let mut request = self
            .http
            .post(&self.url)
            .insert_header(("content-type", "application/json"))
            .insert_header(("accept", "application/json, text/event-stream"));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(session) = &self.session {
            request = request.insert_header(("mcp-session-id", session.as_str()));
            request = request.insert_header(("mcp-protocol-version", self.version.as_str()));
        }
        for (name, value) in extra {
            if value.is_empty() {
                request.headers_mut().remove(*name);
            } else {
                request = request.insert_header((*name, *value));
            }
        }
        let mut response = request
            .send_body(body.to_string())
            .await
            .expect("request failed");
        let bytes = response.body().limit(16 << 20).await.unwrap_or_default();
        Raw {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// `initialize` + `notifications/initialized`; keeps the session id.
    pub async fn initialize(&mut self, version: &str) -> Value {
        let body = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion": version, "capabilities": {}, "clientInfo": {"name":"raw-test","version":"1"}}});
        let reply = self.post(&body.to_string(), &[]).await;
        assert_eq!(reply.status, 200, "initialize failed: {}", reply.body);
        self.session = reply
            .headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        assert!(self.session.is_some(), "no Mcp-Session-Id");
        let result = reply.json()["result"].clone();
        self.version = result["protocolVersion"].as_str().unwrap().to_string();
        let note = self
            .post(
                r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
                &[],
            )
            .await;
        assert_eq!(note.status, 202);
        assert!(note.body.is_empty());
        result
    }

    /// A request; returns the final JSON-RPC message.
    pub async fn request(&self, id: u64, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc":"2.0","id":id,"method":method,"params":params});
        let reply = self.post(&body.to_string(), &[]).await;
        assert_eq!(reply.status, 200, "{method}: {}", reply.body);
        reply.json()
    }

    pub async fn delete(&self) -> u16 {
        let mut request = self.http.delete(&self.url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(session) = &self.session {
            request = request.insert_header(("mcp-session-id", session.as_str()));
        }
        request
            .send()
            .await
            .expect("delete failed")
            .status()
            .as_u16()
    }
}
