//! The `authmcp-gateway` binary: parse the command line and hand over to the library.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

use authmcp_gateway::cli::Cli;

/// mimalloc instead of glibc malloc: per-thread heaps without arena lock waits when a request
/// buffer allocated on one thread is freed on another (measured in bench/run.py).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match authmcp_gateway::daemon::dispatch(cli.command) {
        Ok(code) => code,
        Err(error) => {
            // `{:#}` prints the context chain on one line: actionable, no debug dump.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
