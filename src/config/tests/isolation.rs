//! `isolation` and `max_processes` on `[[backends]]`: stdio-only, with clear errors.

use actors::spec::StdioIsolation;

use super::{Scratch, keys_of};

#[test]
fn stdio_backends_default_to_shared_and_per_session_defaults_to_sixteen() {
    let scratch = Scratch::new();
    let cfg = scratch
        .load_toml(
            r#"
            [[backends]]
            name = "plain"
            command = "srv"

            [[backends]]
            name = "explicit"
            command = "srv"
            isolation = "shared"

            [[backends]]
            name = "mine"
            command = "srv"
            isolation = "per-session"

            [[backends]]
            name = "capped"
            command = "srv"
            isolation = "per-session"
            max_processes = 3

            [[backends]]
            name = "web"
            url = "http://a/mcp"
        "#,
        )
        .unwrap();
    let isolation: Vec<_> = cfg.backends.iter().map(|b| b.isolation).collect();
    assert_eq!(
        isolation,
        [
            StdioIsolation::Shared,
            StdioIsolation::Shared,
            StdioIsolation::PerSession { max_processes: 16 },
            StdioIsolation::PerSession { max_processes: 3 },
            StdioIsolation::Shared,
        ]
    );
}

#[test]
fn isolation_mistakes_are_reported_with_the_fix() {
    let scratch = Scratch::new();
    let report = scratch
        .load_toml(
            r#"
            [[backends]]
            name = "http-isolated"
            url = "http://a/mcp"
            isolation = "per-session"
            max_processes = 4

            [[backends]]
            name = "shared-capped"
            command = "srv"
            max_processes = 4

            [[backends]]
            name = "typo"
            command = "srv"
            isolation = "per_session"

            [[backends]]
            name = "zero"
            command = "srv"
            isolation = "per-session"
            max_processes = 0

            [[backends]]
            name = "wrong-type"
            command = "srv"
            isolation = true
        "#,
        )
        .unwrap_err();
    let keys = keys_of(&report);
    for expected in [
        "backends[0].isolation",
        "backends[0].max_processes",
        "backends[1].max_processes",
        "backends[2].isolation",
        "backends[3].max_processes",
        "backends[4].isolation",
    ] {
        assert!(
            keys.contains(&expected.to_string()),
            "missing {expected} in:\n{report}"
        );
    }
    let text = report.to_string();
    assert!(text.contains("only applies to stdio backends"), "{text}");
    assert!(
        text.contains(r#"only applies with isolation = "per-session""#),
        "{text}"
    );
    assert!(text.contains(r#"use "shared""#), "{text}");
    assert!(!text.contains("unknown key"), "keys are known: {text}");
}
