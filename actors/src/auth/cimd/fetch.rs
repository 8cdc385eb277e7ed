//! One guarded HTTP GET of a Client ID Metadata Document.
//!
//! The host is resolved first and every candidate address checked against
//! [`blocked_range`](super::addresses::blocked_range); the connection then goes to the address
//! that passed — never through a second DNS lookup — so a rebinding DNS server cannot swap in an
//! internal address between check and connect. Redirects are refused, not followed (a redirect
//! is a second, unchecked fetch). The body is read up to the size limit and no further, and the
//! whole exchange, connect and TLS included, runs under one deadline.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use url::{Host, Url};

use super::CimdError;
use super::addresses::blocked_range;

#[derive(Debug, Clone, Copy)]
pub struct FetchLimits {
    pub timeout: Duration,
    pub max_bytes: usize,
    /// Tests and development: private and loopback hosts allowed, and plain http to them.
    pub allow_private: bool,
}

/// Fetches `url` and returns its JSON body (not yet parsed).
pub async fn fetch_document(url: &Url, limits: FetchLimits) -> Result<Bytes, CimdError> {
    tokio::time::timeout(limits.timeout, fetch(url, limits))
        .await
        .map_err(|_| CimdError::Timeout(limits.timeout))?
}

async fn fetch(url: &Url, limits: FetchLimits) -> Result<Bytes, CimdError> {
    let port = url
        .port_or_known_default()
        .ok_or_else(|| CimdError::InvalidUrl("it has no port".into()))?;
    let address = checked_address(url, port, limits.allow_private).await?;
    let tcp = TcpStream::connect(address)
        .await
        .map_err(|e| CimdError::Connect(format!("{address}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    if url.scheme() == "https" {
        let name = server_name(url)?;
        let tls = tokio_rustls::TlsConnector::from(tls_config())
            .connect(name, tcp)
            .await
            .map_err(|e| CimdError::Tls(e.to_string()))?;
        exchange(tls, url, limits.max_bytes).await
    } else {
        exchange(tcp, url, limits.max_bytes).await
    }
}

/// Resolves the host and picks the first address allowed to be fetched from.
async fn checked_address(
    url: &Url,
    port: u16,
    allow_private: bool,
) -> Result<SocketAddr, CimdError> {
    let host = url
        .host()
        .ok_or_else(|| CimdError::InvalidUrl("it has no host".into()))?;
    let candidates: Vec<IpAddr> = match host {
        Host::Ipv4(ip) => vec![IpAddr::V4(ip)],
        Host::Ipv6(ip) => vec![IpAddr::V6(ip)],
        Host::Domain(name) => tokio::net::lookup_host((name, port))
            .await
            .map_err(|e| CimdError::Resolve(format!("{name}: {e}")))?
            .map(|a| a.ip())
            .collect(),
    };
    let first = *candidates
        .first()
        .ok_or_else(|| CimdError::Resolve(format!("{host}: no addresses")))?;
    let chosen = if allow_private {
        first
    } else {
        candidates
            .iter()
            .copied()
            .find(|ip| blocked_range(*ip).is_none())
            .ok_or_else(|| CimdError::Blocked {
                host: host.to_string(),
                address: first,
                range: blocked_range(first).unwrap_or("not public"),
            })?
    };
    // Plain http only ever reaches a private host, and only when the operator allowed those.
    if url.scheme() == "http" && (!allow_private || blocked_range(chosen).is_none()) {
        return Err(CimdError::PlainHttp);
    }
    Ok(SocketAddr::new(chosen, port))
}

fn server_name(url: &Url) -> Result<rustls::pki_types::ServerName<'static>, CimdError> {
    let name = match url.host() {
        Some(Host::Domain(d)) => d.to_string(),
        Some(Host::Ipv4(ip)) => ip.to_string(),
        Some(Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(CimdError::InvalidUrl("it has no host".into())),
    };
    rustls::pki_types::ServerName::try_from(name)
        .map_err(|e| CimdError::InvalidUrl(format!("its host is not a TLS server name: {e}")))
}

/// Built once: the webpki roots and rustls's ring provider (the only one compiled in).
fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots =
                rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|b| b.with_root_certificates(roots).with_no_client_auth())
                .unwrap_or_else(|_| {
                    // The ring provider supports the default versions; this is unreachable.
                    rustls::ClientConfig::builder()
                        .with_root_certificates(rustls::RootCertStore::empty())
                        .with_no_client_auth()
                });
            Arc::new(config)
        })
        .clone()
}

/// HTTP/1.1 GET over an established stream. The connection is driven in this task (not
/// spawned), so the deadline above drops everything at once.
async fn exchange<S>(stream: S, url: &Url, max_bytes: usize) -> Result<Bytes, CimdError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| CimdError::Connect(e.to_string()))?;
    let authority = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::ACCEPT, "application/json")
        .header(
            hyper::header::USER_AGENT,
            concat!("authmcp-gateway/", env!("CARGO_PKG_VERSION")),
        )
        .header(hyper::header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| CimdError::InvalidUrl(e.to_string()))?;
    let work = async move {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| CimdError::Connect(e.to_string()))?;
        read_response(response, max_bytes).await
    };
    tokio::pin!(work);
    tokio::pin!(conn);
    let mut connection_open = true;
    loop {
        tokio::select! {
            result = &mut work => return result,
            done = &mut conn, if connection_open => {
                connection_open = false;
                if let Err(e) = done {
                    return Err(CimdError::Connect(e.to_string()));
                }
            }
        }
    }
}

async fn read_response(
    response: hyper::Response<Incoming>,
    max_bytes: usize,
) -> Result<Bytes, CimdError> {
    let status = response.status();
    if status.is_redirection() {
        return Err(CimdError::Redirect(status.as_u16()));
    }
    if status != hyper::StatusCode::OK {
        return Err(CimdError::Status(status.as_u16()));
    }
    let content_type = response
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if !is_json(&content_type) {
        return Err(CimdError::ContentType(content_type));
    }
    let declared = response
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_bytes as u64) {
        return Err(CimdError::TooLarge(max_bytes));
    }
    let mut body = response.into_body();
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| CimdError::Connect(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > max_bytes {
                return Err(CimdError::TooLarge(max_bytes));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}

/// `application/json` or `application/<something>+json`, parameters ignored.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/oauth-client-metadata+json"));
        assert!(!is_json("text/html"));
        assert!(!is_json("text/json+xml"));
        assert!(!is_json(""));
    }

    fn limits(allow_private: bool) -> FetchLimits {
        FetchLimits {
            timeout: Duration::from_secs(5),
            max_bytes: 1024,
            allow_private,
        }
    }

    #[tokio::test]
    async fn private_literal_addresses_are_refused_before_connecting() {
        for url in [
            "https://127.0.0.1/client.json",
            "https://[::1]/client.json",
            "https://[::ffff:10.0.0.1]/client.json",
            "https://169.254.169.254/latest/meta-data",
        ] {
            let err = fetch_document(&Url::parse(url).unwrap(), limits(false))
                .await
                .unwrap_err();
            assert!(matches!(err, CimdError::Blocked { .. }), "{url}: {err}");
        }
    }

    #[tokio::test]
    async fn localhost_names_are_resolved_then_refused() {
        let err = fetch_document(&Url::parse("https://localhost/c").unwrap(), limits(false))
            .await
            .unwrap_err();
        assert!(matches!(err, CimdError::Blocked { .. }), "{err}");
        assert!(err.to_string().contains("loopback"), "{err}");
    }

    #[tokio::test]
    async fn plain_http_needs_allow_private_and_a_private_host() {
        let url = Url::parse("http://127.0.0.1:9/c").unwrap();
        assert!(matches!(
            fetch_document(&url, limits(false)).await.unwrap_err(),
            CimdError::Blocked { .. }
        ));
        let public = Url::parse("http://8.8.8.8/c").unwrap();
        assert!(matches!(
            fetch_document(&public, limits(true)).await.unwrap_err(),
            CimdError::PlainHttp
        ));
    }
}
