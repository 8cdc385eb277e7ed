//! Rate limits on `/mcp` and `/oauth/token` against the real gateway: per user (JSON-RPC error
//! inside a session, 429 + Retry-After outside), per user×tool, per backend, overrides per role,
//! SIGHUP changing a limit, one user's flood leaving 19 others untouched, and the supervised
//! RateLimitActor (restart, reaping). Real rmcp fixture backends; no mocks.

use actors::storage::users::Role;
use serde_json::{Value, json};

use crate::fixture::HttpFixture;
use crate::harness::TestGateway;
use crate::mcp_client::{McpClient, Raw};
use crate::users::{create_mcp_user, create_user, login};

/// The gateway's JSON-RPC code for a request refused by a rate limit inside a session.
const RATE_LIMITED: i64 = -32013;

fn limits(extra: &str) -> String {
    format!("[rate_limit]\nmcp_window_s = 3600\ntool_window_s = 3600\n{extra}")
}

fn ping(id: u64) -> String {
    json!({"jsonrpc":"2.0","id":id,"method":"ping"}).to_string()
}

async fn session(gw: &TestGateway, token: &str) -> McpClient {
    let mut client = McpClient::new(&gw.url("/mcp"), Some(token));
    client.initialize("2025-06-18").await;
    client
}

/// A rate-limit JSON-RPC error (HTTP 200) naming `limit`; returns its `retry_after_ms`.
fn assert_limited_in_session(reply: &Raw, id: u64, limit: &str) -> u64 {
    assert_eq!(reply.status, 200, "{}", reply.body);
    let message = reply.json();
    assert_eq!(message["id"], id, "{message}");
    assert_eq!(message["error"]["code"], RATE_LIMITED, "{message}");
    assert_eq!(message["error"]["data"]["limit"], limit, "{message}");
    let wait = message["error"]["data"]["retry_after_ms"]
        .as_u64()
        .unwrap_or_else(|| panic!("retry_after_ms: {message}"));
    assert!(wait >= 1, "{message}");
    wait
}

/// HTTP 429 with a `Retry-After` of whole seconds within the window.
fn assert_too_many(reply: &Raw) {
    assert_eq!(reply.status, 429, "{}", reply.body);
    let seconds: u64 = reply
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a numeric Retry-After");
    assert!((1..=3600).contains(&seconds), "Retry-After {seconds}");
    assert_eq!(
        reply.json()["error"]["code"],
        RATE_LIMITED,
        "{}",
        reply.body
    );
}

fn rejected(gw: &TestGateway, kind: &str) -> u64 {
    gw.handle().rate_limiter().stats().rejected_by_kind[kind]
}

#[actix_rt::test]
async fn the_per_user_limit_answers_in_the_session_and_with_429_outside_it() {
    let gw = TestGateway::start(&limits("mcp_max = 3\n")).await;
    create_mcp_user(&gw, "alice").await;
    create_mcp_user(&gw, "bob").await;
    let alice = login(&gw, "alice").await;
    let bob = login(&gw, "bob").await;
    // initialize is the first of alice's three; notifications/initialized does not count.
    // (2025-03-26 so that a batch can be sent below.)
    let mut client = McpClient::new(&gw.url("/mcp"), Some(&alice));
    client.initialize("2025-03-26").await;
    for id in 1..=2 {
        let reply = client.post(&ping(id), &[]).await;
        assert_eq!(reply.json()["result"], json!({}), "{}", reply.body);
    }
    let wait = assert_limited_in_session(&client.post(&ping(3), &[]).await, 3, "user");
    assert!(wait <= 3_600_000, "{wait}");
    // A notification inside the session is still accepted: it is part of an exchange.
    let note = client
        .post(
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":99}}"#,
            &[],
        )
        .await;
    assert_eq!(note.status, 202);
    // A batch counts once, and each request in it gets the error (the notification none).
    let batch = format!(
        "[{},{},{}]",
        ping(6),
        r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":98}}"#,
        ping(7)
    );
    let reply = client.post(&batch, &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let answers: Vec<Value> = serde_json::from_str(&reply.body).expect("a JSON array");
    let ids: Vec<&Value> = answers.iter().map(|a| &a["id"]).collect();
    assert_eq!(ids, [&json!(6), &json!(7)], "{}", reply.body);
    assert!(answers.iter().all(|a| a["error"]["code"] == RATE_LIMITED
        && a["error"]["data"]["retry_after_ms"].as_u64().is_some()));
    // Outside a session's flow: a new initialize, and a request without a session.
    let fresh = McpClient::new(&gw.url("/mcp"), Some(&alice));
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    assert_too_many(&fresh.post(&init.to_string(), &[]).await);
    assert_too_many(&fresh.post(&ping(5), &[]).await);
    // A 2026-07-28 (sessionless) request as well.
    let discover = json!({"jsonrpc":"2.0","id":8,"method":"server/discover","params":{
        "_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}});
    assert_too_many(&fresh.post(&discover.to_string(), &[]).await);
    // Bob is untouched by alice's limit.
    let bob_client = session(&gw, &bob).await;
    assert_eq!(
        bob_client.post(&ping(1), &[]).await.json()["result"],
        json!({})
    );
    assert_eq!(rejected(&gw, "user"), 5);
    gw.stop().await.unwrap();
}

/// Waits until the routing table serves `tool` (the backend is up and its list is in).
async fn wait_for_tool(gw: &TestGateway, tool: &str) {
    let state = gw.state.as_ref().expect("running");
    let deadline = tokio::time::Instant::now() + crate::fixture::DEADLINE;
    while state.mcp.routing.load().tools.route(tool).is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "tool {tool} never routed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn call(id: u64, tool: &str) -> String {
    let arguments = if tool == "echo" {
        json!({"text": "hi"})
    } else {
        json!({"a": 1, "b": 2})
    };
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":arguments}})
        .to_string()
}

fn assert_result(reply: &Raw) -> Value {
    let message = reply.json();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(message.get("result").is_some(), "{message}");
    message
}

#[actix_rt::test]
async fn per_tool_and_per_backend_limits_with_an_admin_role_override() {
    let fixture = HttpFixture::start(2);
    let config = format!(
        "[[backends]]\nname = \"fx\"\nurl = \"{}\"\ntool_prefix = \"\"\nhealth_interval_s = 60\n{}",
        fixture.url(),
        limits(
            "mcp_max = 5\ntool_max = 2\n\
             [[rate_limit.backends]]\nname = \"fx\"\nmax = 6\nwindow_s = 3600\n\
             [[rate_limit.overrides]]\nsubject = \"role:admin\"\nmcp_max = 0\ntool_max = 0\n"
        )
    );
    let gw = TestGateway::start(&config).await;
    gw.wait_online(1).await;
    wait_for_tool(&gw, "add").await;
    create_mcp_user(&gw, "alice").await;
    create_user(&gw, "root", Role::Admin);
    let alice = session(&gw, &login(&gw, "alice").await).await; // alice: 1 of 5
    // Two echo calls, then echo is refused for alice while add still works.
    assert_result(&alice.post(&call(1, "echo"), &[]).await); // 2 of 5, fx 1 of 6
    assert_result(&alice.post(&call(2, "echo"), &[]).await); // 3 of 5, fx 2 of 6
    assert_limited_in_session(&alice.post(&call(3, "echo"), &[]).await, 3, "tool"); // 4 of 5
    assert_result(&alice.post(&call(4, "add"), &[]).await); // 5 of 5, fx 3 of 6
    assert_limited_in_session(&alice.post(&ping(5), &[]).await, 5, "user");
    // The admin role's override lifts both user limits: far more than 5 requests and 2 echoes
    // pass, until the backend's own quota (6, shared by everyone) runs out.
    let root = session(&gw, &login(&gw, "root").await).await;
    for id in 1..=10 {
        assert_eq!(root.post(&ping(id), &[]).await.json()["result"], json!({}));
    }
    for id in 11..=13 {
        let answer = assert_result(&root.post(&call(id, "echo"), &[]).await); // fx 4..=6
        assert_eq!(answer["result"]["content"][0]["text"], "hi");
    }
    assert_limited_in_session(&root.post(&call(14, "echo"), &[]).await, 14, "backend");
    assert_eq!(rejected(&gw, "tool"), 1);
    assert_eq!(rejected(&gw, "backend"), 1);
    assert_eq!(rejected(&gw, "user"), 1);
    gw.stop().await.unwrap();
}

/// (answered, refused by a rate limit) among `replies`.
fn outcome(replies: &[Raw]) -> (usize, usize) {
    let ok = replies
        .iter()
        .filter(|r| r.status == 200 && r.json().get("result").is_some())
        .count();
    let limited = replies
        .iter()
        .filter(|r| r.status == 200 && r.json()["error"]["code"] == RATE_LIMITED)
        .count();
    (ok, limited)
}

#[actix_rt::test]
async fn one_users_flood_is_limited_while_many_other_users_requests_all_pass() {
    // Each user may send 20 requests an hour; `initialize` was the first.
    const CALM_USERS: usize = 19;
    const FLOOD: u64 = 400;
    // Twenty sign-ins from one address: above the per-IP sign-in limit's default.
    let gw = TestGateway::start(&limits("mcp_max = 20\nlogin_max = 100\n")).await;
    create_mcp_user(&gw, "flood").await;
    let flood = session(&gw, &login(&gw, "flood").await).await;
    let mut calm = Vec::new();
    for n in 0..CALM_USERS {
        let name = format!("calm{n}");
        create_mcp_user(&gw, &name).await;
        calm.push(session(&gw, &login(&gw, &name).await).await);
    }
    let flood_bodies: Vec<String> = (1..=FLOOD).map(ping).collect();
    let calm_bodies: Vec<String> = (1..=19).map(ping).collect();
    let flood_calls =
        futures_util::future::join_all(flood_bodies.iter().map(|b| flood.post(b, &[])));
    // Every calm user's 19 requests, all at once, while the flood is under way.
    let calm_calls = futures_util::future::join_all(calm.iter().map(|client| {
        futures_util::future::join_all(calm_bodies.iter().map(|b| client.post(b, &[])))
    }));
    let (flooded, calmed) = futures_util::future::join(flood_calls, calm_calls).await;
    // Within an hour-long window the flood gets exactly its remaining 19, the rest refused.
    assert_eq!(outcome(&flooded), (19, FLOOD as usize - 19));
    for (n, replies) in calmed.iter().enumerate() {
        assert_eq!(
            outcome(replies),
            (19, 0),
            "calm{n} never pays for the flood"
        );
    }
    // Only the flooding user was ever refused.
    assert_eq!(rejected(&gw, "user"), FLOOD - 19);
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn sighup_changes_a_limit_and_a_bad_one_is_refused() {
    let mut gw = TestGateway::start(&limits("mcp_max = 2\n")).await;
    create_mcp_user(&gw, "alice").await;
    let client = session(&gw, &login(&gw, "alice").await).await; // 1 of 2
    assert_eq!(client.post(&ping(1), &[]).await.json()["result"], json!({}));
    assert_limited_in_session(&client.post(&ping(2), &[]).await, 2, "user");
    // Raised on SIGHUP: the same session goes on at once.
    let after = gw.reload_with(&limits("mcp_max = 1000\n")).await;
    assert_eq!(after.reloads_failed, 0);
    assert_eq!(
        gw.handle().rate_limiter().settings().mcp.map(|q| q.max),
        Some(1000)
    );
    for id in 3..=12 {
        assert_eq!(
            client.post(&ping(id), &[]).await.json()["result"],
            json!({})
        );
    }
    // A reload with an invalid override is refused as a whole; the running limit stays.
    let refused = gw
        .reload_with(&limits(
            "mcp_max = 1\n[[rate_limit.overrides]]\nsubject = \"role:owner\"\nmcp_max = 5\n",
        ))
        .await;
    assert_eq!(refused.reloads_failed, 1);
    assert_eq!(
        gw.handle().rate_limiter().settings().mcp.map(|q| q.max),
        Some(1000)
    );
    // Off (0): no limit at all.
    gw.reload_with(&limits("mcp_max = 0\n")).await;
    assert_eq!(gw.handle().rate_limiter().settings().mcp, None);
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn the_token_endpoint_is_limited_per_client_ip() {
    let gw = TestGateway::start("[rate_limit]\ntoken_max = 2\ntoken_window_s = 3600\n").await;
    let token = |_: u32| async {
        crate::http::post_raw(
            &gw.url("/oauth/token"),
            None,
            "application/x-www-form-urlencoded",
            b"grant_type=client_credentials&client_id=nobody".to_vec(),
        )
        .await
    };
    for n in 0..2 {
        let reply = token(n).await;
        assert_ne!(reply.status, 429, "{}", reply.body);
    }
    let reply = token(2).await;
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert_eq!(reply.body["error"], "too_many_requests");
    let seconds: u64 = reply.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&seconds));
    assert_eq!(rejected(&gw, "token"), 1);
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn the_rate_limit_actor_restarts_keeps_the_limits_and_reaps_idle_keys() {
    // One request per millisecond steady rate: a key is idle right after its last request.
    let gw = TestGateway::start(
        "[rate_limit]\nmcp_max = 1000\nmcp_window_s = 1\nlogin_max = 1000\nlogin_window_s = 1\n",
    )
    .await;
    create_mcp_user(&gw, "alice").await;
    let client = session(&gw, &login(&gw, "alice").await).await;
    let handle = gw.handle();
    assert!(handle.inject_rate_limit_panic().await);
    // Requests are limited and answered while the actor restarts: the limiter outlives it.
    assert_eq!(client.post(&ping(1), &[]).await.json()["result"], json!({}));
    let deadline = tokio::time::Instant::now() + crate::fixture::DEADLINE;
    let mut reaped = 0;
    loop {
        // None while the actor is down; then passes until every idle key is gone.
        if let Some(removed) = handle.reap_rate_limits().await {
            reaped += removed;
            if handle.rate_limiter().tracked_keys() == 0 {
                break;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "never reaped");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // alice's /mcp key and the login IP key at least.
    assert!(reaped >= 2, "reaped {reaped}");
    // The restarted actor still applies reloads.
    assert!(
        handle
            .apply_rate_limits(actors::ratelimit::RateLimitSettings::default())
            .await
            .is_ok()
    );
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn a_backends_own_endpoint_applies_the_tool_and_backend_limits() {
    let fixture = HttpFixture::start(2);
    let config = format!(
        "[[backends]]\nname = \"fx\"\nurl = \"{}\"\nhealth_interval_s = 60\n{}",
        fixture.url(),
        limits("tool_max = 1\n[[rate_limit.backends]]\nname = \"fx\"\nmax = 3\nwindow_s = 3600\n")
    );
    let gw = TestGateway::start(&config).await;
    gw.wait_online(1).await;
    create_mcp_user(&gw, "alice").await;
    let token = login(&gw, "alice").await;
    let mut client = McpClient::new(&gw.url("/mcp/fx"), Some(&token));
    client.initialize("2025-06-18").await;
    // Raw names on /mcp/fx. echo once (fx 1 of 3), then echo is alice's spent tool.
    assert_result(&client.post(&call(1, "echo"), &[]).await);
    assert_limited_in_session(&client.post(&call(2, "echo"), &[]).await, 2, "tool");
    // Every request forwarded to fx counts against its quota, not only tool calls.
    assert_result(&client.post(&call(3, "add"), &[]).await); // fx 2 of 3
    let list = json!({"jsonrpc":"2.0","id":4,"method":"tools/list"}).to_string();
    assert_result(&client.post(&list, &[]).await); // fx 3 of 3
    assert_limited_in_session(
        &client
            .post(&list.replace("\"id\":4", "\"id\":5"), &[])
            .await,
        5,
        "backend",
    );
    gw.stop().await.unwrap();
}
