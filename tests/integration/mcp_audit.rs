//! `authmcp-gateway scan`: the real binary against the gateway itself (a clean report: nothing
//! high or critical, exit 0) and against a deliberately weak rmcp server (examples/
//! weak_mcp_server.rs: every finding it was built to show, exit 1).

use std::path::Path;

use actors::storage::users::Role;
use serde_json::{Value, json};

use crate::daemon::BIN;
use crate::fixture::{fixture_binary, spawn_listening};
use crate::harness::TestGateway;
use crate::http;
use crate::users::{create_mcp_user, create_user, login};

/// Runs the scanner CLI; returns its exit code, stdout and the JSON report.
async fn scan(url: &str, token: Option<&str>, dir: &Path) -> (i32, String, Value) {
    let report = dir.join("scan-report.json");
    let mut command = std::process::Command::new(BIN);
    command.args(["scan", url, "--json"]).arg(&report);
    if let Some(token) = token {
        // The token travels in the environment, not the process list.
        command.args(["--token-env", "SCAN_TEST_TOKEN"]);
        command.env("SCAN_TEST_TOKEN", token);
    }
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("the scanner runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let json = std::fs::read_to_string(&report)
        .unwrap_or_else(|e| panic!("no JSON report ({e}); stdout: {stdout}"));
    (
        output.status.code().unwrap_or(-1),
        stdout,
        serde_json::from_str(&json).unwrap(),
    )
}

fn ids(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

fn severe(report: &Value) -> Vec<&Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| matches!(f["severity"].as_str(), Some("high" | "critical")))
        .collect()
}

fn ran(report: &Value, check: &str) -> bool {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == check)
}

/// Starts the weak server with `flags`, scans it (with `token`, if any) and stops it.
async fn scan_weak(flags: &[&str], token: Option<&str>) -> (i32, String, Value) {
    let binary = fixture_binary().with_file_name("weak_mcp_server");
    let (mut server, port) = spawn_listening(&binary, flags, &[]);
    let dir = tempfile::tempdir().unwrap();
    let scanned = scan(&format!("http://127.0.0.1:{port}/mcp"), token, dir.path()).await;
    let _ = server.kill();
    let _ = server.wait();
    scanned
}

/// The report has finding `id`, with `severity`.
fn assert_finding(report: &Value, id: &str, severity: &str, stdout: &str) {
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("{id} is found: {stdout}"));
    assert_eq!(finding["severity"], severity, "{id}: {stdout}");
}

/// What the weak server's `--no-body-limit`, `--bad-metadata` and `--short-session-ids` show;
/// the gateway must show none of it.
const MODE_FINDINGS: [&str; 4] = [
    "input.no_body_limit",
    "metadata.resource_mismatch",
    "metadata.issuer_mismatch",
    "session.weak_id",
];

#[actix_rt::test]
async fn the_gateway_scans_clean_with_and_without_a_token() {
    let config = format!(
        "[[backends]]\nname = \"local\"\ncommand = {:?}\nargs = [\"stdio\", \"--tools\", \"3\"]\n",
        fixture_binary().display()
    );
    let gw = TestGateway::start(&config).await;
    gw.wait_online(1).await;
    create_mcp_user(&gw, "scanned").await;
    let token = login(&gw, "scanned").await;
    let dir = gw.config_path.parent().unwrap().to_path_buf();
    let url = gw.url("/mcp");

    let (code, stdout, report) = scan(&url, None, &dir).await;
    assert!(severe(&report).is_empty(), "nothing severe: {stdout}");
    assert_eq!(code, 0, "{stdout}");
    for check in [
        "auth.unauthenticated",
        "auth.www_authenticate",
        "auth.refused_tokens",
        "metadata.protected_resource",
        "metadata.authorization_server",
    ] {
        assert!(ran(&report, check), "{check} ran: {stdout}");
    }
    assert!(
        !ids(&report)
            .iter()
            .any(|id| id.starts_with("auth.") || id.starts_with("metadata.")),
        "the gateway's auth and discovery are sound: {stdout}"
    );
    for id in MODE_FINDINGS {
        assert!(!ids(&report).iter().any(|f| f == id), "no {id}: {stdout}");
    }

    let (code, stdout, report) = scan(&url, Some(&token), &dir).await;
    assert!(severe(&report).is_empty(), "nothing severe: {stdout}");
    assert_eq!(code, 0, "{stdout}");
    for check in [
        "auth.query_token",
        "origin",
        "session.id",
        "session.id_alone",
        "session.unknown_id",
        "session.termination",
        "input.malformed",
        "input.oversized",
        "errors.leak",
        "tools.poisoning",
    ] {
        assert!(ran(&report, check), "{check} ran: {stdout}");
    }
    let found = ids(&report);
    assert_eq!(
        found,
        ["transport.plain_http"],
        "only the informational loopback note: {stdout}"
    );
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn a_weak_server_shows_every_weakness_it_has() {
    let (code, stdout, report) = scan_weak(&[], None).await;
    let found = ids(&report);
    for expected in [
        "auth.none",
        "origin.not_validated",
        "errors.leak",
        "tools.hidden_unicode",
        "tools.hidden_instructions",
        "tools.destructive_unannotated",
        "session.predictable_id",
        "input.server_error",
    ] {
        assert!(
            found.iter().any(|id| id == expected),
            "{expected}: {stdout}"
        );
    }
    let none = &report["findings"][0];
    assert_eq!(none["id"], "auth.none", "worst first: {stdout}");
    assert_eq!(none["severity"], "critical", "calls work without a token");
    assert_eq!(code, 1, "high and critical findings fail the command");
    assert!(stdout.contains("Fix:"), "every finding has a fix hint");
}

/// A server that asks for a token and then takes any (or a session id alone): the
/// authentication, discovery and session-binding findings the server without auth cannot show.
#[actix_rt::test]
async fn a_server_taking_any_token_shows_the_auth_findings() {
    let (code, stdout, report) = scan_weak(&["--any-token"], Some("whatever-it-is")).await;
    let found = ids(&report);
    for expected in [
        "auth.www_authenticate",
        "auth.invalid_token_accepted",
        "auth.forged_token_accepted",
        "auth.alg_none_accepted",
        "auth.expired_token_accepted",
        "auth.query_token_accepted",
        "metadata.prm_missing",
        "session.id_is_credential",
    ] {
        assert!(
            found.iter().any(|id| id == expected),
            "{expected}: {stdout}"
        );
    }
    assert!(
        !found.iter().any(|id| id == "auth.none"),
        "it does ask for a token: {stdout}"
    );
    assert_eq!(code, 1, "accepted forged tokens fail the command: {stdout}");
}

/// A 12 MiB body is read and answered: the server has no request size limit.
#[actix_rt::test]
async fn a_server_without_a_body_limit_is_found() {
    let (_, stdout, report) = scan_weak(&["--no-body-limit"], None).await;
    assert_finding(&report, "input.no_body_limit", "low", &stdout);
    let found = ids(&report);
    assert!(
        !found.iter().any(|id| id.starts_with("input.oversized")),
        "it survives the big body and answers it without a 5xx: {stdout}"
    );
    // Without the flag rmcp's own 4 MiB cap answers 413: nothing to report.
    let (_, stdout, report) = scan_weak(&[], None).await;
    assert!(ran(&report, "input.oversized"), "{stdout}");
    assert!(
        !ids(&report).iter().any(|id| id == "input.no_body_limit"),
        "{stdout}"
    );
}

/// A 12 MiB body gets HTTP 500 and takes the server down: both are found, the second as high
/// (the command fails), and the scan still finishes with the server gone.
#[actix_rt::test]
async fn a_server_falling_over_on_a_big_body_is_found() {
    let (code, stdout, report) = scan_weak(&["--fragile-big-body"], None).await;
    assert_finding(&report, "input.oversized_error", "medium", &stdout);
    assert_finding(&report, "input.oversized_down", "high", &stdout);
    assert!(
        !ids(&report).iter().any(|id| id == "input.no_body_limit"),
        "the big body was refused, not processed: {stdout}"
    );
    assert!(ran(&report, "tools.poisoning"), "{stdout}");
    assert_eq!(code, 1, "a server brought down fails the command: {stdout}");
}

/// Discovery documents that exist but disagree with the endpoint and with each other.
#[actix_rt::test]
async fn inconsistent_oauth_metadata_is_found() {
    let (_, stdout, report) = scan_weak(&["--bad-metadata"], None).await;
    assert!(ran(&report, "metadata.authorization_server"), "{stdout}");
    assert_finding(&report, "metadata.resource_mismatch", "medium", &stdout);
    assert_finding(&report, "metadata.issuer_mismatch", "medium", &stdout);
    let mut metadata: Vec<_> = ids(&report)
        .into_iter()
        .filter(|id| id.starts_with("metadata."))
        .collect();
    metadata.sort();
    assert_eq!(
        metadata,
        ["metadata.issuer_mismatch", "metadata.resource_mismatch"],
        "found and followed, PKCE and registration in order: only the inconsistencies: {stdout}"
    );
}

/// Random ids that are too short to be unguessable: weak, but not sequential.
#[actix_rt::test]
async fn short_session_ids_are_found() {
    let (_, stdout, report) = scan_weak(&["--short-session-ids"], None).await;
    assert_finding(&report, "session.weak_id", "medium", &stdout);
    assert!(
        !ids(&report).iter().any(|id| id == "session.predictable_id"),
        "random, not counted: {stdout}"
    );
}

#[actix_rt::test]
async fn an_unreachable_server_is_a_clear_error() {
    let port = crate::fixture::closed_port();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(BIN)
            .args(["scan", &format!("http://127.0.0.1:{port}/mcp")])
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("does not answer"), "{stderr}");
}

#[actix_rt::test]
async fn admins_run_the_scanner_through_the_admin_api() {
    let binary = fixture_binary().with_file_name("weak_mcp_server");
    let (mut server, port) = spawn_listening(&binary, &[], &[]);
    let weak = format!("http://127.0.0.1:{port}/mcp");
    let config = format!("[[backends]]\nname = \"weak\"\nurl = \"{weak}\"\n");
    let gw = TestGateway::start(&config).await;
    create_user(&gw, "boss", Role::Admin);
    create_mcp_user(&gw, "plain").await;
    let admin = login(&gw, "boss").await;
    let user = login(&gw, "plain").await;
    let endpoint = gw.url("/admin/api/run-mcp-audit");

    let by_url = http::post_json(&endpoint, Some(&admin), &json!({"url": weak})).await;
    assert_eq!(by_url.status, 200, "{}", by_url.body);
    assert_eq!(by_url.body["findings"][0]["id"], "auth.none");

    let by_server =
        http::post_json(&endpoint, Some(&admin), &json!({"server_id": "file:weak"})).await;
    assert_eq!(by_server.status, 200, "{}", by_server.body);
    assert_eq!(by_server.body["target"], weak.as_str());
    assert!(!by_server.body["findings"].as_array().unwrap().is_empty());

    let refused = http::post_json(&endpoint, Some(&user), &json!({"url": weak})).await;
    assert_eq!(refused.status, 403, "admins only: {}", refused.body);
    for bad in [
        json!({}),
        json!({"url": "ftp://example.test/mcp"}),
        json!({"url": weak, "timeout_s": 0}),
        json!({"url": weak, "token": 7}),
    ] {
        let reply = http::post_json(&endpoint, Some(&admin), &bad).await;
        assert_eq!(reply.status, 400, "{bad}: {}", reply.body);
    }
    let closed = format!("http://127.0.0.1:{}/mcp", crate::fixture::closed_port());
    let unreachable = http::post_json(&endpoint, Some(&admin), &json!({"url": closed})).await;
    assert_eq!(unreachable.status, 400);
    assert!(
        unreachable.body.to_string().contains("does not answer"),
        "{}",
        unreachable.body
    );
    gw.stop().await.unwrap();
    let _ = server.kill();
    let _ = server.wait();
}
