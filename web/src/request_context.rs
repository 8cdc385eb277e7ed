//! The outermost middleware: gives every request an id, works out the client's address, and
//! writes one access-log line per request carrying that id.
//!
//! `X-Forwarded-For` is believed only when the TCP peer is one of `trusted_proxies`; otherwise a
//! client could forge its address and dodge per-IP limits (a defect of the original gateway).

use std::net::IpAddr;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};

use actors::spec::IpNet;

use crate::state::AppState;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Per-request facts later layers read from the request extensions.
#[derive(Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub client_ip: Option<IpAddr>,
    /// A logger carrying `request_id`: every line a handler logs about this request has it.
    pub log: slog::Logger,
}

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let request_id = actors::auth::tokens::random_id();
    let peer = req.peer_addr().map(|a| a.ip());
    let (client_ip, root_log) = match req.app_data::<web::Data<AppState>>() {
        Some(state) => {
            let settings = state.settings.load();
            let forwarded = req
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok());
            (
                resolve_client_ip(peer, forwarded, &settings.trusted_proxies),
                state.log.clone(),
            )
        }
        None => (peer, slog_scope::logger()),
    };
    let log = root_log.new(slog::o!("request_id" => request_id.clone()));
    // Kept as they are (a `Uri` clone shares its bytes) and formatted only if a line is written:
    // most requests are logged at DEBUG, usually filtered out.
    let method = req.method().clone();
    let uri = req.uri().clone();
    req.extensions_mut().insert(RequestContext {
        request_id: request_id.clone(),
        client_ip,
        log: log.clone(),
    });

    let mut response = next.call(req).await?;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    let status = response.status().as_u16();
    let client = ClientIp(client_ip);
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let path = uri.path();
    // Successful requests are the bulk of the traffic (and MCP calls get their own audit
    // trail): DEBUG. Failures are what an operator looks for: INFO.
    if status < 400 {
        slog::debug!(log, "Request served."; "method" => %method, "path" => path, "status" => status, "client_ip" => %client, "elapsed_ms" => elapsed_ms);
    } else {
        slog::info!(log, "Request failed."; "method" => %method, "path" => path, "status" => status, "client_ip" => %client, "elapsed_ms" => elapsed_ms);
    }
    Ok(response)
}

/// The client's address for a log line: empty when unknown.
struct ClientIp(Option<IpAddr>);

impl std::fmt::Display for ClientIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => Ok(()),
        }
    }
}

/// Walks `X-Forwarded-For` from the right, skipping trusted proxies; the first untrusted hop is
/// the client. Untrusted peers' headers are ignored entirely.
pub fn resolve_client_ip(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    let peer_ip = peer?;
    if !is_trusted(peer_ip) {
        return Some(peer_ip);
    }
    let Some(header) = forwarded_for else {
        return Some(peer_ip);
    };
    let mut client = peer_ip;
    for hop in header.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            // A garbled hop ends the chain: everything left of it is unverifiable.
            Err(_) => break,
        }
    }
    Some(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str, prefix: u8) -> IpNet {
        IpNet {
            addr: s.parse().unwrap(),
            prefix,
        }
    }

    #[test]
    fn untrusted_peer_cannot_forge_its_address() {
        let peer = Some("203.0.113.9".parse().unwrap());
        let ip = resolve_client_ip(peer, Some("1.2.3.4"), &[net("10.0.0.0", 8)]);
        assert_eq!(ip, peer);
    }

    #[test]
    fn trusted_proxy_chain_yields_first_untrusted_hop() {
        let peer = Some("10.0.0.2".parse().unwrap());
        let trusted = [net("10.0.0.0", 8)];
        let ip = resolve_client_ip(peer, Some("6.6.6.6, 198.51.100.7, 10.0.0.5"), &trusted);
        assert_eq!(ip, Some("198.51.100.7".parse().unwrap()));
        assert_eq!(resolve_client_ip(peer, None, &trusted), peer);
        assert_eq!(resolve_client_ip(peer, Some("garbage"), &trusted), peer);
    }
}
