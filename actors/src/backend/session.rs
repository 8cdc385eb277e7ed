//! One live session with a backend: its transport plus the MCP handshake.
//!
//! `open` connects (or spawns), then `initialize` → `notifications/initialized` → `tools/list`
//! (every page). Requests and notifications go through [`Transport`], which hides whether the
//! backend is reached over HTTP or a child process.

use std::cell::Cell;
use std::time::Duration;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use super::error::{BackendError, SUPPORTED_PROTOCOL_VERSIONS};
use super::http::HttpTransport;
use super::jsonrpc::{Response, encode};
use super::status::ToolList;
use super::stdio::StdioTransport;
use crate::spec::{BackendSpec, BackendTransport};

/// The version we offer; backends may answer with any of [`SUPPORTED_PROTOCOL_VERSIONS`].
pub const OFFERED_PROTOCOL_VERSION: &str = "2025-11-25";
/// A backend that keeps handing out cursors is broken; stop rather than loop forever.
const MAX_TOOL_PAGES: usize = 1000;

pub(crate) enum Transport {
    Http {
        http: HttpTransport,
        next_id: Cell<u64>,
    },
    Stdio(StdioTransport),
}

/// What the handshake learned.
pub(crate) struct Handshake {
    pub protocol_version: String,
    pub tools: ToolList,
}

impl Transport {
    /// Connects (HTTP: nothing to do until the first POST) or spawns (stdio).
    pub fn open(spec: &BackendSpec, log: &slog::Logger) -> Result<Self, BackendError> {
        match &spec.transport {
            BackendTransport::StreamableHttp { url } => Ok(Transport::Http {
                http: HttpTransport::new(url.clone(), spec.timeout, log.clone())?,
                next_id: Cell::new(1),
            }),
            BackendTransport::Stdio { .. } => Ok(Transport::Stdio(StdioTransport::spawn(
                &spec.transport,
                spec.timeout,
                log,
            )?)),
            BackendTransport::Sse { .. } => Err(BackendError::SseUnsupported),
        }
    }

    pub fn pid(&self) -> Option<u32> {
        match self {
            Transport::Http { .. } => None,
            Transport::Stdio(stdio) => stdio.pid(),
        }
    }

    /// Sends a request and returns its `result` (a JSON-RPC error becomes `BackendError::Rpc`).
    pub async fn request(
        &self,
        method: &str,
        params: Option<&RawValue>,
    ) -> Result<Box<RawValue>, BackendError> {
        let response = match self {
            Transport::Http { http, next_id } => {
                let id = next_id.get();
                next_id.set(id + 1);
                http.post(encode(Some(id), method, params), Some(id))
                    .await?
                    .ok_or_else(|| BackendError::Protocol("no response arrived".into()))?
            }
            Transport::Stdio(stdio) => stdio.request(method, params).await?,
        };
        Response::into_result(response)
    }

    pub async fn notify(&self, method: &str) -> Result<(), BackendError> {
        match self {
            Transport::Http { http, .. } => {
                http.post(encode(None, method, None), None).await.map(drop)
            }
            Transport::Stdio(stdio) => stdio.notify(method, None).await,
        }
    }

    /// Resolves when the transport can no longer carry messages (HTTP never does by itself).
    pub async fn closed(&self) -> BackendError {
        match self {
            Transport::Http { .. } => std::future::pending().await,
            Transport::Stdio(stdio) => stdio.closed().await,
        }
    }

    /// Replaces a bare `Closed` (a write hit a dead pipe first) by why the process went away,
    /// once the reader has seen the end of its output.
    pub async fn explain(&self, error: BackendError) -> BackendError {
        match (self, &error) {
            (Transport::Stdio(stdio), BackendError::Closed) => {
                tokio::time::timeout(Duration::from_secs(1), stdio.closed())
                    .await
                    .unwrap_or(error)
            }
            _ => error,
        }
    }

    /// Ends the session: DELETE for HTTP, stdin EOF then process-group kill for stdio.
    pub async fn close(&self, grace: Duration) {
        match self {
            Transport::Http { http, .. } => http.close().await,
            Transport::Stdio(stdio) => stdio.close(grace).await,
        }
    }

    /// `initialize`, `notifications/initialized`, then the full tool list.
    pub async fn handshake(&self) -> Result<Handshake, BackendError> {
        let params = serde_json::json!({
            "protocolVersion": OFFERED_PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": { "name": "authmcp-gateway", "version": env!("CARGO_PKG_VERSION") },
        });
        let params = RawValue::from_string(params.to_string())
            .map_err(|e| BackendError::Protocol(e.to_string()))?;
        let result = self.request("initialize", Some(&params)).await?;
        let init: InitializeResult = serde_json::from_str(result.get()).map_err(|_| {
            BackendError::Protocol("the initialize result has no protocolVersion".into())
        })?;
        if !SUPPORTED_PROTOCOL_VERSIONS.contains(&init.protocol_version.as_str()) {
            let mut offered = init.protocol_version;
            offered.truncate(40);
            return Err(BackendError::UnsupportedVersion(offered));
        }
        if let Transport::Http { http, .. } = self {
            http.set_protocol_version(&init.protocol_version);
        }
        self.notify("notifications/initialized").await?;
        let has_tools = init.capabilities.is_some_and(|c| c.tools.is_some());
        let tools = if has_tools {
            self.list_tools().await?
        } else {
            Vec::new()
        };
        Ok(Handshake {
            protocol_version: init.protocol_version,
            tools: tools.into(),
        })
    }

    async fn list_tools(&self) -> Result<Vec<Box<RawValue>>, BackendError> {
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_TOOL_PAGES {
            let params = cursor
                .as_ref()
                .map(|c| serde_json::json!({ "cursor": c }).to_string())
                .map(RawValue::from_string)
                .transpose()
                .map_err(|e| BackendError::Protocol(e.to_string()))?;
            let result = self.request("tools/list", params.as_deref()).await?;
            let page: ToolsPage = serde_json::from_str(result.get()).map_err(|_| {
                BackendError::Protocol("the tools/list result has no tools array".into())
            })?;
            tools.extend(page.tools);
            match page.next_cursor {
                Some(next) if !next.is_empty() && cursor.as_deref() != Some(next.as_str()) => {
                    cursor = Some(next);
                }
                _ => return Ok(tools),
            }
        }
        Err(BackendError::Protocol(format!(
            "tools/list kept paginating past {MAX_TOOL_PAGES} pages"
        )))
    }
}

#[derive(Deserialize)]
struct InitializeResult {
    #[serde(rename = "protocolVersion")]
    protocol_version: String,
    #[serde(default)]
    capabilities: Option<ServerCapabilities>,
}

#[derive(Deserialize)]
struct ServerCapabilities {
    #[serde(default)]
    tools: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct ToolsPage {
    tools: Vec<Box<RawValue>>,
    #[serde(default, rename = "nextCursor")]
    next_cursor: Option<String>,
}
