//! The supervision tree against real MCP servers: connect, reload, crash, outage, shutdown.

use actors::backend::{BackendState, BackendStatus};
use actors::spec::BackendTransport;
use actors::supervisor::{GatewayHandle, ReloadOutcome};

use crate::fixture::*;

fn online_with(statuses: &[BackendStatus], name: &str, tools: usize) -> bool {
    status(statuses, name).is_some_and(|s| s.state == BackendState::Online && s.tool_count == tools)
}

fn pid_of(gateway: &GatewayHandle, name: &str) -> u32 {
    status(&gateway.statuses(), name)
        .and_then(|s| s.pid)
        .unwrap_or_else(|| panic!("{name} has no pid"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backends_http_and_stdio_come_online_with_their_tools() {
    let server = HttpFixture::start(4);
    let specs = vec![server.spec("web"), stdio_spec("local", 5)];
    let (gateway, join) = GatewayHandle::start(specs, test_logger()).await.unwrap();

    let statuses = wait_for(&gateway, "both backends online", |s| {
        online_with(s, "local", 5) && online_with(s, "web", 4)
    })
    .await;
    let names: Vec<_> = statuses.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["local", "web"], "sorted by name");
    let web = status(&statuses, "web").unwrap();
    assert_eq!(web.transport, "streamable-http");
    assert_eq!(web.protocol_version.as_deref(), Some("2025-11-25"));
    assert!(web.last_check_ms.is_some() && web.last_error.is_none());
    let local = status(&statuses, "local").unwrap();
    assert_eq!(local.transport, "stdio");
    // Five tools over three pages (page size 2), despite the non-JSON banner line.
    let tools = gateway.tools("local").unwrap();
    assert_eq!(tools.len(), 5);
    assert!(
        tools[0].get().contains(r#""name":"echo""#),
        "raw tool JSON kept: {}",
        tools[0].get()
    );
    assert!(gateway.tools("nope").is_none());

    let pid = local.pid.expect("a stdio backend reports its pid");
    assert!(process_exists(pid));
    gateway.shutdown().await;
    join.await.unwrap();
    assert!(
        !process_exists(pid),
        "shutdown killed and reaped the stdio child"
    );
    assert!(
        !process_group_exists(pid),
        "nothing is left in its process group"
    );
    assert!(gateway.statuses().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backends_reload_applies_a_diff() {
    let old_server = HttpFixture::start(2);
    let new_server = HttpFixture::start(6);
    let kept_server = HttpFixture::start(3);
    let initial = vec![
        kept_server.spec("kept_http"),
        stdio_spec("kept_stdio", 4),
        stdio_spec("dropped", 1),
        old_server.spec("changed"),
    ];
    let (gateway, _join) = GatewayHandle::start(initial.clone(), test_logger())
        .await
        .unwrap();
    let before = wait_for(&gateway, "all four online", |s| {
        online_with(s, "kept_http", 3)
            && online_with(s, "kept_stdio", 4)
            && online_with(s, "dropped", 1)
            && online_with(s, "changed", 2)
    })
    .await;
    let kept_stdio_pid = pid_of(&gateway, "kept_stdio");
    let dropped_pid = pid_of(&gateway, "dropped");
    let kept_http_since = status(&before, "kept_http").unwrap().connected_since_ms;

    let mut disabled = stdio_spec("disabled", 2);
    disabled.enabled = false;
    let desired = vec![
        initial[0].clone(),
        initial[1].clone(),
        new_server.spec("changed"),
        stdio_spec("added", 7),
        disabled,
    ];
    let outcome = gateway.apply_backends(desired.clone()).await.unwrap();
    assert_eq!(
        outcome,
        ReloadOutcome {
            added: vec!["added".into()],
            removed: vec!["dropped".into()],
            restarted: vec!["changed".into()],
            unchanged: vec!["kept_http".into(), "kept_stdio".into()],
        }
    );
    assert!(
        !process_exists(dropped_pid),
        "a removed stdio backend's process is gone on return"
    );

    let after = wait_for(&gateway, "the new set online", |s| {
        online_with(s, "changed", 6) && online_with(s, "added", 7) && s.len() == 4
    })
    .await;
    assert!(status(&after, "dropped").is_none() && status(&after, "disabled").is_none());
    assert_eq!(
        pid_of(&gateway, "kept_stdio"),
        kept_stdio_pid,
        "unchanged stdio not respawned"
    );
    let kept_http = status(&after, "kept_http").unwrap();
    assert_eq!(
        kept_http.connected_since_ms, kept_http_since,
        "unchanged http not reconnected"
    );
    assert_eq!(kept_http.state, BackendState::Online);

    // Disabling a running backend removes it.
    let mut desired = desired;
    desired[1].enabled = false;
    let outcome = gateway.apply_backends(desired).await.unwrap();
    assert_eq!(outcome.removed, ["kept_stdio"]);
    assert!(!process_exists(kept_stdio_pid));
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backends_a_panicking_actor_is_restarted() {
    let server = HttpFixture::start(3);
    let specs = vec![server.spec("steady"), stdio_spec("crashy", 2)];
    let (gateway, _join) = GatewayHandle::start(specs, test_logger()).await.unwrap();
    let before = wait_for(&gateway, "both online", |s| {
        online_with(s, "steady", 3) && online_with(s, "crashy", 2)
    })
    .await;
    let steady_since = status(&before, "steady").unwrap().connected_since_ms;
    let old_pid = pid_of(&gateway, "crashy");

    assert!(gateway.inject_panic("crashy").await);
    let after = wait_for(&gateway, "crashy restarted and online again", |s| {
        status(s, "crashy").is_some_and(|c| c.restarts == 1 && c.state == BackendState::Online)
    })
    .await;
    assert_ne!(
        pid_of(&gateway, "crashy"),
        old_pid,
        "a new child process serves the new actor"
    );
    wait_process_gone(old_pid).await;

    let steady = status(&after, "steady").unwrap();
    assert_eq!(steady.restarts, 0);
    assert_eq!(steady.state, BackendState::Online);
    assert_eq!(
        steady.connected_since_ms, steady_since,
        "the other backend was not touched"
    );
    assert!(!gateway.inject_panic("no-such-backend").await);

    // It keeps working after the restart: a second fault is handled the same way.
    assert!(gateway.inject_panic("crashy").await);
    wait_for(&gateway, "second restart", |s| {
        status(s, "crashy").is_some_and(|c| c.restarts == 2 && c.state == BackendState::Online)
    })
    .await;
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backends_outage_goes_offline_then_recovers_on_the_same_port() {
    let mut server = HttpFixture::start(3);
    let port = server.port;
    let mut spec = server.spec("flaky");
    spec.health_interval = std::time::Duration::from_millis(100);
    spec.timeout = std::time::Duration::from_secs(2);
    let (gateway, _join) = GatewayHandle::start(vec![spec], test_logger())
        .await
        .unwrap();
    wait_for(&gateway, "online", |s| online_with(s, "flaky", 3)).await;

    server.kill();
    let degraded = wait_for(&gateway, "degraded or offline", |s| {
        status(s, "flaky").is_some_and(|f| f.state != BackendState::Online)
    })
    .await;
    let error = status(&degraded, "flaky")
        .unwrap()
        .last_error
        .clone()
        .unwrap();
    assert!(error.contains("connection refused"), "{error}");
    wait_for(&gateway, "offline", |s| {
        status(s, "flaky")
            .is_some_and(|f| f.state == BackendState::Offline && f.last_error.is_some())
    })
    .await;

    let _restarted = HttpFixture::start_on(port, 5);
    let back = wait_for(&gateway, "online again with the new server's tools", |s| {
        online_with(s, "flaky", 5)
    })
    .await;
    assert!(status(&back, "flaky").unwrap().last_error.is_none());
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backends_that_cannot_start_report_clear_errors() {
    let unreachable = url::Url::parse(&format!("http://127.0.0.1:{}/mcp", closed_port())).unwrap();
    let mut legacy_sse = http_spec("legacy", unreachable.clone());
    legacy_sse.transport = BackendTransport::Sse {
        url: unreachable.clone(),
    };
    let specs = vec![
        http_spec("unreachable", unreachable),
        command_spec("missing", "/nonexistent/mcp-server-xyz", &[]),
        command_spec("exits", "sh", &["-c", "exit 3"]),
        legacy_sse,
    ];
    let (gateway, _join) = GatewayHandle::start(specs, test_logger()).await.unwrap();
    let statuses = wait_for(&gateway, "all four offline with an error", |s| {
        s.len() == 4
            && s.iter()
                .all(|b| b.state == BackendState::Offline && b.last_error.is_some())
    })
    .await;
    let error = |name: &str| status(&statuses, name).unwrap().last_error.clone().unwrap();
    assert_eq!(
        error("unreachable"),
        "could not connect to the backend: connection refused"
    );
    assert_eq!(
        error("missing"),
        "command `/nonexistent/mcp-server-xyz` was not found (check the path or PATH)"
    );
    assert_eq!(error("exits"), "the backend process exited with code 3");
    assert_eq!(
        error("legacy"),
        "could not connect to the backend: connection refused"
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backends_a_forgotten_session_is_reinitialized() {
    let mut server = HttpFixture::start(3);
    let port = server.port;
    let mut spec = server.spec("amnesiac");
    // Health checks only when asked, so the restart below happens between two checks.
    spec.health_interval = std::time::Duration::from_secs(3600);
    let (gateway, _join) = GatewayHandle::start(vec![spec], test_logger())
        .await
        .unwrap();
    wait_for(&gateway, "online", |s| online_with(s, "amnesiac", 3)).await;

    server.kill();
    let _restarted = HttpFixture::start_on(port, 5);
    // The new server answers our old Mcp-Session-Id with 404: the actor must re-initialize.
    assert!(gateway.check_now("amnesiac").await);
    let statuses = wait_for(&gateway, "re-initialized against the new server", |s| {
        online_with(s, "amnesiac", 5)
    })
    .await;
    assert_eq!(status(&statuses, "amnesiac").unwrap().restarts, 0);
    assert!(!gateway.check_now("nobody").await);
    gateway.shutdown().await;
}

/// A stdio child sees its spec's `env` and a minimal inherited environment — never the gateway's
/// other variables (here cargo's `CARGO_*`, standing in for `JWT_SECRET_KEY` or `DATABASE_URL`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_children_get_their_env_and_not_the_gateways_secrets() {
    assert!(
        std::env::var_os("CARGO_MANIFEST_DIR").is_some(),
        "cargo sets this for tests"
    );
    let mut spec = stdio_spec("envcheck", 1);
    if let BackendTransport::Stdio { env, .. } = &mut spec.transport {
        env.insert("FIXTURE_GREETING".into(), "hello".into());
    }
    let (gateway, _join) = GatewayHandle::start(vec![spec], test_logger())
        .await
        .unwrap();
    wait_for(&gateway, "online", |s| online_with(s, "envcheck", 1)).await;
    let environ = std::fs::read(format!("/proc/{}/environ", pid_of(&gateway, "envcheck"))).unwrap();
    let vars: Vec<String> = environ
        .split(|b| *b == 0)
        .filter(|v| !v.is_empty())
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    assert!(
        vars.contains(&"FIXTURE_GREETING=hello".to_string()),
        "{vars:?}"
    );
    assert!(vars.iter().any(|v| v.starts_with("PATH=")), "{vars:?}");
    assert!(
        !vars.iter().any(|v| v.starts_with("CARGO")),
        "gateway env leaked: {vars:?}"
    );
    gateway.shutdown().await;
}
