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
