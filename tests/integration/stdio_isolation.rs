//! `isolation = "per-session"` through the real gateway: each client session gets its own stdio
//! child (the fixture's `pid` tool tells them apart), initialized with that client's
//! `clientInfo`; ending the session kills and reaps the child; `max_processes` is enforced with
//! an error naming it; a child that dies is replaced; shutdown leaves no child behind.

use actors::backend::BackendState;
use serde_json::{Value, json};

use crate::fixture::{
    fixture_binary, process_exists, process_group_exists, status, wait_for, wait_process_gone,
};
use crate::harness::TestGateway;
use crate::mcp_client::McpClient;
use crate::users::{create_mcp_user, login};

fn per_session_backend(max_processes: usize) -> String {
    format!(
        "[[backends]]\nname = \"iso\"\ncommand = {:?}\nargs = [\"stdio\", \"--tools\", \"1\", \"--pid\"]\ntool_prefix = \"iso_\"\nisolation = \"per-session\"\nmax_processes = {max_processes}\n",
        fixture_binary().display()
    )
}

/// Starts the gateway, waits for the backend's own child and the routing table; returns the
/// gateway, a token, and the backend actor's own child (health checks, tool lists).
async fn start(extra: &str) -> (TestGateway, String, u32) {
    let gw = TestGateway::start(extra).await;
    let statuses = wait_for(gw.handle(), "iso online", |s| {
        status(s, "iso").is_some_and(|b| b.state == BackendState::Online && b.tool_count == 2)
    })
    .await;
    let own = status(&statuses, "iso")
        .and_then(|b| b.pid)
        .expect("own pid");
    create_mcp_user(&gw, "alice").await;
    let token = login(&gw, "alice").await;
    // The routing table follows the backend asynchronously.
    let deadline = tokio::time::Instant::now() + crate::fixture::DEADLINE;
    loop {
        let mut probe = McpClient::new(&gw.url("/mcp"), Some(&token));
        probe.initialize("2025-06-18").await;
        let listed = probe.request(1, "tools/list", json!({})).await;
        let _ = probe.delete().await;
        if listed["result"]["tools"]
            .as_array()
            .is_some_and(|t| t.len() == 2)
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "tools never listed");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    (gw, token, own)
}

async fn client(gw: &TestGateway, token: &str) -> McpClient {
    let mut client = McpClient::new(&gw.url("/mcp"), Some(token));
    client.initialize("2025-06-18").await;
    client
}

/// Calls the fixture's `pid` tool: the answering child's pid and what it was initialized with.
async fn call_pid(client: &McpClient, id: u64) -> Result<(u32, Value), Value> {
    let reply = client
        .request(
            id,
            "tools/call",
            json!({"name": "iso_pid", "arguments": {}}),
        )
        .await;
    match reply["result"]["structuredContent"].as_object() {
        Some(report) => {
            let pid = report["pid"].as_u64().expect("pid") as u32;
            Ok((pid, Value::Object(report.clone())))
        }
        None => Err(reply["error"].clone()),
    }
}

#[actix_rt::test]
async fn each_session_gets_its_own_child_until_it_ends_and_the_cap_holds() {
    let (gw, token, own) = start(&per_session_backend(2)).await;

    let first = client(&gw, &token).await;
    let second = client(&gw, &token).await;
    let (pid_a, report) = call_pid(&first, 10).await.expect("first child");
    let (pid_b, _) = call_pid(&second, 11).await.expect("second child");
    assert_ne!(pid_a, pid_b, "two sessions, two children");
    assert!(pid_a != own && pid_b != own, "not the backend's own child");
    // Initialized with the client's clientInfo and capabilities, not the gateway's own.
    assert_eq!(report["client"], "raw-test");
    assert!(report["capabilities"].get("sampling").is_none(), "{report}");
    // Each child leads its own process group.
    assert!(process_group_exists(pid_a) && process_group_exists(pid_b));
    assert_eq!(call_pid(&first, 12).await.expect("reused").0, pid_a);

    // At the cap a third session is refused with the limit named; the others are untouched.
    let third = client(&gw, &token).await;
    let refused = call_pid(&third, 13).await.expect_err("over max_processes");
    assert_eq!(refused["code"], -32010, "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("max_processes = 2"), "{message}");
    assert!(message.contains("`iso`"), "{message}");
    assert_eq!(call_pid(&second, 14).await.expect("still served").0, pid_b);

    // DELETE kills and reaps the session's child (no zombie, no group left).
    assert_eq!(first.delete().await, 204);
    wait_process_gone(pid_a).await;
    assert!(!process_group_exists(pid_a));
    assert!(process_exists(pid_b), "the other session's child lives on");

    // The freed slot serves the session that was refused.
    let (pid_c, _) = call_pid(&third, 15).await.expect("a slot is free again");
    assert!(pid_c != pid_b && pid_c != own);

    gw.stop().await.unwrap();
    for pid in [pid_b, pid_c, own] {
        assert!(!process_exists(pid), "process {pid} outlived the gateway");
        assert!(
            !process_group_exists(pid),
            "group {pid} outlived the gateway"
        );
    }
}

#[actix_rt::test]
async fn a_dead_child_is_replaced_and_an_expired_session_takes_its_child_along() {
    let config = format!(
        "[mcp]\nsession_idle_timeout_s = 1\n{}",
        per_session_backend(4)
    );
    let (gw, token, _own) = start(&config).await;
    let session = client(&gw, &token).await;
    let (first, _) = call_pid(&session, 1).await.expect("a child");

    // The child dies on its own: the session's next request opens a new one.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_process_gone(first).await;
    let (second, _) = call_pid(&session, 2).await.expect("a new child");
    assert_ne!(first, second);

    // Left idle, the session expires and its child is killed with it.
    wait_process_gone(second).await;
    let gone = session
        .post(r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#, &[])
        .await;
    assert_eq!(gone.status, 404, "the session expired");
    gw.stop().await.unwrap();
}
