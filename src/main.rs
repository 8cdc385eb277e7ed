// Temporary wiring (config branch) so `check-config` can be tried; the integrator replaces this.
use authmcp_gateway::cli::{Cli, Command};
use authmcp_gateway::commands::check_config;
use authmcp_gateway::config::Sources;
use clap::Parser;

fn main() {
    match Cli::parse().command {
        Command::CheckConfig(args) => {
            let ok = check_config::run(&Sources::from_args(&args));
            std::process::exit(if ok { 0 } else { 1 });
        }
        _ => {
            eprintln!("Only check-config is wired on this branch.");
            std::process::exit(2);
        }
    }
}
