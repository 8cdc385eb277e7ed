#![forbid(unsafe_code)]
//! `mcp-load`: an MCP load generator in which every connection is one MCP client
//! (initialize, keep the session, notifications/initialized, then calls). Failures — transport
//! errors, non-2xx answers, JSON-RPC errors — are counted and reported, never timed as successes.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use authmcp_bench::client::{Connection, Target};
use authmcp_bench::load::cpu::{CpuUsage, parse_named_pid};
use authmcp_bench::load::progress::{self, ProgressPlan};
use authmcp_bench::load::sequential::{self, Operation};
use authmcp_bench::load::{Failures, sessions, streams, throughput};
use authmcp_bench::stats::LatencySummary;
use clap::{Args, Parser, Subcommand};
use serde::Serialize;

#[derive(Parser)]
#[command(about = "MCP load generator: each connection is one MCP client with its own session.")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Args, Clone)]
struct Common {
    /// The MCP endpoint, e.g. http://127.0.0.1:8000/mcp.
    #[arg(long)]
    url: String,
    /// Extra request header, e.g. "Authorization: Bearer <token>" (repeatable).
    #[arg(long = "header")]
    headers: Vec<String>,
    /// Also report the CPU time of this process over the measured window, as NAME=PID (repeatable).
    #[arg(long = "pid", value_parser = parse_named_pid)]
    pids: Vec<(String, u32)>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Runtime worker threads; 1 runs every client on one thread.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

#[derive(Subcommand)]
enum Mode {
    /// Sequential tools/call latency on one session.
    Call {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 5000)]
        calls: usize,
        #[arg(long, default_value_t = 500)]
        warmup: usize,
        /// Tool to call; default: the first listed tool whose name ends in "echo".
        #[arg(long)]
        tool: Option<String>,
        /// The echoed `text` argument's length in bytes (0: a short sentence); the echo tool
        /// answers it back, so the result is as large.
        #[arg(long, default_value_t = 0)]
        text_bytes: usize,
    },
    /// Sequential full tools/list latency (all pages) on one session.
    List {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 300)]
        calls: usize,
        #[arg(long, default_value_t = 30)]
        warmup: usize,
    },
    /// Calls per second with C connections (one session each) for D seconds.
    Throughput {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// Measured seconds (after every client has initialized).
        #[arg(long, default_value_t = 5.0)]
        duration: f64,
        #[arg(long)]
        tool: Option<String>,
    },
    /// Open N sessions and hold them: prints the open report, then (with --touch) waits for a
    /// line on stdin, calls the tool once on every session and prints that report; then holds
    /// the sessions until stdin closes.
    Sessions {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        /// Connections the sessions are opened over.
        #[arg(long, default_value_t = 32)]
        connections: usize,
        #[arg(long)]
        touch: bool,
        #[arg(long)]
        tool: Option<String>,
    },
    /// C sessions (one connection each) call the `progress` tool at once; per-event latency is
    /// receive time − the send time in each event (CLOCK_MONOTONIC).
    Progress {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 1000)]
        sessions: usize,
        /// Progress events per call.
        #[arg(long, default_value_t = 10)]
        events: u32,
        /// Milliseconds between a call's events.
        #[arg(long, default_value_t = 100)]
        interval_ms: u64,
        /// Tool to call; default: the first listed tool whose name ends in "progress".
        #[arg(long)]
        tool: Option<String>,
    },
    /// Open C sessions (one connection each) and print that report; wait for a line on stdin,
    /// open every session's GET stream and print that report; hold them until stdin closes.
    Streams {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 1000)]
        count: usize,
    },
    /// Exit 0 if the endpoint initializes and lists tools; the reason otherwise.
    Probe {
        #[command(flatten)]
        common: Common,
    },
}

impl Mode {
    fn common(&self) -> &Common {
        match self {
            Mode::Call { common, .. }
            | Mode::List { common, .. }
            | Mode::Throughput { common, .. }
            | Mode::Sessions { common, .. }
            | Mode::Progress { common, .. }
            | Mode::Streams { common, .. }
            | Mode::Probe { common } => common,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let threads = cli.mode.common().threads.max(1);
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    };
    match runtime {
        Ok(runtime) => runtime.block_on(run(cli.mode)),
        Err(e) => {
            eprintln!("mcp-load: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(mode: Mode) -> ExitCode {
    let common = mode.common().clone();
    let target = match Target::parse(&common.url, &common.headers) {
        Ok(target) => Arc::new(target),
        Err(e) => return fail(&e),
    };
    match mode {
        Mode::Call {
            calls,
            warmup,
            tool,
            text_bytes,
            ..
        } => {
            let report = sequential::run(
                target,
                Operation::Call {
                    tool,
                    arguments: sequential::echo_arguments(text_bytes),
                },
                calls,
                warmup,
                &common.pids,
            )
            .await;
            finish(report, &common, |r| {
                format!(
                    "tools/call {} x{}: {}; {}",
                    r.tool.as_deref().unwrap_or("?"),
                    r.ok,
                    latency(&r.latency),
                    rest(&r.failures, &r.cpu)
                )
            })
        }
        Mode::List { calls, warmup, .. } => {
            let report =
                sequential::run(target, Operation::List, calls, warmup, &common.pids).await;
            finish(report, &common, |r| {
                format!(
                    "tools/list x{} ({} tools in {} pages): {}; {}",
                    r.ok,
                    r.tools_listed.unwrap_or(0),
                    r.pages.unwrap_or(0),
                    latency(&r.latency),
                    rest(&r.failures, &r.cpu)
                )
            })
        }
        Mode::Throughput {
            connections,
            duration,
            tool,
            ..
        } => {
            if !(duration.is_finite() && duration > 0.0) || connections == 0 {
                eprintln!("mcp-load: --duration must be positive and --connections at least 1");
                return ExitCode::from(2);
            }
            let report = throughput::run(
                target,
                tool,
                connections,
                Duration::from_secs_f64(duration),
                &common.pids,
            )
            .await;
            finish(report, &common, |r| {
                format!(
                    "{} connections ({} ready), {:.1} s: {:.0} calls/s; {}; {}",
                    r.connections,
                    r.sessions_ready,
                    r.duration_s,
                    r.calls_per_s,
                    latency(&r.latency),
                    rest(&r.failures, &r.cpu)
                )
            })
        }
        Mode::Sessions {
            count,
            connections,
            touch,
            tool,
            ..
        } => hold_sessions(target, &common, count, connections, touch, tool).await,
        Mode::Progress {
            sessions,
            events,
            interval_ms,
            tool,
            ..
        } => {
            if sessions == 0 || events == 0 {
                eprintln!("mcp-load: --sessions and --events must be at least 1");
                return ExitCode::from(2);
            }
            let plan = ProgressPlan {
                sessions,
                events,
                interval: Duration::from_millis(interval_ms),
                tool,
            };
            let report = progress::run(target, plan, &common.pids).await;
            finish(report, &common, |r| {
                format!(
                    "{} sessions ({} ready) x {} progress events via {}: {}/{} events, {} calls ok in {:.2} s; per event {}; {}",
                    r.sessions,
                    r.sessions_ready,
                    r.events_per_call,
                    r.tool,
                    r.events_received,
                    r.events_expected,
                    r.calls_ok,
                    r.duration_s,
                    latency(&r.latency),
                    rest(&r.failures, &r.cpu)
                )
            })
        }
        Mode::Streams { count, .. } => hold_streams(target, &common, count).await,
        Mode::Probe { .. } => {
            let mut conn = Connection::new(target);
            let probed = match conn.initialize().await {
                Ok(session) => conn.list_tools(&session).await,
                Err(e) => Err(e),
            };
            match probed {
                Ok((tools, pages)) => {
                    println!("ok: initialized; tools/list has {tools} tools in {pages} pages");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
    }
}

async fn hold_sessions(
    target: Arc<Target>,
    common: &Common,
    count: usize,
    connections: usize,
    touch: bool,
    tool: Option<String>,
) -> ExitCode {
    let (mut pool, opened) = sessions::open(target, count, connections).await;
    print_phase(&opened, common.json);
    if touch {
        if !wait_for_stdin_line().await {
            return ExitCode::SUCCESS;
        }
        match pool.touch(tool.as_deref()).await {
            Ok(touched) => print_phase(&touched, common.json),
            Err(e) => return fail(&e),
        }
    }
    while wait_for_stdin_line().await {}
    drop(pool);
    ExitCode::SUCCESS
}

async fn hold_streams(target: Arc<Target>, common: &Common, count: usize) -> ExitCode {
    let (pool, opened) = streams::open_sessions(target, count).await;
    print_phase(&opened, common.json);
    if !wait_for_stdin_line().await {
        return ExitCode::SUCCESS;
    }
    let (held, streamed) = pool.open_streams().await;
    print_phase(&streamed, common.json);
    while wait_for_stdin_line().await {}
    drop(held);
    ExitCode::SUCCESS
}

fn print_phase(report: &sessions::PhaseReport, json: bool) {
    let line = if json {
        serde_json::to_string(report).expect("reports serialize")
    } else {
        format!(
            "sessions {}: {}/{} ok in {:.2} s; {}",
            report.phase,
            report.ok,
            report.requested,
            report.elapsed_s,
            failures(&report.failures)
        )
    };
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// True when a line arrived, false at end of file.
async fn wait_for_stdin_line() -> bool {
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        matches!(std::io::stdin().lock().read_line(&mut line), Ok(n) if n > 0)
    })
    .await
    .unwrap_or(false)
}

fn finish<R: Serialize>(
    report: Result<R, authmcp_bench::client::ClientError>,
    common: &Common,
    text: impl FnOnce(&R) -> String,
) -> ExitCode {
    match report {
        Ok(report) if common.json => {
            println!(
                "{}",
                serde_json::to_string(&report).expect("reports serialize")
            );
            ExitCode::SUCCESS
        }
        Ok(report) => {
            println!("{}", text(&report));
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn fail(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("mcp-load: {error}");
    ExitCode::FAILURE
}

fn latency(summary: &Option<LatencySummary>) -> String {
    match summary {
        Some(s) => format!(
            "p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
            s.p50_us, s.p99_us, s.max_us
        ),
        None => "no successful calls".to_owned(),
    }
}

fn failures(failures: &Failures) -> String {
    match failures.total() {
        0 => "0 failures".to_owned(),
        n => format!(
            "{n} FAILURES (transport {}, HTTP status {}, JSON-RPC {}, malformed {}; first: {})",
            failures.transport,
            failures.http_status,
            failures.json_rpc,
            failures.malformed,
            failures.first_error.as_deref().unwrap_or("?")
        ),
    }
}

fn rest(fails: &Failures, cpu: &[CpuUsage]) -> String {
    let cpu: Vec<String> = cpu
        .iter()
        .map(|c| format!("{} {:.2} cores", c.name, c.utilization))
        .collect();
    format!("{}; CPU: {}", failures(fails), cpu.join(", "))
}
