//! MCP over Streamable HTTP on one HTTP/1.1 keep-alive connection (hyper 1 client connection).
//!
//! hyper's connection-level client is used rather than a pooled client so that one connection
//! is exactly one client, as a real MCP client holds it: no pool decides which socket a call
//! takes. A [`Connection`] can carry several [`Session`]s, which is how many sessions are held
//! open over few sockets.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, Uri};
use hyper_util::rt::TokioIo;
use serde_json::value::RawValue;
use thiserror::Error;
use tokio::net::TcpStream;

use crate::message::{self, ReplyError};

const SESSION_HEADER: &str = "mcp-session-id";
const PROTOCOL_HEADER: &str = "mcp-protocol-version";
/// The version the load generator asks for; every server this bench meets supports it.
pub const PROTOCOL_VERSION: &str = "2025-06-18";

/// Why an MCP exchange failed; [`ClientError::kind`] groups them for the failure counts.
#[derive(Debug, Error)]
pub enum ClientError {
    #[error("bad target: {0}")]
    Target(String),
    #[error("connect to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("HTTP transport: {0}")]
    Http(#[from] hyper::Error),
    #[error("HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error(transparent)]
    Reply(#[from] ReplyError),
}

/// The failure classes a load run counts separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    Transport,
    HttpStatus,
    JsonRpc,
    Malformed,
}

impl ClientError {
    pub fn kind(&self) -> FailureKind {
        match self {
            ClientError::Target(_) | ClientError::Connect { .. } | ClientError::Http(_) => {
                FailureKind::Transport
            }
            ClientError::Status { .. } => FailureKind::HttpStatus,
            ClientError::Reply(ReplyError::JsonRpc { .. }) => FailureKind::JsonRpc,
            ClientError::Reply(_) => FailureKind::Malformed,
        }
    }
}

/// Where requests go: a resolved address, the `/mcp` path and extra headers (e.g. bearer token).
#[derive(Debug)]
pub struct Target {
    addr: SocketAddr,
    authority: HeaderValue,
    path: String,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Target {
    /// Parses `http://host:port/path` and `Name: value` header strings.
    pub fn parse(url: &str, headers: &[String]) -> Result<Self, ClientError> {
        let uri: Uri = url
            .parse()
            .map_err(|e| ClientError::Target(format!("{url}: {e}")))?;
        if uri.scheme_str() != Some("http") {
            return Err(ClientError::Target(format!(
                "{url}: only http:// URLs are supported"
            )));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| ClientError::Target(format!("{url}: no host")))?;
        let port = authority.port_u16().unwrap_or(80);
        let addr = (authority.host(), port)
            .to_socket_addrs()
            .map_err(|e| ClientError::Target(format!("{url}: {e}")))?
            .next()
            .ok_or_else(|| ClientError::Target(format!("{url}: host has no address")))?;
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let headers = headers
            .iter()
            .map(|h| parse_header(h))
            .collect::<Result<_, _>>()?;
        let authority = HeaderValue::from_str(authority.as_str())
            .map_err(|e| ClientError::Target(format!("{url}: {e}")))?;
        Ok(Target {
            addr,
            authority,
            path,
            headers,
        })
    }
}

fn parse_header(header: &str) -> Result<(HeaderName, HeaderValue), ClientError> {
    let bad =
        |why: &str| ClientError::Target(format!("header {header:?}: {why}; use \"Name: value\""));
    let (name, value) = header.split_once(':').ok_or_else(|| bad("no colon"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad("bad name"))?;
    let value = HeaderValue::from_str(value.trim()).map_err(|_| bad("bad value"))?;
    Ok((name, value))
}

/// An MCP session negotiated by `initialize`: its id (if the server is stateful) and version.
#[derive(Debug, Clone)]
pub struct Session {
    id: Option<HeaderValue>,
    protocol: HeaderValue,
}

/// One keep-alive HTTP/1.1 connection, reopened when the server closed it.
pub struct Connection {
    target: Arc<Target>,
    sender: Option<SendRequest<Full<Bytes>>>,
    next_id: u64,
}

impl Connection {
    pub fn new(target: Arc<Target>) -> Self {
        Connection {
            target,
            sender: None,
            next_id: 1,
        }
    }

    async fn open(&mut self) -> Result<(), ClientError> {
        let addr = self.target.addr;
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| ClientError::Connect { addr, source })?;
        stream
            .set_nodelay(true)
            .map_err(|source| ClientError::Connect { addr, source })?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await; // ends when the peer closes; the next request reconnects
        });
        self.sender = Some(sender);
        Ok(())
    }

    /// Sends one POST; retries once on a fresh connection if a reused one turned out closed.
    async fn post(
        &mut self,
        session: Option<&Session>,
        body: Bytes,
    ) -> Result<(u16, String, Bytes, Option<HeaderValue>), ClientError> {
        let response = self.send(Method::POST, session, body).await?;
        let status = response.status().as_u16();
        let header = |name| response.headers().get(name).cloned();
        let content_type = header(CONTENT_TYPE.as_str())
            .and_then(|v| v.to_str().ok().map(str::to_owned))
            .unwrap_or_default();
        let session_id = header(SESSION_HEADER);
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, content_type, body, session_id))
    }

    /// Sends one request and returns as soon as the headers arrived, the body still streaming
    /// (progress events, a GET stream); retries once on a fresh connection as [`Self::post`].
    pub async fn send(
        &mut self,
        method: Method,
        session: Option<&Session>,
        body: Bytes,
    ) -> Result<Response<Incoming>, ClientError> {
        let mut reused = true;
        loop {
            if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
                self.open().await?;
                reused = false;
            }
            let request = self.build(method.clone(), session, body.clone());
            let sender = self.sender.as_mut().expect("opened above");
            let ready = sender.ready().await;
            let sent = match ready {
                Ok(()) => sender.send_request(request).await,
                Err(e) => Err(e),
            };
            return match sent {
                Ok(response) => Ok(response),
                Err(e)
                    if reused
                        && (e.is_closed() || e.is_canceled() || e.is_incomplete_message()) =>
                {
                    self.sender = None;
                    reused = false;
                    continue;
                }
                Err(e) => {
                    self.sender = None;
                    Err(e.into())
                }
            };
        }
    }

    /// A fresh request id on this connection.
    pub fn next_request_id(&mut self) -> u64 {
        self.take_id()
    }

    fn build(
        &self,
        method: Method,
        session: Option<&Session>,
        body: Bytes,
    ) -> Request<Full<Bytes>> {
        let get = method == Method::GET;
        let mut request = Request::builder()
            .method(method)
            .uri(self.target.path.as_str())
            .header(HOST, self.target.authority.clone());
        request = if get {
            request.header(ACCEPT, "text/event-stream")
        } else {
            request
                .header(CONTENT_TYPE, "application/json")
                .header(ACCEPT, "application/json, text/event-stream")
        };
        if let Some(session) = session {
            if let Some(id) = &session.id {
                request = request.header(SESSION_HEADER, id.clone());
            }
            request = request.header(PROTOCOL_HEADER, session.protocol.clone());
        }
        for (name, value) in &self.target.headers {
            request = request.header(name, value.clone());
        }
        request.body(Full::new(body)).expect("valid parts")
    }

    /// `initialize` then `notifications/initialized`: a new session ready for calls.
    pub async fn initialize(&mut self) -> Result<Session, ClientError> {
        let params = format!(
            r#"{{"protocolVersion":"{PROTOCOL_VERSION}","capabilities":{{}},"clientInfo":{{"name":"mcp-load","version":"{}"}}}}"#,
            env!("CARGO_PKG_VERSION")
        );
        let id = self.take_id();
        let (status, content_type, body, session_id) = self
            .post(None, request_body(id, "initialize", &params))
            .await?;
        let result = reply(status, &content_type, &body, id)?;
        let negotiated = negotiated_version(&result).unwrap_or_else(|| PROTOCOL_VERSION.to_owned());
        let protocol = HeaderValue::from_str(&negotiated)
            .map_err(|_| ReplyError::Malformed("protocolVersion is not a header value".into()))?;
        let session = Session {
            id: session_id,
            protocol,
        };
        let note = Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        let (status, _, body, _) = self.post(Some(&session), note).await?;
        ensure_success(status, &body)?;
        Ok(session)
    }

    /// One request on `session`; the reply's `result`, or the failure.
    pub async fn request(
        &mut self,
        session: &Session,
        method: &str,
        params: &str,
    ) -> Result<Box<RawValue>, ClientError> {
        let id = self.take_id();
        let (status, content_type, body, _) = self
            .post(Some(session), request_body(id, method, params))
            .await?;
        reply(status, &content_type, &body, id)
    }

    /// `tools/call` of `tool` with raw JSON `arguments`.
    pub async fn call_tool(
        &mut self,
        session: &Session,
        tool: &str,
        arguments: &str,
    ) -> Result<Box<RawValue>, ClientError> {
        let name = serde_json::to_string(tool).expect("strings serialize");
        self.request(
            session,
            "tools/call",
            &format!(r#"{{"name":{name},"arguments":{arguments}}}"#),
        )
        .await
    }

    /// Every tool name, following `nextCursor` across pages.
    pub async fn all_tool_names(&mut self, session: &Session) -> Result<Vec<String>, ClientError> {
        let mut names = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let result = self
                .request(session, "tools/list", &list_params(cursor.as_deref()))
                .await?;
            names.extend(message::tool_names(&result)?);
            cursor = message::tools_page(&result)?.1;
            if cursor.is_none() {
                return Ok(names);
            }
        }
    }

    /// A full `tools/list` across pages: (tools, pages).
    pub async fn list_tools(&mut self, session: &Session) -> Result<(usize, usize), ClientError> {
        let (mut tools, mut pages) = (0, 0);
        let mut cursor: Option<String> = None;
        loop {
            let id = self.take_id();
            let body = request_body(id, "tools/list", &list_params(cursor.as_deref()));
            let (status, content_type, body, _) = self.post(Some(session), body).await?;
            ensure_success(status, &body)?;
            let page: message::ToolsPage = message::parse_reply_as(&content_type, &body, id)?;
            let (count, next) = page.counted();
            tools += count;
            pages += 1;
            cursor = next;
            if cursor.is_none() {
                return Ok((tools, pages));
            }
        }
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }
}

fn list_params(cursor: Option<&str>) -> String {
    match cursor {
        Some(cursor) => format!(
            r#"{{"cursor":{}}}"#,
            serde_json::to_string(cursor).expect("strings serialize")
        ),
        None => "{}".to_owned(),
    }
}

pub fn request_body(id: u64, method: &str, params: &str) -> Bytes {
    let method = serde_json::to_string(method).expect("strings serialize");
    Bytes::from(format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":{method},"params":{params}}}"#
    ))
}

fn ensure_success(status: u16, body: &[u8]) -> Result<(), ClientError> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    Err(ClientError::Status { status, body: text })
}

fn reply(
    status: u16,
    content_type: &str,
    body: &[u8],
    id: u64,
) -> Result<Box<RawValue>, ClientError> {
    ensure_success(status, body)?;
    Ok(message::parse_reply(content_type, body, id)?)
}

fn negotiated_version(result: &RawValue) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Init {
        #[serde(rename = "protocolVersion")]
        protocol_version: String,
    }
    serde_json::from_str::<Init>(result.get())
        .ok()
        .map(|i| i.protocol_version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_host_port_path_and_headers() {
        let target = Target::parse(
            "http://127.0.0.1:8123/mcp",
            &["Authorization: Bearer abc".into()],
        )
        .unwrap();
        assert_eq!(target.addr, "127.0.0.1:8123".parse().unwrap());
        assert_eq!(target.path, "/mcp");
        assert_eq!(target.authority, "127.0.0.1:8123");
        assert_eq!(target.headers[0].0, "authorization");
        assert_eq!(target.headers[0].1, "Bearer abc");
    }

    #[test]
    fn targets_reject_https_and_headers_without_colon() {
        assert!(matches!(
            Target::parse("https://127.0.0.1/mcp", &[]),
            Err(ClientError::Target(_))
        ));
        assert!(matches!(
            Target::parse("http://127.0.0.1/mcp", &["Bearer".into()]),
            Err(ClientError::Target(_))
        ));
    }

    #[test]
    fn request_bodies_are_json_rpc() {
        let body = request_body(5, "tools/call", r#"{"name":"echo"}"#);
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["id"], 5);
        assert_eq!(value["method"], "tools/call");
        assert_eq!(value["params"]["name"], "echo");
        assert_eq!(list_params(Some("c\"1")), r#"{"cursor":"c\"1"}"#);
    }

    #[test]
    fn non_2xx_and_json_rpc_errors_are_failures_of_their_kind() {
        let status = reply(401, "application/json", b"{}", 1).unwrap_err();
        assert_eq!(status.kind(), FailureKind::HttpStatus);
        let rpc = br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"no tool"}}"#;
        assert_eq!(
            reply(200, "application/json", rpc, 1).unwrap_err().kind(),
            FailureKind::JsonRpc
        );
        assert_eq!(
            reply(200, "application/json", b"[", 1).unwrap_err().kind(),
            FailureKind::Malformed
        );
    }
}
