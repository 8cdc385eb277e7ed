//! Authentication checks: does the server answer without a token, with tokens it must refuse, or
//! with a token in the query string; does its 401 tell a client where to log in.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use super::probe::{self, Exchange, Probe, ProbeError, Send, Session};
use super::{Finding, Report, ScanTarget, Severity};

/// What the unauthenticated and authenticated attempts to open a session found.
pub struct Access {
    /// The answer to an `initialize` without a token.
    pub anonymous: Exchange,
    /// A session opened without a token (the server needs none).
    pub open_session: Option<Session>,
    /// A session opened with the given token.
    pub token_session: Option<Session>,
}

impl Access {
    /// The session the later checks use: the authenticated one, else the open one.
    pub fn session(&self) -> Option<&Session> {
        self.token_session.as_ref().or(self.open_session.as_ref())
    }

    pub fn requires_auth(&self) -> bool {
        self.open_session.is_none()
    }
}

pub async fn check(
    probe: &Probe,
    target: &ScanTarget,
    report: &mut Report,
) -> Result<Access, ProbeError> {
    report.ran("auth.unauthenticated");
    let anonymous = probe.post(probe::initialize(1), Send::default()).await?;
    let open_session = match anonymous.result() {
        Some(_) => probe::open_session(probe, None).await?.map(|(s, _)| s),
        None => None,
    };
    if let Some(session) = &open_session {
        unauthenticated_use(probe, session, report).await?;
    } else {
        www_authenticate(&anonymous, report);
        refused_tokens(probe, report).await?;
    }
    let token_session = match &target.token {
        Some(token) => {
            let opened = probe::open_session(probe, Some(token)).await?;
            if opened.is_none() {
                report.add(Finding::new(
                    "auth.token_refused",
                    Severity::Info,
                    "The token given to the scanner was refused",
                    "initialize with --token did not open a session, so the checks that need one \
                     ran without it.",
                    "Pass a valid, unexpired token for this server (and resource).",
                ));
            } else if open_session.is_none() {
                query_token(probe, token, report).await?;
            }
            opened.map(|(s, _)| s)
        }
        None => {
            if open_session.is_none() {
                report.skipped(
                    "auth.query_token, sessions, tools",
                    "the server needs a token; pass --token to run them",
                );
            }
            None
        }
    };
    Ok(Access {
        anonymous,
        open_session,
        token_session,
    })
}

/// The server answered `initialize` without a token: see how far an anonymous caller gets.
async fn unauthenticated_use(
    probe: &Probe,
    session: &Session,
    report: &mut Report,
) -> Result<(), ProbeError> {
    let list = probe
        .post(probe::request(2, "tools/list", json!({})), session.send())
        .await?;
    let call = probe
        .post(
            probe::request(
                3,
                "tools/call",
                json!({"name": NO_SUCH_TOOL, "arguments": {}}),
            ),
            session.send(),
        )
        .await?;
    let mut answered = vec!["initialize"];
    if list.was_handled() {
        answered.push("tools/list");
    }
    if call.was_handled() {
        answered.push("tools/call");
    }
    let severity = if call.was_handled() {
        Severity::Critical
    } else {
        Severity::High
    };
    report.add(Finding::new(
        "auth.none",
        severity,
        "No authentication: anyone who reaches the URL can use the server",
        format!("Answered without a token: {}.", answered.join(", ")),
        "Require OAuth 2.1 bearer tokens (the MCP authorization spec), or put the server behind \
         an authenticating gateway and make it reachable only from there.",
    ));
    Ok(())
}

/// A tool name no server has: calling it shows whether calls are accepted, without side effects.
pub const NO_SUCH_TOOL: &str = "authmcp-scan-no-such-tool";

/// A 401 must say `Bearer` and point at the protected-resource metadata, or clients cannot find
/// where to log in.
fn www_authenticate(anonymous: &Exchange, report: &mut Report) {
    report.ran("auth.www_authenticate");
    if anonymous.status != 401 {
        report.add(Finding::new(
            "auth.status",
            Severity::Low,
            format!(
                "A request without a token gets HTTP {} instead of 401",
                anonymous.status
            ),
            "MCP clients start OAuth discovery on a 401 with WWW-Authenticate; other statuses \
             leave them stuck.",
            "Answer unauthenticated requests with 401 and a WWW-Authenticate header.",
        ));
        return;
    }
    match anonymous.www_authenticate.as_deref() {
        None => report.add(Finding::new(
            "auth.www_authenticate",
            Severity::Medium,
            "The 401 has no WWW-Authenticate header",
            "Clients cannot learn how to authenticate (RFC 6750, MCP authorization).",
            "Send `WWW-Authenticate: Bearer resource_metadata=\"<protected-resource metadata URL>\"`.",
        )),
        Some(value) if !value.trim_start().to_ascii_lowercase().starts_with("bearer") => {
            report.add(Finding::new(
                "auth.www_authenticate",
                Severity::Medium,
                "The 401's WWW-Authenticate does not offer Bearer",
                format!("WWW-Authenticate: {value}"),
                "Offer the Bearer scheme with a resource_metadata parameter.",
            ))
        }
        Some(value) if !value.contains("resource_metadata") => report.add(Finding::new(
            "auth.www_authenticate",
            Severity::Low,
            "The 401's WWW-Authenticate has no resource_metadata",
            format!(
                "WWW-Authenticate: {value}. Clients fall back to guessing the metadata URL."
            ),
            "Add `resource_metadata=\"<protected-resource metadata URL>\"` (RFC 9728).",
        )),
        Some(_) => {}
    }
}

/// Tokens every server must refuse: garbage, a JWT with a forged signature, `alg: none`, an
/// expired JWT.
async fn refused_tokens(probe: &Probe, report: &mut Report) -> Result<(), ProbeError> {
    report.ran("auth.refused_tokens");
    let audience = probe.url.as_str();
    let probes = [
        (
            "auth.invalid_token_accepted",
            "A malformed token is accepted".to_string(),
            "authmcp-scan-not-a-token".to_string(),
        ),
        (
            "auth.forged_token_accepted",
            "A JWT with a forged signature is accepted".to_string(),
            jwt("HS256", audience, 3600, true),
        ),
        (
            "auth.alg_none_accepted",
            "An unsigned JWT (alg none) is accepted".to_string(),
            jwt("none", audience, 3600, false),
        ),
        (
            "auth.expired_token_accepted",
            "An expired JWT is accepted".to_string(),
            jwt("HS256", audience, -3600, true),
        ),
    ];
    for (id, title, token) in probes {
        let answer = probe
            .post(
                probe::initialize(1),
                Send {
                    bearer: Some(&token),
                    ..Send::default()
                },
            )
            .await?;
        if answer.result().is_some() {
            report.add(Finding::new(
                id,
                Severity::Critical,
                title,
                "initialize succeeded with a token the server must refuse; anyone can mint one.",
                "Verify every token's signature (with the expected algorithm only), expiry, \
                 issuer and audience before serving the request.",
            ));
        }
    }
    Ok(())
}

/// A token in the URL ends up in proxy logs and browser history: servers must take it only from
/// the Authorization header.
async fn query_token(probe: &Probe, token: &str, report: &mut Report) -> Result<(), ProbeError> {
    report.ran("auth.query_token");
    let answer = probe
        .post(
            probe::initialize(1),
            Send {
                query_token: Some(token),
                ..Send::default()
            },
        )
        .await?;
    if answer.result().is_some() {
        report.add(Finding::new(
            "auth.query_token_accepted",
            Severity::Medium,
            "A token in the query string is accepted",
            "initialize succeeded with `?access_token=…` and no Authorization header; URLs are \
             logged by proxies and servers.",
            "Accept bearer tokens from the Authorization header only (OAuth 2.1 forbids the \
             query parameter).",
        ));
    }
    Ok(())
}

/// A JWT the scanner made up: `lifetime_s` from now (negative: already expired), signed with
/// random bytes (or not at all for `alg: none`), so no honest server can accept it.
fn jwt(alg: &str, audience: &str, lifetime_s: i64, signed: bool) -> String {
    let now = crate::storage::unix_ms_now() / 1000;
    let header = json!({"alg": alg, "typ": "JWT"});
    let claims = json!({
        "iss": "https://authmcp-scan.invalid/",
        "sub": "authmcp-scan",
        "aud": audience,
        "iat": now.min(now + lifetime_s),
        "exp": now + lifetime_s,
        "scope": "mcp:tools mcp:admin",
    });
    let signature = if signed {
        URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
    } else {
        String::new()
    };
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        signature
    )
}

#[cfg(test)]
pub(super) fn test_jwt(alg: &str, lifetime_s: i64, signed: bool) -> String {
    jwt(alg, "http://127.0.0.1/mcp", lifetime_s, signed)
}
