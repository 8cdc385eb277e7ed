//! The scanner's pure parts; the checks themselves are tested end to end against the gateway and
//! a deliberately weak server in tests/integration/mcp_audit.rs.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::*;

#[test]
fn made_up_tokens_say_what_they_claim() {
    let decode = |part: &str| -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    };
    let expired = auth::test_jwt("HS256", -60, true);
    let parts: Vec<&str> = expired.split('.').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(decode(parts[0])["alg"], "HS256");
    let claims = decode(parts[1]);
    assert!(claims["exp"].as_i64().unwrap() < crate::storage::unix_ms_now() / 1000);
    assert!(!parts[2].is_empty(), "a (random) signature");
    let none = auth::test_jwt("none", 60, false);
    assert!(none.ends_with('.'), "alg none carries no signature: {none}");
}

#[test]
fn sse_answers_yield_their_response_event() {
    let body = "id: 1\nretry: 1000\ndata: \n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"ok\":true}}\n\n";
    let message = probe::first_response_event(body).expect("the response");
    assert_eq!(message["result"]["ok"], true);
    assert!(
        probe::first_response_event("data: {\"jsonrpc\":\"2.0\",\"method\":\"x\"}\n\n").is_none()
    );
}

#[test]
fn session_id_entropy_is_bounded_by_length_and_alphabet() {
    assert!(session::entropy_bits("12345") < 20.0);
    let uuid = "3f2a9c1e-8b7d-4e6f-a5c4-0d1e2f3a4b5c";
    assert!((session::entropy_bits(uuid) - 128.0).abs() < 0.1);
    assert!(session::entropy_bits("Xk3_9aZ-q0LmN8vB7cD6eF5gH4iJ3kL2") > 180.0);
}

#[test]
fn leaks_are_recognised_and_plain_errors_are_not() {
    let python = "Traceback (most recent call last):\n  File \"/srv/app/server.py\", line 42";
    assert!(input::leak(python).is_some());
    assert!(input::leak("thread 'main' panicked at src/main.rs:3:5").is_some());
    assert!(input::leak("    at Object.handler (/app/dist/index.js:10:7)").is_some());
    assert!(input::leak("Unknown tool: authmcp-scan-no-such-tool").is_none());
    assert!(input::leak("Parse error: expected value at line 1 column 31").is_none());
}

#[test]
fn destructive_names_are_found_in_any_case_style() {
    for name in [
        "delete_file",
        "dropTable",
        "rm",
        "db.purge",
        "Run-Shell",
        "fs_remove",
    ] {
        assert!(tools::destructive(name), "{name}");
    }
    for name in [
        "get_weather",
        "list_files",
        "deleted_items_count_view",
        "reformat",
    ] {
        assert!(!tools::destructive(name), "{name}");
    }
}

#[test]
fn www_authenticate_parameters_are_read() {
    let header = r#"Bearer error="invalid_token", resource_metadata="https://a.example/.well-known/oauth-protected-resource/mcp""#;
    assert_eq!(
        metadata::parameter(header, "resource_metadata").as_deref(),
        Some("https://a.example/.well-known/oauth-protected-resource/mcp")
    );
    assert_eq!(metadata::parameter(header, "scope"), None);
}

#[test]
fn reports_sort_worst_first_and_fail_on_high() {
    let mut report = Report::new("http://127.0.0.1/mcp", false);
    report.add(Finding::new("a.low", Severity::Low, "t", "d", "f"));
    report.add(Finding::new("b.info", Severity::Info, "t", "d", "f"));
    assert!(!report.fails(), "low and info pass");
    report.add(Finding::new("c.high", Severity::High, "t", "d", "f"));
    report.finish();
    assert!(report.fails());
    assert_eq!(report.findings[0].id, "c.high");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["findings"][0]["severity"], "high");
    assert!(report.to_text().contains("1 high"));
}

#[test]
fn the_resource_must_be_what_its_metadata_url_was_built_from() {
    let endpoint = url::Url::parse("https://mcp.example.test/mcp").unwrap();
    let suffixed = "https://mcp.example.test/.well-known/oauth-protected-resource/mcp";
    let root = "https://mcp.example.test/.well-known/oauth-protected-resource";
    let matches = |resource, prm_url| metadata::resource_matches(resource, prm_url, &endpoint);
    assert!(matches("https://mcp.example.test/mcp", suffixed));
    assert!(matches("https://mcp.example.test/mcp/", suffixed));
    assert!(matches("https://mcp.example.test/mcp", root));
    assert!(
        matches("https://mcp.example.test", root),
        "RFC 9728: the origin, for the root"
    );
    assert!(!matches("https://mcp.example.test", suffixed));
    assert!(!matches("http://mcp-internal.invalid:8080/mcp", suffixed));
    assert!(!matches("http://mcp-internal.invalid:8080/mcp", root));
    assert!(!matches("", root), "a missing resource never matches");
}
