//! Validation: every error in one report, with source and key; odd input never panics.

use std::collections::HashMap;

use super::{Scratch, env, keys_of, with_file};
use actors::spec::BackendTransport;

#[test]
fn a_bad_file_reports_every_problem_at_once() {
    let scratch = Scratch::new();
    let text = r#"
        [server]
        prot = 80

        [[backends]]
        name = "alpha"
        url = "http://alpha.internal/mcp"

        [[backends]]
        name = "alpha"
        url = "ftp://alpha.internal/mcp"

        [[backends]]
        name = "tools"
        transport = "stdio"
        args = ["--serve"]
        colour = "blue"
    "#;
    let report = scratch.load_toml(text).unwrap_err();
    let keys = keys_of(&report);
    for expected in [
        "server.prot",
        "backends[1].name",
        "backends[1].url",
        "backends[2].command",
        "backends[2].colour",
    ] {
        assert!(
            keys.contains(&expected.to_string()),
            "missing {expected} in:\n{report}"
        );
    }
    let file = scratch.path().join("gateway.toml").display().to_string();
    assert!(report.errors.iter().all(|e| e.source == file), "{report}");
    let text = report.to_string();
    assert_eq!(text.lines().count(), report.errors.len());
    assert!(text.contains("did you mean \"port\""), "{text}");
    assert!(text.contains("duplicate backend name \"alpha\""), "{text}");
}

#[test]
fn wrong_types_say_what_was_expected() {
    let scratch = Scratch::new();
    let text = r#"
        data_dir = 5
        [server]
        port = "eighty"
        workers = -1
        trusted_proxies = "10.0.0.1"
        [auth]
        required = "yes"
        [auth.password_policy]
        min_length = 1.5
        [logging]
        level = 3
        [[backends]]
        name = "a"
        command = "srv"
        args = "--x"
        env = { A = 1 }
        enabled = "no"
    "#;
    let report = scratch.load_toml(text).unwrap_err();
    let find = |key: &str| {
        report
            .errors
            .iter()
            .find(|e| e.key == key)
            .unwrap_or_else(|| panic!("no error for {key} in:\n{report}"))
            .message
            .clone()
    };
    assert!(find("data_dir").contains("expected a string"));
    assert!(find("server.port").contains("expected an integer"));
    assert!(find("server.workers").contains("between 0 and 1024"));
    assert!(find("server.trusted_proxies").contains("list of strings"));
    assert!(find("auth.required").contains("expected a boolean"));
    assert!(find("auth.password_policy.min_length").contains("found the float"));
    assert!(find("logging.level").contains("expected a string"));
    assert!(find("backends[0].args").contains("list of strings"));
    assert!(find("backends[0].env.A").contains("expected a string"));
    assert!(find("backends[0].enabled").contains("expected a boolean"));
}

#[test]
fn environment_values_of_the_wrong_type_name_the_variable() {
    let scratch = Scratch::new();
    let vars = env(&[
        ("PORT", "abc"),
        ("AUTH_REQUIRED", "maybe"),
        ("AUTHMCP__SERVER__PORTT", "1"),
        ("AUTHMCP__BACKENDS__0__URL", "http://x"),
        ("JWT_ALGORITHM", "PS512"),
        ("TRUSTED_PROXIES", "10.0.0.1,not-an-ip"),
    ]);
    let report = scratch
        .load(&with_file(scratch.write("gw.toml", "")), &vars)
        .unwrap_err();
    let by_source = |source: &str| {
        report
            .errors
            .iter()
            .find(|e| e.source == source)
            .unwrap_or_else(|| panic!("no error from {source} in:\n{report}"))
    };
    assert_eq!(by_source("environment variable PORT").key, "server.port");
    assert_eq!(
        by_source("environment variable AUTH_REQUIRED").key,
        "auth.required"
    );
    assert!(
        by_source("environment variable AUTHMCP__SERVER__PORTT")
            .message
            .contains("unknown")
    );
    assert!(
        by_source("environment variable AUTHMCP__BACKENDS__0__URL")
            .message
            .contains("[[backends]]")
    );
    assert!(
        by_source("environment variable JWT_ALGORITHM")
            .message
            .contains("HS256")
    );
    let proxy = by_source("environment variable TRUSTED_PROXIES");
    assert_eq!(proxy.key, "server.trusted_proxies[1]");
}

#[test]
fn flags_are_named_as_the_source_of_their_errors() {
    let scratch = Scratch::new();
    let sources = crate::config::Sources {
        log_level: Some("chatty".into()),
        host: Some("bad host".into()),
        ..with_file(scratch.write("gw.toml", ""))
    };
    let report = scratch.load(&sources, &HashMap::new()).unwrap_err();
    let sources: Vec<&str> = report.errors.iter().map(|e| e.source.as_str()).collect();
    assert_eq!(sources, vec!["--host", "--log-level"], "{report}");
}

#[test]
fn value_rules() {
    let scratch = Scratch::new();
    let text = r#"
        [server]
        public_url = "https://gw.example.com/?x=1"
        trusted_proxies = ["10.0.0.0/8", "300.1.1.1", "::1/129"]
        max_body_bytes = 0
        [database]
        url = "mysql://root:hunter2@db/gw"
        pool_size = 0
        [auth]
        bcrypt_cost = 3
        access_token_ttl_s = 0
        jwt_secret = ""
        [logging]
        level = "verbose"
    "#;
    let report = scratch.load_toml(text).unwrap_err();
    let keys = keys_of(&report);
    for expected in [
        "server.public_url",
        "server.trusted_proxies[1]",
        "server.trusted_proxies[2]",
        "server.max_body_bytes",
        "database.url",
        "database.pool_size",
        "auth.bcrypt_cost",
        "auth.access_token_ttl_s",
        "auth.jwt_secret",
        "logging.level",
    ] {
        assert!(
            keys.contains(&expected.to_string()),
            "missing {expected} in:\n{report}"
        );
    }
    assert!(
        !report.to_string().contains("hunter2"),
        "a database password leaked:\n{report}"
    );
    assert_eq!(keys.len(), 10, "{report}");
}

#[test]
fn backend_shapes_and_their_mismatches() {
    let scratch = Scratch::new();
    let text = r#"
        [[backends]]
        name = "both"
        url = "http://a/mcp"
        command = "srv"

        [[backends]]
        name = "neither"

        [[backends]]
        name = "stdio-url"
        url = "http://a/mcp"
        transport = "stdio"

        [[backends]]
        name = "sse-cmd"
        command = "srv"
        transport = "sse"

        [[backends]]
        name = "weird"
        url = "http://a/mcp"
        transport = "websocket"

        [[backends]]
        name = "http-args"
        url = "http://a/mcp"
        args = ["x"]
        cwd = "/tmp"

        [[backends]]
        name = "zeros"
        url = "http://a/mcp"
        timeout_ms = 0
        health_interval_s = 0
        tool_prefix = "bad prefix"

        [[backends]]
        url = "http://nameless/mcp"

        [[backends]]
        name = "this-name-is-far-too-long-to-be-accepted-as-a-backend-name-by-the-gateway"
        url = "http://a/mcp"

        [[backends]]
        name = "nohost"
        url = "http://:8080/mcp"
    "#;
    let report = scratch.load_toml(text).unwrap_err();
    let keys = keys_of(&report);
    for expected in [
        "backends[0].command",
        "backends[1].command",
        "backends[2].transport",
        "backends[3].transport",
        "backends[4].transport",
        "backends[5].args",
        "backends[5].cwd",
        "backends[6].timeout_ms",
        "backends[6].health_interval_s",
        "backends[6].tool_prefix",
        "backends[7].name",
        "backends[8].name",
        "backends[9].url",
    ] {
        assert!(
            keys.contains(&expected.to_string()),
            "missing {expected} in:\n{report}"
        );
    }
}

#[test]
fn valid_backends_become_specs_with_defaults() {
    let scratch = Scratch::new();
    let text = r#"
        [[backends]]
        name = "web"
        url = "https://web.example.com/mcp"

        [[backends]]
        name = "legacy"
        url = "http://10.0.0.5:8080/sse"
        transport = "sse"
        tool_prefix = ""
        enabled = false
        timeout_ms = 1500
        health_interval_s = 5

        [[backends]]
        name = "local"
        command = "python3"
        args = ["-m", "server"]
        env = { TOKEN = "t", "lower.case" = "ok" }
        cwd = "/srv/local"
    "#;
    let cfg = scratch.load_toml(text).unwrap();
    let [web, legacy, local] = &cfg.backends[..] else {
        panic!("expected three backends, got {:?}", cfg.backends);
    };
    assert!(
        matches!(&web.transport, BackendTransport::StreamableHttp { url } if url.host_str() == Some("web.example.com"))
    );
    assert_eq!(web.tool_prefix, "web_");
    assert!(web.enabled);
    assert_eq!(web.timeout.as_millis(), 30_000);
    assert_eq!(web.health_interval.as_secs(), 30);
    assert_eq!(legacy.transport.kind(), "sse");
    assert_eq!(legacy.tool_prefix, "");
    assert!(!legacy.enabled);
    assert_eq!(legacy.timeout.as_millis(), 1500);
    assert_eq!(legacy.health_interval.as_secs(), 5);
    let BackendTransport::Stdio {
        command,
        args,
        env,
        cwd,
    } = &local.transport
    else {
        panic!("expected stdio, got {:?}", local.transport);
    };
    assert_eq!(command, "python3");
    assert_eq!(args, &["-m", "server"]);
    assert_eq!(env.get("TOKEN").map(String::as_str), Some("t"));
    assert_eq!(env.get("lower.case").map(String::as_str), Some("ok"));
    assert_eq!(cwd.as_deref(), Some(std::path::Path::new("/srv/local")));
}

#[test]
fn odd_input_never_panics() {
    let scratch = Scratch::new();
    let inputs = [
        "server = 5",
        "backends = 5",
        "backends = [1, \"x\"]",
        "[[backends]]\nname = 5\nurl = []",
        "[server]\nport = 99999999999999999999",
        "[server]\nport = 70000",
        "[auth]\npassword_policy = \"strict\"",
        "\u{feff}[server]\nport = 1",
        "[[backends]]\nname = \"x\"\ncommand = \"\"",
        "[[backends]]\nname = \"x\"\ncommand = \"c\"\nenv = { \"\" = \"v\" }",
        "not toml at all [",
    ];
    for input in inputs {
        // Each must come back as Ok or a non-empty report, without panicking.
        if let Err(report) = scratch.load_toml(input) {
            assert!(!report.errors.is_empty(), "empty report for {input:?}");
            assert!(
                !report.to_string().contains("ValueKind"),
                "debug dump for {input:?}: {report}"
            );
        }
    }
}

#[test]
fn oauth_settings_are_read_and_checked() {
    let scratch = Scratch::new();
    let cfg = scratch
        .load_toml(
            "[oauth]\ndcr_enabled = false\ndcr_initial_access_token = \"0123456789abcdef-long\"\n\
             dcr_max_per_ip = 3\ncimd_allow_private = true\ncimd_timeout_ms = 500\n",
        )
        .unwrap_or_else(|report| panic!("{report}"));
    assert!(!cfg.oauth.dcr_enabled);
    assert_eq!(
        cfg.oauth.dcr_initial_access_token.as_deref(),
        Some("0123456789abcdef-long")
    );
    assert_eq!(cfg.oauth.dcr_max_per_ip, 3);
    assert!(cfg.oauth.cimd_allow_private);
    assert_eq!(
        cfg.oauth.cimd_timeout,
        std::time::Duration::from_millis(500)
    );

    let report = scratch
        .load_toml(
            "[oauth]\ndcr_initial_access_token = \"short\"\ndcr_max_per_ip = 0\n\
             cimd_max_bytes = 10\ncimd_timeout_ms = 999999\nmax_client = 5\n",
        )
        .unwrap_err();
    let keys = keys_of(&report);
    for expected in [
        "oauth.dcr_initial_access_token",
        "oauth.dcr_max_per_ip",
        "oauth.cimd_max_bytes",
        "oauth.cimd_timeout_ms",
        "oauth.max_client",
    ] {
        assert!(
            keys.contains(&expected.to_string()),
            "missing {expected} in:\n{report}"
        );
    }
    assert!(
        report.to_string().contains("at least 16 characters"),
        "{report}"
    );

    let from_env = scratch
        .load(
            &with_file(scratch.write("empty.toml", "")),
            &env(&[("AUTHMCP__OAUTH__DCR_MAX_PER_IP", "7")]),
        )
        .unwrap_or_else(|report| panic!("{report}"));
    assert_eq!(from_env.oauth.dcr_max_per_ip, 7);
}

#[test]
fn authorization_server_settings_are_read_and_checked() {
    let scratch = Scratch::new();
    let defaults = scratch
        .load_toml("")
        .unwrap_or_else(|report| panic!("{report}"));
    assert_eq!(defaults.oauth.code_ttl, std::time::Duration::from_secs(60));
    assert!(!defaults.oauth.password_grant_enabled);
    assert_eq!(defaults.rate_limit.login_max, 10);

    let cfg = scratch
        .load_toml(
            "[oauth]\ncode_ttl_s = 30\npassword_grant_enabled = true\n\
             login_session_ttl_s = 120\n[rate_limit]\nlogin_max = 3\nlogin_window_s = 60\n",
        )
        .unwrap_or_else(|report| panic!("{report}"));
    assert_eq!(cfg.oauth.code_ttl, std::time::Duration::from_secs(30));
    assert!(cfg.oauth.password_grant_enabled);
    assert_eq!(cfg.rate_limit.login_max, 3);
    assert_eq!(
        cfg.rate_limit.login_window,
        std::time::Duration::from_secs(60)
    );
    assert_eq!(
        cfg.oauth.login_session_ttl,
        std::time::Duration::from_secs(120)
    );

    let report = scratch
        .load_toml(
            "[oauth]\ncode_ttl_s = 3600\nlogin_session_ttl_s = 1\n[rate_limit]\nlogin_max = 0\n",
        )
        .unwrap_err();
    let keys = keys_of(&report);
    for expected in [
        "oauth.code_ttl_s",
        "rate_limit.login_max",
        "oauth.login_session_ttl_s",
    ] {
        assert!(
            keys.contains(&expected.to_string()),
            "missing {expected} in:\n{report}"
        );
    }
}

#[test]
fn rate_limits_are_read_with_overrides_backends_and_the_original_env_names() {
    use actors::ratelimit::{OverrideLimit, OverrideSubject, Quota};
    use actors::storage::users::Role;
    use std::time::Duration;
    let scratch = Scratch::new();
    let defaults = scratch
        .load_toml("")
        .unwrap_or_else(|report| panic!("{report}"));
    let d = &defaults.rate_limit;
    // The auth endpoints are limited by default; /mcp is not until an operator says so.
    assert_eq!(
        (d.token_max, d.token_window),
        (120, Duration::from_secs(60))
    );
    assert_eq!((d.mcp_max, d.tool_max), (0, 0));
    assert!(d.backends.is_empty() && d.overrides.is_empty());

    let cfg = scratch
        .load_toml(
            "[rate_limit]\nmcp_max = 100\nmcp_window_s = 60\ntool_max = 10\n\
             [[rate_limit.backends]]\nname = \"fragile\"\nmax = 5\n\
             [[rate_limit.overrides]]\nsubject = \"role:admin\"\nmcp_max = 0\n\
             [[rate_limit.overrides]]\nsubject = \"user:alice\"\ntool_max = 3\ntool_window_s = 10\n",
        )
        .unwrap_or_else(|report| panic!("{report}"));
    let r = &cfg.rate_limit;
    assert_eq!(r.mcp_max, 100);
    assert_eq!(
        r.backends["fragile"],
        Quota {
            max: 5,
            window: Duration::from_secs(60)
        }
    );
    assert_eq!(r.overrides[0].subject, OverrideSubject::Role(Role::Admin));
    assert_eq!(r.overrides[0].mcp, OverrideLimit::Unlimited);
    assert_eq!(r.overrides[0].tool, OverrideLimit::Inherit);
    assert_eq!(
        r.overrides[1].tool,
        OverrideLimit::Limited(Quota {
            max: 3,
            window: Duration::from_secs(10)
        })
    );

    let from_env = scratch
        .load(
            &with_file(scratch.write("empty.toml", "")),
            &env(&[
                ("RATE_LIMIT_MCP_MAX", "30"),
                ("RATE_LIMIT_MCP_WINDOW", "90"),
            ]),
        )
        .unwrap_or_else(|report| panic!("{report}"));
    assert_eq!(from_env.rate_limit.mcp_max, 30);
    assert_eq!(from_env.rate_limit.mcp_window, Duration::from_secs(90));

    let report = scratch
        .load_toml(
            "[rate_limit]\ntoken_max = 0\n\
             [[rate_limit.backends]]\nname = \"a\"\nmax = 1\n\
             [[rate_limit.backends]]\nname = \"a\"\nmax = 2\n\
             [[rate_limit.overrides]]\nsubject = \"role:owner\"\nmcp_max = 1\n\
             [[rate_limit.overrides]]\nsubject = \"user:bob\"\nmcp_window_s = 5\n\
             [[rate_limit.overrides]]\nsubject = \"user:carol\"\n",
        )
        .unwrap_err();
    let keys = keys_of(&report);
    for expected in [
        "rate_limit.token_max",
        "rate_limit.backends",
        "rate_limit.overrides[0].subject",
        "rate_limit.overrides[1].mcp_window_s",
        "rate_limit.overrides[2].mcp_max",
    ] {
        assert!(
            keys.contains(&expected.to_string()),
            "missing {expected} in:\n{report}"
        );
    }
}
