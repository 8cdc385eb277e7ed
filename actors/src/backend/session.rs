//! One live session with a backend: its transport plus the MCP handshake.
//!
//! `open` connects (or spawns), then `initialize` → `notifications/initialized` → every list
//! the server declares (every page). Requests and notifications go through [`Transport`], which hides whether the
//! backend is reached over HTTP or a child process.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::Notify;

use super::capabilities::{BackendCapabilities, DeclaredLists, ListKind, Lists, fetch_list};
use super::error::{BackendError, SUPPORTED_PROTOCOL_VERSIONS};
use super::http::{HttpTransport, ListenEnd};
use super::jsonrpc::{Response, encode};
use super::sse::SseTransport;
use super::status::now_ms;
use super::stdio::{StdioLink, StdioTransport};
use crate::spec::{BackendSpec, BackendTransport};

/// The version we offer; backends may answer with any of [`SUPPORTED_PROTOCOL_VERSIONS`].
pub const OFFERED_PROTOCOL_VERSION: &str = "2025-11-25";

pub(crate) enum Transport {
    Http {
        http: HttpTransport,
        next_id: Cell<u64>,
    },
    Stdio(StdioTransport),
    /// Legacy HTTP+SSE: the stream is opened by the first request.
    Sse(SseTransport),
}

/// What the handshake learned.
pub(crate) struct Handshake {
    pub capabilities: BackendCapabilities,
    pub declared: DeclaredLists,
}

impl Transport {
    /// Connects (HTTP: nothing to do until the first POST) or spawns (stdio). `lists_changed`
    /// is notified when the backend says one of its lists changed.
    pub fn open(
        spec: &BackendSpec,
        credential: &super::Credential,
        log: &slog::Logger,
        lists_changed: Rc<Notify>,
    ) -> Result<Self, BackendError> {
        match &spec.transport {
            BackendTransport::StreamableHttp { url } => Ok(Transport::Http {
                http: HttpTransport::new(
                    url.clone(),
                    spec,
                    credential.clone(),
                    log.clone(),
                    lists_changed,
                ),
                next_id: Cell::new(1),
            }),
            BackendTransport::Stdio { .. } => Ok(Transport::Stdio(StdioTransport::spawn(
                &spec.transport,
                spec.timeout,
                log,
                lists_changed,
                None,
            )?)),
            BackendTransport::Sse { url } => Ok(Transport::Sse(SseTransport::new(
                url.clone(),
                spec,
                credential.clone(),
                log.clone(),
                lists_changed,
            ))),
        }
    }

    /// The forwarding side of a stdio child (the request path's way in); `None` for HTTP.
    pub fn stdio_link(&self) -> Option<StdioLink> {
        match self {
            Transport::Http { .. } | Transport::Sse(_) => None,
            Transport::Stdio(stdio) => Some(stdio.link()),
        }
    }

    /// Listens for the backend's own messages outside any request (HTTP: the session's GET
    /// event stream; stdio: its stdout reader already does, so this never ends).
    pub async fn listen(&self) -> ListenEnd {
        match self {
            Transport::Http { http, .. } => http.listen().await,
            // stdio's stdout reader and the SSE stream's reader already listen.
            Transport::Stdio(_) | Transport::Sse(_) => std::future::pending().await,
        }
    }

    pub fn pid(&self) -> Option<u32> {
        match self {
            Transport::Http { .. } | Transport::Sse(_) => None,
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
            Transport::Sse(sse) => sse.request(method, params).await?,
        };
        Response::into_result(response)
    }

    pub async fn notify(&self, method: &str) -> Result<(), BackendError> {
        match self {
            Transport::Http { http, .. } => {
                http.post(encode(None, method, None), None).await.map(drop)
            }
            Transport::Stdio(stdio) => stdio.notify(method, None).await,
            Transport::Sse(sse) => sse.notify(method).await,
        }
    }

    /// Resolves when the transport can no longer carry messages (Streamable HTTP never does by
    /// itself; SSE when its event stream ends).
    pub async fn closed(&self) -> BackendError {
        match self {
            Transport::Http { .. } => std::future::pending().await,
            Transport::Stdio(stdio) => stdio.closed().await,
            Transport::Sse(sse) => sse.closed().await,
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

    /// Ends the session: DELETE for HTTP, stdin EOF then process-group kill for stdio, the
    /// event stream dropped for SSE.
    pub async fn close(&self, grace: Duration) {
        match self {
            Transport::Http { http, .. } => http.close().await,
            Transport::Stdio(stdio) => stdio.close(grace).await,
            Transport::Sse(sse) => sse.close(),
        }
    }

    /// `initialize` declaring `capabilities` (raw JSON), `notifications/initialized`, then every
    /// list the server declares.
    pub async fn handshake(&self, capabilities: &str) -> Result<Handshake, BackendError> {
        let params = format!(
            r#"{{"protocolVersion":"{OFFERED_PROTOCOL_VERSION}","capabilities":{capabilities},"clientInfo":{{"name":"authmcp-gateway","version":"{}"}}}}"#,
            env!("CARGO_PKG_VERSION")
        );
        let params =
            RawValue::from_string(params).map_err(|e| BackendError::Protocol(e.to_string()))?;
        let result = self.request("initialize", Some(&params)).await?;
        let init: InitializeResult<'_> = serde_json::from_str(result.get()).map_err(|_| {
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
        let empty_object = || RawValue::from_string("{}".into()).expect("valid JSON");
        let capabilities = init
            .capabilities
            .map_or_else(empty_object, ToOwned::to_owned);
        let declared = DeclaredLists::from_capabilities(&capabilities);
        let lists = self.fetch_lists(declared).await?;
        Ok(Handshake {
            capabilities: BackendCapabilities {
                protocol_version: init.protocol_version,
                server_info: init
                    .server_info
                    .map_or_else(empty_object, ToOwned::to_owned),
                capabilities,
                instructions: init.instructions,
                tools: lists.tools.into(),
                resources: lists.resources.into(),
                resource_templates: lists.resource_templates.into(),
                prompts: lists.prompts.into(),
                fetched_at_ms: now_ms(),
            },
            declared,
        })
    }

    /// Fetches every declared list, following cursors.
    pub async fn fetch_lists(&self, declared: DeclaredLists) -> Result<Lists, BackendError> {
        let mut lists = Lists::default();
        let request = |method: &'static str, params: Option<Box<RawValue>>| async move {
            self.request(method, params.as_deref()).await
        };
        if declared.tools {
            lists.tools = fetch_list(ListKind::Tools, request).await?;
        }
        if declared.resources {
            lists.resources = fetch_list(ListKind::Resources, request).await?;
            // Some servers serve resources without templates and answer "method not found".
            lists.resource_templates = match fetch_list(ListKind::ResourceTemplates, request).await
            {
                Err(BackendError::Rpc { code: -32601, .. }) => Vec::new(),
                other => other?,
            };
        }
        if declared.prompts {
            lists.prompts = fetch_list(ListKind::Prompts, request).await?;
        }
        Ok(lists)
    }
}

#[derive(Deserialize)]
struct InitializeResult<'a> {
    #[serde(rename = "protocolVersion")]
    protocol_version: String,
    #[serde(default, borrow)]
    capabilities: Option<&'a RawValue>,
    #[serde(default, borrow, rename = "serverInfo")]
    server_info: Option<&'a RawValue>,
    #[serde(default)]
    instructions: Option<String>,
}
