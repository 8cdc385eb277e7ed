//! Requests a backend sends while serving a call (sampling here) reach the calling client only
//! when it declared the capability, under the gateway's id, and its answer goes back to the
//! backend. Backend: the project's conformance fixture (its `test_sampling` tool samples).

// rmcp marks sampling deprecated for the 2026-07-28 era; legacy-era clients still use it.
#![allow(deprecated)]

use std::process::Child;

use rmcp::model::{
    CallToolRequestParams, ClientConfig, CreateMessageRequestParams, CreateMessageResult,
};
use rmcp::service::{RequestContext, RoleClient};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, ErrorData, ServiceExt};
use serde_json::json;

use crate::fixture::{fixture_binary, spawn_listening};
use crate::harness::TestGateway;
use crate::mcp_client::McpClient;
use crate::users::{create_mcp_user, login};

/// The conformance fixture over Streamable HTTP; killed on drop.
pub(crate) struct Conformance(pub Child, pub u16);

impl Conformance {
    pub(crate) fn start() -> Self {
        let binary = fixture_binary().with_file_name("conformance_fixture");
        let (child, port) = spawn_listening(&binary, &["--port", "0"], &[]);
        Conformance(child, port)
    }
}

impl Drop for Conformance {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A client that declares sampling and answers every request with a fixed text.
#[derive(Clone)]
struct Sampler;

impl ClientHandler for Sampler {
    fn get_info(&self) -> ClientConfig {
        serde_json::from_value(json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {"sampling": {}},
            "clientInfo": {"name": "sampler", "version": "1"}
        }))
        .unwrap()
    }

    async fn create_message(
        &self,
        _params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        Ok(serde_json::from_value(json!({"model": "test", "role": "assistant", "content": {"type": "text", "text": "sampled by the client"}})).unwrap())
    }
}

async fn gateway_with_conformance() -> (Conformance, TestGateway, String) {
    let backend = Conformance::start();
    let config = format!(
        "[[backends]]\nname = \"conf\"\nurl = \"http://127.0.0.1:{}/mcp\"\ntool_prefix = \"\"\n",
        backend.1
    );
    let gw = TestGateway::start(&config).await;
    gw.wait_online(1).await;
    create_mcp_user(&gw, "relay").await;
    let token = login(&gw, "relay").await;
    (backend, gw, token)
}

fn config(gw: &TestGateway, token: &str) -> StreamableHttpClientTransportConfig {
    StreamableHttpClientTransportConfig::with_uri(gw.url("/mcp")).auth_header(token.to_string())
}

fn sampling_call() -> CallToolRequestParams {
    CallToolRequestParams::new("test_sampling")
        .with_arguments(json!({"prompt": "hi"}).as_object().unwrap().clone())
}

async fn wait_for_tool(client: &rmcp::service::Peer<RoleClient>, name: &str) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
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

#[actix_rt::test]
async fn sampling_reaches_the_declaring_client_and_its_answer_reaches_the_backend() {
    let (_backend, gw, token) = gateway_with_conformance().await;
    let client = Sampler
        .serve(StreamableHttpClientTransport::from_config(config(
            &gw, &token,
        )))
        .await
        .expect("initialize");
    wait_for_tool(client.peer(), "test_sampling").await;
    let result = client.call_tool(sampling_call()).await.unwrap();
    let text = serde_json::to_string(&result.content).unwrap();
    assert!(
        text.contains("LLM response: sampled by the client"),
        "{text}"
    );
    client.cancel().await.unwrap();
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn a_client_without_the_capability_gets_a_clear_failure_not_a_hang() {
    let (_backend, gw, token) = gateway_with_conformance().await;
    let client = ClientConfig::default()
        .serve(StreamableHttpClientTransport::from_config(config(
            &gw, &token,
        )))
        .await
        .expect("initialize");
    wait_for_tool(client.peer(), "test_sampling").await;
    let result = client.call_tool(sampling_call()).await.unwrap();
    let text = serde_json::to_string(&result.content).unwrap();
    assert_eq!(result.is_error, Some(true), "{text}");
    assert!(
        text.contains("did not declare the `sampling` capability"),
        "{text}"
    );
    client.cancel().await.unwrap();
    gw.stop().await.unwrap();
}

/// A raw session on `gw` whose client declared elicitation; returns it and the user's id.
async fn eliciting_session(gw: &TestGateway) -> (McpClient, i64) {
    let capabilities = json!({"elicitation": {}});
    let (client, user, _) = crate::elicitation_relay::declaring(gw, "limits", capabilities).await;
    crate::elicitation_relay::wait_for_tool(&client, "test_elicitation").await;
    (client, user)
}

fn elicitation_call(id: u64) -> String {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{
        "name":"test_elicitation","arguments":{"message":"who?"}}})
    .to_string()
}

/// Starts a call that waits on the client's answer to a relayed elicitation (`gw-1`, the
/// session's first); returns once the gateway holds it pending.
async fn elicitation_waiting(
    gw: &TestGateway,
    client: &McpClient,
    user: i64,
) -> actix_rt::task::JoinHandle<crate::mcp_client::Raw> {
    let arguments = json!({"message": "who?"});
    crate::elicitation_relay::call_waiting(gw, client, user, "test_elicitation", arguments).await
}

/// Answers the relayed elicitation `gw-1`; the waiting call then completes with it.
async fn answer_and_finish(
    client: &McpClient,
    waiting: actix_rt::task::JoinHandle<crate::mcp_client::Raw>,
) {
    let answer = json!({"jsonrpc":"2.0","id":"gw-1","result":{"action":"accept",
        "content":{"username":"u","email":"e@example.com"}}});
    assert_eq!(client.post(&answer.to_string(), &[]).await.status, 202);
    let done = waiting.await.unwrap();
    assert!(done.body.contains("action=\\\"accept\\\""), "{}", done.body);
}

#[actix_rt::test]
async fn relayed_requests_past_max_pending_requests_are_refused_to_the_backend() {
    let backend = Conformance::start();
    let config = format!(
        "[mcp]\nmax_pending_requests = 1\n[[backends]]\nname = \"conf\"\nurl = \"http://127.0.0.1:{}/mcp\"\ntool_prefix = \"\"\n",
        backend.1
    );
    let gw = TestGateway::start(&config).await;
    gw.wait_online(1).await;
    let (client, user) = eliciting_session(&gw).await;
    let waiting = elicitation_waiting(&gw, &client, user).await;
    // A second elicitation while the first awaits the client: the backend is refused at once
    // with the limit named, and its tool reports the failure.
    let second = client.post(&elicitation_call(2), &[]).await;
    let result = second.json();
    assert_eq!(result["result"]["isError"], true, "{}", second.body);
    assert!(
        second.body.contains("mcp.max_pending_requests"),
        "{}",
        second.body
    );
    answer_and_finish(&client, waiting).await;
    gw.stop().await.unwrap();
}

#[actix_rt::test]
async fn requests_past_max_open_streams_get_a_clear_error_and_nothing_is_forwarded() {
    let backend = Conformance::start();
    let config = format!(
        "[mcp]\nmax_open_streams = 1\n[[backends]]\nname = \"conf\"\nurl = \"http://127.0.0.1:{}/mcp\"\ntool_prefix = \"\"\n",
        backend.1
    );
    let gw = TestGateway::start(&config).await;
    gw.wait_online(1).await;
    let (client, user) = eliciting_session(&gw).await;
    let waiting = elicitation_waiting(&gw, &client, user).await;
    let refused = client.request(2, "tools/list", json!({})).await;
    assert_eq!(refused["error"]["code"], -32013, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("mcp.max_open_streams"), "{message}");
    // The client's answer is not a request: it is never refused, and frees the slot.
    answer_and_finish(&client, waiting).await;
    let listed = client.request(3, "tools/list", json!({})).await;
    assert!(listed["result"]["tools"].is_array(), "{listed}");
    gw.stop().await.unwrap();
}
