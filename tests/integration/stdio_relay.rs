//! What stdio backends send on their own (sampling, elicitation, roots, ping, logging,
//! cancellations) reaches the right client through the real gateway. A per-session child serves
//! one client, so its requests go to that client on the answer stream of the call that caused
//! them; the shared child serves everyone and is answered by the gateway itself (it declared
//! only `roots`). Backends: the conformance fixture over stdio (`--stdio`) and the MCP fixture
//! with its asking tools (`--asks`).

// rmcp marks sampling, roots and logging deprecated for the 2026-07-28 era; legacy-era clients
// still use them.
#![allow(deprecated)]

use rmcp::model::{
    CallToolRequestParams, ClientConfig, CreateMessageRequestParams, CreateMessageResult,
    ListRootsResult, LoggingMessageNotificationParam,
};
use rmcp::service::{NotificationContext, RequestContext, RoleClient};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, ErrorData, ServiceExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::fixture::{DEADLINE, fixture_binary};
use crate::harness::TestGateway;
use crate::mcp_client::McpClient;
use crate::users::{create_mcp_user, login};

fn conformance_stdio(isolation: &str) -> String {
    format!(
        "[[backends]]\nname = \"conf\"\ncommand = {:?}\nargs = [\"--stdio\"]\ntool_prefix = \"\"\nisolation = {isolation:?}\n",
        fixture_binary()
            .with_file_name("conformance_fixture")
            .display()
    )
}

fn asks_stdio() -> String {
    format!(
        "[[backends]]\nname = \"asks\"\ncommand = {:?}\nargs = [\"stdio\", \"--tools\", \"1\", \"--asks\"]\ntool_prefix = \"\"\nisolation = \"per-session\"\n",
        fixture_binary().display()
    )
}

/// A client that samples (answering with its own name), lists one root of its own, and passes
/// the log messages it gets to the test.
#[derive(Clone)]
struct Client {
    name: &'static str,
    logs: mpsc::UnboundedSender<String>,
}

impl ClientHandler for Client {
    fn get_info(&self) -> ClientConfig {
        serde_json::from_value(json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {"sampling": {}, "roots": {"listChanged": true}},
            "clientInfo": {"name": self.name, "version": "1"}
        }))
        .unwrap()
    }

    async fn create_message(
        &self,
        _params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        Ok(
            serde_json::from_value(json!({"model": "test", "role": "assistant",
            "content": {"type": "text", "text": format!("sampled by {}", self.name)}}))
            .unwrap(),
        )
    }

    async fn list_roots(
        &self,
        _context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        Ok(serde_json::from_value(
            json!({"roots": [{"uri": format!("file:///home/{}", self.name), "name": self.name}]}),
        )
        .unwrap())
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.logs.send(params.data.to_string());
    }
}

type Running = rmcp::service::RunningService<RoleClient, Client>;

async fn connect(
    gw: &TestGateway,
    user: &str,
    name: &'static str,
) -> (Running, mpsc::UnboundedReceiver<String>) {
    create_mcp_user(gw, user).await;
    let token = login(gw, user).await;
    let (logs, received) = mpsc::unbounded_channel();
    let config =
        StreamableHttpClientTransportConfig::with_uri(gw.url("/mcp")).auth_header(token.clone());
    let client = Client { name, logs }
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("initialize");
    (client, received)
}

async fn wait_for_tool(client: &rmcp::service::Peer<RoleClient>, name: &str) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !client
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .any(|t| t.name == name)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} never listed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn call_text(client: &Running, name: &str, arguments: Value) -> (String, Option<bool>) {
    let call = CallToolRequestParams::new(name.to_string())
        .with_arguments(arguments.as_object().unwrap().clone());
    let result = client.call_tool(call).await.unwrap();
    (
        serde_json::to_string(&result.content).unwrap(),
        result.is_error,
    )
}

#[actix_rt::test]
async fn a_per_session_child_asks_and_logs_to_its_own_client_only() {
    let gw = TestGateway::start(&conformance_stdio("per-session")).await;
    gw.wait_online(1).await;
    let (alice, mut alice_logs) = connect(&gw, "alice", "alice").await;
    let (bob, mut bob_logs) = connect(&gw, "bob", "bob").await;
    wait_for_tool(alice.peer(), "test_sampling").await;

    // Both users sample at once; each child asks its own client.
    let prompt = json!({"prompt": "hi"});
    let (a, b) = tokio::join!(
        call_text(&alice, "test_sampling", prompt.clone()),
        call_text(&bob, "test_sampling", prompt)
    );
    assert!(a.0.contains("LLM response: sampled by alice"), "{a:?}");
    assert!(b.0.contains("LLM response: sampled by bob"), "{b:?}");

    // Log messages sent while serving alice's call reach alice, and nobody else.
    let (text, _) = call_text(&alice, "test_tool_with_logging", json!({})).await;
    assert!(text.contains("executed successfully"), "{text}");
    for _ in 0..3 {
        let log = tokio::time::timeout(DEADLINE, alice_logs.recv()).await;
        assert!(matches!(log, Ok(Some(_))), "a log message never came");
    }
    assert!(bob_logs.try_recv().is_err(), "bob got alice's log messages");

    alice.cancel().await.unwrap();
    bob.cancel().await.unwrap();
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn the_shared_child_is_answered_by_the_gateway_never_by_a_client() {
    let gw = TestGateway::start(&conformance_stdio("shared")).await;
    gw.wait_online(1).await;
    let (alice, _logs) = connect(&gw, "alice", "alice").await;
    wait_for_tool(alice.peer(), "test_sampling").await;
    // One child for every client: its request cannot be tied to alice's call, so she is never
    // asked; the child gets a clear refusal instead.
    let (text, is_error) = call_text(&alice, "test_sampling", json!({"prompt": "hi"})).await;
    assert_eq!(is_error, Some(true), "{text}");
    assert!(text.contains("sampling failed"), "{text}");
    assert!(!text.contains("sampled by"), "{text}");
    alice.cancel().await.unwrap();
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn roots_ping_and_roots_changes_flow_between_a_child_and_its_client() {
    let gw = TestGateway::start(&asks_stdio()).await;
    gw.wait_online(1).await;
    let (alice, _logs) = connect(&gw, "alice", "alice").await;
    wait_for_tool(alice.peer(), "roots").await;

    // roots/list from the backend is answered by the client.
    let (roots, _) = call_text(&alice, "roots", json!({})).await;
    assert!(roots.contains("file:///home/alice"), "{roots}");

    // The backend's ping is answered by the gateway (it is alive), not refused.
    let (pong, _) = call_text(&alice, "ping_client", json!({})).await;
    assert!(pong.contains("pong"), "{pong}");

    // The client's roots/list_changed reaches its backend session.
    alice.notify_roots_list_changed().await.unwrap();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let (count, _) = call_text(&alice, "roots_changes", json!({})).await;
        if count.contains("\"1\"") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never arrived: {count}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    alice.cancel().await.unwrap();
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn a_request_the_backend_withdraws_reaches_the_client_under_its_id_and_is_forgotten() {
    let gw = TestGateway::start(&asks_stdio()).await;
    gw.wait_online(1).await;
    let user = create_mcp_user(&gw, "carol").await;
    let token = login(&gw, "carol").await;
    let mut client = McpClient::new(&gw.url("/mcp"), Some(&token));
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion":"2025-06-18","capabilities":{"elicitation":{}},
        "clientInfo":{"name":"raw","version":"1"}}});
    let reply = client.post(&init.to_string(), &[]).await;
    client.session = reply
        .headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let session = client.session.clone().expect("a session");
    let call = json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"ask_then_cancel","arguments":{}}});
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let messages = loop {
        let reply = client.post(&call.to_string(), &[]).await;
        let messages = reply.messages();
        if messages.len() == 3 {
            break messages;
        }
        // The tool is not routed yet (the routing table follows the backend).
        assert!(tokio::time::Instant::now() < deadline, "{}", reply.body);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let asked = &messages[0];
    assert_eq!(asked["method"], "elicitation/create", "{messages:?}");
    let client_id = asked["id"].as_str().expect("the gateway's id").to_string();
    assert!(client_id.starts_with("gw-"), "{client_id}");
    assert_eq!(messages[1]["method"], "notifications/cancelled");
    assert_eq!(messages[1]["params"]["requestId"], client_id.as_str());
    assert_eq!(messages[2]["id"], 5);
    assert!(messages[2]["result"].to_string().contains("withdrawn"));
    let pending = gw
        .handle()
        .sessions()
        .get(&session, user)
        .map(|s| s.pending_count())
        .unwrap();
    assert_eq!(
        pending, 0,
        "the withdrawn request still waits for an answer"
    );
    // A late answer is accepted and dropped.
    let late = json!({"jsonrpc":"2.0","id":client_id,"result":{"action":"decline"}});
    assert_eq!(client.post(&late.to_string(), &[]).await.status, 202);
    gw.stop().await.unwrap();
}
