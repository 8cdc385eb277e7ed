//! `authmcp-gateway scan URL`: runs the MCP security scanner (`actors::mcp_audit`) and prints
//! its report. Exit 0: nothing high or critical; 1: something is; 2: the server cannot be
//! scanned (unreachable, not HTTP).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::cli::ScanArgs;

pub fn run(args: &ScanArgs) -> anyhow::Result<ExitCode> {
    let url = url::Url::parse(&args.url)
        .with_context(|| format!("`{}` is not a URL (e.g. https://host/mcp)", args.url))?;
    let token = match (&args.token, &args.token_env) {
        (Some(token), _) => Some(token.clone()),
        (None, Some(name)) => Some(
            std::env::var(name)
                .with_context(|| format!("--token-env names `{name}`, which is not set"))?,
        ),
        (None, None) => None,
    };
    let target = actors::mcp_audit::ScanTarget {
        url,
        token,
        timeout: Duration::from_secs(args.timeout.max(1)),
    };
    // awc runs on an actix (single-threaded) runtime.
    let outcome = actix_web::rt::System::new().block_on(actors::mcp_audit::scan(&target));
    let report = match outcome {
        Ok(report) => report,
        Err(error) => {
            eprintln!("error: cannot scan: {error}");
            return Ok(ExitCode::from(2));
        }
    };
    let json = serde_json::to_string_pretty(&report).context("while writing the JSON report")?;
    match args.json.as_deref() {
        Some(path) if path.as_os_str() == "-" => println!("{json}"),
        Some(path) => {
            std::fs::write(path, json + "\n")
                .with_context(|| format!("while writing {}", path.display()))?;
            print!("{}", report.to_text());
        }
        None => print!("{}", report.to_text()),
    }
    Ok(if report.fails() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
