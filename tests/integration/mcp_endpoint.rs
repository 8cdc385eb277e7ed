//! The client-facing `/mcp` endpoint over the wire: headers, status codes, sessions, batches,
//! aggregation with paging, routing by prefix, fail-open. Backends are the rmcp fixture server
//! over HTTP and over stdio.

use actors::backend::BackendState;
use actors::storage::users::Role;
use serde_json::{Value, json};

use crate::fixture::{HttpFixture, fixture_binary, status, wait_for};
use crate::harness::TestGateway;
use crate::mcp_client::McpClient;
use crate::users::{create_mcp_user, create_user, login};

fn http_backend(name: &str, fixture: &HttpFixture, prefix: &str) -> String {
    format!(
        "[[backends]]\nname = {name:?}\nurl = \"{}\"\ntool_prefix = {prefix:?}\nhealth_interval_s = 1\n",
        fixture.url()
    )
}

fn stdio_backend(name: &str, tools: usize, prefix: &str) -> String {
    format!(
        "[[backends]]\nname = {name:?}\ncommand = {:?}\nargs = [\"stdio\", \"--tools\", \"{tools}\"]\ntool_prefix = {prefix:?}\n",
        fixture_binary().display()
    )
}

/// A gateway with two backends (web: 3 tools, prefixed `web_`; local: 5 tools, prefixed `loc_`),
/// page size 2, and a logged-in user.
async fn two_backends() -> (TestGateway, HttpFixture, String) {
    let web = HttpFixture::start(3);
    let config = format!(
        "[mcp]\npage_size = 2\n{}{}",
        http_backend("web", &web, "web_"),
        stdio_backend("local", 5, "loc_")
    );
    let gw = TestGateway::start(&config).await;
    gw.wait_online(2).await;
    create_mcp_user(&gw, "alice").await;
    let token = login(&gw, "alice").await;
    wait_for_tools(&gw, &token, 8).await;
    (gw, web, token)
}

/// The routing table follows the backends asynchronously: wait until `/mcp` lists `n` tools.
async fn wait_for_tools(gw: &TestGateway, token: &str, n: usize) -> Vec<String> {
    wait_for_list(gw, token, &format!("{n} tools"), |names| names.len() == n).await
}

/// Waits until a whole `tools/list` walk satisfies `done`. A walk that crossed a rebuild of
/// the table may mix the two (pages are offsets), so the condition should say what the list
/// holds, not only how long it is.
async fn wait_for_list(
    gw: &TestGateway,
    token: &str,
    what: &str,
    done: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let mut client = McpClient::new(&gw.url("/mcp"), Some(token));
        client.initialize("2025-06-18").await;
        let names = list_all(&client, "tools/list", "tools").await;
        if done(&names) {
            return names;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {what}, have {names:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn list_all(client: &McpClient, method: &str, member: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    for id in 1.. {
        let params = match &cursor {
            Some(c) => json!({ "cursor": c }),
            None => json!({}),
        };
        let reply = client.request(id, method, params).await;
        let result = &reply["result"];
        names.extend(
            result[member]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap().to_string()),
        );
        match result.get("nextCursor").and_then(Value::as_str) {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    names
}

#[actix_rt::test]
async fn initialize_lists_pages_and_calls_through_prefixes() {
    let (gw, _web, token) = two_backends().await;
    let mut client = McpClient::new(&gw.url("/mcp"), Some(&token));
    let init = client.initialize("2025-06-18").await;
    assert_eq!(init["protocolVersion"], "2025-06-18");
    assert_eq!(init["serverInfo"]["name"], "authmcp-gateway");
    assert!(init["capabilities"]["tools"].is_object());
    assert!(
        init["capabilities"].get("logging").is_none(),
        "advertise only what is served"
    );

    let mut names = list_all(&client, "tools/list", "tools").await;
    names.sort();
    assert_eq!(
        names,
        [
            "loc_add",
            "loc_echo",
            "loc_extra_4",
            "loc_extra_5",
            "loc_slow",
            "web_add",
            "web_echo",
            "web_slow"
        ]
    );

    let reply = client
        .request(
            50,
            "tools/call",
            json!({"name":"web_echo","arguments":{"text":"via http"}}),
        )
        .await;
    assert_eq!(reply["id"], 50);
    assert_eq!(reply["result"]["content"][0]["text"], "via http");
    let reply = client
        .request(
            51,
            "tools/call",
            json!({"name":"loc_add","arguments":{"a":2,"b":40}}),
        )
        .await;
    assert_eq!(reply["result"]["content"][0]["text"], "42");
    // Codex style: the tool name as the method.
    let reply = client
        .request(52, "web_echo", json!({"text":"codex"}))
        .await;
    assert_eq!(reply["result"]["content"][0]["text"], "codex");

    assert_eq!(
        client.request(53, "ping", json!({})).await["result"],
        json!({})
    );
    let unknown_tool = client
        .request(54, "tools/call", json!({"name":"nope","arguments":{}}))
        .await;
    assert_eq!(unknown_tool["error"]["code"], -32602);
    let unknown_method = client.request(55, "tools/frobnicate", json!({})).await;
    assert_eq!(unknown_method["error"]["code"], -32601);
    let bad_cursor = client
        .request(56, "tools/list", json!({"cursor":"not-ours"}))
        .await;
    assert_eq!(bad_cursor["error"]["code"], -32602);
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn sessions_are_required_bound_to_the_user_and_end_on_delete() {
    let (gw, _web, token) = two_backends().await;
    create_mcp_user(&gw, "mallory").await;
    let other = login(&gw, "mallory").await;
    let mut client = McpClient::new(&gw.url("/mcp"), Some(&token));
    client.initialize("2025-11-25").await;
    let session = client.session.clone().unwrap();
    assert_eq!(session.len(), 64);

    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let missing = client.post(ping, &[("mcp-session-id", "")]).await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.json()["error"]["code"], -32600);
    // Another user's token with this session id: 404, as if it did not exist.
    let thief = McpClient {
        token: Some(other.clone()),
        ..McpClient::new(&gw.url("/mcp"), None)
    };
    let stolen = thief
        .post(ping, &[("mcp-session-id", session.as_str())])
        .await;
    assert_eq!(stolen.status, 404);
    assert_eq!(stolen.json()["error"]["code"], -32001);
    let bad_version = client
        .post(ping, &[("mcp-protocol-version", "1999-01-01")])
        .await;
    assert_eq!(bad_version.status, 400);

    // A session of /mcp cannot be ended through another endpoint.
    let elsewhere = McpClient {
        session: client.session.clone(),
        ..McpClient::new(&gw.url("/mcp/web"), Some(&token))
    };
    assert_eq!(elsewhere.delete().await, 404);
    assert_eq!(client.delete().await, 204);
    let after = client.post(ping, &[]).await;
    assert_eq!(after.status, 404, "a terminated session must answer 404");
    assert_eq!(client.delete().await, 404);
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn transport_mistakes_get_the_right_status_and_json_rpc_code() {
    let gw = TestGateway::start_with("", |c| c.server.max_body_bytes = 4096).await;
    create_mcp_user(&gw, "bob").await;
    let token = login(&gw, "bob").await;
    let mut client = McpClient::new(&gw.url("/mcp"), Some(&token));
    client.initialize("2025-06-18").await;

    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let evil = client
        .post(ping, &[("origin", "http://evil.example.com")])
        .await;
    assert_eq!(evil.status, 403);
    assert_eq!(evil.json()["id"], Value::Null);
    assert_eq!(
        client
            .post(ping, &[("origin", "http://localhost:6274")])
            .await
            .status,
        200
    );
    assert_eq!(
        client
            .post(ping, &[("origin", gw.base_url.as_str())])
            .await
            .status,
        200
    );
    assert_eq!(
        client
            .post(ping, &[("accept", "application/json")])
            .await
            .status,
        406
    );
    assert_eq!(
        client
            .post(ping, &[("content-type", "text/plain")])
            .await
            .status,
        415
    );

    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"pad":"{}"}}}}"#,
        "x".repeat(8192)
    );
    let too_big = client.post(&big, &[]).await;
    assert_eq!(too_big.status, 413);
    assert_eq!(too_big.json()["error"]["code"], -32600);

    let not_json = client.post("{oops", &[]).await;
    assert_eq!(not_json.status, 400);
    assert_eq!(not_json.json()["error"]["code"], -32700);
    assert_eq!(not_json.json()["id"], Value::Null);
    let not_rpc = client
        .post(r#"{"jsonrpc":"1.0","id":9,"method":"ping"}"#, &[])
        .await;
    assert_eq!(not_rpc.status, 400);
    assert_eq!(not_rpc.json()["error"]["code"], -32600);
    assert_eq!(not_rpc.json()["id"], 9);

    // Batches are 2025-03-26 only.
    let batch =
        r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"ping"}]"#;
    assert_eq!(client.post(batch, &[]).await.status, 400);
    let mut old = McpClient::new(&gw.url("/mcp"), Some(&token));
    old.initialize("2025-03-26").await;
    let answers = old.post(batch, &[]).await;
    assert_eq!(answers.status, 200, "{}", answers.body);
    let ids: Vec<i64> = answers
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2]);
    let only_notes = old
        .post(
            r#"[{"jsonrpc":"2.0","method":"notifications/initialized"}]"#,
            &[],
        )
        .await;
    assert_eq!(only_notes.status, 202);

    // A modern-era (2026-07-28) request without a session: 400 naming our versions.
    let modern = McpClient::new(&gw.url("/mcp"), Some(&token));
    let discover = modern
        .post(
            r#"{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{}}"#,
            &[],
        )
        .await;
    assert_eq!(discover.status, 400);
    let body = discover.json();
    assert!(
        body["error"]["data"]["supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == "2025-11-25")
    );
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn a_backend_going_down_leaves_the_others_listed_and_fails_its_calls_clearly() {
    let (gw, mut web, token) = two_backends().await;
    let mut client = McpClient::new(&gw.url("/mcp"), Some(&token));
    client.initialize("2025-06-18").await;
    // The cursor of the last of four pages (8 tools, 2 a page), kept for after the list shrinks.
    let mut last_cursor = Value::Null;
    for id in 20..23 {
        let params = match &last_cursor {
            Value::Null => json!({}),
            cursor => json!({ "cursor": cursor }),
        };
        let page = client.request(id, "tools/list", params).await;
        last_cursor = page["result"]["nextCursor"].clone();
        assert!(last_cursor.is_string(), "{page}");
    }
    web.kill();
    // A call routed to the dead backend fails with an error naming it.
    let call = client
        .request(
            8,
            "tools/call",
            json!({"name":"web_echo","arguments":{"text":"x"}}),
        )
        .await;
    assert_eq!(call["error"]["code"], -32010, "{call}");
    assert!(
        call["error"]["message"].as_str().unwrap().contains("`web`"),
        "{call}"
    );
    // Repeated failed health checks (every second here) take it offline; its tools leave the
    // lists, the others stay.
    wait_for(gw.handle(), "web offline", |s| {
        status(s, "web").is_some_and(|b| b.state == BackendState::Offline)
    })
    .await;
    wait_for_list(&gw, &token, "loc_'s 5 tools alone", |names| {
        names.len() == 5 && names.iter().all(|n| n.starts_with("loc_"))
    })
    .await;
    // A client that was paging when the list shrank past its cursor gets the empty last page.
    let page = client
        .request(23, "tools/list", json!({"cursor": last_cursor}))
        .await;
    assert_eq!(page["result"], json!({"tools": []}), "{page}");
    // A client that listed its tools earlier still gets "backend down", not "unknown tool".
    let call = client
        .request(
            10,
            "tools/call",
            json!({"name":"web_echo","arguments":{"text":"x"}}),
        )
        .await;
    assert_eq!(call["error"]["code"], -32010, "{call}");
    assert!(
        call["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Backend `web` is not running"),
        "{call}"
    );
    let call = client
        .request(11, "tools/call", json!({"name":"web_nothing"}))
        .await;
    assert_eq!(call["error"]["code"], -32602, "{call}");
    let call = client
        .request(
            9,
            "tools/call",
            json!({"name":"loc_echo","arguments":{"text":"still here"}}),
        )
        .await;
    assert_eq!(call["result"]["content"][0]["text"], "still here");
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn colliding_names_go_to_the_first_configured_backend() {
    let first = HttpFixture::start(1);
    let second = HttpFixture::start(2);
    let config = format!(
        "{}{}",
        http_backend("first", &first, ""),
        http_backend("second", &second, "")
    );
    let gw = TestGateway::start(&config).await;
    gw.wait_online(2).await;
    create_user(&gw, "root", Role::Admin);
    let token = login(&gw, "root").await;
    let mut names = wait_for_tools(&gw, &token, 2).await;
    names.sort();
    assert_eq!(names, ["add", "echo"], "echo once, from the first backend");
    let ready = crate::http::get(&gw.url("/health/ready"), Some(&token)).await;
    assert_eq!(ready.body["collisions"][0]["name"], "echo");
    assert_eq!(ready.body["collisions"][0]["winner"], "first");
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn one_backend_endpoint_uses_raw_names() {
    let (gw, _web, token) = two_backends().await;
    let mut client = McpClient::new(&gw.url("/mcp/local"), Some(&token));
    let init = client.initialize("2025-06-18").await;
    assert!(
        init["serverInfo"]["title"]
            .as_str()
            .unwrap()
            .contains("local")
    );
    let names = list_all(&client, "tools/list", "tools").await;
    assert!(names.contains(&"echo".to_string()), "{names:?}");
    let reply = client
        .request(
            3,
            "tools/call",
            json!({"name":"echo","arguments":{"text":"raw"}}),
        )
        .await;
    assert_eq!(reply["result"]["content"][0]["text"], "raw");
    // A session of /mcp/local is not valid on /mcp.
    let aggregate = McpClient {
        session: client.session.clone(),
        ..McpClient::new(&gw.url("/mcp"), Some(&token))
    };
    assert_eq!(
        aggregate
            .post(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, &[])
            .await
            .status,
        404
    );
    let mut missing = McpClient::new(&gw.url("/mcp/nothing"), Some(&token));
    let reply = missing.post(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}"#, &[]).await;
    assert_eq!(reply.status, 404);
    missing.session = None;
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn a_cancellation_reaches_the_backend_working_on_the_request() {
    let (gw, _web, token) = two_backends().await;
    let mut client = McpClient::new(&gw.url("/mcp"), Some(&token));
    client.initialize("2025-06-18").await;
    let call = json!({"jsonrpc":"2.0","id":"slow-1","method":"tools/call","params":{"name":"web_slow","arguments":{"ms":20000}}}).to_string();
    let caller = McpClient {
        session: client.session.clone(),
        ..McpClient::new(&gw.url("/mcp"), Some(&token))
    };
    let pending = actix_rt::spawn(async move { caller.post(&call, &[]).await });
    // Cancel once the gateway is forwarding it (the session shows it as busy).
    let session = client.session.clone().unwrap();
    gw.wait_busy(&session, 1).await;
    let cancel = r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"slow-1","reason":"test"}}"#;
    assert_eq!(client.post(cancel, &[]).await.status, 202);
    let reply = pending.await.unwrap();
    assert!(
        !reply.body.contains("slept 20000 ms"),
        "the backend finished a cancelled call: {}",
        reply.body
    );
    // A cancelled request gets no response at all, not even the backend's late error.
    assert!(
        !reply.messages().iter().any(|m| m["id"] == "slow-1"),
        "a cancelled request was answered: {}",
        reply.body
    );
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn stdio_progress_streams_to_the_caller_under_its_own_token() {
    let config = format!(
        "[[backends]]\nname = \"local\"\ncommand = {:?}\nargs = [\"stdio\", \"--tools\", \"1\", \"--rich\"]\ntool_prefix = \"\"\n",
        fixture_binary().display()
    );
    let gw = TestGateway::start(&config).await;
    gw.wait_online(1).await;
    create_mcp_user(&gw, "prog").await;
    let token = login(&gw, "prog").await;
    wait_for_tools(&gw, &token, 6).await;
    for progress_token in [json!("tok-A"), json!(7)] {
        let mut client = McpClient::new(&gw.url("/mcp"), Some(&token));
        client.initialize("2025-06-18").await;
        let call = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{
            "name":"chatty","arguments":{},"_meta":{"progressToken": progress_token}}});
        let reply = client.post(&call.to_string(), &[]).await;
        let messages = reply.messages();
        assert_eq!(
            messages.len(),
            2,
            "progress then the answer: {}",
            reply.body
        );
        assert_eq!(messages[0]["method"], "notifications/progress");
        assert_eq!(
            messages[0]["params"]["progressToken"], progress_token,
            "the client's own token"
        );
        assert_eq!(messages[1]["id"], 1);
        assert_eq!(messages[1]["result"]["content"][0]["text"], "done");
    }
    gw.stop().await.unwrap();
}

/// Legacy era: a client that disconnects has not cancelled its request; the backend finishes it
/// (here: a stdio backend, which the gateway would otherwise tell `notifications/cancelled`).
#[actix_rt::test]
async fn a_client_disconnect_does_not_cancel_its_request() {
    let (gw, _web, token) = two_backends().await;
    let mut client = McpClient::new(&gw.url("/mcp"), Some(&token));
    client.initialize("2025-06-18").await;
    let marker = gw.config_path.with_file_name("slow-finished");
    let call = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{
        "name":"loc_slow","arguments":{"ms":300,"marker": marker.to_str().unwrap()}}})
    .to_string();
    let address = gw.base_url.trim_start_matches("http://").to_string();
    let session = client.session.clone().unwrap();
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMcp-Session-Id: {session}\r\nMCP-Protocol-Version: 2025-06-18\r\nContent-Length: {}\r\n\r\n{call}",
        call.len()
    );
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    std::io::Write::write_all(&mut stream, request.as_bytes()).unwrap();
    // Disconnect once the gateway is forwarding it.
    gw.wait_busy(&session, 1).await;
    stream.shutdown(std::net::Shutdown::Both).unwrap();
    drop(stream);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !marker.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the backend never finished: the disconnect cancelled it"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    gw.stop().await.unwrap();
}
