#![forbid(unsafe_code)]
//! `mcp-fast-backend`: the benchmark's MCP backend. Binds one or many listeners (`--backends
//! 100` serves a hundred independent backends from one process, one port each), prints
//! `LISTENING <port> <port> …` on stdout and serves until killed (or stdin closes, with
//! `--exit-on-stdin-close`, so a crashed driver leaves no stray process).

use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::Arc;

use authmcp_bench::server::{self, app::App};
use clap::Parser;
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(
    about = "A minimal, fast, stateful Streamable HTTP MCP server for benchmarks (path /mcp)."
)]
struct Args {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// First port; 0 picks a free port for every listener.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Independent backends (listeners) to serve, each with its own sessions.
    #[arg(long, default_value_t = 1)]
    backends: usize,
    /// Tools each backend lists: `echo`, then `tool_001`, `tool_002`, …
    #[arg(long, default_value_t = 8)]
    tools: usize,
    /// Runtime worker threads; 1 runs everything on one thread (least CPU per call).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Also serve the `progress` tool: a `tools/call` with `_meta.progressToken` answered as an
    /// event stream of `events` progress notifications `interval_ms` apart, then the result.
    #[arg(long)]
    progress_tool: bool,
    /// Answer every request with a one-event `text/event-stream` (as rmcp and the TypeScript
    /// and Python SDK servers do by default) instead of `application/json`.
    #[arg(long)]
    event_stream_answers: bool,
    /// Exit when stdin reaches end of file.
    #[arg(long)]
    exit_on_stdin_close: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.backends == 0 || args.tools == 0 || args.threads == 0 {
        eprintln!("mcp-fast-backend: --backends, --tools and --threads must be at least 1");
        return ExitCode::from(2);
    }
    let runtime = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("mcp-fast-backend: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.exit_on_stdin_close {
        std::thread::spawn(|| {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
            std::process::exit(0);
        });
    }
    runtime.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let mut ports = Vec::with_capacity(args.backends);
    for i in 0..args.backends {
        let port = if args.port == 0 {
            0
        } else {
            args.port.saturating_add(i as u16)
        };
        let listener = match TcpListener::bind((args.host.as_str(), port)).await {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!(
                    "mcp-fast-backend: cannot listen on {}:{port}: {e}",
                    args.host
                );
                return ExitCode::FAILURE;
            }
        };
        ports.push(listener.local_addr().map(|a| a.port()).unwrap_or(port));
        let mut app = App::new(&format!("fast-{i}"), args.tools);
        if args.progress_tool {
            app = app.with_progress_tool();
        }
        app.event_stream_answers = args.event_stream_answers;
        let app = Arc::new(app);
        tokio::spawn(server::serve(listener, app));
    }
    let line: Vec<String> = ports.iter().map(u16::to_string).collect();
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "LISTENING {}", line.join(" "));
    let _ = stdout.flush();
    std::future::pending::<()>().await;
    ExitCode::SUCCESS
}
