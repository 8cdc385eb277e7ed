//! The value rules shared by several keys: names, URLs, prefixes, addresses, levels.
//!
//! Each returns a message fit for an operator; none echoes a value that may hold a secret.

use std::net::IpAddr;

use super::model::IpNet;
use super::paths::SQLITE_PREFIX;

pub(crate) const MAX_NAME_LEN: usize = 64;

/// Backend names appear in URLs (`/mcp/{name}`) and logs: `[A-Za-z0-9_-]`, 1..=64.
pub(crate) fn check_backend_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!("must be 1 to {MAX_NAME_LEN} characters long"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(format!(
            "{name:?} contains {bad:?}; use only letters, digits, '_' and '-'"
        ));
    }
    Ok(())
}

/// The listen address: an IP address or a host name, never a URL.
pub(crate) fn check_host(host: &str) -> Result<String, String> {
    let bad = host.trim().is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/');
    if bad {
        Err(format!("{host:?} is not an address or host name"))
    } else {
        Ok(host.to_string())
    }
}

/// Tool prefixes become part of tool names, whose allowed characters MCP restricts to
/// `[A-Za-z0-9_.-]`. Empty means "no prefix".
pub(crate) fn check_tool_prefix(prefix: &str) -> Result<(), String> {
    if prefix.len() > MAX_NAME_LEN {
        return Err(format!("must be at most {MAX_NAME_LEN} characters long"));
    }
    if let Some(bad) = prefix
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!(
            "{prefix:?} contains {bad:?}; use only letters, digits, '_', '-' and '.'"
        ));
    }
    Ok(())
}

/// An `http`/`https` URL with a host (backend endpoints and the public URL).
pub(crate) fn parse_http_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| format!("{text:?} is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "{text:?} uses the scheme {:?}; only http and https are supported",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text:?} has no host"));
    }
    Ok(url)
}

/// The gateway's public URL: also the OAuth issuer, so no query, fragment or credentials; kept
/// without a trailing slash so `<public_url>/mcp` joins cleanly.
pub(crate) fn parse_public_url(text: &str) -> Result<url::Url, String> {
    let trimmed = text.trim().trim_end_matches('/');
    let url = parse_http_url(trimmed)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{text:?} must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials".to_string());
    }
    Ok(url)
}

/// `10.0.0.0/8`, `::1/128`, or a bare address (a /32 or /128).
pub(crate) fn parse_ip_net(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    let bad = || format!("{text:?} is not an IP address or CIDR range (e.g. 10.0.0.0/8, ::1)");
    let (addr, prefix) = match text.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (text, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    let width = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => p
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= width)
            .ok_or_else(bad)?,
        None => width,
    };
    Ok(IpNet { addr, prefix })
}

/// Lower-case canonical level; `warn` is accepted for `warning`.
pub(crate) fn normalize_log_level(text: &str) -> Result<String, String> {
    let level = text.trim().to_ascii_lowercase();
    match level.as_str() {
        "trace" | "debug" | "info" | "warning" | "error" | "critical" => Ok(level),
        "warn" => Ok("warning".to_string()),
        _ => Err(format!(
            "{:?} is not a log level; use trace, debug, info, warning, error or critical",
            text.trim()
        )),
    }
}

/// Only the scheme is ever echoed: the rest of a database URL may carry a password.
pub(crate) fn check_database_url(text: &str) -> Result<(), String> {
    if let Some(path) = text.strip_prefix(SQLITE_PREFIX) {
        if path.is_empty() {
            return Err(
                "sqlite:// needs a file path, e.g. sqlite:///var/lib/authmcp-gateway/authmcp.db"
                    .to_string(),
            );
        }
        return Ok(());
    }
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        return url::Url::parse(text)
            .map(|_| ())
            .map_err(|e| format!("the postgres URL does not parse ({e})"));
    }
    let scheme = text
        .split_once("://")
        .map_or("(none)", |(scheme, _)| scheme);
    Err(format!(
        "unsupported database URL scheme {scheme:?}; use sqlite://PATH or postgres://USER@HOST/DB"
    ))
}

/// `https://app.example.com` or `http://localhost:3000`, normalised to lower case without a
/// trailing slash — the form browsers put in `Origin`.
pub(crate) fn parse_origin(text: &str) -> Result<String, String> {
    let url =
        url::Url::parse(text.trim()).map_err(|e| format!("`{text}` is not an origin: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "`{text}` is not an origin; use scheme://host[:port]"
        ));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`{text}` has a path; an origin is only scheme://host[:port]"
        ));
    }
    Ok(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_prefixes_and_urls() {
        assert!(check_backend_name("files-1_a").is_ok());
        assert!(check_backend_name("").is_err());
        assert!(check_backend_name("has space").is_err());
        assert!(check_backend_name(&"x".repeat(65)).is_err());
        assert!(check_tool_prefix("").is_ok());
        assert!(check_tool_prefix("fs.").is_ok());
        assert!(check_tool_prefix("fs/").is_err());
        assert!(parse_http_url("https://h:1/mcp").is_ok());
        assert!(parse_http_url("ftp://h/").is_err());
        assert!(parse_http_url("http://").is_err());
        assert!(parse_http_url("file:///etc/passwd").is_err());
        assert!(parse_http_url("not a url").is_err());
    }

    #[test]
    fn public_url_loses_its_trailing_slash_and_rejects_queries() {
        let url = parse_public_url("https://gw.example.com/base/").unwrap();
        assert_eq!(url.as_str(), "https://gw.example.com/base");
        assert!(parse_public_url("https://gw.example.com/?a=1").is_err());
        assert!(parse_public_url("https://u:p@gw.example.com").is_err());
    }

    #[test]
    fn ip_nets() {
        assert_eq!(parse_ip_net("10.0.0.0/8").unwrap().prefix, 8);
        assert_eq!(parse_ip_net("::1").unwrap().prefix, 128);
        assert!(parse_ip_net("10.0.0.0/33").is_err());
        assert!(parse_ip_net("example.com").is_err());
    }

    #[test]
    fn levels_and_database_urls() {
        assert_eq!(normalize_log_level("WARN").unwrap(), "warning");
        assert_eq!(normalize_log_level("Critical").unwrap(), "critical");
        assert!(normalize_log_level("verbose").is_err());
        assert!(check_database_url("sqlite:///tmp/x.db").is_ok());
        assert!(check_database_url("postgresql://u@h/db").is_ok());
        let err = check_database_url("mysql://u:secret@h/db").unwrap_err();
        assert!(err.contains("\"mysql\"") && !err.contains("secret"));
    }

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        assert_eq!(
            parse_origin("https://App.Example.com").unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            parse_origin("http://localhost:3000/").unwrap(),
            "http://localhost:3000"
        );
        assert!(parse_origin("https://a.example.com/path").is_err());
        assert!(parse_origin("ftp://a.example.com").is_err());
        assert!(parse_origin("not an origin").is_err());
    }
}
