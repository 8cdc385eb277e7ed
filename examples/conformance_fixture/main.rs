//! A project-owned MCP server implementing every fixture tool, resource and prompt that
//! `@modelcontextprotocol/conformance@0.1.16 server --suite active` calls, so the interop
//! harness can score the suite against it directly and through the gateway (`tool_prefix = ""`).
//!
//! ```text
//! conformance_fixture [--port N]
//! conformance_fixture --stdio
//! ```
//! Serves Streamable HTTP at `http://127.0.0.1:N/mcp` (N = 0 picks a free port), prints exactly
//! `LISTENING <port>` once bound, and exits when stdin closes, so a harness that dies leaves no
//! server behind. `--stdio` serves one session on stdin/stdout instead (the gateway's stdio
//! backend tests: sampling, elicitation and logging from a child process). Each client session gets its own handler: the logging level and resource
//! subscriptions are per session, as the spec wants. Host validation (rmcp's default: loopback
//! names only) is what the suite's DNS-rebinding scenario checks.

// Logging, sampling and resource subscriptions are legacy-era MCP (rmcp deprecates them for
// 2026-07-28); the suite's active scenarios test exactly those, so this fixture must use them.
#![allow(deprecated)]

mod catalog;
mod tools;

#[path = "../shared/lifecycle.rs"]
mod lifecycle;
#[path = "../shared/serve.rs"]
mod serve;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CompleteRequestParams, CompleteResult,
    GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, LoggingLevel,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ServerConfig,
    SetLevelRequestParams, SubscribeRequestParams, UnsubscribeRequestParams,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Value, json};

use catalog::typed;

/// One client session's state.
#[derive(Default)]
struct ConformanceFixture {
    /// Lowest level sent as log notifications; `debug` until the client sets one.
    log_level: Mutex<Option<LoggingLevel>>,
    /// URIs the client subscribed to (accepted and remembered; nothing here changes them).
    subscriptions: Mutex<HashSet<String>>,
}

impl ConformanceFixture {
    fn log_level(&self) -> LoggingLevel {
        self.log_level
            .lock()
            .ok()
            .and_then(|level| *level)
            .unwrap_or(LoggingLevel::Debug)
    }
}

impl ServerHandler for ConformanceFixture {
    fn get_info(&self) -> ServerConfig {
        let capabilities = json!({
            "tools": {"listChanged": false},
            "resources": {"subscribe": true, "listChanged": false},
            "prompts": {"listChanged": false},
            "logging": {},
            "completions": {}
        });
        let mut config = ServerConfig::new(typed(capabilities).unwrap_or_default());
        config.server_info =
            Implementation::new("authmcp-conformance-fixture", env!("CARGO_PKG_VERSION"));
        config
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        typed(catalog::tools())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        Ok(tools::call(request, context, self.log_level())
            .await?
            .into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        typed(catalog::resources())
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        typed(catalog::resource_templates())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        match catalog::read_resource(&request.uri) {
            Some(contents) => Ok(typed::<rmcp::model::ReadResourceResult>(contents)?.into()),
            None => Err(ErrorData::resource_not_found(
                format!("no resource `{}`", request.uri),
                Some(json!({"uri": request.uri})),
            )),
        }
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if let Ok(mut subscriptions) = self.subscriptions.lock() {
            subscriptions.insert(request.uri);
        }
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if let Ok(mut subscriptions) = self.subscriptions.lock() {
            subscriptions.remove(&request.uri);
        }
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        typed(catalog::prompts())
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let arguments = request.arguments.unwrap_or_default();
        match catalog::get_prompt(&request.name, &arguments)? {
            Some(result) => Ok(typed::<rmcp::model::GetPromptResult>(result)?.into()),
            None => Err(ErrorData::invalid_params(
                format!("no prompt `{}`", request.name),
                None,
            )),
        }
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let request = serde_json::to_value(&request).unwrap_or(Value::Null);
        let field = |key: &str| {
            request
                .pointer(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        typed(catalog::complete(
            field("/argument/name"),
            field("/argument/value"),
        ))
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if let Ok(mut level) = self.log_level.lock() {
            *level = Some(request.level);
        }
        Ok(())
    }
}

/// `Some(port)` for HTTP, `None` for `--stdio`.
fn parse_port() -> Result<Option<u16>, String> {
    let mut args = std::env::args().skip(1);
    let mut port = Some(0);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--stdio" => port = None,
            "--port" => {
                port = Some(
                    args.next()
                        .and_then(|v| v.parse().ok())
                        .ok_or("--port needs a number from 0 to 65535")?,
                );
            }
            other => {
                return Err(format!(
                    "unknown option `{other}` (usage: conformance_fixture [--port N] | --stdio)"
                ));
            }
        }
    }
    Ok(port)
}

#[tokio::main]
async fn main() {
    let port = match parse_port() {
        Ok(port) => port,
        Err(message) => {
            eprintln!("conformance_fixture: {message}");
            std::process::exit(2);
        }
    };
    let Some(port) = port else {
        match rmcp::ServiceExt::serve(ConformanceFixture::default(), rmcp::transport::stdio()).await
        {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(error) => eprintln!("conformance_fixture: {error}"),
        }
        return;
    };
    let service: StreamableHttpService<ConformanceFixture, LocalSessionManager> =
        StreamableHttpService::new(
            || Ok(ConformanceFixture::default()),
            Arc::default(),
            StreamableHttpServerConfig::default(),
        );
    let router = axum::Router::new().nest_service("/mcp", service);
    serve::serve_http("conformance_fixture", port, router).await;
}
