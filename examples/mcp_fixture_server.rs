//! A real MCP server (rmcp) for the gateway's tests: the backend the gateway fronts.
//!
//! ```text
//! mcp_fixture_server stdio [--tools N] [--page-size N] [--banner] [--rich] [--pid] [--asks] [--echo-description TEXT]
//! mcp_fixture_server http  [--port N] [--tools N] [--page-size N] [--rich] [--json-response] [--tasks] [--gates] [--asks]
//! mcp_fixture_server sse   [--port N] [--tools N] [--page-size N] [--rich] [--endpoint-base URL]
//! ```
//! Tools: `echo` (returns `text`), `add` (`a` + `b`), `slow` (sleeps `ms`), then `extra_4` …
//! up to `--tools N` in all (env `FIXTURE_TOOLS`), so tests can tell backends apart.
//! `--rich` adds what the proxy tests need (see `rich.rs` below this file's `Fixture`): tools
//! `big` (a result with 12345678901234567890 and keys out of order; its schema carries an
//! unknown `x-custom` field), `chatty` (sends progress, given a `progressToken`, before answering, so the answer is
//! an SSE stream of several events), `headers` (reports the auth headers it received) and
//! `grow` (adds a tool and sends `tools/list_changed` to every session); resources
//! `fixture://static` and template `fixture://item/{id}`; prompt `greet` (argument `name`) with
//! completion. `--json-response` serves stateless and answers plain `application/json` when
//! a handler sends nothing before its result.
//! `--tasks` (HTTP mode) serves MCP 2025-11-25 tasks (see `tasks.rs` next to this file).
//! `--gates` (HTTP mode) adds tools that wait on signals the test sends (see `gates.rs`).
//! `--asks` adds tools that send the client requests of their own: ping, roots, a withdrawn
//! elicitation, form and URL elicitations, and resource updates to subscribed sessions (see
//! `asks.rs`; with `--rich` the server then declares `resources.subscribe`).
//! `--pid` adds tool `pid`: this process's id and the `clientInfo` name and capabilities it was
//! initialized with (to tell per-session children apart).
//! `--page-size` makes `tools/list` paginate. `--banner` prints a non-JSON line on stdout and
//! one on stderr before serving, as some real servers do. HTTP mode serves Streamable HTTP at
//! `127.0.0.1:N/mcp` and prints exactly `LISTENING <port>` once bound. SSE mode serves the
//! legacy HTTP+SSE transport (`GET /sse`, `POST /messages`; see `legacy_sse.rs`) the same way;
//! `--endpoint-base` makes its `endpoint` event point elsewhere. Every mode exits when stdin
//! closes, so a test that dies leaves no server behind.

#[path = "shared/lifecycle.rs"]
mod lifecycle;
#[path = "shared/serve.rs"]
mod serve;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams, CompleteResult,
    ContentBlock, GetPromptRequestParams, GetPromptResponse, InitializeRequestParams,
    InitializeResult, JsonObject, ListPromptsResult, ListResourceTemplatesResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ServerCapabilities, ServerConfig, SubscribeRequestParams, Tool,
    UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, Peer, RequestContext};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::json;

#[path = "mcp_fixture_server/asks.rs"]
mod asks;
#[path = "mcp_fixture_server/gates.rs"]
mod gates;
#[path = "mcp_fixture_server/legacy_sse.rs"]
mod legacy_sse;
#[path = "mcp_fixture_server/tasks.rs"]
mod tasks;

#[derive(Clone)]
struct Fixture {
    /// Shared by every session (HTTP makes one `Fixture` clone per session), so `grow` changes
    /// what all of them list.
    tools: Arc<Mutex<Vec<Tool>>>,
    page_size: usize,
    rich: bool,
    /// Serves the `pid` tool.
    pid: bool,
    /// Every initialised session, to broadcast `list_changed`.
    peers: Arc<Mutex<Vec<Peer<RoleServer>>>>,
    /// `--gates`: tools (and an `initialize`) that wait on the test's signals.
    gates: Option<Arc<gates::Gates>>,
    /// `--asks`: tools that send the client requests.
    asks: Option<Arc<asks::Asks>>,
}

/// Builds an rmcp model value from JSON (its structs are `non_exhaustive`).
fn model<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("fixture JSON matches the rmcp model")
}

fn rich_tools() -> Vec<Tool> {
    vec![
        model(json!({
            "name": "big",
            "description": "Returns a big integer and keys out of order.",
            "inputSchema": {"type": "object", "x-custom": {"b": 1, "a": 2}, "properties": {}},
        })),
        model(json!({
            "name": "chatty",
            "description": "Sends a progress notification (given a progressToken), then answers.",
            "inputSchema": {"type": "object"},
        })),
        model(json!({
            "name": "headers",
            "description": "Reports the Authorization, X-Api-Key and X-Tenant headers it received.",
            "inputSchema": {"type": "object"},
        })),
        model(json!({
            "name": "args",
            "description": "Returns the arguments it received (idempotent: safe to repeat).",
            "inputSchema": {"type": "object"},
            "annotations": {"idempotentHint": true, "destructiveHint": false},
        })),
        model(json!({
            "name": "grow",
            "description": "Adds a tool and tells every session that the list changed.",
            "inputSchema": {"type": "object"},
        })),
    ]
}

impl Fixture {
    fn new(count: usize, page_size: usize, rich: bool) -> Self {
        let schema = |value: serde_json::Value| -> Arc<JsonObject> {
            Arc::new(value.as_object().cloned().unwrap_or_default())
        };
        let mut tools = vec![
            Tool::new(
                "echo",
                "Returns its text argument.",
                schema(
                    json!({"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}),
                ),
            ),
            Tool::new(
                "add",
                "Adds two integers.",
                schema(
                    json!({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"}},"required":["a","b"]}),
                ),
            ),
            Tool::new(
                "slow",
                "Sleeps for ms milliseconds, then answers.",
                schema(
                    json!({"type":"object","properties":{"ms":{"type":"integer"}},"required":["ms"]}),
                ),
            ),
        ];
        tools.truncate(count);
        for n in tools.len() + 1..=count {
            tools.push(Tool::new(
                format!("extra_{n}"),
                "Returns its own name.",
                schema(json!({"type":"object"})),
            ));
        }
        if rich {
            tools.extend(rich_tools());
        }
        Fixture {
            tools: Arc::new(Mutex::new(tools)),
            page_size,
            rich,
            pid: false,
            peers: Arc::default(),
            gates: None,
            asks: None,
        }
    }

    fn tools(&self) -> Vec<Tool> {
        self.tools.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn rich_only<T>(&self, value: T) -> Result<T, ErrorData> {
        if self.rich {
            Ok(value)
        } else {
            Err(ErrorData::method_not_found::<
                rmcp::model::ListResourcesRequestMethod,
            >())
        }
    }

    /// The rich tools; `None` if `name` is not one of them.
    async fn call_rich(
        &self,
        name: &str,
        arguments: Option<&JsonObject>,
        context: &RequestContext<RoleServer>,
    ) -> Option<Result<CallToolResult, ErrorData>> {
        let result = match name {
            "big" => model(json!({
                "content": [{"type": "text", "text": "12345678901234567890"}],
                "structuredContent": {"big": 12345678901234567890u64, "z": 1, "a": 2},
            })),
            "chatty" => {
                // Progress needs the caller's token; without one there is nothing to send.
                if let Some(token) = context.meta.get_progress_token() {
                    let note = model(json!({"progressToken": token, "progress": 1, "total": 2,
                        "message": "working"}));
                    if let Err(error) = context.peer.notify_progress(note).await {
                        return Some(Err(ErrorData::internal_error(error.to_string(), None)));
                    }
                }
                CallToolResult::success(vec![ContentBlock::text("done")])
            }
            "args" => model(json!({
                "content": [{"type": "text", "text": "args"}],
                "structuredContent": {"arguments": arguments},
            })),
            "headers" => {
                let parts = context.extensions.get::<axum::http::request::Parts>();
                let header = |name: &str| {
                    parts
                        .and_then(|p| p.headers.get(name))
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                model(json!({
                    "content": [{"type": "text", "text": "headers"}],
                    "structuredContent": {
                        "authorization": header("authorization"),
                        "x-api-key": header("x-api-key"),
                        "x-tenant": header("x-tenant"),
                    },
                }))
            }
            "grow" => {
                let count = {
                    let mut tools = self.tools.lock().unwrap_or_else(|p| p.into_inner());
                    let name = format!("grown_{}", tools.len() + 1);
                    tools.push(model(
                        json!({"name": name, "inputSchema": {"type": "object"}}),
                    ));
                    tools.len()
                };
                let peers = self.peers.lock().unwrap_or_else(|p| p.into_inner()).clone();
                for peer in peers {
                    let _ = peer.notify_tool_list_changed().await;
                }
                CallToolResult::success(vec![ContentBlock::text(count.to_string())])
            }
            _ => return None,
        };
        Some(Ok(result))
    }
}

impl ServerHandler for Fixture {
    fn get_info(&self) -> ServerConfig {
        if !self.rich {
            return ServerConfig::new(ServerCapabilities::builder().enable_tools().build());
        }
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .enable_resources()
            .enable_prompts()
            .enable_completions();
        let capabilities = if self.asks.is_some() {
            capabilities.enable_resources_subscribe().build()
        } else {
            capabilities.build()
        };
        ServerConfig::new(capabilities)
    }

    // Legacy-era subscriptions are what the gateway relays (rmcp 3.11 marks them deprecated).
    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        match &self.asks {
            Some(asks) => {
                asks.subscribe(&request.uri, &context);
                Ok(())
            }
            None => Err(ErrorData::method_not_found::<
                rmcp::model::SubscribeRequestMethod,
            >()),
        }
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        match &self.asks {
            Some(asks) => {
                asks.unsubscribe(&request.uri, &context);
                Ok(())
            }
            None => Err(ErrorData::method_not_found::<
                rmcp::model::UnsubscribeRequestMethod,
            >()),
        }
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        if let Some(gates) = &self.gates
            && request.client_info.name == "hold-open"
        {
            gates.wait("open").await;
        }
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    async fn on_roots_list_changed(&self, _context: NotificationContext<RoleServer>) {
        if let Some(asks) = &self.asks {
            asks.roots_changes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        self.peers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(context.peer);
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        self.rich_only(model(json!({"resources": [
            {"uri": "fixture://static", "name": "static", "mimeType": "text/plain"}
        ]})))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        self.rich_only(model(json!({"resourceTemplates": [
            {"uriTemplate": "fixture://item/{id}", "name": "item", "mimeType": "text/plain"}
        ]})))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let text = match request.uri.as_str() {
            "fixture://static" => "static text".to_owned(),
            uri => match uri.strip_prefix("fixture://item/") {
                Some(id) => format!("item {id}"),
                None => {
                    return Err(ErrorData::resource_not_found(
                        format!("no resource `{uri}`"),
                        None,
                    ));
                }
            },
        };
        let result: rmcp::model::ReadResourceResult = model(json!({"contents": [
            {"uri": request.uri, "mimeType": "text/plain", "text": text}
        ]}));
        self.rich_only(result.into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        self.rich_only(model(json!({"prompts": [{
            "name": "greet",
            "description": "Greets someone.",
            "arguments": [{"name": "name", "description": "Who to greet.", "required": true}],
        }]})))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        if request.name != "greet" {
            return Err(ErrorData::invalid_params(
                format!("no prompt `{}`", request.name),
                None,
            ));
        }
        let name = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("name"))
            .and_then(|v| v.as_str())
            .unwrap_or("world")
            .to_owned();
        let result: rmcp::model::GetPromptResult = model(json!({"messages": [
            {"role": "user", "content": {"type": "text", "text": format!("Hello, {name}!")}}
        ]}));
        self.rich_only(result.into())
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let names = ["alice", "albert", "bob"];
        let prefix = request.argument.value;
        let values: Vec<&str> = names
            .into_iter()
            .filter(|n| n.starts_with(&prefix))
            .collect();
        self.rich_only(model(json!({"completion": {
            "values": values, "total": values.len(), "hasMore": false
        }})))
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let tools = self.tools();
        if self.page_size == 0 {
            return Ok(ListToolsResult::with_all_items(tools));
        }
        let start = match request.and_then(|r| r.cursor) {
            Some(cursor) => cursor
                .parse::<usize>()
                .map_err(|_| ErrorData::invalid_params("unknown cursor", None))?,
            None => 0,
        };
        let end = (start + self.page_size).min(tools.len());
        let mut page = ListToolsResult::with_all_items(tools[start.min(end)..end].to_vec());
        if end < tools.len() {
            page.next_cursor = Some(end.to_string());
        }
        Ok(page)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if self.pid && request.name == "pid" {
            let client = context.peer.peer_info();
            let result: CallToolResult = model(json!({
                "content": [{"type": "text", "text": std::process::id().to_string()}],
                "structuredContent": {
                    "pid": std::process::id(),
                    "client": client.as_ref().map(|c| c.client_info.name.clone()),
                    "capabilities": client.as_ref().map(|c| &c.capabilities),
                },
            }));
            return Ok(result.into());
        }
        if let Some(gates) = &self.gates
            && let Some(result) = gates
                .call(request.name.as_ref(), request.arguments.as_ref(), &context)
                .await
        {
            return result.map(Into::into);
        }
        if let Some(asks) = &self.asks
            && let Some(result) = asks
                .call(request.name.as_ref(), request.arguments.as_ref(), &context)
                .await
        {
            return result.map(Into::into);
        }
        if self.rich
            && let Some(result) = self
                .call_rich(request.name.as_ref(), request.arguments.as_ref(), &context)
                .await
        {
            return result.map(Into::into);
        }
        let args = request.arguments.unwrap_or_default();
        let int = |key: &str| {
            args.get(key).and_then(|v| v.as_i64()).ok_or_else(|| {
                ErrorData::invalid_params(format!("`{key}` must be an integer"), None)
            })
        };
        let text = match request.name.as_ref() {
            "echo" => args
                .get("text")
                .and_then(|v| v.as_str())
                .ok_or_else(|| ErrorData::invalid_params("`text` must be a string", None))?
                .to_owned(),
            "add" => (int("a")? + int("b")?).to_string(),
            "slow" => {
                let ms = u64::try_from(int("ms")?).unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                // Tests learn that the call ran to the end (was not cancelled) from this file.
                if let Some(marker) = args.get("marker").and_then(|v| v.as_str()) {
                    let _ = std::fs::write(marker, b"done");
                }
                format!("slept {ms} ms")
            }
            name if self.tools().iter().any(|t| t.name == name) => name.to_owned(),
            other => {
                return Err(ErrorData::invalid_params(
                    format!("no tool `{other}`"),
                    None,
                ));
            }
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

struct Options {
    mode: String,
    port: u16,
    tools: usize,
    page_size: usize,
    banner: bool,
    rich: bool,
    pid: bool,
    json_response: bool,
    tasks: bool,
    gates: bool,
    asks: bool,
    /// SSE mode: prefix of the `endpoint` event's URI (default: none, a relative path).
    endpoint_base: String,
    /// Replaces `echo`'s description (tests of tool definition changes).
    echo_description: Option<String>,
}

fn parse_options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let mode = args
        .next()
        .ok_or("usage: mcp_fixture_server stdio|http|sse [options]")?;
    let mut options = Options {
        mode,
        port: 0,
        tools: std::env::var("FIXTURE_TOOLS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3),
        page_size: 0,
        banner: false,
        rich: false,
        pid: false,
        json_response: false,
        tasks: false,
        gates: false,
        asks: false,
        endpoint_base: String::new(),
        echo_description: None,
    };
    while let Some(flag) = args.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .ok_or(format!("{name} needs a number"))
        };
        match flag.as_str() {
            "--port" => {
                options.port = u16::try_from(number("--port")?).map_err(|_| "port too big")?;
            }
            "--tools" => options.tools = number("--tools")?,
            "--page-size" => options.page_size = number("--page-size")?,
            "--banner" => options.banner = true,
            "--rich" => options.rich = true,
            "--pid" => options.pid = true,
            "--json-response" => options.json_response = true,
            "--tasks" => options.tasks = true,
            "--gates" => options.gates = true,
            "--asks" => options.asks = true,
            "--echo-description" => {
                options.echo_description =
                    Some(args.next().ok_or("--echo-description needs a text")?);
            }
            "--endpoint-base" => {
                options.endpoint_base = args.next().ok_or("--endpoint-base needs a URL")?;
            }
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    Ok(options)
}

#[tokio::main]
async fn main() {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("mcp_fixture_server: {message}");
            std::process::exit(2);
        }
    };
    let mut fixture = Fixture::new(options.tools, options.page_size, options.rich);
    if let Some(description) = &options.echo_description
        && let Some(echo) = fixture
            .tools
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter_mut()
            .find(|t| t.name == "echo")
    {
        echo.description = Some(description.clone().into());
    }
    if options.pid {
        fixture.pid = true;
        fixture
            .tools
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(model(json!({
                "name": "pid",
                "description": "Reports this process's id and the client it was initialized by.",
                "inputSchema": {"type": "object"},
            })));
    }
    if options.asks {
        fixture.asks = Some(Arc::default());
        fixture
            .tools
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(asks::Asks::tools());
    }
    let gates = options.gates.then(|| Arc::new(gates::Gates::default()));
    if let Some(gates) = &gates {
        fixture.gates = Some(gates.clone());
        fixture
            .tools
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(gates::Gates::tools());
    }
    match options.mode.as_str() {
        "stdio" => {
            if options.banner {
                println!("mcp fixture server starting (not JSON)");
                eprintln!("mcp fixture server: stderr banner");
            }
            match fixture.serve(rmcp::transport::stdio()).await {
                Ok(running) => {
                    let _ = running.waiting().await;
                }
                Err(error) => eprintln!("mcp_fixture_server: {error}"),
            }
            std::process::exit(0);
        }
        "http" => {
            let mut config = StreamableHttpServerConfig::default();
            if options.json_response {
                // json_response applies to stateless servers only (rmcp 3.11).
                config.legacy_session_mode = false;
                config.json_response = true;
            }
            let service: StreamableHttpService<Fixture, LocalSessionManager> =
                StreamableHttpService::new(move || Ok(fixture.clone()), Default::default(), config);
            let mut router = axum::Router::new().nest_service("/mcp", service);
            if options.tasks {
                router = tasks::layer(router);
            }
            if let Some(gates) = gates {
                router = gates::layer(router, gates);
            }
            serve_http(options.port, router).await;
        }
        "sse" => {
            serve_http(
                options.port,
                legacy_sse::router(fixture, options.endpoint_base),
            )
            .await
        }
        other => {
            eprintln!("mcp_fixture_server: unknown mode `{other}` (use stdio, http or sse)");
            std::process::exit(2);
        }
    }
}

async fn serve_http(port: u16, router: axum::Router) {
    serve::serve_http("mcp_fixture_server", port, router).await
}
