//! A real MCP server (rmcp) for the gateway's tests: the backend the gateway fronts.
//!
//! ```text
//! mcp_fixture_server stdio [--tools N] [--page-size N] [--banner]
//! mcp_fixture_server http  [--port N] [--tools N] [--page-size N]
//! ```
//! Tools: `echo` (returns `text`), `add` (`a` + `b`), `slow` (sleeps `ms`), then `extra_4` …
//! up to `--tools N` in all (env `FIXTURE_TOOLS`), so tests can tell backends apart.
//! `--page-size` makes `tools/list` paginate. `--banner` prints a non-JSON line on stdout and
//! one on stderr before serving, as some real servers do. HTTP mode serves Streamable HTTP at
//! `127.0.0.1:N/mcp` and prints exactly `LISTENING <port>` once bound. Both modes exit when
//! stdin closes, so a test that dies leaves no server behind.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, JsonObject,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::json;

#[derive(Clone)]
struct Fixture {
    tools: Arc<Vec<Tool>>,
    page_size: usize,
}

impl Fixture {
    fn new(count: usize, page_size: usize) -> Self {
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
        Fixture {
            tools: Arc::new(tools),
            page_size,
        }
    }
}

impl ServerHandler for Fixture {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        if self.page_size == 0 {
            return Ok(ListToolsResult::with_all_items(self.tools.to_vec()));
        }
        let start = match request.and_then(|r| r.cursor) {
            Some(cursor) => cursor
                .parse::<usize>()
                .map_err(|_| ErrorData::invalid_params("unknown cursor", None))?,
            None => 0,
        };
        let end = (start + self.page_size).min(self.tools.len());
        let mut page = ListToolsResult::with_all_items(self.tools[start.min(end)..end].to_vec());
        if end < self.tools.len() {
            page.next_cursor = Some(end.to_string());
        }
        Ok(page)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
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
                format!("slept {ms} ms")
            }
            name if self.tools.iter().any(|t| t.name == name) => name.to_owned(),
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
}

fn parse_options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let mode = args
        .next()
        .ok_or("usage: mcp_fixture_server stdio|http [options]")?;
    let mut options = Options {
        mode,
        port: 0,
        tools: std::env::var("FIXTURE_TOOLS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3),
        page_size: 0,
        banner: false,
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
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    Ok(options)
}

/// Exits the process once stdin reaches EOF (the parent closed it or died).
fn exit_when_stdin_closes() {
    std::thread::spawn(|| {
        let mut sink = [0u8; 256];
        let mut stdin = std::io::stdin();
        while !matches!(std::io::Read::read(&mut stdin, &mut sink), Ok(0) | Err(_)) {}
        std::process::exit(0);
    });
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
    let fixture = Fixture::new(options.tools, options.page_size);
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
            let service: StreamableHttpService<Fixture, LocalSessionManager> =
                StreamableHttpService::new(
                    move || Ok(fixture.clone()),
                    Default::default(),
                    StreamableHttpServerConfig::default(),
                );
            let router = axum::Router::new().nest_service("/mcp", service);
            let listener = match tokio::net::TcpListener::bind(("127.0.0.1", options.port)).await {
                Ok(listener) => listener,
                Err(error) => {
                    eprintln!(
                        "mcp_fixture_server: cannot bind port {}: {error}",
                        options.port
                    );
                    std::process::exit(1);
                }
            };
            let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
            println!("LISTENING {port}");
            let _ = std::io::stdout().flush();
            exit_when_stdin_closes();
            if let Err(error) = axum::serve(listener, router).await {
                eprintln!("mcp_fixture_server: {error}");
                std::process::exit(1);
            }
        }
        other => {
            eprintln!("mcp_fixture_server: unknown mode `{other}` (use stdio or http)");
            std::process::exit(2);
        }
    }
}
