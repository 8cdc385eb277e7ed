//! `authmcp-gateway healthcheck`: exit 0 when a running instance answers `GET /health`.
//!
//! A plain HTTP/1.1 request over a std socket: no runtime, no TLS (it probes the local listener,
//! which sits behind the TLS-terminating proxy).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::config::GatewayConfig;

/// The URL to probe: `--url`, else the configured listener (a wildcard host probes loopback).
pub fn default_url(config: &GatewayConfig) -> String {
    let host = match config.server.host.as_str() {
        "0.0.0.0" | "" => "127.0.0.1".to_string(),
        "::" | "[::]" => "[::1]".to_string(),
        h if h.contains(':') && !h.starts_with('[') => format!("[{h}]"),
        h => h.to_string(),
    };
    format!("http://{host}:{}/health", config.server.port)
}

pub fn run(url: &str, timeout: Duration) -> anyhow::Result<()> {
    let parsed = url::Url::parse(url).with_context(|| format!("`{url}` is not a URL"))?;
    if parsed.scheme() != "http" {
        bail!(
            "healthcheck probes the local listener over plain http, not `{}`",
            parsed.scheme()
        );
    }
    let host = parsed.host_str().context("the URL has no host")?;
    let port = parsed.port_or_known_default().unwrap_or(80);
    let address = (host.trim_matches(|c| c == '[' || c == ']'), port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {host}"))?
        .next()
        .with_context(|| format!("{host} resolves to no address"))?;
    let mut stream = TcpStream::connect_timeout(&address, timeout)
        .with_context(|| format!("no gateway answers at {address}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nUser-Agent: authmcp-gateway-healthcheck\r\n\r\n",
        parsed.path()
    );
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream
        .take(64 * 1024)
        .read_to_string(&mut response)
        .context("the gateway did not answer in time")?;
    let status_line = response.lines().next().unwrap_or_default();
    let healthy =
        status_line.split_whitespace().nth(1) == Some("200") && response.contains("\"ok\"");
    if !healthy {
        bail!("unhealthy answer from {url}: {status_line}");
    }
    Ok(())
}
