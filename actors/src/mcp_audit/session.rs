//! Origin validation (DNS rebinding) and sessions: ids that cannot be guessed, that are not a
//! credential on their own, that end when the client ends them and are refused once unknown.

use serde_json::json;

use super::auth::Access;
use super::probe::{self, Probe, ProbeError, Send, Session};
use super::{Finding, Report, ScanTarget, Severity};
use crate::auth::opaque::hex;

/// An Origin no server should trust.
const FOREIGN_ORIGIN: &str = "http://authmcp-scan.invalid";

pub async fn check(
    probe: &Probe,
    target: &ScanTarget,
    access: &Access,
    report: &mut Report,
) -> Result<(), ProbeError> {
    let bearer = access.session().and_then(|s| s.bearer.clone());
    if access.session().is_none() {
        report.skipped("origin, sessions", "no session could be opened");
        return Ok(());
    }
    origin(probe, bearer.as_deref(), access.requires_auth(), report).await?;
    let Some((first, _)) = probe::open_session(probe, bearer.as_deref()).await? else {
        return Ok(());
    };
    let Some(first_id) = first.id.clone() else {
        report.skipped("sessions", "the server is stateless (no Mcp-Session-Id)");
        return Ok(());
    };
    report.ran("session.id");
    let second = probe::open_session(probe, bearer.as_deref()).await?;
    id_quality(
        &first_id,
        second.as_ref().and_then(|(s, _)| s.id.as_deref()),
        report,
    );
    if access.requires_auth() && target.token.is_some() {
        id_alone(probe, &first, report).await?;
    }
    unknown_id(probe, &first, report).await?;
    termination(probe, &first, report).await?;
    Ok(())
}

async fn origin(
    probe: &Probe,
    bearer: Option<&str>,
    requires_auth: bool,
    report: &mut Report,
) -> Result<(), ProbeError> {
    report.ran("origin");
    let answer = probe
        .post(
            probe::initialize(1),
            Send {
                bearer,
                origin: Some(FOREIGN_ORIGIN),
                ..Send::default()
            },
        )
        .await?;
    if answer.result().is_some() {
        let (severity, why) = if requires_auth {
            (
                Severity::Medium,
                "a web page can reach the server through the browser (DNS rebinding); only the \
                 token requirement stands in its way",
            )
        } else {
            (
                Severity::High,
                "any web page the user visits can drive the server through the browser (DNS \
                 rebinding), and it needs no token",
            )
        };
        report.add(Finding::new(
            "origin.not_validated",
            severity,
            "Requests from a foreign Origin are served",
            format!("initialize with `Origin: {FOREIGN_ORIGIN}` succeeded: {why}."),
            "Answer 403 to requests whose Origin is not one you serve (MCP transport spec: \
             servers MUST validate Origin).",
        ));
    }
    Ok(())
}

/// Session ids must be unguessable: long, random, not counters.
fn id_quality(first: &str, second: Option<&str>, report: &mut Report) {
    let bits = entropy_bits(first);
    let numeric = |id: &str| id.parse::<u128>().ok();
    if let (Some(a), Some(b)) = (numeric(first), second.and_then(numeric))
        && a.abs_diff(b) < 1_000_000
    {
        report.add(Finding::new(
            "session.predictable_id",
            Severity::High,
            "Session ids are sequential",
            format!(
                "Two sessions got ids {first} and {}.",
                second.unwrap_or_default()
            ),
            "Generate session ids from a cryptographically secure random source (≥ 128 bits).",
        ));
    } else if bits < 96.0 {
        report.add(Finding::new(
            "session.weak_id",
            Severity::Medium,
            "Session ids are short",
            format!(
                "`{first}` carries at most ~{bits:.0} bits; ids should carry at least 128 random bits."
            ),
            "Generate session ids from a cryptographically secure random source (≥ 128 bits).",
        ));
    }
}

/// An upper bound for the randomness of `id`: its length times the bits of the smallest usual
/// alphabet that holds all its characters.
pub(super) fn entropy_bits(id: &str) -> f64 {
    let alphabet: f64 = if id.chars().all(|c| c.is_ascii_digit()) {
        10.0
    } else if id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        16.0
    } else if id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        64.0
    } else {
        94.0
    };
    let symbols = id.chars().filter(|c| *c != '-').count() as f64;
    symbols * alphabet.log2()
}

/// With authentication required, a session id without the token must be refused.
async fn id_alone(probe: &Probe, session: &Session, report: &mut Report) -> Result<(), ProbeError> {
    report.ran("session.id_alone");
    let answer = probe
        .post(
            probe::request(7, "tools/list", json!({})),
            Send {
                bearer: None,
                ..session.send()
            },
        )
        .await?;
    if answer.was_handled() {
        report.add(Finding::new(
            "session.id_is_credential",
            Severity::Critical,
            "A session id works without the token",
            "tools/list succeeded with Mcp-Session-Id and no Authorization header: whoever \
             learns an id takes over the session.",
            "Authenticate every request, and bind each session to the user who created it.",
        ));
    }
    Ok(())
}

/// A session id the server never issued must get 404 (the client then starts over).
async fn unknown_id(
    probe: &Probe,
    session: &Session,
    report: &mut Report,
) -> Result<(), ProbeError> {
    report.ran("session.unknown_id");
    let made_up = format!("authmcp-scan-{}", hex(&rand::random::<[u8; 16]>()));
    let answer = probe
        .post(
            probe::request(8, "tools/list", json!({})),
            Send {
                session: Some(&made_up),
                ..session.send()
            },
        )
        .await?;
    if answer.was_handled() {
        report.add(Finding::new(
            "session.unknown_accepted",
            Severity::Medium,
            "A made-up session id is accepted",
            "tools/list succeeded with an Mcp-Session-Id the server never issued.",
            "Answer 404 to requests naming an unknown session.",
        ));
    } else if answer.status != 404 {
        report.add(Finding::new(
            "session.unknown_status",
            Severity::Low,
            format!(
                "An unknown session id gets HTTP {} instead of 404",
                answer.status
            ),
            "Clients start a new session only on 404 (MCP transport spec).",
            "Answer 404 to requests naming an unknown or ended session.",
        ));
    }
    Ok(())
}

/// After a successful DELETE the session must be gone.
async fn termination(
    probe: &Probe,
    session: &Session,
    report: &mut Report,
) -> Result<(), ProbeError> {
    report.ran("session.termination");
    let deleted = probe.delete(session.send()).await?;
    if !deleted.is_success() {
        // 405: the server does not let clients end sessions, which the spec allows.
        return Ok(());
    }
    let after = probe
        .post(probe::request(9, "tools/list", json!({})), session.send())
        .await?;
    if after.was_handled() {
        report.add(Finding::new(
            "session.not_terminated",
            Severity::Low,
            "A deleted session keeps working",
            "DELETE succeeded, yet the session id still served tools/list.",
            "End the session on DELETE and answer 404 to its id afterwards.",
        ));
    }
    Ok(())
}
