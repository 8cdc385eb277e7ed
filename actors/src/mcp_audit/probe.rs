//! The scanner's HTTP exchanges with the server under test, made the way a spec-compliant client
//! makes them (`Accept: application/json, text/event-stream`, `MCP-Protocol-Version`): a server
//! that refuses the scanner then refuses real clients too, which is a finding, not noise.

use bytes::Bytes;
use serde_json::Value;

use super::{ScanError, ScanTarget};

/// The protocol version the scanner offers (widely implemented; the server may answer another).
pub const PROTOCOL_VERSION: &str = "2025-06-18";
/// How much of an answer is read: enough for any metadata document or error.
const MAX_ANSWER: usize = 4 * 1024 * 1024;

pub struct Probe {
    client: awc::Client,
    pub url: url::Url,
}

#[derive(Debug)]
pub struct ProbeError {
    pub url: String,
    pub reason: String,
}

/// What a request carries besides its body.
#[derive(Clone, Copy, Default)]
pub struct Send<'a> {
    pub bearer: Option<&'a str>,
    pub session: Option<&'a str>,
    pub origin: Option<&'a str>,
    /// Appended to the URL as `?access_token=…` (to see whether the server takes it from there).
    pub query_token: Option<&'a str>,
    pub protocol_version: Option<&'a str>,
}

/// One answer: status, the headers the checks read, the body, and the JSON-RPC response in it
/// (from a JSON body or the first response event of an SSE stream).
#[derive(Debug, Clone)]
pub struct Exchange {
    pub status: u16,
    pub www_authenticate: Option<String>,
    pub session_id: Option<String>,
    pub body: String,
    pub message: Option<Value>,
}

impl Exchange {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn result(&self) -> Option<&Value> {
        self.message.as_ref().and_then(|m| m.get("result"))
    }

    /// The server processed the request: a 2xx carrying a JSON-RPC result or error (an error
    /// such as "unknown tool" still means the request was accepted and handled).
    pub fn was_handled(&self) -> bool {
        self.is_success()
            && self
                .message
                .as_ref()
                .is_some_and(|m| m.get("result").is_some() || m.get("error").is_some())
    }
}

impl Probe {
    pub fn new(target: &ScanTarget) -> Result<Self, ScanError> {
        if !matches!(target.url.scheme(), "http" | "https") {
            return Err(ScanError::Scheme(target.url.scheme().to_string()));
        }
        let client = awc::Client::builder()
            .timeout(target.timeout)
            // A redirect could lead the scan anywhere; report what the URL itself does.
            .disable_redirects()
            .add_default_header((
                "User-Agent",
                concat!("authmcp-gateway-scan/", env!("CARGO_PKG_VERSION")),
            ))
            .finish();
        Ok(Probe {
            client,
            url: target.url.clone(),
        })
    }

    /// POSTs one JSON-RPC body (or anything else: the input checks send malformed bodies).
    pub async fn post(
        &self,
        body: impl Into<Bytes>,
        send: Send<'_>,
    ) -> Result<Exchange, ProbeError> {
        let mut url = self.url.clone();
        if let Some(token) = send.query_token {
            url.query_pairs_mut().append_pair("access_token", token);
        }
        let mut request = self
            .client
            .post(url.as_str())
            .insert_header(("Content-Type", "application/json"))
            .insert_header(("Accept", "application/json, text/event-stream"));
        request = with_common(request, send);
        let response = request.send_body(body.into()).await;
        self.read(response).await
    }

    /// DELETE of a session (client-initiated termination).
    pub async fn delete(&self, send: Send<'_>) -> Result<Exchange, ProbeError> {
        let request = with_common(self.client.delete(self.url.as_str()), send);
        self.read(request.send().await).await
    }

    /// GET of a JSON document (metadata); `None` for anything but a 200 with a JSON object.
    pub async fn get_json(&self, url: &str) -> Result<Option<Value>, ProbeError> {
        let response = self
            .client
            .get(url)
            .insert_header(("Accept", "application/json"))
            .send()
            .await;
        let exchange = self.read(response).await?;
        Ok((exchange.status == 200)
            .then(|| serde_json::from_str::<Value>(&exchange.body).ok())
            .flatten()
            .filter(Value::is_object))
    }

    async fn read<S>(
        &self,
        response: Result<awc::ClientResponse<S>, awc::error::SendRequestError>,
    ) -> Result<Exchange, ProbeError>
    where
        S: futures_util::Stream<Item = Result<Bytes, awc::error::PayloadError>> + Unpin,
    {
        let mut response = response.map_err(|e| self.error(e))?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let status = response.status().as_u16();
        let www_authenticate = header("www-authenticate");
        let session_id = header("mcp-session-id");
        let is_sse = header("content-type").is_some_and(|t| t.starts_with("text/event-stream"));
        let body = response
            .body()
            .limit(MAX_ANSWER)
            .await
            .map_err(|e| self.error(e))?;
        let body = String::from_utf8_lossy(&body).into_owned();
        let message = if is_sse {
            first_response_event(&body)
        } else {
            serde_json::from_str(&body).ok()
        };
        Ok(Exchange {
            status,
            www_authenticate,
            session_id,
            body,
            message,
        })
    }

    fn error(&self, error: impl std::fmt::Display) -> ProbeError {
        ProbeError {
            url: self.url.to_string(),
            reason: error.to_string(),
        }
    }
}

fn with_common(mut request: awc::ClientRequest, send: Send<'_>) -> awc::ClientRequest {
    if let Some(token) = send.bearer {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    if let Some(session) = send.session {
        request = request.insert_header(("Mcp-Session-Id", session));
    }
    if let Some(origin) = send.origin {
        request = request.insert_header(("Origin", origin));
    }
    if let Some(version) = send.protocol_version {
        request = request.insert_header(("MCP-Protocol-Version", version));
    }
    request
}

/// The first JSON-RPC response (a message with an `id` and a `result` or `error`) in an SSE body.
pub fn first_response_event(body: &str) -> Option<Value> {
    let mut data = String::new();
    for line in body.lines().chain(std::iter::once("")) {
        if let Some(rest) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(rest.strip_prefix(' ').unwrap_or(rest));
        } else if line.is_empty() && !data.is_empty() {
            if let Ok(message) = serde_json::from_str::<Value>(&data)
                && message.get("id").is_some()
                && (message.get("result").is_some() || message.get("error").is_some())
            {
                return Some(message);
            }
            data.clear();
        }
    }
    None
}

/// A JSON-RPC request body.
pub fn request(id: u64, method: &str, params: Value) -> Bytes {
    Bytes::from(
        serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
            .to_string(),
    )
}

/// The scanner's `initialize`.
pub fn initialize(id: u64) -> Bytes {
    request(
        id,
        "initialize",
        serde_json::json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "authmcp-gateway-scan", "version": env!("CARGO_PKG_VERSION")},
        }),
    )
}

/// An established session the authenticated checks use.
#[derive(Debug, Clone)]
pub struct Session {
    pub bearer: Option<String>,
    pub id: Option<String>,
    pub protocol_version: String,
}

impl Session {
    pub fn send(&self) -> Send<'_> {
        Send {
            bearer: self.bearer.as_deref(),
            session: self.id.as_deref(),
            protocol_version: Some(&self.protocol_version),
            ..Send::default()
        }
    }
}

/// Initializes a session (and sends `notifications/initialized`); `None` if the server refused.
pub async fn open_session(
    probe: &Probe,
    bearer: Option<&str>,
) -> Result<Option<(Session, Exchange)>, ProbeError> {
    let answer = probe
        .post(
            initialize(1),
            Send {
                bearer,
                ..Send::default()
            },
        )
        .await?;
    let Some(result) = answer.result() else {
        return Ok(None);
    };
    let version = result
        .get("protocolVersion")
        .and_then(Value::as_str)
        .unwrap_or(PROTOCOL_VERSION)
        .to_string();
    let session = Session {
        bearer: bearer.map(str::to_string),
        id: answer.session_id.clone(),
        protocol_version: version,
    };
    let initialized =
        Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    probe.post(initialized, session.send()).await?;
    Ok(Some((session, answer)))
}
